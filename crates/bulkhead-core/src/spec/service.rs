//! Decoding one Compose service into the typed model, key by key.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::extension;
use super::model::{
    At, Build, Condition, Dependency, EnvFile, FileRef, Resources, Restart, Service,
    ServiceNetwork, Ulimit,
};
use super::units;
use super::volumes::{self, PathBase};
use super::yaml::{Entry, Node, Value};
use super::{health, ports};

/// The service keys Bulkhead supports.
pub const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "healthcheck",
    "depends_on",
    "deploy",
    "mem_limit",
    "cpus",
    "pids_limit",
    "user",
    "working_dir",
    "read_only",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "network_mode",
    "networks",
    "volumes",
    "restart",
    "labels",
    "secrets",
    "configs",
    "stop_signal",
    "stop_grace_period",
    "container_name",
    "hostname",
    "init",
    "ulimits",
    "sysctls",
    "devices",
    "platform",
    "profiles",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "runtime",
    "stdin_open",
    "tty",
    "scale",
];

/// Compose keys Bulkhead knows but does not support, and what to do instead.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "links",
        "remove it: services reach the services they may call by name; declare who may call whom with depends_on or x-bulkhead.allow_from",
    ),
    (
        "external_links",
        "remove it: Bulkhead only connects services of the same project",
    ),
    (
        "volumes_from",
        "remove it and mount the named volume in both services",
    ),
    (
        "extends",
        "not supported yet: copy the shared keys with a YAML anchor and merge key (<<: *base)",
    ),
    (
        "cgroup_parent",
        "remove it: Bulkhead places every container in its own cgroup",
    ),
    (
        "cgroup",
        "remove it: containers always get a private cgroup namespace",
    ),
    (
        "cpu_shares",
        "remove it: Bulkhead sets CPU shares from the tier; use cpus for a limit",
    ),
    (
        "cpuset",
        "remove it: give the service x-bulkhead.tier: speed to get dedicated cores",
    ),
    (
        "mem_reservation",
        "use deploy.resources.reservations.memory",
    ),
    (
        "memswap_limit",
        "remove it: swap is never allowed above the memory limit",
    ),
    (
        "oom_kill_disable",
        "remove it: the OOM killer is what enforces the memory limit",
    ),
    (
        "logging",
        "remove it: Bulkhead collects logs itself (bulkhead logs)",
    ),
    ("gpus", "not supported yet"),
    (
        "group_add",
        "remove it, or grant the group through the image's user",
    ),
    (
        "extra_hosts",
        "not supported yet: services find each other by name",
    ),
    ("dns", "not supported yet"),
    ("dns_search", "not supported yet"),
    ("dns_opt", "not supported yet"),
    ("domainname", "not supported yet"),
    (
        "mac_address",
        "remove it: addresses are assigned by the security-group networks",
    ),
    (
        "pull_policy",
        "remove it: Bulkhead resolves every image to a digest at deploy",
    ),
    ("shm_size", "not supported yet"),
    ("storage_opt", "not supported yet"),
    (
        "develop",
        "remove it: watch mode is a development tool of Docker Compose",
    ),
];

const HEALTH_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];

/// Decode one service. `base` resolves bind paths; `errors` receives every problem.
pub fn service(
    name: &str,
    entry: &Entry,
    base: &PathBase<'_>,
    errors: &mut Errors,
) -> Option<Service> {
    let what = format!("service `{name}`");
    let entries = errors.take(decode::map_or_null(&entry.value, &what))?;
    decode::check_keys(entries, SERVICE_KEYS, UNSUPPORTED, &what, errors);
    let mut s = empty(name, entry);
    for e in entries {
        s.keys.insert(e.key.clone(), e.key_span.clone());
        key(&mut s, e, base, errors);
    }
    Some(s)
}

fn empty(name: &str, entry: &Entry) -> Service {
    let at_false = At {
        value: false,
        span: entry.key_span.clone(),
    };
    Service {
        name: name.to_string(),
        span: entry.key_span.clone(),
        keys: BTreeMap::new(),
        image: None,
        build: None,
        command: None,
        entrypoint: None,
        environment: BTreeMap::new(),
        env_file: Vec::new(),
        ports: Vec::new(),
        expose: Vec::new(),
        healthcheck: None,
        depends_on: BTreeMap::new(),
        replicas: 1,
        limits: Resources::default(),
        reservations: Resources::default(),
        user: None,
        working_dir: None,
        read_only: None,
        tmpfs: Vec::new(),
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        privileged: at_false,
        security_opt: Vec::new(),
        network_mode: None,
        networks: BTreeMap::new(),
        volumes: Vec::new(),
        restart: None,
        labels: BTreeMap::new(),
        secrets: Vec::new(),
        configs: Vec::new(),
        stop_signal: None,
        stop_grace_period: None,
        container_name: None,
        hostname: None,
        init: None,
        ulimits: BTreeMap::new(),
        sysctls: BTreeMap::new(),
        devices: Vec::new(),
        platform: None,
        profiles: Vec::new(),
        pid: None,
        ipc: None,
        uts: None,
        userns_mode: None,
        runtime: None,
        stdin_open: false,
        tty: false,
        bulkhead: Default::default(),
    }
}

fn at(node: &Node, what: &str, errors: &mut Errors) -> Option<At<String>> {
    errors.take(decode::text(node, what)).map(|value| At {
        value,
        span: node.span.clone(),
    })
}

fn at_list(node: &Node, what: &str, errors: &mut Errors) -> Vec<At<String>> {
    errors
        .take(decode::text_list(node, what))
        .map(|items| {
            items
                .into_iter()
                .map(|(value, span)| At { value, span })
                .collect()
        })
        .unwrap_or_default()
}

fn key(s: &mut Service, e: &Entry, base: &PathBase<'_>, errors: &mut Errors) {
    let v = &e.value;
    let k = e.key.as_str();
    let t = |errors: &mut Errors| errors.take(decode::opt_text(v, k)).flatten();
    match k {
        "image" => {
            s.image = at(v, k, errors).filter(|i| {
                let empty = i.value.trim().is_empty();
                if empty {
                    errors.push(SpecError::value(&i.span, "image is empty").with_hint("name an image, e.g. `image: nginx:1.27`, or remove the key and use `build:`"));
                }
                !empty
            });
        }
        "build" => {
            let b = build(v, errors);
            s.build = errors.take(b);
        }
        "command" => s.command = errors.take(argv(v, k)).flatten(),
        "entrypoint" => s.entrypoint = errors.take(argv(v, k)).flatten(),
        "environment" => s.environment = errors.take(decode::key_values(v, k)).unwrap_or_default(),
        "env_file" => s.env_file = env_files(v, errors),
        "ports" => s.ports = ports::ports(v, errors),
        "expose" => s.expose = ports::expose(v, errors),
        "healthcheck" => s.healthcheck = health::healthcheck(v, HEALTH_KEYS, errors),
        "depends_on" => s.depends_on = errors.take(depends_on(v)).unwrap_or_default(),
        "deploy" => deploy(s, v, errors),
        "mem_limit" => s.limits.memory = errors.take(decode::parsed(v, k, units::parse_size)),
        "cpus" => s.limits.cpus = errors.take(decode::parsed(v, k, units::parse_cpus)),
        "pids_limit" => s.limits.pids = errors.take(decode::integer::<i64>(v, k)),
        "scale" => s.replicas = errors.take(replicas(v, k)).unwrap_or(1),
        "user" => s.user = at(v, k, errors),
        "working_dir" => s.working_dir = t(errors),
        "read_only" => s.read_only = errors.take(decode::boolean(v, k)),
        "tmpfs" => s.tmpfs = volumes::tmpfs(v, errors),
        "cap_add" => s.cap_add = at_list(v, k, errors),
        "cap_drop" => s.cap_drop = at_list(v, k, errors),
        "privileged" => {
            if let Some(b) = errors.take(decode::boolean(v, k)) {
                s.privileged = At {
                    value: b,
                    span: v.span.clone(),
                };
            }
        }
        "security_opt" => s.security_opt = at_list(v, k, errors),
        "network_mode" => s.network_mode = at(v, k, errors),
        "networks" => s.networks = errors.take(networks(v)).unwrap_or_default(),
        "volumes" => s.volumes = volumes::volumes(v, base, errors),
        "restart" => s.restart = errors.take(restart(v)),
        "labels" => s.labels = errors.take(decode::labels(v, k)).unwrap_or_default(),
        "secrets" => s.secrets = file_refs(v, k, "/run/secrets/", errors),
        "configs" => s.configs = file_refs(v, k, "/", errors),
        "stop_signal" => s.stop_signal = t(errors),
        "stop_grace_period" => {
            s.stop_grace_period = errors.take(decode::parsed(v, k, units::parse_duration))
        }
        "container_name" => s.container_name = at(v, k, errors),
        "hostname" => s.hostname = t(errors),
        "init" => s.init = errors.take(decode::boolean(v, k)),
        "ulimits" => s.ulimits = errors.take(ulimits(v)).unwrap_or_default(),
        "sysctls" => s.sysctls = errors.take(decode::labels(v, k)).unwrap_or_default(),
        "devices" => s.devices = devices(v, errors),
        "platform" => s.platform = t(errors),
        "profiles" => s.profiles = at_list(v, k, errors).into_iter().map(|a| a.value).collect(),
        "pid" => s.pid = at(v, k, errors),
        "ipc" => s.ipc = at(v, k, errors),
        "uts" => s.uts = at(v, k, errors),
        "userns_mode" => s.userns_mode = at(v, k, errors),
        "runtime" => s.runtime = at(v, k, errors),
        "stdin_open" => s.stdin_open = errors.take(decode::boolean(v, k)).unwrap_or(false),
        "tty" => s.tty = errors.take(decode::boolean(v, k)).unwrap_or(false),
        "x-bulkhead" => s.bulkhead = extension::service(v, errors),
        _ => {}
    }
}

/// `command` / `entrypoint`: a string is split like a shell would, a list is taken as is.
fn argv(node: &Node, what: &str) -> Result<Option<Vec<String>>, SpecError> {
    match &node.value {
        Value::Null => Ok(None),
        Value::Scalar { text, .. } => units::shell_split(text)
            .map(Some)
            .map_err(|m| SpecError::value(&node.span, format!("{what}: {m}"))),
        Value::Seq(items) => items
            .iter()
            .map(|i| decode::text(i, &format!("each item of {what}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Map(_) => Err(SpecError::shape(
            &node.span,
            format!("{what} must be text or a list of text, found a mapping"),
        )),
    }
}

fn build(node: &Node, errors: &mut Errors) -> Result<Build, SpecError> {
    if let Value::Scalar { text, .. } = &node.value {
        return Ok(Build {
            context: text.clone(),
            dockerfile: None,
            args: BTreeMap::new(),
            target: None,
        });
    }
    let entries = decode::map(node, "build")?;
    let unsupported = [
        ("ssh", "not supported: builds get no SSH agent"),
        ("secrets", "not supported yet in builds"),
        (
            "network",
            "builds run without network access settings; remove it",
        ),
    ];
    decode::check_keys(
        entries,
        &[
            "context",
            "dockerfile",
            "args",
            "target",
            "labels",
            "cache_from",
            "no_cache",
            "pull",
            "platforms",
            "tags",
        ],
        &unsupported,
        "build",
        errors,
    );
    let get = |k: &str| {
        node.get(k)
            .map(|v| decode::opt_text(v, &format!("build.{k}")))
            .transpose()
            .map(Option::flatten)
    };
    Ok(Build {
        context: get("context")?.unwrap_or_else(|| ".".to_string()),
        dockerfile: get("dockerfile")?,
        args: node
            .get("args")
            .map(|a| decode::key_values(a, "build.args"))
            .transpose()?
            .unwrap_or_default(),
        target: get("target")?,
    })
}

fn env_files(node: &Node, errors: &mut Errors) -> Vec<EnvFile> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let parsed = match &item.value {
            Value::Map(entries) => {
                decode::check_keys(
                    entries,
                    &["path", "required", "format"],
                    &[],
                    "env_file",
                    errors,
                );
                let path = item
                    .get("path")
                    .ok_or_else(|| SpecError::shape(&item.span, "env_file entry needs `path`"));
                path.and_then(|p| decode::text(p, "env_file.path"))
                    .and_then(|path| {
                        let required = item
                            .get("required")
                            .map(|r| decode::boolean(r, "env_file.required"))
                            .transpose()?;
                        Ok(EnvFile {
                            path,
                            required: required.unwrap_or(true),
                        })
                    })
            }
            _ => decode::text(item, "env_file").map(|path| EnvFile {
                path,
                required: true,
            }),
        };
        if let Some(f) = errors.take(parsed) {
            out.push(f);
        }
    }
    out
}

fn depends_on(node: &Node) -> Result<BTreeMap<String, At<Dependency>>, SpecError> {
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

fn replicas(node: &Node, what: &str) -> Result<u32, SpecError> {
    let n = decode::integer::<u32>(node, what)?;
    if n > 1000 {
        return Err(SpecError::value(
            &node.span,
            format!("{what} {n} is more than 1000"),
        ));
    }
    Ok(n)
}

fn deploy(s: &mut Service, node: &Node, errors: &mut Errors) {
    let Some(entries) = errors.take(decode::map(node, "deploy")) else {
        return;
    };
    let unsupported = [
        (
            "placement",
            "not supported yet: use x-bulkhead.tier to choose where a service runs",
        ),
        (
            "restart_policy",
            "use the service-level `restart`; Bulkhead caps retries at 5",
        ),
        (
            "update_config",
            "not supported yet: Bulkhead rolls out start-first, one replica at a time",
        ),
        ("rollback_config", "not supported yet"),
        (
            "mode",
            "remove it: services are replicated (deploy.replicas)",
        ),
        ("endpoint_mode", "remove it"),
        ("labels", "use the service-level `labels`"),
    ];
    decode::check_keys(
        entries,
        &["replicas", "resources"],
        &unsupported,
        "deploy",
        errors,
    );
    if let Some(r) = node.get("replicas") {
        s.replicas = errors.take(replicas(r, "deploy.replicas")).unwrap_or(1);
    }
    let Some(res) = node.get("resources") else {
        return;
    };
    let Some(res_entries) = errors.take(decode::map(res, "deploy.resources")) else {
        return;
    };
    decode::check_keys(
        res_entries,
        &["limits", "reservations"],
        &[],
        "deploy.resources",
        errors,
    );
    if let Some(l) = res.get("limits") {
        merge_resources(
            &mut s.limits,
            resources(l, "deploy.resources.limits", errors),
        );
    }
    if let Some(r) = res.get("reservations") {
        merge_resources(
            &mut s.reservations,
            resources(r, "deploy.resources.reservations", errors),
        );
    }
}

fn merge_resources(into: &mut Resources, from: Resources) {
    into.cpus = from.cpus.or(into.cpus);
    into.memory = from.memory.or(into.memory);
    into.pids = from.pids.or(into.pids);
}

fn resources(node: &Node, what: &str, errors: &mut Errors) -> Resources {
    let mut r = Resources::default();
    let Some(entries) = errors.take(decode::map(node, what)) else {
        return r;
    };
    let unsupported = [
        ("devices", "not supported yet (GPUs and other devices)"),
        ("generic_resources", "not supported"),
    ];
    decode::check_keys(
        entries,
        &["cpus", "memory", "pids"],
        &unsupported,
        what,
        errors,
    );
    for e in entries {
        let k = format!("{what}.{}", e.key);
        match e.key.as_str() {
            "cpus" => r.cpus = errors.take(decode::parsed(&e.value, &k, units::parse_cpus)),
            "memory" => r.memory = errors.take(decode::parsed(&e.value, &k, units::parse_size)),
            "pids" => r.pids = errors.take(decode::integer::<i64>(&e.value, &k)),
            _ => {}
        }
    }
    r
}

fn networks(node: &Node) -> Result<BTreeMap<String, ServiceNetwork>, SpecError> {
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

fn restart(node: &Node) -> Result<At<Restart>, SpecError> {
    let t = decode::text(node, "restart")?;
    let value = match t.as_str() {
        "no" | "false" => Restart::No,
        "always" => Restart::Always,
        "unless-stopped" => Restart::UnlessStopped,
        "on-failure" => Restart::OnFailure(None),
        other => match other.strip_prefix("on-failure:") {
            Some(n) => Restart::OnFailure(Some(n.parse().map_err(|_| {
                SpecError::value(
                    &node.span,
                    format!("restart: `{t}`: the retry count must be a whole number"),
                )
            })?)),
            None => {
                return Err(SpecError::value(
                    &node.span,
                    format!(
                        "restart `{t}` is unknown; use no, always, on-failure[:N] or unless-stopped"
                    ),
                ));
            }
        },
    };
    Ok(At {
        value,
        span: node.span.clone(),
    })
}

fn file_refs(node: &Node, what: &str, dir: &str, errors: &mut Errors) -> Vec<At<FileRef>> {
    let Some(items) = errors.take(decode::seq(node, what)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let parsed = match &item.value {
            Value::Map(entries) => {
                decode::check_keys(
                    entries,
                    &["source", "target", "uid", "gid", "mode"],
                    &[],
                    what,
                    errors,
                );
                long_ref(item, what, dir)
            }
            _ => decode::text(item, what).map(|source| FileRef {
                target: format!("{dir}{source}"),
                source,
                uid: None,
                gid: None,
                mode: None,
            }),
        };
        if let Some(r) = errors.take(parsed) {
            out.push(At {
                value: r,
                span: item.span.clone(),
            });
        }
    }
    out
}

fn long_ref(node: &Node, what: &str, dir: &str) -> Result<FileRef, SpecError> {
    let source = node.get("source").ok_or_else(|| {
        SpecError::shape(
            &node.span,
            format!("a long-syntax {what} entry needs `source`"),
        )
    })?;
    let source = decode::text(source, &format!("{what}.source"))?;
    let opt = |k: &str| {
        node.get(k)
            .map(|v| decode::opt_text(v, &format!("{what}.{k}")))
            .transpose()
            .map(Option::flatten)
    };
    let target = match opt("target")? {
        Some(t) if t.starts_with('/') => t,
        Some(t) => format!("{dir}{t}"),
        None => format!("{dir}{source}"),
    };
    if target.split('/').any(|seg| seg == "..") {
        return Err(SpecError::value(
            &node.span,
            format!("{what}.target `{target}` may not contain `..`"),
        ));
    }
    let mode = match node.get("mode") {
        Some(m) => match &m.value {
            Value::Scalar { text, quoted } => Some(
                units::parse_mode(text, *quoted)
                    .map_err(|e| SpecError::value(&m.span, format!("{what}.mode: {e}")))?,
            ),
            _ => {
                return Err(SpecError::shape(
                    &m.span,
                    format!("{what}.mode must be a number such as 0440"),
                ));
            }
        },
        None => None,
    };
    Ok(FileRef {
        source,
        target,
        uid: opt("uid")?,
        gid: opt("gid")?,
        mode,
    })
}

fn ulimits(node: &Node) -> Result<BTreeMap<String, Ulimit>, SpecError> {
    let mut out = BTreeMap::new();
    for e in decode::map(node, "ulimits")? {
        let what = format!("ulimits.{}", e.key);
        let limit = match &e.value.value {
            Value::Map(sub) => {
                let mut errs = Errors::default();
                decode::check_keys(sub, &["soft", "hard"], &[], &what, &mut errs);
                if let Some(err) = errs.0.into_iter().next() {
                    return Err(err);
                }
                let get = |k: &str| {
                    e.value
                        .get(k)
                        .ok_or_else(|| {
                            SpecError::shape(
                                &e.value.span,
                                format!("{what} needs both soft and hard"),
                            )
                        })
                        .and_then(|v| decode::integer::<i64>(v, &format!("{what}.{k}")))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            _ => {
                let n = decode::integer::<i64>(&e.value, &what)?;
                Ulimit { soft: n, hard: n }
            }
        };
        if limit.soft > limit.hard {
            return Err(SpecError::value(
                &e.value.span,
                format!(
                    "{what}: soft limit {} is above hard limit {}",
                    limit.soft, limit.hard
                ),
            ));
        }
        out.insert(e.key.clone(), limit);
    }
    Ok(out)
}

fn devices(node: &Node, errors: &mut Errors) -> Vec<At<String>> {
    let Some(items) = errors.take(decode::seq(node, "devices")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let t = match &item.value {
            Value::Map(_) => item
                .get("source")
                .map(|s| decode::text(s, "devices.source"))
                .unwrap_or_else(|| {
                    Err(SpecError::shape(
                        &item.span,
                        "a long-syntax device needs `source`",
                    ))
                }),
            _ => decode::text(item, "devices"),
        };
        if let Some(value) = errors.take(t) {
            out.push(At {
                value,
                span: item.span.clone(),
            });
        }
    }
    out
}
