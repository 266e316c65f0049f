//! F7's goal, end to end: the example apps of examples/apps — Compose files written the way
//! public samples write them, with no `user:`, no read-only root, no tmpfs — run hardened from
//! their unchanged files plus the override `check --fix` writes, and work: Flask counts in Redis,
//! nginx proxies to Flask, which writes rows to PostgreSQL; Redis's counter and PostgreSQL's
//! rows survive `down` and `up`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Project, exec, host_port};
use crate::support::{http_get, text};

/// Poll `GET /` on `port` until it answers 200 (a service with no health check is ready when
/// `up` returns, but a proxy's first connection may still be refused while it starts); the body.
fn get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http_get(port, "/");
        if let Some((200, body)) = &answer {
            return body.clone();
        }
        assert!(Instant::now() < deadline, "GET / on {port}: {answer:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Non-root `user`, read-only root, no capability, no new privileges.
fn hardened(c: &Value, user: &str) {
    let name = &c["Name"];
    assert_eq!(c["Config"]["User"], user, "{name}");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true, "{name}");
    assert_eq!(
        c["HostConfig"]["CapDrop"],
        serde_json::json!(["ALL"]),
        "{name}"
    );
    let opts = c["HostConfig"]["SecurityOpt"].to_string();
    assert!(opts.contains("no-new-privileges"), "{name}: {opts}");
}

/// `check` before the fix does not call the files deployable as they are (exit 1) and builds
/// nothing; `check --fix` builds what it must read and writes the override; a second `check`
/// reads it and passes. The override.
fn accept_the_fix(p: &Project) -> String {
    let before = p.run(&["check"]);
    let said = format!("{}{}", text(&before.stdout), text(&before.stderr));
    assert_eq!(before.status.code(), Some(1), "{said}");
    assert!(said.contains("NOT deployable as it is"), "{said}");
    // `check` runs no Dockerfile: the built images are read once `--fix` builds them.
    assert!(said.contains("is not built yet"), "{said}");
    p.ok(&["check", "--fix"]);
    let file = std::fs::read_to_string(p.dir.path().join("compose.bulkhead.yaml"))
        .expect("check --fix wrote compose.bulkhead.yaml");
    let again = p.ok(&["check"]);
    assert!(again.contains("compose.bulkhead.yaml"), "{again}");
    file
}

#[test]
fn flask_and_redis_run_hardened_from_their_unchanged_compose_file_and_the_fix() {
    let p = Project::example("af", "flask-redis");
    let file = accept_the_fix(&p);
    // Flask's image has no account of its own: nobody. Redis: its own account, its VOLUME kept.
    assert!(file.contains("user: \"65534:65534\""), "{file}");
    assert!(file.contains("user: \"999:999\""), "{file}");
    assert!(file.contains("\"redis-data:/data\""), "{file}");
    p.up();
    let web = p.only("web");
    hardened(&web, "65534:65534");
    hardened(&p.only("redis"), "999:999");
    let port = host_port(&web, 8000);
    assert!(get(port).contains("seen 1 times"));
    assert!(get(port).contains("seen 2 times"));
    let save = exec(&p.only("redis"), &["redis-cli", "SAVE"]);
    assert_eq!(text(&save.stdout).trim(), "OK", "{}", text(&save.stderr));
    assert!(get(port).contains("seen 3 times"));

    // Down and up again: the counter carries on from the volume the fix named.
    p.ok(&["down", "-q"]);
    assert!(p.containers().is_empty());
    p.up();
    let port = host_port(&p.only("web"), 8000);
    let body = get(port);
    assert!(body.contains("seen 4 times"), "{body}");
}

#[test]
fn nginx_flask_postgres_and_redis_run_hardened_from_their_unchanged_compose_file_and_the_fix() {
    let p = Project::example("an", "nginx-flask-postgres");
    let file = accept_the_fix(&p);
    for user in ["65534:65534", "999:999", "101:101"] {
        assert!(
            file.contains(&format!("user: \"{user}\"")),
            "{user}: {file}"
        );
    }
    p.up();
    let proxy = p.only("proxy");
    hardened(&proxy, "101:101");
    hardened(&p.only("backend"), "65534:65534");
    hardened(&p.only("db"), "999:999");
    hardened(&p.only("cache"), "999:999");
    let port = host_port(&proxy, 80);
    assert_eq!(get(port).trim(), "visits 1 hits 1");
    assert_eq!(get(port).trim(), "visits 2 hits 2");
    // The password is a secret file on a tmpfs, not in the environment.
    let env = p.only("backend")["Config"]["Env"].to_string();
    assert!(!env.contains("an example password"), "{env}");

    // Down and up again: the rows and the counter are still there.
    p.ok(&["down", "-q"]);
    p.up();
    let port = host_port(&p.only("proxy"), 80);
    assert_eq!(get(port).trim(), "visits 3 hits 3");
}
