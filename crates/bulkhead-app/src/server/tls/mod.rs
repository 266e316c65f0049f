//! The server's TLS identity and configuration: a local CA and a server certificate under
//! `<state-dir>/tls/` (created on first start, reused and renewed after) or a user-supplied
//! chain and key; the rustls `ServerConfig` built from it (ring, TLS 1.2 + 1.3, ALPN http/1.1).

mod files;
mod issue;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::ServerSessionMemoryCache;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

pub use issue::{CA_COMMON_NAME, SubjectName, subject_names};

/// The directory under the state directory that holds the generated TLS files.
pub const TLS_DIR: &str = "tls";
/// The local CA certificate (what clients trust: `BULKHEAD_CA`).
pub const CA_CERT_FILE: &str = "ca.pem";
/// The local CA's private key (0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// The server certificate, signed by the local CA.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// The server certificate's private key (0600).
pub const SERVER_KEY_FILE: &str = "server.key";

/// TLS sessions the server remembers for resumption.
const SESSION_CACHE_SIZE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot prepare the TLS directory {path}: {reason}")]
    Dir { path: PathBuf, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path} is not a valid PEM file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error(
        "the private key {path} is accessible to group or others (mode {mode:04o}); \
         make it private with `chmod 600 {path}`"
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("the private key {key} does not match the certificate {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the key in {path} cannot be used: {reason}")]
    UnusableKey { path: PathBuf, reason: String },
    #[error("{name:?} is neither a host name nor an IP address, so no certificate can name it")]
    Name { name: String },
    #[error("cannot issue {what}: {reason}")]
    Issue { what: &'static str, reason: String },
    #[error("cannot build the TLS configuration: {reason}")]
    Config { reason: String },
}

/// Where the server's certificate came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Generated under `<state-dir>/tls/` (`dir`); says what this start had to create.
    Generated {
        dir: PathBuf,
        ca_created: bool,
        server_issued: bool,
    },
    /// A user-supplied chain and key.
    User { cert: PathBuf, key: PathBuf },
}

/// The certificate chain and key the server presents, and what clients should trust.
pub struct TlsMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The local CA (generated), or the leaf certificate (user-supplied).
    anchor: CertificateDer<'static>,
    source: Source,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// SHA-256 of the local CA certificate (generated), or of the server certificate
    /// (user-supplied), as upper-case hex pairs joined by ':'.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.anchor)
    }

    /// The CA file clients should trust (`BULKHEAD_CA`), when the CA is Bulkhead's own.
    pub fn ca_file(&self) -> Option<PathBuf> {
        match &self.source {
            Source::Generated { dir, .. } => Some(dir.join(CA_CERT_FILE)),
            Source::User { .. } => None,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The chain the server presents, leaf first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The rustls server configuration: ring provider, TLS 1.3 and 1.2, ALPN http/1.1, no
    /// client certificates, a session cache for resumption.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let config_error = |e: rustls::Error| TlsError::Config {
            reason: e.to_string(),
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(config_error)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(config_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        Ok(Arc::new(config))
    }
}

/// SHA-256 of a DER certificate as upper-case hex pairs joined by ':'.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The generated identity under `<state_dir>/tls/` (0700): the local CA is created when
/// missing and reused after; the server certificate is (re)issued when missing, unusable,
/// expiring within 30 days, or not valid for one of the default names plus `extra_names`.
pub fn load_or_create(state_dir: &Path, extra_names: &[String]) -> Result<TlsMaterial, TlsError> {
    let names = subject_names(extra_names)?;
    let dir = state_dir.join(TLS_DIR);
    files::private_dir(&dir)?;
    let (ca, ca_key_pem, ca_created) = ensure_ca(&dir)?;
    let cert_path = dir.join(SERVER_CERT_FILE);
    let key_path = dir.join(SERVER_KEY_FILE);
    let existing = if ca_created {
        None
    } else {
        reusable_server_cert(&cert_path, &key_path, &ca, &names)?
    };
    let server_issued = existing.is_none();
    let (chain, key) = match existing {
        Some(found) => found,
        None => {
            let issued = issue::new_server_cert(&ca_key_pem, &names)?;
            // Key first: a kill between the two writes leaves a cert/key mismatch, which the
            // next start repairs by issuing again.
            files::write_atomic(&key_path, issued.key_pem.as_bytes(), 0o600)?;
            files::write_atomic(&cert_path, issued.cert_pem.as_bytes(), 0o644)?;
            (vec![issued.der], files::read_key(&key_path)?)
        }
    };
    Ok(TlsMaterial {
        chain,
        key,
        anchor: ca,
        source: Source::Generated {
            dir,
            ca_created,
            server_issued,
        },
    })
}

/// A user-supplied certificate chain (PEM, leaf first) and private key (PEM, not accessible
/// to group or others), checked to belong together.
pub fn load_user(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let chain = files::read_chain(cert)?;
    let key_der = files::read_key(key)?;
    check_pair(&chain, &key_der, cert, key)?;
    Ok(TlsMaterial {
        anchor: chain[0].clone(),
        chain,
        key: key_der,
        source: Source::User {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
    })
}

/// The local CA: read back when `ca.pem` exists (its key must be there and match), created
/// otherwise (key written first, so `ca.pem` existing means the pair is complete).
fn ensure_ca(dir: &Path) -> Result<(CertificateDer<'static>, String, bool), TlsError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    if cert_path.exists() {
        let chain = files::read_chain(&cert_path)?;
        let key_pem = files::read_key_pem(&key_path)?;
        let key = files::read_key(&key_path)?;
        check_pair(&chain[..1], &key, &cert_path, &key_path)?;
        return Ok((chain[0].clone(), key_pem, false));
    }
    let ca = issue::new_ca()?;
    files::write_atomic(&key_path, ca.key_pem.as_bytes(), 0o600)?;
    files::write_atomic(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
    tracing::info!(path = %cert_path.display(), "created a local CA");
    Ok((ca.der, ca.key_pem, true))
}

type ChainAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The existing server certificate and key when they can be reused as they are. A key
/// others can read is an error (never silently replaced); anything else wrong means reissue.
fn reusable_server_cert(
    cert_path: &Path,
    key_path: &Path,
    ca: &CertificateDer<'static>,
    names: &[SubjectName],
) -> Result<Option<ChainAndKey>, TlsError> {
    if !cert_path.exists() || !key_path.exists() {
        return Ok(None);
    }
    let key = match files::read_key(key_path) {
        Ok(key) => key,
        Err(e @ TlsError::KeyPermissions { .. }) => return Err(e),
        Err(e) => {
            tracing::warn!("reissuing the server certificate: {e}");
            return Ok(None);
        }
    };
    let chain = match files::read_chain(cert_path) {
        Ok(chain) => chain,
        Err(e) => {
            tracing::warn!("reissuing the server certificate: {e}");
            return Ok(None);
        }
    };
    if check_pair(&chain, &key, cert_path, key_path).is_err() {
        tracing::warn!("reissuing the server certificate: its key does not match");
        return Ok(None);
    }
    if !issue::fits(ca, &chain, names) {
        tracing::info!("reissuing the server certificate: expiring, or a name is missing");
        return Ok(None);
    }
    Ok(Some((chain, key)))
}

/// Whether `key` is the private key of `chain[0]`.
fn check_pair(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), TlsError> {
    match CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider()) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(e) => Err(TlsError::UnusableKey {
            path: key_path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
