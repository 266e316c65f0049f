//! Reaching the manager's engine: its address in `DOCKER_HOST` form, the API version agreed
//! with it (never below 1.41) and put into every request path, and one raw HTTP request for
//! the calls whose body must not pass through bollard (which logs request bodies at trace
//! level).

use std::path::PathBuf;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{SwarmError, describe};

/// The oldest Engine API this adapter speaks (Docker 20.10), and the one its gaps are about.
pub const MIN_API_VERSION: (usize, usize) = (1, 41);

/// Where the engine listens when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Request timeout for every call.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(120);

/// Most bytes of a raw answer read.
const ANSWER_BYTES: u64 = 64 * 1024;

/// A parsed engine address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Unix(PathBuf),
    /// Plain HTTP, `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// `unix:///path`, a bare socket path, `tcp://host:port` or `http://host:port`; empty
    /// means [`DEFAULT_HOST`]. TLS is not spoken here.
    pub(crate) fn parse(host: &str) -> Result<Endpoint, SwarmError> {
        let host = host.trim();
        let bad = |reason: &str| SwarmError::Unreachable {
            endpoint: host.to_string(),
            reason: reason.to_string(),
        };
        if host.is_empty() {
            return Endpoint::parse(DEFAULT_HOST);
        }
        if let Some(path) = host
            .strip_prefix("unix://")
            .or(host.starts_with('/').then_some(host))
        {
            return match path {
                "" => Err(bad("no socket path")),
                path => Ok(Endpoint::Unix(PathBuf::from(path))),
            };
        }
        let address = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|rest| !rest.is_empty() && !rest.contains('/') && rest.contains(':'));
        match address {
            Some(address) => Ok(Endpoint::Tcp(address.to_string())),
            None => Err(bad(
                "not a supported engine address (unix://PATH, /PATH or tcp://HOST:PORT; no TLS)",
            )),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

/// Connect, agree on the API version (bollard's, or the engine's when older), refuse engines
/// older than [`MIN_API_VERSION`], and pin the version into every request path.
pub(crate) async fn open(endpoint: &Endpoint) -> Result<Docker, SwarmError> {
    let unreachable = |err: bollard::errors::Error| SwarmError::Unreachable {
        endpoint: endpoint.to_string(),
        reason: describe(&err),
    };
    let secs = TIMEOUT.as_secs();
    let docker = match endpoint {
        Endpoint::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), secs, API_DEFAULT_VERSION)
        }
        Endpoint::Tcp(address) => Docker::connect_with_http(address, secs, API_DEFAULT_VERSION),
    }
    .map_err(unreachable)?;
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    let version = docker.client_version();
    if (version.major_version, version.minor_version) < MIN_API_VERSION {
        let (major, minor) = MIN_API_VERSION;
        return Err(SwarmError::TooOld {
            endpoint: endpoint.to_string(),
            found: version.to_string(),
            needed: format!("{major}.{minor}"),
        });
    }
    let prefix = format!("/v{version}");
    Ok(docker.with_request_modifier(move |req| pin_version(req, &prefix)))
}

/// bollard 0.21 builds request paths without `/vX.Y` (fussybeaver/bollard#736), so the engine
/// would read each request as its own newest API; this puts the agreed version in.
fn pin_version(mut req: BollardRequest, prefix: &str) -> BollardRequest {
    let uri = req.uri();
    let versioned = uri
        .path()
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
        });
    if versioned {
        return req;
    }
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return req;
    };
    let rest = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Ok(pinned) = format!("{scheme}://{authority}{prefix}{rest}").parse() {
        *req.uri_mut() = pinned;
    }
    req
}

/// An engine's answer to a raw request: status and body (bounded).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `POST path` with a JSON body over a connection of its own (HTTP/1.0: the engine answers
/// with the whole body and closes). The body is written and dropped by the caller; nothing of
/// it is kept or shown here.
pub(crate) async fn post_json(
    endpoint: &Endpoint,
    version: &ClientVersion,
    path: &str,
    body: &[u8],
) -> Result<Answer, String> {
    let head = format!(
        "POST /v{version}{path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: bulkhead\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let exchange = async {
        let mut answer = Vec::new();
        match endpoint {
            Endpoint::Unix(path) => {
                let mut s = tokio::net::UnixStream::connect(path).await?;
                s.write_all(head.as_bytes()).await?;
                s.write_all(body).await?;
                s.take(ANSWER_BYTES).read_to_end(&mut answer).await?;
            }
            Endpoint::Tcp(address) => {
                let mut s = tokio::net::TcpStream::connect(address.as_str()).await?;
                s.write_all(head.as_bytes()).await?;
                s.write_all(body).await?;
                s.take(ANSWER_BYTES).read_to_end(&mut answer).await?;
            }
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    parse_answer(&answer).ok_or_else(|| "the engine's answer is not HTTP".to_string())
}

fn parse_answer(answer: &[u8]) -> Option<Answer> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let mut words = head.lines().next()?.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some(Answer {
        status,
        body: answer[end + 4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_addresses_in_docker_host_form() {
        let unix = |p: &str| Endpoint::Unix(PathBuf::from(p));
        assert_eq!(Endpoint::parse("").ok(), Some(unix("/var/run/docker.sock")));
        assert_eq!(
            Endpoint::parse("unix:///run/bulkhead-lab-n1.sock").ok(),
            Some(unix("/run/bulkhead-lab-n1.sock"))
        );
        assert_eq!(
            Endpoint::parse("/run/x.sock").ok(),
            Some(unix("/run/x.sock"))
        );
        assert_eq!(
            Endpoint::parse("tcp://10.99.0.11:2375").ok(),
            Some(Endpoint::Tcp("10.99.0.11:2375".into()))
        );
        for bad in [
            "https://h:2376",
            "ssh://me@h",
            "tcp://",
            "unix://",
            "tcp://h",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(unix("/a.sock").to_string(), "unix:///a.sock");
    }

    #[test]
    fn raw_answers_are_read_by_status_and_body() {
        let a = parse_answer(
            b"HTTP/1.0 201 Created\r\nContent-Type: application/json\r\n\r\n{\"ID\":\"x\"}",
        )
        .expect("an answer");
        assert_eq!((a.status, a.body.as_slice()), (201, &b"{\"ID\":\"x\"}"[..]));
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").is_none());
        assert!(parse_answer(b"HTTP/1.0 200 OK").is_none());
    }
}
