//! Tests of the TLS listener over loopback: graceful shutdown, the handshake deadline, the
//! connection cap, the peer address, body and request limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::*;
use crate::server::tls;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct TestServer {
    client: RawClient,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
    _state: tempfile::TempDir,
}

fn app() -> Router {
    Router::new()
        .route("/fast", get(|| async { r#"{"ok":true}"# }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                r#"{"slow":true}"#
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/echo", post(|body: String| async move { body }))
}

async fn start(limits: Limits) -> Result<TestServer, Box<dyn std::error::Error>> {
    let state = tempfile::tempdir()?;
    let material = tls::load_or_create(state.path(), &[])?;
    let ca_file = material.ca_file().ok_or("no CA file")?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca_file)?)?;
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let listener = bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        material.server_config()?,
        app(),
        async {
            let _ = stopped.await;
        },
        limits,
    ));
    Ok(TestServer {
        client: RawClient {
            addr,
            connector: TlsConnector::from(Arc::new(client)),
        },
        addr,
        stop: Some(stop),
        task,
        _state: state,
    })
}

/// A bare HTTP/1.1-over-TLS client that trusts the test server's CA.
#[derive(Clone)]
struct RawClient {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl RawClient {
    /// Send one raw HTTP/1.1 request (`Connection: close`) and read the whole response.
    async fn request(&self, head: &str, body: &str) -> Result<String, Box<dyn std::error::Error>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost")?;
        let mut tls = self.connector.connect(name, tcp).await?;
        let request = format!(
            "{head} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await?;
        Ok(String::from_utf8(response)?)
    }
}

impl TestServer {
    async fn request(&self, head: &str, body: &str) -> Result<String, Box<dyn std::error::Error>> {
        self.client.request(head, body).await
    }

    async fn stop(mut self) -> TestResult {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), self.task).await???;
        Ok(())
    }
}

#[tokio::test]
async fn serves_json_over_tls_with_the_peer_address() -> TestResult {
    let server = start(Limits::default()).await?;
    let response = server.request("GET /fast", "").await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"ok":true}"#), "{response}");
    let response = server.request("GET /peer", "").await?;
    assert!(response.contains("\r\n\r\n127.0.0.1:"), "{response}");
    server.stop().await
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_refuses_new_connections() -> TestResult {
    let mut server = start(Limits::default()).await?;
    let client = server.client.clone();
    let slow = tokio::spawn(async move {
        client
            .request("GET /slow", "")
            .await
            .map_err(|e| e.to_string())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpStream::connect(server.addr).await {
            Err(e) => {
                use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
                assert!(
                    matches!(e.kind(), ConnectionRefused | ConnectionReset),
                    "{e}"
                );
                break;
            }
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(_) => return Err("new connections still accepted after shutdown".into()),
        }
    }
    assert!(
        !server.task.is_finished(),
        "returned before the slow request finished"
    );
    let response = slow.await??;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"slow":true}"#), "{response}");
    server.stop().await
}

#[tokio::test]
async fn the_drain_timeout_cuts_a_request_that_outlives_it() -> TestResult {
    let limits = Limits {
        drain_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = start(limits).await?;
    let client = server.client.clone();
    let slow = tokio::spawn(async move {
        client
            .request("GET /slow", "")
            .await
            .map_err(|e| e.to_string())
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let started = Instant::now();
    server.stop().await?;
    // It waited for the in-flight request (so there was one) but not until it finished.
    assert!(started.elapsed() >= Duration::from_millis(90));
    let response = slow.await?.unwrap_or_default();
    assert!(!response.contains("slow"), "{response}");
    Ok(())
}

#[tokio::test]
async fn a_silent_client_is_cut_at_the_handshake_deadline_and_frees_its_slot() -> TestResult {
    let limits = Limits {
        max_connections: 1,
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits).await?;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await?;
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await?;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    let response = server.request("GET /fast", "").await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.stop().await
}

#[tokio::test]
async fn the_connection_cap_holds_further_clients_until_a_slot_frees() -> TestResult {
    let limits = Limits {
        max_connections: 1,
        handshake_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start(limits).await?;
    let _silent = TcpStream::connect(server.addr).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let response = server.request("GET /fast", "").await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the cap did not hold"
    );
    server.stop().await
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_slow_requests_time_out() -> TestResult {
    let limits = Limits {
        max_body_bytes: 16,
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start(limits).await?;
    let response = server.request("POST /echo", "0123456789").await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = server.request("POST /echo", &"x".repeat(17)).await?;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let response = server.request("GET /slow", "").await?;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        response.contains(r#"{"error":{"code":"request_timeout","message":"#),
        "{response}"
    );
    server.stop().await
}

#[tokio::test]
async fn bind_errors_name_the_address() -> TestResult {
    let taken = bind("127.0.0.1:0").await?;
    let addr = taken.local_addr()?.to_string();
    let err = bind(&addr).await.err().ok_or("bound twice")?;
    assert!(err.to_string().contains(&addr), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_second_connection_resumes_the_tls_session() -> TestResult {
    let server = start(Limits::default()).await?;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect(server.addr).await?;
        let mut tls = server
            .client
            .connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        tls.write_all(b"GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        // Reading the response also takes in the session tickets sent after the handshake.
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await?;
        kinds.push(tls.get_ref().1.handshake_kind());
    }
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(kinds, [Some(Full), Some(Resumed)]);
    server.stop().await
}

/// One IPv6 host holds a whole /64 (SLAAC, privacy addresses): 16 of its addresses take all
/// 1024 connections if each address is its own client. A client is its /64, as the per-client
/// cap's promise ("one source cannot starve the others") needs.
#[test]
fn the_addresses_of_one_ipv6_64_are_one_client() {
    let stats = Arc::new(stats::Stats::default());
    let net: std::net::Ipv6Addr = "2001:db8:1:2::".parse().expect("address");
    let in_net = |host: u16| {
        let mut s = net.segments();
        s[7] = host;
        std::net::IpAddr::V6(std::net::Ipv6Addr::from(s))
    };
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(stats.admit(in_net(1), 64).expect("under the cap"));
    }
    assert!(stats.admit(in_net(1), 64).is_none(), "the 65th from ::1");
    assert!(
        stats.admit(in_net(2), 64).is_none(),
        "the 65th from the same /64, through another of its addresses"
    );
}
