//! Serving an axum `Router` over TLS: the accept loop under a connection cap and a per-client
//! cap, each TLS handshake under a deadline, HTTP/1.1 keep-alive (hyper) with header-read,
//! head-size, request and body limits, the peer address for handlers, counters of what was
//! turned away (`stats`), hyper's automatic error replies in the JSON shape (`automatic`), and
//! graceful shutdown with a bounded drain.

mod automatic;
mod stats;

pub use stats::{Rejected, Rejection, Snapshot, Stats};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Bounds on what one client can hold or send. The `Default` is the safe choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections one client address may hold at once; one more is closed as soon as it is
    /// accepted (and counted), so a single source cannot take every slot.
    pub max_connections_per_client: usize,
    /// Time a client has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a client has to send a request's headers; it also closes idle keep-alive
    /// connections, since the wait for the next request's headers starts at once.
    pub header_read_timeout: Duration,
    /// Time a request has from its headers to its response (body upload included); past it
    /// the client gets 503 `request_timeout`. Long operations must not be awaited in a handler.
    pub request_timeout: Duration,
    /// Largest request body accepted (413 past it).
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers) accepted; at least 8 KiB. A larger
    /// one, up to twice this, is answered 431 in the error shape (and audited, through the
    /// [`Refuser`]); past that, hyper answers 431 itself (counted, not attributable).
    pub max_header_bytes: usize,
    /// After shutdown is asked for, how long in-flight requests may take to finish before
    /// their connections are cut.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_connections_per_client: 64,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
}

/// Bind a TCP listener on `addr` (`host:port`; port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|e| ServeError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

/// A request the listener refuses before the router (its head is over the limit), for the
/// [`Refuser`] to record and answer.
#[derive(Clone, Debug)]
pub struct Refused {
    pub peer: SocketAddr,
    pub method: String,
    /// The path (no query), at most 512 bytes of it.
    pub path: String,
    /// The `Authorization` header when it was at most 4 KiB of text (to attribute the request).
    pub authorization: Option<String>,
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Records and answers a [`Refused`] request (the API audits it); without one, the listener
/// answers in the error shape only.
pub type Refuser =
    Arc<dyn Fn(Refused) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync>;

/// Serve `app` over TLS on `listener` until `shutdown` resolves; then stop accepting (the
/// listener is closed, so new connections are refused), let in-flight requests finish for up
/// to `limits.drain_timeout`, cut what remains, and return. Handlers can read the peer
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) -> Result<(), ServeError> {
    let stats = Arc::new(Stats::default());
    serve_with(listener, tls, app, shutdown, limits, stats, None).await
}

/// [`serve`], counting into `stats` and refusing oversized heads through `refuser`.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
    stats: Arc<Stats>,
    refuser: Option<Refuser>,
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(tls);
    let max_header_bytes = limits.max_header_bytes.max(8192);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(2 * max_header_bytes);
    let handler = Handler {
        router: app.layer(DefaultBodyLimit::max(limits.max_body_bytes)),
        peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        request_timeout: limits.request_timeout,
        max_body_bytes: limits.max_body_bytes,
        max_header_bytes,
        refuser,
    };
    let per_client = limits.max_connections_per_client.max(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = stats.admit(peer.ip(), per_client) else {
            tracing::debug!(%peer, "closing a connection over the per-client limit");
            drop(tcp);
            drop(permit);
            continue;
        };
        let conn = Connection {
            stats: Arc::clone(&stats),
            _slot: slot,
            acceptor: acceptor.clone(),
            http: http.clone(),
            handler: Handler {
                peer,
                ..handler.clone()
            },
            handshake_timeout: limits.handshake_timeout,
            watcher: graceful.watcher(),
            _permit: permit,
        };
        connections.spawn(conn.run(tcp));
    }
    drop(listener);
    drain(graceful, connections, limits.drain_timeout).await;
    Ok(())
}

/// Ask every connection to finish its request and close, wait up to `timeout`, cut the rest.
async fn drain(graceful: GracefulShutdown, mut connections: JoinSet<()>, timeout: Duration) {
    let open = graceful.count();
    tracing::info!(
        connections = open,
        "shutting down: draining in-flight requests"
    );
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "drain timeout reached: cutting the remaining connections"
        );
    }
    connections.shutdown().await;
}

/// One accepted TCP connection, from TLS handshake to close.
struct Connection {
    stats: Arc<Stats>,
    _slot: stats::ClientSlot,
    acceptor: TlsAcceptor,
    http: http1::Builder,
    handler: Handler,
    handshake_timeout: Duration,
    watcher: Watcher,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let peer = self.handler.peer;
        let _ = tcp.set_nodelay(true);
        let tls =
            match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    self.stats.reject(Rejection::Tls);
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    self.stats.reject(Rejection::Tls);
                    return;
                }
            };
        // hyper's own replies to what it cannot parse leave in the API's error shape.
        let io = automatic::JsonErrors::new(TokioIo::new(tls));
        let conn = self.http.serve_connection(io, self.handler);
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(%peer, "connection closed: {e}");
            if e.is_parse_too_large() {
                self.stats.reject(Rejection::HeadTooLarge);
            } else if e.is_parse() {
                self.stats.reject(Rejection::Malformed);
            }
        }
    }
}

/// The per-connection hyper service: the router, with the peer address, a body cap and a
/// deadline added to each request.
#[derive(Clone)]
struct Handler {
    router: Router,
    peer: SocketAddr,
    request_timeout: Duration,
    max_body_bytes: usize,
    max_header_bytes: usize,
    refuser: Option<Refuser>,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> ResponseFuture {
        let head = head_bytes(&request);
        if head > self.max_header_bytes {
            return self.refuse(&request, head);
        }
        let mut request = request.map(|body| Body::new(Limited::new(body, self.max_body_bytes)));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        let deadline = self.request_timeout;
        Box::pin(async move {
            match tokio::time::timeout(deadline, router.oneshot(request)).await {
                Ok(response) => response,
                Err(_) => Ok(error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request_timeout",
                    &format!("the request did not complete within {deadline:?}"),
                )),
            }
        })
    }
}

impl Handler {
    /// Answer 431 for a request whose head is over the limit, through the refuser if any.
    fn refuse(&self, request: &Request<Incoming>, head: usize) -> ResponseFuture {
        let path: String = request.uri().path().chars().take(512).collect();
        let authorization = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .filter(|v| v.len() <= 4096)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let refused = Refused {
            peer: self.peer,
            method: request.method().to_string(),
            path,
            authorization,
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            code: "headers_too_large",
            message: format!(
                "the request head is {head} bytes; at most {} are accepted",
                self.max_header_bytes
            ),
        };
        match &self.refuser {
            Some(refuser) => {
                let answer = refuser(refused);
                Box::pin(async move { Ok(answer.await) })
            }
            None => {
                let response = error_response(refused.status, refused.code, &refused.message);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The size of a request's head as sent: request line, headers, blank line.
fn head_bytes<B>(request: &Request<B>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len());
    let line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2
}

/// A response in the API's one error shape: `{"error":{"code":"...","message":"..."}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests;
