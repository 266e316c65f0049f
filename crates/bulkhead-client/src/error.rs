//! The client's one error type. No variant carries the token, and none echoes a URL that
//! could hold credentials.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the server URL must start with https:// (got {scheme}://): Bulkhead's API is served \
         over HTTPS only"
    )]
    NotHttps { scheme: String },
    #[error("invalid server URL: {reason}")]
    Url { reason: String },
    #[error("{set} is set but {missing} is not; set both to talk to a server")]
    Env {
        set: &'static str,
        missing: &'static str,
    },
    #[error("the API token is empty or holds characters that cannot be sent in a header")]
    Token,
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot load the system's trusted CA certificates: {reason}")]
    SystemRoots { reason: String },
    #[error("cannot build the TLS configuration: {reason}")]
    TlsConfig { reason: String },
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error(
        "the certificate of {server} is not signed by a CA this client trusts; if the server \
         uses its own CA, set BULKHEAD_CA to its ca.pem (and compare the fingerprint it printed)"
    )]
    UntrustedServer { server: String },
    #[error("the certificate of {server} is not valid for the name {name}")]
    WrongName { server: String, name: String },
    #[error("TLS handshake with {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error("{what} timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{method} {path} failed: {reason}")]
    Transport {
        method: String,
        path: String,
        reason: String,
    },
    #[error("the response to {method} {path} is larger than {limit} bytes")]
    TooLarge {
        method: String,
        path: String,
        limit: usize,
    },
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{method} {path} returned HTTP {status} without an error description")]
    Status {
        method: String,
        path: String,
        status: u16,
    },
    #[error("the response to {method} {path} is not JSON: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}
