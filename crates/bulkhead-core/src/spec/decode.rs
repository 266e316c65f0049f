//! Reading typed values out of YAML nodes, with errors that name the key, the place and the
//! expected shape; unknown keys are refused with a suggestion.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::error::{ErrorKind, Span, SpecError};
use super::yaml::{Entry, Node, Value};

/// Collects every error found while decoding, so one run reports them all.
#[derive(Default)]
pub struct Errors(pub Vec<SpecError>);

impl Errors {
    /// Keep the value, or record the error and return `None`.
    pub fn take<T>(&mut self, r: Result<T, SpecError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, e: SpecError) {
        self.0.push(e);
    }
}

/// The entries of a mapping, or a shape error naming what was expected.
pub fn map<'a>(node: &'a Node, what: &str) -> Result<&'a [Entry], SpecError> {
    node.as_map().ok_or_else(|| {
        SpecError::shape(
            &node.span,
            format!("{what} must be a mapping, found {}", node.kind_name()),
        )
    })
}

/// A mapping or null (an empty mapping), as Compose allows for `volumes: {data: }`.
pub fn map_or_null<'a>(node: &'a Node, what: &str) -> Result<&'a [Entry], SpecError> {
    match node.value {
        Value::Null => Ok(&[]),
        _ => map(node, what),
    }
}

pub fn seq<'a>(node: &'a Node, what: &str) -> Result<&'a [Node], SpecError> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err(SpecError::shape(
            &node.span,
            format!("{what} must be a list, found {}", node.kind_name()),
        )),
    }
}

/// The text of a scalar (numbers and booleans included, as written).
pub fn text(node: &Node, what: &str) -> Result<String, SpecError> {
    match &node.value {
        Value::Scalar { text, .. } => Ok(text.clone()),
        _ => Err(SpecError::shape(
            &node.span,
            format!("{what} must be text, found {}", node.kind_name()),
        )),
    }
}

pub fn opt_text(node: &Node, what: &str) -> Result<Option<String>, SpecError> {
    match node.value {
        Value::Null => Ok(None),
        _ => text(node, what).map(Some),
    }
}

pub fn boolean(node: &Node, what: &str) -> Result<bool, SpecError> {
    let t = text(node, what)?;
    match t.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Ok(true),
        "false" | "no" | "n" | "off" => Ok(false),
        _ => Err(SpecError::shape(
            &node.span,
            format!("{what} must be true or false, found `{t}`"),
        )),
    }
}

/// An integer of type `T`; the message names the accepted range when it does not fit.
pub fn integer<T>(node: &Node, what: &str) -> Result<T, SpecError>
where
    T: FromStr + TryFrom<i128> + Copy,
{
    let t = text(node, what)?;
    let wide: i128 = t.trim().trim_start_matches('+').parse().map_err(|_| {
        SpecError::shape(
            &node.span,
            format!("{what} must be a whole number, found `{t}`"),
        )
    })?;
    T::try_from(wide)
        .map_err(|_| SpecError::value(&node.span, format!("{what} `{t}` is out of range")))
}

/// A value parsed by a unit parser (`units::parse_size`, ...), errors placed at the node.
pub fn parsed<T>(
    node: &Node,
    what: &str,
    f: impl Fn(&str) -> Result<T, String>,
) -> Result<T, SpecError> {
    let t = text(node, what)?;
    f(&t).map_err(|m| SpecError::value(&node.span, format!("{what}: {m}")))
}

/// A list of text items, or a single text item where Compose allows that (`env_file: a.env`).
pub fn text_list(node: &Node, what: &str) -> Result<Vec<(String, Span)>, SpecError> {
    match &node.value {
        Value::Scalar { text, .. } => Ok(vec![(text.clone(), node.span.clone())]),
        Value::Null => Ok(Vec::new()),
        Value::Seq(items) => items
            .iter()
            .map(|i| text(i, &format!("each item of {what}")).map(|t| (t, i.span.clone())))
            .collect(),
        Value::Map(_) => Err(SpecError::shape(
            &node.span,
            format!("{what} must be a list of text, found a mapping"),
        )),
    }
}

/// Compose's "list or dict": `{A: 1, B: }` or `[A=1, B]`. A key without `=` (or with a null
/// value) has no value: `None`.
pub fn key_values(node: &Node, what: &str) -> Result<BTreeMap<String, Option<String>>, SpecError> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Null => {}
        Value::Map(entries) => {
            for e in entries {
                if e.key.trim().is_empty() {
                    return Err(SpecError::value(
                        &e.key_span,
                        format!("{what} has an empty key"),
                    ));
                }
                let v = match &e.value.value {
                    Value::Null => None,
                    _ => Some(text(&e.value, &format!("{what}.{}", e.key))?),
                };
                out.insert(e.key.clone(), v);
            }
        }
        Value::Seq(items) => {
            for item in items {
                let t = text(item, &format!("each item of {what}"))?;
                match t.split_once('=') {
                    Some((k, _)) if k.trim().is_empty() => {
                        return Err(SpecError::value(
                            &item.span,
                            format!("{what} has an item with an empty key: `{t}`"),
                        ));
                    }
                    // `- DEBUG = true`: Compose refuses a name with spaces around `=`.
                    Some((k, _)) if k.trim_end() != k => {
                        return Err(SpecError::value(
                            &item.span,
                            format!(
                                "{what}: `{t}` has a space before `=`; the name would be `{k}`"
                            ),
                        )
                        .with_hint("write NAME=value with no space before `=`"));
                    }
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(t, None),
                };
            }
        }
        Value::Scalar { .. } => {
            return Err(SpecError::shape(
                &node.span,
                format!("{what} must be a mapping or a list of KEY=VALUE, found a scalar"),
            ));
        }
    }
    Ok(out)
}

/// Like [`key_values`] but every key needs a value (labels, sysctls): a missing one is "".
pub fn labels(node: &Node, what: &str) -> Result<BTreeMap<String, String>, SpecError> {
    Ok(key_values(node, what)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Refuse keys outside `allowed` (extension keys `x-*` are always free): a key of `refused`
/// with its reason, any other with one suggestion when it looks like a misspelling.
pub fn check_keys(
    entries: &[Entry],
    allowed: &[&str],
    unsupported: &[(&str, &str)],
    what: &str,
    errors: &mut Errors,
) {
    for e in entries {
        if e.key.starts_with("x-") || allowed.contains(&e.key.as_str()) {
            continue;
        }
        if let Some((_, why)) = unsupported.iter().find(|(k, _)| *k == e.key) {
            let msg = format!("{what}: key `{}` is refused", e.key);
            let err = SpecError::new(ErrorKind::UnknownKey, &e.key_span, msg);
            errors.push(err.with_hint(why.to_string()));
            continue;
        }
        let err = SpecError::new(
            ErrorKind::UnknownKey,
            &e.key_span,
            format!("{what}: key `{}` is not supported", e.key),
        );
        // One suggestion, and only for a likely misspelling: never the list of every key.
        let hint = match nearest(&e.key, allowed) {
            Some(k) => {
                format!("did you mean `{k}`? (or prefix it with `x-` to keep it as an extension)")
            }
            None => "remove it, or prefix it with `x-` to keep it as an extension".to_string(),
        };
        errors.push(err.with_hint(hint));
    }
}

/// The known key closest to `key`, if one is close enough to be a likely typo.
pub(super) fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::spec::yaml;

    fn node(text: &str) -> Node {
        yaml::parse(&Arc::from("f.yaml"), text).expect("yaml")
    }

    #[test]
    fn key_values_accept_both_syntaxes() {
        let from_map = key_values(&node("{A: 1, B: , C: ''}"), "environment").expect("map");
        let from_list = key_values(&node("[A=1, B, C=]"), "environment").expect("list");
        assert_eq!(from_map, from_list);
        assert_eq!(from_map.get("B"), Some(&None));
        assert_eq!(from_map.get("C"), Some(&Some(String::new())));
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let n = node("imgae: x\nlinks: [a]\nzzz: 1\nx-free: 1\n");
        let mut errors = Errors::default();
        let unsupported = [("links", "links are not needed: use allow_from")];
        check_keys(
            n.as_map().expect("map"),
            &["image", "ports"],
            &unsupported,
            "service `web`",
            &mut errors,
        );
        let texts: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].starts_with("f.yaml:1:1: service `web`: key `imgae` is not supported"));
        assert!(texts[0].contains("did you mean `image`?"));
        assert!(texts[1].contains("f.yaml:2:1") && texts[1].contains("use allow_from"));
        assert!(texts[1].contains("key `links` is refused"), "{}", texts[1]);
        assert!(!texts[2].contains("image, ports"), "{}", texts[2]);
    }

    #[test]
    fn integers_report_range_and_shape() {
        assert_eq!(integer::<u16>(&node("8080"), "port"), Ok(8080));
        let e = integer::<u16>(&node("70000"), "port").expect_err("range");
        assert_eq!(e.to_string(), "f.yaml:1:1: port `70000` is out of range");
        let e = integer::<u16>(&node("eighty"), "port").expect_err("shape");
        assert!(e.to_string().contains("must be a whole number"));
        assert!(boolean(&node("maybe"), "tty").is_err());
        assert_eq!(boolean(&node("'yes'"), "tty"), Ok(true));
    }
}
