//! The writer thread: group commit (every append queued while one sync runs goes into the next
//! batch, one write and one `fdatasync` per batch), signed checkpoints every N entries or T
//! seconds, segment rotation, and failing closed: after a failed write or sync every append is
//! refused until the log is reopened.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bulkhead_core::audit::{Checkpoint, Entry, Record, Sha256Digest, SigningKey};
use bulkhead_ports::{AuditError, Receipt};
use tokio::sync::oneshot;

use crate::layout::{HEAD_FILE, create_new_file, segment_name, sync_dir, write_atomically};

/// The most appends one batch takes (the rest wait for the next sync).
const MAX_BATCH: usize = 8192;

/// How the log writes: when it rotates segments and signs checkpoints. The `Default` is the
/// one to run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Start a new segment once the current one reaches this many bytes (4 MiB). Opening the
    /// log verifies its last segment whole (every CLI command opens it), so this bounds what
    /// an open costs however long the log grows.
    pub segment_bytes: u64,
    /// Sign a checkpoint once this many entries are not covered by one (1000) ...
    pub checkpoint_entries: u64,
    /// ... or once the oldest uncovered entry is this old (1 s), and on close.
    pub checkpoint_interval: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_bytes: 4 << 20,
            checkpoint_entries: 1000,
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// Counters of the writer's work since the log was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries written and acknowledged.
    pub appended: u64,
    /// Batches written: each one write and one `fdatasync` of the segment.
    pub batches: u64,
    /// Every sync made: batches, checkpoints, head replacements, directory entries.
    pub syncs: u64,
    pub checkpoints: u64,
    /// Segments started (rotations).
    pub rotations: u64,
    pub largest_batch: u64,
    /// Set once a write or sync failed: every append is refused from then on.
    pub failed: bool,
}

#[derive(Default)]
pub(crate) struct StatsCells {
    appended: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
    checkpoints: AtomicU64,
    rotations: AtomicU64,
    largest_batch: AtomicU64,
    failed: AtomicBool,
}

impl StatsCells {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            appended: self.appended.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    fn add(cell: &AtomicU64, n: u64) {
        cell.fetch_add(n, Ordering::Relaxed);
    }
}

/// Where an appender waits for its receipt.
pub(crate) enum Reply {
    Task(oneshot::Sender<Result<Receipt, AuditError>>),
    Thread(SyncSender<Result<Receipt, AuditError>>),
}

impl Reply {
    fn send(self, result: Result<Receipt, AuditError>) {
        // An appender that stopped waiting is no error: its entry stands (or failed) all the same.
        match self {
            Reply::Task(tx) => drop(tx.send(result)),
            Reply::Thread(tx) => drop(tx.send(result)),
        }
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "Close is sent once per log; boxing every append would cost an allocation each"
)]
pub(crate) enum Message {
    Append {
        record: Record,
        reply: Reply,
    },
    Close {
        reply: SyncSender<Result<(), String>>,
    },
}

/// Where the chain stands: the next entry's place, and the last checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    pub next_seq: u64,
    pub prev: Sha256Digest,
    /// Entry times never go backwards, even when the clock does.
    pub last_millis: u64,
    pub checkpoint_number: u64,
    pub checkpoint_seq: u64,
}

/// The open segment.
pub(crate) struct Tail {
    pub file: File,
    pub index: u32,
    pub len: u64,
}

pub(crate) struct Writer {
    pub dir: PathBuf,
    pub key: SigningKey,
    pub options: Options,
    pub stats: Arc<StatsCells>,
    pub tail: Tail,
    pub chain: Chain,
    /// When the oldest entry not covered by a checkpoint was written.
    pub uncovered_since: Option<Instant>,
    pub buf: Vec<u8>,
    pub failed: Option<String>,
}

impl Writer {
    /// Serves messages until closed (or every sender is gone).
    pub(crate) fn run(mut self, rx: Receiver<Message>) {
        let mut batch = Vec::new();
        loop {
            let first = match self.deadline() {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.checkpoint_if_due();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            let mut close = None;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Append { record, reply } => batch.push((record, reply)),
                    Message::Close { reply } => {
                        close = Some(reply);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(m) => next = Some(m),
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
                    }
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
                self.checkpoint_if_due();
                self.rotate_if_full();
            }
            if let Some(reply) = close {
                drop(reply.send(self.close()));
                return;
            }
        }
        drop(self.close());
    }

    fn deadline(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        self.uncovered_since
            .map(|since| since + self.options.checkpoint_interval)
    }

    fn uncovered(&self) -> u64 {
        self.chain.next_seq - 1 - self.chain.checkpoint_seq
    }

    /// Seals, writes and syncs one batch, then answers every appender in it.
    fn commit(&mut self, batch: &mut Vec<(Record, Reply)>) {
        if let Some(reason) = &self.failed {
            for (_, reply) in batch.drain(..) {
                reply.send(Err(AuditError::NotDurable {
                    reason: reason.clone(),
                }));
            }
            return;
        }
        let millis = now_millis().max(self.chain.last_millis);
        let (mut seq, mut prev) = (self.chain.next_seq, self.chain.prev);
        let mut sealed = Vec::with_capacity(batch.len());
        self.buf.clear();
        for (record, reply) in batch.drain(..) {
            if let Err(err) = record.check() {
                reply.send(Err(AuditError::Refused {
                    reason: err.to_string(),
                }));
                continue;
            }
            let entry = Entry::seal(record, seq, millis, prev);
            let mark = self.buf.len();
            if let Err(err) = entry.write_line(&mut self.buf) {
                self.buf.truncate(mark);
                reply.send(Err(AuditError::Refused {
                    reason: err.to_string(),
                }));
                continue;
            }
            sealed.push((
                reply,
                Receipt {
                    seq,
                    hash: entry.hash,
                },
            ));
            seq += 1;
            prev = entry.hash;
        }
        if sealed.is_empty() {
            return;
        }
        if let Err(reason) = self.write_segment() {
            self.fail(reason.clone());
            for (reply, _) in sealed {
                reply.send(Err(AuditError::NotDurable {
                    reason: reason.clone(),
                }));
            }
            return;
        }
        let n = sealed.len() as u64;
        self.chain.next_seq = seq;
        self.chain.prev = prev;
        self.chain.last_millis = millis;
        self.uncovered_since.get_or_insert_with(Instant::now);
        StatsCells::add(&self.stats.appended, n);
        StatsCells::add(&self.stats.batches, 1);
        self.stats.largest_batch.fetch_max(n, Ordering::Relaxed);
        for (reply, receipt) in sealed {
            reply.send(Ok(receipt));
        }
    }

    /// Appends `buf` to the open segment and syncs its data. On failure it tries to cut the
    /// segment back, so that no unacknowledged line stays (reopening handles what remains).
    fn write_segment(&mut self) -> Result<(), String> {
        let written = self
            .tail
            .file
            .write_all(&self.buf)
            .and_then(|()| self.tail.file.sync_data());
        StatsCells::add(&self.stats.syncs, 1);
        match written {
            Ok(()) => {
                self.tail.len += self.buf.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Best effort: the log is failed whatever this does.
                let _ = self.tail.file.set_len(self.tail.len);
                Err(format!(
                    "writing {}: {err}",
                    self.dir.join(segment_name(self.tail.index)).display()
                ))
            }
        }
    }

    fn checkpoint_if_due(&mut self) {
        let uncovered = self.uncovered();
        let old = self
            .uncovered_since
            .is_some_and(|since| since.elapsed() >= self.options.checkpoint_interval);
        if self.failed.is_none()
            && uncovered > 0
            && (uncovered >= self.options.checkpoint_entries || old)
            && let Err(reason) = self.checkpoint()
        {
            self.fail(reason);
        }
    }

    /// Signs the last entry, appends the checkpoint line to the segment, then replaces the head.
    fn checkpoint(&mut self) -> Result<(), String> {
        let millis = now_millis().max(self.chain.last_millis);
        let cp = Checkpoint::sign(
            &self.key,
            self.chain.checkpoint_number + 1,
            self.chain.next_seq - 1,
            self.chain.prev,
            millis,
        );
        self.buf.clear();
        cp.write_line(&mut self.buf).map_err(|e| e.to_string())?;
        self.write_segment()?;
        let mut head = Vec::with_capacity(self.buf.len());
        cp.write_head(&mut head).map_err(|e| e.to_string())?;
        write_atomically(&self.dir, HEAD_FILE, &head)
            .map_err(|e| format!("replacing {}: {e}", self.dir.join(HEAD_FILE).display()))?;
        StatsCells::add(&self.stats.syncs, 2);
        StatsCells::add(&self.stats.checkpoints, 1);
        self.chain.checkpoint_number = cp.number;
        self.chain.checkpoint_seq = cp.seq;
        self.chain.last_millis = millis;
        self.uncovered_since = None;
        Ok(())
    }

    /// Seals a full segment with a checkpoint and starts the next.
    fn rotate_if_full(&mut self) {
        if self.failed.is_some() || self.tail.len < self.options.segment_bytes {
            return;
        }
        let rotated = (|| {
            if self.uncovered() > 0 {
                self.checkpoint()?;
            }
            let index = self.tail.index + 1;
            let path = self.dir.join(segment_name(index));
            let file = create_new_file(&path)
                .and_then(|f| sync_dir(&self.dir).map(|()| f))
                .map_err(|e| format!("starting {}: {e}", path.display()))?;
            StatsCells::add(&self.stats.syncs, 1);
            StatsCells::add(&self.stats.rotations, 1);
            self.tail = Tail {
                file,
                index,
                len: 0,
            };
            Ok::<(), String>(())
        })();
        if let Err(reason) = rotated {
            self.fail(reason);
        }
    }

    /// A clean close: the last entries get their checkpoint.
    fn close(&mut self) -> Result<(), String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        if self.uncovered() > 0 {
            self.checkpoint()?;
        }
        Ok(())
    }

    fn fail(&mut self, reason: String) {
        self.stats.failed.store(true, Ordering::Relaxed);
        self.failed = Some(reason);
    }
}

/// The wall clock, in milliseconds since the Unix epoch (0 before it).
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
