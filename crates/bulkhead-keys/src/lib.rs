//! Key-encryption keys for secrets at rest: the `KeyProvider` port over key files in the state
//! directory (`file`: `keys/kek-<id>.key`, 0600, and `keys/kek-current`), or over a key given
//! in the environment (`env`: `BULKHEAD_KEK`). Both keep their keys in memory, zeroed on drop,
//! and share one wrap/unwrap (`set`). See docs/secrets.md.

mod disk;
mod env;
mod file;
mod set;

use std::path::PathBuf;

use bulkhead_core::secrets::KekId;
use bulkhead_ports::KeyError;

pub use env::{EnvKeys, KEK_VAR, OLD_KEK_VAR};
pub use file::{CURRENT_FILE, FileKeys, KEY_DIR, key_file_name};

/// What opening or changing keys can fail with. No variant carries key bytes or key text.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(
        "{path} is accessible to other users (mode {mode:o}); it must be {wanted:o} (chmod {wanted:o} it, and check who read it)"
    )]
    Exposed {
        path: PathBuf,
        mode: u32,
        wanted: u32,
    },
    /// `origin` is a path or an environment variable's name.
    #[error("{origin} is not a key-encryption key: {reason}")]
    Malformed { origin: String, reason: String },
    #[error(
        "{path} holds key {found}, but its name says {named}: the file was renamed or replaced"
    )]
    IdMismatch {
        path: PathBuf,
        named: KekId,
        found: KekId,
    },
    #[error("{path} names key {id}, and there is no {missing}")]
    MissingCurrent {
        path: PathBuf,
        id: KekId,
        missing: PathBuf,
    },
    #[error(
        "{dir} holds {count} key-encryption keys and no kek-current naming the one in use; write its id into {dir}/kek-current"
    )]
    NoCurrent { dir: PathBuf, count: usize },
    #[error("there is no key-encryption key in {dir} (run `bulkhead init`)")]
    NoKeys { dir: PathBuf },
    #[error("{OLD_KEK_VAR} holds the same key as {KEK_VAR}: set it to the previous key")]
    SameKey,
    #[error("no randomness for a new key: {reason}")]
    Random { reason: String },
}

impl From<KeysError> for KeyError {
    fn from(err: KeysError) -> KeyError {
        match err {
            KeysError::Random { reason } => KeyError::Random { reason },
            other => KeyError::Provider {
                reason: other.to_string(),
            },
        }
    }
}
