//! Where this process unpacks uploads, and what is left when a process dies: under the uploads
//! tmpfs each owner (one server) has a directory of its own, `<root>/<id>/`, holding an
//! exclusive lock on `<root>/<id>/owner.lock` for as long as it lives, and one directory per
//! upload inside. A process that opens the root sweeps the directories whose owner is gone (a
//! `kill -9`, a crash, a power cut leave them; their lock went with the process), and removes
//! its own when it closes. Only directories named like Bulkhead's ids, directly under the root,
//! are ever removed; no symbolic link is followed.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::error::ApiError;

/// The lock an owner holds inside its directory.
const OWNER_LOCK: &str = "owner.lock";
/// The lock held while the root is swept or a new owner claims its directory.
const ROOT_LOCK: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum UploadsError {
    #[error("{} is not a directory of its own (a link or another kind of file)", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot prepare {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UploadsError + '_ {
    move |e| UploadsError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// This process's directory for uploads; removed (with every upload in it) on drop.
#[derive(Debug)]
pub struct Uploads {
    dir: PathBuf,
    swept: usize,
    /// Held (locked) for as long as this owner lives.
    _lock: File,
}

impl Uploads {
    /// Sweep what owners that are gone left under `root` (an existing directory, not a link),
    /// then claim a directory of our own there.
    pub fn open(root: &Path) -> Result<Uploads, UploadsError> {
        let meta = std::fs::symlink_metadata(root).map_err(io(root))?;
        if !meta.is_dir() {
            return Err(UploadsError::NotADirectory(root.to_path_buf()));
        }
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)).map_err(io(root))?;
        let root_lock = root.join(ROOT_LOCK);
        let guard = open_lock(&root_lock, true).map_err(io(&root_lock))?;
        guard.lock().map_err(io(&root_lock))?;
        let swept = sweep(root);
        let dir = root.join(new_id());
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        let lock_path = dir.join(OWNER_LOCK);
        let lock = open_lock(&lock_path, true).map_err(io(&lock_path))?;
        let claimed = lock.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => io(&lock_path)(e),
            TryLockError::WouldBlock => io(&lock_path)(std::io::ErrorKind::WouldBlock.into()),
        });
        if let Err(e) = claimed {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        drop(guard);
        Ok(Uploads {
            dir,
            swept,
            _lock: lock,
        })
    }

    /// The directory uploads are unpacked in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many directories of gone owners the opening swept.
    pub fn swept(&self) -> usize {
        self.swept
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh id: 24 lowercase hex digits (uploads and owners alike).
pub(super) fn new_id() -> String {
    let mut id = [0u8; 12];
    if getrandom::fill(&mut id).is_err() {
        // Never reached on Linux; the time still gives a name no other owner holds now.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        id.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    hex::encode(id)
}

/// Whether `name` is one Bulkhead gives (`new_id`).
fn is_id(name: &str) -> bool {
    name.len() == 24
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn open_lock(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(path)
}

/// Remove every directory under `root` named like ours whose owner is gone (its lock is free,
/// or it has none: an upload left by an older version); the number removed. Anything else —
/// other names, links, files — is left alone.
fn sweep(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_id) {
            continue;
        }
        let path = entry.path();
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir || owner_alive(&path) {
            continue;
        }
        // remove_dir_all never follows a link: one inside is removed as a link.
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(dir = %path.display(), "cannot sweep a left-over upload: {e}"),
        }
    }
    removed
}

/// Whether an owner holds the lock of `dir`. When that cannot be told, it is taken as alive.
fn owner_alive(dir: &Path) -> bool {
    let lock = match open_lock(&dir.join(OWNER_LOCK), false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    match lock.try_lock() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => true,
    }
}

impl super::Api {
    /// Open this process's uploads directory on the uploads tmpfs (mounting it if needed),
    /// sweeping what stopped processes left there; the server calls it at start.
    pub fn open_uploads(&self) -> Result<Arc<Uploads>, ApiError> {
        self.uploads
            .get(&crate::deploy::secret_files::SecretFiles::uploads())
    }

    /// Remove this process's uploads directory and refuse later uploads (the server, stopping).
    pub fn close_uploads(&self) {
        self.uploads.close();
    }
}

/// The uploads of an [`Api`](super::Api): opened on first use (or at server start), closed
/// when the server stops.
#[derive(Debug, Default)]
pub(super) struct Slot(Mutex<State>);

#[derive(Debug, Default)]
enum State {
    #[default]
    Unopened,
    Open(Arc<Uploads>),
    Closed,
}

impl Slot {
    /// This process's uploads, opened under `root` (mounted as a tmpfs first) if not yet.
    pub(super) fn get(
        &self,
        root: &crate::deploy::secret_files::SecretFiles,
    ) -> Result<Arc<Uploads>, ApiError> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::Open(u) => return Ok(Arc::clone(u)),
            State::Closed => {
                return Err(ApiError::internal(
                    "the server is stopping: uploads are closed",
                ));
            }
            State::Unopened => {}
        }
        root.ensure()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let uploads =
            Arc::new(Uploads::open(root.root()).map_err(|e| ApiError::internal(e.to_string()))?);
        if uploads.swept() > 0 {
            tracing::info!(
                swept = uploads.swept(),
                "removed uploads that stopped processes left behind"
            );
        }
        *state = State::Open(Arc::clone(&uploads));
        Ok(uploads)
    }

    /// Remove this process's uploads directory; later uploads are refused.
    pub(super) fn close(&self) {
        let old = std::mem::replace(
            &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()),
            State::Closed,
        );
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        tempfile::tempdir().expect("tmp")
    }

    #[test]
    fn an_owner_claims_a_directory_and_removes_it_when_dropped() {
        let root = root();
        let uploads = Uploads::open(root.path()).expect("open");
        let dir = uploads.dir().to_path_buf();
        assert!(dir.starts_with(root.path()) && dir.is_dir());
        std::fs::create_dir(dir.join(new_id())).expect("an upload");
        drop(uploads);
        assert!(!dir.exists());
    }

    #[test]
    fn a_live_owner_is_left_alone_and_a_gone_one_is_swept() {
        let root = root();
        let live = Uploads::open(root.path()).expect("live");
        let upload = live.dir().join(new_id());
        std::fs::create_dir(&upload).expect("upload");
        std::fs::write(upload.join("token"), "t").expect("file");
        // A gone owner: its directory and lock file stay, nobody holds the lock.
        let gone = root.path().join(new_id());
        std::fs::create_dir_all(gone.join(new_id())).expect("gone");
        std::fs::write(gone.join(OWNER_LOCK), "").expect("lock file");
        // An upload of an older version: no lock file at all.
        let legacy = root.path().join(new_id());
        std::fs::create_dir(&legacy).expect("legacy");
        std::fs::write(legacy.join("id_rsa"), "k").expect("file");
        let second = Uploads::open(root.path()).expect("second");
        assert_eq!(second.swept(), 2);
        assert!(!gone.exists() && !legacy.exists());
        assert!(upload.join("token").exists(), "a live owner's upload stays");
        assert_ne!(second.dir(), live.dir());
    }

    #[test]
    fn only_our_own_directories_are_swept_and_links_are_not_followed() {
        let root = root();
        let outside = tempfile::tempdir().expect("outside");
        let victim = outside.path().join(new_id());
        std::fs::create_dir(&victim).expect("victim");
        std::fs::write(victim.join("data"), "keep").expect("data");
        // A link named like an owner, to a directory outside.
        let link = root.path().join(new_id());
        std::os::unix::fs::symlink(&victim, &link).expect("link");
        // An owner directory holding a link out.
        let gone = root.path().join(new_id());
        std::fs::create_dir(&gone).expect("gone");
        std::os::unix::fs::symlink(outside.path(), gone.join("out")).expect("inner link");
        // Names that are not ours.
        let other = root.path().join("not-bulkhead");
        std::fs::create_dir(&other).expect("other");
        std::fs::write(root.path().join("README"), "x").expect("readme");

        let uploads = Uploads::open(root.path()).expect("open");
        assert_eq!(uploads.swept(), 1, "the real directory only");
        assert!(!gone.exists());
        assert!(victim.join("data").exists(), "nothing outside is touched");
        assert!(link.symlink_metadata().is_ok(), "a link is not ours");
        assert!(other.is_dir());
        assert!(root.path().join("README").exists());
    }

    #[test]
    fn a_root_that_is_a_link_is_refused() {
        let root = root();
        let real = root.path().join("real");
        std::fs::create_dir(&real).expect("real");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        assert!(matches!(
            Uploads::open(&link),
            Err(UploadsError::NotADirectory(_))
        ));
    }
}
