//! hyper's automatic replies to requests it cannot parse (400, 414 or 431 with an empty body,
//! written before any handler sees the request) rewritten on their way out into the API's one
//! error shape, so that every rejection a client can read is JSON.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBufCursor, Write};

/// A connection whose outgoing automatic replies are rewritten (see the module doc).
pub struct JsonErrors<T> {
    inner: T,
    /// A rewritten reply being written: its bytes, how many are out, and how many bytes of the
    /// caller's buffer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrors<T> {
    pub fn new(inner: T) -> JsonErrors<T> {
        JsonErrors {
            inner,
            pending: None,
        }
    }
}

/// The JSON reply that stands for `head`, when `head` is exactly one of hyper's automatic
/// replies: a whole response head, status 400/414/431, `content-length: 0`, no content type.
/// Every reply of the API's own carries `content-type: application/json`.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let body_start = text.find("\r\n\r\n")? + 4;
    if body_start != text.len() {
        return None;
    }
    let (status_line, headers) = text.split_once("\r\n")?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let lower = headers.to_ascii_lowercase();
    if !lower.contains("content-length: 0\r\n") || lower.contains("content-type:") {
        return None;
    }
    let (reason, code, message) = match status {
        "400" => (
            "Bad Request",
            "bad_request",
            "the request could not be parsed as HTTP/1.1",
        ),
        "414" => (
            "URI Too Long",
            "bad_request",
            "the request target is longer than the server reads",
        ),
        "431" => (
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request head is larger than the server reads",
        ),
        _ => return None,
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let date = lower
        .split("\r\n")
        .position(|h| h.starts_with("date:"))
        .and_then(|i| headers.split("\r\n").nth(i))
        .map(|d| format!("{d}\r\n"))
        .unwrap_or_default();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{date}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: Read + Unpin> Read for JsonErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for JsonErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match rewrite(buf) {
                Some(reply) => self.pending = Some((reply, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        loop {
            let this = &mut *self;
            let Some((reply, done, stands_for)) = this.pending.as_mut() else {
                return Poll::Ready(Ok(0));
            };
            if *done == reply.len() {
                let n = *stands_for;
                this.pending = None;
                return Poll::Ready(Ok(n));
            }
            let rest = reply.get(*done..).unwrap_or_default();
            match ready!(Pin::new(&mut this.inner).poll_write(cx, rest)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *done += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// One contiguous buffer per write, so that a reply's head arrives whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn only_hypers_automatic_replies_are_rewritten() {
        let auto = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 12:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(auto).expect("rewritten")).expect("text");
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("date: Wed, 02 Dec 2026 12:00:00 GMT"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "bad_request");
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(
            String::from_utf8(rewrite(too_large).expect("rewritten"))
                .expect("text")
                .contains("headers_too_large")
        );
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nextra",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"\xff\xfe",
        ] {
            assert!(rewrite(own).is_none(), "{:?}", String::from_utf8_lossy(own));
        }
    }
}
