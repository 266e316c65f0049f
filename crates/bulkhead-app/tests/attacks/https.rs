//! The real HTTPS listener around a test server's application, on 127.0.0.1 with an
//! ephemeral port, and a raw HTTP/1.1-over-TLS client that can choose its source address
//! (any 127/8 address: Linux routes them all to lo, so each is another client).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bulkhead_app::server::http::{refuser, router};
use bulkhead_app::server::listen::{self, Limits};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::support::Server;

pub struct Https {
    pub addr: SocketAddr,
    connector: TlsConnector,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Https {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serve `srv`'s application over HTTPS with `limits` (the server's refuser and counters).
pub async fn https(srv: &Server, limits: Limits) -> Https {
    let material =
        bulkhead_app::server::tls::load_or_create(srv.dir.path(), &[]).expect("TLS material");
    let ca = material.ca_file().expect("a CA file");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("CA"))
        .expect("root");
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let listener = listen::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let api = Arc::clone(&srv.api);
    let config = material.server_config().expect("server config");
    let task = tokio::spawn(async move {
        let served = listen::serve_with(
            listener,
            config,
            router(Arc::clone(&api)),
            async {
                let _ = stopped.await;
            },
            limits,
            Arc::clone(&api.listener),
            Some(refuser(Arc::clone(&api))),
        )
        .await;
        served.expect("serve");
    });
    Https {
        addr,
        connector: TlsConnector::from(Arc::new(client)),
        stop: Some(stop),
        task: Some(task),
    }
}

impl Https {
    /// A TLS connection from `source` (an address on lo).
    pub async fn connect(
        &self,
        source: IpAddr,
    ) -> std::io::Result<TlsStream<tokio::net::TcpStream>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let tcp = socket.connect(self.addr).await?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        self.connector.connect(name, tcp).await
    }

    /// One request from `source` on a connection of its own; the whole response as text.
    pub async fn send(&self, source: IpAddr, raw: &[u8]) -> String {
        let mut tls = self.connect(source).await.expect("connect");
        // A server that refuses an oversized request answers and closes while the rest is
        // still being sent: the write then fails, and its answer is read all the same.
        if let Err(e) = tls.write_all(raw).await {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "write: {e}"
            );
        }
        let mut response = Vec::new();
        // A server that closes without TLS close_notify still gave us what it sent.
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    /// `GET path` from `source`, with `token` and extra header lines.
    pub async fn get(
        &self,
        source: IpAddr,
        path: &str,
        token: Option<&str>,
        extra: &str,
    ) -> String {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}{extra}\r\n"
        );
        self.send(source, raw.as_bytes()).await
    }
}

/// The status code of a raw response (0 when there is none).
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The JSON body of a raw response.
pub fn body(response: &str) -> serde_json::Value {
    let text = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

pub const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
pub const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
