//! F7 item 4 on the engine: lifecycle hooks run through the engine's exec (`post_start` writes
//! a file on a tmpfs that `docker exec` reads back; `pre_stop` runs in the old replica before
//! it stops, seen in the engine's events), and `update_config.parallelism: 2` replaces two
//! replicas per batch (the engine's create and destroy events, and `up`'s own lines).

use std::time::Duration;

use super::events::Events;
use super::{Project, exec};
use crate::support::text;

const HOOKS: &str = r#"services:
  box:
    image: bulkhead-test/bookworm:base
    user: "65534:65534"
    entrypoint: ["/bin/sh", "-c"]
    command: ["exec sleep infinity"]
    tmpfs: [/run/hook]
    labels: {round: "1"}
    x-bulkhead:
      settle: 1s
    post_start:
      - command: ["/bin/sh", "-c", "echo \"$$GREETING $$(id -u)\" > /run/hook/started"]
        environment: {GREETING: hello-from-post-start}
    pre_stop:
      - command: ["/bin/sh", "-c", "echo bye > /run/hook/stopping"]
"#;

#[test]
fn post_start_runs_before_ready_and_pre_stop_before_the_stop() {
    let p = Project::new("hk", HOOKS);
    let out = p.run(&["up"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("post_start[0] (`/bin/sh`) done"), "{said}");
    assert!(
        !said.contains("hello-from-post-start"),
        "a hook's environment was shown: {said}"
    );

    // post_start ran in the replica, as the service's user, with its environment.
    let old = p.only("box");
    let read = exec(&old, &["cat", "/run/hook/started"]);
    assert!(read.status.success(), "{}", text(&read.stderr));
    assert_eq!(text(&read.stdout).trim(), "hello-from-post-start 65534");

    // A new release replaces it: pre_stop runs in the old replica before it dies.
    let old_id = old["Id"].as_str().unwrap_or_default().to_string();
    let events = Events::watch(&p.name);
    p.edit("round: \"1\"", "round: \"2\"");
    let out = p.run(&["up"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("pre_stop[0] (`/bin/sh`) done"), "{said}");
    let seen = events.until(Duration::from_secs(60), |e| {
        e.id == old_id && e.action == "destroy"
    });
    let of_old: Vec<&str> = seen
        .iter()
        .filter(|e| e.id == old_id)
        .map(|e| e.action.as_str())
        .collect();
    let hook = of_old
        .iter()
        .position(|a| a.starts_with("exec_start") && a.contains("/run/hook/stopping"))
        .unwrap_or_else(|| panic!("no pre_stop exec in the old replica: {of_old:?}"));
    let died = of_old
        .iter()
        .position(|a| *a == "die")
        .unwrap_or_else(|| panic!("the old replica did not die: {of_old:?}"));
    assert!(hook < died, "pre_stop ran after the stop: {of_old:?}");
    let new = p.only("box");
    let read = exec(&new, &["cat", "/run/hook/started"]);
    assert_eq!(text(&read.stdout).trim(), "hello-from-post-start 65534");
}

const BATCHES: &str = r#"services:
  box:
    image: bulkhead-test/bookworm:base
    user: "65534:65534"
    entrypoint: ["/bin/sh", "-c"]
    command: ["exec sleep infinity"]
    labels: {round: "1"}
    deploy:
      replicas: 4
      update_config:
        parallelism: 2
        monitor: 1s
"#;

#[test]
fn update_config_parallelism_two_replaces_two_replicas_per_batch() {
    let p = Project::new("pa", BATCHES);
    p.up();
    assert_eq!(p.running("box").len(), 4);
    p.edit("round: \"1\"", "round: \"2\"");
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("roll box: 2 replicas at a time"),
        "the plan shows the shape: {plan}"
    );

    let events = Events::watch(&p.name);
    let out = p.run(&["up"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("batch 1: replacing replicas 1, 2 at once"),
        "{said}"
    );
    assert!(
        said.contains("batch 2: replacing replicas 3, 4 at once"),
        "{said}"
    );

    // Per the engine: new replicas are created two at a time, and a batch's old replicas are
    // gone before the next batch's first create.
    let mut destroyed = 0;
    let seen = events.until(Duration::from_secs(120), |e| {
        if e.action == "destroy" {
            destroyed += 1;
        }
        destroyed == 4
    });
    let mut alive_new = 0i32;
    let mut most = 0;
    let mut order = Vec::new();
    for e in seen.iter().filter(|e| e.service == "box") {
        match e.action.as_str() {
            "create" => {
                alive_new += 1;
                order.push('C');
            }
            "destroy" => {
                alive_new -= 1;
                order.push('D');
            }
            _ => {}
        }
        most = most.max(alive_new);
    }
    let order: String = order.into_iter().collect();
    assert_eq!(order, "CCDDCCDD", "creates and destroys by batch");
    assert_eq!(most, 2, "two new replicas at most beside the old ones");
    assert_eq!(p.running("box").len(), 4);
}
