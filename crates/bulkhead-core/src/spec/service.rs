//! Decoding one Compose service into the typed model, key by key. The key tables are in
//! `service_keys`; `deploy_keys`, `connections` and `refs` decode the larger keys.

use std::collections::BTreeMap;

use super::connections::{depends_on, networks};
use super::decode::{self, Errors};
use super::deploy_keys::{deploy, replicas, ulimits};
use super::engine_opts;
use super::error::SpecError;
use super::extension;
use super::model::{At, Build, EngineOpts, EnvFile, Resources, Restart, Service};
use super::refs::{devices, file_refs};
use super::service_keys::HEALTH_KEYS;
pub use super::service_keys::{SERVICE_KEYS, UNSUPPORTED};
use super::units;
use super::volumes::{self, PathBase};
use super::yaml::{Entry, Node, Value};
use super::{health, ports, rollout, security_opt};

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
    // `deploy` last: its restart_policy wins over `restart`, wherever each is written.
    let (deploy, rest): (Vec<&Entry>, Vec<&Entry>) =
        entries.iter().partition(|e| e.key == "deploy");
    for e in rest.into_iter().chain(deploy) {
        s.keys.insert(e.key.clone(), e.key_span.clone());
        key(&mut s, e, base, errors);
    }
    scale_agrees(&entry.value, errors);
    if let (Some(mode), Some(span)) = (&s.network_mode, s.keys.get("networks")) {
        errors.push(
            SpecError::value(
                span,
                format!("`networks` and `network_mode: {}` cannot go together", mode.value),
            )
            .with_hint("keep one: a service either joins networks or takes a network mode (as Docker Compose requires)"),
        );
    }
    Some(s)
}

/// `scale` and `deploy.replicas` both set must agree (as Docker Compose requires).
fn scale_agrees(node: &Node, errors: &mut Errors) {
    let (Some(scale), Some(deployed)) = (
        node.get("scale"),
        node.get("deploy").and_then(|d| d.get("replicas")),
    ) else {
        return;
    };
    let (Ok(a), Ok(b)) = (
        replicas(scale, "scale"),
        replicas(deployed, "deploy.replicas"),
    ) else {
        return;
    };
    if a != b {
        errors.push(
            SpecError::value(
                &scale.span,
                format!("scale: {a} and deploy.replicas: {b} disagree"),
            )
            .with_hint("keep one of them (deploy.replicas is the Compose Specification's)"),
        );
    }
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
        engine: EngineOpts {
            attach: true,
            ..EngineOpts::default()
        },
        update_config: None,
        rollback_config: None,
        post_start: Vec::new(),
        pre_stop: Vec::new(),
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
        "post_start" => s.post_start = errors.take(rollout::hooks(v, k)).unwrap_or_default(),
        "pre_stop" => s.pre_stop = errors.take(rollout::hooks(v, k)).unwrap_or_default(),
        "mem_limit" => s.limits.memory = errors.take(decode::parsed(v, k, units::parse_size)),
        "cpus" => s.limits.cpus = errors.take(decode::parsed(v, k, units::parse_cpus)),
        "pids_limit" => s.limits.pids = errors.take(decode::integer::<i64>(v, k)),
        "scale" => s.replicas = errors.take(replicas(v, k)).unwrap_or(1),
        "user" => s.user = at(v, k, errors),
        "working_dir" => s.working_dir = t(errors),
        "read_only" => s.read_only = errors.take(decode::boolean(v, k)),
        "tmpfs" => s.tmpfs = volumes::tmpfs(v, &s.name, errors),
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
        "security_opt" => s.security_opt = security_opt::check(at_list(v, k, errors), errors),
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
        "mem_reservation" => {
            if let Some(m) = errors.take(decode::parsed(v, k, units::parse_size)) {
                s.reservations.memory = s.reservations.memory.or(Some(m));
            }
        }
        _ => engine_opts::key(&mut s.engine, e, errors),
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
