//! The service keys that become plain engine settings — `extra_hosts`, `dns`, `dns_search`,
//! `dns_opt`, `domainname`, `shm_size`, `cpu_shares`, `cpuset`, `oom_score_adj`, `group_add`,
//! `logging`, `pull_policy`, `attach` — each checked at load, with what hardening decides at
//! load too (a negative `oom_score_adj`, a group by name, a pull). See docs/compose.md.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, EngineOpts, Logging, PullPolicy};
use super::units;
use super::yaml::{Entry, Node, Value};

/// Resolver options glibc and musl understand (resolv.conf(5)); `name:N` for the numeric ones.
const DNS_OPTS: &[&str] = &[
    "ndots",
    "timeout",
    "attempts",
    "rotate",
    "edns0",
    "single-request",
    "single-request-reopen",
    "no-tld-query",
    "use-vc",
    "no-reload",
    "trust-ad",
    "inet6",
    "debug",
];
const DNS_NUMERIC: &[&str] = &["ndots", "timeout", "attempts"];

/// Log drivers that keep the logs on this host, where `bulkhead logs` reads them.
pub const LOCAL_LOG_DRIVERS: &[&str] = &["json-file", "local", "none"];

/// The options the local drivers accept (the engine refuses any other at create).
const LOCAL_LOG_OPTIONS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
    "mode",
    "max-buffer-size",
];

/// Decode one key of `engine_opts` into `o`; other keys are not this module's.
pub(super) fn key(o: &mut EngineOpts, e: &Entry, errors: &mut Errors) {
    let v = &e.value;
    let k = e.key.as_str();
    match k {
        "extra_hosts" => o.extra_hosts = errors.take(extra_hosts(v)).unwrap_or_default(),
        "dns" => o.dns = errors.take(dns(v)).unwrap_or_default(),
        "dns_search" => o.dns_search = errors.take(dns_search(v)).unwrap_or_default(),
        "dns_opt" => o.dns_opt = errors.take(dns_opt(v)).unwrap_or_default(),
        "domainname" => o.domainname = errors.take(domain(v, k)).flatten(),
        "shm_size" => o.shm_size = errors.take(positive_size(v, k)),
        "cpu_shares" => {
            o.cpu_shares = errors.take(cpu_shares(v)).map(|value| At {
                value,
                span: v.span.clone(),
            })
        }
        "cpuset" => o.cpuset = errors.take(cpuset(v)),
        "oom_score_adj" => o.oom_score_adj = errors.take(oom_score_adj(v)),
        "group_add" => o.group_add = errors.take(group_add(v)).unwrap_or_default(),
        "logging" => {
            o.logging = errors.take(logging(v)).map(|value| At {
                value,
                span: v.span.clone(),
            })
        }
        "pull_policy" => o.pull_policy = errors.take(pull_policy(v)),
        "attach" => o.attach = errors.take(decode::boolean(v, k)).unwrap_or(true),
        _ => {}
    }
}

/// Items of a list (or one text), each with its node.
fn items<'a>(node: &'a Node, what: &str) -> Result<Vec<(String, &'a Node)>, SpecError> {
    match &node.value {
        Value::Null => Ok(Vec::new()),
        Value::Scalar { text, .. } => Ok(vec![(text.clone(), node)]),
        Value::Seq(items) => items
            .iter()
            .map(|i| decode::text(i, &format!("each item of {what}")).map(|t| (t, i)))
            .collect(),
        Value::Map(_) => Err(SpecError::shape(
            &node.span,
            format!("{what} must be a list of text, found a mapping"),
        )),
    }
}

fn host_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// `["name:ip", "name=ip"]` or `{name: ip}` (an address may be written `[::1]`); the address
/// is an IP literal or the engine's `host-gateway`.
fn extra_hosts(node: &Node) -> Result<Vec<(String, String)>, SpecError> {
    let mut pairs: Vec<(String, String, &Node)> = Vec::new();
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                for (addr, at) in items(&e.value, &format!("extra_hosts.{}", e.key))? {
                    pairs.push((e.key.clone(), addr, at));
                }
            }
        }
        _ => {
            for (text, at) in items(node, "extra_hosts")? {
                let split = text.split_once('=').or_else(|| text.split_once(':'));
                let Some((name, addr)) = split else {
                    return Err(SpecError::value(
                        &at.span,
                        format!("extra_hosts: `{text}` is not NAME:ADDRESS or NAME=ADDRESS"),
                    ));
                };
                pairs.push((name.trim().to_string(), addr.trim().to_string(), at));
            }
        }
    }
    pairs
        .into_iter()
        .map(|(name, addr, at)| {
            let addr = addr
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(&addr)
                .to_string();
            if !host_name_ok(&name) {
                return Err(SpecError::value(
                    &at.span,
                    format!("extra_hosts: `{name}` is not a host name"),
                ));
            }
            if addr != "host-gateway" && addr.parse::<IpAddr>().is_err() {
                return Err(SpecError::value(
                    &at.span,
                    format!(
                        "extra_hosts: `{addr}` (for `{name}`) is not an IP address or host-gateway"
                    ),
                ));
            }
            Ok((name, addr))
        })
        .collect()
}

fn dns(node: &Node) -> Result<Vec<String>, SpecError> {
    items(node, "dns")?
        .into_iter()
        .map(|(t, at)| match t.trim().parse::<IpAddr>() {
            Ok(ip) => Ok(ip.to_string()),
            Err(_) => Err(SpecError::value(
                &at.span,
                format!("dns: `{t}` is not an IP address (a resolver is given by address)"),
            )),
        })
        .collect()
}

fn dns_search(node: &Node) -> Result<Vec<String>, SpecError> {
    items(node, "dns_search")?
        .into_iter()
        .map(|(t, at)| {
            if t == "." || host_name_ok(&t) {
                Ok(t)
            } else {
                Err(SpecError::value(
                    &at.span,
                    format!("dns_search: `{t}` is not a domain name"),
                ))
            }
        })
        .collect()
}

fn dns_opt(node: &Node) -> Result<Vec<String>, SpecError> {
    items(node, "dns_opt")?
        .into_iter()
        .map(|(t, at)| {
            let (name, arg) = match t.split_once(':') {
                Some((n, a)) => (n, Some(a)),
                None => (t.as_str(), None),
            };
            let numeric = DNS_NUMERIC.contains(&name);
            let ok = DNS_OPTS.contains(&name)
                && match arg {
                    Some(a) => numeric && a.parse::<u8>().is_ok(),
                    None => !numeric,
                };
            if ok {
                Ok(t)
            } else {
                Err(SpecError::value(
                    &at.span,
                    format!("dns_opt: `{t}` is not a resolver option (resolv.conf(5): ndots:N, timeout:N, attempts:N, rotate, edns0, ...)"),
                ))
            }
        })
        .collect()
}

fn domain(node: &Node, what: &str) -> Result<Option<String>, SpecError> {
    let Some(t) = decode::opt_text(node, what)? else {
        return Ok(None);
    };
    if host_name_ok(&t) {
        Ok(Some(t))
    } else {
        Err(SpecError::value(
            &node.span,
            format!("{what}: `{t}` is not a domain name"),
        ))
    }
}

fn positive_size(node: &Node, what: &str) -> Result<u64, SpecError> {
    let n = decode::parsed(node, what, units::parse_size)?;
    if n == 0 {
        return Err(SpecError::value(
            &node.span,
            format!("{what} must be more than 0"),
        ));
    }
    Ok(n)
}

/// The engine's range for a CPU weight.
fn cpu_shares(node: &Node) -> Result<i64, SpecError> {
    let n = decode::integer::<i64>(node, "cpu_shares")?;
    if !(2..=262_144).contains(&n) {
        return Err(SpecError::value(
            &node.span,
            format!("cpu_shares {n} is outside 2..=262144"),
        ));
    }
    Ok(n)
}

/// `0-3,6`: CPU numbers and ranges, as the kernel's cpuset takes them.
fn cpuset(node: &Node) -> Result<String, SpecError> {
    let t = decode::text(node, "cpuset")?;
    let cpu = |s: &str| s.parse::<u16>().ok().filter(|n| *n < 1024);
    let ok = !t.is_empty()
        && t.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => matches!((cpu(a), cpu(b)), (Some(a), Some(b)) if a <= b),
            None => cpu(part).is_some(),
        });
    if ok {
        Ok(t)
    } else {
        Err(SpecError::value(
            &node.span,
            format!("cpuset: `{t}` is not a list of CPU numbers and ranges, e.g. `0-3,6`"),
        ))
    }
}

/// 0..=1000. A negative score shields the container from the OOM killer at the expense of the
/// host's processes and the other tenants' containers: refused, with no waiver.
fn oom_score_adj(node: &Node) -> Result<i64, SpecError> {
    let n = decode::integer::<i64>(node, "oom_score_adj")?;
    if n < 0 {
        return Err(SpecError::value(
            &node.span,
            format!("oom_score_adj {n} is refused: a negative score makes the kernel kill the host's and other tenants' processes before this container when memory runs out"),
        )
        .with_hint("remove it, or give 0..1000 (more likely to be killed); the memory limit is what protects the service"));
    }
    if n > 1000 {
        return Err(SpecError::value(
            &node.span,
            format!("oom_score_adj {n} is above 1000"),
        ));
    }
    Ok(n)
}

/// Groups by number only: a name would be looked up by the engine in the image's /etc/group at
/// start, after the policy was decided, so it could turn out to be gid 0.
fn group_add(node: &Node) -> Result<Vec<At<u32>>, SpecError> {
    items(node, "group_add")?
        .into_iter()
        .map(|(t, at)| match t.trim().parse::<u32>() {
            Ok(gid) => Ok(At {
                value: gid,
                span: at.span.clone(),
            }),
            Err(_) => Err(SpecError::value(
                &at.span,
                format!("group_add: `{t}` is refused: a group is given by number, so that what the policy checks (gid 0 is root's group) is what the container gets"),
            )
            .with_hint("write the group's number as the image's /etc/group has it, e.g. `group_add: [\"1001\"]`")),
        })
        .collect()
}

fn logging(node: &Node) -> Result<Logging, SpecError> {
    let entries = decode::map(node, "logging")?;
    let mut errs = Errors::default();
    decode::check_keys(entries, &["driver", "options"], &[], "logging", &mut errs);
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let driver = match node.get("driver") {
        Some(d) => decode::opt_text(d, "logging.driver")?,
        None => None,
    };
    let options = match node.get("options") {
        Some(o) => decode::labels(o, "logging.options")?,
        None => BTreeMap::new(),
    };
    let local = driver
        .as_deref()
        .is_none_or(|d| d == "json-file" || d == "local");
    if local && let Some(opts) = node.get("options") {
        for k in options.keys() {
            if !LOCAL_LOG_OPTIONS.contains(&k.as_str()) {
                return Err(SpecError::value(
                    &opts.span,
                    format!(
                        "logging.options: `{k}` is not an option of the local log drivers ({})",
                        LOCAL_LOG_OPTIONS.join(", ")
                    ),
                ));
            }
        }
        if let Some(size) = options.get("max-size") {
            units::parse_size(size).map_err(|m| {
                SpecError::value(&opts.span, format!("logging.options.max-size: {m}"))
            })?;
        }
        if let Some(n) = options.get("max-file")
            && n.parse::<u32>().ok().is_none_or(|n| n == 0)
        {
            return Err(SpecError::value(
                &opts.span,
                format!("logging.options.max-file: `{n}` is not a whole number above 0"),
            ));
        }
    }
    Ok(Logging { driver, options })
}

/// Bulkhead never pulls at deploy: every image is local and pinned by id, so a registry cannot
/// change what runs without a new release. The policies that pull are refused.
fn pull_policy(node: &Node) -> Result<PullPolicy, SpecError> {
    let t = decode::text(node, "pull_policy")?;
    match t.as_str() {
        "missing" | "if_not_present" => Ok(PullPolicy::Missing),
        "never" => Ok(PullPolicy::Never),
        "build" => Ok(PullPolicy::Build),
        "always" | "daily" | "weekly" | "refresh" => Err(pull_refused(node, &t)),
        other if other.starts_with("every_") => Err(pull_refused(node, &t)),
        _ => Err(SpecError::value(
            &node.span,
            format!("pull_policy `{t}` is unknown; use missing, never or build"),
        )),
    }
}

fn pull_refused(node: &Node, t: &str) -> SpecError {
    SpecError::value(
        &node.span,
        format!("pull_policy `{t}` is refused: Bulkhead never pulls at deploy; it runs the local image pinned by id, so a registry cannot change what runs without a new release"),
    )
    .with_hint("use `missing` or `never` (the local image), or `build` with a `build:` section")
}
