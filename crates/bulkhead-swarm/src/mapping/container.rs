//! The task's container as a Swarm `ContainerSpec` (API 1.41 fields only): the process, its
//! user and capabilities, read-only root, tmpfs mounts, health check, stop, hosts and DNS,
//! secrets as files; its resources, restart policy and log driver.

use std::time::Duration;

use bollard::models::{
    HealthConfig, Limit, Mount, MountTmpfsOptions, MountType, ResourceObject, ResourcesUlimits,
    TaskSpecContainerSpec, TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecPrivileges, TaskSpecContainerSpecPrivilegesSeLinuxContext,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use bulkhead_core::deploy::{EngineTemplate, HealthTemplate, MountTemplate, Template};
use bulkhead_core::spec::security_opt::{SecurityOpt, classify};
use bulkhead_core::spec::units::parse_duration;

use super::{ServiceInput, hash_map, nanos};
use crate::tmpfs::swarm_tmpfs;

/// The container of every task. Settings `gaps` refuses never reach here; those it reports as
/// unenforced (no-new-privileges, the swap limit, the CPU weight, the runtime) have no field.
pub(super) fn container_spec(
    input: &ServiceInput<'_>,
    owner: &std::collections::BTreeMap<String, String>,
    (uid, gid): (u32, u32),
) -> TaskSpecContainerSpec {
    let t = input.template;
    let mut labels = t.labels.clone();
    labels.extend(owner.clone());
    TaskSpecContainerSpec {
        image: Some(input.image.as_str().to_string()),
        labels: Some(hash_map(labels)),
        // Swarm's Command replaces the image's ENTRYPOINT and Args its CMD.
        command: t.entrypoint.clone(),
        args: t.command.clone(),
        hostname: t.hostname.clone(),
        env: non_empty(&t.env),
        dir: t.working_dir.clone(),
        user: Some(format!("{uid}:{gid}")),
        groups: (!t.groups.is_empty()).then(|| t.groups.iter().map(u32::to_string).collect()),
        privileges: privileges(&t.security_opt),
        tty: Some(t.tty),
        open_stdin: Some(t.stdin_open),
        read_only: Some(t.read_only_rootfs),
        mounts: mounts(&t.mounts),
        stop_signal: t.stop_signal.clone(),
        stop_grace_period: Some(nanos(Duration::from_secs(t.stop_grace_secs))),
        health_check: t.health.as_ref().map(health),
        hosts: hosts(&t.engine.extra_hosts),
        dns_config: dns_config(&t.engine),
        secrets: secrets(input, (uid, gid)),
        init: Some(t.init),
        sysctls: (!t.sysctls.is_empty()).then(|| t.sysctls.iter().cloned().collect()),
        capability_add: non_empty(&t.cap_add),
        capability_drop: non_empty(&t.cap_drop),
        ulimits: (!t.ulimits.is_empty()).then(|| {
            t.ulimits
                .iter()
                .map(|(name, soft, hard)| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(*soft),
                    hard: Some(*hard),
                })
                .collect()
        }),
        ..Default::default()
    }
}

/// Limits (memory, PIDs, CPUs) and the memory reservation, which Swarm uses to place tasks
/// (it is no soft limit on the container, as it is on the engine).
pub(super) fn resources(t: &Template) -> TaskSpecResources {
    let bytes = |b: u64| i64::try_from(b).unwrap_or(i64::MAX);
    TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: t.nano_cpus,
            memory_bytes: (t.memory > 0).then(|| bytes(t.memory)),
            pids: (t.pids_limit > 0).then_some(t.pids_limit),
        }),
        reservations: t.engine.memory_reservation.map(|m| ResourceObject {
            memory_bytes: Some(bytes(m)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `on-failure` with its bound; `no` never; `always` and `unless-stopped` (never left by the
/// hardening) any exit.
pub(super) fn restart_policy((name, retries): &(String, u32)) -> TaskSpecRestartPolicy {
    let condition = match name.as_str() {
        "on-failure" => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        "always" | "unless-stopped" => TaskSpecRestartPolicyConditionEnum::ANY,
        _ => TaskSpecRestartPolicyConditionEnum::NONE,
    };
    let bounded = condition == TaskSpecRestartPolicyConditionEnum::ON_FAILURE && *retries > 0;
    TaskSpecRestartPolicy {
        condition: Some(condition),
        max_attempts: bounded.then_some(i64::from(*retries)),
        ..Default::default()
    }
}

pub(super) fn log_driver(e: &EngineTemplate) -> Option<TaskSpecLogDriver> {
    e.log_driver.as_ref().map(|name| TaskSpecLogDriver {
        name: Some(name.clone()),
        options: (!e.log_options.is_empty()).then(|| hash_map(e.log_options.clone())),
    })
}

/// Which `SELinuxContext` field a `label=` option sets: `disable`, `user:`, `role:`, `type:`,
/// `level:`; `None` for any other.
pub(crate) fn selinux_field(label: &str) -> Option<(&'static str, &str)> {
    if label == "disable" {
        return Some(("disable", ""));
    }
    let (key, value) = label.split_once(':')?;
    let key = ["user", "role", "type", "level"]
        .into_iter()
        .find(|k| *k == key)?;
    Some((key, value))
}

/// Only SELinux labels (waived `label=` options) have a field in API 1.41's `Privileges`.
fn privileges(opts: &[String]) -> Option<TaskSpecContainerSpecPrivileges> {
    let mut context = TaskSpecContainerSpecPrivilegesSeLinuxContext::default();
    let mut any = false;
    for opt in opts {
        let SecurityOpt::Label(label) = classify(opt) else {
            continue;
        };
        let Some((key, value)) = selinux_field(label) else {
            continue;
        };
        any = true;
        let value = Some(value.to_string());
        match key {
            "disable" => context.disable = Some(true),
            "user" => context.user = value,
            "role" => context.role = value,
            "type" => context.typ = value,
            _ => context.level = value,
        }
    }
    any.then(|| TaskSpecContainerSpecPrivileges {
        se_linux_context: Some(context),
        ..Default::default()
    })
}

/// Every tmpfs with its size, mode and read-only flag (`gaps` refused any other option, and
/// binds and volumes).
fn mounts(mounts: &[MountTemplate]) -> Option<Vec<Mount>> {
    let out: Vec<Mount> = mounts
        .iter()
        .filter_map(|m| match m {
            MountTemplate::Tmpfs {
                target,
                size,
                options,
            } => swarm_tmpfs(*size, options).ok().map(|t| Mount {
                target: Some(target.clone()),
                typ: Some(MountType::TMPFS),
                read_only: Some(t.read_only),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: t.size,
                    mode: t.mode,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            MountTemplate::Bind { .. } | MountTemplate::Volume { .. } => None,
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// Durations as the template wrote them (`1s`, `1m30s`), in nanoseconds.
fn health(h: &HealthTemplate) -> HealthConfig {
    let ns = |d: &Option<String>| {
        d.as_deref()
            .and_then(|text| parse_duration(text).ok())
            .map(nanos)
    };
    HealthConfig {
        test: (!h.test.is_empty()).then(|| h.test.clone()),
        interval: ns(&h.interval),
        timeout: ns(&h.timeout),
        retries: h.retries.map(i64::from),
        start_period: ns(&h.start_period),
        ..Default::default()
    }
}

/// `name:address` → `address name` (hosts(5), as Swarm takes them).
fn hosts(extra_hosts: &[String]) -> Option<Vec<String>> {
    let out: Vec<String> = extra_hosts
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(name, address)| format!("{address} {name}"))
        .collect();
    (!out.is_empty()).then_some(out)
}

fn dns_config(e: &EngineTemplate) -> Option<TaskSpecContainerSpecDnsConfig> {
    if e.dns.is_empty() && e.dns_search.is_empty() && e.dns_opt.is_empty() {
        return None;
    }
    Some(TaskSpecContainerSpecDnsConfig {
        nameservers: non_empty(&e.dns),
        search: non_empty(&e.dns_search),
        options: non_empty(&e.dns_opt),
    })
}

fn secrets(
    input: &ServiceInput<'_>,
    (uid, gid): (u32, u32),
) -> Option<Vec<TaskSpecContainerSpecSecrets>> {
    let out: Vec<TaskSpecContainerSpecSecrets> = input
        .secrets
        .iter()
        .map(|s| TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(s.target.clone()),
                uid: Some(uid.to_string()),
                gid: Some(gid.to_string()),
                mode: Some(s.mode),
            }),
            secret_id: Some(s.secret_id.clone()),
            secret_name: Some(s.secret_name.clone()),
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}
