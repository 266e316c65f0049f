//! What a service takes from outside its image: `secrets` and `configs` mounted as files, and
//! host `devices`.

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, FileRef};
use super::units;
use super::yaml::{Node, Value};

pub(super) fn file_refs(
    node: &Node,
    what: &str,
    dir: &str,
    errors: &mut Errors,
) -> Vec<At<FileRef>> {
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

pub(super) fn devices(node: &Node, errors: &mut Errors) -> Vec<At<String>> {
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
