//! F6 with real images made from Debian packages (examples/debian): stateful services roll
//! stop-first and keep their data (`postgres`, `redis`), a writable volume is not shared by
//! replicas unless declared (`scale`), ready means ready (`nginx`: a release that crashes at
//! start, and `up` killed mid-roll by SIGKILL), a tmpfs's mode applied or refused (`tmpfs`), and
//! every container setting read back from the engine as the spec wrote it (`settings`, and the
//! Compose keys added in F7: `compose_keys`; rollout shapes and lifecycle hooks: `rollout_shape`),
//! and the example apps deployed unchanged with the accepted `check --fix` (`apps`).
//! Shared here: a project written from a spec into a temporary directory, and the engine's
//! event stream for it.

mod apps;
mod compose_keys;
mod events;
mod fit;
mod nginx;
mod postgres;
mod redis;
mod rollout_shape;
mod scale;
mod settings;
mod tmpfs;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use super::secrets::with_stdin;
use super::support::{
    bulkhead, copy_dir, debian_images, docker, remove_leftovers, text, workspace_root,
};

/// A project made of a compose.yaml (and any files next to it) in a temporary directory, with
/// a unique name and its own state directory; everything it made is removed on drop.
pub struct Project {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    pub name: String,
}

impl Project {
    /// A project `bhi<pid><tag><n>` whose compose.yaml is `spec`; the Debian images exist.
    pub fn new(tag: &str, spec: &str) -> Project {
        static N: AtomicU32 = AtomicU32::new(0);
        debian_images();
        let tmp = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .expect("temp dir")
        };
        let p = Project {
            dir: tmp("bh-real"),
            state: tmp("bh-state"),
            name: format!(
                "bhi{}{tag}{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ),
        };
        p.write("compose.yaml", spec);
        p
    }

    /// A project made of a copy of `examples/apps/<app>`, unchanged.
    pub fn example(tag: &str, app: &str) -> Project {
        let from = workspace_root().join("examples/apps").join(app);
        let spec =
            std::fs::read_to_string(from.join("compose.yaml")).expect("the app's compose.yaml");
        let p = Project::new(tag, &spec);
        copy_dir(&from, p.dir.path());
        p
    }

    /// Write `content` to `path` in the project directory (parents created).
    pub fn write(&self, path: &str, content: &str) {
        let path = self.dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write a project file");
    }

    fn compose(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    /// Change the spec: replace `from` by `to` in compose.yaml (which must contain it).
    pub fn edit(&self, from: &str, to: &str) {
        let spec = std::fs::read_to_string(self.compose()).expect("read compose.yaml");
        assert!(spec.contains(from), "compose.yaml lacks {from:?}:\n{spec}");
        std::fs::write(self.compose(), spec.replacen(from, to, 1)).expect("write compose.yaml");
    }

    /// `bulkhead ARGS --file compose.yaml -p NAME`, embedded on this project's state directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = bulkhead();
        cmd.args(args)
            .arg("--file")
            .arg(self.compose())
            .arg("-p")
            .arg(&self.name)
            .env("BULKHEAD_STATE_DIR", self.state.path())
            .current_dir(self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("bulkhead runs")
    }

    /// `bulkhead ARGS`, which must exit with 0; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "bulkhead {args:?}:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    pub fn up(&self) -> String {
        self.ok(&["up", "-q"])
    }

    /// `bulkhead ARGS`, which must exit with 1 (refused or failed); its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_with(args, 1)
    }

    /// `bulkhead ARGS` exits with `code`; its stderr.
    pub fn fails_with(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "bulkhead {args:?} should fail:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// `bulkhead secret set NAME/SECRET` with `value` on stdin.
    pub fn secret_set(&self, secret: &str, value: &str) {
        let mut cmd = bulkhead();
        cmd.args(["secret", "set", &format!("{}/{secret}", self.name)])
            .env("BULKHEAD_STATE_DIR", self.state.path());
        let out = with_stdin(&mut cmd, value.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }

    /// The project's containers, as `docker inspect` JSON.
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
        serde_json::from_str(&docker(&args)).expect("docker inspect JSON")
    }

    /// The running containers of `service`.
    pub fn running(&self, service: &str) -> Vec<Value> {
        self.containers()
            .into_iter()
            .filter(|c| {
                c["Config"]["Labels"]["dev.bulkhead.service"] == service
                    && c["State"]["Running"] == true
            })
            .collect()
    }

    /// The one running container of `service`, which must be the only container of the project
    /// for that service (nothing left beside it).
    pub fn only(&self, service: &str) -> Value {
        let all: Vec<Value> = self
            .containers()
            .into_iter()
            .filter(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == service)
            .collect();
        let names: Vec<&str> = all.iter().filter_map(|c| c["Name"].as_str()).collect();
        assert_eq!(all.len(), 1, "one {service} container: {names:?}");
        assert_eq!(all[0]["State"]["Running"], true, "{names:?} runs");
        all.into_iter().next().expect("one container")
    }

    /// Names of the volumes with the project's label.
    pub fn volumes(&self) -> Vec<String> {
        let out = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.bulkhead.project={}", self.name),
        ]);
        let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        v.sort();
        v
    }

    /// The `plan --json` ops of `service` that deploy a replica in place of another.
    pub fn planned_replacements(&self, service: &str) -> Vec<Value> {
        let out = self.run(&["plan", "--json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "plan --json ({e}):\n{}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            )
        });
        let mut ops = Vec::new();
        collect_ops(&doc, &mut ops);
        ops.into_iter()
            .filter(|op| op["op"] == "deploy" && op["service"] == service)
            .filter(|op| !op["replaces"].is_null())
            .collect()
    }
}

/// Every object with an `op` key anywhere in `v` (the plan may be nested in the reply).
fn collect_ops(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("op") {
                out.push(v.clone());
            }
            m.values().for_each(|x| collect_ops(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ops(x, out)),
        _ => {}
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--volumes", "-q"]);
        remove_leftovers(&self.name);
        // Images built for the project carry its label.
        let images = Command::new("docker")
            .args([
                "images",
                "-q",
                "--filter",
                &format!("label=dev.bulkhead.project={}", self.name),
            ])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default();
        for id in images.split_whitespace() {
            let _ = Command::new("docker").args(["rmi", "-f", id]).output();
        }
    }
}

/// `docker exec CONTAINER ARGS` (as the container's user); its output.
pub fn exec(container: &Value, args: &[&str]) -> Output {
    let id = container["Id"].as_str().expect("container id");
    Command::new("docker")
        .arg("exec")
        .arg(id)
        .args(args)
        .output()
        .expect("docker exec runs")
}

/// The host port `container` publishes its `port`/tcp on.
pub fn host_port(container: &Value, port: u16) -> u16 {
    container["NetworkSettings"]["Ports"][format!("{port}/tcp")][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{} publishes {port}", container["Name"]))
}

pub fn id_of(container: &Value) -> String {
    container["Id"].as_str().unwrap_or_default().to_string()
}
