//! Reaching the engine: where it listens (`DOCKER_HOST`), the API version agreed with it
//! (negotiated down from bollard's, never below 1.41), and the engine version query.

use std::fmt;
use std::path::PathBuf;

use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};
use bulkhead_ports::RuntimeError;

use crate::DockerRuntime;
use crate::error;

/// Where the engine listens when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The oldest Engine API this adapter speaks (Docker 20.10).
pub const MIN_API_VERSION: (usize, usize) = (1, 41);

/// Request timeout for every call (bollard's default; `stop` extends it by the grace period).
pub(crate) const TIMEOUT_SECS: u64 = 120;

/// The port plain `tcp://HOST` means, as for the docker CLI.
const DEFAULT_TCP_PORT: u16 = 2375;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    #[error("`{0}` is not a supported engine address (use unix://PATH, /PATH or tcp://HOST:PORT)")]
    Unsupported(String),
    #[error("`{0}` needs TLS, which this adapter does not speak; use the unix socket or a tunnel")]
    Tls(String),
}

impl HostError {
    pub(crate) fn unreachable(self) -> RuntimeError {
        let endpoint = match &self {
            HostError::Unsupported(host) | HostError::Tls(host) => host.clone(),
        };
        RuntimeError::Unreachable {
            endpoint,
            reason: self.to_string(),
        }
    }
}

/// A parsed engine address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket.
    Unix(PathBuf),
    /// Plain HTTP over TCP, `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// Parse `DOCKER_HOST` syntax: `unix:///path`, a bare socket path, `tcp://host[:port]` or
    /// `http://host[:port]`; empty means [`DEFAULT_HOST`].
    pub fn parse(host: &str) -> Result<Endpoint, HostError> {
        let host = host.trim();
        if host.is_empty() {
            return Endpoint::parse(DEFAULT_HOST);
        }
        if let Some(path) = host.strip_prefix("unix://") {
            return match path {
                "" => Err(HostError::Unsupported(host.to_string())),
                path => Ok(Endpoint::Unix(PathBuf::from(path))),
            };
        }
        if host.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(host)));
        }
        if host.starts_with("https://") {
            return Err(HostError::Tls(host.to_string()));
        }
        let address = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .ok_or_else(|| HostError::Unsupported(host.to_string()))?;
        Ok(Endpoint::Tcp(with_port(address)))
    }

    /// The endpoint `DOCKER_HOST` names; TCP with `DOCKER_TLS_VERIFY` set is refused, since this
    /// adapter carries no TLS stack.
    pub fn from_env() -> Result<Endpoint, HostError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        let endpoint = Endpoint::parse(&host)?;
        let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        match endpoint {
            Endpoint::Tcp(_) if tls => Err(HostError::Tls(host)),
            endpoint => Ok(endpoint),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

/// `host` → `host:2375`; addresses with a port (or bracketed IPv6 with one) stay as they are.
fn with_port(address: &str) -> String {
    let has_port = match address.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        address.to_string()
    } else {
        format!("{address}:{DEFAULT_TCP_PORT}")
    }
}

/// Open the connection, agree on the API version, and check it is new enough.
///
/// The engine's API version comes from `GET /_ping`'s `Api-Version` header; only when that
/// answer has none is it asked with `GET /version` (bollard's negotiation), which Docker 20.10
/// answers by running `runc --version` and `docker-init --version` (15–70 ms, more on a busy
/// host), on every command.
pub(crate) async fn open(endpoint: &Endpoint) -> Result<Docker, RuntimeError> {
    let unreachable = |err: bollard::errors::Error| RuntimeError::Unreachable {
        endpoint: endpoint.to_string(),
        reason: error::describe(&err),
    };
    let pinged = tokio::time::timeout(
        std::time::Duration::from_secs(TIMEOUT_SECS),
        ping_api_version(endpoint),
    )
    .await
    .map_err(|_| RuntimeError::Unreachable {
        endpoint: endpoint.to_string(),
        reason: format!("no answer to /_ping within {TIMEOUT_SECS} s"),
    })?
    .map_err(|e| RuntimeError::Unreachable {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })?;
    let version = match &pinged {
        Some(server) if server < API_DEFAULT_VERSION => server,
        _ => API_DEFAULT_VERSION,
    };
    let docker = match endpoint {
        Endpoint::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), TIMEOUT_SECS, version)
        }
        Endpoint::Tcp(address) => Docker::connect_with_http(address, TIMEOUT_SECS, version),
    }
    .map_err(unreachable)?;
    let docker = if pinged.is_some() {
        docker
    } else {
        let endpoint_text = endpoint.to_string();
        docker.negotiate_version().await.map_err(|err| {
            error::map(
                &endpoint_text,
                error::Op::new("negotiate the API version", "engine", &endpoint_text),
                err,
            )
        })?
    };
    check_version(&docker.client_version())?;
    let prefix = version_prefix(&docker);
    Ok(docker.with_request_modifier(move |req| pin_version(req, &prefix)))
}

/// The most bytes of the `/_ping` answer read: its status line and headers.
const PING_BYTES: u64 = 16 * 1024;

/// `GET /_ping` over a connection of its own; the `Api-Version` header of a 200 answer, `None`
/// when the answer has none (or is not a 200: the negotiation then says what is wrong).
async fn ping_api_version(endpoint: &Endpoint) -> std::io::Result<Option<ClientVersion>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: &[u8] = b"GET /_ping HTTP/1.0\r\nHost: docker\r\nUser-Agent: bulkhead\r\n\r\n";
    let mut answer = Vec::new();
    match endpoint {
        Endpoint::Unix(path) => {
            let mut s = tokio::net::UnixStream::connect(path).await?;
            s.write_all(REQUEST).await?;
            s.take(PING_BYTES).read_to_end(&mut answer).await?;
        }
        Endpoint::Tcp(address) => {
            let mut s = tokio::net::TcpStream::connect(address.as_str()).await?;
            s.write_all(REQUEST).await?;
            s.take(PING_BYTES).read_to_end(&mut answer).await?;
        }
    }
    Ok(api_version_header(&answer))
}

/// The `Api-Version` header of an HTTP/1.x 200 answer, when it is a `major.minor` version.
fn api_version_header(answer: &[u8]) -> Option<ClientVersion> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    let mut words = status.split(' ');
    let ok = words.next().is_some_and(|v| v.starts_with("HTTP/1.")) && words.next() == Some("200");
    if !ok {
        return None;
    }
    let value = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("api-version")
            .then(|| value.trim())
    })?;
    let (major, minor) = value.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// `/v1.41`: the path prefix that fixes the API version of a request.
pub(crate) fn version_prefix(docker: &Docker) -> String {
    format!("/v{}", docker.client_version())
}

/// bollard 0.21 builds request paths without the `/vX.Y` prefix (fussybeaver/bollard#736), so
/// the engine would read every request as its own newest API version and the negotiated one
/// would go unused; this puts the prefix in. Paths already versioned are left alone.
pub(crate) fn pin_version(mut req: BollardRequest, prefix: &str) -> BollardRequest {
    let uri = req.uri();
    if is_versioned(uri.path()) {
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

fn is_versioned(path: &str) -> bool {
    path.strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .and_then(|version| version.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .chars()
                    .chain(minor.chars())
                    .all(|c| c.is_ascii_digit())
        })
}

/// Refuse APIs older than [`MIN_API_VERSION`].
pub(crate) fn check_version(version: &ClientVersion) -> Result<(), RuntimeError> {
    if (version.major_version, version.minor_version) < MIN_API_VERSION {
        let (major, minor) = MIN_API_VERSION;
        return Err(RuntimeError::TooOld {
            found: version.to_string(),
            needed: format!("{major}.{minor}"),
        });
    }
    Ok(())
}

impl DockerRuntime {
    /// Whether the agreed API version is older than `major.minor`.
    pub(crate) fn api_below(&self, major: usize, minor: usize) -> bool {
        let version = self.docker.client_version();
        (version.major_version, version.minor_version) < (major, minor)
    }

    /// `(engine version, agreed API version)`.
    pub(crate) async fn engine_version(&self) -> Result<(String, String), RuntimeError> {
        let version = self.docker.version().await.map_err(self.fail(
            "query the engine version",
            "engine",
            &self.endpoint,
        ))?;
        Ok((version.version.unwrap_or_default(), self.api_version()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_host_forms() {
        let unix = |p: &str| Ok(Endpoint::Unix(PathBuf::from(p)));
        assert_eq!(Endpoint::parse(""), unix("/var/run/docker.sock"));
        assert_eq!(Endpoint::parse("unix:///run/x.sock"), unix("/run/x.sock"));
        assert_eq!(Endpoint::parse("/run/y.sock"), unix("/run/y.sock"));
        let tcp = |a: &str| Ok(Endpoint::Tcp(a.to_string()));
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2376"),
            tcp("127.0.0.1:2376")
        );
        assert_eq!(Endpoint::parse("tcp://localhost"), tcp("localhost:2375"));
        assert_eq!(Endpoint::parse("http://[::1]:80/"), tcp("[::1]:80"));
        assert_eq!(Endpoint::parse("tcp://[::1]"), tcp("[::1]:2375"));
        assert!(matches!(
            Endpoint::parse("ssh://me@host"),
            Err(HostError::Unsupported(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://host:2376"),
            Err(HostError::Tls(_))
        ));
        assert!(Endpoint::parse("unix://").is_err());
        assert!(Endpoint::parse("tcp://").is_err());
    }

    #[test]
    fn displays_as_docker_host() {
        let endpoint = Endpoint::Unix(PathBuf::from("/var/run/docker.sock"));
        assert_eq!(endpoint.to_string(), DEFAULT_HOST);
        assert_eq!(
            Endpoint::Tcp("h:1".to_string()).to_string(),
            "tcp://h:1".to_string()
        );
    }

    fn get(uri: &str) -> BollardRequest {
        let mut req = BollardRequest::new(bollard::body_full(Vec::new().into()));
        *req.uri_mut() = uri.parse().expect("uri parses");
        req
    }

    #[test]
    fn pins_the_api_version_in_paths() {
        let pinned = pin_version(get("unix://2f78/containers/json?all=true"), "/v1.41");
        assert_eq!(
            pinned.uri().to_string(),
            "unix://2f78/v1.41/containers/json?all=true"
        );
        let pinned = pin_version(get("http://h:2375/version"), "/v1.41");
        assert_eq!(pinned.uri().to_string(), "http://h:2375/v1.41/version");
        let kept = pin_version(get("http://h:2375/v1.44/version"), "/v1.41");
        assert_eq!(kept.uri().to_string(), "http://h:2375/v1.44/version");
        let volumes = pin_version(get("http://h/volumes"), "/v1.41");
        assert_eq!(volumes.uri().path(), "/v1.41/volumes");
    }

    #[test]
    fn refuses_apis_before_1_41() {
        let v = |major_version, minor_version| ClientVersion {
            major_version,
            minor_version,
        };
        assert!(check_version(&v(1, 41)).is_ok());
        assert!(check_version(&v(1, 53)).is_ok());
        assert!(matches!(
            check_version(&v(1, 40)),
            Err(RuntimeError::TooOld { found, needed }) if found == "1.40" && needed == "1.41"
        ));
    }

    #[test]
    fn the_api_version_comes_from_a_200_pings_header_only() {
        let ok = b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nOstype: linux\r\n\r\nOK";
        let v = api_version_header(ok).expect("a version");
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let lower = b"HTTP/1.1 200 OK\r\napi-version:1.53\r\n\r\n";
        assert_eq!(api_version_header(lower).map(|v| v.minor_version), Some(53));
        for bad in [
            &b"HTTP/1.0 500 Internal Server Error\r\nApi-Version: 1.41\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\r\nServer: proxy\r\n\r\nOK",
            b"HTTP/1.0 200 OK\r\nApi-Version: 1.41",
            b"HTTP/1.0 200 OK\r\nApi-Version: 1.x\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nApi-Version: 99999.1\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nApi-Version: \xff\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"",
        ] {
            assert!(
                api_version_header(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
