//! HTTP in front of the dispatcher: the router built from the route table, each request
//! turned into a `Caller` (peer address, bearer token, body hash) and a `Command`, replies and
//! errors in the one error shape, and the OpenAPI document generated from the same table.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use bulkhead_core::audit::Sha256Digest;
use serde_json::json;

use super::routes::{Method, Parts, ROUTES, Route};
use crate::api::{Api, ApiError, Caller, Credentials, Reply};

/// The API's router (serve it with `server::listen::serve`).
pub fn router(api: Arc<Api>) -> Router {
    let mut router: Router<Arc<Api>> = Router::new();
    let mut paths: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut methods: MethodRouter<Arc<Api>> = MethodRouter::new();
        for route in ROUTES.iter().filter(|r| r.path == path) {
            let h = move |state, peer, params, query, headers, body| {
                handle(route, state, peer, params, query, headers, body)
            };
            methods = match route.method {
                Method::Get => methods.merge(get(h)),
                Method::Post => methods.merge(post(h)),
                Method::Put => methods.merge(put(h)),
                Method::Delete => methods.merge(delete(h)),
            };
        }
        router = router.route(path, methods.fallback(fallback));
    }
    router
        .route("/v1/openapi.json", get(openapi_handler))
        .fallback(fallback)
        .with_state(api)
}

fn caller(peer: SocketAddr, headers: &HeaderMap, body: &[u8]) -> Caller {
    caller_hashing(peer, headers, body, true)
}

fn caller_hashing(peer: SocketAddr, headers: &HeaderMap, body: &[u8], hash: bool) -> Caller {
    let credentials = match headers.get(header::AUTHORIZATION) {
        None => Credentials::Missing,
        Some(v) => match v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => Credentials::Bearer(token.trim().to_string()),
            None => Credentials::Bearer(String::new()),
        },
    };
    Caller {
        credentials,
        source: peer.to_string(),
        body_sha256: (hash && !body.is_empty()).then(|| Sha256Digest::of(body)),
    }
}

async fn handle(
    route: &'static Route,
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // An upload's body is read only for a caller whose token authenticates.
    if route.max_body > crate::server::routes::SMALL_BODY {
        let pre = caller_hashing(peer, &headers, b"", false);
        if let Some(refused) = api
            .refuse_unauthenticated(&pre, route.action.name(), route.path)
            .await
        {
            return respond(refused);
        }
    }
    let bytes = match axum::body::to_bytes(body, route.max_body).await {
        Ok(b) => b,
        Err(_) => {
            let c = caller(peer, &headers, b"");
            let limit = if route.action == bulkhead_core::auth::Action::SecretSet {
                " (a secret holds at most 1 MiB)"
            } else {
                ""
            };
            let err = ApiError::new(
                413,
                "too_large",
                format!("the request body is over {} bytes{limit}", route.max_body),
            );
            return respond(api.refuse(&c, route.action.name(), route.path, err).await);
        }
    };
    let c = caller_hashing(peer, &headers, &bytes, route.hash_body);
    let params = match params {
        Ok(params) => params,
        Err(_) => {
            // `%FF%FE` and the like: the path does not decode to UTF-8.
            let err = ApiError::bad_request(
                "the request path does not percent-decode to UTF-8 text".to_string(),
            );
            return respond(api.refuse(&c, route.action.name(), route.path, err).await);
        }
    };
    let path: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let query: HashMap<String, String> = match query.as_deref().map(parse_query).transpose() {
        Ok(q) => q.unwrap_or_default(),
        Err(err) => return respond(api.refuse(&c, route.action.name(), route.path, err).await),
    };
    let parts = Parts {
        path: &path,
        query: &query,
        body: &bytes,
    };
    match (route.parse)(&parts) {
        Ok(command) => respond(api.execute(c, command).await),
        Err(err) => respond(api.refuse(&c, route.action.name(), route.path, err).await),
    }
}

/// `a=1&b=two`, percent-decoded; a repeated key is refused.
fn parse_query(q: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {k} is repeated"
            )));
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request(format!("query {s:?} is not valid percent-encoding"));
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'%' => {
                let hi = it.next().ok_or_else(bad)?;
                let lo = it.next().ok_or_else(bad)?;
                let hex = [hi, lo];
                let text = std::str::from_utf8(&hex).map_err(|_| bad())?;
                bytes.push(u8::from_str_radix(text, 16).map_err(|_| bad())?);
            }
            b'+' => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

fn respond(result: Result<Reply, ApiError>) -> Response {
    match result {
        Ok(Reply::Json(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        Ok(Reply::Lines(bytes)) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            r
        }
        Err(e) => error_response(&e),
    }
}

/// The listener's [`Refuser`](super::listen::Refuser) for the API: a request refused before
/// the router (its head over the limit) is audited like a malformed one, then answered in the
/// error shape (503 if the audit log cannot take the entry).
pub fn refuser(api: Arc<Api>) -> super::listen::Refuser {
    Arc::new(move |refused: super::listen::Refused| {
        let api = Arc::clone(&api);
        Box::pin(async move {
            let credentials = match refused.authorization.as_deref() {
                None => Credentials::Missing,
                Some(v) => Credentials::Bearer(
                    v.strip_prefix("Bearer ")
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                ),
            };
            let caller = Caller {
                credentials,
                source: refused.peer.to_string(),
                body_sha256: None,
            };
            let err = ApiError::new(refused.status.as_u16(), refused.code, refused.message);
            respond(api.reject_request(&caller, &refused.path, err).await)
        })
    })
}

/// `{"error": {"code", "message"}}` with the error's status.
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        status,
        axum::Json(json!({ "error": { "code": e.code, "message": e.message } })),
    )
        .into_response();
    if e.status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if e.status == 429 {
        // Each further guess from a limited source costs it a new connection and handshake.
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn fallback(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let c = caller(peer, &headers, b"");
    let known = ROUTES
        .iter()
        .any(|r| super::routes::matches(r.path, uri.path()));
    let err = if known {
        ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {}", uri.path()),
        )
    } else {
        ApiError::not_found(format!("there is no API at {}", uri.path()))
    };
    respond(api.refuse(&c, "route.unknown", uri.path(), err).await)
}

async fn openapi_handler(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let c = caller(peer, &headers, b"");
    if let Err(e) = api.public(&c, "openapi.read", "openapi.json").await {
        return error_response(&e);
    }
    (StatusCode::OK, axum::Json(super::openapi::document())).into_response()
}
