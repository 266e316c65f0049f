//! What a sandboxed run changed (the engine's `docker diff`), turned into mount points: the
//! directory each new file went into, or the new directory itself below a broad one such as
//! `/var/cache`; what cannot be a mount (a changed file of the image, a write below `/etc`) is
//! reported, not proposed.

use std::collections::BTreeSet;

use super::{clean_absolute, is_under};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// Directories too broad to mount over: a new entry in one is mounted at itself.
const BROAD: &[&str] = &[
    "/",
    "/var",
    "/var/lib",
    "/var/cache",
    "/var/log",
    "/var/spool",
    "/usr",
    "/usr/local",
    "/usr/share",
    "/home",
    "/opt",
    "/srv",
    "/root",
];
/// Where no mount is proposed: configuration and kernel file systems.
const NEVER: &[&str] = &[
    "/etc", "/proc", "/sys", "/dev", "/usr/lib", "/usr/bin", "/bin", "/sbin", "/lib",
];
/// The most changes considered.
const MAX_CHANGES: usize = 10_000;

/// The mount points the `changes` need (sorted, none inside another), skipping what is under
/// `mounted`; and notes on what cannot be mounted.
pub fn mount_points(changes: &[Change], mounted: &[String]) -> (Vec<String>, Vec<String>) {
    let changes = &changes[..changes.len().min(MAX_CHANGES)];
    let added: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Added)
        .filter_map(|c| clean_absolute(&c.path))
        .collect();
    let mut points: BTreeSet<String> = BTreeSet::new();
    let mut notes = Vec::new();
    for c in changes {
        let Some(path) = clean_absolute(&c.path) else {
            continue;
        };
        if mounted.iter().any(|m| is_under(path, m)) {
            continue;
        }
        if NEVER.iter().any(|n| is_under(path, n)) {
            if c.kind == ChangeKind::Added
                || !changes
                    .iter()
                    .any(|o| o.path.len() > path.len() && is_under(&o.path, path))
            {
                notes.push(format!(
                    "it writes `{path}`: a file of the image's own, which no mount should hide; bake it into the image or mount that file"
                ));
            }
            continue;
        }
        match c.kind {
            ChangeKind::Deleted => notes.push(format!(
                "it deletes `{path}`, which the read-only root filesystem refuses"
            )),
            ChangeKind::Modified => {}
            ChangeKind::Added => {
                // The nearest ancestor that was in the image.
                let mut at = path;
                while let Some(i) = at.rfind('/') {
                    let up = if i == 0 { "/" } else { &at[..i] };
                    if !added.contains(up) {
                        if BROAD.contains(&up) {
                            let is_dir =
                                added.iter().any(|a| a.len() > at.len() && is_under(a, at));
                            if is_dir {
                                points.insert(at.to_string());
                            } else {
                                notes.push(format!(
                                    "it writes the file `{at}` directly in `{up}`, too broad to mount over: point the program elsewhere"
                                ));
                            }
                        } else {
                            points.insert(up.to_string());
                        }
                        break;
                    }
                    at = up;
                }
            }
        }
    }
    let all: Vec<String> = points.into_iter().collect();
    let out = all
        .iter()
        .filter(|p| !all.iter().any(|q| q != *p && is_under(p, q)))
        .cloned()
        .collect();
    notes.sort();
    notes.dedup();
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: ChangeKind, path: &str) -> Change {
        Change {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn nginx_changes_become_its_two_scratch_directories() {
        use ChangeKind::*;
        let changes = [
            c(Modified, "/run"),
            c(Modified, "/run/nginx"),
            c(Added, "/run/nginx/nginx.pid"),
            c(Modified, "/var"),
            c(Modified, "/var/cache"),
            c(Modified, "/var/cache/nginx"),
            c(Added, "/var/cache/nginx/client_temp"),
            c(Added, "/var/cache/nginx/proxy_temp"),
        ];
        let (points, notes) = mount_points(&changes, &[]);
        assert_eq!(points, ["/run/nginx", "/var/cache/nginx"]);
        assert!(notes.is_empty(), "{notes:?}");
        let (points, _) = mount_points(&changes, &["/var/cache/nginx".to_string()]);
        assert_eq!(points, ["/run/nginx"]);
    }

    #[test]
    fn broad_directories_configuration_and_hostile_paths() {
        use ChangeKind::*;
        let changes = [
            c(Modified, "/var/lib"),
            c(Added, "/var/lib/app"),
            c(Added, "/var/lib/app/db"),
            c(Added, "/var/log/app.log"),
            c(Modified, "/etc"),
            c(Modified, "/etc/app.conf"),
            c(Added, "/tmp/x/../../etc"),
            c(Deleted, "/srv/old"),
        ];
        let (points, notes) = mount_points(&changes, &[]);
        assert_eq!(points, ["/var/lib/app"]);
        assert!(
            notes.iter().any(|n| n.contains("`/var/log/app.log`")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("`/etc/app.conf`")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("deletes `/srv/old`")),
            "{notes:?}"
        );
        assert!(!notes.iter().any(|n| n.contains("..")), "{notes:?}");
    }
}
