//! What the container may use and how it is run and reached: memory, pids and CPU limits, the
//! restart policy, the health check, published ports, image pinning, and waivers left unused.

use super::{Ctx, Finding, Outcome};
use crate::hardening::{Binding, Health, Profile, Rule};
use crate::spec::LOCAL_LOG_DRIVERS;
use crate::spec::model::{Logging, Restart};

pub(super) fn limits(cx: &mut Ctx<'_>, profile: &Profile) -> (u64, i64, Option<i64>) {
    let s = cx.service;
    let memory = match s.limits.memory {
        // 0 means "no limit" to the engine: treat it as unset.
        Some(m) if m > 0 => {
            cx.note(
                Rule::MemoryLimit,
                Outcome::Enforced,
                format!("memory limit {} MiB, no swap", m >> 20),
                None,
            );
            m
        }
        _ => {
            cx.note(
                Rule::MemoryLimit,
                Outcome::Hardened,
                format!(
                    "no memory limit in the spec; {} MiB, no swap",
                    profile.default_memory >> 20
                ),
                None,
            );
            profile.default_memory
        }
    };
    if let Some(r) = s.reservations.memory.filter(|r| *r > memory) {
        cx.note(
            Rule::MemoryLimit,
            Outcome::Flagged,
            format!(
                "memory reservation {} MiB is above the limit {} MiB",
                r >> 20,
                memory >> 20
            ),
            None,
        );
    }
    let pids = match s.limits.pids {
        Some(p) if p > 0 => {
            cx.note(
                Rule::PidsLimit,
                Outcome::Enforced,
                format!("pids limit {p}"),
                None,
            );
            p
        }
        other => {
            let why = if other.is_some() {
                "an unlimited pids limit in the spec"
            } else {
                "no pids limit in the spec"
            };
            cx.note(
                Rule::PidsLimit,
                Outcome::Hardened,
                format!("{why}; {}", profile.default_pids),
                None,
            );
            profile.default_pids
        }
    };
    let nano = s
        .limits
        .cpus
        .filter(|c| *c > 0.0)
        .map(|c| (c * 1e9).round() as i64);
    let limit = s
        .limits
        .cpus
        .map(|c| format!(", limit {c} CPUs"))
        .unwrap_or_default();
    match s.engine.cpu_shares.clone() {
        Some(w) if w.value > profile.cpu_shares => cx.note(
            Rule::CpuShares,
            Outcome::Hardened,
            format!(
                "cpu_shares {} lowered to {}: no service weighs more than the profile's default{limit}",
                w.value, profile.cpu_shares
            ),
            Some(&w.span),
        ),
        Some(w) => cx.note(
            Rule::CpuShares,
            Outcome::Enforced,
            format!("cpu shares {}{limit}", w.value),
            Some(&w.span),
        ),
        None => cx.note(
            Rule::CpuShares,
            Outcome::Enforced,
            format!("cpu shares {}{limit}", profile.cpu_shares),
            None,
        ),
    }
    (memory, pids, nano)
}

/// The CPU weight: the spec's, never above the profile's (a tenant may yield CPU under
/// contention, never claim more than its neighbours).
pub(super) fn cpu_shares(cx: &Ctx<'_>, profile: &Profile) -> i64 {
    cx.service
        .engine
        .cpu_shares
        .as_ref()
        .map_or(profile.cpu_shares, |w| w.value.min(profile.cpu_shares))
}

/// The log driver: a local one (json-file, local, none) keeps the logs on the host where
/// `bulkhead logs` reads them; any other makes the engine ship them from the host's own
/// network namespace, around the service's security group and egress rule: refused unless
/// waived. A refused driver is dropped (the engine's default).
pub(super) fn logging(cx: &mut Ctx<'_>) -> Option<Logging> {
    let Some(l) = cx.service.engine.logging.clone() else {
        cx.note(
            Rule::LocalLogging,
            Outcome::Enforced,
            "logs kept by the engine's default driver",
            None,
        );
        return None;
    };
    let driver = l.value.driver.clone().unwrap_or_default();
    if driver.is_empty() || LOCAL_LOG_DRIVERS.contains(&driver.as_str()) {
        let shown = if driver.is_empty() {
            "the engine's default"
        } else {
            driver.as_str()
        };
        cx.note(
            Rule::LocalLogging,
            Outcome::Enforced,
            format!("logs kept on the host by {shown} driver"),
            Some(&l.span),
        );
        return Some(l.value);
    }
    let msg = format!(
        "log driver `{driver}` sends the logs from the host, outside the service's security group and egress rule"
    );
    cx.breach(Rule::LocalLogging, msg, &l.span)
        .then_some(l.value)
}

pub(super) fn restart(cx: &mut Ctx<'_>, profile: &Profile) -> (String, u32) {
    let max = profile.max_restarts;
    let Some(r) = cx.service.restart.clone() else {
        cx.note(
            Rule::RestartOnFailure,
            Outcome::Hardened,
            format!("restart on-failure, at most {max} times"),
            None,
        );
        return ("on-failure".into(), max);
    };
    match r.value {
        Restart::No => {
            cx.note(
                Rule::RestartOnFailure,
                Outcome::Enforced,
                "never restarted (restart: no)",
                Some(&r.span),
            );
            ("no".into(), 0)
        }
        Restart::OnFailure(Some(n)) if n <= max && n > 0 => {
            cx.note(
                Rule::RestartOnFailure,
                Outcome::Enforced,
                format!("restart on-failure, at most {n} times"),
                Some(&r.span),
            );
            ("on-failure".into(), n)
        }
        other => {
            let asked = match other {
                Restart::Always => "always".to_string(),
                Restart::UnlessStopped => "unless-stopped".to_string(),
                Restart::OnFailure(Some(n)) => format!("on-failure:{n}"),
                _ => "on-failure".to_string(),
            };
            cx.note(
                Rule::RestartOnFailure,
                Outcome::Hardened,
                format!("restart `{asked}` bounded to on-failure, at most {max} times"),
                Some(&r.span),
            );
            ("on-failure".into(), max)
        }
    }
}

pub(super) fn health(cx: &mut Ctx<'_>) -> Health {
    let h = Health::from_spec(cx.service.healthcheck.as_ref());
    let span = cx.service.keys.get("healthcheck").cloned();
    match &h {
        Health::Spec { check } if check.test.is_some() => cx.note(Rule::Healthcheck, Outcome::Enforced, "health check from the spec", span.as_ref()),
        Health::Spec { .. } => cx.note(Rule::Healthcheck, Outcome::Flagged, "the spec sets health check timings only; the image must have a HEALTHCHECK (checked at deploy)", span.as_ref()),
        Health::Image => cx.note(Rule::Healthcheck, Outcome::Flagged, "no health check in the spec; the image's HEALTHCHECK is used if it has one (checked at deploy), otherwise readiness cannot be known", None),
        Health::Disabled => cx.note(Rule::Healthcheck, Outcome::Flagged, "health check disabled; readiness and failures cannot be detected", span.as_ref()),
    }
    h
}

pub(super) fn ports(cx: &mut Ctx<'_>) -> Vec<Binding> {
    let public = cx.service.bulkhead.public;
    let mut out = Vec::new();
    for p in cx.service.ports.clone() {
        let asked = p.value.host_ip.clone();
        let loopback = |ip: &str| ip == "127.0.0.1" || ip == "::1" || ip.starts_with("127.");
        let host_ip = match asked.as_deref() {
            Some(ip) if loopback(ip) => ip.to_string(),
            Some(ip) if public => ip.to_string(),
            None if public => "0.0.0.0".to_string(),
            _ => "127.0.0.1".to_string(),
        };
        let port_text = p
            .value
            .published
            .map(|(a, _)| a.to_string())
            .unwrap_or_else(|| "(any)".into());
        if public {
            cx.note(
                Rule::PortsLocalhost,
                Outcome::Flagged,
                format!("port {port_text} published on {host_ip} (x-bulkhead.public: true)"),
                Some(&p.span),
            );
        } else if asked.as_deref().is_some_and(|ip| !loopback(ip)) {
            cx.note(Rule::PortsLocalhost, Outcome::Hardened, format!("port {port_text} asked on {} bound to 127.0.0.1; set x-bulkhead.public: true to publish it", asked.unwrap_or_default()), Some(&p.span));
        } else {
            cx.note(
                Rule::PortsLocalhost,
                Outcome::Enforced,
                format!("port {port_text} bound to {host_ip}"),
                Some(&p.span),
            );
        }
        out.push(Binding {
            host_ip,
            host_ports: p.value.published,
            container_ports: (p.value.target.start, p.value.target.end),
            protocol: p.value.target.protocol,
        });
    }
    if out.is_empty() {
        cx.note(
            Rule::PortsLocalhost,
            Outcome::Enforced,
            "no published ports",
            None,
        );
    }
    out
}

pub(super) fn image(cx: &mut Ctx<'_>) {
    let s = cx.service;
    let (outcome, msg, span) = match (&s.image, &s.build) {
        (Some(i), _) if i.value.contains("@sha256:") => (
            Outcome::Enforced,
            format!("image pinned by digest: {}", i.value),
            Some(i.span.clone()),
        ),
        (Some(i), None) => (
            Outcome::Flagged,
            format!(
                "image `{}` is referenced by tag; it will be pinned to a digest at deploy",
                i.value
            ),
            Some(i.span.clone()),
        ),
        (_, Some(_)) => (
            Outcome::Flagged,
            "image is built from source; it will be pinned to the built digest at deploy"
                .to_string(),
            s.keys.get("build").cloned(),
        ),
        (None, None) => return,
    };
    cx.note(Rule::PinnedImage, outcome, msg, span.as_ref());
}

pub(super) fn unused_waivers(cx: &mut Ctx<'_>) {
    for w in &cx.service.bulkhead.waivers {
        let used = cx
            .findings
            .iter()
            .any(|f| f.rule == w.rule && f.outcome == Outcome::Waived);
        if !used {
            // Only `uid:gid` in digits is decided here; any other user (a name, a uid without
            // its group, the image's USER) is resolved through the image's /etc/passwd at
            // deploy, where the waiver may still be needed.
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let decided = cx.service.user.as_ref().is_some_and(
                |u| matches!(u.value.split_once(':'), Some((a, b)) if digits(a) && digits(b)),
            );
            let msg = if w.rule == Rule::NonRoot && !decided {
                "the waiver for `non-root` is kept for the user, resolved through the image's /etc/passwd at deploy"
                    .to_string()
            } else {
                format!(
                    "the waiver for `{}` is not needed: the service meets the rule; remove it",
                    w.rule.id()
                )
            };
            cx.findings.push(Finding {
                rule: w.rule,
                outcome: Outcome::Flagged,
                message: msg,
                at: Some(w.span.clone()),
                waiver_reason: None,
            });
        }
    }
}
