//! Bad secret input over the CLI, against a server and embedded alike: an empty value, one
//! far over the 1 MiB limit (refused with the limit named, promptly: only one byte past the
//! limit is read), exactly 1 MiB (accepted), names that are paths, and a value on the command
//! line (refused without being echoed). A NUL cannot be passed in an argument at all, so it is
//! sent straight to the API. Nothing refused is stored.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bulkhead_client::{Client, ClientError, Method};
use serde_json::json;

use super::super::server_process::{Server, init, token_of};
use super::super::support::{bulkhead, text};
use super::json_of;

const MIB: usize = 1 << 20;

/// Run `cmd` with `input` on stdin (written by another thread, a broken pipe ignored); killed
/// and failed when it takes over a minute.
fn promptly(cmd: &mut Command, input: Vec<u8>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulkhead runs");
    let pid = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("bulkhead output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("`bulkhead secret set` hung on its input");
        }
    }
}

/// Assert exit `code` and that stderr holds every one of `needles`; the stderr.
fn refused(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout {}\nstderr {err}",
        text(&out.stdout)
    );
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    assert!(
        text(&out.stdout).is_empty(),
        "nothing on stdout: {}",
        text(&out.stdout)
    );
    err
}

/// Every refusal of the CLI, through `bulkhead` made by `cli`.
fn refusals(cli: &dyn Fn(&[&str]) -> Command, dir: &Path, how: &str) {
    let p = "inputs";
    let out = promptly(&mut cli(&["secret", "set", "inputs/db"]), Vec::new());
    refused(&out, 2, &["the secret value from stdin is empty"]);
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").expect("write");
    let empty = empty.to_string_lossy().into_owned();
    let out = promptly(
        &mut cli(&["secret", "set", "inputs/db", "--from-file", &empty]),
        Vec::new(),
    );
    refused(&out, 2, &["is empty", "1 byte to 1 MiB"]);

    // 10 MiB on stdin, then in a file: refused with the limit named, without hanging.
    let out = promptly(
        &mut cli(&["secret", "set", "inputs/db"]),
        vec![b'x'; 10 * MIB],
    );
    refused(&out, 1, &["at most 1 MiB (1048576 bytes)"]);
    let big = dir.join("big");
    std::fs::write(&big, vec![b'y'; 10 * MIB]).expect("write");
    let big = big.to_string_lossy().into_owned();
    let out = promptly(
        &mut cli(&["secret", "set", "inputs/db", "--from-file", &big]),
        Vec::new(),
    );
    refused(&out, 1, &["at most 1 MiB"]);

    // Names that would be paths: the rule is named, nothing is read or sent.
    let out = promptly(&mut cli(&["secret", "set", "inputs/a/b"]), b"v".to_vec());
    refused(&out, 2, &["\"a/b\" is not valid", "contains `/`"]);
    let out = promptly(&mut cli(&["secret", "set", "inputs/.."]), b"v".to_vec());
    refused(&out, 2, &["contains `..`"]);
    let out = promptly(&mut cli(&["secret", "versions", "inputs/"]), Vec::new());
    refused(&out, 2, &["it is empty"]);
    let out = promptly(&mut cli(&["secret", "rm", "../db"]), Vec::new());
    refused(&out, 2, &["project"]);

    // A value on the command line is refused and not repeated back.
    let out = promptly(
        &mut cli(&["secret", "set", "inputs/db", "hunter2-typed-here"]),
        Vec::new(),
    );
    let err = refused(&out, 2, &["never from the command line"]);
    assert!(!err.contains("hunter2"), "{err}");

    // Exactly 1 MiB is a value; nothing refused above was stored.
    let out = promptly(
        &mut cli(&["secret", "set", "inputs/max", "--json"]),
        vec![b'z'; MIB],
    );
    assert_eq!(json_of(&out, 0)["version"], 1, "{how}");
    let list = json_of(
        &promptly(&mut cli(&["secret", "ls", p, "--json"]), Vec::new()),
        0,
    );
    assert_eq!(
        list["secrets"]
            .as_array()
            .map(|s| s.iter().map(|s| s["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("max")]),
        "{how}: {list:#}"
    );
    let versions = json_of(
        &promptly(
            &mut cli(&["secret", "versions", "inputs/max", "--json"]),
            Vec::new(),
        ),
        0,
    );
    assert_eq!(versions["versions"][0]["size"], MIB, "{how}");
    let out = promptly(&mut cli(&["secret", "versions", "inputs/db"]), Vec::new());
    refused(&out, 1, &["secret inputs/db does not exist"]);
}

#[test]
fn bad_secret_input_is_refused_with_the_rule_or_the_limit_named() {
    let files = tempfile::tempdir().expect("tmp");

    // Embedded, on a state directory of its own.
    let local = tempfile::tempdir().expect("tmp");
    let embedded = |args: &[&str]| {
        let mut cmd = bulkhead();
        cmd.args(args).env("BULKHEAD_STATE_DIR", local.path());
        cmd
    };
    refusals(&embedded, files.path(), "embedded");

    // Through a server.
    let state = tempfile::tempdir().expect("tmp");
    let token = token_of(&init(state.path()));
    let log = tempfile::NamedTempFile::new().expect("tmp");
    let server = Server::start(state.path(), log.path().to_path_buf());
    let remote = |args: &[&str]| {
        let mut cmd = server.client(&token);
        cmd.args(args);
        cmd
    };
    refusals(&remote, files.path(), "remote");

    // NUL, `/` and `..` straight to the API (percent-encoded in the path): refused, naming
    // the rule where the name reaches the check, and nothing stored.
    let client = Client::new(&server.url, &token, Some(server.ca.clone())).expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let value = json!({ "value": "dmFsdWU=" });
    let put = |name: &str| {
        let path = format!("/v1/projects/inputs/secrets/{name}");
        runtime.block_on(client.request(Method::PUT, &path, Some(&value)))
    };
    match put("a%00b") {
        Err(ClientError::Api {
            status, message, ..
        }) => {
            assert_eq!(status, 400, "{message}");
            assert!(message.contains("NUL"), "{message}");
        }
        other => panic!("a NUL in a name was not refused: {other:?}"),
    }
    for name in ["a%2Fb", "%2E%2E"] {
        match put(name) {
            Err(ClientError::Api { status, .. }) => {
                assert!((400..500).contains(&status), "{name}: {status}");
            }
            other => panic!("{name} was not refused: {other:?}"),
        }
    }
    let list = runtime
        .block_on(client.request(Method::GET, "/v1/projects/inputs/secrets", None))
        .expect("list");
    assert_eq!(
        list["secrets"].as_array().map(Vec::len),
        Some(1),
        "{list:#}"
    );
}
