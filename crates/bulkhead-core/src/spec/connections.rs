//! How a service relates to the others: `depends_on` (with conditions) and `networks`.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, Condition, Dependency, ServiceNetwork};
use super::yaml::{Node, Value};

pub(super) fn depends_on(node: &Node) -> Result<BTreeMap<String, At<Dependency>>, SpecError> {
    let mut out = BTreeMap::new();
    let plain = |span| At {
        value: Dependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        },
        span,
    };
    match &node.value {
        Value::Seq(_) | Value::Scalar { .. } => {
            for (name, span) in decode::text_list(node, "depends_on")? {
                out.insert(name, plain(span));
            }
        }
        Value::Map(entries) => {
            for e in entries {
                let mut errs = Errors::default();
                let sub = decode::map_or_null(&e.value, &format!("depends_on.{}", e.key))?;
                decode::check_keys(
                    sub,
                    &["condition", "restart", "required"],
                    &[],
                    &format!("depends_on.{}", e.key),
                    &mut errs,
                );
                if let Some(err) = errs.0.into_iter().next() {
                    return Err(err);
                }
                let mut dep = plain(e.key_span.clone());
                if let Some(c) = e.value.get("condition") {
                    dep.value.condition = match decode::text(c, "depends_on.condition")?.as_str() {
                        "service_started" => Condition::ServiceStarted,
                        "service_healthy" => Condition::ServiceHealthy,
                        "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                        other => {
                            return Err(SpecError::value(
                                &c.span,
                                format!(
                                    "depends_on.{}.condition `{other}` is unknown; use service_started, service_healthy or service_completed_successfully",
                                    e.key
                                ),
                            ));
                        }
                    };
                }
                if let Some(r) = e.value.get("restart") {
                    dep.value.restart = decode::boolean(r, "depends_on.restart")?;
                }
                if let Some(r) = e.value.get("required") {
                    dep.value.required = decode::boolean(r, "depends_on.required")?;
                }
                out.insert(e.key.clone(), dep);
            }
        }
        Value::Null => {}
    }
    Ok(out)
}

pub(super) fn networks(node: &Node) -> Result<BTreeMap<String, ServiceNetwork>, SpecError> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                let sub = decode::map_or_null(&e.value, &format!("networks.{}", e.key))?;
                let mut errs = Errors::default();
                decode::check_keys(
                    sub,
                    &[
                        "aliases",
                        "ipv4_address",
                        "ipv6_address",
                        "priority",
                        "gw_priority",
                    ],
                    &[],
                    &format!("networks.{}", e.key),
                    &mut errs,
                );
                if let Some(err) = errs.0.into_iter().next() {
                    return Err(err);
                }
                let text = |k: &str| {
                    e.value
                        .get(k)
                        .map(|v| decode::opt_text(v, k))
                        .transpose()
                        .map(Option::flatten)
                };
                let aliases = e
                    .value
                    .get("aliases")
                    .map(|a| decode::text_list(a, "aliases"))
                    .transpose()?
                    .unwrap_or_default();
                out.insert(
                    e.key.clone(),
                    ServiceNetwork {
                        aliases: aliases.into_iter().map(|(t, _)| t).collect(),
                        ipv4_address: text("ipv4_address")?,
                        ipv6_address: text("ipv6_address")?,
                    },
                );
            }
        }
        _ => {
            for (name, _) in decode::text_list(node, "networks")? {
                out.insert(name, ServiceNetwork::default());
            }
        }
    }
    Ok(out)
}
