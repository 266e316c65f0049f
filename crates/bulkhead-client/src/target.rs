//! The server a client talks to, from its base URL: https only, no credentials in the URL,
//! host (for TCP and certificate checks), port, `Host` header and path prefix.

use std::fmt;

use hyper::Uri;
use hyper::header::HeaderValue;
use rustls_pki_types::ServerName;

use crate::ClientError;

/// The default port of `https://` URLs.
const HTTPS_PORT: u16 = 443;

/// Where requests go.
#[derive(Clone)]
pub(crate) struct Target {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The name the server's certificate must be valid for.
    pub server_name: ServerName<'static>,
    /// The `Host` header.
    pub authority: HeaderValue,
    /// Prepended to each request's path; empty or `/...` without a trailing slash.
    pub base_path: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}{}", self.server(), self.base_path)
    }
}

impl Target {
    pub(crate) fn parse(base_url: &str) -> Result<Target, ClientError> {
        let url_error = |reason: &str| ClientError::Url {
            reason: reason.to_string(),
        };
        let uri: Uri = base_url
            .trim()
            .parse()
            .map_err(|_| url_error("expected https://HOST[:PORT][/PATH]"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some(scheme) => {
                return Err(ClientError::NotHttps {
                    scheme: scheme.to_ascii_lowercase(),
                });
            }
            None => return Err(url_error("expected https://HOST[:PORT][/PATH]")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| url_error("the URL names no host"))?;
        if authority.as_str().contains('@') {
            return Err(url_error(
                "credentials in the URL are not supported; pass the token as BULKHEAD_TOKEN",
            ));
        }
        if uri.query().is_some() {
            return Err(url_error("the URL must not have a query"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| url_error("the host is neither a DNS name nor an IP address"))?;
        let mut target = Target {
            host,
            port: authority.port_u16().unwrap_or(HTTPS_PORT),
            server_name,
            authority: HeaderValue::from_static(""),
            base_path: uri.path().trim_end_matches('/').to_string(),
        };
        target.authority = HeaderValue::from_str(&target.server())
            .map_err(|_| url_error("the host cannot be sent in a header"))?;
        Ok(target)
    }

    /// `host:port` (IPv6 in brackets), for messages and connecting.
    pub(crate) fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The request target for `path_and_query` (which must start with '/').
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<Uri, ClientError> {
        if !path_and_query.starts_with('/') {
            return Err(ClientError::Url {
                reason: format!("the request path {path_and_query:?} must start with '/'"),
            });
        }
        format!("{}{path_and_query}", self.base_path)
            .parse()
            .map_err(|_| ClientError::Url {
                reason: format!("the request path {path_and_query:?} is not a valid URI path"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_parse_into_their_parts() -> Result<(), ClientError> {
        let t = Target::parse("https://LocalHost:8443/api/")?;
        assert_eq!((t.host.as_str(), t.port), ("localhost", 8443));
        assert_eq!(t.authority, "localhost:8443");
        assert_eq!(t.base_path, "/api");
        assert_eq!(t.uri("/v1/x?limit=2")?.to_string(), "/api/v1/x?limit=2");
        let t = Target::parse("https://[::1]")?;
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert_eq!(t.server(), "[::1]:443");
        assert_eq!(t.to_string(), "https://[::1]:443");
        Ok(())
    }

    #[test]
    fn other_schemes_credentials_and_bad_paths_are_refused() {
        let err = |url: &str| Target::parse(url).err().map(|e| e.to_string());
        let http = err("http://localhost:8080").unwrap_or_default();
        assert!(
            http.contains("https://") && http.contains("http://"),
            "{http}"
        );
        let creds = err("https://user:s3cret@localhost").unwrap_or_default();
        assert!(!creds.contains("s3cret"), "{creds}");
        assert!(err("localhost:8443").is_some());
        assert!(err("https://localhost/?a=b").is_some());
        let t = Target::parse("https://localhost");
        assert!(t.is_ok_and(|t| t.uri("v1").is_err()));
    }
}
