//! Thread-per-connection HTTP/1.1 server with a concurrency cap and access log.
//!
//! Each accepted connection gets its own thread, up to [`MAX_CONNECTIONS`];
//! beyond that the accept loop answers `503` itself and closes. Every request
//! is answered with `Connection: close` and logged as one line on stdout.

use crate::http::{self, HeadError, Request, Response};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Maximum number of connections handled concurrently.
pub const MAX_CONNECTIONS: usize = 64;
/// Timeout for reading the request head and writing the response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Request handler shared by all connection threads.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Writes one line to stdout, ignoring errors (a closed stdout must not kill
/// the server, and `println!` would panic on EPIPE).
pub fn log_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writes one line to stderr, ignoring errors (`eprintln!` would panic on EPIPE too).
pub fn error_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Decrements the active-connection counter when a connection thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections on `listener` forever, dispatching to `handler`.
pub fn serve(listener: TcpListener, role: &'static str, handler: Handler) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                log_line(&format!("{role} accept error: {e}"));
                thread::sleep(Duration::from_millis(50)); // e.g. EMFILE: back off
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            let slot = Slot(Arc::clone(&active));
            refuse_busy(stream, role);
            drop(slot);
            continue;
        }
        let slot = Slot(Arc::clone(&active));
        let handler = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name(format!("{role}-conn"))
            .spawn(move || {
                let _slot = slot;
                handle_connection(stream, role, &handler);
            });
        if let Err(e) = spawned {
            log_line(&format!("{role} cannot spawn connection thread: {e}"));
        }
    }
}

/// Answers `503` from the accept loop when the connection cap is reached.
fn refuse_busy(mut stream: TcpStream, role: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let resp = Response::text(503, "busy").with_header("Retry-After", "1");
    let _ = resp.write_to(&mut stream, false);
    let peer = peer_string(&stream);
    log_line(&format!("{role} {peer} \"-\" 503 connection limit reached"));
}

fn peer_string(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map(|a: SocketAddr| a.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Discards unread input briefly before closing, so that closing a socket
/// with pending data does not turn into a TCP reset that destroys the error
/// response before the client has read it.
fn drain(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Reads one request from `stream`, answers it and logs the outcome.
fn handle_connection(mut stream: TcpStream, role: &str, handler: &Handler) {
    let started = Instant::now();
    let peer = peer_string(&stream);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (req_desc, resp, head_only) = match http::read_head(&mut stream) {
        Ok(head) => match http::parse_request(&head) {
            Ok(req) => {
                let desc = format!("{} {}", req.method, req.path);
                (Some(desc), handler(&req), req.method == "HEAD")
            }
            Err(e) => (None, Response::text(400, &e.to_string()), false),
        },
        Err(HeadError::TooLarge) => (
            None,
            Response::text(431, "request head exceeds 8 KiB"),
            false,
        ),
        Err(HeadError::Incomplete) => return, // peer went away (e.g. a port probe)
        Err(HeadError::Io(e)) => (
            None,
            Response::text(408, &format!("read failed: {e}")),
            false,
        ),
    };
    let write = match resp.write_to(&mut stream, head_only) {
        Ok(()) => String::new(),
        Err(e) => format!(" (write failed: {e})"),
    };
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if req_desc.is_none() {
        drain(&mut stream);
    }
    let req_desc = req_desc.as_deref().unwrap_or("-");
    log_line(&format!(
        "{role} {peer} \"{req_desc}\" {} {}B {}ms{write}",
        resp.status,
        resp.body.len(),
        started.elapsed().as_millis()
    ));
}
