//! What `check` says about each service's image, `check --fix` writing it as
//! compose.bulkhead.yaml, and `learn` (docs/real-images.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use bulkhead_app::imagefit::{Build, Learned, ServiceFit};
use bulkhead_app::project::{OVERRIDE_OFF, ProjectOptions, discover, open};
use bulkhead_core::imagefit::{
    OVERRIDE_FILE, Proposal, ProposedTmpfs, ProposedVolume, render_override,
};
use bulkhead_core::spec::model::MountKind;

use crate::output::{self, say};

/// The images' proposals, and where `--fix` wrote them.
pub struct Fits {
    pub fits: Vec<ServiceFit>,
    pub written: Option<PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The options without compose.bulkhead.yaml: what the proposal is made against.
fn without_override(opts: &ProjectOptions) -> ProjectOptions {
    let mut o = opts.clone();
    o.env.insert(OVERRIDE_OFF.to_string(), "off".to_string());
    o
}

/// Read every service's image; with `fix`, against the project without its override file, and
/// write the proposal beside the first Compose file.
pub fn images(opts: &ProjectOptions, fix: bool) -> Result<Fits, String> {
    let given = opts;
    let opts = if fix {
        without_override(opts)
    } else {
        opts.clone()
    };
    let project = open(&opts).map_err(|e| e.to_string())?;
    let build = if fix { Build::IfNeeded } else { Build::Never };
    let engine = bulkhead_app::root::engine();
    let fits = runtime()?.block_on(bulkhead_app::imagefit::advise_local(
        &engine, &project, None, build,
    ))?;
    let written = if fix {
        let mut proposals = fits
            .iter()
            .map(|f| (f.service.clone(), f.proposal.clone()))
            .collect();
        keep_earlier(given, &project, &mut proposals);
        Some(write_override(&opts, &project.files, &proposals)?)
    } else {
        None
    };
    Ok(Fits { fits, written })
}

/// Write the override file atomically beside the first Compose file; a link there is refused.
fn write_override(
    opts: &ProjectOptions,
    files: &[String],
    proposals: &BTreeMap<String, Proposal>,
) -> Result<PathBuf, String> {
    let first = discover(opts).map_err(|e| e.to_string())?;
    let dir = first
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .ok_or("no Compose file to write beside")?;
    let path = dir.join(OVERRIDE_FILE);
    if path.symlink_metadata().is_ok_and(|m| !m.is_file()) {
        return Err(format!(
            "{} is not a regular file (a link or a directory): it is not overwritten",
            path.display()
        ));
    }
    let text = render_override(&files.join(", "), proposals);
    // Created new (O_EXCL): a link or file planted at the temporary name is never followed
    // or overwritten.
    let tmp = dir.join(format!(".{OVERRIDE_FILE}.{}", std::process::id()));
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(failed)?;
    file.write_all(text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            failed(e)
        })?;
    Ok(path)
}

fn proposal_lines(out: &mut String, p: &Proposal) {
    if let Some(u) = &p.user {
        let _ = writeln!(out, "  needs    user: \"{}:{}\" — {}", u.uid, u.gid, u.why);
    }
    for t in &p.tmpfs {
        let _ = writeln!(out, "  needs    tmpfs: {} — {}", t.entry(), t.why);
    }
    for v in &p.volumes {
        let _ = writeln!(out, "  needs    volume {}:{} — {}", v.name, v.target, v.why);
    }
    for n in &p.notes {
        let _ = writeln!(out, "  note     {n}");
    }
}

/// The images part of `check`'s text.
pub fn render_fits(out: &mut String, fits: &Fits) {
    let _ = writeln!(out, "\nimages (what each needs to run under the profile)");
    for f in &fits.fits {
        let _ = writeln!(out, "service {} ({})", f.service, f.image);
        if let Some(why) = &f.unread {
            let _ = writeln!(out, "  not read: {why}");
            continue;
        }
        if f.proposal.is_empty() && f.proposal.notes.is_empty() {
            let _ = writeln!(out, "  nothing more: it runs hardened as it is");
        }
        proposal_lines(out, &f.proposal);
    }
    match &fits.written {
        Some(path) => {
            let _ = writeln!(
                out,
                "\nwrote {}: `bulkhead up` merges it after the Compose files (delete it to undo)",
                path.display()
            );
        }
        None if fits.fits.iter().any(|f| !f.proposal.is_empty()) => {
            let _ = writeln!(
                out,
                "\nrun `bulkhead check --fix` to write these as {OVERRIDE_FILE} (plain Compose, a comment per entry)"
            );
        }
        None => {}
    }
}

/// `bulkhead learn SERVICE`: the sandboxed run, its proposal printed or (with `fix`) merged
/// into the override file with the images' own proposal.
pub fn learn(
    opts: &ProjectOptions,
    service: &str,
    seconds: u64,
    fix: bool,
    as_json: bool,
) -> ExitCode {
    match learn_inner(opts, service, seconds, fix) {
        Ok((learned, written)) => {
            if as_json {
                let _ =
                    output::emit_json(&json!({ "learned": learned, "override_written": written }));
            } else {
                let mut out = format!(
                    "service {} ({}) ran {}s sandboxed as {}: {} paths changed\n",
                    learned.service, learned.image, learned.seconds, learned.user, learned.changed
                );
                if learned.proposal.is_empty() && learned.proposal.notes.is_empty() {
                    let _ = writeln!(out, "  nothing more: it wrote nothing outside its mounts");
                }
                proposal_lines(&mut out, &learned.proposal);
                if let Some(p) = &written {
                    let _ = writeln!(out, "wrote {}: `bulkhead up` merges it", p.display());
                } else if !learned.proposal.is_empty() {
                    let _ = writeln!(
                        out,
                        "run `bulkhead learn {service} --fix` to merge these into {OVERRIDE_FILE}"
                    );
                }
                let _ = output::emit(&out);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            say!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn learn_inner(
    opts: &ProjectOptions,
    service: &str,
    seconds: u64,
    fix: bool,
) -> Result<(Learned, Option<PathBuf>), String> {
    let project = open(opts).map_err(|e| e.to_string())?;
    let rt = runtime()?;
    let engine = bulkhead_app::root::engine();
    let learned = rt
        .block_on(bulkhead_app::imagefit::learn_local(
            &engine,
            &project,
            service,
            Duration::from_secs(seconds.max(1)),
        ))
        .map_err(|e| format!("{e:#}"))?;
    if !fix {
        return Ok((learned, None));
    }
    let base_opts = without_override(opts);
    let base = open(&base_opts).map_err(|e| e.to_string())?;
    let fits = rt.block_on(bulkhead_app::imagefit::advise_local(
        &engine,
        &base,
        None,
        Build::IfNeeded,
    ))?;
    let mut proposals: BTreeMap<String, Proposal> =
        fits.into_iter().map(|f| (f.service, f.proposal)).collect();
    let entry = proposals.entry(service.to_string()).or_default();
    for t in &learned.proposal.tmpfs {
        if !entry.tmpfs.iter().any(|e| e.path == t.path) {
            entry.tmpfs.push(t.clone());
        }
    }
    for v in &learned.proposal.volumes {
        if !entry.volumes.iter().any(|e| e.target == v.target) {
            entry.volumes.push(v.clone());
        }
    }
    keep_earlier(opts, &base, &mut proposals);
    let written = write_override(&base_opts, &base.files, &proposals)?;
    Ok((learned, Some(written)))
}

/// Add to `proposals` the tmpfs mounts and named volumes that the current override file gives
/// a service beyond its Compose files and beyond the new proposal — what an earlier `learn
/// --fix` found, or an edit — so that writing the file again never drops them. The file is
/// read as the project reads it (merged, confined); one that does not load keeps nothing.
fn keep_earlier(
    opts: &ProjectOptions,
    base: &bulkhead_core::spec::Project,
    proposals: &mut BTreeMap<String, Proposal>,
) {
    let Ok(with) = open(opts) else {
        return;
    };
    if with.files.len() == base.files.len() {
        return;
    }
    let why = format!(
        "kept from the earlier {OVERRIDE_FILE} (found by `bulkhead learn`, or written by hand); delete the entry or the file to drop it"
    );
    for (name, s) in &with.services {
        let Some(b) = base.services.get(name) else {
            continue;
        };
        let entry = proposals.entry(name.clone()).or_default();
        for t in &s.tmpfs {
            let (path, options) = t.value.split_once(':').unwrap_or((&t.value, ""));
            let in_base = b
                .tmpfs
                .iter()
                .any(|x| x.value.split(':').next() == Some(path));
            if in_base || entry.tmpfs.iter().any(|e| e.path == path) {
                continue;
            }
            entry.tmpfs.push(ProposedTmpfs {
                path: path.to_string(),
                options: options.to_string(),
                why: why.clone(),
            });
        }
        for m in &s.volumes {
            let m = &m.value;
            let named = m.kind == MountKind::Volume && !m.source.is_empty();
            let in_base = b.volumes.iter().any(|x| x.value.target == m.target);
            if !named || in_base || entry.volumes.iter().any(|e| e.target == m.target) {
                continue;
            }
            entry.volumes.push(ProposedVolume {
                name: m.source.clone(),
                target: m.target.clone(),
                why: why.clone(),
            });
        }
    }
}
