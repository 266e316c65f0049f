//! Merging several Compose files (`-f a.yaml -f b.yaml`) as Docker Compose does: mappings
//! merge key by key, scalars and command-like lists are replaced, key=value lists merge by key,
//! and mount-like lists merge by target. `!reset` removes a value, `!override` replaces it whole.

use super::volumes;
use super::yaml::{Entry, Node, Value};

/// How the list at a path merges.
#[derive(Clone, Copy)]
enum ListRule {
    /// The later file's list replaces the earlier one.
    Replace,
    /// Both as mappings, merged by key (`environment`, `labels`, ...).
    KeyValue,
    /// Appended; items with the same identity are replaced by the later one.
    Unique(fn(&Node) -> Option<String>),
}

/// Merge `over` into `base` (`over` wins). Paths are service-relative for service keys.
pub fn merge(base: Node, over: Node) -> Node {
    merge_at(base, over, &mut Vec::new())
}

/// Merge service `over` into service `base` (both named `name`), with the service-relative
/// rules (`extends`, labels from files).
pub(super) fn merge_service(name: &str, base: Node, over: Node) -> Option<Node> {
    let at = over.clone();
    service_of(merge(wrap(name, base, &at), wrap(name, over, &at)))
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

fn merge_at(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    match over.tag.as_deref() {
        Some("!reset") => {
            return Node {
                value: Value::Null,
                tag: None,
                ..over
            };
        }
        Some("!override") => return Node { tag: None, ..over },
        _ => {}
    }
    if matches!(over.value, Value::Null) {
        return base;
    }
    let (base, over) = match path.as_slice() {
        [s, _, b] if s == "services" && b == "build" => (build_as_map(base), build_as_map(over)),
        _ => (base, over),
    };
    let rule = list_rule(path);
    let (base_span, over_span) = (base.span, over.span.clone());
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            ..over
        },
        (b @ (Value::Seq(_) | Value::Map(_)), o @ (Value::Seq(_) | Value::Map(_)))
            if matches!(rule, ListRule::KeyValue) =>
        {
            let b = as_map(Node {
                value: b,
                span: base_span,
                tag: None,
            });
            let o = as_map(Node {
                value: o,
                span: over_span,
                tag: None,
            });
            Node {
                value: Value::Map(merge_maps(b, o, path)),
                ..over
            }
        }
        (Value::Seq(b), Value::Seq(o)) => match rule {
            ListRule::Unique(id) => Node {
                value: Value::Seq(merge_unique(b, o, id)),
                ..over
            },
            _ => Node {
                value: Value::Seq(o),
                ..over
            },
        },
        (_, o) => Node { value: o, ..over },
    }
}

fn merge_maps(base: Vec<Entry>, over: Vec<Entry>, path: &mut Vec<String>) -> Vec<Entry> {
    let mut out = base;
    for entry in over {
        match out.iter().position(|e| e.key == entry.key) {
            Some(i) => {
                let old = out.remove(i);
                path.push(entry.key.clone());
                let value = if entry.value.tag.as_deref() == Some("!reset") {
                    None
                } else {
                    Some(merge_at(old.value, entry.value, path))
                };
                path.pop();
                if let Some(value) = value {
                    out.insert(i, Entry { value, ..entry });
                }
            }
            None if entry.value.tag.as_deref() == Some("!reset") => {}
            None => out.push(entry),
        }
    }
    out
}

fn merge_unique(base: Vec<Node>, over: Vec<Node>, id: fn(&Node) -> Option<String>) -> Vec<Node> {
    let mut out = base;
    for item in over {
        let key = id(&item);
        match key.and_then(|k| {
            out.iter()
                .position(|o| id(o).as_deref() == Some(k.as_str()))
        }) {
            Some(i) => out[i] = item,
            None => out.push(item),
        }
    }
    out
}

/// `build: DIR` as `build: {context: DIR}`, so that it merges with a mapping as in Compose.
fn build_as_map(node: Node) -> Node {
    match node.value {
        Value::Scalar { .. } => Node {
            span: node.span.clone(),
            tag: None,
            value: Value::Map(vec![Entry {
                key: "context".to_string(),
                key_span: node.span.clone(),
                value: Node { tag: None, ..node },
            }]),
        },
        _ => node,
    }
}

/// A `KEY=VALUE` list as a mapping, so that two files' entries merge by key.
fn as_map(node: Node) -> Vec<Entry> {
    match node.value {
        Value::Map(entries) => entries,
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|item| {
                let Value::Scalar { text, quoted } = &item.value else {
                    return None;
                };
                let (k, v) = match text.split_once('=') {
                    Some((k, v)) => (
                        k.to_string(),
                        Value::Scalar {
                            text: v.to_string(),
                            quoted: *quoted,
                        },
                    ),
                    None => (text.clone(), Value::Null),
                };
                Some(Entry {
                    key: k,
                    key_span: item.span.clone(),
                    value: Node { value: v, ..item },
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn volume_target(node: &Node) -> Option<String> {
    volumes::target_of(node)
}

fn file_target(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(_) => node
            .get("target")
            .or_else(|| node.get("source"))
            .and_then(scalar_text),
        _ => scalar_text(node),
    }
}

fn port_identity(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(entries) => Some(
            entries
                .iter()
                .map(|e| format!("{}={}", e.key, scalar_text(&e.value).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => scalar_text(node),
    }
}

fn list_rule(path: &[String]) -> ListRule {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["services", _, key] => match *key {
            "environment" | "labels" | "sysctls" | "depends_on" | "networks" => ListRule::KeyValue,
            "volumes" | "devices" => ListRule::Unique(volume_target),
            "secrets" | "configs" => ListRule::Unique(file_target),
            "ports" => ListRule::Unique(port_identity),
            "expose" | "cap_add" | "cap_drop" | "security_opt" | "profiles" | "env_file"
            | "tmpfs" | "dns" => ListRule::Unique(scalar_text),
            _ => ListRule::Replace,
        },
        ["services", _, "build", "args"] => ListRule::KeyValue,
        _ => ListRule::Replace,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::spec::yaml;

    fn node(name: &str, text: &str) -> Node {
        yaml::parse(&Arc::from(name), text).expect("yaml")
    }

    fn render(n: &Node) -> String {
        match &n.value {
            Value::Null => "~".into(),
            Value::Scalar { text, .. } => text.clone(),
            Value::Seq(items) => format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            ),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|e| format!("{}: {}", e.key, render(&e.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    #[test]
    fn merges_like_compose() {
        let cases = [
            ("image: a\nuser: '1'", "image: b", "{image: b, user: 1}"),
            ("command: [a, b]", "command: [c]", "{command: [c]}"),
            (
                "environment: [A=1, B=2]",
                "environment: {B: 3, C: 4}",
                "{environment: {A: 1, B: 3, C: 4}}",
            ),
            (
                "ports: ['80:80']",
                "ports: ['80:80', '443:443']",
                "{ports: [80:80, 443:443]}",
            ),
            (
                "volumes: ['a:/data', './x:/x']",
                "volumes: ['b:/data']",
                "{volumes: [b:/data, ./x:/x]}",
            ),
            ("cap_add: [A]", "cap_add: [A, B]", "{cap_add: [A, B]}"),
            (
                "depends_on: [db]",
                "depends_on: {cache: {condition: service_healthy}}",
                "{depends_on: {db: ~, cache: {condition: service_healthy}}}",
            ),
            (
                "healthcheck: {test: [CMD, a], retries: 3}",
                "healthcheck: {test: [CMD, b]}",
                "{healthcheck: {test: [CMD, b], retries: 3}}",
            ),
            (
                "ports: ['80:80']\nuser: x",
                "ports: !reset []\nuser: !reset null",
                "{}",
            ),
            (
                "ports: ['80:80']",
                "ports: !override ['81:81']",
                "{ports: [81:81]}",
            ),
            (
                "secrets: [a, {source: b, target: t}]",
                "secrets: [{source: c, target: t}]",
                "{secrets: [a, {source: c, target: t}]}",
            ),
        ];
        for (a, b, want) in cases {
            let wrap = |t: &str| {
                format!(
                    "services:\n  web:\n{}\n",
                    t.lines()
                        .map(|l| format!("    {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            };
            let merged = merge(node("a.yaml", &wrap(a)), node("b.yaml", &wrap(b)));
            let web = merged
                .get("services")
                .and_then(|s| s.get("web"))
                .expect("web");
            assert_eq!(render(web), want, "{a} + {b}");
        }
    }

    #[test]
    fn later_file_locations_win() {
        let merged = merge(
            node("a.yaml", "services:\n  web:\n    image: a\n"),
            node("b.yaml", "services:\n  web:\n    image: b\n"),
        );
        let image = merged
            .get("services")
            .and_then(|s| s.get("web"))
            .and_then(|w| w.get("image"))
            .expect("image");
        assert_eq!(&*image.span.file, "b.yaml");
    }
}
