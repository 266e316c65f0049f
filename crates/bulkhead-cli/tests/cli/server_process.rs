//! A `bulkhead server` process for the tests: started on a free port of a state directory,
//! its stdout kept whole and its stderr in a file, stopped with SIGTERM (SIGKILL after 60 s)
//! even when a test fails, or killed outright; and the CLI pointed at it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::support::{bulkhead, text};

/// A `bulkhead server` process on a free port; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub ca: PathBuf,
    /// Where it unpacks uploads (its `uploads:` line).
    pub uploads: Option<PathBuf>,
    log: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start with `BULKHEAD_LOG=info`, stderr to `log`.
    pub fn start(state: &Path, log: PathBuf) -> Server {
        Server::start_logging(state, log, "info")
    }

    /// Start with `BULKHEAD_LOG=filter`, stderr to `log`.
    pub fn start_logging(state: &Path, log: PathBuf, filter: &str) -> Server {
        let err = std::fs::File::create(&log).expect("server log file");
        let mut child = bulkhead()
            .args(["server", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state)
            .env("BULKHEAD_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start bulkhead server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&kept);
        std::thread::spawn(move || {
            // Reads to the end, so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut all) = keep.lock() {
                    all.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            url: String::new(),
            ca: PathBuf::new(),
            uploads: None,
            log,
            stdout: kept,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        // `state-dir:` is the last line it prints once it listens.
        let mut announced = false;
        while !announced {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!("the server did not start:\n{}", server.log()),
            };
            if let Some(url) = line.strip_prefix("url: ") {
                server.url = url.to_string();
            } else if let Some(ca) = line.strip_prefix("ca-file: ") {
                server.ca = PathBuf::from(ca);
            } else if let Some(dir) = line.strip_prefix("uploads: ") {
                server.uploads = Some(PathBuf::from(dir));
            } else if line.starts_with("state-dir: ") {
                announced = true;
            }
        }
        assert!(
            server.url.starts_with("https://127.0.0.1:"),
            "{}",
            server.url
        );
        server
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the server wrote to stdout so far (complete once it has stopped).
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }

    /// `bulkhead ARGS` as a client of this server with `token`.
    pub fn client(&self, token: &str) -> Command {
        let mut cmd = bulkhead();
        self.point(&mut cmd, token);
        cmd
    }

    pub fn point(&self, cmd: &mut Command, token: &str) {
        cmd.env("BULKHEAD_URL", &self.url)
            .env("BULKHEAD_TOKEN", token)
            .env("BULKHEAD_CA", &self.ca);
    }

    /// SIGTERM, and the exit status once it has stopped (SIGKILL after 60 s).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Server {
    /// SIGKILL: no handler runs, nothing is cleaned up.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("bulkhead runs")
}

/// The token a command printed: its only line.
pub fn token_of(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone on stdout: {stdout:?}");
    assert!(
        lines[0].starts_with("bhk_") && lines[0].len() == 85,
        "{stdout:?}"
    );
    lines[0].to_string()
}

/// `bulkhead init --state-dir DIR`.
pub fn init(state: &Path) -> Output {
    run(bulkhead().args(["init", "--state-dir"]).arg(state))
}
