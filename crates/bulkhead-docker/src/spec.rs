//! `ContainerSpec` → the engine's create-container body: every field onto `Config`, `HostConfig`
//! and `NetworkingConfig`, using only fields API 1.41 knows (newer ones stay unset, so omitted).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HealthConfig, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkingConfig, PortBinding, PortMap, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use bulkhead_ports::{ContainerSpec, HealthSpec, MountSpec, PortSpec};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("device `{0}` is not HOST[:CONTAINER][:PERMISSIONS]")]
    Device(String),
    #[error("unknown restart policy `{0}` (no, always, unless-stopped, on-failure)")]
    RestartPolicy(String),
    #[error("a retry limit ({1}) only goes with the on-failure restart policy, not `{0}`")]
    RetryLimit(String, u32),
}

/// The create-container body for `spec`.
pub(crate) fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, SpecError> {
    let (exposed_ports, port_bindings) = ports(&spec.ports);
    let mut host_config = host_config(spec)?;
    host_config.port_bindings = port_bindings;
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: non_empty(&spec.env),
        labels: (!spec.labels.is_empty()).then(|| hash_map(&spec.labels)),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        hostname: spec.hostname.clone(),
        exposed_ports,
        healthcheck: spec.healthcheck.as_ref().map(healthcheck),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: spec.stop_timeout.map(whole_seconds),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin_open),
        domainname: spec.domainname.clone(),
        host_config: Some(host_config),
        networking_config: networking_config(spec),
        ..Default::default()
    })
}

/// Isolation, namespaces, devices, resources and restart policy.
fn host_config(spec: &ContainerSpec) -> Result<HostConfig, SpecError> {
    let devices = spec
        .devices
        .iter()
        .map(|d| device(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HostConfig {
        readonly_rootfs: Some(spec.read_only_rootfs),
        mounts: non_empty_vec(spec.mounts.iter().filter_map(mount).collect()),
        tmpfs: tmpfs(&spec.mounts),
        cap_drop: non_empty(&spec.cap_drop),
        cap_add: non_empty(&spec.cap_add),
        group_add: non_empty(&spec.group_add),
        privileged: Some(spec.privileged),
        security_opt: non_empty(&spec.security_opt),
        network_mode: network_mode(spec),
        pid_mode: spec.pid_mode.clone(),
        ipc_mode: spec.ipc_mode.clone(),
        uts_mode: spec.uts_mode.clone(),
        userns_mode: spec.userns_mode.clone(),
        devices: (!devices.is_empty()).then_some(devices),
        memory: non_zero(spec.memory),
        memory_swap: non_zero(spec.memory_swap),
        pids_limit: non_zero(spec.pids_limit),
        cpu_shares: non_zero(spec.cpu_shares),
        nano_cpus: spec.nano_cpus,
        restart_policy: Some(restart_policy(&spec.restart)?),
        init: Some(spec.init),
        sysctls: (!spec.sysctls.is_empty()).then(|| hash_map(&spec.sysctls)),
        ulimits: (!spec.ulimits.is_empty()).then(|| spec.ulimits.iter().map(ulimit).collect()),
        runtime: spec.runtime.clone(),
        extra_hosts: non_empty(&spec.extra_hosts),
        dns: non_empty(&spec.dns),
        dns_search: non_empty(&spec.dns_search),
        dns_options: non_empty(&spec.dns_opt),
        shm_size: spec.shm_size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        cpuset_cpus: spec.cpuset.clone(),
        oom_score_adj: spec.oom_score_adj,
        memory_reservation: spec
            .memory_reservation
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        log_config: spec
            .log
            .as_ref()
            .map(|(driver, options)| HostConfigLogConfig {
                typ: Some(driver.clone()),
                config: (!options.is_empty()).then(|| hash_map(options)),
            }),
        ..Default::default()
    })
}

/// The first network (joined at create), else the explicit mode; unset means the default bridge.
fn network_mode(spec: &ContainerSpec) -> Option<String> {
    match spec.networks.first() {
        Some((name, _)) => Some(name.clone()),
        None => spec.network_mode.clone(),
    }
}

/// The first network's endpoint with its aliases. Only one: engines before API 1.44 refuse more
/// than one endpoint at create, so the others are connected afterwards.
fn networking_config(spec: &ContainerSpec) -> Option<NetworkingConfig> {
    let (name, aliases) = spec.networks.first()?;
    Some(NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            name.clone(),
            crate::endpoints::endpoint(aliases, spec.fixed_addresses.get(name).copied()),
        )])),
    })
}

/// Binds and volumes; a tmpfs goes in `HostConfig.Tmpfs` (see [`tmpfs`]).
fn mount(spec: &MountSpec) -> Option<Mount> {
    match spec {
        MountSpec::Bind {
            source,
            target,
            read_only,
        } => Some(Mount {
            typ: Some(MountType::BIND),
            source: Some(source.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..Default::default()
        }),
        MountSpec::Volume {
            name,
            target,
            read_only,
        } => Some(Mount {
            typ: Some(MountType::VOLUME),
            source: Some(name.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..Default::default()
        }),
        MountSpec::Tmpfs { .. } => None,
    }
}

/// Every tmpfs as `HostConfig.Tmpfs` (target → mount options): API 1.41's `Mounts` carry only
/// a tmpfs's size and mode, and would drop `uid=`, `gid=`, `exec`, `ro`... The options go in
/// the order given, then `size=` (bytes) and `mode=` (octal); the engine puts its own
/// `noexec,nosuid,nodev` before them, and the last of two opposite flags counts.
fn tmpfs(mounts: &[MountSpec]) -> Option<HashMap<String, String>> {
    let map: HashMap<String, String> = mounts
        .iter()
        .filter_map(|m| match m {
            MountSpec::Tmpfs {
                target,
                size,
                mode,
                options,
            } => {
                let options: Vec<String> = options
                    .iter()
                    .cloned()
                    .chain(size.map(|s| format!("size={s}")))
                    .chain(mode.map(|m| format!("mode={m:o}")))
                    .collect();
                Some((target.clone(), options.join(",")))
            }
            _ => None,
        })
        .collect();
    (!map.is_empty()).then_some(map)
}

/// `HOST`, `HOST:CONTAINER`, `HOST:PERMISSIONS` or `HOST:CONTAINER:PERMISSIONS` (as the docker
/// CLI reads `--device`); permissions default to `rwm`.
fn device(text: &str) -> Result<DeviceMapping, SpecError> {
    let bad = || SpecError::Device(text.to_string());
    let is_permissions = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = text.split(':').collect();
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, perms] if is_permissions(perms) => (*host, *host, *perms),
        [host, container] => (*host, *container, "rwm"),
        [host, container, perms] if is_permissions(perms) => (*host, *container, *perms),
        _ => return Err(bad()),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(bad());
    }
    Ok(DeviceMapping {
        path_on_host: Some(host.to_string()),
        path_in_container: Some(container.to_string()),
        cgroup_permissions: Some(permissions.to_string()),
    })
}

/// The retry limit is sent only with `on-failure`: the engine rejects it with any other policy.
fn restart_policy((name, retries): &(String, u32)) -> Result<RestartPolicy, SpecError> {
    let policy = match name.as_str() {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => return Err(SpecError::RestartPolicy(other.to_string())),
    };
    let on_failure = policy == RestartPolicyNameEnum::ON_FAILURE;
    if !on_failure && *retries > 0 {
        return Err(SpecError::RetryLimit(name.clone(), *retries));
    }
    Ok(RestartPolicy {
        name: Some(policy),
        maximum_retry_count: on_failure.then_some(i64::from(*retries)),
    })
}

/// Durations go to the engine in nanoseconds.
fn healthcheck(spec: &HealthSpec) -> HealthConfig {
    HealthConfig {
        test: Some(spec.test.clone()),
        interval: spec.interval.map(nanos),
        timeout: spec.timeout.map(nanos),
        retries: spec.retries.map(i64::from),
        start_period: spec.start_period.map(nanos),
        ..Default::default()
    }
}

/// `ExposedPorts` and `PortBindings`; several bindings of one container port share its key, and
/// a missing host port lets the engine pick one.
fn ports(specs: &[PortSpec]) -> (Option<Vec<String>>, Option<PortMap>) {
    if specs.is_empty() {
        return (None, None);
    }
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: PortMap = HashMap::new();
    for spec in specs {
        let key = port_key(spec);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let binding = PortBinding {
            host_ip: (!spec.host_ip.is_empty()).then(|| spec.host_ip.clone()),
            host_port: Some(spec.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        bindings
            .entry(key)
            .or_default()
            .get_or_insert_default()
            .push(binding);
    }
    (Some(exposed), Some(bindings))
}

/// `8080/tcp`: the engine's name for a container port.
fn port_key(spec: &PortSpec) -> String {
    let protocol = match spec.protocol.as_str() {
        "" => "tcp".to_string(),
        other => other.to_ascii_lowercase(),
    };
    format!("{}/{protocol}", spec.container_port)
}

fn ulimit((name, soft, hard): &(String, i64, i64)) -> ResourcesUlimits {
    ResourcesUlimits {
        name: Some(name.clone()),
        soft: Some(*soft),
        hard: Some(*hard),
    }
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Whole seconds, rounded up so a sub-second grace period is not cut to zero.
fn whole_seconds(duration: Duration) -> i64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

fn non_zero(value: i64) -> Option<i64> {
    (value != 0).then_some(value)
}

fn non_empty_vec<T>(values: Vec<T>) -> Option<Vec<T>> {
    (!values.is_empty()).then_some(values)
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn hash_map(map: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
