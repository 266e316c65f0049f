//! Secret files on the host: a tmpfs Bulkhead mounts for itself (memory only, `noswap` where
//! the kernel has it), one private directory per container holding its decrypted secrets,
//! bind-mounted read-only into the container and removed with it. Nothing here ever touches a
//! disk-backed file system: a root that is not a tmpfs is refused.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Where the secret tmpfs is mounted.
pub const SECRETS_ROOT: &str = "/run/bulkhead/secrets";
/// Its size: secrets are small (1 MiB each at most).
const TMPFS_SIZE: &str = "64m";
/// Where uploaded projects are unpacked (they may hold secret files): a tmpfs too.
pub const UPLOADS_ROOT: &str = "/run/bulkhead/uploads";
/// Uploads hold at most 256 MiB unpacked each.
const UPLOADS_SIZE: &str = "1g";

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{path} is not on a tmpfs (it is {fstype}); secrets are never written to a disk")]
    NotTmpfs { path: PathBuf, fstype: String },
    #[error("cannot mount a tmpfs at {path} for secrets: {reason}")]
    Mount { path: PathBuf, reason: String },
    #[error("cannot write secret file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("secret target {target:?} is not valid: {reason}")]
    Target {
        target: String,
        reason: &'static str,
    },
}

/// One file to deliver.
pub struct SecretFile {
    /// Absolute path inside the container (`/run/secrets/NAME` by default).
    pub target: String,
    pub value: Zeroizing<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// The host side of secret delivery.
#[derive(Clone, Debug)]
pub struct SecretFiles {
    root: PathBuf,
    size: &'static str,
}

impl Default for SecretFiles {
    fn default() -> SecretFiles {
        SecretFiles::new(SECRETS_ROOT)
    }
}

impl SecretFiles {
    pub fn new(root: impl Into<PathBuf>) -> SecretFiles {
        SecretFiles {
            root: root.into(),
            size: TMPFS_SIZE,
        }
    }

    /// The tmpfs uploaded projects are unpacked on.
    pub fn uploads() -> SecretFiles {
        SecretFiles {
            root: PathBuf::from(UPLOADS_ROOT),
            size: UPLOADS_SIZE,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Make sure the root is a tmpfs of its own (mounting one, 0700, when it is not).
    pub fn ensure(&self) -> Result<(), SecretFileError> {
        std::fs::create_dir_all(&self.root).map_err(|e| SecretFileError::Mount {
            path: self.root.clone(),
            reason: e.to_string(),
        })?;
        if fs_type(&self.root).as_deref() == Some("tmpfs") {
            return Ok(());
        }
        let mount = |opts: &str| {
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", opts, "bulkhead-secrets"])
                .arg(&self.root)
                .output()
        };
        let base = format!("size={},mode=0700,nosuid,nodev,noexec", self.size);
        let out = match mount(&format!("{base},noswap")) {
            Ok(o) if o.status.success() => o,
            // Kernels before 6.4 have no `noswap`.
            _ => mount(&base).map_err(|e| SecretFileError::Mount {
                path: self.root.clone(),
                reason: e.to_string(),
            })?,
        };
        if !out.status.success() {
            return Err(SecretFileError::Mount {
                path: self.root.clone(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        match fs_type(&self.root) {
            Some(t) if t == "tmpfs" => Ok(()),
            other => Err(SecretFileError::NotTmpfs {
                path: self.root.clone(),
                fstype: other.unwrap_or_else(|| "unknown".into()),
            }),
        }
    }

    /// Write `files` into the directory of `key` (a fresh random id per container); returns
    /// (host path, target) pairs for read-only bind mounts.
    pub fn write(
        &self,
        key: &str,
        files: &[SecretFile],
    ) -> Result<Vec<(PathBuf, String)>, SecretFileError> {
        self.ensure()?;
        let dir = self.root.join(key);
        let fail = |path: &Path, e: std::io::Error| SecretFileError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir(&dir).map_err(|e| fail(&dir, e))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(&dir, e))?;
        let mut out = Vec::new();
        for (i, f) in files.iter().enumerate() {
            check_target(&f.target)?;
            let path = dir.join(format!("{i}"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| fail(&path, e))?;
            file.write_all(&f.value).map_err(|e| fail(&path, e))?;
            drop(file);
            std::os::unix::fs::chown(&path, Some(f.uid), Some(f.gid))
                .map_err(|e| fail(&path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode & 0o777))
                .map_err(|e| fail(&path, e))?;
            out.push((path, f.target.clone()));
        }
        Ok(out)
    }

    /// Remove the files of `key` (nothing to do when there are none).
    pub fn remove(&self, key: &str) {
        if key.is_empty() || key.contains('/') || key.contains("..") {
            return;
        }
        let _ = std::fs::remove_dir_all(self.root.join(key));
    }

    /// The keys that have files now.
    pub fn keys(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A fresh directory key.
pub fn new_key() -> String {
    let mut b = [0u8; 12];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

fn check_target(target: &str) -> Result<(), SecretFileError> {
    let bad = |reason| SecretFileError::Target {
        target: target.to_string(),
        reason,
    };
    if !target.starts_with('/') {
        return Err(bad("it must be an absolute path in the container"));
    }
    if target.split('/').any(|c| c == "..") || target.contains('\0') {
        return Err(bad("it must not contain `..` or NUL"));
    }
    Ok(())
}

/// The file system type of the mount holding `path` (from /proc/self/mountinfo).
pub fn fs_type(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = unescape(left.split(' ').nth(4)?);
        let fstype = right.split(' ').next()?.to_string();
        let mp = Path::new(&mount_point);
        if path.starts_with(mp) {
            let len = mount_point.len();
            // The last mount listed over the same point wins (it is on top).
            if best.as_ref().is_none_or(|(l, _)| len >= *l) {
                best = Some((len, fstype));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&code, 8) {
                Ok(b) => out.push(char::from(b)),
                Err(_) => out.push_str(&code),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_unescape() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn the_root_file_system_is_not_a_tmpfs_and_dev_shm_is() {
        assert_eq!(fs_type(Path::new("/dev/shm")).as_deref(), Some("tmpfs"));
        assert!(fs_type(Path::new("/")).is_some());
    }

    #[test]
    fn targets_must_be_absolute_and_stay_put() {
        assert!(check_target("/run/secrets/db").is_ok());
        assert!(check_target("run/secrets/db").is_err());
        assert!(check_target("/run/../etc/passwd").is_err());
    }

    #[test]
    fn files_land_on_tmpfs_with_owner_and_mode_and_go_with_their_key() {
        let root = PathBuf::from(format!("/dev/shm/bulkhead-test-{}", new_key()));
        let files = SecretFiles::new(&root);
        let key = new_key();
        let written = files
            .write(
                &key,
                &[SecretFile {
                    target: "/run/secrets/db".into(),
                    value: Zeroizing::new(b"value".to_vec()),
                    uid: 10001,
                    gid: 10002,
                    mode: 0o440,
                }],
            )
            .expect("write");
        let meta = std::fs::metadata(&written[0].0).expect("meta");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (10001, 10002, 0o440)
        );
        assert_eq!(fs_type(&written[0].0).as_deref(), Some("tmpfs"));
        assert_eq!(files.keys(), vec![key.clone()]);
        files.remove(&key);
        assert!(files.keys().is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
