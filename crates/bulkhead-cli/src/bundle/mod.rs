//! Packing a project for a server: the project directory as a ustar archive in memory (`.git`,
//! a local state directory, what `.dockerignore` and `.bulkheadignore` exclude and files that
//! look like keys or tokens left out — `select` decides, `archive` walks), the Compose files
//! named relative to it, and only the variables the files reference (the files they include,
//! extend or read labels from too) — never a `BULKHEAD_*` one.

mod archive;
mod select;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

use bulkhead_app::project::ProjectOptions;
use bulkhead_app::server::routes::UPLOAD_BODY;
use bulkhead_core::spec::{Project, dotenv};

use crate::failure::Failure;
pub use select::Why;

/// The largest archive: base64 grows it by a third, and the request must stay under the
/// server's upload limit with room for the file list and the variables.
pub const MAX_ARCHIVE: usize = UPLOAD_BODY / 4 * 3 - (64 << 10);

/// A project ready to upload.
pub struct Packed {
    /// The Compose files, relative to `dir`, in `-f` order.
    pub files: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub archive: Vec<u8>,
    /// The project directory that was packed.
    pub dir: PathBuf,
    /// What stayed behind (archive paths, a directory with a trailing `/`), and why.
    pub left_out: Vec<(String, Why)>,
}

impl Packed {
    /// The body of `POST .../deploys` and `.../plans`.
    pub fn body(&self) -> Value {
        json!({
            "files": self.files,
            "env": self.env,
            "bundle": base64::engine::general_purpose::STANDARD.encode(&self.archive),
        })
    }

    /// What to tell the user about the files left behind (names only, a few of each kind),
    /// one line per kind; empty when nothing was.
    pub fn left_out_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (why, what) in [
            (
                Why::KeyLike,
                "that look like keys or tokens (a file the spec names, a secret's `file:` say, is sent)",
            ),
            (
                Why::Ignored,
                "that .dockerignore or .bulkheadignore exclude",
            ),
        ] {
            let names: Vec<&str> = self
                .left_out
                .iter()
                .filter(|(_, w)| *w == why)
                .map(|(n, _)| n.as_str())
                .collect();
            if names.is_empty() {
                continue;
            }
            let shown = names.len().min(FEW);
            let more = match names.len() - shown {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            lines.push(format!(
                "not uploaded: {} {} {what}: {}{more}",
                names.len(),
                if names.len() == 1 { "entry" } else { "entries" },
                names[..shown].join(", ")
            ));
        }
        lines
    }
}

/// How many names of each kind the user is shown.
const FEW: usize = 5;

/// Pack the project `opts` names, loaded as `spec` (the files it names are always carried).
/// `skip` (the local state directory) is left out when it is inside the project directory: it
/// holds keys.
pub fn pack(opts: &ProjectOptions, skip: Option<&Path>, spec: &Project) -> anyhow::Result<Packed> {
    if !opts.allow_host_paths.is_empty() {
        return Err(Failure::usage(
            "--allow-host-path applies to a local deploy only: a server never reads outside the project it is sent",
        )
        .hint("move the files into the project directory, or deploy locally")
        .into());
    }
    let files = bulkhead_app::project::discover(opts)?;
    let first = files.first().cloned().unwrap_or_default();
    let dir = match &opts.project_dir {
        Some(d) => opts.cwd.join(d),
        None => first
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.cwd.clone()),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open the project directory {}", dir.display()))?;
    let mut names = Vec::new();
    let mut texts = Vec::new();
    let mut reals = Vec::new();
    for f in &files {
        let real = f
            .canonicalize()
            .with_context(|| format!("cannot open {}", f.display()))?;
        reals.push(real.clone());
        let rel = real.strip_prefix(&dir).map_err(|_| {
            Failure::usage(format!(
                "{} is outside the project directory {}, so it cannot be uploaded with it",
                f.display(),
                dir.display()
            ))
            .hint("pass --project-directory with a directory that holds every Compose file")
        })?;
        names.push(rel.to_string_lossy().into_owned());
        texts.push(bulkhead_app::project::read_bounded(&real)?);
    }
    // The files the spec itself pulled in (includes, extends.file, label_file) reference
    // variables too.
    for f in &spec.loaded {
        texts.push(bulkhead_app::project::read_bounded(Path::new(f))?);
    }
    let env = variables(opts, &dir, &texts)?;
    let skip = skip.and_then(|s| s.canonicalize().ok());
    let home = opts.env.get("HOME").map(String::as_str);
    let select = select::Select::new(&dir, &reals, spec, home)?;
    let mut packer = archive::Packer {
        root: dir.clone(),
        skip,
        select: &select,
        builder: tar::Builder::new(Vec::new()),
        stack: vec![dir.clone()],
        left: Vec::new(),
    };
    packer.dir(&dir, Path::new(""))?;
    let left_out = std::mem::take(&mut packer.left);
    let archive = packer
        .builder
        .into_inner()
        .context("finishing the archive")?;
    Ok(Packed {
        files: names,
        env,
        archive,
        dir,
        left_out,
    })
}

/// The variables the files (and the variables file) reference, with their values from the
/// environment (then `--env-file`); `--profile` as COMPOSE_PROFILES.
fn variables(
    opts: &ProjectOptions,
    dir: &Path,
    texts: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut wanted: BTreeSet<String> = texts.iter().flat_map(|t| references(t)).collect();
    let dotenv_path = match &opts.env_file {
        Some(p) => Some(opts.cwd.join(p)),
        None => Some(dir.join(".env")).filter(|p| p.is_file()),
    };
    let mut from_file = BTreeMap::new();
    if let Some(path) = &dotenv_path {
        let text = bulkhead_app::project::read_bounded(path)?;
        wanted.extend(references(&text));
        if opts.env_file.is_some() {
            let lookup = |k: &str| opts.env.get(k).cloned();
            let pairs = dotenv::parse(&text, &lookup)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            wanted.extend(pairs.iter().map(|(k, _)| k.clone()));
            from_file.extend(pairs);
        }
    }
    wanted.insert("COMPOSE_PROFILES".into());
    let mut env = BTreeMap::new();
    for name in wanted {
        if name.starts_with("BULKHEAD_") {
            continue;
        }
        if let Some(v) = opts.env.get(&name).or_else(|| from_file.get(&name)) {
            env.insert(name, v.clone());
        }
    }
    if !opts.profiles.is_empty() {
        let mut all: Vec<String> = env
            .get("COMPOSE_PROFILES")
            .map(|p| p.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        all.extend(opts.profiles.iter().cloned());
        all.retain(|p| !p.is_empty());
        env.insert("COMPOSE_PROFILES".into(), all.join(","));
    }
    Ok(env)
}

/// Names referenced as `$NAME` or `${NAME...}` (`$$` is an escaped dollar).
pub fn references(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let start = match bytes.get(i + 1) {
            Some(b'$') => {
                i += 2;
                continue;
            }
            Some(b'{') => i + 2,
            _ => i + 1,
        };
        let mut end = start;
        while end < bytes.len()
            && (bytes[end] == b'_'
                || bytes[end].is_ascii_alphabetic()
                || (end > start && bytes[end].is_ascii_digit()))
        {
            end += 1;
        }
        if end > start {
            out.insert(text[start..end].to_string());
        }
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_escapes_skipped() {
        let found = references("a: ${SHOP_PORT:-8080}\nb: $HOME/x $$NOT ${A_1} $1 ${}");
        let names: Vec<&str> = found.iter().map(String::as_str).collect();
        assert_eq!(names, ["A_1", "HOME", "SHOP_PORT"]);
    }

    fn options(dir: &Path, env: &[(&str, &str)]) -> ProjectOptions {
        ProjectOptions {
            files: vec![dir.join("compose.yaml")],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: dir.to_path_buf(),
            ..ProjectOptions::default()
        }
    }

    fn names(archive: &[u8]) -> Vec<String> {
        let mut tar = tar::Archive::new(archive);
        let mut out = Vec::new();
        for e in tar.entries().into_iter().flatten().flatten() {
            if let Ok(p) = e.path() {
                out.push(p.to_string_lossy().into_owned());
            }
        }
        out
    }

    #[test]
    fn packs_the_directory_and_only_referenced_variables() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path();
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  a:\n    image: x:${TAG}\n    environment: [\"T=${BULKHEAD_TOKEN}\"]\n",
        )?;
        std::fs::create_dir_all(dir.join(".git/objects"))?;
        std::fs::write(dir.join(".git/config"), "secret")?;
        std::fs::create_dir_all(dir.join("image"))?;
        std::fs::write(dir.join("image/Dockerfile"), "FROM scratch\n")?;
        std::os::unix::fs::symlink("image/Dockerfile", dir.join("inside"))?;
        std::fs::create_dir_all(dir.join("state"))?;
        std::fs::write(dir.join("state/bulkhead.redb"), "store")?;
        let opts = options(
            dir,
            &[("TAG", "1"), ("BULKHEAD_TOKEN", "t"), ("UNRELATED", "u")],
        );
        let spec = bulkhead_app::project::open(&opts)?;
        let packed = pack(&opts, Some(&dir.join("state")), &spec)?;
        assert_eq!(packed.files, ["compose.yaml"]);
        assert_eq!(
            packed.env.keys().map(String::as_str).collect::<Vec<_>>(),
            ["TAG"]
        );
        let listed = names(&packed.archive);
        assert_eq!(
            listed,
            ["compose.yaml", "image", "image/Dockerfile", "inside"],
            "no .git, no state directory; the inside link as a file"
        );
        Ok(())
    }

    #[test]
    fn links_out_of_the_project_are_refused() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let dir = tmp.path();
        std::fs::write(dir.join("compose.yaml"), "services: {}\n")?;
        std::fs::write(outside.path().join("secret"), "x")?;
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.join("leak"))?;
        let opts = options(dir, &[]);
        let spec = bulkhead_app::project::open(&opts)?;
        let err = pack(&opts, None, &spec).err().map(|e| format!("{e:#}"));
        let err = err.unwrap_or_default();
        assert!(err.contains("outside the project directory"), "{err}");
        Ok(())
    }

    #[test]
    fn ignored_and_key_like_files_stay_behind_and_named_ones_go() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path();
        let write = |path: &str, text: &str| -> std::io::Result<()> {
            let at = dir.join(path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(at, text)
        };
        write(
            "compose.yaml",
            "services:\n  a:\n    image: x\n    secrets: [tls]\nsecrets:\n  tls:\n    file: ./tls.key\n",
        )?;
        write(".dockerignore", "*.log\nbuild/\n")?;
        write(".bulkheadignore", "notes/\n")?;
        write("tls.key", "named")?;
        write("id_rsa", "key")?;
        write("deploy.token", "token")?;
        write(".env.local", "A=1")?;
        write("debug.log", "log")?;
        write("build/out.bin", "bin")?;
        write("notes/private.txt", "notes")?;
        write("src/main.rs", "fn main() {}")?;
        for i in 0..7 {
            write(&format!("keys/k{i}.pem"), "pem")?;
        }
        // A link named innocently, to a key: judged by its target too.
        std::os::unix::fs::symlink("id_rsa", dir.join("readme.txt"))?;
        let opts = options(dir, &[]);
        let spec = bulkhead_app::project::open(&opts)?;
        let packed = pack(&opts, None, &spec)?;
        assert_eq!(
            names(&packed.archive),
            [
                ".bulkheadignore",
                ".dockerignore",
                "compose.yaml",
                "keys",
                "src",
                "src/main.rs",
                "tls.key"
            ],
            "the keys directory goes, empty"
        );
        let left: Vec<(&str, Why)> = packed
            .left_out
            .iter()
            .map(|(n, w)| (n.as_str(), *w))
            .collect();
        assert_eq!(
            left,
            [
                (".env.local", Why::KeyLike),
                ("build/", Why::Ignored),
                ("debug.log", Why::Ignored),
                ("deploy.token", Why::KeyLike),
                ("id_rsa", Why::KeyLike),
                ("keys/k0.pem", Why::KeyLike),
                ("keys/k1.pem", Why::KeyLike),
                ("keys/k2.pem", Why::KeyLike),
                ("keys/k3.pem", Why::KeyLike),
                ("keys/k4.pem", Why::KeyLike),
                ("keys/k5.pem", Why::KeyLike),
                ("keys/k6.pem", Why::KeyLike),
                ("notes/", Why::Ignored),
                ("readme.txt", Why::KeyLike),
            ]
        );
        let lines = packed.left_out_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("not uploaded: 11 entries that look like keys or tokens")
                && lines[0].ends_with(
                    ".env.local, deploy.token, id_rsa, keys/k0.pem, keys/k1.pem and 6 more"
                ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with("exclude: build/, debug.log, notes/"),
            "{}",
            lines[1]
        );
        let shown = lines.join("\n");
        assert!(
            !shown.contains("pem\n") && !shown.contains("token\n"),
            "never contents"
        );
        Ok(())
    }

    #[test]
    fn included_extended_and_label_files_travel_even_when_ignored() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path();
        let write = |path: &str, text: &str| -> std::io::Result<()> {
            let at = dir.join(path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(at, text)
        };
        write(
            "compose.yaml",
            "include: [shared/compose.yaml]\nservices:\n  web:\n    extends: {file: shared/base.yaml, service: base}\n    label_file: shared/web.labels\n",
        )?;
        write(
            "shared/compose.yaml",
            "services:\n  db:\n    image: db:${DB_TAG}\n",
        )?;
        write("shared/.env", "DB_TAG=1\n")?;
        write(
            "shared/base.yaml",
            "services:\n  base:\n    image: app:${APP_TAG}\n",
        )?;
        write("shared/web.labels", "team=shop\n")?;
        write("shared/notes.txt", "left behind")?;
        write(".bulkheadignore", "shared/\n")?;
        let opts = options(dir, &[("DB_TAG", "2"), ("APP_TAG", "3"), ("OTHER", "x")]);
        let spec = bulkhead_app::project::open(&opts)?;
        let packed = pack(&opts, None, &spec)?;
        assert_eq!(
            names(&packed.archive),
            [
                ".bulkheadignore",
                "compose.yaml",
                "shared/.env",
                "shared/base.yaml",
                "shared/compose.yaml",
                "shared/web.labels"
            ]
        );
        assert_eq!(
            packed.env.keys().map(String::as_str).collect::<Vec<_>>(),
            ["APP_TAG", "DB_TAG"],
            "the variables the included and extended files reference are sent"
        );
        Ok(())
    }
}
