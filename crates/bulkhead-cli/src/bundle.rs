//! Packing a project for a server: the project directory as a ustar archive in memory (`.git`
//! and a local state directory skipped, symbolic links followed only when they stay inside,
//! under the upload cap), the Compose files named relative to it, and only the variables the
//! files reference — never a `BULKHEAD_*` one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

use bulkhead_app::project::ProjectOptions;
use bulkhead_app::server::routes::UPLOAD_BODY;
use bulkhead_core::spec::dotenv;

use crate::failure::Failure;

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
}

/// Pack the project `opts` names. `skip` (the local state directory) is left out when it is
/// inside the project directory: it holds keys.
pub fn pack(opts: &ProjectOptions, skip: Option<&Path>) -> anyhow::Result<Packed> {
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
    for f in &files {
        let real = f
            .canonicalize()
            .with_context(|| format!("cannot open {}", f.display()))?;
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
    let env = variables(opts, &dir, &texts)?;
    let skip = skip.and_then(|s| s.canonicalize().ok());
    let mut packer = Packer {
        root: dir.clone(),
        skip,
        builder: tar::Builder::new(Vec::new()),
        stack: vec![dir.clone()],
    };
    packer.dir(&dir, Path::new(""))?;
    let archive = packer
        .builder
        .into_inner()
        .context("finishing the archive")?;
    Ok(Packed {
        files: names,
        env,
        archive,
        dir,
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

struct Packer {
    root: PathBuf,
    skip: Option<PathBuf>,
    builder: tar::Builder<Vec<u8>>,
    /// The directories being walked (symbolic link loops).
    stack: Vec<PathBuf>,
}

fn too_large(dir: &Path) -> anyhow::Error {
    Failure::usage(format!(
        "the project directory {} is over {} MiB packed, the most a server accepts",
        dir.display(),
        (MAX_ARCHIVE >> 20) + 1
    ))
    .hint("move build outputs and data out of the project directory")
    .into()
}

impl Packer {
    /// Add the entries of `path` (the real directory) under `rel` in the archive.
    fn dir(&mut self, path: &Path, rel: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let at = entry.path();
            if self.skip.as_deref() == Some(at.as_path()) {
                continue;
            }
            self.entry(&at, &rel.join(&name))?;
        }
        Ok(())
    }

    fn entry(&mut self, at: &Path, rel: &Path) -> anyhow::Result<()> {
        let meta = std::fs::symlink_metadata(at)
            .with_context(|| format!("cannot read {}", at.display()))?;
        let (real, meta) = if meta.file_type().is_symlink() {
            let real = at.canonicalize().map_err(|_| {
                Failure::usage(format!(
                    "{} is a symbolic link that points nowhere",
                    at.display()
                ))
            })?;
            if !real.starts_with(&self.root) {
                return Err(Failure::usage(format!(
                    "{} is a symbolic link to {}, outside the project directory {}; files outside it are not uploaded",
                    at.display(),
                    real.display(),
                    self.root.display()
                ))
                .hint("copy what it points to into the project directory, or remove the link")
                .into());
            }
            let meta = std::fs::metadata(&real)
                .with_context(|| format!("cannot read {}", real.display()))?;
            (real, meta)
        } else {
            (at.to_path_buf(), meta)
        };
        if meta.is_dir() {
            if self.stack.contains(&real) {
                return Err(Failure::usage(format!(
                    "{} is a symbolic link into one of its own parents",
                    at.display()
                ))
                .into());
            }
            self.header(rel, tar::EntryType::Directory, 0o755, &[])?;
            self.stack.push(real.clone());
            self.dir(&real, rel)?;
            self.stack.pop();
            return Ok(());
        }
        if !meta.is_file() {
            return Err(Failure::usage(format!(
                "{} is neither a file nor a directory (a socket, a pipe or a device), so it cannot be uploaded",
                at.display()
            ))
            .into());
        }
        let size = meta.len();
        if self.builder.get_ref().len() as u64 + size + 1024 > MAX_ARCHIVE as u64 {
            return Err(too_large(&self.root));
        }
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        // Read first: a file that changes meanwhile is packed as read, never torn.
        let mut data = Vec::new();
        std::fs::File::open(&real)
            .and_then(|f| f.take(size).read_to_end(&mut data))
            .with_context(|| format!("cannot read {}", at.display()))?;
        self.header(rel, tar::EntryType::Regular, mode, &data)
    }

    fn header(
        &mut self,
        rel: &Path,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, rel, data)
            .with_context(|| format!("cannot pack {}", rel.display()))?;
        if self.builder.get_ref().len() > MAX_ARCHIVE {
            return Err(too_large(&self.root));
        }
        Ok(())
    }
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
        let packed = pack(&opts, Some(&dir.join("state")))?;
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
        let err = pack(&options(dir, &[]), None)
            .err()
            .map(|e| format!("{e:#}"));
        let err = err.unwrap_or_default();
        assert!(err.contains("outside the project directory"), "{err}");
        Ok(())
    }
}
