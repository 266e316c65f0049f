//! The other files a spec names that loading needs — included Compose files and their variables
//! files, `extends.file`, `label_file` — asked of the caller by absolute path and handed back
//! in `LoadInput::extra`. Loading never reads a file: it says what it lacks ([`Step::Needs`]),
//! and the caller reads those (confined to the project) and loads again.

use std::collections::BTreeMap;

use super::SourceFile;
use super::SpecErrors;
use super::error::{ErrorKind, Span, SpecError};
use super::model::Project;
use super::volumes::{self, PathBase};

/// Deepest nesting of `include` (an included file including another is depth 2).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Most other files one project may load (included, extended, label and variables files).
pub const MAX_LOADED_FILES: usize = 64;

/// A file loading needs and has not been given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Absolute and lexically normalized: the key to give it under in `LoadInput::extra`.
    pub path: String,
    /// The key that named it: `include`, `include.env_file`, `services.web.extends.file`...
    pub key: String,
    /// As written.
    pub written: String,
    pub span: Span,
    /// False for a variables file Compose reads only when it is there (an included project's
    /// `.env`): give `None` when it is absent.
    pub required: bool,
}

/// The outcome of one loading pass.
#[derive(Debug)]
pub enum Step {
    Done(Box<Result<Project, SpecErrors>>),
    /// Read these (confined), add them to `LoadInput::extra`, and load again.
    Needs(Vec<Wanted>),
}

/// The files given, and what was asked for or used while loading.
pub(super) struct Sources<'a> {
    extra: &'a BTreeMap<String, Option<SourceFile>>,
    /// The project directory: paths rebased from other files are relative to it.
    pub root: &'a str,
    pub home: Option<&'a str>,
    pub wanted: Vec<Wanted>,
    /// Paths of the files given that loading used, in the order first used.
    pub used: Vec<String>,
}

impl<'a> Sources<'a> {
    pub fn new(
        extra: &'a BTreeMap<String, Option<SourceFile>>,
        root: &'a str,
        home: Option<&'a str>,
    ) -> Self {
        Sources {
            extra,
            root,
            home,
            wanted: Vec::new(),
            used: Vec::new(),
        }
    }

    /// `written` (named at `span` by `key`) resolved against `dir`: absolute, normalized.
    pub fn resolve(
        &self,
        written: &str,
        dir: &str,
        span: &Span,
        key: &str,
    ) -> Result<String, SpecError> {
        if written.is_empty() {
            return Err(SpecError::value(span, format!("{key}: the path is empty")));
        }
        if written.contains("://") || written.starts_with("git@") {
            return Err(SpecError::value(
                span,
                format!(
                    "{key}: `{written}` is a remote resource; only files of the project are read"
                ),
            )
            .with_hint("copy the file into the project and name it with a relative path"));
        }
        let base = PathBase {
            project_dir: dir,
            home: self.home,
        };
        volumes::resolve(written, &base).map_err(|m| SpecError::value(span, format!("{key}: {m}")))
    }

    /// The file at `w.path`: `Some(Some(..))` given, `Some(None)` given as absent (an optional
    /// one), `None` not given yet (it is asked for).
    pub fn get(&mut self, w: Wanted) -> Option<Option<&'a SourceFile>> {
        match self.extra.get(&w.path) {
            Some(f) => {
                if f.is_some() && !self.used.contains(&w.path) {
                    self.used.push(w.path);
                }
                Some(f.as_ref())
            }
            None => {
                if !self.wanted.iter().any(|x| x.path == w.path) {
                    self.wanted.push(w);
                }
                None
            }
        }
    }

    /// Like [`Sources::get`] for a file that must be there: absent is an error.
    pub fn required(&mut self, w: Wanted) -> Result<Option<&'a SourceFile>, SpecError> {
        let (span, key, written) = (w.span.clone(), w.key.clone(), w.written.clone());
        match self.get(w) {
            Some(Some(f)) => Ok(Some(f)),
            Some(None) => Err(SpecError::new(
                ErrorKind::Io,
                &span,
                format!("{key}: `{written}` does not exist"),
            )),
            None => Ok(None),
        }
    }

    /// Whether the caller gave more files than a project may load.
    pub fn too_many(&self) -> bool {
        self.extra.len() > MAX_LOADED_FILES
    }
}

/// The absolute, normalized `target` as a path relative to the directory `base` (`./x`,
/// `../x`), so that messages never show where the project lies on the host; kept absolute
/// when the two share nothing but `/`.
pub(super) fn relative(target: &str, base: &str) -> String {
    let t: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let b: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 && !b.is_empty() {
        return target.to_string();
    }
    let mut parts: Vec<&str> = vec![".."; b.len() - common];
    parts.extend(&t[common..]);
    if parts.first() != Some(&"..") {
        parts.insert(0, ".");
    }
    parts.join("/")
}

/// The directory holding the absolute, normalized `path`.
pub(super) fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_relative_to_the_project() {
        for (target, want) in [
            ("/p/sub/a.env", "./sub/a.env"),
            ("/p", "."),
            ("/x/a.env", "/x/a.env"),
            ("/etc/passwd", "/etc/passwd"),
        ] {
            assert_eq!(relative(target, "/p"), want, "{target}");
        }
        assert_eq!(relative("/srv/up/abc/x", "/srv/up/abc/sub"), "../x");
        assert_eq!(relative("/srv/up/x", "/srv/up/abc"), "../x");
        assert_eq!(dir_of("/p/compose.yaml"), "/p");
        assert_eq!(dir_of("/compose.yaml"), "/");
    }
}
