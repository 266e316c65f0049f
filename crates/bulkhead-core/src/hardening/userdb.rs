//! The image's own user database: `/etc/passwd` and `/etc/group` parsed as hostile input
//! (bounded, malformed lines skipped, first match wins as in libc), and a Compose/Docker `user`
//! string resolved against it into the uid, gid and supplementary groups the engine would run
//! the container with. Who is root is decided here, by number, never by name.

use serde::Serialize;

/// The largest `/etc/passwd` or `/etc/group` read: 1 MiB.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The most entries kept from one file; later lines are ignored.
pub const MAX_ENTRIES: usize = 65_536;
/// The largest uid or gid the engine accepts (runc: 2^31 - 1).
pub const MAX_ID: u32 = i32::MAX as u32;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserDbError {
    #[error("user `{user}` is not in the image's /etc/passwd")]
    UnknownUser { user: String },
    #[error("group `{group}` is not in the image's /etc/group")]
    UnknownGroup { group: String },
    #[error("{what} `{name}` cannot be looked up: the image's {file} {reason}")]
    NoDatabase {
        what: &'static str,
        name: String,
        file: &'static str,
        reason: String,
    },
    #[error("id {id} in `{user}` is above {MAX_ID}, the largest the engine accepts")]
    OutOfRange { user: String, id: String },
}

/// One file of the database as the runtime read it from the image. Its bytes are data from the
/// image's author: they are parsed, never shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageFile {
    /// A regular file, at most [`MAX_FILE_BYTES`].
    Regular(Vec<u8>),
    /// The image has no such file.
    Missing,
    /// There is something at the path that is not read: a symlink, a directory, a file over
    /// the bound. `reason` completes "the image's /etc/passwd ...".
    Refused { reason: String },
}

/// `/etc/passwd` and `/etc/group` of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUserFiles {
    pub passwd: ImageFile,
    pub group: ImageFile,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The home directory field as written ("" when absent); data, never shown.
    pub home: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Why a file contributed no entries, when it did not: completes "the image's /etc/passwd ...".
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unreadable {
    No,
    Because(String),
}

/// The parsed database. Lookups return the first matching line, as libc and the engine do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDb {
    users: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
    passwd: Unreadable,
    group: Unreadable,
}

/// Who a container runs as, by number: what the engine is given and what the policy judges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups the engine adds from `/etc/group` (implicit form only).
    pub groups: Vec<u32>,
    /// The passwd entry's name, when the user matched one.
    pub name: Option<String>,
}

impl Identity {
    /// `uid:gid`, the form pinned into the container so the engine resolves no name again.
    pub fn pinned(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Whether the primary group or a supplementary one is gid 0.
    pub fn has_root_group(&self) -> bool {
        self.gid == 0 || self.groups.contains(&0)
    }
}

impl UserDb {
    /// A database with no entries and nothing wrong: enough to resolve numeric users.
    pub fn empty() -> UserDb {
        UserDb {
            users: Vec::new(),
            groups: Vec::new(),
            passwd: Unreadable::No,
            group: Unreadable::No,
        }
    }

    /// Parse both files. Never fails: what cannot be read resolves no names.
    pub fn parse(files: &ImageUserFiles) -> UserDb {
        let (users, passwd) = read(&files.passwd, passwd_line);
        let (groups, group) = read(&files.group, group_line);
        UserDb {
            users,
            groups,
            passwd,
            group,
        }
    }

    /// Whether /etc/passwd was read (or is absent, as in a `scratch` image), not refused.
    pub fn passwd_readable(&self) -> bool {
        self.passwd == Unreadable::No
    }

    pub fn users(&self) -> &[PasswdEntry] {
        &self.users
    }

    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }

    pub fn user_by_name(&self, name: &str) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.uid == uid)
    }

    pub fn group_by_name(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// Resolve a `user` value (`name`, `uid`, `name:group`, `uid:gid`, `:gid`, ...) as the
    /// engine does (runc's `GetExecUser`): a number is always an id; a name must be in the
    /// file; an empty user is uid 0; with no group, the passwd entry's gid (0 when the uid has
    /// no entry) and every group listing the user as a member; with a group, that group only.
    pub fn resolve(&self, user: &str) -> Result<Identity, UserDbError> {
        let (user_part, group_part) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
            None => (user, None),
        };
        let uid_arg = numeric(user, user_part)?;
        let entry = match (user_part.is_empty(), uid_arg) {
            (true, _) => self.user_by_uid(0),
            (false, Some(uid)) => self.user_by_uid(uid),
            (false, None) => self.user_by_name(user_part),
        };
        let mut id = match (entry, uid_arg) {
            (Some(e), _) => Identity {
                uid: e.uid,
                gid: e.gid,
                groups: Vec::new(),
                name: Some(e.name.clone()),
            },
            (None, uid) if user_part.is_empty() || uid.is_some() => Identity {
                uid: uid.unwrap_or(0),
                gid: 0,
                groups: Vec::new(),
                name: None,
            },
            (None, _) => return Err(self.unknown_user(user_part)),
        };
        match group_part {
            Some(group) => {
                let gid_arg = numeric(user, group)?;
                let found = match gid_arg {
                    Some(gid) => self.group_by_gid(gid),
                    None => self.group_by_name(group),
                };
                id.gid = match (found, gid_arg) {
                    (Some(g), _) => g.gid,
                    (None, Some(gid)) => gid,
                    (None, None) => return Err(self.unknown_group(group)),
                };
            }
            None => {
                if let Some(name) = &id.name {
                    let mut sgids: Vec<u32> = self
                        .groups
                        .iter()
                        .filter(|g| g.members.iter().any(|m| m == name))
                        .map(|g| g.gid)
                        .collect();
                    sgids.dedup();
                    id.groups = sgids;
                }
            }
        }
        Ok(id)
    }

    fn unknown_user(&self, name: &str) -> UserDbError {
        match &self.passwd {
            Unreadable::Because(reason) => UserDbError::NoDatabase {
                what: "user",
                name: name.to_string(),
                file: "/etc/passwd",
                reason: reason.clone(),
            },
            Unreadable::No => UserDbError::UnknownUser {
                user: name.to_string(),
            },
        }
    }

    fn unknown_group(&self, name: &str) -> UserDbError {
        match &self.group {
            Unreadable::Because(reason) => UserDbError::NoDatabase {
                what: "group",
                name: name.to_string(),
                file: "/etc/group",
                reason: reason.clone(),
            },
            Unreadable::No => UserDbError::UnknownGroup {
                group: name.to_string(),
            },
        }
    }
}

/// A uid or gid written as digits only (`+1`, `-0` or ` 1` are names, which no sane file has);
/// above [`MAX_ID`] is an error, as the engine refuses it too.
fn numeric(user: &str, part: &str) -> Result<Option<u32>, UserDbError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let out_of_range = || UserDbError::OutOfRange {
        user: user.to_string(),
        id: part.chars().take(24).collect(),
    };
    match part.parse::<u32>() {
        Ok(id) if id <= MAX_ID => Ok(Some(id)),
        _ => Err(out_of_range()),
    }
}

/// Entries of one file, at most [`MAX_ENTRIES`]; or why there are none to read.
fn read<T>(file: &ImageFile, line: fn(&str) -> Option<T>) -> (Vec<T>, Unreadable) {
    let bytes = match file {
        ImageFile::Regular(b) if b.len() <= MAX_FILE_BYTES => b,
        ImageFile::Regular(_) => {
            let reason = format!("is over {} KiB", MAX_FILE_BYTES >> 10);
            return (Vec::new(), Unreadable::Because(reason));
        }
        ImageFile::Missing => {
            return (Vec::new(), Unreadable::Because("is missing".to_string()));
        }
        ImageFile::Refused { reason } => {
            return (Vec::new(), Unreadable::Because(reason.clone()));
        }
    };
    let entries = bytes
        .split(|b| *b == b'\n')
        .filter_map(|raw| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            // A NUL ends a C string early: the line means something else to libc. Skip it.
            if raw.contains(&0) {
                return None;
            }
            let text = std::str::from_utf8(raw).ok()?.trim();
            if text.is_empty() || text.starts_with('#') {
                return None;
            }
            line(text)
        })
        .take(MAX_ENTRIES)
        .collect();
    (entries, Unreadable::No)
}

fn id_field(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// `name:password:uid:gid[:gecos:home:shell]`; the engine needs the first four.
fn passwd_line(text: &str) -> Option<PasswdEntry> {
    let mut fields = text.split(':');
    let name = fields.next().filter(|n| !n.is_empty())?;
    let _password = fields.next()?;
    let uid = id_field(fields.next()?)?;
    let gid = id_field(fields.next()?)?;
    let _gecos = fields.next();
    let home = fields.next().unwrap_or_default();
    Some(PasswdEntry {
        name: name.to_string(),
        uid,
        gid,
        home: home.chars().take(256).collect(),
    })
}

/// `name:password:gid[:member,member...]`.
fn group_line(text: &str) -> Option<GroupEntry> {
    let mut fields = text.split(':');
    let name = fields.next().filter(|n| !n.is_empty())?;
    let _password = fields.next()?;
    let gid = id_field(fields.next()?)?;
    let members = fields
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    Some(GroupEntry {
        name: name.to_string(),
        gid,
        members,
    })
}

#[cfg(test)]
#[path = "userdb_tests.rs"]
mod tests;
