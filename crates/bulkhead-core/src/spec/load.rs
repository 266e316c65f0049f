//! Loading a project from file contents: parse each file, interpolate, pull in what it
//! includes, merge in order, resolve `extends` and `label_file`, decode, apply profiles,
//! validate references, name the project. Pure: the caller reads the files, the other files a
//! spec names included (`load_step` says which it lacks).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::decode::{self, Errors};
use super::error::{ErrorKind, Span, SpecError, SpecErrors};
use super::model::{Note, Project};
use super::sources::{Sources, Step};
use super::volumes::PathBase;
use super::yaml::{self, Node, Value};
use super::{
    dotenv, extends, extension, include, interpolate, label_file, merge, service, toplevel,
    validate,
};

/// File names Compose looks for, in order, and the override file each one pulls in.
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    ("compose.yaml", "compose.override.yaml"),
    ("compose.yml", "compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
];

/// Largest spec file accepted.
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// One file's name (as it should appear in messages) and content.
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Everything loading needs; nothing here is read from the machine by this module.
pub struct LoadInput {
    pub files: Vec<SourceFile>,
    /// Absolute project directory.
    pub project_dir: String,
    /// `-p`, when given.
    pub project_name: Option<String>,
    /// The `.env` file beside the Compose file, if there is one.
    pub dotenv: Option<SourceFile>,
    /// The process environment; it wins over `.env`.
    pub env: BTreeMap<String, String>,
    /// `--profile` values (COMPOSE_PROFILES is read from the environment too).
    pub profiles: Vec<String>,
    /// The other files the spec names (included Compose files and their variables files,
    /// `extends.file`, `label_file`), keyed by the absolute path [`load_step`] asked for;
    /// `None`: an optional one that is not there.
    pub extra: BTreeMap<String, Option<SourceFile>>,
}

const TOP_KEYS: &[&str] = &[
    "name", "version", "services", "networks", "volumes", "secrets", "configs",
];
const TOP_UNSUPPORTED: &[(&str, &str)] = &[(
    "models",
    "models need Docker Model Runner, which Docker Engine 20.10 does not have: remove it",
)];

/// Load a project. Every problem found is returned, in file order. A file the spec names that
/// `input.extra` lacks is an error here; [`load_step`] asks for it instead.
pub fn load(input: &LoadInput) -> Result<Project, SpecErrors> {
    match load_step(input) {
        Step::Done(r) => *r,
        Step::Needs(wanted) => Err(SpecErrors(
            wanted
                .into_iter()
                .map(|w| {
                    let msg = format!("{}: `{}` was not read", w.key, w.written);
                    SpecError::new(ErrorKind::Io, &w.span, msg)
                })
                .collect(),
        )),
    }
}

/// One loading pass: the project, or the other files it needs first.
pub fn load_step(input: &LoadInput) -> Step {
    let home = input.env.get("HOME").map(String::as_str);
    let mut src = Sources::new(&input.extra, &input.project_dir, home);
    let done = load_with(input, &mut src);
    if src.wanted.is_empty() {
        Step::Done(Box::new(done))
    } else {
        Step::Needs(src.wanted)
    }
}

fn load_with(input: &LoadInput, src: &mut Sources<'_>) -> Result<Project, SpecErrors> {
    let env = environment(input)?;
    let lookup = |name: &str| env.get(name).cloned();
    let mut notes = Vec::new();
    let mut merged: Option<Node> = None;
    let mut errors = Errors::default();
    if src.too_many() {
        let span = Span::synthetic(&input.project_dir);
        let msg = format!(
            "the project names more than {} other files to load (include, extends.file, label_file)",
            super::sources::MAX_LOADED_FILES
        );
        return Err(SpecError::value(&span, msg).into());
    }
    let scope = include::Scope {
        env: &env,
        dir: &input.project_dir,
        chain: &[],
    };
    for file in &input.files {
        let mut root = parse_file(file, &lookup, &mut notes, &mut errors)?;
        include::apply(&mut root, &scope, src, &mut notes, &mut errors);
        merged = Some(match merged {
            None => root,
            Some(base) => merge::merge(base, root),
        });
    }
    let Some(mut root) = merged else {
        let span = Span::synthetic(&input.project_dir);
        return Err(SpecError::new(ErrorKind::Io, &span, "no Compose file given").into());
    };
    let mut ctx = extends::Ctx {
        src: &mut *src,
        env: &env,
        dir: &input.project_dir,
        notes: &mut notes,
    };
    extends::resolve(&mut root, &mut ctx, &mut errors);
    label_file::apply(&mut root, &input.project_dir, &env, src, &mut errors);
    if !errors.0.is_empty() {
        return Err(SpecErrors(errors.0));
    }
    let project = decode_project(&root, input, &env, notes, &mut errors);
    match project {
        Some(mut p) if errors.0.is_empty() => {
            p.loaded = src.used.clone();
            Ok(p)
        }
        _ => Err(SpecErrors(errors.0)),
    }
}

/// Parse one Compose file, check it is a mapping, interpolate it with `lookup`, check its tags.
pub(super) fn parse_file(
    file: &SourceFile,
    lookup: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<Note>,
    errors: &mut Errors,
) -> Result<Node, SpecErrors> {
    let name: Arc<str> = Arc::from(file.name.as_str());
    if file.text.len() > MAX_FILE_BYTES {
        let msg = format!("the file is larger than {} MiB", MAX_FILE_BYTES >> 20);
        return Err(SpecError::new(ErrorKind::Io, &Span::new(&name, 1, 1), msg).into());
    }
    let mut root = yaml::parse(&name, &file.text)?;
    if !matches!(root.value, Value::Map(_)) {
        let msg = match root.value {
            Value::Null => {
                "the file is empty; a Compose file needs at least `services:`".to_string()
            }
            _ => format!(
                "a Compose file must be a mapping at the top, found {}",
                root.kind_name()
            ),
        };
        return Err(SpecError::shape(&root.span, msg).into());
    }
    interpolate_tree(&mut root, lookup, notes, errors);
    check_tags(&root, errors);
    Ok(root)
}

/// The variables interpolation sees: `.env` first, the process environment over it.
fn environment(input: &LoadInput) -> Result<BTreeMap<String, String>, SpecErrors> {
    let mut env = BTreeMap::new();
    if let Some(file) = &input.dotenv {
        let process = |name: &str| input.env.get(name).cloned();
        let pairs = dotenv::parse(&file.text, &process).map_err(|e| {
            let dotenv::DotenvError::Syntax { line, reason } = e;
            let span = Span::new(&Arc::from(file.name.as_str()), line, 1);
            SpecError::new(ErrorKind::Shape, &span, reason)
        })?;
        env.extend(pairs);
    }
    env.extend(input.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

fn interpolate_tree(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<Note>,
    errors: &mut Errors,
) {
    match &mut node.value {
        Value::Scalar { text, .. } if text.contains('$') => {
            match interpolate::interpolate(text, lookup) {
                Ok(done) => {
                    for name in done.unset {
                        let message =
                            format!("variable {name} is not set; it stands for an empty string");
                        if !notes.iter().any(|n| n.message == message) {
                            notes.push(Note {
                                span: node.span.clone(),
                                message,
                            });
                        }
                    }
                    *text = done.value;
                }
                Err(e) => errors.push(SpecError::new(
                    ErrorKind::Interpolation,
                    &node.span,
                    e.to_string(),
                )),
            }
        }
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|i| interpolate_tree(i, lookup, notes, errors)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|e| interpolate_tree(&mut e.value, lookup, notes, errors)),
        _ => {}
    }
}

fn check_tags(node: &Node, errors: &mut Errors) {
    if let Some(tag) = &node.tag
        && tag != "!reset"
        && tag != "!override"
    {
        errors.push(
            SpecError::new(
                ErrorKind::Yaml,
                &node.span,
                format!("unknown YAML tag `{tag}`"),
            )
            .with_hint("Compose understands only !reset and !override"),
        );
    }
    match &node.value {
        Value::Seq(items) => items.iter().for_each(|i| check_tags(i, errors)),
        Value::Map(entries) => entries.iter().for_each(|e| check_tags(&e.value, errors)),
        _ => {}
    }
}

fn decode_project(
    root: &Node,
    input: &LoadInput,
    env: &BTreeMap<String, String>,
    mut notes: Vec<Note>,
    errors: &mut Errors,
) -> Option<Project> {
    let entries = root.as_map().unwrap_or(&[]);
    decode::check_keys(entries, TOP_KEYS, TOP_UNSUPPORTED, "top level", errors);
    let bulkhead = entries
        .iter()
        .find(|e| e.key == "x-bulkhead")
        .map(|e| extension::project(&e.value, errors))
        .unwrap_or_default();
    if let Some(v) = entries.iter().find(|e| e.key == "version") {
        notes.push(Note {
            span: v.key_span.clone(),
            message: "`version` is obsolete and ignored, as in Docker Compose".to_string(),
        });
    }
    let base = PathBase {
        project_dir: &input.project_dir,
        home: env.get("HOME").map(String::as_str),
    };
    let empty = Node {
        span: root.span.clone(),
        value: Value::Null,
        tag: None,
    };
    let section = |k: &str| root.get(k).unwrap_or(&empty);
    let networks = toplevel::networks(section("networks"), errors);
    let volumes = toplevel::volumes(section("volumes"), errors);
    let mut definitions = BTreeMap::new();
    let secrets = toplevel::files(
        section("secrets"),
        "secrets",
        &base,
        &mut definitions,
        errors,
    );
    let configs = toplevel::files(
        section("configs"),
        "configs",
        &base,
        &mut definitions,
        errors,
    );
    let Some(service_node) = root.get("services") else {
        errors.push(SpecError::shape(
            &root.span,
            "the project has no `services:`",
        ));
        return None;
    };
    let mut services = BTreeMap::new();
    for e in errors
        .take(decode::map(service_node, "services"))
        .unwrap_or(&[])
    {
        if let Err(m) = validate::service_name(&e.key) {
            errors.push(SpecError::value(&e.key_span, m));
            continue;
        }
        if let Some(s) = service::service(&e.key, e, &base, errors) {
            services.insert(e.key.clone(), s);
        }
    }
    let profiles = active_profiles(input, env);
    let inactive: Vec<String> = services
        .iter()
        .filter(|(_, s)| {
            !s.profiles.is_empty()
                && !s
                    .profiles
                    .iter()
                    .any(|p| profiles.contains(p) || profiles.contains("*"))
        })
        .map(|(n, _)| n.clone())
        .collect();
    for name in &inactive {
        services.remove(name);
    }
    let name = project_name(input, root, env, errors)?;
    let project = Project {
        name,
        dir: input.project_dir.clone(),
        files: input.files.iter().map(|f| f.name.clone()).collect(),
        services,
        networks,
        volumes,
        secrets,
        configs,
        definitions,
        inactive,
        bulkhead,
        notes,
        loaded: Vec::new(),
    };
    validate::references(&project, errors);
    Some(project)
}

fn active_profiles(input: &LoadInput, env: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = input.profiles.iter().cloned().collect();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        set.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    set
}

/// `-p`, then COMPOSE_PROJECT_NAME, then the top-level `name:`, then the directory's name.
fn project_name(
    input: &LoadInput,
    root: &Node,
    env: &BTreeMap<String, String>,
    errors: &mut Errors,
) -> Option<String> {
    if let Some(p) = &input.project_name {
        return match validate::project_name(p) {
            Ok(()) => Some(p.clone()),
            Err(m) => {
                errors.push(SpecError::value(&Span::synthetic("-p"), m));
                None
            }
        };
    }
    if let Some(p) = env.get("COMPOSE_PROJECT_NAME").filter(|p| !p.is_empty()) {
        return match validate::project_name(p) {
            Ok(()) => Some(p.clone()),
            Err(m) => {
                errors.push(SpecError::value(
                    &Span::synthetic("COMPOSE_PROJECT_NAME"),
                    m,
                ));
                None
            }
        };
    }
    if let Some(n) = root.get("name") {
        let text = errors.take(decode::text(n, "name"))?;
        return match validate::project_name(&text) {
            Ok(()) => Some(text),
            Err(m) => {
                errors.push(SpecError::value(&n.span, m));
                None
            }
        };
    }
    let dir = input
        .project_dir
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let normalized = validate::normalize_project_name(dir);
    if normalized.is_empty() {
        errors.push(
            SpecError::value(
                &Span::synthetic(&input.project_dir),
                "cannot derive a project name from the directory name",
            )
            .with_hint("set one with -p NAME or a top-level `name:`"),
        );
        return None;
    }
    Some(normalized)
}
