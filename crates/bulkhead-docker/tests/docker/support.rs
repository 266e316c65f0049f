//! Test support for the Docker adapter tests: unique names, a cleanup guard that removes what a
//! test made even when it fails, `docker inspect` as JSON, and the demo binary build contexts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use bulkhead_docker::DockerRuntime;
use bulkhead_ports::LabelFilter;
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_SERVICE};
use serde_json::Value;

/// A name unique to this test run and test.
pub fn unique(test: &str) -> String {
    format!("bulkhead-docker-test-{}-{test}", std::process::id())
}

/// The owner labels for objects of `project`, with an extra service label.
pub fn labels(project: &str, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_PROJECT.to_string(), project.to_string()),
        (LABEL_SERVICE.to_string(), service.to_string()),
    ])
}

pub fn project_filter(project: &str) -> LabelFilter {
    LabelFilter::project(project)
}

pub async fn runtime() -> DockerRuntime {
    DockerRuntime::connect()
        .await
        .expect("the local Docker Engine answers")
}

/// Removes, on drop, everything a test registered: containers, then networks, volumes, images.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            docker_quiet(&["rm", "-f", "-v", container]);
        }
        for network in &self.networks {
            docker_quiet(&["network", "rm", network]);
        }
        for volume in &self.volumes {
            docker_quiet(&["volume", "rm", "-f", volume]);
        }
        for image in &self.images {
            docker_quiet(&["rmi", "-f", image]);
        }
    }
}

fn docker_quiet(args: &[&str]) {
    let _ = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `docker inspect` (or `docker network inspect`, ...) of one object, parsed.
pub fn docker_inspect(kind: &str, name: &str) -> Value {
    let mut args = Vec::new();
    if !kind.is_empty() {
        args.push(kind);
    }
    args.extend(["inspect", name]);
    let output = Command::new("docker")
        .args(&args)
        .output()
        .expect("docker CLI runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("inspect output is JSON");
    parsed[0].clone()
}

/// Whether `docker image inspect` finds `reference`.
pub fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in <root>/crates/")
        .to_path_buf()
}

static DEMO_BUILD: Mutex<()> = Mutex::new(());

/// The static demo binary's image directory, building the binary with the example's script
/// when it is missing.
pub fn demo_image_dir() -> PathBuf {
    let dir = workspace_root().join("examples/shop/image");
    let _serial = DEMO_BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !dir.join("bulkhead-demo").is_file() {
        let status = Command::new("bash")
            .arg(workspace_root().join("examples/shop/build.sh"))
            .status()
            .expect("build.sh runs");
        assert!(status.success(), "examples/shop/build.sh failed");
    }
    dir
}

/// A FROM-scratch build context around the demo binary: its rootfs and binary, no shell.
pub fn demo_context() -> tempfile::TempDir {
    let source = demo_image_dir();
    let context = tempfile::tempdir().expect("temp dir");
    copy_dir(&source.join("rootfs"), &context.path().join("rootfs"));
    std::fs::copy(
        source.join("bulkhead-demo"),
        context.path().join("bulkhead-demo"),
    )
    .expect("copy the demo binary");
    let dockerfile = "FROM scratch\nCOPY rootfs/ /\nCOPY bulkhead-demo /bulkhead-demo\n\
                      USER 10001:10001\nENTRYPOINT [\"/bulkhead-demo\"]\nCMD [\"--help\"]\n";
    std::fs::write(context.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    context
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// GET `path` from 127.0.0.1:`port`; the status line, or the error.
pub fn http_status(port: u16, path: &str) -> Result<String, std::io::Error> {
    use std::io::{Read, Write};
    let timeout = Some(std::time::Duration::from_secs(5));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}
