//! A service's replica count and resource limits: `deploy` (replicas, resources), `scale` and
//! `ulimits`.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{Resources, Service, Ulimit};
use super::units;
use super::yaml::{Node, Value};

/// The most replicas one service may have, in a spec as through the scale API.
pub const MAX_REPLICAS: u32 = 100;

pub(super) fn replicas(node: &Node, what: &str) -> Result<u32, SpecError> {
    let n = decode::integer::<u32>(node, what)?;
    if n > MAX_REPLICAS {
        return Err(SpecError::value(
            &node.span,
            format!("{what} {n} is more than {MAX_REPLICAS}"),
        ));
    }
    Ok(n)
}

pub(super) fn deploy(s: &mut Service, node: &Node, errors: &mut Errors) {
    let Some(entries) = errors.take(decode::map(node, "deploy")) else {
        return;
    };
    let unsupported = [
        (
            "placement",
            "not supported yet: use x-bulkhead.tier to choose where a service runs",
        ),
        (
            "restart_policy",
            "use the service-level `restart`; Bulkhead caps retries at 5",
        ),
        (
            "update_config",
            "not supported yet: Bulkhead rolls out start-first, one replica at a time",
        ),
        ("rollback_config", "not supported yet"),
        (
            "mode",
            "remove it: services are replicated (deploy.replicas)",
        ),
        ("endpoint_mode", "remove it"),
        ("labels", "use the service-level `labels`"),
    ];
    decode::check_keys(
        entries,
        &["replicas", "resources"],
        &unsupported,
        "deploy",
        errors,
    );
    if let Some(r) = node.get("replicas") {
        s.replicas = errors.take(replicas(r, "deploy.replicas")).unwrap_or(1);
    }
    let Some(res) = node.get("resources") else {
        return;
    };
    let Some(res_entries) = errors.take(decode::map(res, "deploy.resources")) else {
        return;
    };
    decode::check_keys(
        res_entries,
        &["limits", "reservations"],
        &[],
        "deploy.resources",
        errors,
    );
    if let Some(l) = res.get("limits") {
        merge_resources(
            &mut s.limits,
            resources(l, "deploy.resources.limits", errors),
        );
    }
    if let Some(r) = res.get("reservations") {
        merge_resources(
            &mut s.reservations,
            resources(r, "deploy.resources.reservations", errors),
        );
    }
}

fn merge_resources(into: &mut Resources, from: Resources) {
    into.cpus = from.cpus.or(into.cpus);
    into.memory = from.memory.or(into.memory);
    into.pids = from.pids.or(into.pids);
}

fn resources(node: &Node, what: &str, errors: &mut Errors) -> Resources {
    let mut r = Resources::default();
    let Some(entries) = errors.take(decode::map(node, what)) else {
        return r;
    };
    let unsupported = [
        ("devices", "not supported yet (GPUs and other devices)"),
        ("generic_resources", "not supported"),
    ];
    decode::check_keys(
        entries,
        &["cpus", "memory", "pids"],
        &unsupported,
        what,
        errors,
    );
    for e in entries {
        let k = format!("{what}.{}", e.key);
        match e.key.as_str() {
            "cpus" => r.cpus = errors.take(decode::parsed(&e.value, &k, units::parse_cpus)),
            "memory" => r.memory = errors.take(decode::parsed(&e.value, &k, units::parse_size)),
            "pids" => r.pids = errors.take(decode::integer::<i64>(&e.value, &k)),
            _ => {}
        }
    }
    r
}

pub(super) fn ulimits(node: &Node) -> Result<BTreeMap<String, Ulimit>, SpecError> {
    let mut out = BTreeMap::new();
    for e in decode::map(node, "ulimits")? {
        let what = format!("ulimits.{}", e.key);
        let limit = match &e.value.value {
            Value::Map(sub) => {
                let mut errs = Errors::default();
                decode::check_keys(sub, &["soft", "hard"], &[], &what, &mut errs);
                if let Some(err) = errs.0.into_iter().next() {
                    return Err(err);
                }
                let get = |k: &str| {
                    e.value
                        .get(k)
                        .ok_or_else(|| {
                            SpecError::shape(
                                &e.value.span,
                                format!("{what} needs both soft and hard"),
                            )
                        })
                        .and_then(|v| decode::integer::<i64>(v, &format!("{what}.{k}")))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            _ => {
                let n = decode::integer::<i64>(&e.value, &what)?;
                Ulimit { soft: n, hard: n }
            }
        };
        if limit.soft > limit.hard {
            return Err(SpecError::value(
                &e.value.span,
                format!(
                    "{what}: soft limit {} is above hard limit {}",
                    limit.soft, limit.hard
                ),
            ));
        }
        out.insert(e.key.clone(), limit);
    }
    Ok(out)
}
