//! An uploaded project directory: a tar archive from the network, so hostile until proven
//! otherwise. Only plain files and directories with relative, `..`-free paths are unpacked,
//! within bounds on entries and bytes, into a private directory of this process's uploads
//! (`uploads.rs`, on the uploads tmpfs: an upload may carry the files of `file:` secrets),
//! removed when the [`Upload`] is dropped — whatever ended the request.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::error::ApiError;

/// The most entries an upload may hold.
pub const MAX_ENTRIES: usize = 10_000;
/// The most bytes its files may hold, unpacked.
pub const MAX_BYTES: u64 = 256 << 20;

/// An unpacked upload; the directory is removed on drop (the deploy that uses it owns it, so a
/// client that goes away does not take the files from under it).
#[derive(Debug)]
pub struct Upload {
    dir: PathBuf,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(format!("the uploaded project: {message}"))
}

impl Upload {
    /// Unpack `archive` under `<root>/<random>/` (`root`: this process's
    /// [`Uploads`](super::uploads::Uploads) directory).
    pub fn extract(root: &Path, archive: &[u8]) -> Result<Upload, ApiError> {
        let io = |e: std::io::Error| ApiError::internal(format!("cannot unpack the upload: {e}"));
        std::fs::create_dir_all(root).map_err(io)?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        let dir = root.join(super::uploads::new_id());
        std::fs::create_dir(&dir).map_err(io)?;
        let upload = Upload { dir };
        upload.unpack(archive)?;
        Ok(upload)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside the upload, from a relative name the client gave.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, ApiError> {
        Ok(self.dir.join(relative(name)?))
    }

    fn unpack(&self, archive: &[u8]) -> Result<(), ApiError> {
        let mut tar = tar::Archive::new(archive);
        let entries = tar
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        let (mut count, mut bytes) = (0usize, 0u64);
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("damaged archive: {e}")))?;
            count += 1;
            if count > MAX_ENTRIES {
                return Err(bad(format!("more than {MAX_ENTRIES} entries")));
            }
            let raw = entry
                .path()
                .map_err(|e| bad(format!("an entry has an unreadable path: {e}")))?
                .to_string_lossy()
                .into_owned();
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let rel = relative(&raw)?;
            let target = self.dir.join(&rel);
            let io = |e: std::io::Error| bad(format!("{raw}: {e}"));
            if kind.is_dir() {
                std::fs::create_dir_all(&target).map_err(io)?;
                continue;
            }
            if !kind.is_file() {
                return Err(bad(format!(
                    "{raw}: only plain files and directories are accepted (links and devices are not)"
                )));
            }
            let size = entry
                .header()
                .size()
                .map_err(|e| bad(format!("{raw}: {e}")))?;
            bytes = bytes.saturating_add(size);
            if bytes > MAX_BYTES {
                return Err(bad(format!("more than {} MiB unpacked", MAX_BYTES >> 20)));
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .by_ref()
                .take(size)
                .read_to_end(&mut content)
                .map_err(io)?;
            let mode = entry.header().mode().unwrap_or(0o644);
            let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
            std::fs::write(&target, &content).map_err(io)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        Ok(())
    }
}

/// A relative path with plain components only.
fn relative(name: &str) -> Result<PathBuf, ApiError> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => {
                return Err(bad(format!(
                    "{name:?}: paths must be relative and stay inside the project (no `..`, no leading `/`)"
                )));
            }
        }
    }
    if out.as_os_str().is_empty() || name.contains('\0') {
        return Err(bad(format!("{name:?} is not a file name")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the name raw: `set_path` itself refuses `..`, a hostile client would not.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("finish")
    }

    #[test]
    fn unpacks_files_and_directories() {
        let state = tempfile::tempdir().expect("tmp");
        let a = archive(&[
            ("image/", tar::EntryType::Directory, b""),
            ("compose.yaml", tar::EntryType::Regular, b"services: {}\n"),
            (
                "image/Dockerfile",
                tar::EntryType::Regular,
                b"FROM scratch\n",
            ),
        ]);
        let up = Upload::extract(state.path(), &a).expect("extract");
        let read = |p: &str| std::fs::read_to_string(up.dir().join(p)).expect("read");
        assert_eq!(read("compose.yaml"), "services: {}\n");
        assert_eq!(read("image/Dockerfile"), "FROM scratch\n");
        let dir = up.dir().to_path_buf();
        drop(up);
        assert!(!dir.exists(), "removed when done");
    }

    #[test]
    fn a_task_that_panics_still_removes_its_upload() {
        let state = tempfile::tempdir().expect("tmp");
        let up = Upload::extract(state.path(), &archive(&[])).expect("extract");
        let dir = up.dir().to_path_buf();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let task = runtime.spawn(async move {
            let _upload = up;
            panic!("a deploy task panics");
        });
        let ended = runtime.block_on(task);
        assert!(ended.is_err_and(|e| e.is_panic()));
        assert!(!dir.exists(), "unwinding dropped the upload");
    }

    #[test]
    fn hostile_entries_are_refused_naming_them() {
        let state = tempfile::tempdir().expect("tmp");
        for (name, kind, want) in [
            (
                "../escape",
                tar::EntryType::Regular,
                "stay inside the project",
            ),
            (
                "/etc/passwd",
                tar::EntryType::Regular,
                "stay inside the project",
            ),
            (
                "a/../../b",
                tar::EntryType::Regular,
                "stay inside the project",
            ),
            (
                "link",
                tar::EntryType::Symlink,
                "only plain files and directories",
            ),
            (
                "hard",
                tar::EntryType::Link,
                "only plain files and directories",
            ),
            (
                "dev",
                tar::EntryType::Char,
                "only plain files and directories",
            ),
        ] {
            let a = archive(&[(name, kind, b"")]);
            let err = Upload::extract(state.path(), &a).expect_err(name);
            assert_eq!(err.status, 400, "{name}");
            assert!(err.message.contains(want), "{name}: {}", err.message);
            assert!(!state.path().join("escape").exists());
        }
        let leftovers = std::fs::read_dir(state.path()).expect("uploads").count();
        assert_eq!(leftovers, 0, "a refused upload leaves nothing behind");
        let err =
            Upload::extract(state.path(), b"not a tar archive at all, surely").expect_err("junk");
        assert_eq!(err.status, 400);
    }

    #[test]
    fn client_file_names_stay_inside() {
        let state = tempfile::tempdir().expect("tmp");
        let up = Upload::extract(state.path(), &archive(&[])).expect("empty");
        assert!(up.path_of("compose.yaml").is_ok());
        assert!(up.path_of("sub/compose.yaml").is_ok());
        assert!(up.path_of("../x").is_err());
        assert!(up.path_of("/x").is_err());
        assert!(up.path_of("").is_err());
    }
}
