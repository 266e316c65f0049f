//! One HTTP/1.1 connection to the server over TLS (hyper's client connection on
//! tokio-rustls): opened under a deadline, each request carrying the bearer token and its own
//! deadline, each response read up to a size limit.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::target::Target;
use crate::{ClientError, ClientOptions, tls};

/// What every connection of one client shares.
pub(crate) struct Shared {
    pub target: Target,
    pub tls: TlsConnector,
    /// `Bearer <token>`, marked sensitive.
    pub auth: HeaderValue,
    pub options: ClientOptions,
}

const USER_AGENT: &str = concat!("bulkhead/", env!("CARGO_PKG_VERSION"));

/// A response as received: status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON for a 2xx status (`null` when empty); otherwise the API's error shape
    /// `{"error":{"code","message"}}` as `ClientError::Api`.
    pub fn into_json(self, method: &Method, path: &str) -> Result<Value, ClientError> {
        if (200..300).contains(&self.status) {
            if self.body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode {
                method: method.to_string(),
                path: path.to_string(),
                reason: e.to_string(),
            });
        }
        let shape: Option<Value> = serde_json::from_slice(&self.body).ok();
        let field = |name: &str| {
            shape
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (field("code"), field("message")) {
            (Some(code), Some(message)) => Err(ClientError::Api {
                status: self.status,
                code,
                message,
            }),
            _ => Err(ClientError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status: self.status,
            }),
        }
    }
}

/// Why an exchange failed, and whether sending it again on a new connection is safe.
pub(crate) struct Failure {
    pub error: ClientError,
    pub retryable: bool,
}

impl Failure {
    fn fatal(error: ClientError) -> Failure {
        Failure {
            error,
            retryable: false,
        }
    }
}

/// One kept-alive HTTP/1.1 connection; requests on it go one at a time.
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.shared.target.server())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connect, handshake TLS and HTTP/1.1, all within the connect timeout.
    pub(crate) async fn open(shared: Arc<Shared>) -> Result<Connection, ClientError> {
        let after = shared.options.connect_timeout;
        match tokio::time::timeout(after, Self::open_now(Arc::clone(&shared))).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                what: format!("connecting to {}", shared.target.server()),
                after,
            }),
        }
    }

    async fn open_now(shared: Arc<Shared>) -> Result<Connection, ClientError> {
        let target = &shared.target;
        let connect_error = |reason: String| ClientError::Connect {
            server: target.server(),
            reason,
        };
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream = shared
            .tls
            .connect(target.server_name.clone(), tcp)
            .await
            .map_err(|e| tls::handshake_error(target, &e))?;
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect_error(reason(&e)))?;
        tokio::spawn(async move {
            // Ends when the server closes or the last sender is dropped.
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            shared: Arc::clone(&shared),
        })
    }

    /// Whether the connection is gone (the server closed it, or it failed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Send a request and return the reply as it came (any status).
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let body = encode(body);
        self.exchange(&method, path_and_query, body)
            .await
            .map_err(|f| f.error)
    }

    /// Send a request; the JSON body of a 2xx reply, else the API's error.
    pub async fn request(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let reply = self.send(method.clone(), path_and_query, body).await?;
        reply.into_json(&method, path_and_query)
    }

    /// One request and its whole reply, within the request timeout.
    pub(crate) async fn exchange(
        &mut self,
        method: &Method,
        path: &str,
        body: Bytes,
    ) -> Result<Reply, Failure> {
        let after = self.shared.options.request_timeout;
        match tokio::time::timeout(after, self.exchange_now(method, path, body)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::fatal(ClientError::Timeout {
                what: format!("{method} {path}"),
                after,
            })),
        }
    }

    async fn exchange_now(
        &mut self,
        method: &Method,
        path: &str,
        body: Bytes,
    ) -> Result<Reply, Failure> {
        let transport = |e: &hyper::Error| ClientError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            reason: reason(e),
        };
        let request = self.build(method, path, body).map_err(Failure::fatal)?;
        if let Err(e) = self.sender.ready().await {
            // Nothing was sent: safe to try again elsewhere.
            return Err(Failure {
                error: transport(&e),
                retryable: true,
            });
        }
        let response = match self.sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut e) => {
                let not_sent = e.take_message().is_some();
                let e = e.into_error();
                let stale = e.is_incomplete_message() || e.is_closed() || e.is_canceled();
                return Err(Failure {
                    error: transport(&e),
                    retryable: not_sent || (stale && method.is_idempotent()),
                });
            }
        };
        let status = response.status().as_u16();
        let limit = self.shared.options.max_response_bytes;
        let too_large = || {
            Failure::fatal(ClientError::TooLarge {
                method: method.to_string(),
                path: path.to_string(),
                limit,
            })
        };
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let body = match Limited::new(response.into_body(), limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
            Err(e) => {
                return Err(Failure::fatal(ClientError::Transport {
                    method: method.to_string(),
                    path: path.to_string(),
                    reason: e.to_string(),
                }));
            }
        };
        Ok(Reply { status, body })
    }

    fn build(
        &self,
        method: &Method,
        path: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let shared = &self.shared;
        let json = !body.is_empty();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method.clone();
        *request.uri_mut() = shared.target.uri(path)?;
        let headers = request.headers_mut();
        headers.insert(header::HOST, shared.target.authority.clone());
        headers.insert(header::AUTHORIZATION, shared.auth.clone());
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        if json {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Ok(request)
    }
}

/// A request body: the JSON text, or nothing.
pub(crate) fn encode(body: Option<&Value>) -> Bytes {
    body.map(|value| Bytes::from(value.to_string()))
        .unwrap_or_default()
}

/// A hyper error with its causes ("connection error: broken pipe").
fn reason(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
