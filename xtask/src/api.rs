//! `bench api`: authorized, audited requests per second against a real `bulkhead server`
//! process on this machine (reads: list a project's services; durable writes: scale a service
//! to the count it has), with the load generator in this process; the same load against a bare
//! HTTPS server on the same TLS stack as the baseline; and `bulkhead audit verify` throughput
//! against plain SHA-256 of the same bytes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bulkhead_client::{Client, Method};
use serde_json::{Value, json};

use crate::{root, run};

pub struct ApiArgs {
    pub seconds: u64,
    pub connections: usize,
    pub write: bool,
}

/// One load run: requests done, failures, and latency percentiles.
struct Load {
    done: u64,
    failed: u64,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

impl Load {
    fn rate(&self) -> f64 {
        self.done as f64 / self.secs
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub fn bench_api(args: &ApiArgs) -> anyhow::Result<()> {
    let root = root();
    run(Command::new("bash").arg(root.join("examples/shop/build.sh")))?;
    run(Command::new("cargo")
        .args(["build", "--release", "-p", "bulkhead-cli"])
        .current_dir(&root))?;
    let bin = root.join("target/release/bulkhead");
    let state = tempfile::tempdir().context("state dir")?;
    let dir = state.path();

    let init = Command::new(&bin)
        .args(["init", "--state-dir"])
        .arg(dir)
        .output()?;
    if !init.status.success() {
        bail!(
            "bulkhead init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let token = String::from_utf8_lossy(&init.stdout).trim().to_string();
    // A deployed project to read and scale: the one-service app, embedded, before the server
    // takes the state directory.
    let port = free_port()?;
    run(Command::new(&bin)
        .args(["up", "-q", "-f"])
        .arg(root.join("examples/shop/one.yaml"))
        .args(["-p", "benchapi", "--state-dir"])
        .arg(dir)
        .env("ONE_PORT", port.to_string()))?;
    let result = measure(&bin, dir, &token, args);
    let _ = Command::new(&bin)
        .args(["down", "-q", "-p", "benchapi", "--state-dir"])
        .arg(dir)
        .env_remove("BULKHEAD_URL")
        .status();
    let (table, notes) = result?;
    println!("{table}\n{notes}");
    if args.write {
        crate::write_section("api", &format!("{table}\n{notes}\n"))?;
    }
    Ok(())
}

fn measure(
    bin: &Path,
    dir: &Path,
    token: &str,
    args: &ApiArgs,
) -> anyhow::Result<(String, String)> {
    let mut child = Command::new(bin)
        .args(["server", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir)
        .env("BULKHEAD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting bulkhead server")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let server = Server(child);
    let (mut url, mut ca) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(u) = line.strip_prefix("url: ") {
            url = Some(u.to_string());
        }
        if let Some(c) = line.strip_prefix("ca-file: ") {
            ca = Some(PathBuf::from(c));
        }
        if url.is_some() && ca.is_some() {
            break;
        }
    }
    let (url, ca) = (
        url.context("no url: line")?,
        ca.context("no ca-file: line")?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (reads, writes, bare) = rt.block_on(async {
        let client = Client::new(&url, token, Some(ca.clone()))?;
        let services = client
            .request(Method::GET, "/v1/projects/benchapi/services", None)
            .await?;
        let service = services["services"][0]["service"]
            .as_str()
            .context("no service")?
            .to_string();
        let replicas = services["services"][0]["replicas"].as_u64().unwrap_or(1);
        let d = Duration::from_secs(args.seconds);
        let reads = load(
            &client,
            args.connections,
            d,
            Method::GET,
            "/v1/projects/benchapi/services".into(),
            None,
        )
        .await?;
        let body = json!({ "replicas": replicas });
        let path = format!("/v1/projects/benchapi/services/{service}/replicas");
        let writes = load(&client, args.connections, d, Method::PUT, path, Some(body)).await?;
        let bare = bare_baseline(dir, args.connections, d).await?;
        anyhow::Ok((reads, writes, bare))
    })?;
    drop(server);
    let (verify, hash, bytes) = verify_throughput(bin, dir)?;
    let mb = bytes as f64 / 1e6;
    let table = format!(
        "| measure | Bulkhead | baseline | ratio | goal |\n|---|---|---|---|---|\n\
         | reads/s (GET services, authorized + audited) | {:.0} (p50 {} µs, p99 {} µs, {} failed) | {:.0} (bare HTTPS, same TLS stack) | {:.2} | ≥ 20,000 |\n\
         | durable writes/s (PUT replicas, 2 audit entries each) | {:.0} (p50 {} µs, p99 {} µs, {} failed) | {:.0} | {:.2} | ≥ 2,000 |\n\
         | audit verify | {:.0} MB/s ({mb:.1} MB) | {:.0} MB/s (SHA-256 of the same bytes) | {:.2} | ≥ 200 MB/s |\n",
        reads.rate(),
        reads.p50.as_micros(),
        reads.p99.as_micros(),
        reads.failed,
        bare.rate(),
        reads.rate() / bare.rate(),
        writes.rate(),
        writes.p50.as_micros(),
        writes.p99.as_micros(),
        writes.failed,
        bare.rate(),
        writes.rate() / bare.rate(),
        mb / verify.as_secs_f64(),
        mb / hash.as_secs_f64(),
        hash.as_secs_f64() / verify.as_secs_f64(),
    );
    let notes = format!(
        "{} connections, {} s per measure, server and load generator on the same {}.",
        args.connections,
        args.seconds,
        crate::machine()
    );
    Ok((table, notes))
}

/// `connections` connections sending requests back to back for `d`.
async fn load(
    client: &Client,
    connections: usize,
    d: Duration,
    method: Method,
    path: String,
    body: Option<Value>,
) -> anyhow::Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..connections {
        let mut conn = client.connect().await?;
        let (stop, failed, method, path, body) = (
            Arc::clone(&stop),
            Arc::clone(&failed),
            method.clone(),
            path.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match conn.send(method.clone(), &path, body.as_ref()).await {
                    Ok(r) if (200..300).contains(&r.status) => lat.push(t.elapsed()),
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(d).await;
    stop.store(true, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(Load {
        done: all.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        secs,
        p50: pct(0.5),
        p99: pct(0.99),
    })
}

/// The same TLS identity and HTTPS stack, answering a small JSON document with no
/// authentication, authorization or audit: the floor the API is measured against.
async fn bare_baseline(dir: &Path, connections: usize, d: Duration) -> anyhow::Result<Load> {
    use bulkhead_app::server::{listen, tls};
    let material = tls::load_or_create(dir, &[])?;
    let config = material.server_config()?;
    let listener = listen::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/v1/ping",
        axum::routing::get(|| async {
            axum::Json(json!({"services": [{"service": "x", "replicas": 1}]}))
        }),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listen::serve(
        listener,
        config,
        app,
        async {
            let _ = rx.await;
        },
        listen::Limits::default(),
    ));
    let client = Client::new(&format!("https://{addr}"), "bhk_bench", material.ca_file())?;
    let result = load(
        &client,
        connections,
        d,
        Method::GET,
        "/v1/ping".into(),
        None,
    )
    .await;
    let _ = tx.send(());
    let _ = server.await;
    result
}

/// `bulkhead audit verify` of the log the run wrote (MB/s), against hashing the same bytes.
fn verify_throughput(bin: &Path, dir: &Path) -> anyhow::Result<(Duration, Duration, u64)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("audit"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut bytes = 0;
    let t = Instant::now();
    for f in &files {
        let data = std::fs::read(f)?;
        bytes += data.len() as u64;
        std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(&data));
    }
    let hash = t.elapsed();
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["audit", "verify", "--state-dir"])
        .arg(dir)
        .output()?;
    let verify = t.elapsed();
    if !out.status.success() {
        bail!(
            "audit verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((verify, hash, bytes))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
