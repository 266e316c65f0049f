//! Uploads never outlive their request. A real `bulkhead server` is killed with SIGKILL in the
//! middle of a deploy (its build blocked in a `RUN` step): the project it had unpacked stays on
//! the uploads tmpfs until the next start sweeps it. What the server received is read while
//! the deploy is blocked: no file `.dockerignore` or `.bulkheadignore` excludes, no file that
//! looks like a key or token — except `tls.key`, which the spec names as a secret's file and
//! which reaches the container. A client that goes away does not take the files from under the
//! deploy; they go when it ends. A clean stop removes the server's uploads directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use super::server_process::{Server, init, token_of};
use super::support::{demo_binary, docker, free_port, http_get, text, workspace_root};

/// The secret's file: it looks like a key, and the spec names it.
const TLS_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nbulkhead-upload-test\n-----END PRIVATE KEY-----\n";

/// Files that must stay on the client: (path, why).
const LEFT_BEHIND: &[(&str, &str)] = &[
    ("id_rsa", "looks like a key"),
    ("deploy.token", "looks like a token"),
    (".env.local", "a variables file Compose does not read"),
    ("debug.log", ".dockerignore"),
    ("notes/private.txt", ".bulkheadignore"),
    (".git/config", "never uploaded"),
];

/// A project whose one service builds from `image/`, published on `port`, with the secret
/// `tls` from `./tls.key`; `marker` tells the blocking build's `RUN` container apart.
struct Project {
    dir: tempfile::TempDir,
    name: String,
    port: u16,
    marker: u16,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("bh-upload")
            .tempdir()
            .expect("tmp");
        let name = format!("bht{}up", std::process::id());
        let (port, marker) = (free_port(), free_port());
        let root = dir.path();
        let write = |path: &str, content: &[u8]| {
            let at = root.join(path);
            std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
            std::fs::write(at, content).expect("write");
        };
        let compose = format!(
            "name: {name}\nservices:\n  store:\n    build:\n      context: ./image\n    command: [\"store\"]\n    ports:\n      - \"{port}:8082\"\n    user: \"10001:10001\"\n    read_only: true\n    init: true\n    secrets: [tls]\n    healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      interval: 1s\n      timeout: 2s\n      retries: 3\nsecrets:\n  tls:\n    file: ./tls.key\n"
        );
        write("compose.yaml", compose.as_bytes());
        write("tls.key", TLS_KEY.as_bytes());
        write(".dockerignore", b"*.log\n");
        write(".bulkheadignore", b"notes/\n");
        for (path, _) in LEFT_BEHIND {
            write(path, b"must not leave this machine\n");
        }
        let shop = workspace_root().join("examples/shop/image/rootfs");
        for f in files_under(&shop) {
            let content = std::fs::read(shop.join(&f)).expect("shop file");
            write(&format!("image/rootfs/{f}"), &content);
        }
        let exe = root.join("image/bulkhead-demo");
        std::fs::copy(demo_binary(), &exe).expect("copy the demo binary");
        let project = Project {
            dir,
            name,
            port,
            marker,
        };
        project.dockerfile(true);
        project
    }

    /// The image's Dockerfile; `blocking`: a `RUN` step that serves forever.
    fn dockerfile(&self, blocking: bool) {
        let run = if blocking {
            format!(
                "RUN [\"/bulkhead-demo\", \"store\", \"--listen\", \"127.0.0.1:{}\"]\n",
                self.marker
            )
        } else {
            String::new()
        };
        let text = format!(
            "FROM scratch\nCOPY rootfs/ /\nCOPY bulkhead-demo /bulkhead-demo\n{run}USER 10001:10001\nENTRYPOINT [\"/bulkhead-demo\"]\n"
        );
        std::fs::write(self.dir.path().join("image/Dockerfile"), text).expect("Dockerfile");
    }

    /// `bulkhead ARGS -f compose.yaml` against `server` with `token`.
    fn command(&self, server: &Server, token: &str, args: &[&str]) -> Command {
        let mut cmd = server.client(token);
        cmd.args(args)
            .arg("-f")
            .arg(self.dir.path().join("compose.yaml"))
            .current_dir(self.dir.path());
        cmd
    }

    /// `up` started in the background, its output piped.
    fn spawn_up(&self, server: &Server, token: &str) -> Child {
        self.command(server, token, &["up"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bulkhead up starts")
    }

    /// The files of the project as the client has them (relative paths).
    fn files(&self) -> BTreeSet<String> {
        files_under(self.dir.path())
    }

    /// The running `RUN` container of the blocking build, if there is one now.
    fn build_step(&self) -> Option<String> {
        let listed = docker(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]);
        let needle = format!("127.0.0.1:{}", self.marker);
        listed
            .lines()
            .find(|l| l.contains(&needle))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Never panics: it also runs while a failed test unwinds.
        let quiet = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default()
        };
        let needle = format!("127.0.0.1:{}", self.marker);
        let steps = quiet(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]);
        for line in steps.lines().filter(|l| l.contains(&needle)) {
            if let Some(id) = line.split_whitespace().next() {
                quiet(&["rm", "-f", id]);
            }
        }
        let label = format!("label=dev.bulkhead.project={}", self.name);
        for id in quiet(&["ps", "-aq", "--filter", &label]).split_whitespace() {
            quiet(&["rm", "-f", id]);
        }
        for kind in ["network", "volume"] {
            for id in quiet(&[kind, "ls", "-q", "--filter", &label]).split_whitespace() {
                quiet(&[kind, "rm", id]);
            }
        }
        use bulkhead_ports::Firewall as _;
        let _ = bulkhead_firewall::HostFirewall::new().unblock_project(&self.name);
        quiet(&[
            "image",
            "rm",
            "-f",
            &format!("bulkhead/store:{}", self.name),
        ]);
    }
}

/// Regular files under `dir`, relative, `/`-separated (no link is followed).
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = rel.join(e.file_name());
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    out.insert(path.to_string_lossy().into_owned());
                }
                _ => {}
            }
        }
    }
    out
}

/// The upload directories in a server's uploads directory (its lock file aside).
fn uploads_in(owner: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(owner)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Ask `probe` until it answers, for at most `limit`; a wait on state, not a timed check.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("bulkhead up output")
}

fn assert_told_what_stayed(out: &Output) {
    let err = text(&out.stderr);
    assert!(
        err.contains("not uploaded: 3 entries that look like keys or tokens")
            && err.contains(".env.local, deploy.token, id_rsa"),
        "{err}"
    );
    assert!(
        err.contains("not uploaded: 2 entries that .dockerignore or .bulkheadignore exclude: debug.log, notes/"),
        "{err}"
    );
    assert!(!err.contains("must not leave"), "never contents: {err}");
}

#[test]
fn uploads_never_outlive_their_request_even_when_the_server_is_killed() {
    let project = Project::new();
    let state = tempfile::tempdir().expect("state");
    let admin = token_of(&init(state.path()));
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut first = Server::start(state.path(), log.path().to_path_buf());
    let first_owner = first
        .uploads
        .clone()
        .expect("the server names its uploads directory");
    assert!(uploads_in(&first_owner).is_empty());

    // A deploy, blocked in its build: the upload is unpacked and in use.
    let up = project.spawn_up(&first, &admin);
    let step = wait_for("the blocked build step", Duration::from_secs(300), || {
        project.build_step()
    });
    let uploads = uploads_in(&first_owner);
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let received = files_under(&uploads[0]);
    let mut expected = project.files();
    for (path, why) in LEFT_BEHIND {
        assert!(expected.remove(*path), "{path} is in the project");
        assert!(!received.contains(*path), "{path} was uploaded ({why})");
    }
    assert!(received.contains("tls.key"), "the named key is carried");
    assert_eq!(received, expected, "exactly the project, less what stays");

    // SIGKILL: nothing runs on the way out, so the files stay where they were.
    first.kill();
    let out = finish(up);
    assert_ne!(
        out.status.code(),
        Some(0),
        "the deploy died with the server"
    );
    assert_told_what_stayed(&out);
    assert!(
        uploads[0].join("tls.key").exists(),
        "nothing could clean up after SIGKILL"
    );
    let _ = Command::new("docker").args(["rm", "-f", &step]).output();

    // The next start sweeps them.
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut second = Server::start(state.path(), log.path().to_path_buf());
    assert!(!first_owner.exists(), "swept at start: {}", second.log());
    let owner = second.uploads.clone().expect("uploads directory");
    assert_ne!(owner, first_owner);
    assert!(uploads_in(&owner).is_empty());

    // A client that goes away leaves the deploy its files; they go when it ends (failed).
    let up = project.spawn_up(&second, &admin);
    let step = wait_for(
        "the blocked build step again",
        Duration::from_secs(300),
        || project.build_step(),
    );
    let mut up = up;
    let _ = up.kill();
    let _ = up.wait();
    assert_eq!(uploads_in(&owner).len(), 1);
    docker(&["rm", "-f", &step]);
    wait_for(
        "the failed deploy's upload to go",
        Duration::from_secs(120),
        || uploads_in(&owner).is_empty().then_some(()),
    );

    // A deploy that succeeds: the named key reached the container as its secret.
    project.dockerfile(false);
    let out = project
        .command(&second, &admin, &["up"])
        .output()
        .expect("bulkhead up");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stderr),
        second.log()
    );
    assert_told_what_stayed(&out);
    let (status, digest) = http_get(project.port, "/secret-digest/tls").expect("the store answers");
    assert_eq!(status, 200, "{digest}");
    assert_eq!(
        digest.trim(),
        hex::encode(sha2::Sha256::digest(TLS_KEY.as_bytes()))
    );
    assert!(uploads_in(&owner).is_empty(), "gone when the request ended");

    let down = project
        .command(&second, &admin, &["down", "-q"])
        .output()
        .expect("bulkhead down");
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    let status = second.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        second.log()
    );
    assert!(
        !owner.exists(),
        "a clean stop removes the uploads directory"
    );
}
