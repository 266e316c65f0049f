//! Fixtures for the Docker tests: a copy of the shop demo with its own project name, port and
//! state directory; the Debian test images; the `bulkhead` and `docker` commands; cleanup that
//! runs even on failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bulkhead_ports::Firewall as _;
use serde_json::Value;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t = if entry.file_type().ok()?.is_dir() {
            self::newest(&entry.path())
        } else {
            entry.metadata().ok()?.modified().ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// The static demo binary in the shop's image context, built once if missing or older than
/// its sources (a stale binary lacks the routes newer tests use).
pub fn demo_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace_root();
            let bin = root.join("examples/shop/image/bulkhead-demo");
            let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
            let sources = newest(&root.join("crates/bulkhead-demo"));
            if built.is_none() || sources > built {
                // A separate target dir: the cargo running these tests holds the main one.
                let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-target");
                let status = Command::new("bash")
                    .arg(root.join("examples/shop/build.sh"))
                    .env("CARGO_TARGET_DIR", target)
                    .status()
                    .expect("examples/shop/build.sh runs");
                assert!(status.success(), "building the demo binary failed");
            }
            bin
        })
        .clone()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// The `bulkhead` binary, embedded whatever the environment of the tests: no server variables,
/// and a login context that does not exist (a test that wants a server sets them again).
pub fn bulkhead() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    cmd.env_remove("BULKHEAD_URL")
        .env_remove("BULKHEAD_TOKEN")
        .env_remove("BULKHEAD_CA")
        .env(
            "XDG_CONFIG_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-login-context"),
        );
    cmd
}

/// The shop demo, copied to a temporary directory, deployed as its own project. Its state
/// directory is another temporary directory, so that a remote `up` (which uploads the project
/// directory) never carries it.
pub struct Shop {
    pub dir: tempfile::TempDir,
    state: tempfile::TempDir,
    pub name: String,
    pub port: u16,
}

impl Shop {
    pub fn new(tag: &str) -> Shop {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = demo_binary();
        let dir = tempfile::Builder::new()
            .prefix("bh-shop")
            .tempdir()
            .expect("temp dir");
        let src = workspace_root().join("examples/shop");
        copy_dir(&src, dir.path());
        std::fs::copy(&bin, dir.path().join("image/bulkhead-demo")).expect("copy the demo binary");
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("bht{}{tag}{n}", std::process::id());
        let state = tempfile::Builder::new()
            .prefix("bh-state")
            .tempdir()
            .expect("temp dir");
        Shop {
            dir,
            state,
            name,
            port: free_port(),
        }
    }

    pub fn compose(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().to_path_buf()
    }

    /// Run `bulkhead ARGS -f compose.yaml -p NAME` with this shop's port and state dir.
    pub fn bulkhead(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("bulkhead runs")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = bulkhead();
        cmd.args(args)
            .arg("--file")
            .arg(self.compose())
            .arg("-p")
            .arg(&self.name)
            .env("SHOP_PORT", self.port.to_string())
            .env("BULKHEAD_STATE_DIR", self.state_dir())
            .current_dir(self.dir.path());
        cmd
    }

    /// Change the spec: replace `from` by `to` in compose.yaml (which must contain it).
    pub fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.compose()).expect("read compose.yaml");
        assert!(text.contains(from), "compose.yaml lacks {from:?}");
        std::fs::write(self.compose(), text.replacen(from, to, 1)).expect("write compose.yaml");
    }

    /// `GET path` on the published web port: (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// Containers with this project's label, as `docker inspect` JSON.
    pub fn containers(&self) -> Vec<Value> {
        let ids = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.bulkhead.project={}", self.name),
        ]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect"];
        args.extend(ids);
        serde_json::from_str::<Vec<Value>>(&docker(&args)).expect("docker inspect JSON")
    }

    /// Names of networks (or volumes) with this project's label.
    pub fn labelled(&self, kind: &str) -> Vec<String> {
        let out = docker(&[
            kind,
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.bulkhead.project={}", self.name),
        ]);
        out.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.command(&["down", "--volumes", "-q"]).output();
        remove_leftovers(&self.name);
        let _ = Command::new("docker")
            .args([
                "image",
                "rm",
                "-f",
                &format!("bulkhead/web:{}", self.name),
                &format!("bulkhead/api:{}", self.name),
                &format!("bulkhead/store:{}", self.name),
            ])
            .output();
    }
}

/// Whatever a project left on the engine and in the firewall after its `down --volumes` (the
/// state it plans from may be what failed): containers, networks and volumes with its label,
/// and its rules.
pub fn remove_leftovers(project: &str) {
    let label = format!("label=dev.bulkhead.project={project}");
    for (kind, flag) in [("ps", "-aq"), ("network", "-q"), ("volume", "-q")] {
        let list = if kind == "ps" {
            docker_ok(&["ps", flag, "--filter", &label])
        } else {
            docker_ok(&[kind, "ls", flag, "--filter", &label])
        };
        for id in list.split_whitespace() {
            let _ = match kind {
                "ps" => Command::new("docker").args(["rm", "-f", "-v", id]).output(),
                other => Command::new("docker").args([other, "rm", id]).output(),
            };
        }
    }
    let _ = bulkhead_firewall::HostFirewall::new().unblock_project(project);
}

/// The test images made from Debian packages (`bulkhead-test/postgres:15`, `redis:7`,
/// `nginx:1`, `python:3`), built by examples/debian/build.sh once per test run: it keeps what exists and
/// was built from the same inputs, and locks against other runs itself.
pub fn debian_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new("bash")
            .arg(workspace_root().join("examples/debian/build.sh"))
            .output()
            .expect("examples/debian/build.sh runs");
        assert!(
            out.status.success(),
            "building the Debian test images failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    });
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

/// Run docker; panics with its stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker_ok(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A minimal HTTP/1.1 GET on 127.0.0.1.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Container ids by service, from `docker inspect` JSON.
pub fn ids_by_service(containers: &[Value]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in containers {
        let service = c["Config"]["Labels"]["dev.bulkhead.service"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        out.entry(service)
            .or_default()
            .push(c["Id"].as_str().unwrap_or_default().to_string());
    }
    for ids in out.values_mut() {
        ids.sort();
    }
    out
}
