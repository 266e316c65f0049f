//! The one pure function of the profile: a service in, its effective container settings and one
//! finding per rule out. Waivers are applied here; nothing is deployed.

use serde::Serialize;

use super::profile::{Binding, Effective, Health, NetworkMode, Profile};
use super::rules::Rule;
use crate::spec::Span;
use crate::spec::extension::Waiver;
use crate::spec::model::{Mount, MountKind, Restart, Service};
use crate::spec::volumes;

/// What happened to one rule for one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The spec already meets the rule; Bulkhead enforces it.
    Enforced,
    /// The spec was silent or asked for less; Bulkhead applies the rule's setting.
    Hardened,
    /// The spec asks for something the rule forbids, and no waiver covers it.
    Refused,
    /// The spec breaks the rule under a waiver, which is recorded.
    Waived,
    /// Worth a look; does not block (a missing health check, an image by tag).
    Flagged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub outcome: Outcome,
    pub message: String,
    /// Where in the spec the finding comes from, when it comes from the spec.
    pub at: Option<Span>,
    /// For waived findings: the reason given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver_reason: Option<String>,
}

/// The outcome for one service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hardened {
    pub effective: Effective,
    pub findings: Vec<Finding>,
}

impl Hardened {
    pub fn refused(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.outcome == Outcome::Refused)
    }

    pub fn deployable(&self) -> bool {
        self.refused().next().is_none()
    }
}

struct Ctx<'a> {
    service: &'a Service,
    project_dir: &'a str,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    fn note(
        &mut self,
        rule: Rule,
        outcome: Outcome,
        message: impl Into<String>,
        at: Option<&Span>,
    ) {
        self.findings.push(Finding {
            rule,
            outcome,
            message: message.into(),
            at: at.cloned(),
            waiver_reason: None,
        });
    }

    /// The spec breaks `rule`: refused, unless a waiver covers it. Returns whether it is waived.
    fn breach(&mut self, rule: Rule, message: String, at: &Span) -> bool {
        let waiver: Option<&Waiver> = self
            .service
            .bulkhead
            .waivers
            .iter()
            .find(|w| w.rule == rule);
        let (outcome, reason) = match waiver {
            Some(w) => (Outcome::Waived, Some(w.reason.clone())),
            None => (Outcome::Refused, None),
        };
        self.findings.push(Finding {
            rule,
            outcome,
            message,
            at: Some(at.clone()),
            waiver_reason: reason,
        });
        outcome == Outcome::Waived
    }
}

/// Harden one service under `profile`. `project_dir` bounds bind mounts.
pub fn harden(service: &Service, project_dir: &str, profile: &Profile) -> Hardened {
    let mut cx = Ctx {
        service,
        project_dir,
        findings: Vec::new(),
    };
    let user = user(&mut cx);
    let (cap_drop, cap_add) = capabilities(&mut cx, profile);
    let privileged = privileged(&mut cx);
    mounts(&mut cx);
    let network_mode = network(&mut cx);
    let (read_only_rootfs, tmpfs) = rootfs(&mut cx, profile);
    let security_opt = security_opt(&mut cx);
    let [pid, ipc, uts, userns_mode] = namespaces(&mut cx);
    let devices = devices(&mut cx);
    let (memory, pids_limit, nano_cpus) = limits(&mut cx, profile);
    let restart = restart(&mut cx, profile);
    let health = health(&mut cx);
    let ports = ports(&mut cx);
    let sysctls = sysctls(&mut cx, profile);
    let runtime = runtime(&mut cx, profile);
    image(&mut cx);
    unused_waivers(&mut cx);
    let effective = Effective {
        user,
        read_only_rootfs,
        tmpfs,
        cap_drop,
        cap_add,
        privileged,
        security_opt,
        network_mode,
        pid,
        ipc,
        uts,
        userns_mode,
        devices,
        memory,
        memory_swap: memory,
        pids_limit,
        cpu_shares: profile.cpu_shares,
        nano_cpus,
        restart,
        health,
        ports,
        init: service.init.unwrap_or(true),
        sysctls,
        runtime,
    };
    Hardened {
        effective,
        findings: cx.findings,
    }
}

/// Whether a `user:` value names root (by name or uid 0), with or without a group. An empty
/// user name (`""`, `":1000"`, an unset `${UID}:${GID}`) is root too: the engine falls back to
/// uid 0 when only a group is given, and an image without USER runs as root.
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name.is_empty() || name == "root" || name.parse::<u32>() == Ok(0)
}

fn user(cx: &mut Ctx<'_>) -> Option<String> {
    // `user: ""` (typically an unset variable) is no user at all: the engine takes the image's.
    let spec_user = cx
        .service
        .user
        .as_ref()
        .filter(|u| !u.value.trim().is_empty());
    match spec_user {
        Some(u) if is_root_user(&u.value) => {
            let waived = cx.breach(
                Rule::NonRoot,
                format!("`user: {}` runs as root", u.value),
                &u.span.clone(),
            );
            waived.then(|| u.value.clone())
        }
        Some(u) => {
            cx.note(
                Rule::NonRoot,
                Outcome::Enforced,
                format!("runs as `{}`", u.value),
                Some(&u.span),
            );
            Some(u.value.clone())
        }
        None => {
            let msg = "no `user:`; the image's USER is checked at deploy and refused if it is root";
            cx.note(Rule::NonRoot, Outcome::Flagged, msg, None);
            None
        }
    }
}

fn cap_name(c: &str) -> String {
    let upper = c.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

fn capabilities(cx: &mut Ctx<'_>, profile: &Profile) -> (Vec<String>, Vec<String>) {
    let mut add = Vec::new();
    for c in cx.service.cap_add.clone() {
        let name = cap_name(&c.value);
        let free = profile.free_caps.contains(&name);
        if free || cx.breach(Rule::CapDropAll, format!("cap_add {name}"), &c.span) {
            add.push(name);
        }
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::CapDropAll) {
        let msg = if add.is_empty() {
            "all capabilities dropped".to_string()
        } else {
            format!("all capabilities dropped, {} added back", add.join(", "))
        };
        cx.note(Rule::CapDropAll, Outcome::Enforced, msg, None);
    }
    (vec!["ALL".to_string()], add)
}

fn privileged(cx: &mut Ctx<'_>) -> bool {
    let p = cx.service.privileged.clone();
    if p.value {
        cx.breach(
            Rule::NoPrivileged,
            "`privileged: true` gives the container every device and capability".into(),
            &p.span,
        )
    } else {
        cx.note(
            Rule::NoPrivileged,
            Outcome::Enforced,
            "not privileged",
            None,
        );
        false
    }
}

fn is_docker_socket(path: &str) -> bool {
    let p = volumes::normalize(path);
    p.ends_with("/docker.sock")
        || p.ends_with("/containerd.sock")
        || [
            "/var/run",
            "/run",
            "/var/run/docker",
            "/run/docker",
            "/var/lib/docker",
        ]
        .contains(&p.as_str())
}

/// Whether a host directory holds the Docker or containerd socket (`/`, `/var`, ...): mounting
/// it, even read-only, lets the container connect to the engine.
fn holds_docker_socket(path: &str) -> bool {
    let p = volumes::normalize(path);
    [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/var/lib/docker",
    ]
    .iter()
    .any(|s| volumes::is_within(s, &p))
}

fn mounts(cx: &mut Ctx<'_>) {
    let binds: Vec<(Mount, Span)> = cx
        .service
        .volumes
        .iter()
        .filter(|m| m.value.kind == MountKind::Bind)
        .map(|m| (m.value.clone(), m.span.clone()))
        .collect();
    for (m, span) in &binds {
        match &m.host_path {
            None => {
                cx.breach(Rule::NoHostMounts, format!("bind mount to {} has an empty host path (is the variable that should name it set?)", m.target), span);
            }
            Some(host) if is_docker_socket(host) => {
                cx.breach(
                    Rule::NoDockerSocket,
                    format!(
                        "mounts {host}, which gives control of the Docker Engine (root on the host)"
                    ),
                    span,
                );
            }
            Some(host) if !volumes::is_within(host, cx.project_dir) => {
                cx.breach(
                    Rule::NoHostMounts,
                    format!(
                        "bind-mounts {host}, outside the project directory {}",
                        cx.project_dir
                    ),
                    span,
                );
                // A waiver for host mounts must not hand over the engine along with `/`.
                if holds_docker_socket(host) {
                    cx.breach(
                        Rule::NoDockerSocket,
                        format!("mounts {host}, which holds the Docker socket (root on the host)"),
                        span,
                    );
                }
            }
            Some(_) => {}
        }
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::NoHostMounts) {
        let msg = if binds.is_empty() {
            "no bind mounts"
        } else {
            "bind mounts stay inside the project directory"
        };
        cx.note(Rule::NoHostMounts, Outcome::Enforced, msg, None);
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::NoDockerSocket) {
        cx.note(
            Rule::NoDockerSocket,
            Outcome::Enforced,
            "no Docker socket",
            None,
        );
    }
}

fn network(cx: &mut Ctx<'_>) -> NetworkMode {
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

fn rootfs(cx: &mut Ctx<'_>, profile: &Profile) -> (bool, Vec<(String, String)>) {
    let mut tmpfs: Vec<(String, String)> = cx
        .service
        .tmpfs
        .iter()
        .map(|t| match t.value.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t.value.clone(), String::new()),
        })
        .collect();
    let read_only = match cx.service.read_only {
        Some(false) => {
            let span = cx.service.key_span("read_only").clone();
            !cx.breach(
                Rule::ReadOnlyRootfs,
                "`read_only: false` makes the root filesystem writable".into(),
                &span,
            )
        }
        Some(true) => {
            cx.note(
                Rule::ReadOnlyRootfs,
                Outcome::Enforced,
                "read-only root filesystem",
                None,
            );
            true
        }
        None => {
            cx.note(
                Rule::ReadOnlyRootfs,
                Outcome::Hardened,
                "root filesystem made read-only, with a tmpfs at /tmp",
                None,
            );
            true
        }
    };
    let has_tmp = tmpfs.iter().any(|(p, _)| p == "/tmp")
        || cx
            .service
            .volumes
            .iter()
            .any(|m| m.value.target.trim_end_matches('/') == "/tmp");
    if read_only && !has_tmp {
        tmpfs.push((
            "/tmp".to_string(),
            format!("rw,noexec,nosuid,nodev,size={}", profile.tmp_size),
        ));
    }
    (read_only, tmpfs)
}

fn security_opt(cx: &mut Ctx<'_>) -> Vec<String> {
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

fn namespaces(cx: &mut Ctx<'_>) -> [Option<String>; 4] {
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

fn devices(cx: &mut Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for d in cx.service.devices.clone() {
        if cx.breach(
            Rule::NoDevices,
            format!("exposes host device {}", d.value),
            &d.span,
        ) {
            out.push(d.value.clone());
        }
    }
    if out.is_empty() && !cx.findings.iter().any(|f| f.rule == Rule::NoDevices) {
        cx.note(Rule::NoDevices, Outcome::Enforced, "no host devices", None);
    }
    out
}

fn limits(cx: &mut Ctx<'_>, profile: &Profile) -> (u64, i64, Option<i64>) {
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
    let cpu_msg = match s.limits.cpus {
        Some(c) => format!("cpu shares {}, limit {c} CPUs", profile.cpu_shares),
        None => format!("cpu shares {}", profile.cpu_shares),
    };
    cx.note(Rule::CpuShares, Outcome::Enforced, cpu_msg, None);
    (memory, pids, nano)
}

fn restart(cx: &mut Ctx<'_>, profile: &Profile) -> (String, u32) {
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

fn health(cx: &mut Ctx<'_>) -> Health {
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

fn ports(cx: &mut Ctx<'_>) -> Vec<Binding> {
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

fn sysctls(cx: &mut Ctx<'_>, profile: &Profile) -> Vec<(String, String)> {
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

fn runtime(cx: &mut Ctx<'_>, profile: &Profile) -> Option<String> {
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

fn image(cx: &mut Ctx<'_>) {
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

fn unused_waivers(cx: &mut Ctx<'_>) {
    for w in &cx.service.bulkhead.waivers {
        let used = cx
            .findings
            .iter()
            .any(|f| f.rule == w.rule && f.outcome == Outcome::Waived);
        if !used {
            let msg = if w.rule == Rule::NonRoot && cx.service.user.is_none() {
                "the waiver for `non-root` is kept for the image's USER, checked at deploy"
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
