//! A failed replica's last log lines matched against the common causes of an image failing
//! under the profile, and the fix for each. Log lines are tenant output: only the matched path
//! (clean, absolute, bounded) is ever quoted back, never the line.

use serde::Serialize;

use super::clean_absolute;

/// The most of one line looked at.
const MAX_LINE: usize = 64 << 10;
/// The longest path quoted back.
const MAX_QUOTED: usize = 256;

/// Why a replica failed, as far as its logs tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// A write to the read-only root filesystem, at `path` when the line names one.
    ReadOnly { path: Option<String> },
    /// A path the user may not write or change, at `path` when the line names one.
    PermissionDenied { path: Option<String> },
    /// A data directory left half-initialised by an earlier failed first start.
    NotEmpty { path: Option<String> },
}

impl Cause {
    pub fn path(&self) -> Option<&str> {
        match self {
            Cause::ReadOnly { path }
            | Cause::PermissionDenied { path }
            | Cause::NotEmpty { path } => path.as_deref(),
        }
    }

    /// The fix in one sentence; `owner` is who owns [`Cause::path`] in the image, when known
    /// (uid, gid).
    pub fn fix(&self, owner: Option<(u32, u32)>) -> String {
        match self {
            Cause::ReadOnly { path: Some(p) } => {
                let dir = parent(p);
                format!(
                    "it wrote `{p}` on the read-only root filesystem: mount a tmpfs there (`tmpfs: [\"{dir}\"]`) or a volume for lasting data; `bulkhead check --fix` or `bulkhead learn SERVICE` proposes them"
                )
            }
            Cause::ReadOnly { path: None } => "it wrote on the read-only root filesystem: `bulkhead learn SERVICE` finds the paths and proposes a tmpfs or volume for each".to_string(),
            Cause::PermissionDenied { path: Some(p) } => match owner {
                Some((uid, gid)) if uid != 0 => format!(
                    "`{p}` belongs to uid {uid} in the image, not to the container's user: run as it (`user: \"{uid}:{gid}\"`), as `bulkhead check --fix` proposes"
                ),
                _ => format!(
                    "the container's user may not write `{p}`: run as the image's account that owns it (`bulkhead check --fix` names it) or mount a tmpfs or volume there"
                ),
            },
            Cause::PermissionDenied { path: None } => "the container's user may not write where it writes (relative to its working directory): run as the image's account that owns its data (`bulkhead check --fix` proposes it)".to_string(),
            Cause::NotEmpty { path } => format!(
                "the data volume{} holds what an earlier failed first start left (half initialised): fix the first error, then remove that volume (`bulkhead down --volumes` removes the project's volumes and all their data) and deploy again",
                path.as_ref().map(|p| format!(" at `{p}`")).unwrap_or_default()
            ),
        }
    }
}

/// The directory holding `path` (or `path` when it is at the top).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => path,
        Some(i) => &path[..i],
    }
}

/// The first cause found in `lines`, last line first (the last error is the one that stopped
/// it). `None` when no line matches.
pub fn diagnose(lines: &[String]) -> Option<Cause> {
    lines.iter().rev().find_map(|l| one(l))
}

fn one(line: &str) -> Option<Cause> {
    let line = line.get(..line.len().min(MAX_LINE)).unwrap_or(line);
    if line.contains("exists but is not empty") {
        return Some(Cause::NotEmpty {
            path: first_path(line),
        });
    }
    if line.contains("Read-only file system") {
        return Some(Cause::ReadOnly {
            path: first_path(line),
        });
    }
    if line.contains("Permission denied") || line.contains("Operation not permitted") {
        return Some(Cause::PermissionDenied {
            path: first_path(line),
        });
    }
    None
}

/// The first absolute path in the line: quoted ("…", '…', `…`) first, else a bare word.
fn first_path(line: &str) -> Option<String> {
    for q in ['"', '\'', '`'] {
        let mut parts = line.split(q);
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.clone().next()) {
            if let Some(p) = accept(inside) {
                return Some(p);
            }
        }
    }
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .map(|w| w.trim_end_matches([':', ';', '.']))
        .find_map(accept)
}

fn accept(candidate: &str) -> Option<String> {
    if candidate.len() > MAX_QUOTED {
        return None;
    }
    clean_absolute(candidate)
        .filter(|p| *p != "/" && p.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn real_lines_of_nginx_redis_and_postgres_are_matched_with_their_path() {
        let cases = [
            (
                // nginx:1 as 101 on a read-only root, no tmpfs.
                "2026/12/03 13:03:36 [warn] 1#1: the \"user\" directive makes sense only if the master process runs with super-user privileges, ignored in /etc/nginx/nginx.conf:4\n2026/12/03 13:03:36 [emerg] 1#1: mkdir() \"/var/cache/nginx/client_temp\" failed (30: Read-only file system)",
                Cause::ReadOnly {
                    path: Some("/var/cache/nginx/client_temp".into()),
                },
            ),
            (
                // postgres:15 with no tmpfs at its socket directory.
                "2026-12-03 13:04:23.756 UTC [1] LOG:  listening on IPv4 address \"0.0.0.0\", port 5432\n2026-12-03 13:04:23.780 UTC [1] FATAL:  could not create lock file \"/var/run/postgresql/.s.PGSQL.5432.lock\": Read-only file system\n2026-12-03 13:04:23.793 UTC [1] LOG:  database system is shut down",
                Cause::ReadOnly {
                    path: Some("/var/run/postgresql/.s.PGSQL.5432.lock".into()),
                },
            ),
            (
                // redis:7 as 10001: /data belongs to redis.
                "1:M 03 Dec 2026 13:03:43.531 # Server initialized\n1:M 03 Dec 2026 13:03:43.532 # Can't open or create append-only dir appendonlydir: Permission denied",
                Cause::PermissionDenied { path: None },
            ),
            (
                "1:M 03 Dec 2026 13:10:00.000 # Failed opening the temp RDB file temp-21.rdb (in server root dir /data) for saving: Permission denied",
                Cause::PermissionDenied {
                    path: Some("/data".into()),
                },
            ),
            (
                "chmod: changing permissions of '/var/lib/postgresql/data': Operation not permitted",
                Cause::PermissionDenied {
                    path: Some("/var/lib/postgresql/data".into()),
                },
            ),
            (
                // postgres:15 on a volume an earlier start left.
                "initdb: error: directory \"/var/lib/postgresql/data\" exists but is not empty\ninitdb: hint: If you want to create a new database system, either remove or empty the directory \"/var/lib/postgresql/data\" or run initdb with an argument other than \"/var/lib/postgresql/data\".",
                Cause::NotEmpty {
                    path: Some("/var/lib/postgresql/data".into()),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(diagnose(&lines(text)), Some(want), "{text}");
        }
        assert_eq!(
            diagnose(&lines("1:M ready to accept connections tcp")),
            None
        );
    }

    #[test]
    fn the_fix_names_the_path_and_the_owner_but_never_the_line() {
        let secret = "FATAL: password \"hunter2-canary\" at /var/run/x.lock: Read-only file system";
        let cause = diagnose(&lines(secret)).expect("matched");
        let fix = cause.fix(None);
        assert!(
            fix.contains("`/var/run/x.lock`") && fix.contains("tmpfs: [\"/var/run\"]"),
            "{fix}"
        );
        assert!(!fix.contains("hunter2"), "{fix}");
        let denied = Cause::PermissionDenied {
            path: Some("/data".into()),
        };
        assert!(denied.fix(Some((999, 999))).contains("user: \"999:999\""));
        assert!(!denied.fix(Some((0, 0))).contains("user: \"0:0\""));
        let odd =
            diagnose(&lines("open \"/a/../etc/shadow\": Permission denied")).expect("matched");
        assert_eq!(
            odd,
            Cause::PermissionDenied { path: None },
            "an unclean path is not quoted"
        );
        let long = format!("\"/{}\": Read-only file system", "a".repeat(5000));
        assert_eq!(
            diagnose(&lines(&long)),
            Some(Cause::ReadOnly { path: None })
        );
    }
}
