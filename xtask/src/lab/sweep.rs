//! What `down` removes besides the network: the lab's processes (containers, dockerd,
//! containerd, shims), the mounts under its roots, its cgroups, its files.
//!
//! A process is the lab's when it sits in a lab cgroup (`/bulkhead-lab-nN/...`, the containers),
//! in a lab node's network namespace (dockerd, containerd, shims, docker-proxy), or is a Docker
//! daemon program whose command line names a lab root. Nothing else is signalled.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Node, POLL, PREFIX, RUN_ROOT, STATE_ROOT, daemon, progress};

/// Programs a lab daemon runs, recognised by a lab root on their command line.
const DAEMON_PROGRAMS: [&str; 6] = [
    "dockerd",
    "containerd",
    "containerd-shim",
    "containerd-shim-runc-v2",
    "docker-proxy",
    "fuse-overlayfs",
];

/// Which of the lab's processes a scan returns.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Containers,
    All,
}

/// The whole lab (`down`), or some nodes of it (the repair of a node whose daemon died).
pub struct Scope<'a> {
    nodes: &'a [Node],
    whole_lab: bool,
}

impl<'a> Scope<'a> {
    pub fn lab(nodes: &'a [Node]) -> Self {
        Scope {
            nodes,
            whole_lab: true,
        }
    }
    pub fn nodes(nodes: &'a [Node]) -> Self {
        Scope {
            nodes,
            whole_lab: false,
        }
    }
    /// The directories whose mounts and processes belong to the scope.
    fn roots(&self) -> Vec<PathBuf> {
        if self.whole_lab {
            return vec![STATE_ROOT.into(), RUN_ROOT.into()];
        }
        self.nodes
            .iter()
            .flat_map(|n| [n.data_root(), n.exec_root()])
            .collect()
    }
}

fn scan(scope: &Scope, kind: Kind) -> Vec<u32> {
    let namespaces: BTreeSet<(u64, u64)> = scope
        .nodes
        .iter()
        .filter_map(|n| std::fs::metadata(n.netns()).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let roots = scope.roots();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && !daemon::dead(pid))
        .filter(|&pid| {
            in_lab_cgroup(pid, scope)
                || (kind == Kind::All
                    && (in_lab_netns(pid, &namespaces) || lab_daemon(pid, &roots)))
        })
        .collect()
}

/// In a cgroup under a node's `--cgroup-parent` (`/bulkhead-lab-nN/<container>`).
fn in_lab_cgroup(pid: u32, scope: &Scope) -> bool {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    in_cgroups(&cgroups, scope)
}

/// `text` is a `/proc/PID/cgroup` listing (`ID:CONTROLLERS:PATH` lines).
fn in_cgroups(text: &str, scope: &Scope) -> bool {
    let parents: Vec<String> = if scope.whole_lab {
        vec![format!("/{PREFIX}n")]
    } else {
        scope
            .nodes
            .iter()
            .map(|n| format!("/{}/", n.name()))
            .collect()
    };
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(|path| format!("{path}/"))
        .any(|path| parents.iter().any(|parent| path.starts_with(parent)))
}

fn in_lab_netns(pid: u32, namespaces: &BTreeSet<(u64, u64)>) -> bool {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .is_ok_and(|m| namespaces.contains(&(m.dev(), m.ino())))
}

/// A Docker daemon program with an argument in one of `roots`.
fn lab_daemon(pid: u32, roots: &[PathBuf]) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !DAEMON_PROGRAMS.contains(&comm.trim()) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline
        .split('\0')
        .any(|arg| roots.iter().any(|r| Path::new(arg).starts_with(r)))
}

fn signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    // A process may exit between the scan and the signal; the next scan tells.
    let _ = Command::new("kill")
        .args(["-s", signal])
        .args(pids.iter().map(u32::to_string))
        .output();
}

/// Polls until `pids` are gone; returns those still there at the deadline.
fn wait_gone(pids: &[u32], within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| !daemon::dead(p)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(POLL);
    }
}

/// Kills the containers, stops the daemons (SIGTERM, so they release their state), then
/// kills whatever of the lab is left and waits until nothing is.
pub fn processes(scope: &Scope) -> anyhow::Result<()> {
    let containers = scan(scope, Kind::Containers);
    signal("KILL", &containers);
    if !containers.is_empty() {
        progress(&format!(
            "killed {} container process(es)",
            containers.len()
        ));
    }
    let daemons: Vec<u32> = scope.nodes.iter().filter_map(|&n| daemon::pid(n)).collect();
    if !daemons.is_empty() {
        let start = Instant::now();
        signal("TERM", &daemons);
        let stubborn = wait_gone(&daemons, Duration::from_secs(20));
        signal("KILL", &stubborn);
        progress(&format!(
            "dockerd {daemons:?} stopped in {:.1} s{}",
            start.elapsed().as_secs_f64(),
            if stubborn.is_empty() {
                ""
            } else {
                " (killed after 20 s)"
            }
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rest = scan(scope, Kind::All);
        if rest.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("lab processes {rest:?} are still running 10 s after SIGKILL");
        }
        progress(&format!("killing leftover lab processes {rest:?}"));
        signal("KILL", &rest);
        wait_gone(&rest, Duration::from_secs(2));
    }
}

/// Mount points under `roots`, deepest first.
fn mounts_under(roots: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| roots.iter().any(|r| Path::new(p).starts_with(r)))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    Ok(points)
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Unmounts everything under the scope's roots (the data roots' own bind mounts, overlays,
/// shm, network namespaces of containers); lazily when a plain unmount is refused.
pub fn mounts(scope: &Scope) -> anyhow::Result<()> {
    let roots = scope.roots();
    for point in mounts_under(&roots)? {
        let plain = Command::new("umount").arg(&point).output();
        if !plain.is_ok_and(|o| o.status.success()) {
            let _ = Command::new("umount").arg("-l").arg(&point).output();
        }
    }
    let left = mounts_under(&roots)?;
    if !left.is_empty() {
        bail!(
            "mounts still there under the lab roots: {}",
            left.join(", ")
        );
    }
    Ok(())
}

/// Removes the cgroups named for lab nodes (the containers' `--cgroup-parent`), in every
/// hierarchy. A cgroup directory goes with rmdir once its children are gone.
pub fn cgroups() -> anyhow::Result<()> {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Ok(());
    };
    for hierarchy in hierarchies.flatten() {
        let Ok(groups) = std::fs::read_dir(hierarchy.path()) else {
            continue;
        };
        for group in groups.flatten() {
            let name = group.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX) && group.path().is_dir() {
                remove_cgroup(&group.path())?;
            }
        }
    }
    Ok(())
}

fn remove_cgroup(dir: &Path) -> anyhow::Result<()> {
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    for child in children {
        remove_cgroup(&child)?;
    }
    std::fs::remove_dir(dir).with_context(|| format!("removing cgroup {}", dir.display()))
}

/// Clears what a node's dead daemon left (its containerd, shims, containers, mounts and run
/// state) so that a new daemon starts clean: dockerd takes the pid of an unreaped containerd
/// for a live one. The data root (images, Swarm membership) stays.
pub fn dead_node(node: Node) -> anyhow::Result<()> {
    let nodes = [node];
    let scope = Scope::nodes(&nodes);
    processes(&scope)?;
    mounts(&scope)?;
    match std::fs::remove_dir_all(node.exec_root()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", node.exec_root().display()))
        }
        _ => Ok(()),
    }
}

/// Removes the state and run directories, the sockets and the daemons' configuration; refuses
/// while anything is mounted under them (a recursive delete would cross into the mount).
pub fn files(nodes: &[Node]) -> anyhow::Result<()> {
    if !mounts_under(&Scope::lab(nodes).roots())?.is_empty() {
        bail!("refusing to delete the lab directories while something is mounted under them");
    }
    for root in [STATE_ROOT, RUN_ROOT] {
        match std::fs::remove_dir_all(root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {root}"));
            }
            _ => {}
        }
    }
    for node in nodes {
        let _ = std::fs::remove_file(node.socket());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/run/a\040b"), "/run/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/odd\x"), r"/odd\x");
    }

    #[test]
    fn a_node_scope_is_that_node_alone() {
        let (n1, n2) = ([Node(1)], [Node(1), Node(2)]);
        let one = Scope::nodes(&n1);
        let roots = one.roots();
        assert!(
            roots
                .iter()
                .any(|r| Path::new("/run/bulkhead-lab/n1/netns/x").starts_with(r))
        );
        assert!(
            !roots
                .iter()
                .any(|r| Path::new("/run/bulkhead-lab/n10/x").starts_with(r))
        );
        assert!(
            !roots
                .iter()
                .any(|r| Path::new("/run/bulkhead-lab/n2").starts_with(r))
        );
        let lab = Scope::lab(&n2);
        assert!(
            lab.roots()
                .iter()
                .any(|r| Path::new("/var/lib/bulkhead-lab/n7").starts_with(r))
        );
        assert!(
            !lab.roots()
                .iter()
                .any(|r| Path::new("/run/bulkhead-lab-n1.sock").starts_with(r))
        );

        let container = "4:memory:/bulkhead-lab-n1/0123abcd\n1:cpu:/bulkhead-lab-n1/0123abcd\n";
        assert!(in_cgroups(container, &one));
        assert!(in_cgroups(container, &lab));
        assert!(!in_cgroups("4:memory:/bulkhead-lab-n2/0123", &one));
        assert!(in_cgroups("4:memory:/bulkhead-lab-n2/0123", &lab));
        assert!(!in_cgroups("4:memory:/docker/0123\n0::/init.scope", &lab));
        assert!(!in_cgroups("4:memory:/bulkhead-lab-n12/0", &one));
    }
}
