//! `label_file`: a service's labels read from files of `KEY=VALUE` lines (the `.env` syntax),
//! in order, with the service's own `labels` winning over them, as in Docker Compose. The
//! caller reads the files (see `sources`); an error names the file and line, never its bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::decode::Errors;
use super::dotenv;
use super::error::{ErrorKind, Span, SpecError};
use super::merge;
use super::sources::{Sources, Wanted};
use super::yaml::{Entry, Node, Value};

/// Fold every service's `label_file` into its `labels`; relative paths start at `dir`.
pub(super) fn apply(
    root: &mut Node,
    dir: &str,
    env: &BTreeMap<String, String>,
    src: &mut Sources<'_>,
    errors: &mut Errors,
) {
    let Value::Map(top) = &mut root.value else {
        return;
    };
    let Some(services) = top.iter_mut().find(|e| e.key == "services") else {
        return;
    };
    let Value::Map(services) = &mut services.value.value else {
        return;
    };
    for s in services.iter_mut() {
        let Some(files) = s.value.get("label_file").cloned() else {
            continue;
        };
        let Some(labels) = from_files(&s.key, &files, dir, env, src, errors) else {
            continue;
        };
        let own = Node {
            span: s.value.span.clone(),
            value: Value::Map(
                s.value
                    .as_map()
                    .unwrap_or(&[])
                    .iter()
                    .filter(|e| e.key == "labels")
                    .cloned()
                    .collect(),
            ),
            tag: None,
        };
        let base = Node {
            span: files.span.clone(),
            value: Value::Map(vec![Entry {
                key: "labels".to_string(),
                key_span: files.span.clone(),
                value: labels,
            }]),
            tag: None,
        };
        let merged = merge::merge_service(&s.key, base, own).and_then(|m| m.get("labels").cloned());
        if let (Some(merged), Value::Map(keys)) = (merged, &mut s.value.value) {
            match keys.iter_mut().find(|e| e.key == "labels") {
                Some(e) => e.value = merged,
                None => keys.push(Entry {
                    key: "labels".to_string(),
                    key_span: files.span.clone(),
                    value: merged,
                }),
            }
        }
    }
}

/// The labels of the files `node` names, as a mapping; `None` while a file is not given or
/// when one is wrong (recorded).
fn from_files(
    service: &str,
    node: &Node,
    dir: &str,
    env: &BTreeMap<String, String>,
    src: &mut Sources<'_>,
    errors: &mut Errors,
) -> Option<Node> {
    let key = format!("services.{service}.label_file");
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Scalar { .. } => vec![node],
        _ => {
            errors.push(SpecError::shape(
                &node.span,
                format!(
                    "{key} must be a path or a list of paths, found {}",
                    node.kind_name()
                ),
            ));
            return None;
        }
    };
    let lookup = |k: &str| env.get(k).cloned();
    let mut entries: Vec<Entry> = Vec::new();
    let mut complete = true;
    for item in items {
        let Value::Scalar { text: written, .. } = &item.value else {
            errors.push(SpecError::shape(
                &item.span,
                format!("each item of {key} must be a path"),
            ));
            complete = false;
            continue;
        };
        let Some(path) = errors.take(src.resolve(written, dir, &item.span, &key)) else {
            complete = false;
            continue;
        };
        let wanted = Wanted {
            path,
            key: key.clone(),
            written: written.clone(),
            span: item.span.clone(),
            required: true,
        };
        let Some(Some(file)) = errors.take(src.required(wanted)) else {
            complete = false;
            continue;
        };
        let name: Arc<str> = Arc::from(file.name.as_str());
        match dotenv::parse(&file.text, &lookup) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    let span = Span::new(&name, 1, 1);
                    entries.retain(|e| e.key != k);
                    entries.push(Entry {
                        key: k,
                        key_span: span.clone(),
                        value: Node {
                            span,
                            value: Value::Scalar {
                                text: v,
                                quoted: true,
                            },
                            tag: None,
                        },
                    });
                }
            }
            Err(dotenv::DotenvError::Syntax { line, reason }) => {
                errors.push(SpecError::new(
                    ErrorKind::Shape,
                    &Span::new(&name, line, 1),
                    format!("{key}: {reason}"),
                ));
                complete = false;
            }
        }
    }
    complete.then(|| Node {
        span: node.span.clone(),
        value: Value::Map(entries),
        tag: None,
    })
}
