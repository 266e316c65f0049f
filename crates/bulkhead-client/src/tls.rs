//! The client's TLS configuration (ring, TLS 1.3 and 1.2, ALPN http/1.1, hostname
//! verification on): trusting the given CA file, or else the system's roots; and the mapping
//! of handshake failures to errors that say what to do.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ClientError;
use crate::target::Target;

/// CA files larger than this are refused.
const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, ClientError> {
    let roots = match ca {
        Some(path) => file_roots(path)?,
        None => system_roots()?,
    };
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::TlsConfig {
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn file_roots(path: &Path) -> Result<RootCertStore, ClientError> {
    let fail = |reason: String| ClientError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_BYTES + 1).read_to_end(&mut pem))
        .map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_CA_BYTES {
        return Err(fail(format!("larger than {MAX_CA_BYTES} bytes")));
    }
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(fail("it holds no PEM certificate".to_string()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate cannot be used as a CA: {e}")))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, ClientError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let reason = match found.errors.first() {
            Some(e) => e.to_string(),
            None => "none found".to_string(),
        };
        return Err(ClientError::SystemRoots { reason });
    }
    Ok(roots)
}

/// The error for a failed TLS handshake with `target`.
pub(crate) fn handshake_error(target: &Target, e: &std::io::Error) -> ClientError {
    let server = target.server();
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        // BadSignature: an issuer of the same name that this client trusts did not sign it.
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        )) => ClientError::UntrustedServer { server },
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => ClientError::WrongName {
            server,
            name: target.host.clone(),
        },
        Some(e) => ClientError::Tls {
            server,
            reason: e.to_string(),
        },
        None => ClientError::Tls {
            server,
            reason: e.to_string(),
        },
    }
}
