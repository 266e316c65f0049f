//! Human text from the API's JSON replies (`api::render` shapes), so that one renderer serves
//! the embedded dispatcher and a server alike: up, plan, ps, releases.

use std::fmt::Write as _;

use serde_json::Value;

/// A string field, or "".
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// An array field, or none.
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A scalar as text (strings unquoted, null as "").
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `up` did (the reply of a deploy).
pub fn up(r: &Value) -> String {
    let mut out = String::new();
    let project = text(r, "project");
    if r["changed"] == Value::Bool(false) {
        let _ = writeln!(out, "project {project}: up to date, nothing changed");
    } else {
        let _ = writeln!(
            out,
            "project {project}: {} container(s) started, {} removed",
            list(r, "created").len(),
            list(r, "removed").len()
        );
    }
    let verdict = &r["verdict"];
    for s in list(verdict, "services") {
        let name = text(s, "name");
        let release = list(r, "releases")
            .iter()
            .find(|x| text(x, "service") == name);
        let n = release.and_then(|x| x["release"].as_u64()).unwrap_or(0);
        let new = release.is_some_and(|x| x["new"] == Value::Bool(true));
        let findings = list(s, "findings");
        let hardened = findings
            .iter()
            .filter(|f| matches!(text(f, "outcome"), "hardened" | "enforced"))
            .count();
        let waived: Vec<&str> = findings
            .iter()
            .filter(|f| text(f, "outcome") == "waived")
            .map(|f| text(f, "rule"))
            .collect();
        let waivers = if waived.is_empty() {
            String::new()
        } else {
            format!(", waived: {}", waived.join(", "))
        };
        let release = if new {
            format!("release {n} (new)")
        } else {
            format!("release {n}")
        };
        let _ = writeln!(
            out,
            "  {name:<14} {release}, {} replica(s), {hardened} hardening rules in force{waivers}",
            scalar(&s["replicas"])
        );
        for p in list(&s["effective"], "ports") {
            if let Some(h) = p["host_ports"].get(0).and_then(Value::as_u64) {
                let _ = writeln!(out, "  {:<14} http://{}:{h}/", "", text(p, "host_ip"));
            }
        }
    }
    let _ = writeln!(out, "security groups:");
    let topology = &verdict["topology"];
    for g in list(topology, "groups") {
        let from: Vec<&str> = list(g, "allow_from")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let from = if from.is_empty() {
            "nobody".to_string()
        } else {
            from.join(", ")
        };
        let egress = if text(g, "egress") == "internet" {
            "internet"
        } else {
            "none"
        };
        let _ = writeln!(
            out,
            "  {:<14} <- {from}; egress {egress}",
            text(g, "service")
        );
    }
    let caveats = list(topology, "caveats");
    if !caveats.is_empty() {
        let _ = writeln!(out, "not closed by the security groups:");
        for c in caveats {
            let _ = writeln!(out, "  - {}", scalar(c));
        }
    }
    out
}

/// Every op of a plan, in execution order: prepare, the waves' rollouts, cleanup.
pub fn ops(plan: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = list(plan, "prepare").iter().collect();
    for wave in list(plan, "waves") {
        for rollout in wave.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.extend(list(rollout, "ops"));
        }
    }
    out.extend(list(plan, "cleanup"));
    out
}

/// A plan, one line per op.
pub fn plan(project: &str, plan: &Value) -> String {
    let all = ops(plan);
    if all.is_empty() {
        return format!("project {project}: nothing to do\n");
    }
    let mut out = format!("project {project}: plan\n");
    // A rollout shaped by update_config / rollback_config says so before its first op.
    let mut shapes: Vec<(*const Value, String)> = Vec::new();
    for wave in list(plan, "waves") {
        for rollout in wave.as_array().map(Vec::as_slice).unwrap_or_default() {
            if let (Some(first), Some(c)) = (list(rollout, "ops").first(), rollout.get("config")) {
                let line = format!("roll {}: {}", text(rollout, "service"), shape(c));
                shapes.push((first as *const Value, line));
            }
        }
    }
    for op in all {
        if let Some((_, line)) = shapes.iter().find(|(p, _)| std::ptr::eq(*p, op)) {
            let _ = writeln!(out, "  {line}");
        }
        let name = text(op, "name");
        let line = match text(op, "op") {
            "create_network" => format!(
                "create network {name}{}",
                if op["internal"] == Value::Bool(true) {
                    " (internal)"
                } else {
                    ""
                }
            ),
            "block_egress" => format!("drop outbound connections from {}", text(op, "network")),
            "restrict_ingress" => format!(
                "allow connections inside {} only to {}",
                text(op, "network"),
                text(op, "owner")
            ),
            "create_volume" => format!("create volume {name}"),
            "deploy" => deploy_line(op),
            "remove" => format!("remove {name} ({})", text(op, "why")),
            "remove_network" => format!("remove network {name}"),
            "remove_rules" => format!(
                "remove the firewall rules of {} left on bridge {} ({})",
                text(op, "network"),
                text(op, "bridge"),
                text(op, "why")
            ),
            other => format!("{other} {op}"),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// A rollout's shape (`update_config` / `rollback_config` as the plan carries it), in words.
fn shape(c: &Value) -> String {
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    let mut out = match n("parallelism") {
        0 => "all replicas at once".to_string(),
        1 => "one replica at a time".to_string(),
        p => format!("{p} replicas at a time"),
    };
    if n("delay_ms") > 0 {
        out.push_str(&format!(
            ", {} s between batches",
            n("delay_ms") as f64 / 1000.0
        ));
    }
    if n("monitor_ms") > 0 {
        out.push_str(&format!(
            ", each ready after {} s without a restart",
            n("monitor_ms") as f64 / 1000.0
        ));
    }
    if n("max_failure_ppm") > 0 {
        out.push_str(&format!(
            ", up to {}% may fail",
            n("max_failure_ppm") as f64 / 10_000.0
        ));
    }
    if let Some(order) = c["order"].as_str() {
        out.push_str(&format!(", {order}"));
    }
    let action = c["failure_action"].as_str().unwrap_or("rollback");
    out.push_str(&format!(", on failure {action}"));
    out
}

/// One rollout step: start-first (the old one serves until the new one is ready), stop-first
/// (a gap: the old one stops first, and starts again if the new one fails), or the
/// verification of a replica an earlier run started.
fn deploy_line(op: &Value) -> String {
    let old = op["replaces"].get(1).and_then(Value::as_str);
    let (service, replica, release) = (
        text(op, "service"),
        scalar(&op["replica"]),
        scalar(&op["release"]),
    );
    let start = if op["adopt"].is_string() {
        format!(
            "verify {service} replica {replica} at release {release} (started earlier), wait until ready"
        )
    } else {
        format!("start {service} replica {replica} at release {release}, wait until ready")
    };
    match (old, op["stop_first"].as_str()) {
        (Some(old), Some(why)) => format!(
            "stop {old} first (stop-first: the service {why}; a gap until the new one is ready), {start}, then remove {old}; if it fails, {old} starts again"
        ),
        (Some(old), None) => format!("{start}, then remove {old}"),
        (None, _) => start,
    }
}

/// The containers of a service listing (`{"services": [{"service", "containers": [...]}]}`),
/// flattened, each with its service.
pub fn containers(services: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in list(services, "services") {
        for c in list(s, "containers") {
            let mut c = c.clone();
            if let Some(map) = c.as_object_mut() {
                map.insert("service".into(), s["service"].clone());
            }
            out.push(c);
        }
    }
    out
}

/// `ps` as a table.
pub fn ps(containers: &[Value]) -> String {
    let mut out = format!(
        "{:<28} {:<12} {:<8} {:<10} {:<10} PORTS\n",
        "NAME", "SERVICE", "RELEASE", "STATE", "HEALTH"
    );
    for c in containers {
        let ports: Vec<String> = list(c, "published")
            .iter()
            .map(|p| format!("{}:{}->{}", scalar(&p[1]), scalar(&p[2]), scalar(&p[0])))
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:<12} {:<8} {:<10} {:<10} {}",
            text(c, "name"),
            text(c, "service"),
            scalar(&c["release"]),
            text(c, "state"),
            text(c, "health"),
            ports.join(", ")
        );
    }
    out
}

/// A service's releases (`*` marks the active one).
pub fn releases(reply: &Value) -> String {
    let mut out = format!(
        "{:<3} {:<8} {:<22} {:<12} {:<16} IMAGE\n",
        "", "RELEASE", "CREATED", "BY", "SPEC"
    );
    for r in list(reply, "releases") {
        let mark = if r["active"] == Value::Bool(true) {
            "*"
        } else {
            ""
        };
        let spec: String = text(r, "spec_hash").chars().take(12).collect();
        let image: String = text(r, "image").chars().take(19).collect();
        let created = match &r["created_at"] {
            Value::Number(n) => n
                .as_u64()
                .map(bulkhead_core::clock::rfc3339)
                .unwrap_or_default(),
            other => scalar(other),
        };
        let _ = writeln!(
            out,
            "{mark:<3} {:<8} {created:<22} {:<12} {spec:<16} {image}",
            scalar(&r["release"]),
            text(r, "created_by")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn up_reads_the_deploy_reply() {
        let reply = json!({
            "project": "shop",
            "changed": true,
            "releases": [{"service": "web", "release": 2, "new": true}],
            "plan": {"prepare": [], "waves": [], "cleanup": []},
            "created": ["shop-web-1"],
            "removed": [],
            "verdict": {
                "services": [{
                    "name": "web", "replicas": 1,
                    "findings": [
                        {"rule": "read-only", "outcome": "hardened"},
                        {"rule": "no-privileged", "outcome": "waived"}
                    ],
                    "effective": {"ports": [{"host_ip": "127.0.0.1", "host_ports": [8080, 8080]}]}
                }],
                "topology": {"groups": [{"service": "web", "allow_from": [], "egress": "none"}], "caveats": []}
            }
        });
        let text = up(&reply);
        assert!(
            text.starts_with("project shop: 1 container(s) started, 0 removed\n"),
            "{text}"
        );
        assert!(
            text.contains("web            release 2 (new), 1 replica(s), 1 hardening rules in force, waived: no-privileged"),
            "{text}"
        );
        assert!(text.contains("http://127.0.0.1:8080/"), "{text}");
        assert!(
            text.contains("web            <- nobody; egress none"),
            "{text}"
        );
        let same = up(&json!({"project": "shop", "changed": false}));
        assert!(same.contains("up to date, nothing changed"), "{same}");
    }

    #[test]
    fn plan_lines_follow_the_ops() {
        let p = json!({
            "prepare": [{"op": "create_network", "name": "n", "internal": true}],
            "waves": [[{"service": "web", "ops": [
                {"op": "deploy", "service": "web", "release": 2, "replica": 1, "replaces": ["id", "web-old"]}
            ]}]],
            "cleanup": [{"op": "remove_network", "name": "m"}]
        });
        assert_eq!(
            plan("shop", &p),
            "project shop: plan\n  create network n (internal)\n  start web replica 1 at release 2, wait until ready, then remove web-old\n  remove network m\n"
        );
        let stateful = json!({"prepare": [], "waves": [[{"service": "db", "ops": [
            {"op": "deploy", "service": "db", "release": 3, "replica": 1,
             "replaces": ["id", "db-old"], "stop_first": "writes volume `p-data` at /data"}
        ]}]], "cleanup": []});
        assert_eq!(
            plan("p", &stateful),
            "project p: plan\n  stop db-old first (stop-first: the service writes volume `p-data` at /data; a gap until the new one is ready), start db replica 1 at release 3, wait until ready, then remove db-old; if it fails, db-old starts again\n"
        );
        let shaped = json!({"prepare": [], "waves": [[{"service": "web", "config": {"parallelism": 2, "delay_ms": 5000, "failure_action": "pause", "max_failure_ppm": 250000}, "ops": [
            {"op": "deploy", "service": "web", "release": 4, "replica": 1, "replaces": ["a", "p-web-1-old"]},
            {"op": "deploy", "service": "web", "release": 4, "replica": 2, "replaces": ["b", "p-web-2-old"]}]}]], "cleanup": []});
        assert_eq!(
            plan("p", &shaped),
            "project p: plan\n  roll web: 2 replicas at a time, 5 s between batches, up to 25% may fail, on failure pause\n  start web replica 1 at release 4, wait until ready, then remove p-web-1-old\n  start web replica 2 at release 4, wait until ready, then remove p-web-2-old\n"
        );
        let empty = json!({"prepare": [], "waves": [], "cleanup": []});
        assert_eq!(plan("shop", &empty), "project shop: nothing to do\n");
    }

    #[test]
    fn plan_names_rules_left_on_a_bridge() {
        let p = json!({"prepare": [], "waves": [], "cleanup": [
            {"op": "remove_rules", "network": "n", "bridge": "br-0123456789ab", "why": "its network is gone"}
        ]});
        assert_eq!(
            plan("shop", &p),
            "project shop: plan\n  remove the firewall rules of n left on bridge br-0123456789ab (its network is gone)\n"
        );
    }
}
