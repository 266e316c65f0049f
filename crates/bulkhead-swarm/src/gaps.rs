//! What a Swarm service on Engine API 1.41 (Docker 20.10) cannot express of a container
//! template, setting by setting: the hardening rules its tasks run without, and the settings
//! it cannot carry at all. Pure; what `check --backend swarm` shows, and what `service_spec`
//! refuses.
//!
//! Every field of the template is read here (the destructuring below names them all, so a new
//! field does not compile until it is judged): a setting is mapped, or it is a gap. The claims
//! were checked against the API 1.41 `ContainerSpec`, `TaskSpec` and `Resources` types, Docker
//! 20.10's Swarm executor, and `docker inspect` of task containers on a real Swarm (see
//! docs/swarm.md).

use bulkhead_core::deploy::{EngineTemplate, MountTemplate, Template};
use bulkhead_core::hardening::Rule;
use bulkhead_core::spec::security_opt::{SecurityOpt, classify};
use serde::Serialize;

use crate::mapping::selinux_field;
use crate::tmpfs::swarm_tmpfs;

/// What a gap does to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The tasks run without this protection (the engine backend's containers have it). The
    /// service is deployed; the verdict shows the gap.
    Unenforced,
    /// The Swarm API cannot carry the setting at all: the service is refused.
    Refused,
}

/// One thing Swarm cannot do as the template asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The hardening rule concerned; `None` for a plain engine setting (`oom_score_adj`...).
    pub rule: Option<Rule>,
    /// The Compose key the setting comes from.
    pub setting: &'static str,
    pub effect: Effect,
    /// One sentence: what Swarm does instead, and why.
    pub reason: String,
}

impl Gap {
    /// The rule's id, else the setting: what `check` prints first.
    pub fn id(&self) -> &'static str {
        self.rule.map_or(self.setting, Rule::id)
    }

    fn unenforced(rule: Rule, setting: &'static str, reason: impl Into<String>) -> Gap {
        Gap {
            rule: Some(rule),
            setting,
            effect: Effect::Unenforced,
            reason: reason.into(),
        }
    }

    fn refused(rule: Option<Rule>, setting: &'static str, reason: impl Into<String>) -> Gap {
        Gap {
            rule,
            setting,
            effect: Effect::Refused,
            reason: reason.into(),
        }
    }
}

/// Every gap of `template` on Swarm, in template order.
pub fn gaps(template: &Template) -> Vec<Gap> {
    // Mapped as they are (see `mapping`): command, entrypoint (but an empty one), env, labels, working_dir,
    // hostname, health, ulimits, stop_signal, stop_grace_secs, tty, stdin_open, user, groups,
    // read_only_rootfs, cap_drop, cap_add, pids_limit, nano_cpus, init, sysctls. `networks`
    // are the engine's: a Swarm service joins the overlays `service_spec` is given.
    let Template {
        command: _,
        entrypoint,
        env: _,
        labels: _,
        working_dir: _,
        hostname: _,
        mounts,
        networks: _,
        network_mode,
        health: _,
        ports,
        ulimits: _,
        stop_signal: _,
        stop_grace_secs: _,
        tty: _,
        stdin_open: _,
        user: _,
        groups: _,
        read_only_rootfs: _,
        cap_drop: _,
        cap_add: _,
        privileged,
        security_opt,
        pid,
        ipc,
        uts,
        userns_mode,
        devices,
        memory,
        memory_swap,
        pids_limit: _,
        cpu_shares,
        nano_cpus: _,
        restart,
        init: _,
        sysctls: _,
        runtime,
        image_volumes,
        engine,
    } = template;
    let mut out = Vec::new();
    if entrypoint.as_ref().is_some_and(Vec::is_empty) {
        out.push(Gap::refused(
            None,
            "entrypoint",
            "`entrypoint: []` cannot clear the image's entrypoint on Swarm (an empty Command \
             keeps it)",
        ));
    }
    mount_gaps(mounts, image_volumes, &mut out);
    network_gaps(network_mode.as_deref(), ports, &mut out);
    if *privileged {
        out.push(Gap::refused(
            Some(Rule::NoPrivileged),
            "privileged",
            "a Swarm service cannot be privileged (API 1.41 has no such field)",
        ));
    }
    security_opt_gaps(security_opt, &mut out);
    namespace_gaps(pid, ipc, uts, userns_mode, &mut out);
    if !devices.is_empty() {
        out.push(Gap::refused(
            Some(Rule::NoDevices),
            "devices",
            format!(
                "a Swarm service cannot map host devices ({}): API 1.41 has no devices field",
                devices.join(", ")
            ),
        ));
    }
    resource_gaps(*memory, *memory_swap, *cpu_shares, &mut out);
    if !matches!(
        restart.0.as_str(),
        "" | "no" | "on-failure" | "always" | "unless-stopped"
    ) {
        out.push(Gap::refused(
            Some(Rule::RestartOnFailure),
            "restart",
            format!("restart policy `{}` has no Swarm equivalent", restart.0),
        ));
    }
    runtime_gaps(runtime.as_deref(), &mut out);
    engine_gaps(engine, &mut out);
    out
}

/// The refusals among `gaps`: what `service_spec` cannot build.
pub fn refusals(template: &Template) -> Vec<Gap> {
    gaps(template)
        .into_iter()
        .filter(|g| g.effect == Effect::Refused)
        .collect()
}

fn mount_gaps(mounts: &[MountTemplate], image_volumes: &[String], out: &mut Vec<Gap>) {
    for m in mounts {
        match m {
            MountTemplate::Bind { target, .. } => out.push(Gap::refused(
                Some(Rule::NoHostMounts),
                "volumes",
                format!(
                    "the bind mount at {target} would name a path on whichever node runs the task, \
                     outside the project directory Bulkhead confines"
                ),
            )),
            MountTemplate::Volume { target, .. } => out.push(Gap::refused(
                None,
                "volumes",
                format!(
                    "the volume at {target} would be a separate local volume on each node, so \
                     replicas on different nodes would silently keep different data"
                ),
            )),
            MountTemplate::Tmpfs {
                target,
                size,
                options,
            } => {
                if let Err(bad) = swarm_tmpfs(*size, options) {
                    out.push(Gap::refused(
                        Some(Rule::NoexecTmpfs),
                        "tmpfs",
                        format!(
                            "the tmpfs at {target} asks for {}, but API 1.41 carries only a tmpfs's \
                             size and mode (the engine mounts it noexec, nosuid, nodev)",
                            bad.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    for path in image_volumes {
        out.push(Gap::refused(
            None,
            "volumes",
            format!(
                "the image's volume {path} would be a separate local volume on each node, so \
                 replicas on different nodes would silently keep different data"
            ),
        ));
    }
}

fn network_gaps(
    mode: Option<&str>,
    ports: &[bulkhead_core::deploy::PortTemplate],
    out: &mut Vec<Gap>,
) {
    match mode {
        None | Some("host") => {}
        Some("none") => out.push(Gap {
            rule: None,
            setting: "network_mode",
            effect: Effect::Unenforced,
            reason: "Swarm has no `none` network (a task with no network joins the node's default \
                     bridge): the task gets an internal overlay of its own instead, with an \
                     interface and no peer"
                .to_string(),
        }),
        Some(other) => out.push(Gap::refused(
            Some(Rule::NoHostNetwork),
            "network_mode",
            format!("a Swarm task cannot join `{other}`: only overlays, `host` or `bridge`"),
        )),
    }
    for p in ports {
        let shown = p.host_port.map_or_else(
            || format!("{}", p.container_port),
            |h| format!("{h}:{}", p.container_port),
        );
        let wildcard = matches!(p.host_ip.as_str(), "" | "0.0.0.0" | "::");
        if p.host_ip.starts_with("127.") || p.host_ip == "::1" {
            out.push(Gap::refused(
                Some(Rule::PortsLocalhost),
                "ports",
                format!(
                    "port {shown} is bound to {}, but a Swarm port is published on every address \
                     of the node (API 1.41 has no host IP); set x-bulkhead.public: true or reach \
                     it over the overlay",
                    p.host_ip
                ),
            ));
        } else if !wildcard {
            out.push(Gap::refused(
                None,
                "ports",
                format!(
                    "port {shown} asks for address {}, but a Swarm port is published on every \
                     address of the node",
                    p.host_ip
                ),
            ));
        } else if p.host_port.is_none() {
            out.push(Gap::refused(
                None,
                "ports",
                format!(
                    "port {shown} has no published port: Bulkhead publishes fixed host-mode \
                     ports only on Swarm (the routing mesh needs IPVS)"
                ),
            ));
        }
    }
}

fn security_opt_gaps(opts: &[String], out: &mut Vec<Gap>) {
    for opt in opts {
        match classify(opt) {
            SecurityOpt::NoNewPrivileges(true) => out.push(Gap::unenforced(
                Rule::NoNewPrivileges,
                "security_opt",
                "tasks run without no_new_privs: API 1.41 cannot set it (Privileges.NoNewPrivileges \
                 came with API 1.44), so a setuid file in the image still changes the user",
            )),
            // Swarm's tasks never get the bit: what the waiver asked for.
            SecurityOpt::NoNewPrivileges(false) => {}
            SecurityOpt::Label(label) if selinux_field(label).is_some() => {} // SELinuxContext
            SecurityOpt::Label(label) => out.push(Gap::refused(
                Some(Rule::ApparmorDefault),
                "security_opt",
                format!("`label={label}` has no field in API 1.41's SELinux context"),
            )),
            SecurityOpt::Seccomp(profile) => out.push(Gap::refused(
                Some(Rule::SeccompDefault),
                "security_opt",
                format!(
                    "`seccomp={profile}` cannot be set: API 1.41 has no seccomp field (came with \
                     1.44); tasks always get the engine's default profile"
                ),
            )),
            SecurityOpt::Apparmor(profile) => out.push(Gap::refused(
                Some(Rule::ApparmorDefault),
                "security_opt",
                format!(
                    "`apparmor={profile}` cannot be set: API 1.41 has no AppArmor field (came \
                     with 1.44); tasks always get the engine's default profile"
                ),
            )),
            SecurityOpt::SystemPaths(v) => out.push(Gap::refused(
                Some(Rule::MaskedPaths),
                "security_opt",
                format!("`systempaths={v}` cannot be set on a Swarm task; its kernel paths stay masked"),
            )),
            SecurityOpt::Unknown => out.push(Gap::refused(
                None,
                "security_opt",
                format!("`{opt}` is not an option Swarm can carry"),
            )),
        }
    }
}

fn namespace_gaps(
    pid: &Option<String>,
    ipc: &Option<String>,
    uts: &Option<String>,
    userns: &Option<String>,
    out: &mut Vec<Gap>,
) {
    let modes = [
        (Rule::NoHostPid, "pid", pid),
        (Rule::NoHostIpc, "ipc", ipc),
        (Rule::NoHostUts, "uts", uts),
        (Rule::NoHostUserns, "userns_mode", userns),
    ];
    for (rule, key, mode) in modes {
        let Some(mode) = mode.as_deref() else {
            continue;
        };
        // Private is what every Swarm task gets (`IpcMode: private` in `docker inspect`).
        if mode == "private" {
            continue;
        }
        out.push(Gap::refused(
            Some(rule),
            key,
            format!(
                "`{key}: {mode}` cannot be set: API 1.41 has no namespace modes, every task gets \
                 private ones"
            ),
        ));
    }
}

fn resource_gaps(memory: u64, memory_swap: u64, cpu_shares: i64, out: &mut Vec<Gap>) {
    if memory > 0 && memory_swap > 0 {
        out.push(Gap::unenforced(
            Rule::MemoryLimit,
            "memswap_limit",
            format!(
                "the memory limit holds ({} MiB) but not the swap limit: API 1.41 has no swap \
                 setting, so tasks get the engine's default of as much swap again (MemorySwap = \
                 2 × Memory)",
                memory >> 20
            ),
        ));
    }
    let reason = if cpu_shares > 0 && cpu_shares != 1024 {
        format!(
            "API 1.41 has no CPU weight for tasks: they run at the kernel's default 1024, not \
             the {cpu_shares} asked for (CpuShares 0 in docker inspect)"
        )
    } else {
        "API 1.41 has no CPU weight for tasks: they run at the kernel's default 1024 \
         (CpuShares 0 in docker inspect, which CIS 5.12 reads as unset)"
            .to_string()
    };
    out.push(Gap::unenforced(Rule::CpuShares, "cpu_shares", reason));
}

fn runtime_gaps(runtime: Option<&str>, out: &mut Vec<Gap>) {
    match runtime {
        None => {}
        Some("runc") => out.push(Gap::unenforced(
            Rule::DefaultRuntime,
            "runtime",
            "API 1.41 cannot name a task's OCI runtime: tasks run with each node's default \
             runtime, runc unless that node's daemon says otherwise",
        )),
        Some(other) => out.push(Gap::refused(
            Some(Rule::DefaultRuntime),
            "runtime",
            format!(
                "runtime `{other}` cannot be chosen: API 1.41 runs tasks with each node's default \
                 runtime"
            ),
        )),
    }
}

fn engine_gaps(engine: &EngineTemplate, out: &mut Vec<Gap>) {
    // Mapped: extra_hosts (ContainerSpec.Hosts), dns, dns_search, dns_opt (DNSConfig),
    // memory_reservation (Resources.Reservations), the log driver and its options.
    let EngineTemplate {
        extra_hosts,
        dns: _,
        dns_search: _,
        dns_opt: _,
        domainname,
        shm_size,
        cpuset,
        oom_score_adj,
        memory_reservation: _,
        log_driver: _,
        log_options: _,
    } = engine;
    for host in extra_hosts {
        if !host
            .split_once(':')
            .is_some_and(|(n, a)| !n.is_empty() && !a.is_empty())
        {
            out.push(Gap::refused(
                None,
                "extra_hosts",
                format!("`{host}` is not name:address"),
            ));
        }
    }
    let unsupported = [
        (
            domainname.is_some(),
            "domainname",
            "API 1.41 has no domain name for tasks",
        ),
        (
            shm_size.is_some(),
            "shm_size",
            "API 1.41 has no /dev/shm size for tasks; declare a tmpfs at /dev/shm instead",
        ),
        (
            cpuset.is_some(),
            "cpuset",
            "API 1.41 cannot pin a task to CPUs",
        ),
        (
            oom_score_adj.is_some(),
            "oom_score_adj",
            "API 1.41 has no OOM score for tasks (it came with API 1.46)",
        ),
    ];
    for (asked, setting, reason) in unsupported {
        if asked {
            out.push(Gap::refused(None, setting, reason));
        }
    }
}

#[cfg(test)]
#[path = "gaps_tests.rs"]
mod tests;
