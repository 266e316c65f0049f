//! `extends`: a service built on another service's keys, merged as Docker Compose merges files
//! (the extending service's keys win), chains followed, cycles refused. The base is a service of
//! the same file set, or — with `extends.file` — of another file, whose relative paths resolve
//! against its own directory; the caller reads that file (see `sources`).

use std::collections::BTreeMap;

use super::decode::{self, Errors};
use super::error::{Span, SpecError};
use super::model::Note;
use super::sources::{Sources, Wanted, dir_of, relative};
use super::yaml::{Entry, Node, Value};
use super::{load, merge, rebase};

/// What resolving needs besides the services: the files `extends.file` names, the variables
/// they are interpolated with, and the directory a relative `file` starts from.
pub(super) struct Ctx<'c, 'a> {
    pub src: &'c mut Sources<'a>,
    pub env: &'c BTreeMap<String, String>,
    pub dir: &'c str,
    pub notes: &'c mut Vec<Note>,
}

/// Replace every extending service in `root`'s `services` by its merged form.
pub(super) fn resolve(root: &mut Node, ctx: &mut Ctx<'_, '_>, errors: &mut Errors) {
    let Some(services) = services_mut(root) else {
        return;
    };
    let originals: BTreeMap<String, Node> = services
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut r = Resolver {
        ctx,
        originals: &originals,
        done: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    for e in services.iter_mut() {
        if e.value.get("extends").is_none() {
            continue;
        }
        let mut chain = Vec::new();
        let own = e.value.clone();
        if let Some(merged) = r.resolved(&None, &e.key, &own, &mut chain, errors) {
            e.value = merged;
        }
    }
}

/// Remove `extends` from every service of `root` (resolved already).
pub(super) fn strip(root: &mut Node) {
    if let Some(services) = services_mut(root) {
        for s in services.iter_mut() {
            if let Value::Map(keys) = &mut s.value.value {
                keys.retain(|k| k.key != "extends");
            }
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

/// A service: the file it is in (`None`: the project's own files) and its name.
type Key = (Option<String>, String);

struct Resolver<'r, 'c, 'a> {
    ctx: &'r mut Ctx<'c, 'a>,
    originals: &'r BTreeMap<String, Node>,
    done: BTreeMap<Key, Node>,
    /// The services of each other file; `None` while it is not given (or did not load).
    files: BTreeMap<String, Option<BTreeMap<String, Node>>>,
}

impl Resolver<'_, '_, '_> {
    /// The service `name` (written as `node` in `file`) with its `extends` chain merged in.
    fn resolved(
        &mut self,
        file: &Option<String>,
        name: &str,
        node: &Node,
        chain: &mut Vec<Key>,
        errors: &mut Errors,
    ) -> Option<Node> {
        let key = (file.clone(), name.to_string());
        if let Some(n) = self.done.get(&key) {
            return Some(n.clone());
        }
        let Some(ext) = node.get("extends") else {
            return Some(node.clone());
        };
        if chain.contains(&key) {
            chain.push(key);
            let root = self.ctx.src.root;
            let names: Vec<String> = chain.iter().map(|k| shown(k, root)).collect();
            errors.push(SpecError::value(
                &ext.span,
                format!("extends: a cycle: {}", names.join(" -> ")),
            ));
            return None;
        }
        chain.push(key.clone());
        let (base_name, written) = errors.take(base_of(ext))?;
        let base_file = match &written {
            Some(w) => {
                let what = format!("services.{name}.extends.file");
                let dir = self.ctx.dir;
                Some(errors.take(self.ctx.src.resolve(w, dir, &ext.span, &what))?)
            }
            None => file.clone(),
        };
        let base_node = match &base_file {
            None => self.originals.get(&base_name).cloned(),
            Some(f) => {
                let shown = written
                    .clone()
                    .unwrap_or_else(|| relative(f, self.ctx.src.root));
                self.file(f, name, &shown, &ext.span, errors)?
                    .get(&base_name)
                    .cloned()
            }
        };
        let Some(base_node) = base_node else {
            let place = match (&written, &base_file) {
                (Some(w), _) => format!("`{w}`"),
                (None, Some(f)) => format!("`{}`", relative(f, self.ctx.src.root)),
                (None, None) => "the project".to_string(),
            };
            errors.push(SpecError::value(
                &ext.span,
                format!(
                    "service `{name}` extends `{base_name}`, which is not a service of {place}"
                ),
            ));
            return None;
        };
        let base = self.resolved(&base_file, &base_name, &base_node, chain, errors)?;
        // `extends` stays in the result (the extending service's wins): the decoder records the
        // key and skips it.
        let merged = merge::merge_service(name, base, node.clone()).unwrap_or_else(|| node.clone());
        self.done.insert(key, merged.clone());
        Some(merged)
    }

    /// The services of the file at `path` (asked for when it is not given yet).
    fn file(
        &mut self,
        path: &str,
        name: &str,
        written: &str,
        span: &Span,
        errors: &mut Errors,
    ) -> Option<&BTreeMap<String, Node>> {
        if !self.files.contains_key(path) {
            let loaded = self.load(path, name, written, span, errors);
            self.files.insert(path.to_string(), loaded);
        }
        self.files.get(path)?.as_ref()
    }

    fn load(
        &mut self,
        path: &str,
        name: &str,
        written: &str,
        span: &Span,
        errors: &mut Errors,
    ) -> Option<BTreeMap<String, Node>> {
        let wanted = Wanted {
            path: path.to_string(),
            key: format!("services.{name}.extends.file"),
            written: written.to_string(),
            span: span.clone(),
            required: true,
        };
        let file = errors.take(self.ctx.src.required(wanted))??;
        let env = self.ctx.env;
        let lookup = |n: &str| env.get(n).cloned();
        let mut root = match load::parse_file(file, &lookup, self.ctx.notes, errors) {
            Ok(root) => root,
            Err(e) => {
                errors.0.extend(e.0);
                return None;
            }
        };
        rebase::rebase(&mut root, &dir_of(path), self.ctx.src.root);
        let Some(services) = root.get("services").and_then(Node::as_map) else {
            errors.push(SpecError::value(
                span,
                format!("services.{name}.extends.file: `{written}` has no `services:`"),
            ));
            return None;
        };
        Some(
            services
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
        )
    }
}

fn shown(key: &Key, root: &str) -> String {
    match &key.0 {
        None => key.1.clone(),
        Some(f) => format!("{} (in {})", key.1, relative(f, root)),
    }
}

/// `extends: base` or `extends: {service: base, file: other.yaml}`.
fn base_of(ext: &Node) -> Result<(String, Option<String>), SpecError> {
    if let Value::Scalar { text, .. } = &ext.value {
        return Ok((text.clone(), None));
    }
    let entries = decode::map(ext, "extends")?;
    let mut errs = Errors::default();
    decode::check_keys(entries, &["service", "file"], &[], "extends", &mut errs);
    if let Some(e) = errs.0.into_iter().next() {
        return Err(e);
    }
    let service = ext
        .get("service")
        .ok_or_else(|| SpecError::shape(&ext.span, "extends needs `service`"))?;
    let file = ext
        .get("file")
        .map(|f| decode::text(f, "extends.file"))
        .transpose()?;
    Ok((decode::text(service, "extends.service")?, file))
}
