//! A service's replica count and resource limits: `deploy` (replicas, resources), `scale` and
//! `ulimits`.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, Resources, Restart, Service, Ulimit};
use super::yaml::{Node, Value};
use super::{rollout, units};

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
    let unsupported = [(
        "placement",
        "constraints and preferences choose Swarm nodes, and one engine is one node: use x-bulkhead.tier to choose how a service runs",
    )];
    decode::check_keys(
        entries,
        &[
            "replicas",
            "resources",
            "labels",
            "restart_policy",
            "mode",
            "endpoint_mode",
            "update_config",
            "rollback_config",
        ],
        &unsupported,
        "deploy",
        errors,
    );
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "labels" => {
                s.engine.deploy_labels = errors
                    .take(decode::labels(v, "deploy.labels"))
                    .unwrap_or_default()
            }
            "restart_policy" => {
                if let Some(r) = errors.take(restart_policy(v)) {
                    s.restart = Some(At {
                        value: r,
                        span: v.span.clone(),
                    });
                }
            }
            "update_config" | "rollback_config" => {
                let what = format!("deploy.{}", e.key);
                if let Some(c) = errors.take(rollout::config(v, &what)) {
                    let at = Some(At {
                        value: c,
                        span: v.span.clone(),
                    });
                    if e.key == "update_config" {
                        s.update_config = at;
                    } else {
                        s.rollback_config = at;
                    }
                }
            }
            "mode" => {
                errors.take(only(v, "deploy.mode", "replicated", "`global` runs one replica per Swarm node; one engine is one node: remove it, or set deploy.replicas"));
            }
            "endpoint_mode" => {
                errors.take(only(v, "deploy.endpoint_mode", "dnsrr", "a service name resolves to the addresses of its replicas (dnsrr); Swarm's virtual IP (vip) does not exist on one engine: remove it"));
            }
            _ => {}
        }
    }
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

/// A key whose one accepted value is what Bulkhead does anyway; any other is refused with `why`.
fn only(node: &Node, what: &str, accepted: &str, why: &str) -> Result<(), SpecError> {
    let t = decode::text(node, what)?;
    if t == accepted {
        return Ok(());
    }
    Err(SpecError::value(&node.span, format!("{what} `{t}` is refused")).with_hint(why))
}

/// `deploy.restart_policy`: `condition` and `max_attempts` become the restart policy (which the
/// hardening bounds); it wins over the service's `restart`, as in Docker Compose.
fn restart_policy(node: &Node) -> Result<Restart, SpecError> {
    let entries = decode::map(node, "deploy.restart_policy")?;
    let backoff = "the engine restarts with its own backoff (from 100 ms, doubling, reset after 10 s running); a fixed delay or window cannot be applied: remove it";
    let mut errs = Errors::default();
    decode::check_keys(
        entries,
        &["condition", "max_attempts"],
        &[("delay", backoff), ("window", backoff)],
        "deploy.restart_policy",
        &mut errs,
    );
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let attempts = node
        .get("max_attempts")
        .map(|m| decode::integer::<u32>(m, "deploy.restart_policy.max_attempts"))
        .transpose()?;
    let condition = match node.get("condition") {
        Some(c) => decode::text(c, "deploy.restart_policy.condition")?,
        None => "any".to_string(),
    };
    match condition.as_str() {
        "none" => Ok(Restart::No),
        "on-failure" => Ok(Restart::OnFailure(attempts)),
        // `any` restarts after a clean exit too: `always`, bounded by the hardening.
        "any" => Ok(match attempts {
            Some(n) => Restart::OnFailure(Some(n)),
            None => Restart::Always,
        }),
        other => Err(SpecError::value(
            &node.span,
            format!(
                "deploy.restart_policy.condition `{other}` is unknown; use none, on-failure or any"
            ),
        )),
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
        if e.key.is_empty() || !e.key.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SpecError::value(
                &e.key_span,
                format!("{what}: a limit's name is lowercase letters (nofile, nproc, core...)"),
            ));
        }
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
