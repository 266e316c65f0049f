//! Human text from the API's typed replies (`bulkhead-api-types`), so that one renderer serves
//! the embedded dispatcher and a server alike: up, plan, ps, releases.

use std::fmt::Write as _;

use bulkhead_api_types::{ContainerRow, ReleasesReply, ServiceRow, UpReply};
use bulkhead_core::deploy::{Op, Plan};
use bulkhead_core::spec::rollout::{Order, RolloutConfig};
use serde::Serialize;

/// What `up` did (the reply of a deploy).
pub fn up(r: &UpReply) -> String {
    let mut out = String::new();
    let project = &r.project;
    if !r.changed {
        let _ = writeln!(out, "project {project}: up to date, nothing changed");
    } else {
        let _ = writeln!(
            out,
            "project {project}: {} container(s) started, {} removed",
            r.created.len(),
            r.removed.len()
        );
    }
    let verdict = &r.verdict.summary;
    for s in &verdict.services {
        let release = r.releases.iter().find(|x| x.service == s.name);
        let n = release.map_or(0, |x| x.release);
        let new = release.is_some_and(|x| x.new);
        let hardened = s
            .findings
            .iter()
            .filter(|f| matches!(f.outcome.as_str(), "hardened" | "enforced"))
            .count();
        let waived: Vec<&str> = s
            .findings
            .iter()
            .filter(|f| f.outcome == "waived")
            .map(|f| f.rule.as_str())
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
            "  {:<14} {release}, {} replica(s), {hardened} hardening rules in force{waivers}",
            s.name, s.replicas
        );
        for p in &s.effective.ports {
            if let Some((h, _)) = p.host_ports {
                let _ = writeln!(out, "  {:<14} http://{}:{h}/", "", p.host_ip);
            }
        }
    }
    let _ = writeln!(out, "security groups:");
    for g in &verdict.topology.groups {
        let from = if g.allow_from.is_empty() {
            "nobody".to_string()
        } else {
            g.allow_from.join(", ")
        };
        let egress = if g.egress == "internet" {
            "internet"
        } else {
            "none"
        };
        let _ = writeln!(out, "  {:<14} <- {from}; egress {egress}", g.service);
    }
    let caveats = &verdict.topology.caveats;
    if !caveats.is_empty() {
        let _ = writeln!(out, "not closed by the security groups:");
        for c in caveats {
            let _ = writeln!(out, "  - {c}");
        }
    }
    out
}

/// A plan, one line per op.
pub fn plan(project: &str, plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("project {project}: nothing to do\n");
    }
    let mut out = format!("project {project}: plan\n");
    let line = |out: &mut String, op: &Op| {
        let _ = writeln!(out, "  {}", op_line(op));
    };
    for op in &plan.prepare {
        line(&mut out, op);
    }
    for rollout in plan.waves.iter().flatten() {
        // A rollout shaped by update_config / rollback_config says so before its first op.
        if let Some(c) = rollout.config.as_ref().filter(|_| !rollout.ops.is_empty()) {
            let _ = writeln!(out, "  roll {}: {}", rollout.service, shape(c));
        }
        for op in &rollout.ops {
            line(&mut out, op);
        }
    }
    for op in &plan.cleanup {
        line(&mut out, op);
    }
    out
}

fn op_line(op: &Op) -> String {
    match op {
        Op::CreateNetwork { name, internal } => format!(
            "create network {name}{}",
            if *internal { " (internal)" } else { "" }
        ),
        Op::BlockEgress { network } => format!("drop outbound connections from {network}"),
        Op::RestrictIngress { network, owner } => {
            format!("allow connections inside {network} only to {owner}")
        }
        Op::CreateVolume { name } => format!("create volume {name}"),
        Op::Deploy {
            service,
            release,
            replica,
            replaces,
            adopt,
            stop_first,
        } => deploy_line(
            service,
            *release,
            *replica,
            replaces.as_ref().map(|(_, name)| name.as_str()),
            adopt.is_some(),
            stop_first.as_deref(),
        ),
        Op::Remove { name, why, .. } => format!("remove {name} ({why})"),
        Op::RemoveNetwork { name } => format!("remove network {name}"),
        Op::RemoveRules {
            network,
            bridge,
            why,
        } => format!("remove the firewall rules of {network} left on bridge {bridge} ({why})"),
    }
}

/// A rollout's shape (`update_config` / `rollback_config` as the plan carries it), in words.
fn shape(c: &RolloutConfig) -> String {
    let mut out = match c.parallelism {
        0 => "all replicas at once".to_string(),
        1 => "one replica at a time".to_string(),
        p => format!("{p} replicas at a time"),
    };
    if c.delay_ms > 0 {
        out.push_str(&format!(
            ", {} s between batches",
            c.delay_ms as f64 / 1000.0
        ));
    }
    if let Some(ms) = c.monitor_ms.filter(|ms| *ms > 0) {
        out.push_str(&format!(
            ", each ready after {} s without a restart",
            ms as f64 / 1000.0
        ));
    }
    if c.max_failure_ppm > 0 {
        out.push_str(&format!(
            ", up to {}% may fail",
            f64::from(c.max_failure_ppm) / 10_000.0
        ));
    }
    match c.order {
        Some(Order::StopFirst) => out.push_str(", stop-first"),
        Some(Order::StartFirst) => out.push_str(", start-first"),
        None => {}
    }
    out.push_str(&format!(", on failure {}", c.failure_action.as_str()));
    out
}

/// One rollout step: start-first (the old one serves until the new one is ready), stop-first
/// (a gap: the old one stops first, and starts again if the new one fails), or the
/// verification of a replica an earlier run started.
fn deploy_line(
    service: &str,
    release: u64,
    replica: u32,
    old: Option<&str>,
    adopt: bool,
    stop_first: Option<&str>,
) -> String {
    let start = if adopt {
        format!(
            "verify {service} replica {replica} at release {release} (started earlier), wait until ready"
        )
    } else {
        format!("start {service} replica {replica} at release {release}, wait until ready")
    };
    match (old, stop_first) {
        (Some(old), Some(why)) => format!(
            "stop {old} first (stop-first: the service {why}; a gap until the new one is ready), {start}, then remove {old}; if it fails, {old} starts again"
        ),
        (Some(old), None) => format!("{start}, then remove {old}"),
        (None, _) => start,
    }
}

/// One container of a service listing, with its service (what `ps` shows and prints).
#[derive(Clone, Debug, Serialize)]
pub struct PsRow {
    #[serde(flatten)]
    pub container: ContainerRow,
    pub service: String,
}

/// The containers of a service listing, flattened, each with its service.
pub fn containers(services: &[ServiceRow]) -> Vec<PsRow> {
    services
        .iter()
        .flat_map(|s| {
            s.containers.iter().map(|c| PsRow {
                container: c.clone(),
                service: s.service.clone(),
            })
        })
        .collect()
}

/// `ps` as a table.
pub fn ps(rows: &[PsRow]) -> String {
    let mut out = format!(
        "{:<28} {:<12} {:<8} {:<10} {:<10} PORTS\n",
        "NAME", "SERVICE", "RELEASE", "STATE", "HEALTH"
    );
    for r in rows {
        let c = &r.container;
        let ports: Vec<String> = c
            .published
            .iter()
            .map(|(port, ip, host)| format!("{ip}:{host}->{port}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:<12} {:<8} {:<10} {:<10} {}",
            c.name,
            r.service,
            c.release.as_deref().unwrap_or_default(),
            c.state,
            c.health,
            ports.join(", ")
        );
    }
    out
}

/// A service's releases (`*` marks the active one).
pub fn releases(reply: &ReleasesReply) -> String {
    let mut out = format!(
        "{:<3} {:<8} {:<22} {:<12} {:<16} IMAGE\n",
        "", "RELEASE", "CREATED", "BY", "SPEC"
    );
    for r in &reply.releases {
        let mark = if r.active { "*" } else { "" };
        let spec: String = r.spec_hash.chars().take(12).collect();
        let image: String = r.image.chars().take(19).collect();
        let _ = writeln!(
            out,
            "{mark:<3} {:<8} {:<22} {:<12} {spec:<16} {image}",
            r.release, r.created_at, r.created_by
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn up_reply(changed: bool) -> UpReply {
        let reply = json!({
            "project": "shop",
            "changed": changed,
            "releases": [{"service": "web", "release": 2, "new": true}],
            "plan": {"prepare": [], "waves": [], "cleanup": []},
            "created": ["shop-web-1"],
            "removed": [],
            "held": [],
            "verdict": {
                "project": "shop",
                "deployable": true,
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
        crate::replies::read("deploy reply", reply).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn up_reads_the_deploy_reply() {
        let text = up(&up_reply(true));
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
        let same = up(&up_reply(false));
        assert!(same.contains("up to date, nothing changed"), "{same}");
    }

    #[test]
    fn a_deploy_reply_without_its_verdict_is_an_error_naming_it() {
        let reply = json!({
            "project": "shop", "changed": false, "releases": [],
            "plan": {"prepare": [], "waves": [], "cleanup": []},
            "created": [], "removed": [], "held": []
        });
        let err = crate::replies::read::<UpReply>("deploy reply", reply).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("missing field `verdict`"), "{text}");
    }

    fn plan_of(v: serde_json::Value) -> Plan {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn plan_lines_follow_the_ops() {
        let p = plan_of(json!({
            "prepare": [{"op": "create_network", "name": "n", "internal": true}],
            "waves": [[{"service": "web", "ops": [
                {"op": "deploy", "service": "web", "release": 2, "replica": 1, "replaces": ["id", "web-old"]}
            ]}]],
            "cleanup": [{"op": "remove_network", "name": "m"}]
        }));
        assert_eq!(
            plan("shop", &p),
            "project shop: plan\n  create network n (internal)\n  start web replica 1 at release 2, wait until ready, then remove web-old\n  remove network m\n"
        );
        let stateful = plan_of(json!({"prepare": [], "waves": [[{"service": "db", "ops": [
            {"op": "deploy", "service": "db", "release": 3, "replica": 1,
             "replaces": ["id", "db-old"], "stop_first": "writes volume `p-data` at /data"}
        ]}]], "cleanup": []}));
        assert_eq!(
            plan("p", &stateful),
            "project p: plan\n  stop db-old first (stop-first: the service writes volume `p-data` at /data; a gap until the new one is ready), start db replica 1 at release 3, wait until ready, then remove db-old; if it fails, db-old starts again\n"
        );
        let shaped = plan_of(
            json!({"prepare": [], "waves": [[{"service": "web", "config": {"parallelism": 2, "delay_ms": 5000, "failure_action": "pause", "max_failure_ppm": 250000}, "ops": [
            {"op": "deploy", "service": "web", "release": 4, "replica": 1, "replaces": ["a", "p-web-1-old"]},
            {"op": "deploy", "service": "web", "release": 4, "replica": 2, "replaces": ["b", "p-web-2-old"]}]}]], "cleanup": []}),
        );
        assert_eq!(
            plan("p", &shaped),
            "project p: plan\n  roll web: 2 replicas at a time, 5 s between batches, up to 25% may fail, on failure pause\n  start web replica 1 at release 4, wait until ready, then remove p-web-1-old\n  start web replica 2 at release 4, wait until ready, then remove p-web-2-old\n"
        );
        let empty = plan_of(json!({"prepare": [], "waves": [], "cleanup": []}));
        assert_eq!(plan("shop", &empty), "project shop: nothing to do\n");
    }

    #[test]
    fn plan_names_rules_left_on_a_bridge() {
        let p = plan_of(json!({"prepare": [], "waves": [], "cleanup": [
            {"op": "remove_rules", "network": "n", "bridge": "br-0123456789ab", "why": "its network is gone"}
        ]}));
        assert_eq!(
            plan("shop", &p),
            "project shop: plan\n  remove the firewall rules of n left on bridge br-0123456789ab (its network is gone)\n"
        );
    }
}
