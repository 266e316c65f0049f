//! YAML with locations: a node tree built from parser events, with anchors, aliases and merge
//! keys (`<<`) resolved, duplicate keys refused and hostile inputs (alias bombs, deep nesting)
//! bounded.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{ErrorKind, Span, SpecError};

/// Deepest nesting accepted; Compose files need fewer than ten levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a file may expand to, aliases included (stops "billion laughs").
pub const MAX_NODES: usize = 200_000;

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
    /// A local tag such as `!reset` or `!override` (Compose merge directives).
    pub tag: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A scalar's text; `quoted` is true for every style but plain, so `"8080"` stays text.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key of a mapping. Keys are always text in Compose.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    fn count(&self) -> usize {
        match &self.value {
            Value::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|e| e.value.count()).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Parse one YAML document. An empty file is `Null`.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Node, SpecError> {
    let mut builder = Builder {
        file: Arc::clone(file),
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            let span = Span::new(file, e.marker().line(), e.marker().col() + 1);
            SpecError::new(
                ErrorKind::Yaml,
                &span,
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event, mark)?;
    }
    Ok(builder.root.unwrap_or_else(|| Node {
        span: Span::new(file, 1, 1),
        value: Value::Null,
        tag: None,
    }))
}

enum Frame {
    Seq {
        start: Node,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Node,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn span(&self, mark: Marker) -> Span {
        Span::new(&self.file, mark.line(), mark.col() + 1)
    }

    fn event(&mut self, event: Event, mark: Marker) -> Result<(), SpecError> {
        let span = self.span(mark);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SpecError::new(
                        ErrorKind::Yaml,
                        &span,
                        "a second YAML document (`---`) in one file is not supported",
                    )
                    .with_hint("put each Compose file in its own file and pass each with -f"));
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = scalar(span, text, style, tag.as_ref())?;
                self.finish(node, anchor, 1)
            }
            Event::Alias(id) => {
                let Some((node, count)) = self.anchors.get(&id).cloned() else {
                    return Err(SpecError::new(
                        ErrorKind::Yaml,
                        &span,
                        "alias to an unknown anchor",
                    ));
                };
                self.finish(node, 0, count)
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_seq = matches!(event, Event::SequenceStart(..));
                if self.stack.len() >= MAX_DEPTH {
                    return Err(SpecError::new(
                        ErrorKind::Yaml,
                        &span,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let start = Node {
                    span,
                    value: Value::Null,
                    tag: local_tag(tag.as_ref()),
                };
                self.stack.push(if is_seq {
                    Frame::Seq {
                        start,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            _ => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), SpecError> {
        match self.stack.pop() {
            Some(Frame::Seq {
                mut start,
                anchor,
                items,
            }) => {
                start.value = Value::Seq(items);
                let count = start.count();
                self.finish(start, anchor, count)
            }
            Some(Frame::Map {
                mut start,
                anchor,
                entries,
                ..
            }) => {
                // yaml-rust2 places a block mapping's start at the first `:`; the mapping starts
                // at its first key, as libyaml reports it.
                if let Some((key, _)) = entries.first()
                    && (key.span.line, key.span.col) < (start.span.line, start.span.col)
                {
                    start.span = key.span.clone();
                }
                start.value = Value::Map(resolve_map(entries)?);
                let count = start.count();
                self.finish(start, anchor, count)
            }
            None => Ok(()),
        }
    }

    /// Attach a completed node to its parent (or make it the root) and record its anchor.
    fn finish(&mut self, node: Node, anchor: usize, count: usize) -> Result<(), SpecError> {
        self.nodes = self.nodes.saturating_add(count.max(1));
        if self.nodes > MAX_NODES {
            return Err(SpecError::new(
                ErrorKind::Yaml,
                &node.span,
                format!("the document expands to more than {MAX_NODES} nodes (alias bomb?)"),
            ));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
            None => self.root = Some(node),
        }
        Ok(())
    }
}

fn local_tag(tag: Option<&Tag>) -> Option<String> {
    tag.filter(|t| t.handle == "!")
        .map(|t| format!("!{}", t.suffix))
}

fn scalar(
    span: Span,
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
) -> Result<Node, SpecError> {
    let core_str = tag.is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str");
    let quoted = style != TScalarStyle::Plain || core_str;
    let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
        Value::Null
    } else {
        Value::Scalar { text, quoted }
    };
    Ok(Node {
        span,
        value,
        tag: local_tag(tag),
    })
}

/// Turn a mapping's raw pairs into entries: keys must be text and unique; `<<` merges in the keys
/// of the mapping (or list of mappings) it names that are not set explicitly, earlier ones first.
fn resolve_map(pairs: Vec<(Node, Node)>) -> Result<Vec<Entry>, SpecError> {
    let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
    let mut merged: Vec<Entry> = Vec::new();
    for (key, value) in pairs {
        let key_text = match &key.value {
            Value::Scalar { text, .. } => text.clone(),
            Value::Null => {
                return Err(SpecError::shape(&key.span, "a mapping key is empty"));
            }
            _ => {
                return Err(SpecError::shape(
                    &key.span,
                    format!("a mapping key must be text, found {}", key.kind_name()),
                ));
            }
        };
        if key_text == "<<" && matches!(key.value, Value::Scalar { quoted: false, .. }) {
            merge_sources(&value, &mut merged)?;
            continue;
        }
        if entries.iter().any(|e| e.key == key_text) {
            return Err(SpecError::new(
                ErrorKind::Yaml,
                &key.span,
                format!("duplicate key `{key_text}` in the same mapping"),
            )
            .with_hint("remove one of them; YAML mappings cannot repeat a key"));
        }
        entries.push(Entry {
            key: key_text,
            key_span: key.span,
            value,
        });
    }
    for entry in merged {
        if !entries.iter().any(|e| e.key == entry.key) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn merge_sources(value: &Node, merged: &mut Vec<Entry>) -> Result<(), SpecError> {
    let sources: Vec<&Node> = match &value.value {
        Value::Map(_) => vec![value],
        Value::Seq(items) => items.iter().collect(),
        _ => {
            return Err(SpecError::shape(
                &value.span,
                format!(
                    "a merge key `<<` needs a mapping or a list of mappings, found {}",
                    value.kind_name()
                ),
            ));
        }
    };
    for source in sources {
        let Some(entries) = source.as_map() else {
            return Err(SpecError::shape(
                &source.span,
                format!(
                    "a merge key `<<` list may hold only mappings, found {}",
                    source.kind_name()
                ),
            ));
        };
        for entry in entries {
            if !merged.iter().any(|m| m.key == entry.key) {
                merged.push(entry.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Node, SpecError> {
        parse(&Arc::from("compose.yaml"), text)
    }

    fn keys(node: &Node) -> Vec<&str> {
        node.as_map()
            .map(|m| m.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn locations_are_one_based() {
        let root = doc("services:\n  web:\n    image: x\n").expect("parses");
        let web = root
            .get("services")
            .and_then(|s| s.get("web"))
            .expect("web");
        let entry = &web.as_map().expect("map")[0];
        assert_eq!((entry.key_span.line, entry.key_span.col), (3, 5));
        assert_eq!((entry.value.span.line, entry.value.span.col), (3, 12));
    }

    #[test]
    fn merge_keys_respect_explicit_values_and_order() {
        let root = doc("a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  <<: [*a, *b]\n  x: 9\n")
            .expect("parses");
        let c = root.get("c").expect("c");
        assert_eq!(keys(c), ["x", "y", "z"]);
        let text = |k: &str| match &c.get(k).expect("key").value {
            Value::Scalar { text, .. } => text.clone(),
            _ => String::new(),
        };
        assert_eq!(
            (text("x"), text("y"), text("z")),
            ("9".into(), "2".into(), "4".into())
        );
    }

    #[test]
    fn quoted_scalars_are_marked_and_nulls_recognised() {
        let root = doc("a: '8080'\nb: 8080\nc: ~\nd:\ne: !!str 1\n").expect("parses");
        let quoted = |k: &str| match &root.get(k).expect("key").value {
            Value::Scalar { quoted, .. } => Some(*quoted),
            _ => None,
        };
        assert_eq!(quoted("a"), Some(true));
        assert_eq!(quoted("b"), Some(false));
        assert_eq!(quoted("c"), None);
        assert_eq!(quoted("d"), None);
        assert_eq!(quoted("e"), Some(true));
    }

    #[test]
    fn errors_name_the_place() {
        let cases = [
            ("a: 1\na: 2\n", "compose.yaml:2:1: duplicate key `a`"),
            ("a: [1, 2\n", "compose.yaml:2:1: invalid YAML"),
            ("a: *nope\n", "compose.yaml:1:4: invalid YAML"),
            (
                "a: 1\n---\nb: 2\n",
                "compose.yaml:2:1: a second YAML document",
            ),
            (
                "<<: 3\n",
                "compose.yaml:1:5: a merge key `<<` needs a mapping",
            ),
            (
                "? [a]\n: 1\n",
                "compose.yaml:1:3: a mapping key must be text",
            ),
        ];
        for (input, want) in cases {
            let err = doc(input).expect_err(input).to_string();
            assert!(
                err.starts_with(want),
                "{input:?}: got {err:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = doc(&bomb).expect_err("bomb").to_string();
        assert!(err.contains("alias bomb"), "{err}");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = doc(&deep).expect_err("deep").to_string();
        assert!(err.contains("recursion limit"), "{err}");
        let mut block = String::new();
        for depth in 0..100 {
            block.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
        }
        let err = doc(&block).expect_err("block").to_string();
        assert!(err.contains("nesting deeper than 64"), "{err}");
    }

    #[test]
    fn empty_file_is_null() {
        assert_eq!(doc("").expect("parses").value, Value::Null);
        assert_eq!(
            doc("# only a comment\n").expect("parses").value,
            Value::Null
        );
    }
}
