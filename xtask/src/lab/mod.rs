//! `lab up N | down | status | load IMAGE...`: an N-node Docker Swarm on this one machine (one
//! dockerd per network namespace) for tests of the Swarm backend; see docs/swarm-lab.md.
//!
//! Everything the lab makes is named with [`PREFIX`] (network namespaces, links, cgroups,
//! sockets) or lives under `/var/lib/bulkhead-lab` and `/run/bulkhead-lab`, so `down` removes
//! exactly what `up` made and nothing else. The command is the interface for tests: `lab up N`
//! prints one `DOCKER_HOST` value per node on stdout, manager first; [`up`] and [`down`] are the
//! same steps as functions.

mod daemon;
mod net;
mod swarm;
mod sweep;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The prefix of every name the lab gives (Linux allows 15 characters for a link name:
/// `bulkhead-lab-n9` is the longest, hence at most nine nodes).
pub const PREFIX: &str = "bulkhead-lab-";
const MAX_NODES: u8 = 9;
const STATE_ROOT: &str = "/var/lib/bulkhead-lab";
const RUN_ROOT: &str = "/run/bulkhead-lab";
const LOCK: &str = "/run/bulkhead-lab.lock";
/// The registry the nodes trust without TLS: on the host, a DNAT to 127.0.0.1:5000 (net.rs).
const REGISTRY: &str = "10.99.0.1:5000";
const POLL: Duration = Duration::from_millis(100);

const USAGE: &str = "usage: cargo run -p xtask -- lab up N [--timeout SECS]   (N from 1 to 9)
       cargo run -p xtask -- lab down
       cargo run -p xtask -- lab status
       cargo run -p xtask -- lab load IMAGE...";

/// One lab node: its index (1 is the manager) decides every name and address it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node(u8);

impl Node {
    /// Network namespace, host end of its veth, cgroup parent and hostname.
    pub fn name(self) -> String {
        format!("{PREFIX}n{}", self.0)
    }
    pub fn addr(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, 10 + self.0)
    }
    pub fn socket(self) -> PathBuf {
        PathBuf::from(format!("/run/{}.sock", self.name()))
    }
    /// The engine address in `DOCKER_HOST` form.
    pub fn docker_host(self) -> String {
        format!("unix://{}", self.socket().display())
    }
    fn data_root(self) -> PathBuf {
        Path::new(STATE_ROOT).join(format!("n{}", self.0))
    }
    fn exec_root(self) -> PathBuf {
        Path::new(RUN_ROOT).join(format!("n{}", self.0))
    }
    fn pidfile(self) -> PathBuf {
        Path::new(RUN_ROOT).join(format!("n{}.pid", self.0))
    }
    fn log(self) -> PathBuf {
        Path::new(RUN_ROOT).join(format!("n{}.log", self.0))
    }
    fn netns(self) -> PathBuf {
        Path::new("/run/netns").join(self.name())
    }
    /// The default bridge inside the node, distinct per node.
    fn bip(self) -> String {
        format!("172.31.{}.1/24", self.0)
    }
    /// The node a name without the prefix (`n3`, `n3.pid`, `n3.sock`) stands for.
    fn parse(name: &str) -> Option<Node> {
        let rest = name.strip_prefix('n')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let tail = &rest[digits.len()..];
        if !(tail.is_empty() || tail.starts_with('.')) {
            return None;
        }
        digits
            .parse()
            .ok()
            .filter(|i| (1..=MAX_NODES).contains(i))
            .map(Node)
    }
}

/// `lab ...` from the command line.
pub fn main(argv: &[String]) -> anyhow::Result<()> {
    match argv.first().map(String::as_str) {
        Some("up") => {
            let (count, timeout) = up_args(&argv[1..])?;
            for host in up(count, timeout)? {
                println!("{host}");
            }
            Ok(())
        }
        Some("down") if argv.len() == 1 => down(),
        Some("status") if argv.len() == 1 => {
            for host in status()? {
                println!("{host}");
            }
            Ok(())
        }
        Some("load") if argv.len() > 1 => load(&argv[1..]),
        _ => bail!("{USAGE}"),
    }
}

fn up_args(argv: &[String]) -> anyhow::Result<(u8, Duration)> {
    let mut count = None;
    let mut timeout = Duration::from_secs(120);
    let mut rest = argv.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--timeout" => {
                let secs: u64 = rest
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--timeout needs a number of seconds")?;
                timeout = Duration::from_secs(secs);
            }
            n if count.is_none() => count = Some(n.parse::<u8>().ok().context(USAGE)?),
            other => bail!("unexpected argument {other}\n{USAGE}"),
        }
    }
    match count {
        Some(n) if (1..=MAX_NODES).contains(&n) => Ok((n, timeout)),
        _ => bail!("{USAGE}"),
    }
}

/// Builds (or repairs) an N-node lab and returns each node's engine address in `DOCKER_HOST`
/// form, manager first, once the manager lists N nodes Ready. A lab of more nodes is taken
/// down first; a lab of the same size is reused.
pub fn up(count: u8, timeout: Duration) -> anyhow::Result<Vec<String>> {
    preflight()?;
    let _lock = lock()?;
    let deadline = Instant::now() + timeout;
    let start = Instant::now();
    let nodes: Vec<Node> = (1..=count).map(Node).collect();
    if existing_nodes()?.iter().any(|n| n.0 > count) {
        progress("a lab of more nodes exists: taking it down first");
        teardown()?;
    }
    net::ensure_bridge()?;
    for &node in &nodes {
        net::ensure_node(node)?;
        if daemon::pid(node).is_none() {
            sweep::dead_node(node)?;
        }
    }
    let mut starting = daemon::ensure_running(&nodes)?;
    daemon::wait_ready(&nodes, &mut starting, deadline)?;
    swarm::ensure(&nodes, deadline)?;
    progress(&format!(
        "{count} node(s) Ready in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(nodes.iter().map(|n| n.docker_host()).collect())
}

/// Removes everything any `up` made, complete or not; does nothing when nothing exists.
pub fn down() -> anyhow::Result<()> {
    preflight()?;
    let lock = lock()?;
    let start = Instant::now();
    teardown()?;
    let _ = std::fs::remove_file(LOCK);
    drop(lock);
    progress(&format!(
        "down in {:.1} s: nothing left",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn teardown() -> anyhow::Result<()> {
    let nodes = existing_nodes()?;
    let mut lap = Instant::now();
    let mut took = |what: &str| {
        let line = format!("{what} {:.1} s", lap.elapsed().as_secs_f64());
        lap = Instant::now();
        line
    };
    let scope = sweep::Scope::lab(&nodes);
    sweep::processes(&scope)?;
    let processes = took("processes");
    sweep::mounts(&scope)?;
    let mounts = took("mounts");
    net::remove(&nodes)?;
    let network = took("network");
    sweep::cgroups()?;
    sweep::files(&nodes)?;
    let files = took("cgroups and files");
    progress(&format!(
        "removed {} node(s): {processes}, {mounts}, {network}, {files}",
        nodes.len()
    ));
    Ok(())
}

/// The addresses of a healthy lab (as `up` prints them), or an error naming what is wrong;
/// one line per node on stderr either way.
pub fn status() -> anyhow::Result<Vec<String>> {
    let nodes = existing_nodes()?;
    if nodes.is_empty() {
        bail!("no lab exists\nhint: cargo run -p xtask -- lab up 3");
    }
    let answering: Vec<Node> = nodes
        .iter()
        .copied()
        .filter(|n| daemon::ping(&n.socket()))
        .collect();
    let ready = match answering.first() {
        Some(&Node(1)) => swarm::ready_nodes(&answering)?,
        _ => Vec::new(),
    };
    let links = net::link_names()?;
    let mut healthy = true;
    for (i, &node) in nodes.iter().enumerate() {
        let state = if node != Node(i as u8 + 1) {
            "a node before it is missing"
        } else if !node.netns().exists() || !links.contains(&node.name()) {
            "its namespace or veth is missing"
        } else if daemon::pid(node).is_none() {
            "dockerd is not running"
        } else if !answering.contains(&node) {
            "dockerd does not answer"
        } else if !ready.contains(&node) {
            "not Ready in the manager's node list"
        } else {
            "Ready"
        };
        healthy &= state == "Ready";
        progress(&format!(
            "{} {} {} {state}",
            node.name(),
            node.addr(),
            node.docker_host()
        ));
    }
    if !healthy {
        bail!(
            "the lab is not healthy\nhint: lab up {} repairs it, lab down removes it",
            nodes.len()
        );
    }
    Ok(nodes.iter().map(|n| n.docker_host()).collect())
}

/// Test convenience only: copies images from the default engine into every node
/// (`docker save` | `docker load`). In production, images reach nodes through a registry.
pub fn load(images: &[String]) -> anyhow::Result<()> {
    let hosts = status()?;
    let tar = tempfile::Builder::new()
        .prefix(PREFIX)
        .suffix(".tar")
        .tempfile()
        .context("creating a temporary file for docker save")?;
    progress(&format!(
        "saving {} from the default engine",
        images.join(" ")
    ));
    output(
        Command::new("docker")
            .arg("save")
            .arg("-o")
            .arg(tar.path())
            .args(images),
    )?;
    for host in &hosts {
        output(
            Command::new("docker")
                .args(["-H", host, "load", "-q", "-i"])
                .arg(tar.path()),
        )?;
        progress(&format!("loaded into {host}"));
    }
    Ok(())
}

/// Every node of which anything exists: a namespace, a link, a pidfile, a data root or a socket.
fn existing_nodes() -> anyhow::Result<Vec<Node>> {
    let entries = |dir: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut prefixed = net::link_names()?;
    prefixed.extend(entries("/run/netns"));
    prefixed.extend(entries("/run"));
    let mut own = entries(RUN_ROOT);
    own.extend(entries(STATE_ROOT));
    own.extend(
        prefixed
            .iter()
            .filter_map(|n| n.strip_prefix(PREFIX).map(str::to_string)),
    );
    let mut nodes: Vec<Node> = own.iter().filter_map(|n| Node::parse(n)).collect();
    nodes.sort();
    nodes.dedup();
    Ok(nodes)
}

fn preflight() -> anyhow::Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let uid = status.lines().find(|l| l.starts_with("Uid:"));
    if uid.and_then(|l| l.split_whitespace().nth(2)) != Some("0") {
        bail!("the lab needs root (namespaces, links, iptables, dockerd)");
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in [
        "ip", "nsenter", "unshare", "dockerd", "docker", "iptables", "umount", "kill",
    ] {
        if !std::env::split_paths(&path).any(|d| d.join(tool).is_file()) {
            bail!("{tool} is not on PATH; the lab needs it");
        }
    }
    Ok(())
}

/// One lab command at a time on this machine.
fn lock() -> anyhow::Result<File> {
    let file = File::create(LOCK).with_context(|| format!("creating {LOCK}"))?;
    file.lock().with_context(|| format!("locking {LOCK}"))?;
    Ok(file)
}

fn progress(line: &str) {
    eprintln!("lab: {line}");
}

/// Runs a command and returns its stdout; the error carries the command and its stderr.
fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_node() {
        for i in 1..=MAX_NODES {
            let node = Node(i);
            assert!(
                node.name().len() <= 15,
                "{} is too long for a link",
                node.name()
            );
            let short = node.name().strip_prefix(PREFIX).map(str::to_string);
            assert_eq!(short.as_deref().and_then(Node::parse), Some(node));
            assert_eq!(Node::parse(&format!("n{i}.pid")), Some(node));
            assert_eq!(Node::parse(&format!("n{i}.sock")), Some(node));
        }
        for other in [
            "br",
            "n0",
            "n10",
            "netns",
            "nx",
            "n1x",
            "n",
            "bulkhead-lab-n1",
        ] {
            assert_eq!(Node::parse(other), None, "{other}");
        }
    }

    #[test]
    fn up_takes_a_count_and_a_timeout() {
        let args = |a: &[&str]| up_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(args(&["3"]).ok(), Some((3, Duration::from_secs(120))));
        assert_eq!(
            args(&["2", "--timeout", "30"]).ok(),
            Some((2, Duration::from_secs(30)))
        );
        for bad in [&["0"][..], &["10"], &[], &["3", "4"], &["3", "--timeout"]] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }
}
