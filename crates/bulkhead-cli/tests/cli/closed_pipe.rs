//! A closed pipe on stdout or stderr (`bulkhead check | head -1`, `bulkhead up 2>&1 | head -2`)
//! ends that output quietly: no panic (exit 101), the command's own exit code, and a deploy
//! that runs to its end. Real pipes: either no reader at all from the start (every write fails
//! with EPIPE), or a reader that takes one line and goes away while more than a pipe's buffer
//! is still to come (the writer is blocked in a write when it goes).

use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Read};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::support::{Shop, bulkhead, text, workspace_root};

/// A pipe whose read end is already closed.
fn closed() -> PipeWriter {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer
}

/// Everything a stream still has to say (stderr, when stdout is the closed one).
fn rest(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

fn no_panic(code: Option<i32>, stderr: &str) {
    assert_ne!(code, Some(101), "panicked:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn check(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = bulkhead();
    cmd.arg("check")
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES");
    cmd
}

/// Spawn with stdout closed, stderr read to the end.
fn stdout_closed(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(closed())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulkhead runs");
    let stderr = rest(child.stderr.take().expect("stderr"));
    let status = child.wait().expect("wait");
    (status.code(), stderr)
}

/// Spawn with stderr closed, stdout read to the end.
fn stderr_closed(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(closed())
        .spawn()
        .expect("bulkhead runs");
    let stdout = rest(child.stdout.take().expect("stdout"));
    let status = child.wait().expect("wait");
    (status.code(), stdout)
}

/// Read one line of `stream`, then close it while the rest is still to come.
fn one_line_then_close(stream: PipeReader) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("one line");
    drop(reader);
    line
}

#[test]
fn check_with_stdout_closed_keeps_its_exit_code_and_does_not_panic() {
    let shop = workspace_root().join("examples/shop");
    let (code, stderr) = stdout_closed(check(&shop, &[]));
    no_panic(code, &stderr);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = stdout_closed(check(&shop, &["--json"]));
    no_panic(code, &stderr);
    assert_eq!(code, Some(0), "{stderr}");

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: example/web:1\n    privileged: true\n",
    )
    .expect("write");
    let (code, stderr) = stdout_closed(check(dir.path(), &[]));
    no_panic(code, &stderr);
    assert_eq!(code, Some(1), "a refusal stays exit 1: {stderr}");
}

#[test]
fn errors_with_stderr_closed_keep_their_exit_code_and_do_not_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stdout) = stderr_closed(check(dir.path(), &["-f", "missing.yaml"]));
    assert_eq!(code, Some(2), "{stdout}");
    std::fs::write(dir.path().join("compose.yaml"), "services: [\n").expect("write");
    let (code, stdout) = stderr_closed(check(dir.path(), &[]));
    assert_eq!(code, Some(2), "{stdout}");
    // A usage error from a deploying command (the `error:` and `hint:` lines of `report`).
    let mut cmd = bulkhead();
    cmd.args(["ps", "-p", "Not A Name"]).current_dir(dir.path());
    let (code, stdout) = stderr_closed(cmd);
    assert_eq!(code, Some(2), "{stdout}");
}

/// More than a pipe's 64 KiB of text: the reader takes one line and leaves while `check` is
/// still blocked writing the rest.
#[test]
fn a_reader_that_leaves_after_one_line_of_a_long_report_ends_it_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut spec = String::from("services:\n");
    for i in 0..600 {
        spec.push_str(&format!(
            "  service-number-{i:04}:\n    image: example/s:1\n    user: \"10001\"\n    depends_on: [service-number-{:04}]\n",
            (i + 1) % 600
        ));
    }
    // A cycle would be refused early; break it.
    let spec = spec.replacen("    depends_on: [service-number-0000]\n", "", 1);
    std::fs::write(dir.path().join("compose.yaml"), &spec).expect("write");
    let full = check(dir.path(), &[]).output().expect("bulkhead runs");
    assert!(
        full.stdout.len() > 128 * 1024,
        "the report is longer than a pipe holds: {} bytes\n{}",
        full.stdout.len(),
        text(&full.stderr)
    );
    let expected = full.status.code();

    for args in [&[][..], &["--json"][..]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut child = check(dir.path(), args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("bulkhead runs");
        let first = one_line_then_close(reader);
        assert!(!first.is_empty());
        let stderr = rest(child.stderr.take().expect("stderr"));
        let code = child.wait().expect("wait").code();
        no_panic(code, &stderr);
        assert_eq!(code, expected, "{args:?}: {stderr}");
    }
}

/// `up` with nobody reading its progress (stderr) nor its report (stdout): the deploy runs to
/// its end and says so with exit 0; every container is up afterwards.
#[test]
fn up_with_stdout_and_stderr_closed_deploys_everything() {
    let shop = Shop::new("pipe");
    let mut cmd = shop.command(&["up"]);
    let status = cmd
        .stdout(closed())
        .stderr(closed())
        .status()
        .expect("bulkhead runs");
    assert_eq!(status.code(), Some(0));
    let ps = shop.bulkhead(&["ps", "--json"]);
    let doc: Value = serde_json::from_slice(&ps.stdout).expect("ps json");
    let containers = doc["containers"].as_array().cloned().unwrap_or_default();
    assert_eq!(containers.len(), 3, "{doc:#}");
    assert!(
        containers.iter().all(|c| c["state"] == "running"),
        "{doc:#}"
    );

    // `up 2>&1 | head -2` with a change to roll out: the reader leaves after one line of
    // progress; the rollout still completes.
    shop.edit(
        "API_URL: http://api:8081",
        "API_URL: http://api:8081\n      X: \"2\"",
    );
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = shop
        .command(&["up"])
        .stdout(writer.try_clone().expect("clone"))
        .stderr(writer)
        .spawn()
        .expect("bulkhead runs");
    let first = one_line_then_close(reader);
    assert!(!first.is_empty());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "after {first:?}");
    let plan = shop.bulkhead(&["plan"]);
    assert!(
        text(&plan.stdout).contains("nothing to do"),
        "the rollout was left half-done:\n{}{}",
        text(&plan.stdout),
        text(&plan.stderr)
    );
}

/// `bulkhead server 2>&1 | head -5`: its log lines (tracing, on stderr) and, once read, its
/// announcement (stdout) go nowhere; it keeps serving and stops cleanly on SIGTERM.
#[test]
fn a_server_whose_log_nobody_reads_keeps_serving_and_stops_cleanly() {
    let state = tempfile::tempdir().expect("temp dir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = bulkhead()
        .args(["server", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state.path())
        .env("BULKHEAD_LOG", "debug")
        .stdout(writer)
        .stderr(closed())
        .spawn()
        .expect("bulkhead server runs");
    let (mut url, mut ca) = (String::new(), String::new());
    for line in BufReader::new(reader).lines().map_while(Result::ok) {
        if let Some(u) = line.strip_prefix("url: ") {
            url = u.to_string();
        } else if let Some(c) = line.strip_prefix("ca-file: ") {
            ca = c.to_string();
        } else if line.starts_with("state-dir: ") {
            break; // the last line; the reader goes away
        }
    }
    assert!(url.starts_with("https://") && !ca.is_empty(), "{url} {ca}");
    // A request it logs (and refuses: no such token).
    let mut client = bulkhead();
    client
        .args(["ps", "-p", "shop"])
        .env("BULKHEAD_URL", &url)
        .env("BULKHEAD_TOKEN", "bhk_not-a-token")
        .env("BULKHEAD_CA", &ca);
    let out = client.output().expect("bulkhead runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        child.try_wait().expect("try_wait"),
        None,
        "the server stopped"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}
