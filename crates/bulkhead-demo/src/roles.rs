//! The three service roles (web, api, store): defaults and request routing.

use crate::catalog;
use crate::client;
use crate::http::{Request, Response};
use crate::json;
use std::time::Duration;

/// Connect timeout for calls to the upstream tier.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the store's `/items/slow` takes.
pub const SLOW_ITEMS: Duration = Duration::from_millis(200);

/// Which tier this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// HTML front end; calls the api.
    Web,
    /// JSON API; calls the store.
    Api,
    /// Catalog store; no upstream.
    Store,
}

impl Role {
    /// Parses `web`, `api` or `store`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "web" => Some(Role::Web),
            "api" => Some(Role::Api),
            "store" => Some(Role::Store),
            _ => None,
        }
    }

    /// The role's name as used on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Api => "api",
            Role::Store => "store",
        }
    }

    /// Default listen address.
    pub fn default_listen(self) -> &'static str {
        match self {
            Role::Web => "0.0.0.0:8080",
            Role::Api => "0.0.0.0:8081",
            Role::Store => "0.0.0.0:8082",
        }
    }

    /// Environment variable naming the upstream URL, and its default.
    pub fn upstream_env(self) -> Option<(&'static str, &'static str)> {
        match self {
            Role::Web => Some(("API_URL", "http://api:8081")),
            Role::Api => Some(("STORE_URL", "http://store:8082")),
            Role::Store => None,
        }
    }
}

/// Routes one request for `role`; `upstream` is the next tier's base URL.
pub fn route(role: Role, upstream: &str, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "method not allowed").with_header("Allow", "GET, HEAD");
    }
    let resp = match (role, req.path.as_str()) {
        (_, "/healthz") => Response::text(200, "ok"),
        (Role::Store, "/items") => {
            Response::json(200, catalog::to_json(&catalog::builtin(), "store"))
        }
        (Role::Store, "/items/slow") => {
            // A request that takes a while: in flight when a rollout retires its replica.
            std::thread::sleep(SLOW_ITEMS);
            Response::json(200, catalog::to_json(&catalog::builtin(), "store"))
        }
        (Role::Api, "/items") => api_items(upstream),
        (Role::Web, "/") => web_index(upstream),
        (_, path) if path.starts_with("/secret-digest/") => secret_digest(&path[15..]),
        _ => Response::text(404, "not found"),
    };
    resp.with_header("X-Served-By", role.name())
}

/// Where Bulkhead (like Docker Swarm) delivers secrets.
const SECRETS_DIR: &str = "/run/secrets";

/// `GET /secret-digest/NAME`: the SHA-256 of `/run/secrets/NAME`, proving the service can read
/// its secret without ever sending it.
fn secret_digest(name: &str) -> Response {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        return Response::text(400, "bad secret name");
    }
    match std::fs::read(format!("{SECRETS_DIR}/{name}")) {
        Ok(bytes) => Response::text(200, &crate::digest::sha256_hex(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Response::text(404, "no such secret"),
        Err(_) => Response::text(403, "cannot read the secret"),
    }
}

/// Joins a base URL and an absolute path without doubling the slash.
fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Fetches and decodes the catalog from `base`/items.
fn fetch_items(base: &str) -> Result<Vec<catalog::Item>, String> {
    let url = join(base, "/items");
    let resp = client::get(&url, UPSTREAM_CONNECT_TIMEOUT)?;
    if !(200..300).contains(&resp.status) {
        return Err(format!("GET {url}: upstream answered {}", resp.status));
    }
    let text = String::from_utf8(resp.body).map_err(|_| format!("GET {url}: body is not UTF-8"))?;
    catalog::from_json(&text).map_err(|e| format!("GET {url}: {e}"))
}

fn api_items(store: &str) -> Response {
    match fetch_items(store) {
        Ok(items) => Response::json(200, catalog::to_json(&items, "api")),
        Err(e) => Response::json(
            502,
            format!(
                "{{\"error\":\"store unavailable\",\"detail\":{}}}",
                json::quote(&e)
            ),
        ),
    }
}

fn web_index(api: &str) -> Response {
    match fetch_items(api) {
        Ok(items) => Response::html(200, catalog::render_page(&items)),
        Err(e) => Response::html(502, catalog::render_error_page(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: vec![],
        }
    }

    #[test]
    fn common_routes() {
        for role in [Role::Web, Role::Api, Role::Store] {
            let ok = route(role, "http://127.0.0.1:1", &req("GET", "/healthz"));
            assert_eq!((ok.status, ok.body.as_slice()), (200, &b"ok\n"[..]));
            assert_eq!(route(role, "", &req("HEAD", "/healthz")).status, 200);
            assert_eq!(route(role, "", &req("GET", "/nope")).status, 404);
            assert_eq!(route(role, "", &req("POST", "/healthz")).status, 405);
        }
    }

    #[test]
    fn store_serves_catalog() {
        let slow = route(Role::Store, "", &req("GET", "/items/slow"));
        assert_eq!(slow.status, 200);
        assert_eq!(route(Role::Api, "", &req("GET", "/items/slow")).status, 404);
        let resp = route(Role::Store, "", &req("GET", "/items"));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.content_type, "application/json");
        let text = String::from_utf8(resp.body).expect("utf8");
        assert_eq!(catalog::from_json(&text), Ok(catalog::builtin()));
    }

    /// A loopback URL nobody listens on (bound, then released).
    fn dead_url() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        format!("http://{addr}")
    }

    #[test]
    fn unreachable_upstream_is_502() {
        let api = route(Role::Api, &dead_url(), &req("GET", "/items"));
        assert_eq!(api.status, 502);
        assert!(String::from_utf8_lossy(&api.body).starts_with("{\"error\":\"store unavailable\""));
        let web = route(Role::Web, &format!("{}/", dead_url()), &req("GET", "/"));
        assert_eq!(web.status, 502);
        assert!(String::from_utf8_lossy(&web.body).contains("catalog is unavailable"));
    }

    #[test]
    fn parses_roles() {
        assert_eq!(Role::parse("api"), Some(Role::Api));
        assert_eq!(Role::parse("API"), None);
        assert_eq!(Role::Store.upstream_env(), None);
        assert_eq!(Role::Web.default_listen(), "0.0.0.0:8080");
    }

    #[test]
    fn secret_digest_refuses_paths_and_reports_missing_files() {
        for bad in [
            "/secret-digest/../etc/passwd",
            "/secret-digest/",
            "/secret-digest/a/b",
            "/secret-digest/..",
        ] {
            assert_eq!(
                route(Role::Store, "", &req("GET", bad)).status,
                400,
                "{bad}"
            );
        }
        let missing = route(
            Role::Store,
            "",
            &req("GET", "/secret-digest/bulkhead-test-none"),
        );
        assert_eq!(missing.status, 404);
    }
}
