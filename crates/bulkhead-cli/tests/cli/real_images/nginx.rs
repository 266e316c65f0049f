//! Ready means ready, with nginx: a release whose configuration names a certificate that is not
//! there crashes at start; with no health check it must stay up for its settle time, so `up`
//! fails with nginx's own words and the previous release keeps serving. And a release whose
//! health check never passes, with `up` killed by SIGKILL at points of its roll: the next `up`
//! fails too, and the old container serves all along.

use std::process::Stdio;
use std::time::Duration;

use super::events::{Event, Events};
use super::{Project, host_port, id_of};
use crate::support::http_get;

const SITE: &str = r#"services:
  web:
    build:
      context: ./site
    user: nginx
    tmpfs: [/var/cache/nginx, /var/run/nginx]
    ports:
      - "127.0.0.1::80"
"#;

const DOCKERFILE: &str =
    "FROM bulkhead-test/nginx:1\nCOPY default.conf /etc/nginx/conf.d/default.conf\n";

fn answering(body: &str) -> String {
    format!("server {{\n    listen 80;\n    location / {{ return 200 \"{body}\\n\"; }}\n}}\n")
}

/// `GET /` on the container's published port 80.
fn page(c: &serde_json::Value) -> Option<(u16, String)> {
    http_get(host_port(c, 80), "/")
}

#[test]
fn a_release_that_crashes_at_start_fails_up_with_its_logs_and_the_previous_one_keeps_serving() {
    let p = Project::new("ng", SITE);
    p.write("site/Dockerfile", DOCKERFILE);
    p.write("site/default.conf", &answering("release one"));
    p.up();
    let one = p.only("web");
    assert_eq!(page(&one), Some((200, "release one\n".into())));

    // TLS with a certificate nobody mounted: nginx stops at once. (An upstream name that does
    // not resolve would do too where the resolver answers at once; here a lookup of an unknown
    // name takes 10 s to fail, longer than the settle time.)
    p.write(
        "site/default.conf",
        "server {\n    listen 80;\n    listen 443 ssl;\n    ssl_certificate /etc/nginx/certs/site.pem;\n    ssl_certificate_key /etc/nginx/certs/site.key;\n}\n",
    );
    let err = p.fails(&["up", "-q"]);
    assert!(
        err.contains("cannot load certificate \"/etc/nginx/certs/site.pem\""),
        "the error carries nginx's last log lines: {err}"
    );
    let still = p.only("web");
    assert_eq!(
        id_of(&still),
        id_of(&one),
        "the previous release was replaced"
    );
    assert_eq!(page(&still), Some((200, "release one\n".into())));

    // A good release with its own settle time goes through.
    p.write("site/default.conf", &answering("release two"));
    p.edit(
        "      - \"127.0.0.1::80\"\n",
        "      - \"127.0.0.1::80\"\n    x-bulkhead:\n      settle: 1s\n",
    );
    p.up();
    let two = p.only("web");
    assert_ne!(id_of(&two), id_of(&one));
    assert_eq!(page(&two), Some((200, "release two\n".into())));
}

const HEALTHY: &str = r#"services:
  web:
    image: bulkhead-test/nginx:1
    user: nginx
    tmpfs: [/var/cache/nginx, /var/run/nginx]
    ports:
      - "127.0.0.1::80"
    environment:
      ROUND: "0"
    healthcheck:
      test: ["CMD", "test", "-s", "/var/run/nginx/nginx.pid"]
      interval: 200ms
      timeout: 1s
      retries: 2
"#;

/// Where `up` is killed, in turn: when the new replica is created (the old one renamed aside),
/// started, and at its first, second and fourth health probe.
fn kill_point(trial: usize) -> (&'static str, usize) {
    [
        ("create", 1),
        ("start", 1),
        ("exec_start", 1),
        ("exec_start", 2),
        ("exec_start", 4),
    ][trial % 5]
}

#[test]
fn up_killed_mid_roll_to_a_never_ready_release_leaves_the_old_one_serving_20_times() {
    let p = Project::new("kr", HEALTHY);
    p.up();
    let old = p.only("web");
    let old_id = id_of(&old);
    assert_eq!(page(&old).map(|(s, _)| s), Some(200));
    p.edit(
        "\"/var/run/nginx/nginx.pid\"",
        "\"/var/run/nginx/never-there\"",
    );

    for trial in 0..20 {
        p.edit(
            &format!("ROUND: \"{trial}\""),
            &format!("ROUND: \"{}\"", trial + 1),
        );
        let (action, nth) = kill_point(trial);
        let events = Events::watch(&p.name);
        let mut up = p
            .command(&["up", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn up");
        let mut seen = 0;
        let is_point =
            |e: &Event| e.service == "web" && e.id != old_id && e.action.starts_with(action);
        events.until(Duration::from_secs(60), |e| {
            seen += usize::from(is_point(e));
            seen == nth
        });
        let _ = up.kill();
        let _ = up.wait();

        let err = p.fails(&["up", "-q"]);
        let web = p.containers();
        let names: Vec<&str> = web.iter().filter_map(|c| c["Name"].as_str()).collect();
        let at = format!("trial {trial} (killed at {action} #{nth})");
        assert_eq!(web.len(), 1, "{at}: {names:?} after the next up: {err}");
        assert_eq!(
            id_of(&web[0]),
            old_id,
            "{at}: the old release is gone: {err}"
        );
        assert_eq!(
            web[0]["State"]["Running"], true,
            "{at}: the old release stopped"
        );
        assert_eq!(
            page(&web[0]).map(|(s, _)| s),
            Some(200),
            "{at}: the old release does not serve"
        );
    }

    // A release that is ready replaces it.
    p.edit(
        "\"/var/run/nginx/never-there\"",
        "\"/var/run/nginx/nginx.pid\"",
    );
    p.up();
    let new = p.only("web");
    assert_ne!(id_of(&new), old_id);
    assert_eq!(page(&new).map(|(s, _)| s), Some(200));
}
