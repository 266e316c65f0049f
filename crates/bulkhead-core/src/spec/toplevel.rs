//! The top-level resource sections: `networks`, `volumes`, `secrets`, `configs`.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::{Span, SpecError};
use super::model::{NetworkDef, SecretDef, VolumeDef};
use super::volumes::{self, PathBase};
use super::yaml::{Entry, Node};

/// The entries of a section; a name outside Compose's pattern (`[a-zA-Z0-9._-]+`) is refused.
fn each<'a>(node: &'a Node, what: &str, errors: &mut Errors) -> &'a [Entry] {
    let entries = errors.take(decode::map_or_null(node, what)).unwrap_or(&[]);
    for e in entries {
        if !compose_name(&e.key) {
            errors.push(SpecError::value(
                &e.key_span,
                format!(
                    "{what}: the name `{}` is not valid: use letters, digits, `.`, `_` and `-`",
                    e.key
                ),
            ));
        }
    }
    entries
}

/// Compose's pattern for the names of networks, volumes, secrets and configs.
fn compose_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn external(node: &Node, what: &str) -> Result<bool, SpecError> {
    Ok(external_named(node, what)?.0)
}

/// `external: true`, or the deprecated `external: {name: X}` that Compose still reads (the
/// resource's name is then X).
fn external_named(node: &Node, what: &str) -> Result<(bool, Option<String>), SpecError> {
    let Some(e) = node.get("external") else {
        return Ok((false, None));
    };
    let key = format!("{what}.external");
    let Some(entries) = e.as_map() else {
        return decode::boolean(e, &key).map(|b| (b, None));
    };
    let mut errs = Errors::default();
    decode::check_keys(entries, &["name"], &[], &key, &mut errs);
    if let Some(err) = errs.0.into_iter().next() {
        return Err(err);
    }
    let name = match e.get("name") {
        Some(n) => decode::opt_text(n, &format!("{key}.name"))?,
        None => None,
    };
    if let (Some(a), Some(b)) = (&name, opt(node, "name", what)?)
        && *a != b
    {
        return Err(SpecError::value(
            &e.span,
            format!("{key}.name `{a}` and {what}.name `{b}` disagree"),
        ));
    }
    Ok((true, name))
}

/// The resource's `name`, or the one the deprecated `external: {name: X}` gives.
fn name(node: &Node, what: &str) -> Result<Option<String>, SpecError> {
    Ok(opt(node, "name", what)?.or(external_named(node, what)?.1))
}

fn opt(node: &Node, key: &str, what: &str) -> Result<Option<String>, SpecError> {
    node.get(key)
        .map(|v| decode::opt_text(v, &format!("{what}.{key}")))
        .transpose()
        .map(Option::flatten)
}

fn labels(node: &Node, what: &str) -> Result<BTreeMap<String, String>, SpecError> {
    node.get("labels")
        .map(|l| decode::labels(l, &format!("{what}.labels")))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn networks(node: &Node, errors: &mut Errors) -> BTreeMap<String, NetworkDef> {
    let mut out = BTreeMap::new();
    for e in each(node, "networks", errors) {
        let what = format!("networks.{}", e.key);
        let Some(sub) = errors.take(decode::map_or_null(&e.value, &what)) else {
            continue;
        };
        let keys = [
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "attachable",
            "labels",
            "name",
            "enable_ipv4",
            "enable_ipv6",
        ];
        decode::check_keys(sub, &keys, &[], &what, errors);
        let v = &e.value;
        let def = (|| -> Result<NetworkDef, SpecError> {
            Ok(NetworkDef {
                driver: opt(v, "driver", &what)?,
                external: external(v, &what)?,
                internal: v
                    .get("internal")
                    .map(|i| decode::boolean(i, &format!("{what}.internal")))
                    .transpose()?
                    .unwrap_or(false),
                name: name(v, &what)?,
                subnets: subnets(v, &what)?,
                labels: labels(v, &what)?,
            })
        })();
        if let Some(def) = errors.take(def) {
            out.insert(e.key.clone(), def);
        }
    }
    out
}

fn subnets(node: &Node, what: &str) -> Result<Vec<String>, SpecError> {
    let Some(ipam) = node.get("ipam") else {
        return Ok(Vec::new());
    };
    let Some(config) = ipam.get("config") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in decode::seq(config, &format!("{what}.ipam.config"))? {
        if let Some(s) = opt(item, "subnet", what)? {
            out.push(s);
        }
    }
    Ok(out)
}

pub fn volumes(node: &Node, errors: &mut Errors) -> BTreeMap<String, VolumeDef> {
    let mut out = BTreeMap::new();
    for e in each(node, "volumes", errors) {
        let what = format!("volumes.{}", e.key);
        let Some(sub) = errors.take(decode::map_or_null(&e.value, &what)) else {
            continue;
        };
        // A named volume is a plain local volume: driver options could make it a bind mount
        // of any host path (`{type: none, o: bind, device: /etc}`), and they would otherwise
        // be dropped without a word.
        decode::check_keys(
            sub,
            &["driver", "external", "labels", "name"],
            &[(
                "driver_opts",
                "not supported: a named volume is a local volume with no options (for host files, use a bind mount inside the project)",
            )],
            &what,
            errors,
        );
        let v = &e.value;
        if let Some(d) = v.get("driver")
            && let Some(driver) = errors.take(decode::opt_text(d, &format!("{what}.driver")))
            && driver.as_deref().is_some_and(|x| x != "local")
        {
            errors.push(SpecError::value(
                &d.span,
                format!("{what}.driver: only the `local` driver is supported"),
            ));
        }
        let def = (|| -> Result<VolumeDef, SpecError> {
            Ok(VolumeDef {
                driver: opt(v, "driver", &what)?,
                external: external(v, &what)?,
                name: name(v, &what)?,
                labels: labels(v, &what)?,
            })
        })();
        if let Some(def) = errors.take(def) {
            out.insert(e.key.clone(), def);
        }
    }
    out
}

/// `secrets` (sources: file, environment, external) or `configs` (also inline `content`).
/// The definitions' places go into `at`, keyed `<section>.<name>`.
pub fn files(
    node: &Node,
    section: &str,
    base: &PathBase<'_>,
    at: &mut BTreeMap<String, Span>,
    errors: &mut Errors,
) -> BTreeMap<String, SecretDef> {
    let mut out = BTreeMap::new();
    let mut keys = vec!["file", "environment", "external", "name", "labels"];
    if section == "configs" {
        keys.push("content");
    }
    for e in each(node, section, errors) {
        let what = format!("{section}.{}", e.key);
        // A secret becomes a file under /run/secrets/ and is kept under its name: the one rule
        // for secret names (the API's and the CLI's), past Compose's alphabet `each` checked.
        if section == "secrets"
            && compose_name(&e.key)
            && let Err(bad) = crate::names::SECRET.validate(&e.key)
        {
            errors.push(SpecError::value(&e.key_span, format!("{section}: {bad}")));
            continue;
        }
        let Some(sub) = errors.take(decode::map(&e.value, &what)) else {
            continue;
        };
        let unsupported = [
            ("driver", "not supported: secrets are kept by Bulkhead"),
            ("template_driver", "not supported"),
        ];
        decode::check_keys(sub, &keys, &unsupported, &what, errors);
        at.insert(what.clone(), e.value.span.clone());
        if let Some(def) = errors.take(file_def(&e.value, &what, base)) {
            out.insert(e.key.clone(), def);
        }
    }
    out
}

fn file_def(v: &Node, what: &str, base: &PathBase<'_>) -> Result<SecretDef, SpecError> {
    let mut sources = Vec::new();
    if let Some(f) = opt(v, "file", what)? {
        let path = volumes::resolve(&f, base)
            .map_err(|m| SpecError::value(&v.span, format!("{what}.file: {m}")))?;
        sources.push(SecretDef::File(path));
    }
    if let Some(env) = opt(v, "environment", what)? {
        sources.push(SecretDef::Environment(env));
    }
    if let Some(c) = opt(v, "content", what)? {
        sources.push(SecretDef::Content(c));
    }
    if external(v, what)? {
        sources.push(SecretDef::External(name(v, what)?));
    }
    match sources.len() {
        1 => Ok(sources.remove(0)),
        0 => Err(SpecError::value(
            &v.span,
            format!("{what} needs a source: file, environment or external"),
        )),
        _ => Err(SpecError::value(
            &v.span,
            format!(
                "{what} has more than one source; keep one of file, environment, content, external"
            ),
        )),
    }
}
