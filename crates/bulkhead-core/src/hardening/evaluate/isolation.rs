//! What separates the container from the host and its neighbours: network mode, namespaces,
//! `security_opt` (seccomp, AppArmor/SELinux, no-new-privileges), sysctls and the runtime.

use super::{Ctx, Outcome};
use crate::hardening::{NetworkMode, Profile, Rule};

pub(super) fn network(cx: &mut Ctx<'_>) -> NetworkMode {
    let mode = network_mode(cx);
    // One finding per rule, also when the mode answered only one of the two.
    for (rule, msg) in [
        (Rule::NoHostNetwork, "own network namespace"),
        (Rule::NoDefaultBridge, "never the default bridge"),
    ] {
        if !cx.findings.iter().any(|f| f.rule == rule) {
            cx.note(rule, Outcome::Enforced, msg, None);
        }
    }
    mode
}

fn network_mode(cx: &mut Ctx<'_>) -> NetworkMode {
    let Some(mode) = cx.service.network_mode.clone() else {
        cx.note(
            Rule::NoDefaultBridge,
            Outcome::Enforced,
            "only the project's security-group networks",
            None,
        );
        return NetworkMode::SecurityGroups;
    };
    match mode.value.as_str() {
        "none" => {
            cx.note(
                Rule::NoHostNetwork,
                Outcome::Enforced,
                "no network at all (network_mode: none)",
                Some(&mode.span),
            );
            NetworkMode::None
        }
        "bridge" | "default" => {
            cx.note(
                Rule::NoDefaultBridge,
                Outcome::Hardened,
                format!(
                    "network_mode `{}` replaced by the security-group networks",
                    mode.value
                ),
                Some(&mode.span),
            );
            NetworkMode::SecurityGroups
        }
        other => {
            let msg = if other == "host" {
                "`network_mode: host` shares the host's network stack".to_string()
            } else {
                format!(
                    "`network_mode: {other}` shares another container's network namespace, bypassing security groups"
                )
            };
            if cx.breach(Rule::NoHostNetwork, msg, &mode.span) {
                NetworkMode::Waived(other.to_string())
            } else {
                NetworkMode::SecurityGroups
            }
        }
    }
}

pub(super) fn security_opt(cx: &mut Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut nnp_off = false;
    for opt in cx.service.security_opt.clone() {
        let norm = opt.value.replacen(':', "=", 1).to_ascii_lowercase();
        let (rule, msg) = match norm.as_str() {
            "seccomp=unconfined" => (Some(Rule::SeccompDefault), "disables the seccomp filter"),
            s if s.starts_with("seccomp=") => (
                Some(Rule::SeccompDefault),
                "replaces Docker's default seccomp profile with a custom one",
            ),
            "apparmor=unconfined" => (Some(Rule::ApparmorDefault), "disables AppArmor confinement"),
            // Docker reads a bare `disable` as `label=disable`.
            "label=disable" | "disable" => {
                (Some(Rule::ApparmorDefault), "disables SELinux labelling")
            }
            "no-new-privileges=false" => {
                nnp_off = true;
                (
                    Some(Rule::NoNewPrivileges),
                    "allows privilege escalation through setuid binaries",
                )
            }
            "no-new-privileges" | "no-new-privileges=true" => continue,
            _ => (None, ""),
        };
        match rule {
            Some(r) if cx.breach(r, format!("`security_opt: {}` {msg}", opt.value), &opt.span) => {
                out.push(opt.value.clone())
            }
            Some(_) => {}
            None => out.push(opt.value.clone()),
        }
    }
    let nnp_waived = nnp_off
        && cx
            .findings
            .iter()
            .any(|f| f.rule == Rule::NoNewPrivileges && f.outcome == Outcome::Waived);
    if !nnp_waived {
        out.retain(|o| !o.to_ascii_lowercase().starts_with("no-new-privileges"));
        out.insert(0, "no-new-privileges:true".to_string());
    }
    for (rule, msg) in [
        (Rule::SeccompDefault, "Docker's default seccomp profile"),
        (
            Rule::ApparmorDefault,
            "default AppArmor/SELinux confinement",
        ),
        (Rule::NoNewPrivileges, "no-new-privileges set"),
    ] {
        if !cx.findings.iter().any(|f| f.rule == rule) {
            cx.note(rule, Outcome::Enforced, msg, None);
        }
    }
    out
}

pub(super) fn namespaces(cx: &mut Ctx<'_>) -> [Option<String>; 4] {
    let s = cx.service;
    let modes = [
        (Rule::NoHostPid, "pid", s.pid.clone()),
        (Rule::NoHostIpc, "ipc", s.ipc.clone()),
        (Rule::NoHostUts, "uts", s.uts.clone()),
        (Rule::NoHostUserns, "userns_mode", s.userns_mode.clone()),
    ];
    modes.map(|(rule, key, mode)| {
        let Some(mode) = mode else {
            cx.note(
                rule,
                Outcome::Enforced,
                format!("private {key} namespace"),
                None,
            );
            return None;
        };
        let v = mode.value.as_str();
        let private = matches!(
            (key, v),
            ("ipc", "private" | "shareable" | "none")
                | ("pid" | "uts", "private")
                | ("userns_mode", "private")
        );
        if private {
            cx.note(
                rule,
                Outcome::Enforced,
                format!("{key}: {v}"),
                Some(&mode.span),
            );
            return Some(v.to_string());
        }
        let what = if v == "host" {
            "the host's"
        } else {
            "another container's"
        };
        cx.breach(
            rule,
            format!("`{key}: {v}` shares {what} {key} namespace"),
            &mode.span,
        )
        .then(|| v.to_string())
    })
}

pub(super) fn sysctls(cx: &mut Ctx<'_>, profile: &Profile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let span = cx.service.key_span("sysctls").clone();
    for (k, v) in cx.service.sysctls.clone() {
        if profile.safe_sysctls.contains(&k)
            || cx.breach(
                Rule::SafeSysctls,
                format!("sysctl {k} is outside the safe set"),
                &span,
            )
        {
            out.push((k, v));
        }
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::SafeSysctls) {
        let msg = if out.is_empty() {
            "no sysctls"
        } else {
            "sysctls only from the safe set"
        };
        cx.note(Rule::SafeSysctls, Outcome::Enforced, msg, None);
    }
    out
}

pub(super) fn runtime(cx: &mut Ctx<'_>, profile: &Profile) -> Option<String> {
    let Some(r) = cx.service.runtime.clone() else {
        cx.note(
            Rule::DefaultRuntime,
            Outcome::Enforced,
            "the engine's default runtime",
            None,
        );
        return None;
    };
    if profile.runtimes.contains(&r.value) {
        cx.note(
            Rule::DefaultRuntime,
            Outcome::Enforced,
            format!("runtime `{}`", r.value),
            Some(&r.span),
        );
        return Some(r.value);
    }
    if cx.breach(
        Rule::DefaultRuntime,
        format!(
            "runtime `{}` is not one of {}",
            r.value,
            profile.runtimes.join(", ")
        ),
        &r.span,
    ) {
        return Some(r.value);
    }
    None
}
