//! `FileKeys`: key-encryption keys as files in `<state-dir>/keys/` (0700): `kek-<id>.key`
//! (0600, base64 of 32 random bytes, `<id>` the first 16 hex digits of its SHA-256) and
//! `kek-current` (the id new data keys are wrapped under). Every write is atomic and synced, so a
//! kill leaves the old state or the new one; a key file others can read is refused.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bulkhead_core::secrets::{DataKey, Kek, KekId, SecretRef, WrappedDek};
use bulkhead_ports::{KeyError, KeyFuture, KeyProvider};

use crate::KeysError;
use crate::disk::{
    entries, parse_key, private_dir, random_key, read_private, sync_dir, write_atomically,
};
use crate::set::KeySet;

/// The key directory inside the state directory (shared with the audit signing key).
pub const KEY_DIR: &str = "keys";
/// The file naming the current key.
pub const CURRENT_FILE: &str = "kek-current";

/// `kek-<id>.key`.
pub fn key_file_name(id: &KekId) -> String {
    format!("kek-{id}.key")
}

/// The id in a key file's name, if it is one.
fn id_of_file_name(name: &str) -> Option<KekId> {
    let id = name.strip_prefix("kek-")?.strip_suffix(".key")?;
    KekId::parse(id).ok()
}

/// Key files in the state directory. Loaded once when opened; this process is the only one
/// that changes them (the store's lock keeps a second bulkhead out).
#[derive(Debug)]
pub struct FileKeys {
    dir: PathBuf,
    set: RwLock<KeySet>,
}

impl FileKeys {
    /// Opens the keys of `state_dir`, creating the first key (and the directory) when there is
    /// none: what `bulkhead init` and the first start do.
    pub fn open_or_create(state_dir: &Path) -> Result<FileKeys, KeysError> {
        let dir = state_dir.join(KEY_DIR);
        private_dir(&dir)?;
        match load(&dir)? {
            Some(set) => Ok(FileKeys::with(dir, set)),
            None => {
                let kek = Kek::derive(random_key()?);
                install(&dir, &kek)?;
                Ok(FileKeys::with(dir, KeySet::of(kek)))
            }
        }
    }

    /// Opens the keys of `state_dir`; refuses when there is none.
    pub fn open(state_dir: &Path) -> Result<FileKeys, KeysError> {
        let dir = state_dir.join(KEY_DIR);
        private_dir(&dir)?;
        let set = load(&dir)?.ok_or_else(|| KeysError::NoKeys { dir: dir.clone() })?;
        Ok(FileKeys::with(dir, set))
    }

    fn with(dir: PathBuf, set: KeySet) -> FileKeys {
        FileKeys {
            dir,
            set: RwLock::new(set),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the key `id` is (or was) kept.
    pub fn key_path(&self, id: &KekId) -> PathBuf {
        self.dir.join(key_file_name(id))
    }

    fn read(&self) -> RwLockReadGuard<'_, KeySet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, KeySet> {
        self.set.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn create_now(&self) -> Result<KekId, KeyError> {
        let kek = Kek::derive(random_key()?);
        let id = kek.id().clone();
        let mut set = self.write();
        install(&self.dir, &kek)?;
        set.current = id.clone();
        set.insert(kek);
        Ok(id)
    }

    fn retire_now(&self, id: &KekId) -> Result<(), KeyError> {
        let mut set = self.write();
        if id == &set.current {
            return Err(KeyError::RetireCurrent { id: id.clone() });
        }
        let path = self.key_path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(KeysError::Io {
                    path,
                    reason: err.to_string(),
                }
                .into());
            }
        }
        sync_dir(&self.dir)?;
        set.forget(id)
    }
}

/// Writes a new key file, then makes it current: a kill between the two leaves an unused key
/// file and the old current key, which the next rotation retires.
fn install(dir: &Path, kek: &Kek) -> Result<(), KeysError> {
    let text = crate::disk::key_text(kek.expose());
    write_atomically(dir, &key_file_name(kek.id()), text.as_bytes())?;
    write_atomically(dir, CURRENT_FILE, format!("{}\n", kek.id()).as_bytes())
}

/// Loads every key file and the current id; `None` when the directory holds no key at all.
fn load(dir: &Path) -> Result<Option<KeySet>, KeysError> {
    let mut keys = Vec::new();
    for (name, path) in entries(dir)? {
        if name.starts_with(".kek-") && name.contains(".tmp.") {
            // A temporary file of a write that was killed before its rename: never a key in
            // use. Remove it, key material and all.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if let Some(named) = id_of_file_name(&name) {
            keys.push(load_key(&path, named)?);
        }
    }
    let current_path = dir.join(CURRENT_FILE);
    let current = match std::fs::symlink_metadata(&current_path) {
        Ok(_) => Some(parse_current(&current_path, &read_private(&current_path)?)?),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(KeysError::Io {
                path: current_path,
                reason: err.to_string(),
            });
        }
    };
    let current = match (current, keys.len()) {
        (None, 0) => return Ok(None),
        (Some(id), _) => id,
        // A kill between the first key file and `kek-current`: the one key is the current one.
        (None, 1) => {
            let id = keys[0].id().clone();
            write_atomically(dir, CURRENT_FILE, format!("{id}\n").as_bytes())?;
            id
        }
        (None, count) => {
            return Err(KeysError::NoCurrent {
                dir: dir.to_path_buf(),
                count,
            });
        }
    };
    if !keys.iter().any(|k| k.id() == &current) {
        return Err(KeysError::MissingCurrent {
            path: current_path,
            missing: dir.join(key_file_name(&current)),
            id: current,
        });
    }
    let mut set = KeySet {
        current,
        keys: Default::default(),
    };
    for kek in keys {
        set.insert(kek);
    }
    Ok(Some(set))
}

fn load_key(path: &Path, named: KekId) -> Result<Kek, KeysError> {
    let text = read_private(path)?;
    let kek = Kek::derive(parse_key(&text, &path.display().to_string())?);
    if kek.id() != &named {
        return Err(KeysError::IdMismatch {
            path: path.to_path_buf(),
            named,
            found: kek.id().clone(),
        });
    }
    Ok(kek)
}

fn parse_current(path: &Path, text: &[u8]) -> Result<KekId, KeysError> {
    let malformed = || KeysError::Malformed {
        origin: path.display().to_string(),
        reason: "it must hold the id of the current key (16 lowercase hex characters)".to_owned(),
    };
    let text = std::str::from_utf8(text).map_err(|_| malformed())?;
    KekId::parse(text.trim()).map_err(|_| malformed())
}

impl KeyProvider for FileKeys {
    fn current(&self) -> KeyFuture<'_, KekId> {
        Box::pin(async move { Ok(self.read().current.clone()) })
    }

    fn wrap<'a>(
        &'a self,
        kek: &'a KekId,
        dek: &'a DataKey,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, WrappedDek> {
        Box::pin(async move { self.read().wrap(kek, dek, target) })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDek,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, DataKey> {
        Box::pin(async move { self.read().unwrap(wrapped, target) })
    }

    /// Writes and syncs two small files: rare enough to do in place.
    fn create(&self) -> KeyFuture<'_, KekId> {
        Box::pin(async move { self.create_now() })
    }

    fn list(&self) -> KeyFuture<'_, Vec<KekId>> {
        Box::pin(async move { Ok(self.read().ids()) })
    }

    fn retire<'a>(&'a self, kek: &'a KekId) -> KeyFuture<'a, ()> {
        Box::pin(async move { self.retire_now(kek) })
    }
}
