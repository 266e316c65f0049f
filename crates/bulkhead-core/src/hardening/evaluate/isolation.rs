//! What separates the container from the host and its neighbours: network mode, namespaces,
//! `security_opt` (seccomp, AppArmor/SELinux, masked paths, no-new-privileges), sysctls and the
//! runtime.

use super::{Ctx, Outcome};
use crate::hardening::{NetworkMode, Profile, Rule};
use crate::spec::security_opt::{SecurityOpt, classify};

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

/// Only `no-new-privileges` (true) stays without a waiver. Every other option Docker knows
/// relaxes a default: seccomp (`unconfined` or a custom profile, whose file is never read),
/// AppArmor (`unconfined` or another profile), SELinux (`label=disable`, a type such as
/// `spc_t`, a user, role or fixed level instead of the engine's unique one) or the masked
/// kernel paths (`systempaths=unconfined`).
pub(super) fn security_opt(cx: &mut Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut nnp_off = false;
    for opt in cx.service.security_opt.clone() {
        let (rule, msg) = match classify(&opt.value) {
            SecurityOpt::NoNewPrivileges(true) => continue,
            SecurityOpt::NoNewPrivileges(false) => {
                nnp_off = true;
                (
                    Rule::NoNewPrivileges,
                    "allows privilege escalation through setuid binaries",
                )
            }
            SecurityOpt::Seccomp("unconfined") => {
                (Rule::SeccompDefault, "disables the seccomp filter")
            }
            SecurityOpt::Seccomp(_) => (
                Rule::SeccompDefault,
                "replaces Docker's default seccomp profile with a custom one",
            ),
            SecurityOpt::Apparmor("unconfined") => {
                (Rule::ApparmorDefault, "disables AppArmor confinement")
            }
            SecurityOpt::Apparmor(_) => (
                Rule::ApparmorDefault,
                "replaces Docker's default AppArmor profile with another one",
            ),
            SecurityOpt::Label("disable") => (Rule::ApparmorDefault, "disables SELinux labelling"),
            SecurityOpt::Label(l) if l.starts_with("type:") => (
                Rule::ApparmorDefault,
                "sets the SELinux type (`spc_t` runs the container unconfined)",
            ),
            SecurityOpt::Label(_) => (
                Rule::ApparmorDefault,
                "sets the SELinux label instead of the engine's unique one",
            ),
            SecurityOpt::SystemPaths(_) => (
                Rule::MaskedPaths,
                "unmasks the kernel paths under /proc and /sys",
            ),
            // Refused when the spec is loaded; kept strict should a service come from elsewhere.
            SecurityOpt::Unknown => (
                Rule::NoNewPrivileges,
                "is not an option Docker knows; only no-new-privileges:true is allowed",
            ),
        };
        if cx.breach(
            rule,
            format!("`security_opt: {}` {msg}", opt.value),
            &opt.span,
        ) {
            out.push(opt.value.clone());
        }
    }
    let nnp_waived = nnp_off
        && cx
            .findings
            .iter()
            .any(|f| f.rule == Rule::NoNewPrivileges && f.outcome == Outcome::Waived);
    if !nnp_waived {
        out.retain(|o| !matches!(classify(o), SecurityOpt::NoNewPrivileges(_)));
        out.insert(0, "no-new-privileges:true".to_string());
    }
    for (rule, msg) in [
        (Rule::SeccompDefault, "Docker's default seccomp profile"),
        (
            Rule::ApparmorDefault,
            "default AppArmor/SELinux confinement",
        ),
        (Rule::MaskedPaths, "kernel paths masked"),
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
