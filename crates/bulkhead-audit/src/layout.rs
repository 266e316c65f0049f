//! Where the audit log lives under the state directory, and the file-system moves it makes:
//! private directories and files, segment names in order, the atomic replacement of the head
//! (write a temporary file, sync it, rename it, sync the directory), directory syncs.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `<state-dir>/audit/`: the segments, the head, the writer's lock.
pub const AUDIT_DIR: &str = "audit";
/// The latest signed checkpoint, as `{"head":{...}}`.
pub const HEAD_FILE: &str = "head.json";
/// Held (`flock`) by the one process writing the log.
pub const LOCK_FILE: &str = "writer.lock";
/// `<state-dir>/keys/`: the signing key and its public half.
pub const KEY_DIR: &str = "keys";
pub const KEY_FILE: &str = "audit-ed25519.key";
pub const PUBLIC_KEY_FILE: &str = "audit-ed25519.pub";

pub(crate) const DIR_MODE: u32 = 0o700;
pub(crate) const FILE_MODE: u32 = 0o600;

/// `audit-000001.jsonl` for segment 1.
pub fn segment_name(index: u32) -> String {
    format!("audit-{index:06}.jsonl")
}

/// The index of a segment file name, or `None` for any other name.
pub fn segment_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&i| i > 0)
}

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub name: String,
    pub path: PathBuf,
}

/// The segment files of `dir`, in order (an absent directory has none).
pub fn segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    for item in listing {
        let item = item?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(index) = segment_index(&name) {
            found.push(Segment {
                index,
                path: item.path(),
                name,
            });
        }
    }
    found.sort_by_key(|s| s.index);
    Ok(found)
}

/// The name of the first missing segment when `segments` are not exactly 1, 2, ..., n.
pub fn first_gap(segments: &[Segment]) -> Option<String> {
    segments
        .iter()
        .zip(1u32..)
        .find(|(s, want)| s.index != *want)
        .map(|(_, want)| segment_name(want))
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left alone).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // The umask may have narrowed the mode; set it explicitly.
    for created in missing {
        fs::set_permissions(created, Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Creates a new file (mode 0600) for appending; fails when it exists.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Makes the directory entries of `dir` (a created or renamed file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `dir/name` by `bytes` atomically and durably: a reader sees the old or the new
/// content, never a mix, and after a crash the new content is there once this returned.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover from a crash is removed, never followed or reused.
    match fs::remove_file(&tmp) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_numerically() -> io::Result<()> {
        assert_eq!(segment_name(1), "audit-000001.jsonl");
        assert_eq!(segment_index("audit-000001.jsonl"), Some(1));
        assert_eq!(segment_index("audit-1234567.jsonl"), Some(1_234_567));
        for bad in [
            "audit-1.jsonl",
            "audit-000000.jsonl",
            "audit-00000x.jsonl",
            "audit-000001.json",
            "x-000001.jsonl",
            ".audit-000001.jsonl.tmp",
        ] {
            assert_eq!(segment_index(bad), None, "{bad}");
        }
        let dir = tempfile::tempdir()?;
        for i in [10, 2, 1, 1_000_000] {
            File::create(dir.path().join(segment_name(i)))?;
        }
        File::create(dir.path().join(HEAD_FILE))?;
        let found: Vec<u32> = segments(dir.path())?.iter().map(|s| s.index).collect();
        assert_eq!(found, vec![1, 2, 10, 1_000_000]);
        assert_eq!(
            first_gap(&segments(dir.path())?),
            Some("audit-000003.jsonl".into())
        );
        assert_eq!(segments(&dir.path().join("absent"))?, vec![]);
        Ok(())
    }

    #[test]
    fn private_dirs_files_and_atomic_writes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let nested = dir.path().join("a/b");
        create_private_dir(&nested)?;
        for d in [dir.path().join("a"), nested.clone()] {
            assert_eq!(fs::metadata(&d)?.permissions().mode() & 0o777, DIR_MODE);
        }
        let f = nested.join("f");
        drop(create_new_file(&f)?);
        assert_eq!(fs::metadata(&f)?.permissions().mode() & 0o777, FILE_MODE);
        assert!(create_new_file(&f).is_err());
        write_atomically(&nested, "h", b"one")?;
        write_atomically(&nested, "h", b"two")?;
        assert_eq!(fs::read(nested.join("h"))?, b"two");
        assert!(!nested.join(".h.tmp").exists());
        Ok(())
    }
}
