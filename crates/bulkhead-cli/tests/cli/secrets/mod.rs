//! Secrets end to end through the CLI: canaries that must appear nowhere but in the container
//! (`canary`), new versions and key rotation under running containers (`rotation`), and bad
//! input refused with the rule or limit named (`input`). Shared here: canaries, digests, the
//! published port of a service's replica, and its secret mounts as the host sees them.

mod canary;
mod input;
mod rotation;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::support::{Shop, http_get, text};

/// A fresh random value, 48 bytes (a multiple of 3, so that its base64 is the same wherever
/// it starts in a longer text at a multiple of 3 bytes): `bulkhead-canary-` and 32 hex digits.
pub fn canary() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("randomness");
    format!("bulkhead-canary-{}", hex::encode(b))
}

pub fn sha256_hex(value: &[u8]) -> String {
    hex::encode(Sha256::digest(value))
}

/// Run `cmd` with `input` on stdin; its output.
pub fn with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulkhead runs");
    if let Some(mut stdin) = child.stdin.take() {
        // A refused command may stop reading early: a broken pipe is its business.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().expect("bulkhead output")
}

/// Assert exit code `code`, showing the output otherwise; the reply of a `--json` command.
pub fn json_of(out: &Output, code: i32) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The running replica of `service` (docker inspect JSON) and the host port its
/// `container_port` is published on.
pub fn replica(shop: &Shop, service: &str, container_port: u16) -> (Value, u16) {
    let running: Vec<Value> = shop
        .containers()
        .into_iter()
        .filter(|c| {
            c["Config"]["Labels"]["dev.bulkhead.service"] == service
                && c["State"]["Running"] == true
        })
        .collect();
    assert_eq!(running.len(), 1, "one running {service}: {running:#?}");
    let c = running.into_iter().next().expect("a replica");
    let port = c["NetworkSettings"]["Ports"][format!("{container_port}/tcp")][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{service} publishes {container_port}: {c:#}"));
    (c, port)
}

/// `GET /secret-digest/NAME` on `port` until it answers `want` (10 s at most).
pub fn assert_digest(port: u16, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        last = http_get(port, &format!("/secret-digest/{name}"));
        if let Some((200, body)) = &last
            && body.trim() == want
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("secret {name} on port {port}: want digest {want}, last answer {last:?}");
}

/// The host paths of the container's secret files (the sources of its bind mounts at
/// `/run/secrets/...`), which must be exactly `expected` (target, mode); each checked: on a tmpfs, owned by `uid`:`uid`, with its mode, mounted read-only.
pub fn secret_files(container: &Value, uid: u32, expected: &[(&str, u32)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for m in container["Mounts"].as_array().into_iter().flatten() {
        let destination = m["Destination"].as_str().unwrap_or_default();
        if !destination.starts_with("/run/secrets/") {
            continue;
        }
        let Some((_, mode)) = expected.iter().find(|(t, _)| *t == destination) else {
            panic!("unexpected secret mount {destination}: {m}");
        };
        let source = PathBuf::from(m["Source"].as_str().unwrap_or_default());
        assert_eq!(m["RW"], false, "{destination} is mounted read-only: {m}");
        let fs = Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(&source)
            .output()
            .expect("stat runs");
        assert_eq!(
            text(&fs.stdout).trim(),
            "tmpfs",
            "{} ({destination}) is on a tmpfs",
            source.display()
        );
        let meta = std::fs::metadata(&source).expect("the secret file exists on the host");
        assert_eq!((meta.uid(), meta.gid()), (uid, uid), "{}", source.display());
        assert_eq!(
            meta.mode() & 0o7777,
            *mode,
            "mode of {} ({destination}): {:o}",
            source.display(),
            meta.mode() & 0o7777
        );
        out.push(source);
    }
    assert_eq!(
        out.len(),
        expected.len(),
        "secret mounts: {:#}",
        container["Mounts"]
    );
    out
}
