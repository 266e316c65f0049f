//! The lab's Swarm: `swarm init` on node 1 (advertising its bridge address), `swarm join` of
//! the others with the worker token, and the wait until the manager lists every node Ready.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{Node, POLL, daemon, output, progress};

/// `docker -H NODE ARGS` (the CLI negotiates the API version with the 20.10 engines).
fn docker(node: Node, args: &[&str]) -> anyhow::Result<String> {
    output(
        Command::new("docker")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .args(["-H", &node.docker_host()])
            .args(args),
    )
}

/// What a node's engine says of its own Swarm membership.
struct Local {
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    state: String,
    node_id: String,
    manager: bool,
    addr: String,
}

fn local(node: Node) -> anyhow::Result<Local> {
    let text = docker(node, &["info", "--format", "{{json .Swarm}}"])?;
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("{}: reading docker info's Swarm part", node.name()))?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(Local {
        state: field("LocalNodeState"),
        node_id: field("NodeID"),
        manager: v["ControlAvailable"].as_bool().unwrap_or(false),
        addr: field("NodeAddr"),
    })
}

/// The manager's node list: node id → status (`Ready`, `Down`, `Unknown`).
fn listed(manager: Node) -> anyhow::Result<BTreeMap<String, String>> {
    let text = docker(manager, &["node", "ls", "--format", "{{.ID}} {{.Status}}"])?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, status)| (id.to_string(), status.trim().to_string()))
        .collect())
}

/// Node 1 manages a Swarm and the others are its workers, all Ready; reuses what is right,
/// re-initialises or re-joins what is not.
pub fn ensure(nodes: &[Node], deadline: Instant) -> anyhow::Result<()> {
    let manager = nodes[0];
    ensure_manager(manager)?;
    let token = docker(manager, &["swarm", "join-token", "-q", "worker"])?;
    let listed = listed(manager)?;
    for &worker in &nodes[1..] {
        ensure_worker(worker, manager, token.trim(), &listed)?;
    }
    wait_ready(nodes, deadline)
}

fn leave(node: Node, state: &str) -> anyhow::Result<()> {
    progress(&format!("{}: leaving its Swarm (was {state})", node.name()));
    docker(node, &["swarm", "leave", "--force"]).map(drop)
}

fn ensure_manager(manager: Node) -> anyhow::Result<()> {
    let me = local(manager)?;
    let addr = manager.addr().to_string();
    if me.state == "active" && me.manager && me.addr == addr {
        progress(&format!("{}: Swarm manager", manager.name()));
        return Ok(());
    }
    if me.state != "inactive" {
        leave(manager, &me.state)?;
    }
    let listen = format!("{addr}:2377");
    docker(
        manager,
        &[
            "swarm",
            "init",
            "--advertise-addr",
            &addr,
            "--listen-addr",
            &listen,
        ],
    )
    .with_context(|| format!("{}: swarm init", manager.name()))?;
    progress(&format!(
        "{}: swarm init --advertise-addr {addr}",
        manager.name()
    ));
    Ok(())
}

fn ensure_worker(
    worker: Node,
    manager: Node,
    token: &str,
    listed: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let me = local(worker)?;
    if me.state == "active" && !me.manager && listed.contains_key(&me.node_id) {
        progress(&format!("{}: Swarm worker", worker.name()));
        return Ok(());
    }
    if me.state != "inactive" {
        leave(worker, &me.state)?;
    }
    let addr = worker.addr().to_string();
    let (listen, remote) = (format!("{addr}:2377"), format!("{}:2377", manager.addr()));
    docker(
        worker,
        &[
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            &addr,
            "--listen-addr",
            &listen,
            &remote,
        ],
    )
    .with_context(|| format!("{}: swarm join {remote}", worker.name()))?;
    progress(&format!("{}: swarm join {remote}", worker.name()));
    Ok(())
}

/// Polls the manager's node list until every lab node is Ready, then removes the entries no
/// lab node owns any more (left behind by an earlier join of a node that re-joined).
fn wait_ready(nodes: &[Node], deadline: Instant) -> anyhow::Result<()> {
    let ids = nodes
        .iter()
        .map(|&n| Ok((n, local(n)?.node_id)))
        .collect::<anyhow::Result<BTreeMap<Node, String>>>()?;
    loop {
        let listed = listed(nodes[0])?;
        let waiting: Vec<Node> = nodes
            .iter()
            .copied()
            .filter(|n| listed.get(&ids[n]).map(String::as_str) != Some("Ready"))
            .collect();
        if waiting.is_empty() {
            for stale in listed.keys().filter(|id| !ids.values().any(|v| v == *id)) {
                docker(nodes[0], &["node", "rm", "--force", stale])?;
                progress(&format!("removed stale node {stale} from the node list"));
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = waiting
                .iter()
                .map(|&n| format!("{}: not Ready; {}", n.name(), daemon::log_tail(n)))
                .collect();
            bail!(
                "Swarm nodes not Ready by the deadline:\n{}",
                tails.join("\n")
            );
        }
        std::thread::sleep(POLL);
    }
}

/// The nodes the manager lists as Ready.
pub fn ready_nodes(nodes: &[Node]) -> anyhow::Result<Vec<Node>> {
    let listed = listed(nodes[0])?;
    let mut ready = Vec::new();
    for &node in nodes {
        if listed.get(&local(node)?.node_id).map(String::as_str) == Some("Ready") {
            ready.push(node);
        }
    }
    Ok(ready)
}
