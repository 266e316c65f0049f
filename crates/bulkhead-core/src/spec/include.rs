//! Top-level `include`: each entry loaded as its own sub-project — its own project directory
//! (default: the first file's), its own variables (its `env_file`, default the `.env` of its
//! project directory, under the including project's variables) — then its services, networks,
//! volumes, secrets and configs added to the including file. A name defined on both sides is
//! an error naming both places (identical definitions, as two includes of one file give, are
//! one). Nested includes, a bounded depth, cycles refused. The caller reads the files.

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::{Span, SpecError};
use super::model::Note;
use super::sources::{MAX_INCLUDE_DEPTH, Sources, Wanted, dir_of, relative};
use super::yaml::{Entry, Node, Value};
use super::{dotenv, extends, load, merge, rebase};

/// Where an including file stands.
pub(super) struct Scope<'s> {
    /// Its variables.
    pub env: &'s BTreeMap<String, String>,
    /// Its project directory: relative paths of `include` start here.
    pub dir: &'s str,
    /// The included files above it, outermost first.
    pub chain: &'s [String],
}

/// The resources Compose takes from an included project.
const RESOURCES: &[&str] = &["services", "networks", "volumes", "secrets", "configs"];

/// Replace `root`'s `include` by the resources of the projects it names.
pub(super) fn apply(
    root: &mut Node,
    scope: &Scope<'_>,
    src: &mut Sources<'_>,
    notes: &mut Vec<Note>,
    errors: &mut Errors,
) {
    let Some(node) = take(root, "include") else {
        return;
    };
    let items = match &node.value {
        Value::Null => return,
        Value::Seq(items) => items,
        _ => {
            errors.push(SpecError::shape(
                &node.span,
                format!("include must be a list, found {}", node.kind_name()),
            ));
            return;
        }
    };
    if scope.chain.len() >= MAX_INCLUDE_DEPTH {
        errors.push(SpecError::value(
            &node.span,
            format!("include: nested more than {MAX_INCLUDE_DEPTH} deep"),
        ));
        return;
    }
    for item in items {
        let Some(entry) = errors.take(entry(item)) else {
            continue;
        };
        if let Some(sub) = load_entry(&entry, scope, src, notes, errors) {
            import(root, sub, errors);
        }
    }
}

/// One item of `include`, as written.
struct Include {
    paths: Vec<(String, Span)>,
    project_directory: Option<(String, Span)>,
    env_files: Vec<(String, Span)>,
}

fn entry(item: &Node) -> Result<Include, SpecError> {
    if let Value::Scalar { text, .. } = &item.value {
        return Ok(Include {
            paths: vec![(text.clone(), item.span.clone())],
            project_directory: None,
            env_files: Vec::new(),
        });
    }
    let entries = decode::map(item, "each item of include")?;
    let mut errs = Errors::default();
    decode::check_keys(
        entries,
        &["path", "project_directory", "env_file"],
        &[],
        "include",
        &mut errs,
    );
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let path = item
        .get("path")
        .ok_or_else(|| SpecError::shape(&item.span, "an include entry needs `path`"))?;
    let paths = texts(path, "include.path")?;
    if paths.is_empty() {
        return Err(SpecError::shape(&path.span, "include.path names no file"));
    }
    let project_directory = item
        .get("project_directory")
        .map(|d| decode::text(d, "include.project_directory").map(|t| (t, d.span.clone())))
        .transpose()?;
    let env_files = match item.get("env_file") {
        Some(e) => texts(e, "include.env_file")?,
        None => Vec::new(),
    };
    Ok(Include {
        paths,
        project_directory,
        env_files,
    })
}

/// A path or a list of paths.
fn texts(node: &Node, what: &str) -> Result<Vec<(String, Span)>, SpecError> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|i| decode::text(i, &format!("each item of {what}")).map(|t| (t, i.span.clone())))
            .collect(),
        _ => Ok(vec![(decode::text(node, what)?, node.span.clone())]),
    }
}

/// The sub-project `entry` names, loaded, its paths absolute and its `extends` resolved;
/// `None` while a file is not given or when it is wrong (recorded).
fn load_entry(
    entry: &Include,
    scope: &Scope<'_>,
    src: &mut Sources<'_>,
    notes: &mut Vec<Note>,
    errors: &mut Errors,
) -> Option<Node> {
    let mut paths = Vec::new();
    for (written, span) in &entry.paths {
        paths.push((
            errors.take(src.resolve(written, scope.dir, span, "include"))?,
            written,
            span,
        ));
    }
    let (first, first_written, first_span) = paths.first().cloned()?;
    if scope.chain.contains(&first) {
        let mut names: Vec<String> = scope.chain.iter().map(|c| relative(c, src.root)).collect();
        names.push(relative(&first, src.root));
        errors.push(SpecError::value(
            first_span,
            format!("include: a cycle: {}", names.join(" -> ")),
        ));
        return None;
    }
    let dir = match &entry.project_directory {
        Some((d, span)) => {
            errors.take(src.resolve(d, scope.dir, span, "include.project_directory"))?
        }
        None => dir_of(&first),
    };
    // The variables files first: what they define is what the included files are read with.
    let mut wanted_env = Vec::new();
    for (written, span) in &entry.env_files {
        let path = errors.take(src.resolve(written, scope.dir, span, "include.env_file"))?;
        wanted_env.push((path, written.clone(), span.clone(), true));
    }
    if entry.env_files.is_empty() {
        let path = format!("{}/.env", dir.trim_end_matches('/'));
        wanted_env.push((path, ".env".to_string(), first_span.clone(), false));
    }
    let mut pending = false;
    let mut env_texts = Vec::new();
    for (path, written, span, required) in wanted_env {
        let w = Wanted {
            path,
            key: "include.env_file".to_string(),
            written,
            span,
            required,
        };
        match if required {
            errors.take(src.required(w))
        } else {
            src.get(w)
        } {
            Some(Some(f)) => env_texts.push(f),
            Some(None) => {}
            None => pending = true,
        }
    }
    let mut files = Vec::new();
    for (path, written, span) in &paths {
        let w = Wanted {
            path: path.clone(),
            key: "include".to_string(),
            written: (*written).clone(),
            span: (*span).clone(),
            required: true,
        };
        match errors.take(src.required(w)) {
            Some(Some(f)) => files.push(f),
            _ => pending = true,
        }
    }
    if pending {
        return None;
    }
    let env = sub_environment(scope.env, &env_texts, errors)?;
    let lookup = |n: &str| env.get(n).cloned();
    let mut chain = scope.chain.to_vec();
    chain.push(first.clone());
    let inner = Scope {
        env: &env,
        dir: &dir,
        chain: &chain,
    };
    let mut merged: Option<Node> = None;
    for file in files {
        let mut root = match load::parse_file(file, &lookup, notes, errors) {
            Ok(root) => root,
            Err(e) => {
                errors.0.extend(e.0);
                return None;
            }
        };
        refuse_settings(&root, first_written, errors);
        // Its own paths rebased before what it includes joins it (rebased already).
        rebase::rebase(&mut root, &dir, src.root);
        apply(&mut root, &inner, src, notes, errors);
        merged = Some(match merged {
            None => root,
            Some(base) => merge::merge(base, root),
        });
    }
    let mut root = merged?;
    // Every relative path of the sub-project starts at the project directory now.
    let project = src.root;
    let mut ctx = extends::Ctx {
        src,
        env: &env,
        dir: project,
        notes,
    };
    extends::resolve(&mut root, &mut ctx, errors);
    extends::strip(&mut root);
    Some(root)
}

/// An included project's variables: its variables files, under the including project's.
fn sub_environment(
    outer: &BTreeMap<String, String>,
    files: &[&super::SourceFile],
    errors: &mut Errors,
) -> Option<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for f in files {
        let lookup = |n: &str| outer.get(n).cloned().or_else(|| env.get(n).cloned());
        match dotenv::parse(&f.text, &lookup) {
            Ok(pairs) => env.extend(pairs),
            Err(dotenv::DotenvError::Syntax { line, reason }) => {
                let span = Span::new(&std::sync::Arc::from(f.name.as_str()), line, 1);
                errors.push(SpecError::shape(
                    &span,
                    format!("include.env_file: {reason}"),
                ));
                return None;
            }
        }
    }
    env.extend(outer.iter().map(|(k, v)| (k.clone(), v.clone())));
    Some(env)
}

/// The including project's own settings cannot come from an included file.
fn refuse_settings(root: &Node, written: &str, errors: &mut Errors) {
    for e in root.as_map().unwrap_or(&[]) {
        if e.key == "x-bulkhead" {
            errors.push(
                SpecError::value(
                    &e.key_span,
                    format!("x-bulkhead at the top of an included file (`{written}`) would not apply: Compose takes only services, networks, volumes, secrets and configs from it"),
                )
                .with_hint("move the project's x-bulkhead settings into the file that includes it; a service's own x-bulkhead stays with the service"),
            );
        } else if !e.key.starts_with("x-")
            && !["name", "version", "include"].contains(&e.key.as_str())
            && !RESOURCES.contains(&e.key.as_str())
        {
            let mut errs = Errors::default();
            decode::check_keys(
                std::slice::from_ref(e),
                RESOURCES,
                &[],
                "top level",
                &mut errs,
            );
            errors.0.extend(errs.0);
        }
    }
}

/// Add the resources of `sub` to `root`; a name on both sides must be defined alike.
fn import(root: &mut Node, sub: Node, errors: &mut Errors) {
    let Value::Map(sub_top) = sub.value else {
        return;
    };
    for section in sub_top {
        if !RESOURCES.contains(&section.key.as_str()) {
            continue;
        }
        let Value::Map(items) = section.value.value else {
            continue;
        };
        let Some(target) = section_mut(root, &section.key, &section.key_span) else {
            continue;
        };
        for item in items {
            match target.iter().find(|e| e.key == item.key) {
                Some(have) if same(&have.value, &item.value) => {}
                Some(have) => errors.push(
                    SpecError::value(
                        &item.key_span,
                        format!(
                            "{}.{} is defined both here (an included file) and at {}: Compose refuses the conflict",
                            section.key, item.key, have.key_span
                        ),
                    )
                    .with_hint("rename one of them, or keep the definition in one file only"),
                ),
                None => target.push(item),
            }
        }
    }
}

/// The entries of `root`'s `key` section, created when it is absent.
fn section_mut<'n>(root: &'n mut Node, key: &str, span: &Span) -> Option<&'n mut Vec<Entry>> {
    let Value::Map(top) = &mut root.value else {
        return None;
    };
    if !top.iter().any(|e| e.key == key) {
        top.push(Entry {
            key: key.to_string(),
            key_span: span.clone(),
            value: Node {
                span: span.clone(),
                value: Value::Map(Vec::new()),
                tag: None,
            },
        });
    }
    let e = top.iter_mut().find(|e| e.key == key)?;
    if matches!(e.value.value, Value::Null) {
        e.value.value = Value::Map(Vec::new());
    }
    match &mut e.value.value {
        Value::Map(entries) => Some(entries),
        _ => None,
    }
}

/// Equal but for where they were written.
fn same(a: &Node, b: &Node) -> bool {
    a.tag == b.tag
        && match (&a.value, &b.value) {
            (Value::Null, Value::Null) => true,
            (Value::Scalar { text: x, .. }, Value::Scalar { text: y, .. }) => x == y,
            (Value::Seq(x), Value::Seq(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
            }
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.key == q.key && same(&p.value, &q.value))
            }
            _ => false,
        }
}

fn take(root: &mut Node, key: &str) -> Option<Node> {
    let Value::Map(top) = &mut root.value else {
        return None;
    };
    let at = top.iter().position(|e| e.key == key)?;
    Some(top.remove(at).value)
}
