//! The lab's network on the host: one bridge (10.99.0.1/24), one network namespace and veth
//! pair per node (10.99.0.1N inside), and the DOCKER-USER rule that lets the bridge forward.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Node, POLL, PREFIX, output, progress};

pub const BRIDGE: &str = "bulkhead-lab-br";
const BRIDGE_ADDR: &str = "10.99.0.1/24";
const SUBNET: &str = "10.99.0.0/24";
/// Marks the lab's iptables rule so that `down` removes that one and no other.
const COMMENT: &str = "bulkhead-lab";

fn ip(args: &[&str]) -> anyhow::Result<String> {
    output(Command::new("ip").args(args))
}

/// Names of the host's links (without the `@peer` suffix).
pub fn link_names() -> anyhow::Result<Vec<String>> {
    let text = ip(&["-o", "link", "show"])?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect())
}

fn link_exists(name: &str) -> anyhow::Result<bool> {
    Ok(link_names()?.iter().any(|n| n == name))
}

/// The bridge with its address, up, the forward rule and the registry redirect; refuses when
/// another interface already uses the lab's subnet.
pub fn ensure_bridge() -> anyhow::Result<()> {
    let users = ip(&["-4", "-o", "addr", "show", "to", SUBNET])?;
    if let Some(other) = users
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .find(|dev| *dev != BRIDGE)
    {
        bail!("{SUBNET} is already used by {other}; the lab needs this subnet for itself");
    }
    if !link_exists(BRIDGE)? {
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        progress(&format!("bridge {BRIDGE} {BRIDGE_ADDR}"));
    }
    ip(&["addr", "replace", BRIDGE_ADDR, "dev", BRIDGE])?;
    ip(&["link", "set", BRIDGE, "up"])?;
    // The DNAT to 127.0.0.1 below is routed only when the bridge allows loopback addresses.
    let localnet = format!("/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet");
    std::fs::write(&localnet, "1").with_context(|| format!("writing {localnet}"))?;
    for rule in [forward(), registry()] {
        if !rule.apply("-C") {
            let mut insert = vec!["-t", rule.table, "-I", rule.chain, "1"];
            insert.extend_from_slice(rule.spec);
            output(Command::new("iptables").args(&insert))?;
            progress(&format!(
                "iptables -t {} {}: {}",
                rule.table, rule.chain, rule.what
            ));
        }
    }
    Ok(())
}

/// One iptables rule of the lab's, marked with [`COMMENT`].
struct Rule {
    table: &'static str,
    chain: &'static str,
    spec: &'static [&'static str],
    what: &'static str,
}

impl Rule {
    /// `iptables -t TABLE OP CHAIN SPEC` succeeded (`-C`: it exists; `-D`: one was removed).
    fn apply(&self, op: &str) -> bool {
        Command::new("iptables")
            .args(["-t", self.table, op, self.chain])
            .args(self.spec)
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

const FORWARD: &[&str] = &[
    "-i",
    BRIDGE,
    "-o",
    BRIDGE,
    "-m",
    "comment",
    "--comment",
    COMMENT,
    "-j",
    "ACCEPT",
];

/// Traffic between nodes crosses the host's FORWARD chain, whose policy is DROP under Docker;
/// Docker's DOCKER-USER chain runs first (FORWARD itself when there is no Docker chain).
fn forward() -> Rule {
    let user = Command::new("iptables")
        .args(["-S", "DOCKER-USER"])
        .output()
        .is_ok_and(|o| o.status.success());
    Rule {
        table: "filter",
        chain: if user { "DOCKER-USER" } else { "FORWARD" },
        spec: FORWARD,
        what: "accept bridge to bridge",
    }
}

/// The nodes pull from `REGISTRY` (10.99.0.1:5000), which leads to a registry a test runs on
/// 127.0.0.1:5000: there the host engine may push without TLS, as Docker trusts loopback.
fn registry() -> Rule {
    Rule {
        table: "nat",
        chain: "PREROUTING",
        spec: &[
            "-i",
            BRIDGE,
            "-d",
            "10.99.0.1",
            "-p",
            "tcp",
            "--dport",
            "5000",
            "-m",
            "comment",
            "--comment",
            COMMENT,
            "-j",
            "DNAT",
            "--to-destination",
            "127.0.0.1:5000",
        ],
        what: "10.99.0.1:5000 to the registry on 127.0.0.1:5000",
    }
}

/// The node's namespace and veth pair: `NAME` on the bridge, `eth0` inside with the node's
/// address. Recreates the pair when either end is missing.
pub fn ensure_node(node: Node) -> anyhow::Result<()> {
    let name = node.name();
    if !node.netns().exists() {
        ip(&["netns", "add", &name])?;
        progress(&format!("{name}: network namespace"));
    }
    let inside = Command::new("ip")
        .args(["-n", &name, "link", "show", "eth0"])
        .output()
        .is_ok_and(|o| o.status.success());
    let host_end = link_exists(&name)?;
    if !(inside && host_end) {
        if host_end {
            ip(&["link", "del", &name])?;
        }
        ip(&[
            "link", "add", &name, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ])
        .with_context(|| format!("{name}: creating its veth pair"))?;
        progress(&format!("{name}: veth {name} <-> eth0 {}", node.addr()));
    }
    ip(&["link", "set", &name, "master", BRIDGE, "up"])?;
    let addr = format!("{}/24", node.addr());
    ip(&["-n", &name, "addr", "replace", &addr, "dev", "eth0"])?;
    ip(&["-n", &name, "link", "set", "eth0", "up"])?;
    ip(&["-n", &name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Deletes the nodes' namespaces, every link named with the prefix, and the forward rule.
/// The kernel frees a deleted namespace (and the veth ends in it) asynchronously: wait for it.
pub fn remove(nodes: &[Node]) -> anyhow::Result<()> {
    for node in nodes {
        if node.netns().exists() {
            ip(&["netns", "del", &node.name()])?;
        }
    }
    let filter = |chain| Rule { chain, ..forward() };
    for rule in [filter("DOCKER-USER"), filter("FORWARD"), registry()] {
        while rule.apply("-D") {}
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = link_names()?
            .into_iter()
            .filter(|l| l.starts_with(PREFIX))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "links {} are still there 10 s after removal",
                left.join(", ")
            );
        }
        for link in &left {
            // Fails when the kernel removed it meanwhile; the next listing tells.
            let _ = ip(&["link", "del", link]);
        }
        std::thread::sleep(POLL);
    }
}
