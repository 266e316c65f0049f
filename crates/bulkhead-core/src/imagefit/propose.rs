//! The proposal for one service: which of the image's own accounts to run as (the owner of its
//! data, never root), a tmpfs for each usual scratch directory that account may write in the
//! image, and a named volume for each declared `VOLUME` the spec leaves unmounted.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{ImageConfig, MAX_PATHS, PathFact, PathFacts, clean_absolute, is_under};
use crate::hardening::userdb::UserDb;
use crate::spec::model::Service;

/// The usual scratch directories, read for every image.
const SCRATCH: [&str; 4] = ["/run", "/var/run", "/tmp", "/var/tmp"];
/// The overflow uid and gid, `nobody` and `nogroup` in Debian and Alpine.
const NOBODY: u32 = 65534;
/// The most application names derived from one image.
const MAX_NAMES: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProposedUser {
    pub uid: u32,
    pub gid: u32,
    /// The account's name in the image, when it is a plain one.
    pub name: Option<String>,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProposedTmpfs {
    pub path: String,
    /// Mount options (`uid=999,gid=999`), empty for none.
    pub options: String,
    pub why: String,
}

impl ProposedTmpfs {
    /// The `tmpfs:` entry.
    pub fn entry(&self) -> String {
        if self.options.is_empty() {
            self.path.clone()
        } else {
            format!("{}:{}", self.path, self.options)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProposedVolume {
    /// The top-level volume's name.
    pub name: String,
    pub target: String,
    pub why: String,
}

/// What one service needs to run hardened, and what could not be decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub user: Option<ProposedUser>,
    pub tmpfs: Vec<ProposedTmpfs>,
    pub volumes: Vec<ProposedVolume>,
    /// Explanations that need no change, and what needs a person (or `bulkhead learn`).
    pub notes: Vec<String>,
}

impl Proposal {
    /// Nothing to write into the override file.
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.tmpfs.is_empty() && self.volumes.is_empty()
    }
}

/// A passwd or group name shown in a message only when it is a plain name; otherwise the
/// number alone (names are the image author's bytes).
pub(crate) fn plain_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !name.starts_with('-');
    ok.then_some(name)
}

fn who(uid: u32, db: &UserDb) -> String {
    match db.user_by_uid(uid).and_then(|u| plain_name(&u.name)) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

/// The names an image's application goes by: its entrypoint's and command's program names
/// (`redis-server` also as `redis`), then its accounts with uid 100 to 65533.
fn app_names(config: &ImageConfig, db: &UserDb) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if let Some(n) = plain_name(n)
            && !names.iter().any(|m| m == n)
            && names.len() < MAX_NAMES
        {
            names.push(n.to_string());
        }
    };
    for prog in [config.entrypoint.first(), config.cmd.first()]
        .into_iter()
        .flatten()
    {
        let base = prog.rsplit('/').next().unwrap_or_default();
        if base.ends_with(".sh") || matches!(base, "sh" | "bash" | "tini" | "dumb-init") {
            continue;
        }
        add(base);
        if let Some(stem) = base.strip_suffix("-server") {
            add(stem);
        }
    }
    // The accounts an image made for its program, and the names of their home directories
    // (postgres lives in /var/lib/postgresql).
    let own = |u: &&crate::hardening::userdb::PasswdEntry| (100..65534).contains(&u.uid);
    for u in db.users().iter().filter(own) {
        add(&u.name);
    }
    for u in db.users().iter().filter(own) {
        if let Some(home) = clean_absolute(&u.home)
            && home != "/nonexistent"
        {
            add(home.rsplit('/').next().unwrap_or_default());
        }
    }
    names
}

/// The image paths whose owner and mode the proposal needs: the declared volumes (clean ones),
/// the working directory, the usual scratch directories, and `/var/lib`, `/var/cache`,
/// `/var/log`, `/run`, `/var/run` of each application name; at most [`MAX_PATHS`].
pub fn paths_to_read(config: &ImageConfig, db: &UserDb) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: String| {
        if !out.contains(&p) && out.len() < MAX_PATHS {
            out.push(p);
        }
    };
    for v in &config.volumes {
        if let Some(v) = clean_absolute(v) {
            add(v.to_string());
        }
    }
    if let Some(w) = clean_absolute(&config.working_dir).filter(|w| *w != "/") {
        add(w.to_string());
    }
    for s in SCRATCH {
        add(s.to_string());
    }
    for n in app_names(config, db) {
        for base in ["/var/lib", "/var/cache", "/var/log", "/run", "/var/run"] {
            add(format!("{base}/{n}"));
        }
    }
    out
}

/// Where the spec already mounts something.
fn mounted(service: &Service) -> Vec<String> {
    let mut out: Vec<String> = service
        .tmpfs
        .iter()
        .map(|t| t.value.split(':').next().unwrap_or_default().to_string())
        .collect();
    out.extend(service.volumes.iter().map(|m| m.value.target.clone()));
    out
}

fn fact<'a>(facts: &'a PathFacts, path: &str) -> Option<&'a PathFact> {
    facts.get(path).and_then(Option::as_ref)
}

/// Decide what `service` needs to run hardened in an image with `config`, user database `db`
/// and the `facts` read for [`paths_to_read`]. `taken` are the project's volume names.
pub fn propose(
    service: &Service,
    config: &ImageConfig,
    db: &UserDb,
    facts: &PathFacts,
    taken: &BTreeSet<String>,
) -> Proposal {
    let mut p = Proposal::default();
    let volumes = image_volumes(config, facts, &mut p.notes);
    let (uid, gid) = choose_user(service, config, db, facts, &volumes, &mut p);
    let mounts = mounted(service);
    let covered = |path: &str| mounts.iter().any(|m| is_under(path, m));
    let in_volume = |path: &str| volumes.iter().any(|(v, _)| is_under(path, v));

    for (v, f) in &volumes {
        if covered(v) {
            continue;
        }
        if service.replicas != 1 {
            p.notes.push(format!(
                "VOLUME {v}: each of the {} replicas keeps its own volume",
                service.replicas
            ));
            continue;
        }
        let base = v.rsplit('/').next().unwrap_or("data");
        let name = volume_name(&service.name, base, taken, &p.volumes);
        let owner = f.as_ref().map(|f| who(f.uid, db)).unwrap_or_default();
        p.volumes.push(ProposedVolume {
            name,
            target: v.clone(),
            why: format!(
                "the image declares VOLUME {v} (its data{}): a named volume keeps it across releases and `down`",
                if owner.is_empty() { String::new() } else { format!(", owned by {owner}") }
            ),
        });
    }

    let (Some(uid), Some(gid)) = (uid, gid) else {
        return p;
    };
    let names = app_names(config, db);
    let mut candidates: Vec<String> = SCRATCH.iter().map(|s| s.to_string()).collect();
    for n in &names {
        for base in ["/run", "/var/run", "/var/cache", "/var/log"] {
            candidates.push(format!("{base}/{n}"));
        }
    }
    for path in candidates {
        let Some(f) = fact(facts, &path) else {
            continue;
        };
        let target = f.resolved.clone();
        if target == "/"
            || covered(&target)
            || covered(&path)
            || in_volume(&target)
            || p.tmpfs.iter().any(|t| t.path == target)
            || !f.writable_by(uid, gid)
        {
            continue;
        }
        let world = f.mode & 0o002 != 0;
        let options = if world {
            String::new()
        } else {
            format!("uid={uid},gid={gid}")
        };
        let how = if world {
            format!("world-writable ({:04o})", f.mode)
        } else {
            format!("writable by {} ({:04o})", who(uid, db), f.mode)
        };
        let via = if target == path {
            String::new()
        } else {
            format!(" (where {path} leads)")
        };
        p.tmpfs.push(ProposedTmpfs {
            path: target.clone(),
            options,
            why: format!(
                "{target}{via} is {how} in the image and the root filesystem is read-only: its scratch files go on a tmpfs"
            ),
        });
    }
    for n in &names {
        let path = format!("/var/lib/{n}");
        if let Some(f) = fact(facts, &path)
            && f.writable_by(uid, gid)
            && !covered(&f.resolved)
            && !in_volume(&f.resolved)
        {
            p.notes.push(format!(
                "{path} is writable by {} in the image{}; if the program keeps state there, mount a volume at it (`bulkhead learn` shows what it writes)",
                who(uid, db),
                if volumes.is_empty() { "" } else { ", but its data VOLUME is declared elsewhere" }
            ));
        }
    }
    if let Some(w) = clean_absolute(&config.working_dir).filter(|w| *w != "/")
        && let Some(f) = fact(facts, w)
        && f.writable_by(uid, gid)
        && !covered(w)
        && !in_volume(w)
        && !p.tmpfs.iter().any(|t| is_under(w, &t.path))
    {
        p.notes.push(format!(
            "WORKDIR {w} is writable by {} in the image; if the program writes there, `bulkhead learn` proposes a mount",
            who(uid, db)
        ));
    }
    p
}

/// The image's clean VOLUME paths with what they are; unclean ones and links are noted and
/// left out.
fn image_volumes(
    config: &ImageConfig,
    facts: &PathFacts,
    notes: &mut Vec<String>,
) -> Vec<(String, Option<PathFact>)> {
    let mut out = Vec::new();
    for v in &config.volumes {
        let Some(clean) = clean_absolute(v) else {
            notes.push(format!(
                "the image declares a VOLUME that is not a clean absolute path ({} bytes); it is ignored",
                v.len()
            ));
            continue;
        };
        let f = facts.get(clean).cloned().flatten();
        if let Some(f) = &f {
            if f.resolved != clean {
                notes.push(format!(
                    "VOLUME {clean} is a symbolic link in the image; nothing is proposed for it"
                ));
                continue;
            }
            if !f.dir {
                notes.push(format!(
                    "VOLUME {clean} is not a directory in the image; nothing is proposed for it"
                ));
                continue;
            }
        }
        out.push((clean.to_string(), f));
    }
    out
}

fn volume_name(
    service: &str,
    base: &str,
    taken: &BTreeSet<String>,
    proposed: &[ProposedVolume],
) -> String {
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let stem = format!("{service}-{}", if base.is_empty() { "data" } else { &base });
    let free = |n: &String| !taken.contains(n) && !proposed.iter().any(|v| &v.name == n);
    let mut name = stem.clone();
    let mut i = 2;
    while !free(&name) {
        name = format!("{stem}-{i}");
        i += 1;
    }
    name
}

/// Decide who the service runs as: `(uid, gid)` when known and not root, with a proposal in
/// `p.user` when the spec's user (or the image's USER) has to change.
fn choose_user(
    service: &Service,
    config: &ImageConfig,
    db: &UserDb,
    facts: &PathFacts,
    volumes: &[(String, Option<PathFact>)],
    p: &mut Proposal,
) -> (Option<u32>, Option<u32>) {
    let spec_user = service.user.as_ref().map(|u| u.value.as_str());
    let current = spec_user.unwrap_or(&config.user);
    let data_owners: Vec<(&str, &PathFact)> = volumes
        .iter()
        .filter_map(|(v, f)| f.as_ref().map(|f| (v.as_str(), f)))
        .filter(|(_, f)| f.uid != 0)
        .collect();
    let what = if spec_user.is_some() {
        "`user`"
    } else {
        "the image's USER"
    };
    let reason = match db.resolve(current) {
        Ok(id) if !id.is_root() && !id.has_root_group() => {
            let blocked = data_owners
                .iter()
                .find(|(_, f)| !f.writable_by(id.uid, id.gid));
            match blocked {
                None => return (Some(id.uid), Some(id.gid)),
                Some((v, f)) => format!(
                    "{what} runs as uid {}, which cannot write the data VOLUME {v}: it belongs to {} in the image",
                    id.uid,
                    who(f.uid, db)
                ),
            }
        }
        Ok(id) if id.is_root() => format!("{what} is root (uid 0), which the profile refuses"),
        Ok(_) => format!("{what} has the root group (gid 0), which the profile refuses"),
        Err(e) => format!("{what}: {e}"),
    };
    let own = |(uid, gid, because): (u32, u32, String)| {
        let why = format!("{} is the image's own account and {because}", who(uid, db));
        (uid, gid, why)
    };
    let pick = data_owners
        .first()
        .map(|(v, f)| {
            let gid = account_gid(db, f.uid, f.gid);
            (f.uid, gid, format!("it owns the data VOLUME {v}"))
        })
        .or_else(|| app_account(config, db, facts))
        .map(own)
        .or_else(|| nobody(db, volumes));
    match pick {
        Some((uid, gid, why)) if uid != 0 && gid != 0 => {
            let name = db
                .user_by_uid(uid)
                .and_then(|u| plain_name(&u.name))
                .map(str::to_string);
            p.user = Some(ProposedUser {
                uid,
                gid,
                why: format!("{reason}; {why}"),
                name,
            });
            (Some(uid), Some(gid))
        }
        _ => {
            p.notes.push(format!(
                "{reason}; no account of the image owns its data or is named after its program: set `user:` to a non-root uid:gid and make the paths it writes its own (`bulkhead learn` shows them)"
            ));
            (None, None)
        }
    }
}

/// For an image with no account of its own (a language runtime's image, which runs as root):
/// `nobody`, which owns nothing in the image, so the program reads the image and changes none
/// of it. Not when a data VOLUME exists that nobody could write, nor when the image's passwd
/// was refused: those need a person.
fn nobody(db: &UserDb, volumes: &[(String, Option<PathFact>)]) -> Option<(u32, u32, String)> {
    if !db.passwd_readable() {
        return None;
    }
    let (uid, gid) = match db.user_by_uid(NOBODY) {
        Some(u) if u.gid != 0 => (u.uid, u.gid),
        Some(_) => return None,
        None => (NOBODY, NOBODY),
    };
    let writable = volumes
        .iter()
        .all(|(_, f)| f.as_ref().is_some_and(|f| f.writable_by(uid, gid)));
    writable.then(|| {
        let why = format!(
            "the image has no account of its own: {} owns nothing in it, so the program can read the image and change none of it",
            who(uid, db)
        );
        (uid, gid, why)
    })
}

/// The passwd gid of `uid`, else `fallback`.
fn account_gid(db: &UserDb, uid: u32, fallback: u32) -> u32 {
    db.user_by_uid(uid)
        .map(|u| u.gid)
        .filter(|g| *g != 0)
        .unwrap_or(fallback)
}

/// An account named like the image's program, or owning one of its application directories.
fn app_account(config: &ImageConfig, db: &UserDb, facts: &PathFacts) -> Option<(u32, u32, String)> {
    let names = app_names(config, db);
    for n in &names {
        for base in ["/var/lib", "/var/cache", "/run", "/var/run"] {
            let path = format!("{base}/{n}");
            if let Some(f) = fact(facts, &path)
                && f.uid != 0
                && db.user_by_uid(f.uid).is_some()
            {
                let gid = account_gid(db, f.uid, f.gid);
                return Some((f.uid, gid, format!("it owns {path}")));
            }
        }
    }
    let first = [config.entrypoint.first(), config.cmd.first()]
        .into_iter()
        .flatten()
        .filter_map(|p| p.rsplit('/').next())
        .flat_map(|b| {
            [
                b.to_string(),
                b.strip_suffix("-server").unwrap_or(b).to_string(),
            ]
        })
        .find_map(|n| {
            db.user_by_name(&n)
                .filter(|u| u.uid != 0 && u.gid != 0)
                .cloned()
        })?;
    Some((
        first.uid,
        first.gid,
        "it is named after the image's program".to_string(),
    ))
}

#[cfg(test)]
#[path = "propose_tests.rs"]
mod tests;
