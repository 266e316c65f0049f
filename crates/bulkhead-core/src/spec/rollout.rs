//! How a service's replicas are replaced — `deploy.update_config` (by `up`) and
//! `deploy.rollback_config` (by `bulkhead rollback`) — and its lifecycle hooks `post_start`
//! and `pre_stop`: decoded, bounded, and refused where Bulkhead cannot honour them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{MountKind, Service};
use super::units;
use super::yaml::{Node, Value};

/// The longest `delay` between batches, and the longest `monitor`.
pub const MAX_WAIT: Duration = Duration::from_secs(600);
/// The most commands one hook list may hold.
pub const MAX_HOOKS: usize = 8;

/// What a rollout does when more replicas fail than `max_failure_ratio` tolerates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Stop; every failed replica's predecessor keeps serving (Bulkhead's behaviour before
    /// these keys existed).
    #[default]
    Rollback,
    /// Stop where it is, leave what is done, and say so.
    Pause,
    /// Go on with the next batches; the failures are reported at the end.
    Continue,
}

impl FailureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
        }
    }
}

/// Whether the old replica stops before its successor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    StopFirst,
    StartFirst,
}

/// One of `update_config` / `rollback_config`. The default is Bulkhead's own rollout: one
/// replica at a time, no delay, stop at the first failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutConfig {
    /// Replicas replaced at once; 0: all of them in one batch.
    pub parallelism: u32,
    /// Wait between one batch being ready and the next starting, in ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    #[serde(default)]
    pub failure_action: FailureAction,
    /// How long (ms) a new replica must run without a restart to count as ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_ms: Option<u64>,
    /// The share of the rollout's replicas that may fail without the failure action, in
    /// parts per million (Compose's `max_failure_ratio` 0.25 is 250 000).
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub max_failure_ppm: u32,
    /// `None`: Bulkhead's choice (start-first, stop-first for a service with writable state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero32(n: &u32) -> bool {
    *n == 0
}

impl Default for RolloutConfig {
    fn default() -> RolloutConfig {
        RolloutConfig {
            parallelism: 1,
            delay_ms: 0,
            failure_action: FailureAction::Rollback,
            monitor_ms: None,
            max_failure_ppm: 0,
            order: None,
        }
    }
}

impl RolloutConfig {
    pub fn is_default(&self) -> bool {
        *self == RolloutConfig::default()
    }

    /// Replicas per batch for a rollout of `count` replicas (at least 1).
    pub fn batch(&self, count: usize) -> usize {
        match self.parallelism {
            0 => count.max(1),
            n => usize::try_from(n).unwrap_or(usize::MAX).max(1),
        }
    }

    /// True when `failed` of `total` replicas is more than `max_failure_ratio` allows.
    pub fn exceeded(&self, failed: usize, total: usize) -> bool {
        let (failed, total) = (failed as u128, total as u128);
        failed * 1_000_000 > u128::from(self.max_failure_ppm) * total
    }

    /// The shape in words, for `plan` and progress: `2 at a time, 5 s apart, on failure pause`.
    pub fn describe(&self) -> String {
        let mut out = match self.parallelism {
            0 => "all replicas at once".to_string(),
            1 => "one replica at a time".to_string(),
            n => format!("{n} replicas at a time"),
        };
        if self.delay_ms > 0 {
            out.push_str(&format!(
                ", {} between batches",
                units::format_duration(Duration::from_millis(self.delay_ms))
            ));
        }
        if let Some(m) = self.monitor_ms {
            out.push_str(&format!(
                ", each ready after {} without a restart",
                units::format_duration(Duration::from_millis(m))
            ));
        }
        if self.max_failure_ppm > 0 {
            out.push_str(&format!(
                ", up to {}% may fail",
                f64::from(self.max_failure_ppm) / 10_000.0
            ));
        }
        out.push_str(&format!(", on failure {}", self.failure_action.as_str()));
        out
    }
}

/// Decode `deploy.update_config` or `deploy.rollback_config` (`what` names it).
pub(super) fn config(node: &Node, what: &str) -> Result<RolloutConfig, SpecError> {
    let entries = decode::map(node, what)?;
    let mut errs = Errors::default();
    decode::check_keys(
        entries,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
        &[],
        what,
        &mut errs,
    );
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let mut c = RolloutConfig::default();
    for e in entries {
        let v = &e.value;
        let k = format!("{what}.{}", e.key);
        match e.key.as_str() {
            "parallelism" => c.parallelism = decode::integer::<u32>(v, &k)?,
            "delay" => {
                let d = decode::parsed(v, &k, units::parse_duration)?;
                if d > MAX_WAIT {
                    return Err(SpecError::value(
                        &v.span,
                        format!("{k} must be at most {}s", MAX_WAIT.as_secs()),
                    ));
                }
                c.delay_ms = millis(d);
            }
            "monitor" => {
                let d = decode::parsed(v, &k, units::parse_duration)?;
                if d < Duration::from_secs(1) || d > MAX_WAIT {
                    return Err(SpecError::value(
                        &v.span,
                        format!("{k} must be between 1s and {}s", MAX_WAIT.as_secs()),
                    )
                    .with_hint("a new replica is ready once it ran this long without a restart (and, with a health check, is healthy); a restart needs a second to show"));
                }
                c.monitor_ms = Some(millis(d));
            }
            "failure_action" => {
                c.failure_action = match decode::text(v, &k)?.as_str() {
                    "rollback" => FailureAction::Rollback,
                    "pause" => FailureAction::Pause,
                    "continue" => FailureAction::Continue,
                    other => {
                        return Err(SpecError::value(
                            &v.span,
                            format!("{k} `{other}` is unknown; use rollback, pause or continue"),
                        ));
                    }
                }
            }
            "max_failure_ratio" => {
                let t = decode::text(v, &k)?;
                let ratio: f64 = t.trim().parse().map_err(|_| {
                    SpecError::shape(&v.span, format!("{k} must be a number, found `{t}`"))
                })?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(SpecError::value(
                        &v.span,
                        format!("{k} `{t}` must be between 0 and 1"),
                    ));
                }
                // In range 0..=1 after the check: the product fits.
                c.max_failure_ppm = (ratio * 1_000_000.0).round() as u32;
            }
            "order" => {
                c.order = Some(match decode::text(v, &k)?.as_str() {
                    "stop-first" => Order::StopFirst,
                    "start-first" => Order::StartFirst,
                    other => {
                        return Err(SpecError::value(
                            &v.span,
                            format!("{k} `{other}` is unknown; use stop-first or start-first"),
                        ));
                    }
                })
            }
            _ => {}
        }
    }
    Ok(c)
}

/// What a service's rollout configuration asks that its other keys forbid: `order:
/// start-first` on a service with writable state or a fixed host port (two replicas would
/// write one volume, or want one port), and a `monitor` that contradicts `x-bulkhead.settle`.
/// (An image's `VOLUME`s are only known at deploy, which refuses start-first over them too.)
pub(super) fn check_service(s: &Service, errors: &mut Errors) {
    for (key, at) in [
        ("update_config", &s.update_config),
        ("rollback_config", &s.rollback_config),
    ] {
        let Some(at) = at else { continue };
        if at.value.order == Some(Order::StartFirst)
            && let Some(why) = stateful(s)
        {
            errors.push(
                SpecError::value(
                    &at.span,
                    format!(
                        "service `{}`: deploy.{key}.order `start-first` is refused: the service {why}, and start-first would run the old and the new replica on it at once",
                        s.name
                    ),
                )
                .with_hint("remove `order` (Bulkhead replaces it stop-first), or declare `x-bulkhead: { share_volumes: true }` if the application coordinates two writers of one volume"),
            );
        }
        if let (Some(m), Some(settle)) = (at.value.monitor_ms, s.bulkhead.settle)
            && u128::from(m) != settle.as_millis()
        {
            errors.push(
                SpecError::value(
                    &at.span,
                    format!(
                        "service `{}`: deploy.{key}.monitor ({}) and x-bulkhead.settle ({}) disagree",
                        s.name,
                        units::format_duration(Duration::from_millis(m)),
                        units::format_duration(settle)
                    ),
                )
                .with_hint("they are one setting (how long a new replica runs without a restart before it is ready): keep `monitor`"),
            );
        }
    }
}

/// Why two replicas of `s` cannot run at once, when they cannot (what the spec shows).
fn stateful(s: &Service) -> Option<String> {
    for m in &s.volumes {
        let m = &m.value;
        if m.read_only {
            continue;
        }
        match m.kind {
            MountKind::Volume if m.source.is_empty() => {
                return Some(format!("writes its own volume at {}", m.target));
            }
            MountKind::Volume if !s.bulkhead.share_volumes => {
                return Some(format!("writes volume `{}` at {}", m.source, m.target));
            }
            MountKind::Bind if !s.bulkhead.share_volumes => {
                return Some(format!("writes a bind mount at {}", m.target));
            }
            _ => {}
        }
    }
    s.ports
        .iter()
        .find_map(|p| p.value.published.filter(|(a, _)| *a > 0))
        .map(|(port, _)| format!("binds fixed host port {port}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One `post_start` or `pre_stop` command, run through the engine's exec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// Exec form (a string is split as a shell would, without running one).
    pub command: Vec<String>,
    /// `None`: the service's own user. Resolved through the image's user database at deploy,
    /// refused when it is root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Never shown: only the names go into `check --json` (see [`Hook::shown`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

impl Hook {
    /// The hook as `check --json` shows it: the environment's names, never its values.
    pub fn shown(&self) -> Hook {
        Hook {
            environment: self
                .environment
                .keys()
                .map(|k| (k.clone(), "(hidden)".to_string()))
                .collect(),
            ..self.clone()
        }
    }
}

/// Decode `post_start` or `pre_stop` (`what`): a list of hooks.
pub(super) fn hooks(node: &Node, what: &str) -> Result<Vec<Hook>, SpecError> {
    let items = decode::seq(node, what)?;
    if items.len() > MAX_HOOKS {
        return Err(SpecError::value(
            &node.span,
            format!("{what} has {} commands; at most {MAX_HOOKS}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| hook(item, &format!("{what}[{i}]")))
        .collect()
}

fn hook(node: &Node, what: &str) -> Result<Hook, SpecError> {
    let entries = decode::map(node, what)?;
    let mut errs = Errors::default();
    decode::check_keys(
        entries,
        &[
            "command",
            "user",
            "privileged",
            "working_dir",
            "environment",
        ],
        &[],
        what,
        &mut errs,
    );
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let mut h = Hook::default();
    for e in entries {
        let v = &e.value;
        let k = format!("{what}.{}", e.key);
        match e.key.as_str() {
            "command" => h.command = command(v, &k)?,
            "user" => h.user = decode::opt_text(v, &k)?.filter(|u| !u.is_empty()),
            "working_dir" => {
                let dir = decode::text(v, &k)?;
                if !dir.starts_with('/') {
                    return Err(SpecError::value(
                        &v.span,
                        format!("{k} `{dir}` must be an absolute path in the container"),
                    ));
                }
                h.working_dir = Some(dir);
            }
            "privileged" if decode::boolean(v, &k)? => {
                return Err(SpecError::value(&v.span, format!("{k}: true is refused"))
                    .with_hint("a privileged exec gets every capability and no seccomp or AppArmor profile, around the container's hardening: remove it"));
            }
            "environment" => {
                for (name, value) in decode::key_values(v, &k)? {
                    let Some(value) = value else {
                        return Err(SpecError::value(
                            &v.span,
                            format!("{k}: `{name}` has no value"),
                        )
                        .with_hint("a hook's variables are not taken from the deploying environment: give each a value"));
                    };
                    h.environment.insert(name, value);
                }
            }
            _ => {}
        }
    }
    if h.command.is_empty() {
        return Err(SpecError::shape(
            &node.span,
            format!("{what} needs a command"),
        ));
    }
    Ok(h)
}

fn command(node: &Node, what: &str) -> Result<Vec<String>, SpecError> {
    match &node.value {
        Value::Scalar { text, .. } => units::shell_split(text)
            .map_err(|m| SpecError::value(&node.span, format!("{what}: {m}"))),
        Value::Seq(items) => items
            .iter()
            .map(|i| decode::text(i, &format!("each item of {what}")))
            .collect(),
        _ => Err(SpecError::shape(
            &node.span,
            format!("{what} must be text or a list of text"),
        )),
    }
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
