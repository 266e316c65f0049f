//! One dockerd per lab node: started with `nsenter --net` (not `ip netns exec`, which remounts
//! /sys and hides the cgroups) in a UTS namespace of its own (so Swarm lists distinct hostnames),
//! with its own data root, exec root, socket, pidfile, cgroup parent and `--bip`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Node, POLL, REGISTRY, RUN_ROOT, progress};

/// The daemons started by this run, by node (their exit is seen through the child handle).
pub type Starting = BTreeMap<Node, Child>;

/// The node's dockerd pid, when its pidfile names a live dockerd of this node.
pub fn pid(node: Node) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(node.pidfile())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    let exec_root = node.exec_root();
    let ours = cmdline
        .split('\0')
        .next()
        .is_some_and(|a| a.ends_with("dockerd"))
        && cmdline.contains(&*exec_root.to_string_lossy());
    (ours && !dead(pid)).then_some(pid)
}

/// The process is gone, or exited and waits for its parent to reap it.
pub fn dead(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Starts the daemons of the nodes that have none running; reuses the others.
pub fn ensure_running(nodes: &[Node]) -> anyhow::Result<Starting> {
    std::fs::create_dir_all(RUN_ROOT).with_context(|| format!("creating {RUN_ROOT}"))?;
    let mut starting = Starting::new();
    for &node in nodes {
        match pid(node) {
            Some(pid) => progress(&format!("{}: dockerd running (pid {pid})", node.name())),
            None => {
                let child = start(node)?;
                progress(&format!(
                    "{}: dockerd started (pid {})",
                    node.name(),
                    child.id()
                ));
                starting.insert(node, child);
            }
        }
    }
    Ok(starting)
}

fn start(node: Node) -> anyhow::Result<Child> {
    let name = node.name();
    for dir in [node.data_root(), node.exec_root()] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Its own configuration: the host's /etc/docker/daemon.json is not the lab's, and a key of
    // its own (not /etc/docker/key.json) gives each node its own engine ID.
    let config = Path::new(RUN_ROOT).join(format!("n{}.json", node.0));
    let key = node.data_root().join("key.json");
    let text = serde_json::json!({ "deprecated-key-path": key }).to_string();
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.log())
        .with_context(|| format!("opening {}", node.log().display()))?;
    let err = log.try_clone().context("cloning the log file handle")?;
    // Called when the pidfile names no live dockerd of this node: a stale file, or the pid of
    // a killed daemon not reaped yet, which dockerd would take for a running one.
    match std::fs::remove_file(node.pidfile()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", node.pidfile().display()));
        }
        _ => {}
    }
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", node.netns().display()))
        .args(["--", "unshare", "--uts", "--", "sh", "-c"])
        .arg(r#"hostname "$0" && exec "$@""#)
        .arg(&name)
        .arg("dockerd")
        .arg("--config-file")
        .arg(&config)
        .arg("--data-root")
        .arg(node.data_root())
        .arg("--exec-root")
        .arg(node.exec_root())
        .arg("--pidfile")
        .arg(node.pidfile())
        .args(["-H", &node.docker_host()])
        .args(["--cgroup-parent", &name])
        .args(["--bip", &node.bip()])
        .args(["--insecure-registry", REGISTRY])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: a Ctrl-C on this terminal does not stop the lab.
        .process_group(0);
    cmd.spawn()
        .with_context(|| format!("{name}: starting dockerd"))
}

/// The daemon answers `GET /_ping` on its socket.
pub fn ping(socket: &Path) -> bool {
    let call = || -> std::io::Result<bool> {
        let mut s = UnixStream::connect(socket)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.set_write_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        let status = reply.lines().next().unwrap_or_default();
        Ok(status.starts_with("HTTP/1.") && status.contains(" 200 "))
    };
    call().unwrap_or(false)
}

/// Polls until every node's daemon answers `_ping`; fails at once when one exits, and at the
/// deadline naming the nodes that did not answer, with the tail of their logs.
pub fn wait_ready(
    nodes: &[Node],
    starting: &mut Starting,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut waiting: Vec<Node> = nodes.to_vec();
    loop {
        waiting.retain(|n| !ping(&n.socket()));
        if waiting.is_empty() {
            return Ok(());
        }
        for &node in &waiting {
            let exited = match starting.get_mut(&node) {
                Some(child) => child.try_wait()?.map(|s| s.to_string()),
                None => pid(node).is_none().then(|| "gone".to_string()),
            };
            if let Some(how) = exited {
                bail!(
                    "{}: dockerd exited ({how}) before answering; {}",
                    node.name(),
                    log_tail(node)
                );
            }
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = waiting
                .iter()
                .map(|&n| {
                    format!(
                        "{}: no answer on {}; {}",
                        n.name(),
                        n.docker_host(),
                        log_tail(n)
                    )
                })
                .collect();
            bail!("daemons not ready by the deadline:\n{}", tails.join("\n"));
        }
        std::thread::sleep(POLL);
    }
}

/// The last lines of the node's daemon log, for an error message.
pub fn log_tail(node: Node) -> String {
    let text = std::fs::read_to_string(node.log()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    format!(
        "last lines of {}:\n  {}",
        node.log().display(),
        tail.join("\n  ")
    )
}
