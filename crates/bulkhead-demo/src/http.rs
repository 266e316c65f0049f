//! HTTP/1.1 wire format: request-head parsing, response types and serialisation.
//!
//! Only what the demo needs: request line + headers (no bodies), responses
//! always carry `Content-Length` and `Connection: close`.

use std::fmt;
use std::io::{self, Read, Write};

/// Maximum size of a request head (request line + headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// A parsed request head. Bodies are never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Path component of the request target, without the query string.
    pub path: String,
    /// Header fields in order of appearance; names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The head is not valid UTF-8 / ASCII.
    NotText,
    /// The request line is not `METHOD SP TARGET SP HTTP/1.x`.
    BadRequestLine,
    /// A header line has no colon or an invalid name.
    BadHeader,
    /// The request target is not an origin-form path.
    BadTarget,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            ParseError::NotText => "request head is not text",
            ParseError::BadRequestLine => "malformed request line",
            ParseError::BadHeader => "malformed header line",
            ParseError::BadTarget => "request target must start with '/'",
        };
        f.write_str(msg)
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a request head (everything before the blank line).
pub fn parse_request(head: &[u8]) -> Result<Request, ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::NotText)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(ParseError::BadRequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequestLine);
    };
    if !is_token(method) || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(ParseError::BadRequestLine);
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(ParseError::BadTarget);
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(ParseError::BadHeader)?;
        if !is_token(name) {
            return Err(ParseError::BadHeader);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path,
        headers,
    })
}

/// Outcome of reading a request head from a connection.
#[derive(Debug)]
pub enum HeadError {
    /// The head exceeded [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The peer closed the connection before finishing the head.
    Incomplete,
    /// Socket error, including read timeouts.
    Io(io::Error),
}

/// Position just past the `\r\n\r\n` (or bare `\n\n`) ending a head, if any.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Reads from `r` until the end of the request head; returns the head bytes.
pub fn read_head<R: Read>(r: &mut R) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((end, _)) = head_end(&buf) {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let want = (MAX_HEAD_BYTES + 4 - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..want]) {
            Ok(0) => return Err(HeadError::Incomplete),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// A complete response; always sent with `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Value of the `Content-Type` header.
    pub content_type: &'static str,
    /// Extra header fields.
    pub headers: Vec<(&'static str, String)>,
    /// Response body (omitted on the wire for HEAD requests).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given status, content type and body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: String) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A `text/html` response.
    pub fn html(status: u16, body: String) -> Self {
        Self::new(status, "text/html; charset=utf-8", body)
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Serialises the response; `head_only` omits the body (HEAD requests).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }

    /// Writes the response to `w` and flushes.
    pub fn write_to<W: Write>(&self, w: &mut W, head_only: bool) -> io::Result<()> {
        w.write_all(&self.to_bytes(head_only))?;
        w.flush()
    }
}

/// Reason phrase for the status codes this demo emits.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_get() {
        let req = parse_request(b"GET /items?x=1 HTTP/1.1\r\nHost: api:8081\r\nX-A:  b \r\n")
            .expect("valid");
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/items");
        assert_eq!(req.header("HOST"), Some("api:8081"));
        assert_eq!(req.header("x-a"), Some("b"));
    }

    #[test]
    fn parses_http10_and_bare_lf() {
        let req = parse_request(b"HEAD /healthz HTTP/1.0\nHost: x").expect("valid");
        assert_eq!(req.method, "HEAD");
        assert_eq!(req.path, "/healthz");
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_request(b""), Err(ParseError::BadRequestLine));
        assert_eq!(parse_request(b"GET /"), Err(ParseError::BadRequestLine));
        assert_eq!(
            parse_request(b"GET / HTTP/2.0"),
            Err(ParseError::BadRequestLine)
        );
        assert_eq!(
            parse_request(b"GET  / HTTP/1.1"),
            Err(ParseError::BadRequestLine)
        );
        assert_eq!(
            parse_request(b"G(T / HTTP/1.1"),
            Err(ParseError::BadRequestLine)
        );
        assert_eq!(
            parse_request(b"GET http://x/ HTTP/1.1"),
            Err(ParseError::BadTarget)
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nnocolon"),
            Err(ParseError::BadHeader)
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nbad name: x"),
            Err(ParseError::BadHeader)
        );
        assert_eq!(parse_request(&[0xff, 0xfe]), Err(ParseError::NotText));
    }

    #[test]
    fn reads_head_and_enforces_limit() {
        let mut ok: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
        let head = read_head(&mut ok).expect("complete head");
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x");

        let big = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert!(matches!(
            read_head(&mut big.as_bytes()),
            Err(HeadError::TooLarge)
        ));
        let mut short: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(read_head(&mut short), Err(HeadError::Incomplete)));
    }

    #[test]
    fn serialises_response_and_head_only() {
        let resp = Response::text(200, "ok").with_header("X-Served-By", "store");
        let full = String::from_utf8(resp.to_bytes(false)).expect("utf8");
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(full.contains("Content-Length: 3\r\n"));
        assert!(full.contains("X-Served-By: store\r\n"));
        assert!(full.ends_with("\r\n\r\nok\n"));
        let head = String::from_utf8(resp.to_bytes(true)).expect("utf8");
        assert!(head.ends_with("\r\n\r\n"));
    }
}
