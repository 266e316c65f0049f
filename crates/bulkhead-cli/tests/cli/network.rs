//! The network paths of a deployed shop, tried from inside its containers: the declared
//! ones open, every other one (between services, back to callers, out to the host) closed —
//! also after its networks were removed behind Bulkhead's back and `up` made them again.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::deploy::up;
use super::support::{Shop, docker, text};

/// The address of a container on a network, from `docker inspect`.
fn ip(c: &Value, network: &str) -> Option<String> {
    c["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .map(str::to_string)
}

fn can_connect(from: &Value, to: &str) -> bool {
    let id = from["Id"].as_str().unwrap_or_default();
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            id,
            "/bulkhead-demo",
            "connect",
            to,
            "--timeout-ms",
            "1000",
        ])
        .output()
        .expect("docker exec");
    out.status.success()
}

#[test]
fn only_declared_paths_are_open() {
    let shop = Shop::new("n");
    up(&shop);
    let containers = shop.containers();
    let by = |s: &str| {
        containers
            .iter()
            .find(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == s)
            .cloned()
            .expect("service container")
    };
    let (web, api, store) = (by("web"), by("api"), by("store"));
    let p = &shop.name;
    let api_ip = ip(&api, &format!("{p}-api-in")).expect("api on its ingress network");
    let store_ip = ip(&store, &format!("{p}-store-in")).expect("store on its ingress network");
    let web_ips: Vec<String> = web["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|n| n["IPAddress"].as_str().map(str::to_string))
        .collect();
    assert!(
        can_connect(&web, &format!("{api_ip}:8081")),
        "web -> api must be open"
    );
    assert!(
        can_connect(&api, &format!("{store_ip}:8082")),
        "api -> store must be open"
    );
    assert!(
        !can_connect(&web, &format!("{store_ip}:8082")),
        "web -> store must be closed"
    );
    for w in &web_ips {
        assert!(
            !can_connect(&store, &format!("{w}:8080")),
            "store -> web ({w}) must be closed"
        );
    }
    let api_ips: Vec<String> = api["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|n| n["IPAddress"].as_str().map(str::to_string))
        .collect();
    for a in &api_ips {
        assert!(
            !can_connect(&store, &format!("{a}:8081")),
            "store -> api ({a}) must be closed"
        );
    }
    let web_on_api_in = ip(&web, &format!("{p}-api-in")).expect("web joins api's ingress network");
    assert!(
        !can_connect(&api, &format!("{web_on_api_in}:8080")),
        "api -> web must be closed (one-way ingress)"
    );
    // Egress: a listener the test starts on the host, reached through the web's gateway.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = listener.local_addr().expect("addr").port();
    for (net, n) in web["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(gw) = n["Gateway"].as_str().filter(|g| !g.is_empty()) {
            assert!(
                !can_connect(&web, &format!("{gw}:{port}")),
                "web -> host via {net} must be closed"
            );
        }
    }
}

/// The shop's networks and their bridges, as the engine reports them now (Docker names a
/// bridge `br-` and 12 digits of its network's id).
fn bridges(shop: &Shop) -> BTreeMap<String, String> {
    shop.labelled("network")
        .iter()
        .map(|id| {
            let line = docker(&["network", "inspect", "--format", "{{.Name}} {{.Id}}", id]);
            let (name, full) = line.trim().split_once(' ').expect("name and id");
            (name.to_string(), format!("br-{}", &full[..12]))
        })
        .collect()
}

/// The project's rules in the filter table, read with `iptables -S`: (chain, network,
/// bridge) of each, sorted, the chains of ingress restrictions as `BULKHEAD-*`.
fn rules_of(project: &str) -> Vec<(String, String, String)> {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-S"])
        .output()
        .expect("iptables runs");
    assert!(out.status.success(), "iptables -S failed");
    let tag = format!("bulkhead:{project}:");
    let mut rules: Vec<(String, String, String)> = text(&out.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let network = words
                .iter()
                .find_map(|w| w.trim_matches('"').strip_prefix(&tag))?;
            let bridge = words.windows(2).find(|w| w[0] == "-i")?[1];
            let chain = match words.get(1)? {
                c if c.starts_with("BULKHEAD-") => "BULKHEAD-*",
                c => c,
            };
            Some((chain.to_string(), network.to_string(), bridge.to_string()))
        })
        .collect();
    rules.sort();
    rules
}

/// The `network` field of the plan's ops named `op`, with `bridge` when the op has one.
fn ops_named(plan: &Value, op: &str) -> BTreeSet<(String, String)> {
    ["prepare", "cleanup"]
        .iter()
        .flat_map(|part| plan["plan"][part].as_array().cloned().unwrap_or_default())
        .filter(|o| o["op"] == op)
        .map(|o| {
            let field = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            (field("network"), field("bridge"))
        })
        .collect()
}

#[test]
fn networks_removed_behind_our_back_get_their_rules_again() {
    let shop = Shop::new("r");
    up(&shop);
    let p = &shop.name;
    let old = bridges(&shop);
    let names: Vec<String> = ["api-in", "store-in", "web-pub"]
        .iter()
        .map(|n| format!("{p}-{n}"))
        .collect();
    assert_eq!(old.keys().cloned().collect::<Vec<_>>(), names);
    let before = rules_of(p);
    for (chain, count) in [("DOCKER-USER", 3 + 2), ("INPUT", 3), ("BULKHEAD-*", 2 + 2)] {
        assert_eq!(
            before.iter().filter(|r| r.0 == chain).count(),
            count,
            "{chain}: {before:?}"
        );
    }

    // Behind Bulkhead's back: the containers removed, then the networks (what `docker
    // network prune` does to networks without containers).
    for c in shop.containers() {
        docker(&["rm", "-f", c["Id"].as_str().unwrap_or_default()]);
    }
    for name in old.keys() {
        docker(&["network", "rm", name]);
    }

    // `plan` lists the work: the rules on the new bridges, and those left on the old ones.
    let out = shop.bulkhead(&["plan", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan json");
    let every = |suffix: &[&str]| -> BTreeSet<(String, String)> {
        suffix
            .iter()
            .map(|n| (format!("{p}-{n}"), String::new()))
            .collect()
    };
    assert_eq!(
        ops_named(&plan, "block_egress"),
        every(&["api-in", "store-in", "web-pub"])
    );
    assert_eq!(
        ops_named(&plan, "restrict_ingress"),
        every(&["api-in", "store-in"])
    );
    assert_eq!(
        ops_named(&plan, "remove_rules"),
        old.iter().map(|(n, b)| (n.clone(), b.clone())).collect(),
        "the rules left on the vanished bridges"
    );
    let human = text(&shop.bulkhead(&["plan"]).stdout);
    assert!(
        human.contains(&format!(
            "remove the firewall rules of {p}-web-pub left on bridge {} (its network is gone)",
            old[&format!("{p}-web-pub")]
        )),
        "{human}"
    );

    up(&shop);
    let new = bridges(&shop);
    assert_eq!(new.keys().cloned().collect::<Vec<_>>(), names);
    assert!(
        names.iter().all(|n| new[n] != old[n]),
        "new bridges: {old:?} {new:?}"
    );
    let mut expected: Vec<(String, String, String)> = before
        .iter()
        .map(|(chain, net, _)| (chain.clone(), net.clone(), new[net].clone()))
        .collect();
    expected.sort();
    assert_eq!(
        rules_of(p),
        expected,
        "every rule on the new bridges, none left on a vanished one"
    );
    let again = text(&shop.bulkhead(&["plan"]).stdout);
    assert!(again.contains("nothing to do"), "{again}");

    // And the paths are as they were: web reaches api, not store, and not the host.
    let containers = shop.containers();
    let by = |s: &str| {
        containers
            .iter()
            .find(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == s)
            .cloned()
            .expect("service container")
    };
    let (web, api, store) = (by("web"), by("api"), by("store"));
    let api_ip = ip(&api, &format!("{p}-api-in")).expect("api on its ingress network");
    let store_ip = ip(&store, &format!("{p}-store-in")).expect("store on its ingress network");
    assert!(can_connect(&web, &format!("{api_ip}:8081")), "web -> api");
    assert!(
        !can_connect(&web, &format!("{store_ip}:8082")),
        "web -> store must be closed"
    );
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = listener.local_addr().expect("addr").port();
    let gateways: Vec<(String, String)> = web["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(net, n)| {
            let gw = n["Gateway"].as_str().filter(|g| !g.is_empty())?;
            Some((net.clone(), gw.to_string()))
        })
        .collect();
    assert_eq!(gateways.len(), 2, "web is on {p}-api-in and {p}-web-pub");
    for (net, gw) in gateways {
        assert!(
            !can_connect(&web, &format!("{gw}:{port}")),
            "web -> host via {net} must be closed"
        );
    }
}

#[test]
fn a_probe_network_a_killed_run_left_is_made_again_pinned() {
    let shop = Shop::new("p");
    let name = format!("{}-api-in", shop.name);
    // What a run killed between the probe create and its removal leaves: the name, the
    // project's labels, no configured subnet.
    docker(&[
        "network",
        "create",
        "--label",
        &format!("dev.bulkhead.project={}", shop.name),
        "--label",
        "dev.bulkhead.subnet=probe",
        &name,
    ]);
    up(&shop);
    let inspect: Vec<Value> =
        serde_json::from_str(&docker(&["network", "inspect", &name])).expect("inspect JSON");
    assert_eq!(
        inspect[0]["Labels"]["dev.bulkhead.subnet"], "pinned",
        "{inspect:?}"
    );
    assert!(
        inspect[0]["IPAM"]["Config"][0]["Subnet"].is_string(),
        "{inspect:?}"
    );
    // A network of that name that is not a probe is never taken over.
    let other = Shop::new("p");
    let taken = format!("{}-api-in", other.name);
    docker(&["network", "create", &taken]);
    let refused = other.bulkhead(&["up", "-q"]);
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &taken])
        .output();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains(&taken),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn a_replica_left_off_its_own_network_by_a_killed_run_is_connected_again() {
    let shop = Shop::new("o");
    up(&shop);
    // What a run killed between the disconnect and the connect of a renaming leaves.
    docker(&[
        "network",
        "disconnect",
        &format!("{}-api-in", shop.name),
        &format!("{}-api-1", shop.name),
    ]);
    let out = shop.bulkhead(&["up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("connected again"), "{said}");
    let (status, body) = shop.get("/").expect("web answers");
    assert_eq!(status, 200, "{body}");
}
