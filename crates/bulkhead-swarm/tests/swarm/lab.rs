//! Test support for the Swarm lab: bringing the lab up through xtask (and down again only when
//! this run brought it up), the FROM-scratch demo image built and copied into every node, the
//! docker CLI on a node, and a guard that removes a project's Swarm objects and images however
//! the test ends.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The workspace root (xtask and examples/ live there).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the effective user is root (read from /proc/self/status, no `unsafe`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn xtask(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .args(["run", "-q", "-p", "xtask", "--", "lab"])
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs xtask")
}

fn addresses(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("unix://") || l.starts_with("tcp://"))
        .map(str::to_string)
        .collect()
}

/// A 3-node lab: the one that is up, else one this test brings up and takes down on drop.
pub struct Lab {
    /// Each node's engine in `DOCKER_HOST` form, the manager first.
    pub nodes: Vec<String>,
    brought_up: bool,
}

impl Lab {
    pub fn up() -> Lab {
        let status = xtask(&["status"]);
        let nodes = addresses(&status);
        if status.status.success() && nodes.len() >= 3 {
            eprintln!(
                "swarm test: using the lab that is up ({} nodes)",
                nodes.len()
            );
            return Lab {
                nodes,
                brought_up: false,
            };
        }
        eprintln!("swarm test: no healthy 3-node lab; `cargo xtask lab up 3`");
        let up = xtask(&["up", "3"]);
        let nodes = addresses(&up);
        assert!(
            up.status.success() && nodes.len() == 3,
            "lab up 3 failed:\n{}",
            String::from_utf8_lossy(&up.stderr)
        );
        Lab {
            nodes,
            brought_up: true,
        }
    }

    pub fn manager(&self) -> &str {
        &self.nodes[0]
    }

    /// The node's engine address for a node host name `bulkhead-lab-nN`.
    pub fn node(&self, hostname: &str) -> &str {
        let n: usize = hostname
            .strip_prefix("bulkhead-lab-n")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("`{hostname}` is not a lab node"));
        &self.nodes[n - 1]
    }

    /// Copy an image of the default engine into every node (`lab load`).
    pub fn load(&self, image: &str) {
        let out = xtask(&["load", image]);
        assert!(
            out.status.success(),
            "lab load {image} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.brought_up {
            eprintln!("swarm test: `cargo xtask lab down` (this test brought the lab up)");
            let down = xtask(&["down"]);
            if !down.status.success() {
                eprintln!(
                    "lab down failed:\n{}",
                    String::from_utf8_lossy(&down.stderr)
                );
            }
        }
    }
}

/// `docker -H host ARGS...`, its output.
pub fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// `docker -H host ARGS...` that must succeed: its stdout.
pub fn docker_ok(host: &str, args: &[&str]) -> String {
    let out = docker(host, args);
    assert!(
        out.status.success(),
        "docker -H {host} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker -H host inspect ID` (or `KIND inspect ID`), the one object.
pub fn inspect(host: &str, kind: &[&str], id: &str) -> Value {
    let mut args = kind.to_vec();
    args.extend(["inspect", id]);
    let text = docker_ok(host, &args);
    let all: Value = serde_json::from_str(&text).expect("inspect prints JSON");
    all[0].clone()
}

/// Build the FROM-scratch demo image on the default engine as `tag` (the static binary first,
/// by examples/shop/build.sh) and copy it into every node.
pub fn demo_image(lab: &Lab, tag: &str) {
    let build = Command::new("bash")
        .arg(root().join("examples/shop/build.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("bash runs build.sh");
    assert!(
        build.status.success(),
        "examples/shop/build.sh failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let context = root().join("examples/shop/image");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&context)
        .stdin(Stdio::null())
        .output()
        .expect("docker build runs");
    assert!(
        out.status.success(),
        "docker build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.load(tag);
}

/// Removes, on drop, what a test made: the project's services, networks and secrets on the
/// manager (by owner label), and the image on every node and on the default engine.
pub struct Cleanup {
    pub nodes: Vec<String>,
    pub project: String,
    pub image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let manager = &self.nodes[0];
        let label = format!("label=dev.bulkhead.project={}", self.project);
        for kind in ["service", "network", "secret"] {
            let ids = docker(manager, &[kind, "ls", "-q", "--filter", &label]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = docker(manager, &[kind, "rm", id]);
            }
        }
        for node in &self.nodes {
            let _ = docker(node, &["rmi", "-f", &self.image]);
        }
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
