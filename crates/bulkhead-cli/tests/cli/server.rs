//! `bulkhead server` and the CLI as its client over HTTPS: `init`, accounts, a developer who
//! deploys in its project and is refused outside it (another project, a spec with waivers, a
//! revoked token), the login context; then the audit log, verified offline once the server
//! stopped on SIGTERM, shows the denials. `init` twice is refused; a changed entry fails
//! `audit verify`.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::server_process::{Server, init, run, token_of};
use super::support::{Shop, bulkhead, docker, ids_by_service, text};

/// The shop's files under another project name.
fn shop_as(shop: &Shop, project: &str, args: &[&str]) -> Command {
    let mut cmd = bulkhead();
    cmd.args(args)
        .arg("--file")
        .arg(shop.compose())
        .args(["-p", project])
        .env("SHOP_PORT", shop.port.to_string())
        .current_dir(shop.dir.path());
    cmd
}

fn entries(doc: &Value) -> Vec<Value> {
    doc["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn init_makes_the_first_admin_once() {
    let state = tempfile::tempdir().expect("tmp");
    let first = init(state.path());
    token_of(&first);
    assert!(
        text(&first.stderr).contains("shown once"),
        "{}",
        text(&first.stderr)
    );
    let again = init(state.path());
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).is_empty(),
        "no token the second time: {}",
        text(&again.stdout)
    );
    assert!(
        text(&again.stderr).contains("already has accounts"),
        "{}",
        text(&again.stderr)
    );
    let verify = run(bulkhead()
        .args(["audit", "verify", "--state-dir"])
        .arg(state.path()));
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(
        text(&verify.stdout).starts_with("intact: 1 entries"),
        "{}",
        text(&verify.stdout)
    );
}

#[test]
fn audit_verify_exits_1_on_a_changed_entry_and_2_on_an_unreadable_key() {
    let state = tempfile::tempdir().expect("tmp");
    token_of(&init(state.path()));
    let verify = |extra: &[&str]| {
        run(bulkhead()
            .args(["audit", "verify", "--state-dir"])
            .arg(state.path())
            .args(extra))
    };
    let missing = state.path().join("no-such.pub");
    let out = verify(&["--pubkey", &missing.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let segment = state.path().join("audit/audit-000001.jsonl");
    let log = std::fs::read_to_string(&segment).expect("segment");
    assert!(log.contains("\"users/admin\""), "{log}");
    std::fs::write(
        &segment,
        log.replacen("\"users/admin\"", "\"users/eve\"", 1),
    )
    .expect("tamper");
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("does not verify") && err.contains("entry 1"),
        "{err}"
    );
}

#[test]
fn a_developer_deploys_through_the_server_within_its_rights_only() {
    let shop = Shop::new("v");
    let other = format!("{}x", shop.name);
    let state = tempfile::tempdir().expect("tmp");
    let admin = token_of(&init(state.path()));
    let log = tempfile::NamedTempFile::new().expect("tmp");
    let mut server = Server::start(state.path(), log.path().to_path_buf());

    let add = run(server.client(&admin).args([
        "user",
        "add",
        "dev",
        "--role",
        "developer",
        "--project",
        &shop.name,
    ]));
    let dev = token_of(&add);

    // In its project: deployed, and the page is served.
    let mut up = shop.command(&["up", "-q"]);
    server.point(&mut up, &dev);
    let out = run(&mut up);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stderr),
        server.log()
    );
    assert!(text(&out.stdout).contains("3 container(s) started"));
    let (status, body) = shop.get("/").expect("web answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Bulkhead shop"), "{body}");
    let before = ids_by_service(&shop.containers());

    // Another project: forbidden, nothing created.
    let mut elsewhere = shop_as(&shop, &other, &["up", "-q"]);
    server.point(&mut elsewhere, &dev);
    let out = run(&mut elsewhere);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("forbidden") && err.contains(&format!("in project {other}")),
        "{err}"
    );
    let label = format!("label=dev.bulkhead.project={other}");
    assert!(docker(&["ps", "-aq", "--filter", &label]).trim().is_empty());

    // A waiver: only an admin may grant one; the message names who can.
    shop.edit(
        "    command: [\"store\"]\n",
        "    command: [\"store\"]\n    privileged: true\n    x-bulkhead:\n      waivers: [{rule: no-privileged, reason: \"test\"}]\n",
    );
    let mut waived = shop.command(&["up", "-q"]);
    server.point(&mut waived, &dev);
    let out = run(&mut waived);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("`no-privileged`") && err.contains("only an admin can grant them"),
        "{err}"
    );
    assert!(err.contains("ask an admin (admin)"), "{err}");
    assert_eq!(
        ids_by_service(&shop.containers()),
        before,
        "a refused deploy changes nothing"
    );

    // The login context: the admin logs in once, then needs no variables.
    let config = tempfile::tempdir().expect("tmp");
    let mut login = bulkhead();
    login
        .args(["login", &server.url, "--token-stdin", "--ca"])
        .arg(&server.ca)
        .env("XDG_CONFIG_HOME", config.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().expect("login runs");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = writeln!(stdin, "{admin}");
    }
    let out = child.wait_with_output().expect("login output");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let saved = config.path().join("bulkhead/context.json");
    let mode = std::fs::metadata(&saved)
        .expect("context")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let users = run(bulkhead()
        .args(["user", "list", "--json"])
        .env("XDG_CONFIG_HOME", config.path()));
    assert_eq!(users.status.code(), Some(0), "{}", text(&users.stderr));
    let doc: Value = serde_json::from_slice(&users.stdout).expect("users json");
    let names: Vec<&str> = doc["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "dev"]);
    let out = run(bulkhead()
        .arg("logout")
        .env("XDG_CONFIG_HOME", config.path()));
    assert_eq!(out.status.code(), Some(0));
    assert!(!saved.exists());

    // Revoked by the admin: the developer's next request is refused.
    let list = run(server
        .client(&admin)
        .args(["token", "list", "--user", "dev", "--json"]));
    let doc: Value = serde_json::from_slice(&list.stdout).expect("tokens json");
    let id = doc["tokens"][0]["id"]
        .as_str()
        .expect("a token id")
        .to_string();
    let revoke = run(server
        .client(&admin)
        .args(["token", "revoke", &id, "--user", "dev"]));
    assert_eq!(revoke.status.code(), Some(0), "{}", text(&revoke.stderr));
    let mut ps = shop.command(&["ps"]);
    server.point(&mut ps, &dev);
    let out = run(&mut ps);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("unauthenticated"),
        "{}",
        text(&out.stderr)
    );

    // The admin reads the denials through the server.
    let log = run(server
        .client(&admin)
        .args(["audit", "log", "--json", "--actor", "dev"]));
    assert_eq!(log.status.code(), Some(0), "{}", text(&log.stderr));
    let doc: Value = serde_json::from_slice(&log.stdout).expect("audit json");
    let denied = entries(&doc)
        .iter()
        .filter(|e| e["outcome"]["kind"] == "denied" && e["action"] == "project.up")
        .count();
    assert_eq!(denied, 2, "another project, and the waiver: {doc:#}");

    // Stopped cleanly, the log verifies offline and holds every decision.
    let status = server.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        server.log()
    );
    let verify = run(bulkhead()
        .args(["audit", "verify", "--state-dir"])
        .arg(state.path()));
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).starts_with("intact: "));
    let log = run(bulkhead()
        .args(["audit", "log", "--json", "--state-dir"])
        .arg(state.path()));
    assert_eq!(log.status.code(), Some(0), "{}", text(&log.stderr));
    let doc: Value = serde_json::from_slice(&log.stdout).expect("audit json");
    let all = entries(&doc);
    let on = |resource: &str, kind: &str| {
        all.iter()
            .filter(|e| e["resource"] == resource && e["outcome"]["kind"] == kind)
            .count()
    };
    assert_eq!(on(&format!("projects/{other}"), "denied"), 1, "{doc:#}");
    assert_eq!(
        on(&format!("projects/{}", shop.name), "denied"),
        1,
        "{doc:#}"
    );
    assert_eq!(
        on(
            &format!("projects/{}/services", shop.name),
            "unauthenticated"
        ),
        1,
        "{doc:#}"
    );
    let dev_ups = all
        .iter()
        .filter(|e| e["actor"]["user"] == "dev" && e["outcome"]["code"] == "done")
        .count();
    assert_eq!(dev_ups, 1, "{doc:#}");
}
