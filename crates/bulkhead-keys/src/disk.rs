//! Key files on disk: the private directory (0700), atomic writes (temporary file 0600, fsync,
//! rename, fsync of the directory), bounded reads that refuse a file others can access, and
//! the text form of a key (standard base64 of its 32 bytes, the form `BULKHEAD_KEK` takes).

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bulkhead_core::secrets::KEY_BYTES;
use zeroize::Zeroizing;

use crate::KeysError;

pub(crate) const DIR_MODE: u32 = 0o700;
pub(crate) const FILE_MODE: u32 = 0o600;
/// A key file is 45 bytes; anything much larger is not one.
const MAX_KEY_FILE: u64 = 1024;

fn io_error(path: &Path, source: io::Error) -> KeysError {
    KeysError::Io {
        path: path.to_path_buf(),
        reason: source.to_string(),
    }
}

/// Creates `dir` (and missing parents) 0700; an existing one must not be open to others.
pub(crate) fn private_dir(dir: &Path) -> Result<(), KeysError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if !meta.is_dir() {
                return Err(KeysError::Io {
                    path: dir.to_path_buf(),
                    reason: "it is not a directory".to_owned(),
                });
            }
            if mode & 0o077 != 0 {
                return Err(KeysError::Exposed {
                    path: dir.to_path_buf(),
                    mode,
                    wanted: DIR_MODE,
                });
            }
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|e| io_error(dir, e))?;
            // The umask may have narrowed the mode; set it exactly.
            fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(|e| io_error(dir, e))
        }
        Err(err) => Err(io_error(dir, err)),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), KeysError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// The temporary name `write_atomically` uses for `name`: a dot file, never a key file.
pub(crate) fn temp_name(name: &str) -> String {
    format!(".{name}.tmp.{}", std::process::id())
}

/// Writes `dir/name` so that a reader, or a restart after a kill, sees the old file or the
/// whole new one: temporary file (0600), fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), KeysError> {
    let path = dir.join(name);
    let tmp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(&path, err));
    }
    sync_dir(dir)
}

/// Reads a small file that only its owner may access (mode 0600 or narrower).
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeysError> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeysError::Exposed {
            path: path.to_path_buf(),
            mode,
            wanted: FILE_MODE,
        });
    }
    // Room for the whole bounded read up front: a growing buffer would leave copies of the
    // key text behind in freed memory.
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize + 64));
    File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE).read_to_end(&mut out))
        .map_err(|e| io_error(path, e))?;
    Ok(out)
}

/// A key's text form: base64 of its bytes and a newline.
pub(crate) fn key_text(key: &[u8; KEY_BYTES]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(STANDARD.encode(key));
    text.push('\n');
    text
}

/// Parses a key's text form (surrounding whitespace allowed); `source` names where it came
/// from (a path, a variable) in the error, which never holds the text.
pub(crate) fn parse_key(
    text: &[u8],
    source: &str,
) -> Result<Zeroizing<[u8; KEY_BYTES]>, KeysError> {
    let trimmed = text.trim_ascii();
    let bytes = Zeroizing::new(STANDARD.decode(trimmed).map_err(|_| KeysError::Malformed {
        origin: source.to_owned(),
        reason: "it is not base64".to_owned(),
    })?);
    if bytes.len() != KEY_BYTES {
        return Err(KeysError::Malformed {
            origin: source.to_owned(),
            reason: format!(
                "it holds {} bytes; a key-encryption key is {KEY_BYTES} bytes",
                bytes.len()
            ),
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Draws a fresh 256-bit key.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; KEY_BYTES]>, KeysError> {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| KeysError::Random {
        reason: e.to_string(),
    })?;
    Ok(key)
}

/// Lists `dir`'s entry names (UTF-8 ones; others cannot be Bulkhead's).
pub(crate) fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, KeysError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> io::Result<u32> {
        Ok(fs::metadata(path)?.permissions().mode() & 0o777)
    }

    #[test]
    fn atomic_writes_are_0600_and_leave_no_temporary_file() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let keys = dir.path().join("a/keys");
        private_dir(&keys)?;
        assert_eq!(mode(&keys)?, 0o700);
        write_atomically(&keys, "k", b"one")?;
        write_atomically(&keys, "k", b"two")?;
        assert_eq!(fs::read(keys.join("k"))?, b"two");
        assert_eq!(mode(&keys.join("k"))?, 0o600);
        assert_eq!(entries(&keys)?.len(), 1);
        Ok(())
    }

    #[test]
    fn open_directories_and_files_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let keys = dir.path().join("keys");
        private_dir(&keys)?;
        write_atomically(&keys, "k", b"x")?;
        fs::set_permissions(keys.join("k"), Permissions::from_mode(0o640))?;
        let err = read_private(&keys.join("k")).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("keys/k") && e.contains("640")));
        fs::set_permissions(&keys, Permissions::from_mode(0o755))?;
        assert!(matches!(
            private_dir(&keys),
            Err(KeysError::Exposed { mode: 0o755, .. })
        ));
        Ok(())
    }

    #[test]
    fn key_text_round_trips_and_wrong_lengths_are_named() -> Result<(), Box<dyn std::error::Error>>
    {
        let key = random_key()?;
        let text = key_text(&key);
        assert_eq!(text.len(), 45);
        assert_eq!(*parse_key(text.as_bytes(), "f")?, *key);
        let short = STANDARD.encode([1u8; 31]);
        let err = parse_key(short.as_bytes(), "/x/kek.key")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("/x/kek.key") && e.contains("31 bytes")));
        let err = parse_key(b"not base64!", "VAR")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("VAR") && !e.contains("not base64!")));
        Ok(())
    }
}
