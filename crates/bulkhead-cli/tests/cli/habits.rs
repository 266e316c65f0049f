//! Docker Compose habits and honest answers: project options before the command, `up -d`,
//! `down -v`, `ps` of nothing, `logs` and `rollback` of what does not exist, an engine that
//! does not answer (exit 3; commands that need none run without it), `--json` errors as JSON,
//! and every error said exactly once.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::server_process::{Server, init, token_of};
use super::support::{Shop, bulkhead, text};

/// `bulkhead ARGS` embedded on `state`, in `dir`, with no Compose variables from the test's
/// environment.
fn embedded(state: &Path, dir: &Path, args: &[&str]) -> Output {
    bulkhead()
        .args(args)
        .current_dir(dir)
        .env("BULKHEAD_STATE_DIR", state)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .expect("bulkhead runs")
}

/// The stderr's `error:` lines: exactly one, which contains each of `needles` exactly once.
fn one_error(out: &Output, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    for n in needles {
        assert_eq!(stderr.matches(n).count(), 1, "{n:?} once:\n{stderr}");
    }
    stderr
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out.stdout)))
}

const ONE: &str = "services:
  web:
    image: bulkhead-test/bookworm:base
    user: \"10001:10001\"
";

#[test]
fn project_options_go_before_the_command_as_with_docker_compose() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("x.yaml"), ONE).expect("write");
    let (d, s) = (dir.path(), state.path());
    let p = format!("bhhabit{}", std::process::id());

    let check = embedded(s, d, &["-f", "x.yaml", "-p", &p, "check", "--json"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(json(&check)["project"]["name"], p.as_str());

    // Before the command and after it, merged; --state-dir too.
    let sd = s.to_str().expect("utf-8 path");
    let ps = embedded(
        s,
        d,
        &["--state-dir", sd, "-f", "x.yaml", "ps", "-p", &p, "--json"],
    );
    assert_eq!(ps.status.code(), Some(0), "{}", text(&ps.stderr));
    assert_eq!(json(&ps)["project"], p.as_str());

    // Before `logs`, -f is the file; after it, --follow (nothing deployed: an error naming it).
    let logs = embedded(s, d, &["-f", "x.yaml", "-p", &p, "logs", "-f", "web"]);
    assert_eq!(logs.status.code(), Some(1), "{}", text(&logs.stderr));
    one_error(&logs, &[&p]);

    // One value on each side must agree; a project option before a command without one is
    // bad usage.
    let twice = embedded(s, d, &["-p", "one", "ps", "-p", "two"]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice.stderr));
    one_error(&twice, &["-p/--project-name"]);
    let stray = embedded(s, d, &["-f", "x.yaml", "user", "list"]);
    assert_eq!(stray.status.code(), Some(2), "{}", text(&stray.stderr));
    one_error(&stray, &["-f/--file"]);
}

#[test]
fn ps_of_nothing_is_an_empty_listing_and_json_stays_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    let (d, s) = (dir.path(), state.path());
    let p = format!("bhnothing{}", std::process::id());

    let ps = embedded(s, d, &["ps", "-p", &p]);
    assert_eq!(ps.status.code(), Some(0), "{}", text(&ps.stderr));
    assert!(
        text(&ps.stdout).starts_with("NAME "),
        "{}",
        text(&ps.stdout)
    );
    assert_eq!(text(&ps.stdout).lines().count(), 1, "{}", text(&ps.stdout));

    let ps = embedded(s, d, &["ps", "-p", &p, "--json"]);
    assert_eq!(ps.status.code(), Some(0), "{}", text(&ps.stderr));
    let doc = json(&ps);
    assert_eq!(doc["containers"], serde_json::json!([]), "{doc}");

    // Errors of --json commands are JSON on stdout, not text.
    for args in [
        &["logs", "web", "-p", &p, "--json"][..],
        &["rollback", "web", "-p", &p, "--json"],
        &["releases", "web", "-p", &p, "--json"],
        &["ps", "--json"],
        &["up", "--json"],
    ] {
        let out = embedded(s, d, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let doc = json(&out);
        let message = doc["error"]["message"]
            .as_str()
            .or_else(|| doc["errors"][0]["message"].as_str());
        assert!(message.is_some(), "{args:?}: {doc}");
        assert!(
            text(&out.stderr).is_empty(),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn logs_and_rollback_of_what_does_not_exist_say_so_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    let (d, s) = (dir.path(), state.path());
    let p = format!("bhnone{}", std::process::id());
    for args in [
        &["logs", "web", "-p", &p][..],
        &["rollback", "web", "-p", &p],
        &["rollback", "web", "-p", &p, "--to", "3"],
        &["releases", "web", "-p", &p],
    ] {
        let out = embedded(s, d, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = one_error(&out, &[&format!("project `{p}`")]);
        assert!(!stderr.contains("18446744073709551614"), "{stderr}");
    }

    // An invalid spec behind a project name was said twice (its cause quoted it again).
    std::fs::write(d.join("compose.yaml"), format!("{ONE}    bogus: 1\n")).expect("write");
    for args in [&["ps"][..], &["logs", "web"], &["up"], &["check"]] {
        let out = embedded(s, d, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        one_error(&out, &["key `bogus` is not supported"]);
    }
}

#[test]
fn an_engine_that_does_not_answer_is_exit_3_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    let p = format!("bhnoengine{}", std::process::id());
    let run = |args: &[&str]| {
        bulkhead()
            .args(args)
            .current_dir(dir.path())
            .env("BULKHEAD_STATE_DIR", state.path())
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .output()
            .expect("bulkhead runs")
    };
    let out = run(&["ps", "-p", &p]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = one_error(&out, &["dockerd", "hint:"]);
    assert!(stderr.contains("unix:///nonexistent.sock"), "{stderr}");

    let out = run(&["ps", "-p", &p, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(json(&out)["error"]["code"], "engine_unavailable");
}

#[test]
fn commands_that_need_no_engine_never_reach_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    // A socket path that does not exist: any attempt to reach the engine fails.
    let socket = dir.path().join("no-engine/docker.sock");
    let host = format!("unix://{}", socket.display());
    let p = format!("bhlazy{}", std::process::id());
    let run = |args: &[&str]| {
        bulkhead()
            .args(args)
            .current_dir(dir.path())
            .env("BULKHEAD_STATE_DIR", state.path())
            .env("DOCKER_HOST", &host)
            .output()
            .expect("bulkhead runs")
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        out
    };

    ok(&["init"]);
    let users = json(&ok(&["user", "list", "--json"]));
    assert_eq!(users["users"][0]["name"], "admin", "{users}");
    ok(&["user", "add", "dev", "--role", "developer", "--project", &p]);
    ok(&["token", "list", "--user", "dev"]);
    ok(&["role", "list", "dev"]);
    // A project that was never deployed has nothing to roll: setting a secret needs no engine.
    let value = dir.path().join("value");
    std::fs::write(&value, "s3cret").expect("write the value");
    let secret = format!("{p}/db");
    let value_arg = value.to_string_lossy().to_string();
    ok(&["secret", "set", &secret, "--from-file", &value_arg]);
    let secrets = json(&ok(&["secret", "ls", &p, "--json"]));
    assert_eq!(secrets["secrets"][0]["name"], "db", "{secrets}");
    // The store answers for a service that was never deployed, not the engine.
    let out = run(&["releases", "web", "-p", &p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("engine"),
        "{}",
        text(&out.stderr)
    );
    ok(&["audit", "log"]);
    ok(&["audit", "verify"]);

    // A command that needs the engine says which one does not answer.
    let out = run(&["ps", "-p", &p]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = one_error(&out, &["container engine", &host]);
    assert!(
        stderr.contains("hint:") && stderr.contains("dockerd"),
        "{stderr}"
    );

    // ... and the refusal is in the audit log like any other answer.
    let log = json(&ok(&["audit", "log", "--action", "service.list", "--json"]));
    let entry = &log["entries"][0];
    assert_eq!(entry["outcome"]["code"], "engine_unavailable", "{log}");
}

/// `bulkhead ARGS` for `shop` with every project option before the command.
fn before(shop: &Shop, args: &[&str]) -> Output {
    bulkhead()
        .arg("--file")
        .arg(shop.compose())
        .args(["-p", &shop.name, "--state-dir"])
        .arg(shop.state_dir())
        .args(args)
        .env("SHOP_PORT", shop.port.to_string())
        .current_dir(shop.dir.path())
        .output()
        .expect("bulkhead runs")
}

#[test]
fn up_d_logs_rollback_and_down_v_with_options_first() {
    let shop = Shop::new("habit");
    let up = before(&shop, &["up", "-d", "-q"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let ps = before(&shop, &["ps", "--json"]);
    assert_eq!(json(&ps)["containers"].as_array().map(Vec::len), Some(3));

    let logs = before(&shop, &["logs", "web", "--tail", "5", "--json"]);
    assert_eq!(logs.status.code(), Some(0), "{}", text(&logs.stderr));
    assert_eq!(json(&logs)["service"], "web");
    let unknown = before(&shop, &["logs", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown.stderr));
    one_error(&unknown, &["`nosuch`", "api, store, web"]);

    let first = before(&shop, &["rollback", "web"]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    one_error(&first, &["release 1 is its first"]);
    let unknown = before(&shop, &["rollback", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown.stderr));
    one_error(&unknown, &["`nosuch`"]);

    let down = before(&shop, &["down", "-v", "-q"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert!(
        shop.labelled("volume").is_empty(),
        "volumes left by down -v"
    );
    let after = before(&shop, &["rollback", "web"]);
    assert_eq!(after.status.code(), Some(1), "{}", text(&after.stderr));
    one_error(&after, &["no active release"]);
}

#[test]
fn errors_through_a_server_are_said_once() {
    let state = tempfile::tempdir().expect("tmp");
    let log = state.path().join("server.log");
    let token = token_of(&init(state.path()));
    let server = Server::start(state.path(), log);
    let dir = tempfile::tempdir().expect("tmp");
    let p = format!("bhremote{}", std::process::id());
    let run = |args: &[&str]| -> Output {
        let mut cmd: Command = server.client(&token);
        cmd.args(args)
            .current_dir(dir.path())
            .output()
            .expect("bulkhead runs")
    };
    for args in [
        &["logs", "web", "-p", &p][..],
        &["rollback", "web", "-p", &p],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        one_error(&out, &[&format!("project `{p}`")]);
    }
    let ps = run(&["ps", "-p", &p, "--json"]);
    assert_eq!(ps.status.code(), Some(0), "{}", text(&ps.stderr));
    assert_eq!(json(&ps)["containers"], serde_json::json!([]));
}
