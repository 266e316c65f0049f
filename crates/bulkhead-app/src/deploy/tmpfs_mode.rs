//! A tmpfs's `mode=` applied as written, or refused at deploy: runc mounts a tmpfs over a
//! directory of the image and then gives it that directory's mode, whatever `mode=` says, so a
//! tmpfs with a mode is checked against what its mount point is in the image (read without
//! running it, links followed as runc follows them) before anything is created.

use std::collections::BTreeMap;

use bulkhead_core::deploy::{MountTemplate, Template};
use bulkhead_core::spec::model::Service;
use bulkhead_ports::{ContainerRuntime, ImageInfo, ImagePath};

use super::DeployError;

/// A tmpfs of the template that asks for a mode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Asked {
    /// How the refusal names it: the `tmpfs:` entry as written, or the long-syntax volume.
    key: String,
    /// The mount point, cleaned (as the engine mounts it).
    path: String,
    mode: u32,
}

/// A refusal's reason and hint.
type Refusal = (String, String);

/// Refuse a tmpfs whose `mode=` the engine would not apply. Reads the image only when some
/// tmpfs asks for a mode, and only for those.
pub(super) async fn check<R: ContainerRuntime>(
    runtime: &R,
    name: &str,
    service: &Service,
    image: &ImageInfo,
    template: &Template,
) -> Result<(), DeployError> {
    let written: Vec<String> = service.tmpfs.iter().map(|t| t.value.clone()).collect();
    let asked = asked(&written, &template.mounts);
    if asked.is_empty() {
        return Ok(());
    }
    let mounts = Mounts {
        mounts: &template.mounts,
        image_volumes: &template.image_volumes,
    };
    let refuse = |(reason, hint): Refusal| DeployError::Policy {
        service: name.to_string(),
        reason,
        hint,
    };
    // Inside a bind or a volume, the image says nothing: no need to read it.
    if let Some(r) = asked.iter().find_map(|a| mounts.nested(a, &a.path)) {
        return Err(refuse(r));
    }
    let paths: Vec<String> = asked.iter().map(|a| a.path.clone()).collect();
    let found = runtime.image_path_modes(&image.id, &paths).await?;
    let shown = service
        .image
        .as_ref()
        .map_or("its built image".to_string(), |i| {
            format!("image `{}`", i.value)
        });
    match refusal(&mounts, &asked, &found, &shown) {
        Some(r) => Err(refuse(r)),
        None => Ok(()),
    }
}

/// The first tmpfs whose mode would not hold, given what each mount point is in the image.
fn refusal(
    mounts: &Mounts<'_>,
    asked: &[Asked],
    found: &BTreeMap<String, Option<ImagePath>>,
    image: &str,
) -> Option<Refusal> {
    asked.iter().find_map(|a| {
        let Some(Some(at)) = found.get(&a.path) else {
            // Nothing there: runc makes the directory, and the mode holds.
            return None;
        };
        if let Some(r) = mounts.nested(a, &at.resolved) {
            return Some(r);
        }
        if mounts.fresh_below(a, at) {
            return None;
        }
        judge(a, at, image).err()
    })
}

/// The tmpfs mounts that ask for a mode: `mode=` in their options (the last one wins, as in
/// mount(8); octal), named by the `tmpfs:` entry `written` in the spec, else as the
/// long-syntax volume they come from.
fn asked(written: &[String], mounts: &[MountTemplate]) -> Vec<Asked> {
    let mut out = Vec::new();
    for m in mounts {
        let MountTemplate::Tmpfs {
            target, options, ..
        } = m
        else {
            continue;
        };
        let Some(mode) = options
            .split(',')
            .filter_map(|o| o.trim().strip_prefix("mode="))
            .next_back()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .filter(|m| *m <= 0o7777)
        else {
            continue;
        };
        let key = match written
            .iter()
            .find(|t| t.split(':').next() == Some(target.as_str()))
        {
            Some(t) => format!("`tmpfs: {t}`"),
            None => format!("the tmpfs volume at `{target}` (`tmpfs.mode: {mode:o}`)"),
        };
        out.push(Asked {
            key,
            path: clean(target),
            mode,
        });
    }
    out
}

/// A template's mounts, as far as a tmpfs's mount point depends on them.
struct Mounts<'a> {
    mounts: &'a [MountTemplate],
    image_volumes: &'a [String],
}

impl Mounts<'_> {
    /// The refusal for a tmpfs whose mount point `path` lies inside a bind or a volume
    /// (the spec's or the image's own), whose contents the deploy cannot know.
    fn nested(&self, a: &Asked, path: &str) -> Option<Refusal> {
        let binds_and_volumes = self.mounts.iter().filter_map(|m| match m {
            MountTemplate::Bind { target, .. } => Some(("bind mount", target)),
            MountTemplate::Volume { target, .. } => Some(("volume", target)),
            MountTemplate::Tmpfs { .. } => None,
        });
        let image_volumes = self.image_volumes.iter().map(|v| ("image's volume", v));
        let (kind, parent) = binds_and_volumes
            .chain(image_volumes)
            .map(|(kind, target)| (kind, clean(target)))
            .find(|(_, parent)| within(path, parent))?;
        Some((
            format!(
                "{} asks for mode {:o}, but `{path}` is inside the {kind} at `{parent}`: a \
                 tmpfs over a directory there takes that directory's mode, which cannot be \
                 known before the container starts",
                a.key, a.mode
            ),
            format!("mount the tmpfs outside `{parent}`, or leave out its mode"),
        ))
    }

    /// Whether the mount point lies in another tmpfs the engine mounts first (it mounts the
    /// shallower targets first): that tmpfs starts empty, so runc makes the directory and the
    /// mode holds.
    fn fresh_below(&self, a: &Asked, at: &ImagePath) -> bool {
        let depth = |p: &str| p.split('/').filter(|c| !c.is_empty()).count();
        self.mounts.iter().any(|m| match m {
            MountTemplate::Tmpfs { target, .. } => {
                let t = clean(target);
                depth(&t) < depth(&a.path) && within(&at.resolved, &t)
            }
            _ => false,
        })
    }
}

/// Whether `path` is strictly below `dir` (both cleaned).
fn within(path: &str, dir: &str) -> bool {
    path != dir && (dir == "/" || path.starts_with(&format!("{dir}/")))
}

/// The refusal for a mount point the image has, as `(reason, hint)`, if the mode would not
/// hold.
fn judge(a: &Asked, at: &ImagePath, image: &str) -> Result<(), Refusal> {
    let place = if at.resolved == a.path {
        format!("`{}`", a.path)
    } else {
        format!("`{}` (a link to `{}`)", a.path, at.resolved)
    };
    if !at.is_dir() {
        return Err((
            format!("{}: {place} is not a directory in {image}", a.key),
            "mount the tmpfs on a directory of the image, or where the image has nothing"
                .to_string(),
        ));
    }
    let have = at.permissions();
    if have == a.mode {
        return Ok(());
    }
    Err((
        format!(
            "{} asks for mode {:o}, but {place} is a directory with mode {have:o} in {image}, \
             and the engine gives a tmpfs mounted over a directory of the image that \
             directory's mode: {:o} would not be applied",
            a.key, a.mode, a.mode
        ),
        format!(
            "mount the tmpfs at a path the image does not have, or give the directory that mode \
             in the image (`RUN chmod {:o} {}`), or ask for mode {have:o}",
            a.mode, at.resolved
        ),
    ))
}

/// A path cleaned lexically (`/a/./b/../c/` is `/a/c`), as the engine cleans a mount point.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
#[path = "tmpfs_mode_tests.rs"]
mod tests;
