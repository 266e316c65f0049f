//! What the attack modules share for their Docker side: the `docker` CLI, the objects of a
//! project by owner label, their removal when a test ends, the demo binary, and images made
//! with `docker import` from exactly the files a test gives.

use std::process::Command;
use std::sync::Mutex;

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The ids (or names) `docker <kind> -q` lists with `label` (`label=k=v`).
pub fn by_label(kind: &[&str], label: &str) -> Vec<String> {
    let mut args = kind.to_vec();
    args.extend(["-q", "--filter", label]);
    docker(&args).lines().map(str::to_string).collect()
}

/// Removes, when dropped, the projects' containers, networks, volumes, firewall rules and
/// built images, then the named volumes and images.
pub struct Cleanup {
    pub projects: Vec<String>,
    pub images: Vec<String>,
    pub volumes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for project in &self.projects {
            let label = format!("label=dev.bulkhead.project={project}");
            for id in by_label(&["ps", "-a"], &label) {
                docker(&["rm", "-f", "-v", &id]);
            }
            for id in by_label(&["network", "ls"], &label) {
                docker(&["network", "rm", &id]);
            }
            for name in by_label(&["volume", "ls"], &label) {
                docker(&["volume", "rm", "-f", &name]);
            }
            use bulkhead_ports::Firewall as _;
            let _ = bulkhead_firewall::HostFirewall::new().unblock_project(project);
        }
        for v in &self.volumes {
            docker(&["volume", "rm", "-f", v]);
        }
        for image in &self.images {
            docker(&["rmi", "-f", image]);
        }
        for project in &self.projects {
            let label = format!("label=dev.bulkhead.project={project}");
            for id in by_label(&["images"], &label) {
                docker(&["rmi", "-f", &id]);
            }
        }
    }
}

/// One build of the demo at a time, across every module of the suite.
static DEMO_BUILD: Mutex<()> = Mutex::new(());

/// The static demo binary (built by the example's script when missing).
pub fn demo_binary() -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("examples/shop/image/bulkhead-demo");
    let _serial = DEMO_BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !bin.exists() {
        let built = Command::new("bash")
            .arg(root.join("examples/shop/build.sh"))
            .status()
            .expect("build.sh runs");
        assert!(built.success(), "examples/shop/build.sh failed");
    }
    std::fs::read(bin).expect("the demo binary")
}

/// An entry of an imported image.
pub enum Item<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
}

/// `docker import` of exactly `items` (no shell, nothing else), with Dockerfile `changes`.
pub fn import(tag: &str, items: &[Item<'_>], changes: &[&str]) {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        match item {
            Item::File(path, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).expect("append");
            }
            Item::Link(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).expect("append link");
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rootfs.tar");
    std::fs::write(&file, b.into_inner().expect("tar")).expect("write tar");
    let mut args = vec!["import".to_string()];
    for c in changes {
        args.extend(["--change".to_string(), c.to_string()]);
    }
    args.extend([file.to_string_lossy().into_owned(), tag.to_string()]);
    let out = Command::new("docker")
        .args(&args)
        .output()
        .expect("docker import runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
