//! Reading the log without writing it: `verify` (offline, streaming over every segment in
//! order), the filtered entries behind `audit log`, and `export` / `verify_export` (the whole
//! log as one JSONL stream, head first, e.g. for a SIEM).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bulkhead_core::audit::{
    Entry, Failure, Line, LineError, Reason, Summary, Verifier, VerifyingKey, parse_line,
};

use crate::key::{self, KeyError};
use crate::layout::{AUDIT_DIR, HEAD_FILE, Segment, first_gap, segments};
use crate::lines::{Lines, LinesError, MAX_LINE};
use crate::open::{HeadError, read_head};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The log was read and does not verify: tampering, or damage.
    #[error("the audit log does not verify: {0}")]
    Failed(Failure),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{file}:{line}: unreadable line: {error}")]
    Line {
        file: String,
        line: u64,
        error: LineError,
    },
    #[error("{file}:{line}: a line is longer than {MAX_LINE} bytes")]
    TooLong { file: String, line: u64 },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Verifies the whole log under `<state_dir>/audit/` against `key` (default: the public key in
/// the state directory; pass one kept elsewhere to detect a replaced key). Reads only.
pub fn verify(state_dir: &Path, key: Option<&VerifyingKey>) -> Result<Summary, ReadError> {
    let key = match key {
        Some(k) => *k,
        None => key::state_public_key(state_dir)?,
    };
    let dir = state_dir.join(AUDIT_DIR);
    let found = listing(&dir)?;
    let head = head(&dir)?.ok_or_else(|| failure(HEAD_FILE, Reason::NoHead))?;
    let mut verifier = Verifier::new(&key)
        .with_head(head, HEAD_FILE)
        .map_err(ReadError::Failed)?;
    let last = found.len() - 1;
    for (i, segment) in found.iter().enumerate() {
        verifier.begin_file(&segment.name);
        let file = File::open(&segment.path).map_err(|source| ReadError::Io {
            path: segment.path.clone(),
            source,
        })?;
        let fragment = feed_all(&mut Lines::new(file), &mut verifier, &segment.path)?;
        if fragment > 0 {
            if i != last {
                let (file, line) = verifier.position();
                return Err(ReadError::Failed(Failure {
                    file: file.to_owned(),
                    line: line + 1,
                    seq: None,
                    reason: Reason::Incomplete,
                }));
            }
            verifier.torn_tail(fragment);
        }
    }
    verifier.finish().map_err(ReadError::Failed)
}

/// Feeds every complete line of `lines` (read from `path`) to `verifier`; returns the length of
/// an incomplete final line.
fn feed_all<R: Read>(
    lines: &mut Lines<R>,
    verifier: &mut Verifier,
    path: &Path,
) -> Result<u64, ReadError> {
    loop {
        match lines.next_line() {
            Ok(Some(line)) => verifier.feed(line).map_err(ReadError::Failed)?,
            Ok(None) => return Ok(lines.fragment().len() as u64),
            Err(LinesError::Io(source)) => {
                return Err(ReadError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
            Err(LinesError::TooLong) => {
                let (file, line) = verifier.position();
                return Err(ReadError::Failed(Failure {
                    file: file.to_owned(),
                    line: line + 1,
                    seq: None,
                    reason: Reason::TooLong { limit: MAX_LINE },
                }));
            }
        }
    }
}

fn failure(file: &str, reason: Reason) -> ReadError {
    ReadError::Failed(Failure {
        file: file.to_owned(),
        line: 0,
        seq: None,
        reason,
    })
}

/// The segments of `dir`: at least one, numbered without gaps.
fn listing(dir: &Path) -> Result<Vec<Segment>, ReadError> {
    let found = segments(dir).map_err(|source| ReadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Some(missing) = first_gap(&found) {
        let reason = Reason::SegmentMissing {
            missing: missing.clone(),
        };
        return Err(failure(&missing, reason));
    }
    if found.is_empty() {
        return Err(failure(AUDIT_DIR, Reason::NoLog));
    }
    Ok(found)
}

fn head(dir: &Path) -> Result<Option<bulkhead_core::audit::Checkpoint>, ReadError> {
    read_head(dir).map_err(|e| match e {
        HeadError::Io(source) => ReadError::Io {
            path: dir.join(HEAD_FILE),
            source,
        },
        HeadError::Bad(f) => ReadError::Failed(f),
    })
}

/// Which entries `audit log` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entries at or after this time (Unix milliseconds; see `clock::parse_rfc3339`).
    pub since: Option<u64>,
    /// Entries whose user or token id is this.
    pub actor: Option<String>,
    /// Entries whose action is this, or starts with it followed by a dot (`deploy` matches
    /// `deploy.create`).
    pub action: Option<String>,
}

impl Filter {
    pub fn matches(&self, entry: &Entry) -> bool {
        let since = self.since.is_none_or(|since| {
            bulkhead_core::clock::parse_rfc3339(&entry.time).is_some_and(|t| t >= since)
        });
        let actor = self.actor.as_deref().is_none_or(|a| {
            entry.actor.user.as_deref() == Some(a) || entry.actor.token_id.as_deref() == Some(a)
        });
        let action = self.action.as_deref().is_none_or(|a| {
            entry.action == a
                || entry
                    .action
                    .strip_prefix(a)
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        since && actor && action
    }
}

/// Calls `each` with every entry that `filter` matches, in order; returns how many matched.
/// This reads, it does not verify (run [`verify`] for that); an unreadable line is an error.
pub fn entries(
    state_dir: &Path,
    filter: &Filter,
    mut each: impl FnMut(Entry),
) -> Result<u64, ReadError> {
    let dir = state_dir.join(AUDIT_DIR);
    let mut matched = 0;
    for segment in listing(&dir)? {
        each_line(&segment, |line, number| {
            match parse_line(line) {
                Ok(Line::Entry(e)) if filter.matches(&e) => {
                    matched += 1;
                    each(e);
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(ReadError::Line {
                        file: segment.name.clone(),
                        line: number,
                        error,
                    });
                }
            }
            Ok(())
        })?;
    }
    Ok(matched)
}

/// What [`export`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exported {
    pub lines: u64,
    pub bytes: u64,
}

/// Writes the log as one JSONL stream to `out`: the head line (`{"head":...}`) first, then every
/// complete line of every segment in order, as stored. [`verify_export`] checks such a stream.
pub fn export(state_dir: &Path, out: &mut impl Write) -> Result<Exported, ReadError> {
    let dir = state_dir.join(AUDIT_DIR);
    let found = listing(&dir)?;
    let head = head(&dir)?.ok_or_else(|| failure(HEAD_FILE, Reason::NoHead))?;
    let write_err = |source| ReadError::Io {
        path: PathBuf::from("<export>"),
        source,
    };
    let mut first = Vec::new();
    head.write_head(&mut first)
        .map_err(|e| write_err(io::Error::other(e)))?;
    out.write_all(&first).map_err(write_err)?;
    let mut done = Exported {
        lines: 1,
        bytes: first.len() as u64,
    };
    for segment in &found {
        each_line(segment, |line, _| {
            out.write_all(line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(write_err)?;
            done.lines += 1;
            done.bytes += line.len() as u64 + 1;
            Ok(())
        })?;
    }
    out.flush().map_err(write_err)?;
    Ok(done)
}

/// Verifies a stream written by [`export`] against `key`. Line numbers are the stream's.
pub fn verify_export(input: impl Read, key: &VerifyingKey) -> Result<Summary, ReadError> {
    const NAME: &str = "<export>";
    let path = Path::new(NAME);
    let mut lines = Lines::new(input);
    let head = match lines.next_line() {
        Ok(Some(first)) => match parse_line(first) {
            Ok(Line::Head(head)) => head,
            _ => return Err(failure(NAME, Reason::NoHead)),
        },
        Ok(None) => return Err(failure(NAME, Reason::NoHead)),
        Err(LinesError::Io(source)) => {
            return Err(ReadError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        Err(LinesError::TooLong) => {
            return Err(ReadError::TooLong {
                file: NAME.into(),
                line: 1,
            });
        }
    };
    let mut verifier = Verifier::new(key)
        .with_head(head, NAME)
        .map_err(ReadError::Failed)?;
    verifier.begin_file_at(NAME, 1);
    let fragment = feed_all(&mut lines, &mut verifier, path)?;
    verifier.torn_tail(fragment);
    verifier.finish().map_err(ReadError::Failed)
}

/// Calls `each` with every complete line of `segment` and its number.
fn each_line(
    segment: &Segment,
    mut each: impl FnMut(&[u8], u64) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let io = |source| ReadError::Io {
        path: segment.path.clone(),
        source,
    };
    let mut lines = Lines::new(File::open(&segment.path).map_err(io)?);
    let mut number = 0;
    loop {
        match lines.next_line() {
            Ok(Some(line)) => {
                number += 1;
                each(line, number)?;
            }
            Ok(None) => return Ok(()),
            Err(LinesError::Io(source)) => return Err(io(source)),
            Err(LinesError::TooLong) => {
                return Err(ReadError::TooLong {
                    file: segment.name.clone(),
                    line: number + 1,
                });
            }
        }
    }
}
