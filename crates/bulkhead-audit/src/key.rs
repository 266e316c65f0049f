//! The audit signing key: an Ed25519 key created on first open as `<state-dir>/keys/
//! audit-ed25519.key` (0600, in a 0700 directory), its public half beside it, and the text form
//! in which a public key is exported and read back (`verify --pubkey FILE`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bulkhead_core::audit::{KeyId, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::layout::{
    KEY_DIR, KEY_FILE, PUBLIC_KEY_FILE, create_new_file, create_private_dir, sync_dir,
    write_atomically,
};

const PRIVATE_LABEL: &str = "BULKHEAD AUDIT PRIVATE KEY";
const PUBLIC_LABEL: &str = "BULKHEAD AUDIT PUBLIC KEY";
/// Key files are tiny; anything larger is not one.
const MAX_KEY_FILE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the audit key {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the audit key {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} is not a bulkhead audit {what} key file")]
    Format { path: PathBuf, what: &'static str },
    #[error("the audit key {path} is accessible to other users (mode {mode:o}); it must be 0600")]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "{public} does not match the signing key {private}: one of them was replaced (export the right public key again, or restore the key)"
    )]
    Mismatch { private: PathBuf, public: PathBuf },
    #[error("no randomness for a new audit key: {reason}")]
    Random { reason: String },
}

/// The signing key of the log under `state_dir`, created (with its public half) if absent.
pub fn load_or_create(state_dir: &Path) -> Result<SigningKey, KeyError> {
    let dir = state_dir.join(KEY_DIR);
    let path = dir.join(KEY_FILE);
    let key = match fs::symlink_metadata(&path) {
        Ok(_) => load_private(&path)?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => create(&dir, &path)?,
        Err(source) => return Err(KeyError::Read { path, source }),
    };
    let public = dir.join(PUBLIC_KEY_FILE);
    match read_public_key(&public) {
        Ok(found) if found == key.verifying_key() => {}
        Ok(_) => {
            return Err(KeyError::Mismatch {
                private: path,
                public,
            });
        }
        Err(KeyError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let text = public_key_text(&key.verifying_key());
            write_atomically(&dir, PUBLIC_KEY_FILE, text.as_bytes()).map_err(|source| {
                KeyError::Write {
                    path: public,
                    source,
                }
            })?;
        }
        Err(err) => return Err(err),
    }
    Ok(key)
}

/// The public key kept in the state directory (what `verify` trusts without `--pubkey`).
pub fn state_public_key(state_dir: &Path) -> Result<VerifyingKey, KeyError> {
    read_public_key(&state_dir.join(KEY_DIR).join(PUBLIC_KEY_FILE))
}

/// Writes the state directory's public key to `out` (mode 0644 is fine: it is public), and
/// returns it. Keep the copy away from the state directory: verifying against it detects a
/// replaced key.
pub fn export_public_key(state_dir: &Path, out: &Path) -> Result<VerifyingKey, KeyError> {
    let key = state_public_key(state_dir)?;
    fs::write(out, public_key_text(&key)).map_err(|source| KeyError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(key)
}

/// A public key as text: an armored block around its 64 hex digits, and its key id.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!(
        "-----BEGIN {PUBLIC_LABEL}-----\n{}\n-----END {PUBLIC_LABEL}-----\nkey-id: {}\n",
        hex::encode(key.as_bytes()),
        KeyId::of(key)
    )
}

/// Parses [`public_key_text`]'s form (the `key-id` line, when present, must match).
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let mut rest = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let bytes: [u8; 32] = armored(&mut rest, PUBLIC_LABEL)?;
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    match rest.next() {
        None => Some(key),
        Some(line) => {
            let id = line.strip_prefix("key-id:")?.trim();
            (KeyId::from_hex(id)? == KeyId::of(&key) && rest.next().is_none()).then_some(key)
        }
    }
}

/// Reads a public key file written by [`export_public_key`].
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = read_small(path)?;
    let text = String::from_utf8_lossy(&text);
    parse_public_key(&text).ok_or_else(|| KeyError::Format {
        path: path.to_path_buf(),
        what: "public",
    })
}

fn create(dir: &Path, path: &Path) -> Result<SigningKey, KeyError> {
    let write = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    create_private_dir(dir).map_err(write)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| KeyError::Random {
        reason: e.to_string(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let text = Zeroizing::new(format!(
        "-----BEGIN {PRIVATE_LABEL}-----\n{}\n-----END {PRIVATE_LABEL}-----\n",
        Zeroizing::new(hex::encode(seed.as_slice())).as_str()
    ));
    let mut file = create_new_file(path).map_err(write)?;
    file.write_all(text.as_bytes()).map_err(write)?;
    file.sync_all().map_err(write)?;
    sync_dir(dir).map_err(write)?;
    Ok(key)
}

fn load_private(path: &Path) -> Result<SigningKey, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = read_small(path)?;
    let text = Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        armored(&mut lines, PRIVATE_LABEL)
            .filter(|_| lines.next().is_none())
            .ok_or_else(|| KeyError::Format {
                path: path.to_path_buf(),
                what: "private",
            })?,
    );
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads `-----BEGIN label-----`, 64 hex digits, `-----END label-----` from `lines`.
fn armored<'a>(lines: &mut impl Iterator<Item = &'a str>, label: &str) -> Option<[u8; 32]> {
    let begin = lines.next()?;
    let body = lines.next()?;
    let end = lines.next()?;
    if begin != format!("-----BEGIN {label}-----") || end != format!("-----END {label}-----") {
        return None;
    }
    let bytes = hex::decode(body).ok()?;
    bytes.try_into().ok()
}

fn read_small(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut out = Zeroizing::new(Vec::new());
    File::open(path)
        .map_err(read)?
        .take(MAX_KEY_FILE)
        .read_to_end(&mut out)
        .map_err(read)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded() -> Result<(), Box<dyn std::error::Error>> {
        let state = tempfile::tempdir()?;
        let a = load_or_create(state.path())?;
        let b = load_or_create(state.path())?;
        assert_eq!(a.to_bytes(), b.to_bytes());
        let keys = state.path().join(KEY_DIR);
        assert_eq!(fs::metadata(&keys)?.permissions().mode() & 0o777, 0o700);
        let file = keys.join(KEY_FILE);
        assert_eq!(fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(state_public_key(state.path())?, a.verifying_key());
        let text = fs::read_to_string(&file)?;
        assert!(text.starts_with("-----BEGIN BULKHEAD AUDIT PRIVATE KEY-----\n"));
        Ok(())
    }

    #[test]
    fn exported_public_key_reads_back() -> Result<(), Box<dyn std::error::Error>> {
        let state = tempfile::tempdir()?;
        let key = load_or_create(state.path())?;
        let out = state.path().join("exported.pub");
        assert_eq!(export_public_key(state.path(), &out)?, key.verifying_key());
        assert_eq!(read_public_key(&out)?, key.verifying_key());
        let text = fs::read_to_string(&out)?;
        assert!(text.contains(&KeyId::of(&key.verifying_key()).to_string()));
        // Without the key-id line it still parses; with a wrong one it does not.
        let bare: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_public_key(&bare), Some(key.verifying_key()));
        let wrong = text.replace("key-id: ", "key-id: 00");
        assert_eq!(parse_public_key(&wrong), None);
        assert_eq!(parse_public_key("hello"), None);
        Ok(())
    }

    #[test]
    fn an_exposed_or_mangled_private_key_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let state = tempfile::tempdir()?;
        load_or_create(state.path())?;
        let file = state.path().join(KEY_DIR).join(KEY_FILE);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
        assert!(matches!(
            load_or_create(state.path()),
            Err(KeyError::Exposed { mode: 0o644, .. })
        ));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600))?;
        fs::write(&file, "-----BEGIN BULKHEAD AUDIT PRIVATE KEY-----\nzz\n")?;
        assert!(matches!(
            load_or_create(state.path()),
            Err(KeyError::Format {
                what: "private",
                ..
            })
        ));
        Ok(())
    }

    #[test]
    fn a_replaced_public_half_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let state = tempfile::tempdir()?;
        load_or_create(state.path())?;
        let other = SigningKey::from_bytes(&[5; 32]).verifying_key();
        let public = state.path().join(KEY_DIR).join(PUBLIC_KEY_FILE);
        fs::write(&public, public_key_text(&other))?;
        assert!(matches!(
            load_or_create(state.path()),
            Err(KeyError::Mismatch { .. })
        ));
        fs::remove_file(&public)?;
        load_or_create(state.path())?;
        assert!(public.exists());
        Ok(())
    }
}
