//! The tenant boundary for files: every host path a spec names must resolve — symbolic links
//! followed — inside the project directory (or, for a local deploy only, a directory the local
//! admin named with `--allow-host-path`). Each is then rewritten to what it resolved to, a
//! symlink-free absolute path that later reads and mounts open with no link allowed.

use std::path::{Path, PathBuf};

use bulkhead_core::spec::paths::{NamedPath, PathUse, Slot, named_paths, set_path};
use bulkhead_core::spec::{ErrorKind, Project, SpecError};

use super::files::{self, FileError, kind_name};

/// Where a spec's paths may lead.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// The project directory, canonical.
    pub root: PathBuf,
    /// Directories outside it that the local admin allowed, canonical (empty for uploads).
    pub allowed: Vec<PathBuf>,
    /// The project was uploaded: nothing outside it, and no bind mounts at all.
    pub upload: bool,
}

impl Bounds {
    fn admits(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
            || (!self.upload && self.allowed.iter().any(|a| path.starts_with(a)))
    }

    fn outside_hint(&self) -> &'static str {
        if self.upload {
            "an uploaded project may only name files inside it: move the file into the project and name it with a relative path"
        } else {
            "move it into the project directory; a local admin who means it can allow a directory outside with --allow-host-path DIR"
        }
    }
}

/// Confine every path `project` names, rewriting each to what it resolved to. Every problem is
/// returned; on any, the project must not be used.
pub fn confine(project: &mut Project, bounds: &Bounds, home: Option<&str>) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let named = named_paths(project, home);
    let mut binds = Vec::new();
    let mut failed_contexts = Vec::new();
    for n in &named {
        match &n.slot {
            Slot::Dockerfile { service } if failed_contexts.contains(&service) => continue,
            _ => {}
        }
        match resolve(n, bounds) {
            Ok(Some(real)) => {
                if n.usage == PathUse::BindSource {
                    binds.push((n, real.clone()));
                }
                set_path(project, &n.slot, real.to_string_lossy().into_owned());
            }
            Ok(None) => {}
            Err(e) => {
                if let Slot::BuildContext { service } = &n.slot {
                    failed_contexts.push(service);
                }
                errors.push(e);
            }
        }
    }
    errors.extend(writable_overlaps(project, &binds));
    errors
}

fn refuse(n: &NamedPath, message: String, hint: &str) -> SpecError {
    SpecError::new(ErrorKind::Value, &n.span, format!("{}: {message}", n.key)).with_hint(hint)
}

/// The symlink-free path `n` leads to; `None` for an optional file that is not there.
pub(super) fn resolve(n: &NamedPath, bounds: &Bounds) -> Result<Option<PathBuf>, SpecError> {
    let written = &n.written;
    if bounds.upload && n.usage == PathUse::BindSource {
        return Err(refuse(
            n,
            format!(
                "`{written}`: an uploaded project cannot bind-mount host paths (the upload is removed once deployed)"
            ),
            "use a named volume for data, and `secrets:` for files a container reads",
        ));
    }
    let lexical = Path::new(&n.lexical);
    if !bounds.admits(lexical) {
        return Err(refuse(
            n,
            format!("`{written}` is outside the project directory"),
            bounds.outside_hint(),
        ));
    }
    let real = match lexical.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !n.required {
                // Read later with no link followed, so what appears there meanwhile is
                // confined all the same.
                return nearest_real(lexical, bounds)
                    .map_err(|m| refuse(n, m, bounds.outside_hint()));
            }
            let hint = match n.usage {
                PathUse::File if n.key.ends_with("env_file") => {
                    "create it, or mark it `required: false`"
                }
                PathUse::BindSource => "create it, or use a named volume",
                _ => "create it, or correct the path",
            };
            return Err(SpecError::new(
                ErrorKind::Io,
                &n.span,
                format!("{}: `{written}` does not exist", n.key),
            )
            .with_hint(hint));
        }
        Err(e) => {
            return Err(SpecError::new(
                ErrorKind::Io,
                &n.span,
                format!("{}: `{written}` cannot be resolved: {}", n.key, e.kind()),
            ));
        }
    };
    if !bounds.admits(&real) {
        // The link's target is not repeated: it is the host's layout, not the tenant's.
        return Err(refuse(
            n,
            format!("`{written}` leads outside the project directory through a symbolic link"),
            bounds.outside_hint(),
        ));
    }
    let st = files::stat_nofollow(&real).map_err(|e| io_refusal(n, e))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let fits = match n.usage {
        PathUse::File => kind == rustix::fs::FileType::RegularFile,
        PathUse::Dir => kind == rustix::fs::FileType::Directory,
        PathUse::BindSource => matches!(
            kind,
            rustix::fs::FileType::RegularFile | rustix::fs::FileType::Directory
        ),
    };
    if !fits {
        let wanted = match n.usage {
            PathUse::File => "a regular file",
            PathUse::Dir => "a directory",
            PathUse::BindSource => "a directory or a regular file",
        };
        return Err(refuse(
            n,
            format!("`{written}` is {}, not {wanted}", kind_name(kind)),
            "name a directory or a regular file of the project",
        ));
    }
    Ok(Some(real))
}

/// For a path that does not exist: its nearest existing ancestor, resolved, must be admitted;
/// the path is kept as that ancestor plus the rest (read later with no link followed).
fn nearest_real(lexical: &Path, bounds: &Bounds) -> Result<Option<PathBuf>, String> {
    let mut rest = Vec::new();
    let mut at = lexical;
    loop {
        match at.canonicalize() {
            Ok(real) if bounds.admits(&real) => {
                let mut out = real;
                out.extend(rest.iter().rev());
                return Ok(Some(out));
            }
            Ok(_) => {
                return Err(
                    "leads outside the project directory through a symbolic link".to_string(),
                );
            }
            Err(_) => match (at.parent(), at.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    at = parent;
                }
                _ => return Ok(None),
            },
        }
    }
}

fn io_refusal(n: &NamedPath, e: FileError) -> SpecError {
    SpecError::new(
        ErrorKind::Io,
        &n.span,
        format!("{}: `{}`: {e}", n.key, n.written),
    )
}

/// A bind source inside another bind source that a container may write: that container could
/// replace it with a link to any host path, which the engine would follow when it next mounts
/// (a restart included) — so the two must not nest.
fn writable_overlaps(project: &Project, binds: &[(&NamedPath, PathBuf)]) -> Vec<SpecError> {
    let writable: Vec<(&NamedPath, &PathBuf)> = binds
        .iter()
        .filter(|(n, _)| !bind_read_only(project, n))
        .map(|(n, p)| (*n, p))
        .collect();
    let mut errors = Vec::new();
    for (n, path) in binds {
        if let Some((w, _)) = writable
            .iter()
            .find(|(_, w)| path != *w && path.starts_with(w))
        {
            errors.push(refuse(
                n,
                format!(
                    "`{}` lies inside `{}`, which {} mounts writable: a container could replace it with a link to any host path",
                    n.written,
                    w.written,
                    w.key.trim_end_matches(".volumes")
                ),
                "mount the outer directory read-only (`:ro`), or keep the two apart",
            ));
        }
    }
    errors
}

fn bind_read_only(project: &Project, n: &NamedPath) -> bool {
    match &n.slot {
        Slot::Bind { service, index } => project
            .services
            .get(service)
            .and_then(|s| s.volumes.get(*index))
            .is_some_and(|m| m.value.read_only),
        _ => true,
    }
}

#[cfg(test)]
#[path = "confine_tests.rs"]
mod tests;
