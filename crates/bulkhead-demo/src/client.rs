//! Minimal HTTP/1.1 client and TCP connect helper over `std::net`.
//!
//! Name resolution goes through std's `ToSocketAddrs` (glibc `getaddrinfo`).
//! That works in a statically linked glibc (>= 2.34) binary inside a FROM
//! scratch container: the `files` and `dns` NSS backends are built into libc,
//! so `/etc/hosts` and Docker's embedded DNS (127.0.0.11 via
//! `/etc/resolv.conf`) both resolve without any shared libraries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response (head + body) the client will buffer.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Connect timeout per address of `get`'s callers that have no other (the demo's tiers, probes
/// and load loops).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout once connected.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 80).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Splits `host:port` / `[v6]:port` / `host` into host and optional port.
pub fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(format!("unclosed '[' in {authority:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host in {authority:?}"));
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p:?}")))
        .transpose()?;
    Ok((host.to_string(), port))
}

/// Parses an `http://` URL.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(format!("only http:// URLs are supported: {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority)?;
    Ok(Url {
        host,
        port: port.unwrap_or(80),
        path: path.to_string(),
    })
}

/// Resolves `host` and connects to the first address that answers in time, trying every
/// resolved address in order (as curl, Go and Python do): one that refuses or times out is
/// followed by the next.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("no addresses for {host}");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("connect to {addr} ({host}:{port}) failed: {e}"),
        }
    }
    Err(last)
}

/// A received response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Status code.
    pub status: u16,
    /// Body bytes (bounded by `Content-Length` when present).
    pub body: Vec<u8>,
}

/// Parses a raw `Connection: close` response.
pub fn parse_response(raw: &[u8]) -> Result<ClientResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("response has no complete head")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>().as_slice() {
        [v, code, ..] if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or(format!("bad status line {status_line:?}"))?;
    let mut body = raw[split + 4..].to_vec();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            let len: usize = value.trim().parse().map_err(|_| "bad Content-Length")?;
            if body.len() < len {
                return Err(format!("body truncated: {} of {len} bytes", body.len()));
            }
            body.truncate(len);
        }
    }
    Ok(ClientResponse { status, body })
}

/// Performs `GET url` with a connect timeout and a 5 s I/O timeout.
pub fn get(url: &str, connect_timeout: Duration) -> Result<ClientResponse, String> {
    let u = parse_url(url)?;
    let mut stream = connect(&u.host, u.port, connect_timeout)?;
    let io = |e: std::io::Error| format!("GET {url}: {e}");
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let host_header = if u.host.contains(':') {
        format!("[{}]:{}", u.host, u.port)
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: bulkhead-demo\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        u.path
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .map_err(io)?;
    parse_response(&raw).map_err(|e| format!("GET {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("http://api:8081").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("api", 8081, "/")
        );
        let u = parse_url("http://127.0.0.1/healthz?x").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 80, "/healthz?x")
        );
        let u = parse_url("http://[::1]:9/a").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
    }

    #[test]
    fn parses_responses() {
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA").expect("valid");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        let r = parse_response(b"HTTP/1.0 502 Bad Gateway\r\n\r\nx").expect("valid");
        assert_eq!((r.status, r.body.as_slice()), (502, &b"x"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok").is_err());
    }
}
