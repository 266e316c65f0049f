//! The Compose keys added in F7 applied as written: a service that sets each of them is
//! deployed with `up`, and each is read back from `docker inspect` — one row per key, as in
//! `settings` — and, where the container shows it, from inside (/etc/hosts, /etc/resolv.conf,
//! /dev/shm, the groups).

use serde_json::{Value, json};

use super::settings::{Read, read_back};
use super::{Project, exec};
use crate::support::text;

const SPEC: &str = r#"services:
  box:
    image: bulkhead-test/bookworm:base
    user: "65534:65534"
    entrypoint: ["/bin/sh", "-c"]
    command: ["exec sleep infinity"]
    labels: {team.owner: keys}
    ports: ["127.0.0.1::8080"]
    extra_hosts:
      - "db.internal:10.20.30.40"
      - "gw.internal=host-gateway"
    dns: [10.0.0.53]
    dns_search: [corp.example]
    dns_opt: ["ndots:2", "edns0"]
    domainname: corp.example
    shm_size: 16m
    cpu_shares: 512
    cpuset: "0"
    mem_limit: 96m
    mem_reservation: 32m
    oom_score_adj: 300
    group_add: ["44"]
    pull_policy: never
    attach: false
    logging:
      driver: local
      options: {max-size: 5m, max-file: "2"}
    deploy:
      labels: {team.owner: deploy, team.cost: blue}
      restart_policy: {condition: on-failure, max_attempts: 2}
"#;

/// (key, expected, how to read it back).
fn fields() -> Vec<(&'static str, Value, Read)> {
    use Read::*;
    vec![
        (
            "extra_hosts",
            json!("db.internal:10.20.30.40"),
            Has("/HostConfig/ExtraHosts"),
        ),
        (
            "extra_hosts: host-gateway",
            json!("gw.internal:host-gateway"),
            Has("/HostConfig/ExtraHosts"),
        ),
        ("dns", json!(["10.0.0.53"]), At("/HostConfig/Dns")),
        (
            "dns_search",
            json!(["corp.example"]),
            At("/HostConfig/DnsSearch"),
        ),
        (
            "dns_opt",
            json!(["ndots:2", "edns0"]),
            At("/HostConfig/DnsOptions"),
        ),
        (
            "domainname",
            json!("corp.example"),
            At("/Config/Domainname"),
        ),
        ("shm_size", json!(16 << 20), At("/HostConfig/ShmSize")),
        ("cpu_shares", json!(512), At("/HostConfig/CpuShares")),
        ("cpuset", json!("0"), At("/HostConfig/CpusetCpus")),
        (
            "mem_reservation",
            json!(32 << 20),
            At("/HostConfig/MemoryReservation"),
        ),
        ("oom_score_adj", json!(300), At("/HostConfig/OomScoreAdj")),
        ("group_add", json!(["44"]), At("/HostConfig/GroupAdd")),
        (
            "logging",
            json!({"Type": "local", "Config": {"max-size": "5m", "max-file": "2"}}),
            At("/HostConfig/LogConfig"),
        ),
        (
            "labels over deploy.labels",
            json!("keys"),
            At("/Config/Labels/team.owner"),
        ),
        (
            "deploy.labels",
            json!("blue"),
            At("/Config/Labels/team.cost"),
        ),
        (
            "deploy.restart_policy",
            json!({"Name": "on-failure", "MaximumRetryCount": 2}),
            At("/HostConfig/RestartPolicy"),
        ),
    ]
}

#[test]
fn every_compose_key_reaches_the_engine() {
    let p = Project::new("keys", SPEC);
    p.up();
    let c = p.only("box");
    let wrong: Vec<String> = fields()
        .iter()
        .filter_map(|(field, expected, read)| {
            read_back(&c, expected, read)
                .err()
                .map(|e| format!("{field}: expected {expected}, {e}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "not applied as written:\n{}",
        wrong.join("\n")
    );

    // Inside: /etc/hosts has the lines, the resolver its search domain and options, /dev/shm
    // its size, the user its added group.
    let out = exec(
        &c,
        &["cat", "/etc/hosts", "/etc/resolv.conf", "/proc/mounts"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files = text(&out.stdout);
    let has_line = |pred: &dyn Fn(&[&str]) -> bool| {
        files
            .lines()
            .any(|l| pred(&l.split_whitespace().collect::<Vec<_>>()))
    };
    assert!(
        has_line(&|w| w == ["10.20.30.40", "db.internal"]),
        "{files}"
    );
    assert!(
        has_line(&|w| w.first() == Some(&"search") && w.contains(&"corp.example")),
        "{files}"
    );
    assert!(
        has_line(&|w| w.first() == Some(&"options") && w.contains(&"ndots:2")),
        "{files}"
    );
    assert!(
        has_line(&|w| w.get(1) == Some(&"/dev/shm")
            && w.get(3).is_some_and(|o| o.contains("size=16384k"))),
        "{files}"
    );
    let out = exec(&c, &["id", "-G"]);
    assert_eq!(
        text(&out.stdout).split_whitespace().collect::<Vec<_>>(),
        ["65534", "44"]
    );
}
