//! Bulkhead's API client, used by the CLI and the load generator: HTTPS only (rustls, ring),
//! hostname verification on, the bearer token kept out of every message, the API's one error
//! shape mapped to `ClientError::Api`, kept-alive connections reused.
//!
//! Needs a Tokio runtime (each connection's I/O runs as a task).

mod conn;
mod error;
mod target;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use serde_json::Value;
use tokio_rustls::TlsConnector;

pub use conn::{Connection, Reply};
pub use error::ClientError;
pub use hyper::Method;

use conn::Shared;
use target::Target;

/// Timeouts and bounds. The `Default` is the safe choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// TCP connect plus TLS and HTTP handshakes.
    pub connect_timeout: Duration,
    /// From sending a request to the end of its response body.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Idle connections kept for reuse by `Client::request`.
    pub max_idle_connections: usize,
    /// An idle connection older than this is not reused (the server closes idle connections
    /// after its header-read timeout, 30 s by default).
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 16 * 1024 * 1024,
            max_idle_connections: 4,
            idle_timeout: Duration::from_secs(20),
        }
    }
}

/// A client of one Bulkhead server. Cheap to clone; clones share the idle connections.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    idle: Arc<Mutex<Vec<Idle>>>,
}

struct Idle {
    connection: Connection,
    since: Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.shared.target)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url` (`https://HOST[:PORT][/PREFIX]`) sending `token`
    /// as `Authorization: Bearer`, trusting the CA certificates in `ca` (PEM) or, without it,
    /// the system's.
    pub fn new(base_url: &str, token: &str, ca: Option<PathBuf>) -> Result<Client, ClientError> {
        Client::with_options(base_url, token, ca, ClientOptions::default())
    }

    pub fn with_options(
        base_url: &str,
        token: &str,
        ca: Option<PathBuf>,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let target = Target::parse(base_url)?;
        if token.trim().is_empty() {
            return Err(ClientError::Token);
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| ClientError::Token)?;
        auth.set_sensitive(true);
        let config = tls::client_config(ca.as_deref())?;
        Ok(Client {
            shared: Arc::new(Shared {
                target,
                tls: TlsConnector::from(config),
                auth,
                options,
            }),
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The client from `BULKHEAD_URL`, `BULKHEAD_TOKEN` and `BULKHEAD_CA` (optional), or
    /// `None` when neither the URL nor the token is set.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<Client>, ClientError> {
        let get = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
        match (get("BULKHEAD_URL"), get("BULKHEAD_TOKEN")) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ClientError::Env {
                set: "BULKHEAD_URL",
                missing: "BULKHEAD_TOKEN",
            }),
            (None, Some(_)) => Err(ClientError::Env {
                set: "BULKHEAD_TOKEN",
                missing: "BULKHEAD_URL",
            }),
            (Some(url), Some(token)) => {
                Client::new(url, token, get("BULKHEAD_CA").map(PathBuf::from)).map(Some)
            }
        }
    }

    /// The server's base URL (`https://host:port[/prefix]`).
    pub fn base_url(&self) -> String {
        self.shared.target.to_string()
    }

    /// Open a new connection of its own (not pooled): the load generator opens N of these.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        Connection::open(Arc::clone(&self.shared)).await
    }

    /// Send a request on an idle connection (or a new one) and return the JSON body of a 2xx
    /// reply; a non-2xx reply is the API's error (`ClientError::Api`). A request that an idle
    /// connection closed under it is sent again on a new connection when that is safe (it was
    /// not sent, or the method is idempotent).
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let body = conn::encode(body);
        if let Some(mut connection) = self.take_idle() {
            match connection
                .exchange(&method, path_and_query, body.clone())
                .await
            {
                Ok(reply) => {
                    self.put_back(connection);
                    return reply.into_json(&method, path_and_query);
                }
                Err(failure) if failure.retryable => {}
                Err(failure) => return Err(failure.error),
            }
        }
        let mut connection = self.connect().await?;
        let reply = connection
            .exchange(&method, path_and_query, body)
            .await
            .map_err(|f| f.error)?;
        self.put_back(connection);
        reply.into_json(&method, path_and_query)
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Idle { connection, since }) = idle.pop() {
            if !connection.is_closed() && since.elapsed() < self.shared.options.idle_timeout {
                return Some(connection);
            }
        }
        None
    }

    fn put_back(&self, connection: Connection) {
        if connection.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.shared.options.max_idle_connections {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_or_errors() {
        let client = Client::new("https://localhost:1", "s3cret-token", None);
        // The system may have no CA certificates; then the error must not show the token.
        let text = match &client {
            Ok(c) => format!("{c:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        assert!(!text.contains("s3cret"), "{text}");
        let err = Client::new("https://localhost:1", "bad\ntoken", None)
            .err()
            .map(|e| format!("{e} {e:?}"))
            .unwrap_or_default();
        assert!(err.contains("token") && !err.contains("bad"), "{err}");
    }

    #[test]
    fn env_needs_both_url_and_token() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(matches!(Client::from_env(&env(&[])), Ok(None)));
        assert!(Client::from_env(&env(&[("BULKHEAD_URL", "https://x")])).is_err());
        assert!(Client::from_env(&env(&[("BULKHEAD_TOKEN", "t")])).is_err());
    }
}
