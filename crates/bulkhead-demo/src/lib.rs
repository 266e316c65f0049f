//! bulkhead-demo library: wires roles to the HTTP server; entry points for the binary and tests.
//!
//! A std-only three-tier shop (web -> api -> store) used to demonstrate and
//! test bulkhead network isolation. See `main.rs` for the command line.

pub mod catalog;
pub mod client;
pub mod digest;
pub mod http;
pub mod json;
pub mod load;
pub mod roles;
pub mod server;

use roles::Role;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread;

/// Builds the request handler for `role` calling `upstream`.
pub fn handler(role: Role, upstream: String) -> server::Handler {
    Arc::new(move |req| roles::route(role, &upstream, req))
}

/// Serves `role` on an already bound listener; never returns.
pub fn run(role: Role, listener: TcpListener, upstream: String) {
    server::serve(listener, role.name(), handler(role, upstream));
}

/// Binds `listen`, serves `role` on a background thread and returns the
/// bound address (useful with port 0).
pub fn spawn(role: Role, listen: impl ToSocketAddrs, upstream: &str) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let upstream = upstream.to_string();
    thread::Builder::new()
        .name(format!("{}-accept", role.name()))
        .spawn(move || run(role, listener, upstream))?;
    Ok(addr)
}
