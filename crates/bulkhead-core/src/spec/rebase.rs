//! Relative paths of a file loaded from another directory (an included project, the file of
//! `extends.file`) rebased, as Docker Compose does before the file's services join the project:
//! build contexts, env and label files, `extends.file`, bind-mount sources, secret and config
//! files. Each is rewritten relative to the project directory (`./sub/db.env`), which every
//! relative path resolves against from then on — and which keeps the host's layout out of
//! messages. `~` paths and absolute ones are left as written.

use super::sources::relative;
use super::volumes;
use super::yaml::{Entry, Node, Value};

/// Where a file's paths start, and the project directory they are rewritten against.
struct Base<'a> {
    dir: &'a str,
    project: &'a str,
}

/// Rewrite the relative paths of `root` (a whole Compose file whose paths start at `dir`) as
/// paths relative to the project directory `project`.
pub(super) fn rebase(root: &mut Node, dir: &str, project: &str) {
    let dir = &Base { dir, project };
    let Value::Map(top) = &mut root.value else {
        return;
    };
    for section in top.iter_mut() {
        match section.key.as_str() {
            "services" => each(&mut section.value, |s| service(s, dir)),
            "secrets" | "configs" => each(&mut section.value, |d| {
                if let Some(f) = field(d, "file") {
                    path(f, dir);
                }
            }),
            _ => {}
        }
    }
}

fn each(node: &mut Node, mut f: impl FnMut(&mut Node)) {
    if let Value::Map(entries) = &mut node.value {
        entries.iter_mut().for_each(|e| f(&mut e.value));
    }
}

fn field<'n>(node: &'n mut Node, key: &str) -> Option<&'n mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value),
        _ => None,
    }
}

fn service(s: &mut Node, dir: &Base<'_>) {
    let Value::Map(keys) = &mut s.value else {
        return;
    };
    for e in keys.iter_mut() {
        let v = &mut e.value;
        match e.key.as_str() {
            "build" => build(v, dir),
            "env_file" | "label_file" => list(v, |item| match &item.value {
                Value::Map(_) => {
                    if let Some(p) = field(item, "path") {
                        path(p, dir);
                    }
                }
                _ => path(item, dir),
            }),
            "extends" => {
                if let Some(f) = field(v, "file") {
                    path(f, dir);
                }
            }
            "volumes" => list(v, |item| volume(item, dir)),
            _ => {}
        }
    }
}

fn list(node: &mut Node, mut f: impl FnMut(&mut Node)) {
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(f),
        Value::Null => {}
        _ => f(node),
    }
}

/// A build's context, `.` when it is not written.
fn build(node: &mut Node, dir: &Base<'_>) {
    match &node.value {
        Value::Scalar { .. } => path(node, dir),
        Value::Map(_) => match field(node, "context") {
            Some(c) => path(c, dir),
            None => {
                let span = node.span.clone();
                if let Value::Map(entries) = &mut node.value {
                    entries.push(Entry {
                        key: "context".to_string(),
                        key_span: span.clone(),
                        value: Node {
                            span,
                            value: Value::Scalar {
                                text: relative(dir.dir, dir.project),
                                quoted: true,
                            },
                            tag: None,
                        },
                    });
                }
            }
        },
        _ => {}
    }
}

/// A bind source: `./data:/data[:ro]` or `{type: bind, source: ./data}`.
fn volume(item: &mut Node, dir: &Base<'_>) {
    match &mut item.value {
        Value::Scalar { text, .. } => {
            if let Some((source, rest)) = text.split_once(':')
                && source.starts_with('.')
            {
                *text = format!("{}:{rest}", absolute(source, dir));
            }
        }
        Value::Map(_) => {
            let bind = item
                .as_map()
                .and_then(|m| m.iter().find(|e| e.key == "type"))
                .is_some_and(
                    |t| matches!(&t.value.value, Value::Scalar { text, .. } if text == "bind"),
                );
            if bind && let Some(s) = field(item, "source") {
                path(s, dir);
            }
        }
        _ => {}
    }
}

fn path(node: &mut Node, dir: &Base<'_>) {
    if let Value::Scalar { text, .. } = &mut node.value {
        *text = absolute(text, dir);
    }
}

fn absolute(p: &str, dir: &Base<'_>) -> String {
    if p.is_empty() || p.starts_with('/') || p.starts_with('~') {
        p.to_string()
    } else {
        relative(
            &volumes::normalize(&format!("{}/{p}", dir.dir)),
            dir.project,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::spec::yaml;

    #[test]
    fn relative_paths_are_rebased_on_the_project_and_others_stay() {
        let mut root = yaml::parse(
            &Arc::from("sub/compose.yaml"),
            "services:\n  a:\n    build: {dockerfile: D}\n    env_file: [a.env, {path: ../b.env}]\n    label_file: l.labels\n    extends: {file: base.yaml, service: b}\n    volumes: [./data:/data:ro, named:/n, ~/h:/h, /abs:/abs, {type: bind, source: ./s, target: /s}, {type: volume, source: v, target: /v}]\n  b:\n    build: ctx\nsecrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {file: /etc/c}\n",
        )
        .expect("yaml");
        rebase(&mut root, "/p/sub", "/p");
        let text = |n: Option<&Node>| match n.map(|n| &n.value) {
            Some(Value::Scalar { text, .. }) => text.clone(),
            other => format!("{other:?}"),
        };
        let services = root.get("services").expect("services");
        let a = services.get("a").expect("a");
        assert_eq!(text(a.get("build").and_then(|b| b.get("context"))), "./sub");
        let env = match &a.get("env_file").expect("env_file").value {
            Value::Seq(items) => items.clone(),
            _ => Vec::new(),
        };
        assert_eq!(text(env.first()), "./sub/a.env");
        assert_eq!(text(env.get(1).and_then(|e| e.get("path"))), "./b.env");
        assert_eq!(text(a.get("label_file")), "./sub/l.labels");
        assert_eq!(
            text(a.get("extends").and_then(|e| e.get("file"))),
            "./sub/base.yaml"
        );
        let vols: Vec<String> = match &a.get("volumes").expect("volumes").value {
            Value::Seq(items) => items
                .iter()
                .map(|i| match &i.value {
                    Value::Scalar { text, .. } => text.clone(),
                    _ => text(i.get("source")),
                })
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(
            vols,
            [
                "./sub/data:/data:ro",
                "named:/n",
                "~/h:/h",
                "/abs:/abs",
                "./sub/s",
                "v"
            ]
        );
        assert_eq!(
            text(services.get("b").and_then(|b| b.get("build"))),
            "./sub/ctx"
        );
        assert_eq!(
            text(
                root.get("secrets")
                    .and_then(|s| s.get("s"))
                    .and_then(|s| s.get("file"))
            ),
            "./sub/s.txt"
        );
        assert_eq!(
            text(
                root.get("configs")
                    .and_then(|s| s.get("c"))
                    .and_then(|s| s.get("file"))
            ),
            "/etc/c"
        );
    }
}
