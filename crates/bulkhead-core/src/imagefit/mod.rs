//! What an ordinary image needs to run under the hardening profile, decided from what was read
//! of it without running it (its config, user database, and the owners and modes of its data
//! and usual writable paths): the proposal `check` explains and `check --fix` writes as a
//! Compose override file; the mount points for what a sandboxed run changed (`learn`); and the
//! fix for a replica's last log lines. Pure: the app reads the image, this decides.

mod changes;
mod logs;
mod propose;
mod render;

pub use changes::{Change, ChangeKind, mount_points};
pub use logs::{Cause, diagnose};
pub use propose::{Proposal, ProposedTmpfs, ProposedUser, ProposedVolume, paths_to_read, propose};
pub use render::{OVERRIDE_FILE, render_override};

use std::collections::BTreeMap;

/// The largest number of image paths read for one service.
pub const MAX_PATHS: usize = 64;

/// What the image's config says, as far as fitting it to the profile goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `USER` ("" is root).
    pub user: String,
    /// `VOLUME` paths, as the image declares them (hostile: may be unclean).
    pub volumes: Vec<String>,
    /// `WORKDIR` ("" when unset).
    pub working_dir: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// What one path of the image is, links followed inside the image's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFact {
    /// Where the path leads, link-free.
    pub resolved: String,
    /// A directory (else some other kind of file).
    pub dir: bool,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl PathFact {
    /// Whether `uid`/`gid` may create files in it (owner, group or other write bit).
    pub fn writable_by(&self, uid: u32, gid: u32) -> bool {
        self.dir
            && ((self.uid == uid && self.mode & 0o200 != 0)
                || (self.gid == gid && self.mode & 0o020 != 0)
                || self.mode & 0o002 != 0)
    }
}

/// Path → what it is in the image (`None`: nothing there).
pub type PathFacts = BTreeMap<String, Option<PathFact>>;

/// A path as an image or a log may write it, accepted only absolute and clean: no `.` or `..`
/// component, no empty one, no NUL, at most 4096 bytes.
pub fn clean_absolute(path: &str) -> Option<&str> {
    if !path.starts_with('/') || path.len() > 4096 || path.chars().any(char::is_control) {
        return None;
    }
    if path == "/" {
        return Some(path);
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    let ok = body[1..]
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..");
    ok.then_some(body)
}

/// Whether `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}
