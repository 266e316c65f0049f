//! Opening the files a spec names once they are confined: an absolute, symlink-free path is
//! walked from `/` one component at a time with `O_NOFOLLOW`, so a component swapped for a
//! symbolic link after the check is an error, never a detour; only regular files are read, and
//! only up to a bound. Errors name the path and what is wrong, never a byte of the file.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("{} is reached through a symbolic link (it changed since it was checked)", path.display())]
    Link { path: PathBuf },
    #[error("{} is {what}, not {wanted}", path.display())]
    Kind {
        path: PathBuf,
        what: &'static str,
        wanted: &'static str,
    },
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: usize },
    #[error("{} is not UTF-8 text (byte {byte})", path.display())]
    NotText { path: PathBuf, byte: usize },
    #[error("{} must be an absolute path with no `.` or `..`", path.display())]
    NotCanonical { path: PathBuf },
    #[error("cannot read {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
}

impl FileError {
    fn io(path: &Path, err: impl std::fmt::Display) -> FileError {
        FileError::Io {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }
    }
}

/// What a file system object is, in words.
pub fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "an unknown kind of file",
    }
}

/// The directory holding `path` (opened with no link followed) and the last component.
fn parent_of(path: &Path) -> Result<(OwnedFd, PathBuf), FileError> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(p) => parts.push(p),
            _ => {
                return Err(FileError::NotCanonical {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    if !path.is_absolute() {
        return Err(FileError::NotCanonical {
            path: path.to_path_buf(),
        });
    }
    let last = parts.pop().map(PathBuf::from).unwrap_or_else(|| ".".into());
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir =
        rustix::fs::open("/", flags, Mode::empty()).map_err(|e| FileError::io(path, e))?;
    for part in parts {
        dir = match rustix::fs::openat(&dir, part, flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            Err(e) => return Err(walk_error(&dir, part, path, e)),
        };
    }
    Ok((dir, last))
}

/// Why a component could not be opened as a directory: a link, missing, or not a directory.
fn walk_error(dir: &OwnedFd, part: &std::ffi::OsStr, path: &Path, e: Errno) -> FileError {
    let path = path.to_path_buf();
    if e == Errno::NOENT {
        return FileError::NotFound { path };
    }
    match rustix::fs::statat(dir, part, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            FileError::Link { path }
        }
        Ok(st) => FileError::Kind {
            path,
            what: kind_name(FileType::from_raw_mode(st.st_mode)),
            wanted: "a directory",
        },
        Err(e) => FileError::io(&path, e),
    }
}

/// What `path` is, with no link followed anywhere in it (the last component included).
pub fn stat_nofollow(path: &Path) -> Result<Stat, FileError> {
    let (dir, last) = parent_of(path)?;
    match rustix::fs::statat(&dir, &last, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            Err(FileError::Link {
                path: path.to_path_buf(),
            })
        }
        Ok(st) => Ok(st),
        Err(Errno::NOENT) => Err(FileError::NotFound {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// A bind source, checked again right before its container is created and started: still
/// there, reached with no symbolic link, and a directory or a regular file. (It was confined
/// and resolved to this symlink-free path when the project was opened; a component swapped for
/// a link since is refused here instead of being followed by the engine.)
pub fn check_bind_source(path: &Path) -> Result<(), FileError> {
    let st = stat_nofollow(path)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory | FileType::RegularFile => Ok(()),
        other => Err(FileError::Kind {
            path: path.to_path_buf(),
            what: kind_name(other),
            wanted: "a directory or a regular file",
        }),
    }
}

/// Read the regular file at the symlink-free `path`, at most `limit` bytes.
pub fn read_nofollow(path: &Path, limit: usize) -> Result<Vec<u8>, FileError> {
    let (dir, last) = parent_of(path)?;
    let kind_error = |st: &Stat| FileError::Kind {
        path: path.to_path_buf(),
        what: kind_name(FileType::from_raw_mode(st.st_mode)),
        wanted: "a regular file",
    };
    // Look before opening: opening a FIFO or a device is itself an action.
    let before = match rustix::fs::statat(&dir, &last, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => {
            return Err(FileError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(FileError::io(path, e)),
    };
    match FileType::from_raw_mode(before.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => {
            return Err(FileError::Link {
                path: path.to_path_buf(),
            });
        }
        _ => return Err(kind_error(&before)),
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dir, &last, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => {
            return Err(FileError::Link {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(FileError::io(path, e)),
    };
    let st = rustix::fs::fstat(fd.as_fd()).map_err(|e| FileError::io(path, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino)
    {
        return Err(kind_error(&st));
    }
    // Sized up front, so that a secret's bytes are not left behind in grown-out buffers.
    let size = usize::try_from(st.st_size).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(size.min(limit) + 1);
    std::fs::File::from(fd)
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() > limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_nofollow`] for text.
pub fn read_text_nofollow(path: &Path, limit: usize) -> Result<String, FileError> {
    let bytes = read_nofollow(path, limit)?;
    String::from_utf8(bytes).map_err(|e| FileError::NotText {
        path: path.to_path_buf(),
        byte: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_a_plain_file_and_refuses_links_anywhere() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir(root.join("real")).expect("mkdir");
        std::fs::write(root.join("real/f"), "hello").expect("write");
        symlink(root.join("real"), root.join("via")).expect("link");
        symlink(root.join("real/f"), root.join("real/g")).expect("link");
        assert_eq!(
            read_nofollow(&root.join("real/f"), 100).expect("read"),
            b"hello"
        );
        for linked in ["via/f", "real/g"] {
            let got = read_nofollow(&root.join(linked), 100);
            assert!(
                matches!(got, Err(FileError::Link { .. })),
                "{linked}: {got:?}"
            );
        }
        assert!(matches!(
            read_nofollow(&root.join("real/missing"), 100),
            Err(FileError::NotFound { .. })
        ));
        assert!(matches!(
            read_nofollow(&root.join("real"), 100),
            Err(FileError::Kind { .. })
        ));
        assert!(matches!(
            read_nofollow(&root.join("real/f"), 4),
            Err(FileError::TooLarge { .. })
        ));
        assert!(matches!(
            read_nofollow(&root.join("real/../real/f"), 100),
            Err(FileError::NotCanonical { .. })
        ));
        assert!(matches!(
            stat_nofollow(&root.join("via")),
            Err(FileError::Link { .. })
        ));
        assert!(stat_nofollow(&root.join("real")).is_ok());
    }

    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().canonicalize().expect("canonical").join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        // Opening a FIFO for reading with no writer would block: refused before that.
        let got = read_nofollow(&fifo, 100);
        assert!(
            matches!(got, Err(FileError::Kind { what: "a FIFO", .. })),
            "{got:?}"
        );
    }
}
