//! Bulkhead's own fields under `x-bulkhead`: per service (tier, public, allow_from, egress,
//! autoscale, waivers, settle, share_volumes) and per project (trust). Unknown keys here are
//! errors.

use serde::Serialize;

use super::decode::{self, Errors};
use super::error::{Span, SpecError};
use super::model::At;
use super::yaml::Node;
use crate::hardening::Rule;

/// Where and how a service runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Shares CPU, may be oversubscribed, packed densely.
    #[default]
    Cost,
    /// Its own CPU cores, never oversubscribed.
    Speed,
    /// Alone on its host, strictest profile, no waivers.
    Safe,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    #[default]
    None,
    Internet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    /// Target average CPU use per replica, in percent of its limit.
    pub cpu_percent: u8,
}

/// An explicit, reasoned exception to one hardening rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub rule: Rule,
    pub reason: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceExt {
    pub tier: Tier,
    pub public: bool,
    /// `None`: derived from `depends_on`.
    pub allow_from: Option<Vec<At<String>>>,
    pub egress: Egress,
    pub autoscale: Option<Autoscale>,
    pub waivers: Vec<Waiver>,
    /// Without a health check, how long a replica must run without a restart to count as
    /// ready; `None`: `deploy.update_config.monitor` if set (the same setting, which may not
    /// disagree with it), else [`DEFAULT_SETTLE`].
    pub settle: Option<std::time::Duration>,
    /// The service's replicas may safely write to one volume at once (the application
    /// coordinates them); without it a scale above 1 of a service with a writable volume or
    /// bind mount is refused.
    pub share_volumes: bool,
}

/// How long a replica of a service without a health check must run without a restart before
/// it counts as ready (Docker Swarm's `update_config.monitor` default).
pub const DEFAULT_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest settle time a spec may ask for.
pub const MAX_SETTLE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    #[default]
    Critical,
}

/// The supply-chain gates for a project's images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trust {
    /// Signatures required on every image (the default).
    pub require_signatures: bool,
    /// Public keys (paths, relative to the project) whose signatures are accepted.
    pub keys: Vec<At<String>>,
    /// Refuse images with a known vulnerability at or above this severity.
    pub block_severity: Severity,
    /// Advisory ids accepted despite the gate, each one a conscious decision.
    pub ignore: Vec<String>,
}

impl Default for Trust {
    fn default() -> Trust {
        Trust {
            require_signatures: true,
            keys: Vec::new(),
            block_severity: Severity::Critical,
            ignore: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProjectExt {
    pub trust: Trust,
}

const SERVICE_KEYS: &[&str] = &[
    "tier",
    "public",
    "allow_from",
    "egress",
    "autoscale",
    "waivers",
    "settle",
    "share_volumes",
];

/// `settle: 5s`: at least 1 s (a restart needs time to show), at most [`MAX_SETTLE`].
fn settle(node: &Node) -> Result<std::time::Duration, SpecError> {
    let d = decode::parsed(node, "x-bulkhead.settle", super::units::parse_duration)?;
    if d < std::time::Duration::from_secs(1) || d > MAX_SETTLE {
        return Err(SpecError::value(
            &node.span,
            format!(
                "x-bulkhead.settle must be between 1s and {}s",
                MAX_SETTLE.as_secs()
            ),
        )
        .with_hint(
            "a replica without a health check is ready once it ran this long without a restart",
        ));
    }
    Ok(d)
}

/// Decode a service's `x-bulkhead` block.
pub fn service(node: &Node, errors: &mut Errors) -> ServiceExt {
    let mut ext = ServiceExt::default();
    let Some(entries) = errors.take(decode::map_or_null(node, "x-bulkhead")) else {
        return ext;
    };
    strict_keys(entries, SERVICE_KEYS, "x-bulkhead", errors);
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "tier" => {
                ext.tier = errors
                    .take(one_of(v, "x-bulkhead.tier", TIERS))
                    .unwrap_or_default()
            }
            "public" => {
                ext.public = errors
                    .take(decode::boolean(v, "x-bulkhead.public"))
                    .unwrap_or(false)
            }
            "egress" => {
                ext.egress = errors
                    .take(one_of(v, "x-bulkhead.egress", EGRESS))
                    .unwrap_or_default()
            }
            "allow_from" => {
                ext.allow_from = errors
                    .take(decode::text_list(v, "x-bulkhead.allow_from"))
                    .map(|items| {
                        items
                            .into_iter()
                            .map(|(value, span)| At { value, span })
                            .collect()
                    });
            }
            "autoscale" => ext.autoscale = errors.take(autoscale(v)),
            "waivers" => ext.waivers = waivers(v, errors),
            "settle" => ext.settle = errors.take(settle(v)),
            "share_volumes" => {
                ext.share_volumes = errors
                    .take(decode::boolean(v, "x-bulkhead.share_volumes"))
                    .unwrap_or(false)
            }
            _ => {}
        }
    }
    if ext.tier == Tier::Safe {
        for w in &ext.waivers {
            errors.push(
                SpecError::value(
                    &w.span,
                    format!(
                        "tier `safe` accepts no waivers, found one for `{}`",
                        w.rule.id()
                    ),
                )
                .with_hint("remove the waiver and meet the rule, or choose tier `cost` or `speed`"),
            );
        }
    }
    ext
}

/// Unlike Compose keys, `x-` keys inside `x-bulkhead` are not free: every key must be known, so
/// the hint never suggests the `x-` prefix.
fn strict_keys(entries: &[super::yaml::Entry], allowed: &[&str], what: &str, errors: &mut Errors) {
    for e in entries
        .iter()
        .filter(|e| !allowed.contains(&e.key.as_str()))
    {
        let hint = match decode::nearest(&e.key, allowed) {
            Some(k) => format!("did you mean `{k}`?"),
            None => format!("supported keys: {}", allowed.join(", ")),
        };
        errors.push(
            SpecError::new(
                super::error::ErrorKind::UnknownKey,
                &e.key_span,
                format!("{what}: key `{}` is not supported", e.key),
            )
            .with_hint(hint),
        );
    }
}

const TIERS: &[(&str, Tier)] = &[
    ("cost", Tier::Cost),
    ("speed", Tier::Speed),
    ("safe", Tier::Safe),
];
const EGRESS: &[(&str, Egress)] = &[("none", Egress::None), ("internet", Egress::Internet)];
const SEVERITIES: &[(&str, Severity)] = &[
    ("none", Severity::None),
    ("low", Severity::Low),
    ("medium", Severity::Medium),
    ("high", Severity::High),
    ("critical", Severity::Critical),
];

fn one_of<T: Copy>(node: &Node, what: &str, choices: &[(&str, T)]) -> Result<T, SpecError> {
    let t = decode::text(node, what)?;
    choices
        .iter()
        .find(|(name, _)| *name == t)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            SpecError::value(
                &node.span,
                format!("{what} must be one of {}, found `{t}`", names.join(", ")),
            )
        })
}

fn autoscale(node: &Node) -> Result<Autoscale, SpecError> {
    let entries = decode::map(node, "x-bulkhead.autoscale")?;
    let mut errors = Errors::default();
    strict_keys(
        entries,
        &["min", "max", "cpu_percent"],
        "x-bulkhead.autoscale",
        &mut errors,
    );
    if let Some(e) = errors.0.into_iter().next() {
        return Err(e);
    }
    let get = |k: &str, default: u32| -> Result<u32, SpecError> {
        node.get(k)
            .map(|v| decode::integer::<u32>(v, &format!("x-bulkhead.autoscale.{k}")))
            .unwrap_or(Ok(default))
    };
    let min = get("min", 1)?;
    let max = get("max", min.max(1))?;
    let cpu = get("cpu_percent", 70)?;
    if max < min || max == 0 || max > 1000 {
        return Err(SpecError::value(
            &node.span,
            format!(
                "x-bulkhead.autoscale: max ({max}) must be between min ({min}) and 1000, and at least 1"
            ),
        ));
    }
    let cpu_percent = u8::try_from(cpu)
        .ok()
        .filter(|c| (1..=100).contains(c))
        .ok_or_else(|| {
            SpecError::value(
                &node.span,
                format!("x-bulkhead.autoscale.cpu_percent must be 1 to 100, found {cpu}"),
            )
        })?;
    Ok(Autoscale {
        min,
        max,
        cpu_percent,
    })
}

fn waivers(node: &Node, errors: &mut Errors) -> Vec<Waiver> {
    let Some(items) = errors.take(decode::seq(node, "x-bulkhead.waivers")) else {
        return Vec::new();
    };
    let mut out: Vec<Waiver> = Vec::new();
    for item in items {
        if let Some(w) = errors.take(waiver(item)) {
            if out.iter().any(|o| o.rule == w.rule) {
                errors.push(SpecError::value(
                    &w.span,
                    format!("a second waiver for rule `{}`", w.rule.id()),
                ));
                continue;
            }
            out.push(w);
        }
    }
    out
}

fn waiver(node: &Node) -> Result<Waiver, SpecError> {
    let entries = decode::map(node, "each waiver")?;
    let mut errors = Errors::default();
    strict_keys(
        entries,
        &["rule", "reason"],
        "x-bulkhead.waivers",
        &mut errors,
    );
    if let Some(e) = errors.0.into_iter().next() {
        return Err(e);
    }
    let rule_node = node.get("rule").ok_or_else(|| {
        SpecError::shape(
            &node.span,
            "a waiver needs `rule` (the id of the hardening rule it waives)",
        )
    })?;
    let id = decode::text(rule_node, "x-bulkhead.waivers.rule")?;
    let rule = Rule::from_id(&id).ok_or_else(|| {
        SpecError::value(
            &rule_node.span,
            format!("x-bulkhead.waivers: no hardening rule is called `{id}`"),
        )
        .with_hint(format!("rule ids: {}", Rule::ids().join(", ")))
    })?;
    if !rule.waivable() {
        return Err(SpecError::value(
            &rule_node.span,
            format!("rule `{id}` cannot be waived"),
        ));
    }
    let reason = match node.get("reason") {
        Some(r) => decode::opt_text(r, "x-bulkhead.waivers.reason")?.unwrap_or_default(),
        None => String::new(),
    };
    if reason.trim().is_empty() {
        return Err(
            SpecError::value(&node.span, format!("the waiver for `{id}` has no reason")).with_hint(
                format!("write why the service needs it: {{ rule: {id}, reason: \"...\" }}"),
            ),
        );
    }
    Ok(Waiver {
        rule,
        reason,
        span: node.span.clone(),
    })
}

/// Decode the top-level `x-bulkhead` block.
pub fn project(node: &Node, errors: &mut Errors) -> ProjectExt {
    let mut ext = ProjectExt::default();
    let Some(entries) = errors.take(decode::map_or_null(node, "x-bulkhead")) else {
        return ext;
    };
    strict_keys(entries, &["trust"], "x-bulkhead (top level)", errors);
    if let Some(t) = node.get("trust") {
        ext.trust = trust(t, errors);
    }
    ext
}

fn trust(node: &Node, errors: &mut Errors) -> Trust {
    let mut trust = Trust::default();
    let Some(entries) = errors.take(decode::map(node, "x-bulkhead.trust")) else {
        return trust;
    };
    strict_keys(
        entries,
        &["require_signatures", "keys", "block_severity", "ignore"],
        "x-bulkhead.trust",
        errors,
    );
    for e in entries {
        let v = &e.value;
        let list = |errors: &mut Errors, what: &str| {
            errors
                .take(decode::text_list(v, what))
                .map(|items| items.into_iter().map(|(t, _)| t).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        match e.key.as_str() {
            "require_signatures" => {
                trust.require_signatures = errors
                    .take(decode::boolean(v, "x-bulkhead.trust.require_signatures"))
                    .unwrap_or(true);
            }
            "keys" => {
                trust.keys = errors
                    .take(decode::text_list(v, "x-bulkhead.trust.keys"))
                    .map(|items| {
                        items
                            .into_iter()
                            .map(|(value, span)| At { value, span })
                            .collect()
                    })
                    .unwrap_or_default();
            }
            "ignore" => trust.ignore = list(errors, "x-bulkhead.trust.ignore"),
            "block_severity" => {
                trust.block_severity = errors
                    .take(one_of(v, "x-bulkhead.trust.block_severity", SEVERITIES))
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    trust
}
