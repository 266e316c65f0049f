//! `extends` within the project's files: a service built on another service's keys, merged as
//! Docker Compose merges files (the extending service's keys win), chains followed, cycles
//! refused. `extends.file` is refused: it would read another file at load, outside the files
//! the caller named (merge it with `-f` instead).

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::SpecError;
use super::merge;
use super::yaml::{Entry, Node, Value};

/// Replace every extending service in `root`'s `services` by its merged form.
pub(super) fn resolve(root: &mut Node, errors: &mut Errors) {
    let Some(services) = services_mut(root) else {
        return;
    };
    let originals: BTreeMap<String, Node> = services
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut done: BTreeMap<String, Node> = BTreeMap::new();
    for e in services.iter_mut() {
        if e.value.get("extends").is_none() {
            continue;
        }
        let mut chain = Vec::new();
        if let Some(merged) = resolved(&e.key, &originals, &mut done, &mut chain, errors) {
            e.value = merged;
        }
    }
}

fn services_mut(root: &mut Node) -> Option<&mut Vec<Entry>> {
    let Value::Map(entries) = &mut root.value else {
        return None;
    };
    let services = entries.iter_mut().find(|e| e.key == "services")?;
    match &mut services.value.value {
        Value::Map(s) => Some(s),
        _ => None,
    }
}

/// The service `name` with its `extends` chain merged in.
fn resolved(
    name: &str,
    originals: &BTreeMap<String, Node>,
    done: &mut BTreeMap<String, Node>,
    chain: &mut Vec<String>,
    errors: &mut Errors,
) -> Option<Node> {
    if let Some(n) = done.get(name) {
        return Some(n.clone());
    }
    let node = originals.get(name)?;
    let Some(ext) = node.get("extends") else {
        return Some(node.clone());
    };
    if chain.iter().any(|c| c == name) {
        chain.push(name.to_string());
        errors.push(SpecError::value(
            &ext.span,
            format!("extends: a cycle: {}", chain.join(" -> ")),
        ));
        return None;
    }
    chain.push(name.to_string());
    let base_name = errors.take(base_of(ext))?;
    if !originals.contains_key(&base_name) {
        errors.push(SpecError::value(
            &ext.span,
            format!(
                "service `{name}` extends `{base_name}`, which is not a service of the project"
            ),
        ));
        return None;
    }
    let base = resolved(&base_name, originals, done, chain, errors)?;
    // `extends` stays in the result (the extending service's wins): the decoder records the
    // key and skips it.
    let own = node.clone();
    let merged = service_of(merge::merge(
        wrap(name, base, &own),
        wrap(name, own.clone(), &own),
    ))
    .unwrap_or(own);
    done.insert(name.to_string(), merged.clone());
    Some(merged)
}

/// `extends: base` or `extends: {service: base}`; `file` is refused.
fn base_of(ext: &Node) -> Result<String, SpecError> {
    if let Value::Scalar { text, .. } = &ext.value {
        return Ok(text.clone());
    }
    let entries = decode::map(ext, "extends")?;
    let mut errs = Errors::default();
    let why = "it reads another file at load, outside the files named with -f: pass that file with -f and extend the service by name, or copy the keys with a YAML anchor";
    decode::check_keys(
        entries,
        &["service"],
        &[("file", why)],
        "extends",
        &mut errs,
    );
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let service = ext
        .get("service")
        .ok_or_else(|| SpecError::shape(&ext.span, "extends needs `service`"))?;
    decode::text(service, "extends.service")
}

/// `{services: {name: node}}`, so that the merge applies its service-relative rules.
fn wrap(name: &str, node: Node, at: &Node) -> Node {
    let service = Node {
        span: at.span.clone(),
        value: Value::Map(vec![Entry {
            key: name.to_string(),
            key_span: at.span.clone(),
            value: node,
        }]),
        tag: None,
    };
    Node {
        span: at.span.clone(),
        value: Value::Map(vec![Entry {
            key: "services".to_string(),
            key_span: at.span.clone(),
            value: service,
        }]),
        tag: None,
    }
}

fn service_of(root: Node) -> Option<Node> {
    let Value::Map(mut top) = root.value else {
        return None;
    };
    let Value::Map(mut services) = top.pop()?.value.value else {
        return None;
    };
    Some(services.pop()?.value)
}
