//! TLS files on disk: bounded PEM reads that name the file, the private-key permission check,
//! and atomic writes (temp file, fsync, rename, fsync of the directory).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// PEM files larger than this are refused (a certificate chain is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Read a certificate chain (one or more `CERTIFICATE` blocks, leaf first).
pub(super) fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_bounded(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// Read a private key (PKCS#8, SEC1 or PKCS#1), refusing a file others may access.
pub(super) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    check_key_mode(path)?;
    let bytes = read_bounded(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        e => malformed(path, e),
    })
}

/// Read a private key's PEM text (for rcgen), refusing a file others may access.
pub(super) fn read_key_pem(path: &Path) -> Result<String, TlsError> {
    check_key_mode(path)?;
    let bytes = read_bounded(path)?;
    String::from_utf8(bytes).map_err(|_| TlsError::Malformed {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".to_string(),
    })
}

/// Refuse a private key that the group or others can access in any way.
fn check_key_mode(path: &Path) -> Result<(), TlsError> {
    let meta = std::fs::metadata(path).map_err(|e| read_error(path, &e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| read_error(path, &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(path, &e))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::Malformed {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_PEM_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

fn read_error(path: &Path, e: &std::io::Error) -> TlsError {
    TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn malformed(path: &Path, e: pem::Error) -> TlsError {
    TlsError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Create `dir` (and parents) and make it 0700.
pub(super) fn private_dir(dir: &Path) -> Result<(), TlsError> {
    let fail = |e: std::io::Error| TlsError::Dir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)
}

/// Write `contents` to `path` atomically with `mode`: a reader (or a restart after a kill)
/// sees the old file or the whole new one, never a part.
pub(super) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let fail = |e: std::io::Error| TlsError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_name(path);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` is filtered by the umask on create; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temp_file() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("k.key");
        write_atomic(&path, b"one", 0o600)?;
        write_atomic(&path, b"two", 0o600)?;
        assert_eq!(std::fs::read(&path)?, b"two");
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn group_readable_key_is_refused_naming_the_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("k.key");
        write_atomic(&path, b"x", 0o640)?;
        let err = read_key(&path).err().ok_or("accepted")?;
        assert!(matches!(err, TlsError::KeyPermissions { mode: 0o640, .. }));
        assert!(err.to_string().contains("k.key"), "{err}");
        Ok(())
    }

    #[test]
    fn malformed_and_empty_pem_name_the_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n")?;
        let err = read_chain(&empty).err().ok_or("accepted")?;
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )?;
        let err = read_chain(&bad).err().ok_or("accepted")?;
        assert!(matches!(err, TlsError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("bad.pem"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = read_chain(&missing).err().ok_or("accepted")?;
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let key = dir.path().join("nokey.key");
        write_atomic(&key, b"no key here\n", 0o600)?;
        let err = read_key(&key).err().ok_or("accepted")?;
        assert!(matches!(err, TlsError::NoKey { .. }), "{err}");
        Ok(())
    }
}
