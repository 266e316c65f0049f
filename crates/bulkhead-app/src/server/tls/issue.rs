//! Issuing the local CA and the server certificate (rcgen, ECDSA P-256), and deciding whether
//! an existing server certificate still fits: signed by the CA, valid for a while yet, and
//! valid for every name asked for.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, DnsName, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use super::TlsError;

/// The local CA's common name.
pub const CA_COMMON_NAME: &str = "Bulkhead local CA";
const SERVER_COMMON_NAME: &str = "Bulkhead server";
const CA_VALIDITY: Duration = Duration::from_secs(3653 * 24 * 60 * 60);
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// A server certificate is renewed when it expires within this long.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Certificates start this long in the past, for clocks slightly behind ours.
const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// Names every generated server certificate covers.
const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A name a server certificate is valid for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubjectName {
    Dns(String),
    Ip(IpAddr),
}

/// A freshly issued certificate and its private key, both PEM.
pub(super) struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

/// The default names plus `extra` (host names or IP addresses, IPv6 with or without
/// brackets), deduplicated; unspecified addresses (`0.0.0.0`, `::`) are skipped.
pub fn subject_names(extra: &[String]) -> Result<Vec<SubjectName>, TlsError> {
    let mut names = BTreeSet::new();
    for raw in DEFAULT_NAMES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let name = raw.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = name.parse::<IpAddr>() {
            if !ip.is_unspecified() {
                names.insert(SubjectName::Ip(ip));
            }
            continue;
        }
        let dns = name.to_ascii_lowercase();
        if DnsName::try_from(dns.as_str()).is_err() || dns.contains('*') {
            return Err(TlsError::Name {
                name: raw.to_string(),
            });
        }
        names.insert(SubjectName::Dns(dns));
    }
    Ok(names.into_iter().collect())
}

/// A new self-signed local CA: CN "Bulkhead local CA", 10 years, may sign certificates.
pub(super) fn new_ca() -> Result<Issued, TlsError> {
    let key = KeyPair::generate().map_err(|e| issue_error("the local CA", e))?;
    let mut params = ca_params(&key);
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_VALIDITY).into();
    let cert = params
        .self_signed(&key)
        .map_err(|e| issue_error("the local CA", e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    })
}

/// A new server certificate (1 year, serverAuth) for `names`, signed by the CA whose key is
/// `ca_key_pem` (the CA's subject is a function of its key, so the issuer name matches).
pub(super) fn new_server_cert(ca_key_pem: &str, names: &[SubjectName]) -> Result<Issued, TlsError> {
    let what = "the server certificate";
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| issue_error(what, e))?;
    let issuer = Issuer::new(ca_params(&ca_key), ca_key);
    let key = KeyPair::generate().map_err(|e| issue_error(what, e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, SERVER_COMMON_NAME);
    for name in names {
        params.subject_alt_names.push(match name {
            SubjectName::Ip(ip) => SanType::IpAddress(*ip),
            SubjectName::Dns(dns) => {
                SanType::DnsName(dns.clone().try_into().map_err(|e| issue_error(what, e))?)
            }
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + SERVER_VALIDITY).into();
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| issue_error(what, e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    })
}

/// The CA's parameters. Its subject carries an id derived from its key, so two Bulkhead CAs
/// never share a name (a client trusting one then reports the other as an unknown issuer).
fn ca_params(key: &KeyPair) -> CertificateParams {
    let id = Sha256::digest(key.public_key_raw());
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name.push(
        DnType::OrganizationalUnitName,
        format!("ca-{}", hex_id(&id[..8])),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Whether `chain` (leaf first) is signed by `ca`, is valid now and for `RENEW_BEFORE` more,
/// and is valid for the server role under every one of `names`.
pub(super) fn fits(
    ca: &CertificateDer<'static>,
    chain: &[CertificateDer<'static>],
    names: &[SubjectName],
) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let mut roots = RootCertStore::empty();
    if roots.add(ca.clone()).is_err() {
        return false;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()
    else {
        return false;
    };
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return false;
    };
    let times = [now, now + RENEW_BEFORE].map(UnixTime::since_unix_epoch);
    names.iter().all(|name| {
        let server_name = match name {
            SubjectName::Ip(ip) => ServerName::IpAddress((*ip).into()),
            SubjectName::Dns(dns) => match DnsName::try_from(dns.clone()) {
                Ok(dns) => ServerName::DnsName(dns),
                Err(_) => return false,
            },
        };
        times.iter().all(|at| {
            verifier
                .verify_server_cert(leaf, intermediates, &server_name, &[], *at)
                .is_ok()
        })
    })
}

fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn issue_error(what: &'static str, e: rcgen::Error) -> TlsError {
    TlsError::Issue {
        what,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_default_dedupe_and_skip_unspecified() -> Result<(), TlsError> {
        let names = subject_names(&[
            "Example.COM".into(),
            "[::1]".into(),
            "0.0.0.0".into(),
            "::".into(),
            "10.1.2.3".into(),
        ])?;
        let ip = |s: &str| s.parse().map(SubjectName::Ip).ok();
        assert_eq!(
            names,
            [
                Some(SubjectName::Dns("example.com".into())),
                Some(SubjectName::Dns("localhost".into())),
                ip("10.1.2.3"),
                ip("127.0.0.1"),
                ip("::1"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
        );
        assert!(subject_names(&["bad name".into()]).is_err());
        assert!(subject_names(&["*.example.com".into()]).is_err());
        Ok(())
    }

    #[test]
    fn a_server_cert_fits_its_names_and_not_others() -> Result<(), TlsError> {
        let ca = new_ca()?;
        let names = subject_names(&[])?;
        let server = new_server_cert(&ca.key_pem, &names)?;
        assert!(fits(&ca.der, std::slice::from_ref(&server.der), &names));
        let more = subject_names(&["api.example.com".into()])?;
        assert!(!fits(&ca.der, std::slice::from_ref(&server.der), &more));
        let other_ca = new_ca()?;
        assert!(!fits(
            &other_ca.der,
            std::slice::from_ref(&server.der),
            &names
        ));
        // The CA itself is not a server certificate.
        assert!(!fits(&ca.der, std::slice::from_ref(&ca.der), &names));
        Ok(())
    }
}
