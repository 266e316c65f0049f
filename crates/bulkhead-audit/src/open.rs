//! Opening the log for writing: a new log gets its genesis checkpoint; an existing one is
//! resumed from its tail, which must verify against the signed head first. A torn final line
//! (a crash mid-write, never acknowledged) is cut off and reported, so that the caller records
//! the fact in a new entry.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bulkhead_core::audit::{
    Checkpoint, Failure, KeyId, Line, Reason, Sha256Digest, SigningKey, Verifier, parse_line,
};
use bulkhead_core::clock::parse_rfc3339;

use crate::layout::{
    HEAD_FILE, Segment, create_new_file, first_gap, segment_name, segments, sync_dir,
    write_atomically,
};
use crate::lines::{Lines, LinesError, MAX_LINE};
use crate::writer::{Chain, Tail};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the audit log at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the audit log at {dir} is in use by another process")]
    Locked { dir: PathBuf },
    #[error(transparent)]
    Key(#[from] crate::key::KeyError),
    #[error(
        "the audit log at {dir} does not verify, so it is not continued: {failure} (keep it as evidence; move the directory aside to start a new log)"
    )]
    Tampered { dir: PathBuf, failure: Failure },
    #[error("cannot start the audit writer: {0}")]
    Thread(io::Error),
    #[error("the audit log at {dir} cut off a torn line but could not record it: {source}")]
    Recovery {
        dir: PathBuf,
        source: bulkhead_ports::AuditError,
    },
}

/// A torn final line that was cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Torn {
    pub file: String,
    pub bytes: u64,
    pub sha256: Sha256Digest,
}

pub(crate) struct Opened {
    pub tail: Tail,
    pub chain: Chain,
    pub torn: Option<Torn>,
}

/// Opens (creating if new) the log in `dir`, signed by `key`.
pub(crate) fn open_log(dir: &Path, key: &SigningKey) -> Result<Opened, OpenError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Io { path, source }
    };
    let found = segments(dir).map_err(io_err(dir))?;
    let tampered = |failure: Failure| OpenError::Tampered {
        dir: dir.to_path_buf(),
        failure,
    };
    if let Some(missing) = first_gap(&found) {
        return Err(tampered(file_failure(
            &missing,
            Reason::SegmentMissing {
                missing: missing.clone(),
            },
        )));
    }
    let head = read_head(dir).map_err(|e| match e {
        HeadError::Io(source) => OpenError::Io {
            path: dir.join(HEAD_FILE),
            source,
        },
        HeadError::Bad(failure) => tampered(failure),
    })?;
    match (head, found.last()) {
        (None, None) => create(dir, key),
        (None, Some(only)) if found.len() == 1 && is_unfinished_genesis(&only.path, key) => {
            // A crash while the log was being created: nothing was ever acknowledged.
            fs::remove_file(&only.path).map_err(io_err(&only.path))?;
            create(dir, key)
        }
        (None, Some(_)) => Err(tampered(file_failure(HEAD_FILE, Reason::NoHead))),
        (Some(_), None) => Err(tampered(file_failure(HEAD_FILE, Reason::NoLog))),
        (Some(head), Some(last)) => resume(dir, key, head, &found, last).map_err(|e| match e {
            ResumeError::Io(path, source) => OpenError::Io { path, source },
            ResumeError::Bad(failure) => tampered(failure),
        }),
    }
}

fn file_failure(file: &str, reason: Reason) -> Failure {
    Failure {
        file: file.to_owned(),
        line: 0,
        seq: None,
        reason,
    }
}

/// A new log: segment 1 holding the genesis checkpoint, and the head.
fn create(dir: &Path, key: &SigningKey) -> Result<Opened, OpenError> {
    let path = dir.join(segment_name(1));
    let fail = |source| OpenError::Io {
        path: path.clone(),
        source,
    };
    let genesis = Checkpoint::genesis(key, crate::writer::now_millis());
    let mut line = Vec::new();
    let mut head = Vec::new();
    genesis
        .write_line(&mut line)
        .and_then(|()| genesis.write_head(&mut head))
        .map_err(|e| fail(io::Error::other(e)))?;
    let mut file = create_new_file(&path).map_err(fail)?;
    io::Write::write_all(&mut file, &line).map_err(fail)?;
    file.sync_data().map_err(fail)?;
    sync_dir(dir).map_err(fail)?;
    write_atomically(dir, HEAD_FILE, &head).map_err(fail)?;
    Ok(Opened {
        tail: Tail {
            file,
            index: 1,
            len: line.len() as u64,
        },
        chain: Chain {
            next_seq: 1,
            prev: Sha256Digest::ZERO,
            last_millis: 0,
            checkpoint_number: 1,
            checkpoint_seq: 0,
        },
        torn: None,
    })
}

/// Whether `path` holds no complete line, or nothing but a genesis checkpoint signed by `key`:
/// what a crash while creating the log leaves (the head is written before any entry).
fn is_unfinished_genesis(path: &Path, key: &SigningKey) -> bool {
    let small = fs::metadata(path).is_ok_and(|m| m.len() <= MAX_LINE as u64);
    let Some(bytes) = small.then(|| fs::read(path).ok()).flatten() else {
        return false;
    };
    match bytes.iter().position(|&b| b == b'\n') {
        None => true,
        Some(end) if end + 1 == bytes.len() => {
            let vk = key.verifying_key();
            matches!(parse_line(&bytes[..end]), Ok(Line::Checkpoint(cp))
                if cp.number == 1 && cp.seq == 0 && cp.verify(&vk, &KeyId::of(&vk)).is_ok())
        }
        Some(_) => false,
    }
}

pub(crate) enum HeadError {
    Io(io::Error),
    Bad(Failure),
}

/// The head file's checkpoint, or `None` when there is no head file.
pub(crate) fn read_head(dir: &Path) -> Result<Option<Checkpoint>, HeadError> {
    let mut bytes = Vec::new();
    match File::open(dir.join(HEAD_FILE)) {
        Ok(f) => f
            .take(MAX_LINE as u64)
            .read_to_end(&mut bytes)
            .map_err(HeadError::Io)?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(HeadError::Io(err)),
    };
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let bad = |reason| {
        HeadError::Bad(Failure {
            file: HEAD_FILE.to_owned(),
            line: 1,
            seq: None,
            reason,
        })
    };
    match parse_line(text) {
        Ok(Line::Head(cp)) => Ok(Some(cp)),
        Ok(_) => Err(bad(Reason::NotAHead)),
        Err(error) => Err(bad(Reason::Line {
            after_seq: 0,
            error,
        })),
    }
}

enum ResumeError {
    Io(PathBuf, io::Error),
    Bad(Failure),
}

/// Verifies the last segment (from the checkpoint that sealed the one before it) against the
/// head, cuts a torn final line, brings the head up to the last checkpoint line, and opens the
/// segment for appending.
fn resume(
    dir: &Path,
    key: &SigningKey,
    head: Checkpoint,
    found: &[Segment],
    last: &Segment,
) -> Result<Opened, ResumeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| ResumeError::Io(path, e)
    };
    let vk = key.verifying_key();
    let verifier = match found.len().checked_sub(2).and_then(|i| found.get(i)) {
        None => Verifier::new(&vk),
        Some(sealed) => {
            let cp = last_checkpoint(sealed).map_err(|e| match e {
                Ok(failure) => ResumeError::Bad(failure),
                Err(source) => ResumeError::Io(sealed.path.clone(), source),
            })?;
            Verifier::resume(&vk, cp, &sealed.name, 0).map_err(ResumeError::Bad)?
        }
    };
    let mut verifier = verifier
        .with_head(head.clone(), HEAD_FILE)
        .map_err(ResumeError::Bad)?;
    verifier.begin_file(&last.name);
    // Read no more than the file's size: a segment is a regular file, and this bound keeps a
    // device in its place (a test's /dev/full) from being read forever.
    let size = fs::metadata(&last.path).map_err(io(&last.path))?.len();
    let file = File::open(&last.path).map_err(io(&last.path))?;
    let mut lines = Lines::new(file.take(size));
    loop {
        match lines.next_line() {
            Ok(Some(line)) => verifier.feed(line).map_err(ResumeError::Bad)?,
            Ok(None) => break,
            Err(LinesError::TooLong) => {
                let (file, line) = verifier.position();
                let failure = Failure {
                    file: file.to_owned(),
                    line: line + 1,
                    seq: None,
                    reason: Reason::TooLong { limit: MAX_LINE },
                };
                return Err(ResumeError::Bad(failure));
            }
            Err(LinesError::Io(e)) => return Err(ResumeError::Io(last.path.clone(), e)),
        }
    }
    let fragment = lines.fragment();
    let torn = (!fragment.is_empty()).then(|| Torn {
        file: last.name.clone(),
        bytes: fragment.len() as u64,
        sha256: Sha256Digest::of(fragment),
    });
    verifier.torn_tail(torn.as_ref().map_or(0, |t| t.bytes));
    let summary = verifier.finish().map_err(ResumeError::Bad)?;
    let Some(checkpoint) = summary.last_checkpoint else {
        return Err(ResumeError::Bad(file_failure(HEAD_FILE, Reason::NoHead)));
    };
    let file = OpenOptions::new()
        .append(true)
        .open(&last.path)
        .map_err(io(&last.path))?;
    let mut len = size;
    if let Some(t) = &torn {
        len -= t.bytes;
        file.set_len(len)
            .and_then(|()| file.sync_data())
            .map_err(io(&last.path))?;
    }
    if checkpoint.number > head.number {
        // A crash between the checkpoint line and the head: bring the head up to it.
        let mut bytes = Vec::new();
        checkpoint
            .write_head(&mut bytes)
            .map_err(|e| ResumeError::Io(dir.join(HEAD_FILE), io::Error::other(e)))?;
        write_atomically(dir, HEAD_FILE, &bytes).map_err(io(&dir.join(HEAD_FILE)))?;
    }
    let mut file = file;
    file.seek(SeekFrom::End(0)).map_err(io(&last.path))?;
    Ok(Opened {
        tail: Tail {
            file,
            index: last.index,
            len,
        },
        chain: Chain {
            next_seq: summary.last_seq + 1,
            prev: summary.last_hash,
            last_millis: parse_rfc3339(&checkpoint.time).unwrap_or(0),
            checkpoint_number: checkpoint.number,
            checkpoint_seq: checkpoint.seq,
        },
        torn,
    })
}

/// The checkpoint that ends a sealed segment (rotation always writes one last).
fn last_checkpoint(sealed: &Segment) -> Result<Checkpoint, Result<Failure, io::Error>> {
    const WINDOW: u64 = 64 * 1024;
    let mut file = File::open(&sealed.path).map_err(Err)?;
    let size = file.metadata().map_err(Err)?.len();
    let from = size.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(from)).map_err(Err)?;
    let mut tail = Vec::new();
    file.take(WINDOW).read_to_end(&mut tail).map_err(Err)?;
    let unsealed = || {
        Ok(Failure {
            file: sealed.name.clone(),
            line: 0,
            seq: None,
            reason: Reason::Unsealed,
        })
    };
    let Some(body) = tail.strip_suffix(b"\n") else {
        return Err(unsealed());
    };
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if start == 0 && from > 0 {
        return Err(unsealed());
    }
    match parse_line(&body[start..]) {
        Ok(Line::Checkpoint(cp)) => Ok(cp),
        _ => Err(unsealed()),
    }
}
