//! The engine's container events for one project (`docker events`, from a moment taken before
//! the watch starts, so nothing between that moment and the subscription is missed), read on a
//! thread into a channel.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// One container event: what happened (`create`, `start`, `die`, `rename`,
/// `exec_start: ...`), to which container, of which service.
#[derive(Clone, Debug)]
pub struct Event {
    pub action: String,
    pub id: String,
    pub service: String,
    pub name: String,
}

pub struct Events {
    child: Child,
    rx: Receiver<Event>,
}

impl Events {
    /// Watch the container events of `project` from now on.
    pub fn watch(project: &str) -> Events {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let mut child = Command::new("docker")
            .args([
                "events",
                "--since",
                &format!("{}.{:09}", since.as_secs(), since.subsec_nanos()),
                "--filter",
                "type=container",
                "--filter",
                &format!("label=dev.bulkhead.project={project}"),
                "--format",
                "{{json .}}",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let attr = |k: &str| {
                    v["Actor"]["Attributes"][k]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                };
                let event = Event {
                    action: v["Action"].as_str().unwrap_or_default().to_string(),
                    id: v["Actor"]["ID"].as_str().unwrap_or_default().to_string(),
                    service: attr("dev.bulkhead.service"),
                    name: attr("name"),
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Events { child, rx }
    }

    /// The next event, waiting at most `limit`.
    pub fn next(&self, limit: Duration) -> Option<Event> {
        self.rx.recv_timeout(limit).ok()
    }

    /// Events until one matches `want` (returned last), waiting at most `limit` in all.
    pub fn until(&self, limit: Duration, mut want: impl FnMut(&Event) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(e) = self.next(deadline.saturating_duration_since(Instant::now())) {
            let done = want(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
        let got: Vec<String> = seen
            .iter()
            .map(|e| format!("{} {}", e.action, e.name))
            .collect();
        panic!("no such event within {limit:?}; saw {got:?}");
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
