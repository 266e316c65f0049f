//! Opening a project from disk: Compose file discovery (`-f`, COMPOSE_FILE, the default names
//! up the directory tree, override files), `.env`, size-bounded reads, and `env_file` checks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_core::spec::dotenv;
use bulkhead_core::spec::load::{DEFAULT_FILES, MAX_FILE_BYTES};
use bulkhead_core::spec::{
    ErrorKind, LoadInput, Project, SourceFile, Span, SpecError, SpecErrors, load,
};

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
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no Compose file found in {dir} or its parents (looked for {names})")]
    NotFound { dir: PathBuf, names: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{0}")]
    Spec(#[from] SpecErrors),
}

/// Find, read and load a project.
pub fn open(opts: &ProjectOptions) -> Result<Project, OpenError> {
    let files = discover(opts)?;
    let first = files.first().cloned().unwrap_or_default();
    let dir = match &opts.project_dir {
        Some(d) => absolute(&opts.cwd, d),
        None => absolute(&opts.cwd, first.parent().unwrap_or(Path::new("."))),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let mut sources = Vec::new();
    for f in &files {
        sources.push(SourceFile {
            name: display(&opts.cwd, f),
            text: read_bounded(f)?,
        });
    }
    let dotenv_path = opts
        .env_file
        .as_ref()
        .map(|p| absolute(&opts.cwd, p))
        .unwrap_or_else(|| dir.join(".env"));
    let dotenv = if opts.env_file.is_some() || dotenv_path.is_file() {
        Some(SourceFile {
            name: display(&opts.cwd, &dotenv_path),
            text: read_bounded(&dotenv_path)?,
        })
    } else {
        None
    };
    let input = LoadInput {
        files: sources,
        project_dir: dir.to_string_lossy().into_owned(),
        project_name: opts.project_name.clone(),
        dotenv,
        env: opts.env.clone(),
        profiles: opts.profiles.clone(),
    };
    let project = load(&input)?;
    check_env_files(&project, opts)?;
    Ok(project)
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

/// The Compose files, in merge order.
pub fn discover(opts: &ProjectOptions) -> Result<Vec<PathBuf>, OpenError> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(&opts.cwd, f)).collect());
    }
    if let Some(list) = opts.env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = opts
            .env
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
        dir = d.parent();
    }
    Err(OpenError::NotFound {
        dir: opts.cwd.clone(),
        names: DEFAULT_FILES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
    })
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

/// Every `env_file` a service names must exist (unless `required: false`) and parse.
fn check_env_files(project: &Project, opts: &ProjectOptions) -> Result<(), OpenError> {
    let mut errors = Vec::new();
    for s in project.services.values() {
        for f in &s.env_file {
            let path = Path::new(&project.dir).join(&f.path);
            let span = s.key_span("env_file");
            if !path.exists() {
                if f.required {
                    errors.push(
                        SpecError::new(
                            ErrorKind::Io,
                            span,
                            format!(
                                "service `{}`: env_file {} does not exist",
                                s.name,
                                path.display()
                            ),
                        )
                        .with_hint("create it, or mark it `required: false`"),
                    );
                }
                continue;
            }
            match read_bounded(&path) {
                Ok(text) => {
                    let lookup = |k: &str| opts.env.get(k).cloned();
                    if let Err(dotenv::DotenvError::Syntax { line, reason }) =
                        dotenv::parse(&text, &lookup)
                    {
                        let at = Span::new(&Arc::from(path.to_string_lossy().as_ref()), line, 1);
                        errors.push(SpecError::new(ErrorKind::Shape, &at, reason));
                    }
                }
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
