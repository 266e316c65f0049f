//! Opening a project from disk: Compose file discovery (`-f`, COMPOSE_FILE, the default names
//! up the directory tree, override files; for an upload, its own directory only), `.env`,
//! size-bounded reads, and the tenant boundary: every path the spec names confined to the
//! project (`confine`) and read with no symbolic link followed (`files`); the other files the
//! spec names for loading (include, extends.file, label_file) read the same way (`named`).

mod confine;
pub mod files;
mod named;

pub use confine::Bounds;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_core::imagefit::OVERRIDE_FILE;
use bulkhead_core::spec::dotenv;
use bulkhead_core::spec::load::{DEFAULT_FILES, MAX_FILE_BYTES};
use bulkhead_core::spec::{ErrorKind, LoadInput, Project, SourceFile, Span, SpecError, SpecErrors};

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct ProjectOptions {
    /// `-f`, in order; empty means discovery.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`; default: the first file's directory.
    pub project_dir: Option<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// `--env-file`; default: `.env` in the project directory, if present.
    pub env_file: Option<PathBuf>,
    /// The process environment.
    pub env: BTreeMap<String, String>,
    /// Where relative paths and discovery start.
    pub cwd: PathBuf,
    /// Where the files came from; an upload is a tenant's and is held to its own directory.
    pub origin: Origin,
    /// `--allow-host-path`: directories outside the project that a local spec may name (bind
    /// mounts, env files...). Never for uploads.
    pub allow_host_paths: Vec<PathBuf>,
}

/// Where a project's files came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// The caller's own disk (the CLI, embedded).
    #[default]
    Local,
    /// An upload unpacked by the server: a tenant's files. COMPOSE_FILE is ignored, discovery
    /// never looks above it, and nothing it names may lead outside it.
    Upload,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no Compose file found in {dir}{where_else} (looked for {names})")]
    NotFound {
        dir: PathBuf,
        where_else: &'static str,
        names: String,
    },
    #[error("{} leads outside {} through a symbolic link", path.display(), dir.display())]
    Escapes { path: PathBuf, dir: PathBuf },
    #[error("--allow-host-path {}: {reason}", path.display())]
    AllowedPath { path: PathBuf, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{0}")]
    Spec(#[from] SpecErrors),
}

/// Find, read and load a project, and confine every path it names.
pub fn open(opts: &ProjectOptions) -> Result<Project, OpenError> {
    let files = discover(opts)?;
    let first = files.first().cloned().unwrap_or_default();
    let dir = match &opts.project_dir {
        Some(d) => absolute(&opts.cwd, d),
        None => absolute(&opts.cwd, first.parent().unwrap_or(Path::new("."))),
    };
    let dir = dir.canonicalize().map_err(|e| OpenError::Read {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    let bounds = bounds(opts, &dir)?;
    let mut sources = Vec::new();
    for f in &files {
        sources.push(SourceFile {
            name: display(&opts.cwd, f),
            text: read_named(f, opts, &bounds)?,
        });
    }
    let dotenv = match &opts.env_file {
        Some(p) if opts.origin == Origin::Local => {
            let path = absolute(&opts.cwd, p);
            Some(SourceFile {
                name: display(&opts.cwd, &path),
                text: read_named(&path, opts, &bounds)?,
            })
        }
        _ => {
            let path = dir.join(".env");
            match path.symlink_metadata() {
                Ok(_) => Some(SourceFile {
                    name: display(&opts.cwd, &path),
                    text: read_named(&path, opts, &bounds)?,
                }),
                Err(_) => None,
            }
        }
    };
    let input = LoadInput {
        files: sources,
        project_dir: dir.to_string_lossy().into_owned(),
        project_name: opts.project_name.clone(),
        dotenv,
        env: opts.env.clone(),
        profiles: opts.profiles.clone(),
        extra: Default::default(),
    };
    let mut project = named::load_all(input, &bounds, &opts.cwd)?;
    let home = opts.env.get("HOME").map(String::as_str);
    let errors = confine::confine(&mut project, &bounds, home);
    if !errors.is_empty() {
        return Err(OpenError::Spec(SpecErrors(errors)));
    }
    check_env_files(&project, opts)?;
    Ok(project)
}

/// Where `opts`'s spec may lead: its directory, and for a local deploy the allowed ones.
fn bounds(opts: &ProjectOptions, dir: &Path) -> Result<Bounds, OpenError> {
    let upload = opts.origin == Origin::Upload;
    let mut allowed = Vec::new();
    if !upload {
        for p in &opts.allow_host_paths {
            let bad = |reason: String| OpenError::AllowedPath {
                path: p.clone(),
                reason,
            };
            if !p.is_absolute() {
                return Err(bad("must be an absolute path".into()));
            }
            let real = p.canonicalize().map_err(|e| bad(e.to_string()))?;
            if real == Path::new("/") {
                return Err(bad("the whole file system cannot be allowed".into()));
            }
            allowed.push(real);
        }
    }
    Ok(Bounds {
        root: dir.to_path_buf(),
        allowed,
        upload,
    })
}

/// Read a Compose or variables file. One a tenant uploaded must stay inside the upload; one the
/// local caller named may not be a link out of its own directory (an untrusted checkout's
/// `compose.yaml -> /root/.ssh/id_ed25519` would otherwise be read, and quoted in errors).
fn read_named(path: &Path, opts: &ProjectOptions, bounds: &Bounds) -> Result<String, OpenError> {
    let real = path.canonicalize().map_err(|e| OpenError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let home = match opts.origin {
        Origin::Upload => bounds.root.clone(),
        Origin::Local => path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .unwrap_or_else(|| bounds.root.clone()),
    };
    if !real.starts_with(&home) && !bounds.allowed.iter().any(|a| real.starts_with(a)) {
        return Err(OpenError::Escapes {
            path: path.to_path_buf(),
            dir: home,
        });
    }
    files::read_text_nofollow(&real, MAX_FILE_BYTES).map_err(|e| OpenError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// How a file is named in messages: relative to the working directory when it is below it.
fn display(cwd: &Path, p: &Path) -> String {
    p.strip_prefix(cwd)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// The Compose files, in merge order, with Bulkhead's proposal (`compose.bulkhead.yaml`,
/// written by `check --fix`) last when it is a regular file beside the first one, unless
/// `BULKHEAD_OVERRIDE=off`.
pub fn discover(opts: &ProjectOptions) -> Result<Vec<PathBuf>, OpenError> {
    let mut files = discover_compose(opts)?;
    let off = opts.env.get(OVERRIDE_OFF).is_some_and(|v| v == "off");
    if let Some(over) = files
        .first()
        .and_then(|f| f.parent())
        .map(|d| d.join(OVERRIDE_FILE))
        && !off
        && !files.contains(&over)
        && over.symlink_metadata().is_ok_and(|m| m.is_file())
    {
        files.push(over);
    }
    Ok(files)
}

/// The variable that, set to `off`, leaves `compose.bulkhead.yaml` out.
pub const OVERRIDE_OFF: &str = "BULKHEAD_OVERRIDE";

/// The Compose files `-f`, COMPOSE_FILE or the default names give, in merge order.
fn discover_compose(opts: &ProjectOptions) -> Result<Vec<PathBuf>, OpenError> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(&opts.cwd, f)).collect());
    }
    let upload = opts.origin == Origin::Upload;
    // An upload's variables are the tenant's: they never choose which files the server reads.
    let env = if upload {
        opts.env.clone()
    } else {
        with_dotenv(opts)
    };
    let compose_file = env.get("COMPOSE_FILE").filter(|l| !l.is_empty() && !upload);
    if let Some(list) = compose_file {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        return Ok(list
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| absolute(&opts.cwd, Path::new(f)))
            .collect());
    }
    let mut dir = Some(opts.cwd.as_path());
    while let Some(d) = dir {
        for (name, override_name) in DEFAULT_FILES {
            let candidate = d.join(name);
            if candidate.is_file() {
                let mut files = vec![candidate];
                let over = d.join(override_name);
                if over.is_file() {
                    files.push(over);
                }
                return Ok(files);
            }
        }
        // An upload is looked for in its own directory only, never above it.
        dir = if upload { None } else { d.parent() };
    }
    Err(OpenError::NotFound {
        dir: opts.cwd.clone(),
        where_else: if upload { "" } else { " or its parents" },
        names: DEFAULT_FILES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The process environment over the variables of the `.env` file (`--env-file`, else the
/// one in `--project-directory` or the working directory), as Docker Compose reads
/// COMPOSE_FILE and COMPOSE_PATH_SEPARATOR before it looks for files. An unreadable or
/// malformed `.env` adds nothing here: `open` reads it again and reports it.
fn with_dotenv(opts: &ProjectOptions) -> BTreeMap<String, String> {
    let path = match (&opts.env_file, &opts.project_dir) {
        (Some(f), _) => absolute(&opts.cwd, f),
        (None, Some(d)) => absolute(&opts.cwd, d).join(".env"),
        (None, None) => opts.cwd.join(".env"),
    };
    let mut env = BTreeMap::new();
    if path.is_file()
        && let Ok(text) = read_bounded(&path)
    {
        let lookup = |k: &str| opts.env.get(k).cloned();
        if let Ok(pairs) = dotenv::parse(&text, &lookup) {
            env.extend(pairs);
        }
    }
    env.extend(opts.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Read a file, refusing anything larger than a spec file can sensibly be.
pub fn read_bounded(path: &Path) -> Result<String, OpenError> {
    let read_err = |reason: String| OpenError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_err(e.to_string()))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(read_err(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Every `env_file` a service names (confined and resolved by now) must parse; one marked
/// `required: false` may be missing.
fn check_env_files(project: &Project, opts: &ProjectOptions) -> Result<(), OpenError> {
    let mut errors = Vec::new();
    for s in project.services.values() {
        for f in &s.env_file {
            let path = Path::new(&f.path);
            let span = s.key_span("env_file");
            match files::read_text_nofollow(path, MAX_FILE_BYTES) {
                Ok(text) => {
                    let lookup = |k: &str| opts.env.get(k).cloned();
                    if let Err(dotenv::DotenvError::Syntax { line, reason }) =
                        dotenv::parse(&text, &lookup)
                    {
                        let at = Span::new(&Arc::from(path.to_string_lossy().as_ref()), line, 1);
                        errors.push(SpecError::new(ErrorKind::Shape, &at, reason));
                    }
                }
                Err(files::FileError::NotFound { .. }) if !f.required => {}
                Err(e) => errors.push(SpecError::new(ErrorKind::Io, span, e.to_string())),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(OpenError::Spec(SpecErrors(errors)))
    }
}
