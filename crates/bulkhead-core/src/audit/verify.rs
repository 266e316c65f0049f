//! The streaming chain verifier: fed the log's lines in order (file by file), it either reports
//! the first line that breaks the chain, a checkpoint or the signed head — naming the entry, the
//! file and the line — or sums up what it proved.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::checkpoint::{Checkpoint, CheckpointError, KeyId};
use super::digest::Sha256Digest;
use super::entry::hash_fields;
use super::line::{LineError, View, parse_view};

/// Why the log does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("unreadable line after entry {after_seq}: {error}")]
    Line { after_seq: u64, error: LineError },
    #[error("the line is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("the last line has no newline in a segment that is not the last (it was cut short)")]
    Incomplete,
    #[error("a head record inside a segment (heads belong in the head file)")]
    HeadInSegment,
    #[error(
        "entry {expected} is missing here: found entry {found} (an entry was deleted, moved or duplicated)"
    )]
    Sequence { expected: u64, found: u64 },
    #[error("the chain is broken: prev is not the hash of entry {prev_seq}")]
    Chain { prev_seq: u64 },
    #[error("the entry does not match its hash (its content was changed)")]
    Hash,
    #[error(
        "checkpoint {found} is out of order: expected checkpoint {expected} (a checkpoint was deleted, moved or duplicated)"
    )]
    CheckpointOrder { expected: u64, found: u64 },
    #[error("{0}")]
    Signature(CheckpointError),
    #[error("checkpoint {number} signs entry {signed} but follows entry {follows}")]
    CheckpointMisplaced {
        number: u64,
        signed: u64,
        follows: u64,
    },
    #[error(
        "checkpoint {number} signs another hash for entry {seq} than the log's: entries {first_unverified}..={seq} were rewritten"
    )]
    CheckpointMismatch {
        number: u64,
        seq: u64,
        first_unverified: u64,
    },
    #[error(
        "the signed head (checkpoint {number}) covers entry {head_seq}, but the log ends at entry {last_seq}: its tail was removed"
    )]
    Truncated {
        number: u64,
        head_seq: u64,
        last_seq: u64,
    },
    #[error(
        "the signed head names checkpoint {number} (entry {seq}), which is not in the log: a checkpoint line was removed"
    )]
    HeadNotInLog { number: u64, seq: u64 },
    #[error("checkpoint {number} in the log differs from the signed head of the same number")]
    HeadConflict { number: u64 },
    #[error("there is no signed head, so removal of the tail could not be ruled out")]
    NoHead,
    #[error("there is no audit log (no segment files)")]
    NoLog,
    #[error("segment {missing} is missing (segments are numbered 1, 2, 3, ... without gaps)")]
    SegmentMissing { missing: String },
    #[error("the segment does not end with a checkpoint (a full segment is always sealed by one)")]
    Unsealed,
    #[error("the head file does not hold a head record")]
    NotAHead,
}

/// The first problem found: where, which entry, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The file name (a segment, or the head file).
    pub file: String,
    /// 1-based line number in `file` (0 when the failure is about the file as a whole).
    pub line: u64,
    /// The entry the failure is about, when there is one.
    pub seq: Option<u64>,
    pub reason: Reason,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(seq) = self.seq {
            write!(f, ": entry {seq}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for Failure {}

/// What an intact log proved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub entries: u64,
    /// Checkpoint lines verified.
    pub checkpoints: u64,
    /// The last entry's seq (0 when there is none).
    pub last_seq: u64,
    pub last_hash: Sha256Digest,
    /// The highest seq a verified signature covers (a checkpoint line or the head).
    pub signed_seq: u64,
    /// Entries after `signed_seq`: an intact chain, but no signature yet proves they existed,
    /// so their removal would go unnoticed (the writer signs every N entries or T seconds).
    pub unsigned: u64,
    pub last_checkpoint: Option<Checkpoint>,
    pub head: Option<Checkpoint>,
    pub key_id: KeyId,
    pub lines: u64,
    pub bytes: u64,
    /// Bytes of an incomplete final line: a write cut short by a crash (never acknowledged);
    /// reopening the log cuts it off and records that in an entry.
    pub torn_tail: u64,
}

/// Feeds lines through the chain rules; see the module documentation of [`crate::audit`].
pub struct Verifier {
    key: VerifyingKey,
    key_id: KeyId,
    head: Option<Checkpoint>,
    head_file: String,
    head_seen: bool,
    next_seq: u64,
    prev: Sha256Digest,
    next_checkpoint: u64,
    last_checkpoint: Option<Checkpoint>,
    file: String,
    line: u64,
    entries: u64,
    checkpoints: u64,
    lines: u64,
    bytes: u64,
    torn_tail: u64,
    scratch: Vec<u8>,
}

impl Verifier {
    /// A verifier for a whole log, from entry 1 and checkpoint 1, trusting only `key`.
    pub fn new(key: &VerifyingKey) -> Verifier {
        Verifier {
            key: *key,
            key_id: KeyId::of(key),
            head: None,
            head_file: String::new(),
            head_seen: false,
            next_seq: 1,
            prev: Sha256Digest::ZERO,
            next_checkpoint: 1,
            last_checkpoint: None,
            file: String::new(),
            line: 0,
            entries: 0,
            checkpoints: 0,
            lines: 0,
            bytes: 0,
            torn_tail: 0,
            scratch: Vec::with_capacity(512),
        }
    }

    /// A verifier that continues after `after`, a checkpoint read at `file:line` (e.g. the last
    /// line of the segment before the one to check); its signature is verified here.
    pub fn resume(
        key: &VerifyingKey,
        after: Checkpoint,
        file: &str,
        line: u64,
    ) -> Result<Verifier, Failure> {
        let mut v = Verifier::new(key);
        after.verify(&v.key, &v.key_id).map_err(|e| Failure {
            file: file.to_owned(),
            line,
            seq: Some(after.seq),
            reason: Reason::Signature(e),
        })?;
        v.next_seq = after.seq.saturating_add(1);
        v.prev = after.hash;
        v.next_checkpoint = after.number.saturating_add(1);
        v.last_checkpoint = Some(after);
        Ok(v)
    }

    /// Sets the signed head (read from `file`), checking its signature. Call before feeding.
    pub fn with_head(mut self, head: Checkpoint, file: &str) -> Result<Verifier, Failure> {
        let fail = |reason| Failure {
            file: file.to_owned(),
            line: 1,
            seq: Some(head.seq),
            reason,
        };
        head.verify(&self.key, &self.key_id)
            .map_err(|e| fail(Reason::Signature(e)))?;
        if let Some(after) = &self.last_checkpoint {
            if head.number == after.number && head != *after {
                return Err(fail(Reason::HeadConflict {
                    number: head.number,
                }));
            }
            // An older head was in a segment before the resumed one: not re-checked here.
            self.head_seen = head.number <= after.number;
        }
        self.head_file = file.to_owned();
        self.head = Some(head);
        Ok(self)
    }

    /// Starts the next file: line numbers count from 1 again.
    pub fn begin_file(&mut self, name: &str) {
        self.begin_file_at(name, 0);
    }

    /// Starts the next file, whose first fed line is line `lines_before + 1` (e.g. an export
    /// stream, whose first line is the head).
    pub fn begin_file_at(&mut self, name: &str, lines_before: u64) {
        name.clone_into(&mut self.file);
        self.line = lines_before;
    }

    /// The current file and the number of the last line fed in it.
    pub fn position(&self) -> (&str, u64) {
        (&self.file, self.line)
    }

    /// Records an incomplete final line of `bytes` bytes (only valid at the very end).
    pub fn torn_tail(&mut self, bytes: u64) {
        self.torn_tail = bytes;
    }

    /// A failure at the current line.
    pub fn fail(&self, seq: Option<u64>, reason: Reason) -> Failure {
        Failure {
            file: self.file.clone(),
            line: self.line,
            seq,
            reason,
        }
    }

    /// Checks the next line (without its newline).
    pub fn feed(&mut self, line: &[u8]) -> Result<(), Failure> {
        self.line += 1;
        self.lines += 1;
        self.bytes += line.len() as u64 + 1;
        let view = parse_view(line).map_err(|error| {
            let after_seq = self.next_seq.saturating_sub(1);
            self.fail(None, Reason::Line { after_seq, error })
        })?;
        match view {
            View::Entry(entry) => {
                let seq = entry.seq;
                if seq != self.next_seq {
                    let reason = Reason::Sequence {
                        expected: self.next_seq,
                        found: seq,
                    };
                    return Err(self.fail(Some(self.next_seq), reason));
                }
                if entry.prev != self.prev {
                    let prev_seq = seq - 1;
                    return Err(self.fail(Some(seq), Reason::Chain { prev_seq }));
                }
                if hash_fields(&entry.fields(), &mut self.scratch) != entry.hash {
                    return Err(self.fail(Some(seq), Reason::Hash));
                }
                if let Some(head) = self.head.as_ref().filter(|h| h.seq == seq)
                    && head.hash != entry.hash
                {
                    return Err(self.fail(Some(seq), self.mismatch(head)));
                }
                self.next_seq += 1;
                self.prev = entry.hash;
                self.entries += 1;
                Ok(())
            }
            View::Checkpoint(cp) => self.checkpoint(cp),
            View::Head(_) => Err(self.fail(None, Reason::HeadInSegment)),
        }
    }

    fn checkpoint(&mut self, cp: Checkpoint) -> Result<(), Failure> {
        let seq = Some(cp.seq);
        if cp.number != self.next_checkpoint {
            let reason = Reason::CheckpointOrder {
                expected: self.next_checkpoint,
                found: cp.number,
            };
            return Err(self.fail(seq, reason));
        }
        cp.verify(&self.key, &self.key_id)
            .map_err(|e| self.fail(seq, Reason::Signature(e)))?;
        let last_seq = self.next_seq - 1;
        if cp.seq != last_seq {
            let reason = Reason::CheckpointMisplaced {
                number: cp.number,
                signed: cp.seq,
                follows: last_seq,
            };
            return Err(self.fail(seq, reason));
        }
        if cp.hash != self.prev {
            return Err(self.fail(seq, self.mismatch(&cp)));
        }
        if let Some(head) = self.head.as_ref().filter(|h| h.number == cp.number) {
            if *head != cp {
                let reason = Reason::HeadConflict { number: cp.number };
                return Err(self.fail(seq, reason));
            }
            self.head_seen = true;
        }
        self.next_checkpoint += 1;
        self.checkpoints += 1;
        self.last_checkpoint = Some(cp);
        Ok(())
    }

    fn mismatch(&self, signed: &Checkpoint) -> Reason {
        Reason::CheckpointMismatch {
            number: signed.number,
            seq: signed.seq,
            first_unverified: self.signed_seq() + 1,
        }
    }

    /// The highest seq covered by a verified checkpoint line so far (the head counts once its
    /// entry has been checked against it).
    fn signed_seq(&self) -> u64 {
        let line = self.last_checkpoint.as_ref().map_or(0, |c| c.seq);
        let head = self
            .head
            .as_ref()
            .filter(|h| h.seq < self.next_seq)
            .map_or(0, |h| h.seq);
        line.max(head)
    }

    /// Ends verification: the signed head must be covered by the log.
    pub fn finish(self) -> Result<Summary, Failure> {
        let last_seq = self.next_seq - 1;
        if let Some(head) = &self.head {
            if head.seq > last_seq {
                return Err(Failure {
                    file: self.file.clone(),
                    line: self.line + 1,
                    seq: Some(last_seq + 1),
                    reason: Reason::Truncated {
                        number: head.number,
                        head_seq: head.seq,
                        last_seq,
                    },
                });
            }
            if !self.head_seen {
                return Err(Failure {
                    file: self.head_file.clone(),
                    line: 1,
                    seq: Some(head.seq),
                    reason: Reason::HeadNotInLog {
                        number: head.number,
                        seq: head.seq,
                    },
                });
            }
        }
        let signed_seq = self.signed_seq();
        Ok(Summary {
            entries: self.entries,
            checkpoints: self.checkpoints,
            last_seq,
            last_hash: self.prev,
            signed_seq,
            unsigned: last_seq - signed_seq,
            last_checkpoint: self.last_checkpoint,
            head: self.head,
            key_id: self.key_id,
            lines: self.lines,
            bytes: self.bytes + self.torn_tail,
            torn_tail: self.torn_tail,
        })
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
