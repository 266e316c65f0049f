//! Which files of a project go to a server. Left out: what `.dockerignore` and `.bulkheadignore`
//! at the project root exclude (the `.dockerignore` not inside another build context the spec
//! names, which has its own), and files that look like keys or tokens
//! (`bulkhead_core::keylike`). Always carried, whatever those say: the Compose files, the
//! `.env` Compose reads, and every file the spec names (secret and config files, env files,
//! Dockerfiles, trust keys, included and extended Compose files and their `.env`, label files).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bulkhead_core::ignore::Ignore;
use bulkhead_core::keylike;
use bulkhead_core::spec::Project;
use bulkhead_core::spec::paths::{PathUse, named_paths};

use crate::failure::Failure;

/// Why an entry stays behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// `.dockerignore` or `.bulkheadignore`.
    Ignored,
    /// It looks like a key or a token, and the spec does not name it.
    KeyLike,
}

/// The selection for one project directory.
pub struct Select {
    /// The project directory, canonical.
    root: PathBuf,
    /// `.dockerignore` then `.bulkheadignore`.
    rules: Ignore,
    /// `.bulkheadignore` alone: inside another build context.
    upload_rules: Ignore,
    keys: Ignore,
    /// Real paths always carried.
    carried: BTreeSet<PathBuf>,
    /// Build contexts the spec names inside the project, other than its root (real paths).
    contexts: Vec<PathBuf>,
}

/// Read an ignore file of the project root: a regular file or nothing (a link is refused).
fn read_rules(root: &Path, name: &str) -> anyhow::Result<Ignore> {
    let path = root.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {
            let text = bulkhead_app::project::read_bounded(&path)?;
            Ok(Ignore::parse(&text))
        }
        Ok(_) => Err(Failure::usage(format!(
            "{} must be a regular file (not a link or a directory)",
            path.display()
        ))
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Select {
    /// The selection for `root` (canonical), whose Compose files are `files` (real paths) and
    /// whose loaded spec is `spec`.
    pub fn new(
        root: &Path,
        files: &[PathBuf],
        spec: &Project,
        home: Option<&str>,
    ) -> anyhow::Result<Select> {
        let docker = read_rules(root, ".dockerignore")?;
        let upload = read_rules(root, ".bulkheadignore")?;
        let mut carried: BTreeSet<PathBuf> = files.iter().cloned().collect();
        if let Ok(env) = root.join(".env").canonicalize() {
            carried.insert(env);
        }
        for loaded in &spec.loaded {
            let path = PathBuf::from(loaded);
            carried.insert(path.canonicalize().unwrap_or(path));
        }
        let mut contexts = Vec::new();
        for named in named_paths(spec, home) {
            let path = PathBuf::from(&named.lexical);
            match named.usage {
                PathUse::File => {
                    carried.insert(path.canonicalize().unwrap_or(path));
                }
                PathUse::Dir if path != root && path.starts_with(root) => contexts.push(path),
                _ => {}
            }
        }
        Ok(Select {
            root: root.to_path_buf(),
            rules: docker.then(upload.clone()),
            upload_rules: upload,
            keys: keylike::matcher(),
            carried,
            contexts,
        })
    }

    /// `real` relative to the root, `/`-separated (empty when outside).
    fn relative(&self, real: &Path) -> String {
        real.strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn ignored(&self, rel: &str, real: &Path) -> bool {
        let rules = if self.contexts.iter().any(|c| real.starts_with(c)) {
            &self.upload_rules
        } else {
            &self.rules
        };
        !rel.is_empty() && rules.excludes(rel)
    }

    /// Why the entry at `rel` in the archive (on disk: `real`, links resolved) stays behind,
    /// if it does. Both names are judged: a link cannot carry what its target may not.
    pub fn left_out(&self, rel: &str, real: &Path) -> Option<Why> {
        if self.carried.contains(real) {
            return None;
        }
        let real_rel = self.relative(real);
        let key = |p: &str| !p.is_empty() && keylike::looks_like_key(&self.keys, p);
        if key(rel) || key(&real_rel) {
            return Some(Why::KeyLike);
        }
        if self.ignored(rel, real) || self.ignored(&real_rel, real) {
            return Some(Why::Ignored);
        }
        None
    }

    /// Whether a directory left out must still be walked: an exception may let something under
    /// it back in, or a file that is always carried lies under it.
    pub fn walk_anyway(&self, why: Why, real: &Path) -> bool {
        let holds_carried = self.carried.iter().any(|c| c.starts_with(real));
        holds_carried
            || (why == Why::Ignored
                && (self.rules.has_exceptions() || self.upload_rules.has_exceptions()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_app::project::ProjectOptions;

    /// A project directory with `files` (path, content) and its selection.
    fn select(files: &[(&str, &str)]) -> (tempfile::TempDir, Select) {
        let tmp = tempfile::tempdir().expect("tmp");
        for (path, text) in files {
            let at = tmp.path().join(path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(at, text).expect("write");
        }
        let root = tmp.path().canonicalize().expect("root");
        let opts = ProjectOptions {
            files: vec![root.join("compose.yaml")],
            cwd: root.clone(),
            ..ProjectOptions::default()
        };
        let spec = bulkhead_app::project::open(&opts).expect("open");
        let s = Select::new(&root, &[root.join("compose.yaml")], &spec, None).expect("select");
        (tmp, s)
    }

    fn why(s: &Select, rel: &str) -> Option<Why> {
        s.left_out(rel, &s.root.join(rel))
    }

    #[test]
    fn ignore_files_and_key_like_names_leave_files_behind_unless_named_or_needed() {
        let (_tmp, s) = select(&[
            (
                "compose.yaml",
                "services:\n  a:\n    image: x\n    build: ./web\n    secrets: [tls]\nsecrets:\n  tls:\n    file: ./certs/tls.key\n",
            ),
            (".dockerignore", "*.log\nweb\ncompose.yaml\n.env\n"),
            (".bulkheadignore", "notes/\n!notes/keep.md\n"),
            (".env", "A=1\n"),
            ("web/Dockerfile", "FROM scratch\n"),
            ("web/build.log", "x"),
            ("certs/tls.key", "k"),
        ]);
        assert_eq!(why(&s, "debug.log"), Some(Why::Ignored));
        assert_eq!(why(&s, "notes/private.txt"), Some(Why::Ignored));
        assert_eq!(why(&s, "notes/keep.md"), None, "an exception lets it back");
        assert_eq!(why(&s, "id_rsa"), Some(Why::KeyLike));
        assert_eq!(why(&s, "certs/other.key"), Some(Why::KeyLike));
        assert_eq!(why(&s, ".env.local"), Some(Why::KeyLike));
        assert_eq!(why(&s, "certs/tls.key"), None, "the spec names it");
        assert_eq!(
            why(&s, "compose.yaml"),
            None,
            "the Compose file always goes"
        );
        assert_eq!(why(&s, ".env"), None, "Compose reads it");
        assert_eq!(
            why(&s, "web/build.log"),
            None,
            "the root .dockerignore is not the web context's"
        );
        assert_eq!(why(&s, "web/Dockerfile"), None);
        assert!(s.walk_anyway(Why::Ignored, &s.root.join("notes")));
        assert!(s.walk_anyway(Why::KeyLike, &s.root.join("certs")));
    }

    #[test]
    fn a_link_is_judged_by_its_target_too() {
        let (_tmp, s) = select(&[("compose.yaml", "services:\n  a:\n    image: x\n")]);
        let target = s.root.join(".ssh/id_ed25519");
        assert_eq!(s.left_out("harmless.txt", &target), Some(Why::KeyLike));
    }

    #[test]
    fn an_ignore_file_that_is_a_link_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("rules"), "*\n").expect("rules");
        std::os::unix::fs::symlink(
            outside.path().join("rules"),
            tmp.path().join(".bulkheadignore"),
        )
        .expect("link");
        let err = read_rules(tmp.path(), ".bulkheadignore")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("must be a regular file"));
    }
}
