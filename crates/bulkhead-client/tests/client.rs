//! The client against the real server plumbing (bulkhead-app's TLS identity and listener) on
//! loopback: trust, refusals, the error shape, the token, connection reuse.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use bulkhead_app::server::{listen, tls};
use bulkhead_client::{Client, ClientError, ClientOptions, Method};
use serde_json::{Value, json};
use tokio::sync::oneshot;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "tok-3f9a1c";

struct Server {
    url: String,
    ca: PathBuf,
    /// Distinct client ports seen, in order of their first request.
    peers: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    stop: Option<oneshot::Sender<()>>,
    state: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn app(peers: Arc<std::sync::Mutex<Vec<SocketAddr>>>) -> Router {
    let hits = Arc::new(AtomicUsize::new(0));
    Router::new()
        .route(
            "/v1/whoami",
            get(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| async move {
                    let mut seen = peers.lock().unwrap_or_else(|e| e.into_inner());
                    if !seen.contains(&peer) {
                        seen.push(peer);
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    axum::Json(json!({ "authorization": auth, "n": hits.fetch_add(1, Ordering::SeqCst) }))
                },
            ),
        )
        .route(
            "/v1/echo",
            post(|axum::Json(body): axum::Json<Value>| async move { axum::Json(body) }),
        )
        .route(
            "/v1/forbidden",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"error": {"code": "forbidden", "message": "role viewer may not deploy"}})),
                )
            }),
        )
        .route("/v1/teapot", get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }))
        .route("/v1/big", get(|| async { "x".repeat(64 * 1024) }))
        .route("/v1/empty", post(|| async { StatusCode::NO_CONTENT }))
}

/// A server on 127.0.0.1 with a generated identity (extra names: `names`).
async fn start(names: &[&str]) -> Result<Server, Box<dyn std::error::Error>> {
    start_on("127.0.0.1", names).await
}

async fn start_on(ip: &str, names: &[&str]) -> Result<Server, Box<dyn std::error::Error>> {
    let state = tempfile::tempdir()?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let material = tls::load_or_create(state.path(), &names)?;
    let ca = material.ca_file().ok_or("no CA file")?;
    let listener = listen::bind(&format!("{ip}:0")).await?;
    let port = listener.local_addr()?.port();
    let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(listen::serve(
        listener,
        material.server_config()?,
        app(Arc::clone(&peers)),
        async {
            let _ = stopped.await;
        },
        listen::Limits::default(),
    ));
    Ok(Server {
        url: format!("https://localhost:{port}"),
        ca,
        peers,
        stop: Some(stop),
        state,
    })
}

#[tokio::test]
async fn trusts_the_generated_ca_and_gets_json_with_the_bearer_token() -> TestResult {
    let server = start(&[]).await?;
    let client = Client::new(&server.url, TOKEN, Some(server.ca.clone()))?;
    let body = client.request(Method::GET, "/v1/whoami", None).await?;
    assert_eq!(body["authorization"], format!("Bearer {TOKEN}"));
    let sent = json!({"name": "shop", "replicas": [1, 2]});
    let echoed = client
        .request(Method::POST, "/v1/echo", Some(&sent))
        .await?;
    assert_eq!(echoed, sent);
    assert_eq!(
        client.request(Method::POST, "/v1/empty", None).await?,
        Value::Null
    );
    // The IP address SANs work too.
    let by_ip = server.url.replace("localhost", "127.0.0.1");
    let client = Client::new(&by_ip, TOKEN, Some(server.ca.clone()))?;
    client.request(Method::GET, "/v1/whoami", None).await?;
    Ok(())
}

#[tokio::test]
async fn the_error_shape_becomes_client_error_api() -> TestResult {
    let server = start(&[]).await?;
    let client = Client::new(&server.url, TOKEN, Some(server.ca.clone()))?;
    let err = client
        .request(Method::GET, "/v1/forbidden", None)
        .await
        .err()
        .ok_or("a 403 was taken for success")?;
    match &err {
        ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((*status, code.as_str()), (403, "forbidden"));
            assert_eq!(message, "role viewer may not deploy");
        }
        other => return Err(format!("unexpected error: {other}").into()),
    }
    let err = client.request(Method::GET, "/v1/teapot", None).await.err();
    assert!(
        matches!(err, Some(ClientError::Status { status: 418, .. })),
        "{err:?}"
    );
    let err = client.request(Method::GET, "/v1/big", None).await.err();
    assert!(matches!(err, Some(ClientError::Decode { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn a_user_supplied_certificate_is_the_one_served() -> TestResult {
    // The user's own CA and certificate (made here with the same tool, in another directory).
    let user = tempfile::tempdir()?;
    let user_ca = tls::load_or_create(user.path(), &[])?
        .ca_file()
        .ok_or("no CA file")?;
    let user_tls = user.path().join(tls::TLS_DIR);
    let material = tls::load_user(
        &user_tls.join(tls::SERVER_CERT_FILE),
        &user_tls.join(tls::SERVER_KEY_FILE),
    )?;
    let listener = listen::bind("127.0.0.1:0").await?;
    let url = format!("https://localhost:{}", listener.local_addr()?.port());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(listen::serve(
        listener,
        material.server_config()?,
        app(Arc::default()),
        async {
            let _ = stopped.await;
        },
        listen::Limits::default(),
    ));
    let client = Client::new(&url, TOKEN, Some(user_ca))?;
    client.request(Method::GET, "/v1/whoami", None).await?;
    // A client trusting some other Bulkhead CA is refused.
    let other = tempfile::tempdir()?;
    let other_ca = tls::load_or_create(other.path(), &[])?
        .ca_file()
        .ok_or("no CA file")?;
    let client = Client::new(&url, TOKEN, Some(other_ca))?;
    let err = client.request(Method::GET, "/v1/whoami", None).await.err();
    assert!(
        matches!(err, Some(ClientError::UntrustedServer { .. })),
        "{err:?}"
    );
    let _ = stop.send(());
    Ok(())
}

#[tokio::test]
async fn an_unknown_ca_is_refused_with_a_hint() -> TestResult {
    let server = start(&[]).await?;
    let other = tempfile::tempdir()?;
    let other_ca = tls::load_or_create(other.path(), &[])?
        .ca_file()
        .ok_or("no CA file")?;
    let client = Client::new(&server.url, TOKEN, Some(other_ca))?;
    let err = client
        .request(Method::GET, "/v1/whoami", None)
        .await
        .err()
        .ok_or("a server signed by an unknown CA was trusted")?;
    assert!(
        matches!(err, ClientError::UntrustedServer { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("BULKHEAD_CA"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_cert_for_another_name_is_refused() -> TestResult {
    // The certificate names localhost, 127.0.0.1, ::1 and api.bulkhead.test; the server
    // listens on 127.0.0.2, a loopback address the certificate does not carry.
    let server = start_on("127.0.0.2", &["api.bulkhead.test"]).await?;
    let url = server.url.replace("localhost", "127.0.0.2");
    let client = Client::new(&url, TOKEN, Some(server.ca.clone()))?;
    match client.request(Method::GET, "/v1/whoami", None).await {
        Err(ClientError::WrongName { name, .. }) => assert_eq!(name, "127.0.0.2"),
        other => return Err(format!("expected a name mismatch, got {other:?}").into()),
    }
    Ok(())
}

#[tokio::test]
async fn http_urls_are_refused() {
    let err = Client::new("http://localhost:8443", TOKEN, None).err();
    let text = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(err, Some(ClientError::NotHttps { .. })), "{err:?}");
    assert!(text.contains("https://"), "{text}");
}

#[tokio::test]
async fn the_token_is_in_no_error_or_debug_text() -> TestResult {
    let server = start(&[]).await?;
    let client = Client::new(&server.url, TOKEN, Some(server.ca.clone()))?;
    let err = client
        .request(Method::GET, "/v1/forbidden", None)
        .await
        .err();
    let texts = [
        format!("{client:?}"),
        format!("{err:?}"),
        format!("{:?}", client.connect().await?),
    ];
    for text in texts {
        assert!(!text.contains(TOKEN), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn requests_reuse_one_connection_and_connect_opens_new_ones() -> TestResult {
    let server = start(&[]).await?;
    let client = Client::new(&server.url, TOKEN, Some(server.ca.clone()))?;
    for _ in 0..5 {
        client.request(Method::GET, "/v1/whoami", None).await?;
    }
    assert_eq!(server.peers.lock().map(|p| p.len()).unwrap_or(0), 1);
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(client.connect().await?);
    }
    for connection in &mut connections {
        connection.request(Method::GET, "/v1/whoami", None).await?;
        connection.request(Method::GET, "/v1/whoami", None).await?;
    }
    assert_eq!(server.peers.lock().map(|p| p.len()).unwrap_or(0), 4);
    Ok(())
}

#[tokio::test]
async fn a_closed_idle_connection_is_replaced() -> TestResult {
    let mut server = start(&[]).await?;
    let client = Client::new(&server.url, TOKEN, Some(server.ca.clone()))?;
    client.request(Method::GET, "/v1/whoami", None).await?;
    // Stop the server (closing the idle connection) and start another on the same port.
    let port = server
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let material = tls::load_or_create(server.state.path(), &[])?;
    let listener = listen::bind(&format!("127.0.0.1:{port}")).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    server.stop = Some(stop);
    tokio::spawn(listen::serve(
        listener,
        material.server_config()?,
        app(Arc::clone(&server.peers)),
        async {
            let _ = stopped.await;
        },
        listen::Limits::default(),
    ));
    client.request(Method::GET, "/v1/whoami", None).await?;
    Ok(())
}

#[tokio::test]
async fn responses_over_the_size_limit_are_refused() -> TestResult {
    let server = start(&[]).await?;
    let options = ClientOptions {
        max_response_bytes: 1024,
        ..ClientOptions::default()
    };
    let client = Client::with_options(&server.url, TOKEN, Some(server.ca.clone()), options)?;
    let err = client.request(Method::GET, "/v1/big", None).await.err();
    assert!(
        matches!(err, Some(ClientError::TooLarge { limit: 1024, .. })),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreadable_or_empty_ca_file_is_named() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing-ca.pem");
    let err = Client::new("https://localhost:1", TOKEN, Some(missing)).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("missing-ca.pem"), "{text}");
    let empty = dir.path().join("empty-ca.pem");
    std::fs::write(&empty, "")?;
    let err = Client::new("https://localhost:1", TOKEN, Some(empty)).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("empty-ca.pem") && text.contains("no PEM certificate"),
        "{text}"
    );
    Ok(())
}
