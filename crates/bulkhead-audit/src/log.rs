//! `AuditLog`: the handle the application appends through (the `AuditSink` port). It owns the
//! writer thread and the single-writer lock, and closes the log with a final checkpoint.

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bulkhead_core::audit::{Actor, Outcome, OutcomeKind, Record, VerifyingKey};
use bulkhead_ports::{AppendFuture, AuditError, AuditSink, Receipt};
use tokio::sync::oneshot;

use crate::key;
use crate::layout::{AUDIT_DIR, LOCK_FILE, create_private_dir};
use crate::open::{OpenError, Torn, open_log};
use crate::writer::{Message, Options, Reply, Stats, StatsCells, Writer};

/// The audit log of one state directory, open for appending. Share it (`Arc<AuditLog>`, or as
/// `Arc<dyn AuditSink>`); appends from many tasks and threads are batched into one sync.
///
/// Only one `AuditLog` may have a directory open at a time, across processes and within one.
pub struct AuditLog {
    tx: Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<StatsCells>,
    dir: PathBuf,
    public_key: VerifyingKey,
    _lock: File,
}

impl AuditLog {
    /// Opens the log under `<state_dir>/audit/` (creating it, and the signing key under
    /// `<state_dir>/keys/`, on first use). An existing log is continued only when its tail
    /// verifies against the signed head; a torn final line is cut off and recorded in a new
    /// entry (`audit.recover`) before this returns.
    ///
    /// Blocks (it syncs files); call it at startup or from a blocking context.
    pub fn open(state_dir: &Path, options: Options) -> Result<AuditLog, OpenError> {
        let dir = state_dir.join(AUDIT_DIR);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        create_private_dir(&dir).map_err(io(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked { dir }),
            Err(TryLockError::Error(source)) => {
                return Err(OpenError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let signing = key::load_or_create(state_dir)?;
        let public_key = signing.verifying_key();
        let opened = open_log(&dir, &signing)?;
        let stats = Arc::new(StatsCells::default());
        // Entries a crash left without a checkpoint get one within the interval.
        let uncovered = opened.chain.next_seq - 1 > opened.chain.checkpoint_seq;
        let writer = Writer {
            dir: dir.clone(),
            key: signing,
            options,
            stats: Arc::clone(&stats),
            tail: opened.tail,
            chain: opened.chain,
            uncovered_since: uncovered.then(Instant::now),
            buf: Vec::with_capacity(64 * 1024),
            failed: None,
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bulkhead-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(OpenError::Thread)?;
        let log = AuditLog {
            tx,
            thread: Mutex::new(Some(thread)),
            stats,
            dir,
            public_key,
            _lock: lock,
        };
        if let Some(torn) = opened.torn {
            log.append_blocking(recovery_record(&torn))
                .map_err(|source| OpenError::Recovery {
                    dir: log.dir.clone(),
                    source,
                })?;
        }
        Ok(log)
    }

    /// Appends `record`; the future resolves once the entry is durable (or never will be). The
    /// record is queued when this is called, not when the future is first polled.
    pub fn append(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<Receipt, AuditError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let sent = self.send(Message::Append {
            record,
            reply: Reply::Task(reply),
        });
        async move {
            sent?;
            rx.await.unwrap_or(Err(AuditError::Closed))
        }
    }

    /// [`AuditLog::append`] for threads outside an async runtime: blocks until durable.
    pub fn append_blocking(&self, record: Record) -> Result<Receipt, AuditError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Message::Append {
            record,
            reply: Reply::Thread(reply),
        })?;
        rx.recv().unwrap_or(Err(AuditError::Closed))
    }

    /// Closes the log: waits for queued appends, signs a final checkpoint, stops the writer.
    /// Appends after this are refused with [`AuditError::Closed`]. Blocks briefly; idempotent.
    pub fn close(&self) -> Result<(), AuditError> {
        let (reply, rx) = mpsc::sync_channel(1);
        let result = match self.send(Message::Close { reply }) {
            Ok(()) => rx.recv().unwrap_or(Ok(())),
            Err(_) => Ok(()),
        };
        let thread = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(thread) = thread {
            drop(thread.join());
        }
        result.map_err(|reason| AuditError::NotDurable { reason })
    }

    /// What the writer has done since the log was opened.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// The key checkpoints are verified with (its private half signs them).
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// `<state-dir>/audit`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn send(&self, message: Message) -> Result<(), AuditError> {
        self.tx.send(message).map_err(|_| AuditError::Closed)
    }
}

impl AuditSink for AuditLog {
    fn append(&self, record: Record) -> AppendFuture<'_> {
        Box::pin(AuditLog::append(self, record))
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        drop(self.close());
    }
}

/// The entry that records a cut-off torn line: what, where, how long, and its digest.
fn recovery_record(torn: &Torn) -> Record {
    Record {
        actor: Actor {
            user: Some("bulkhead".into()),
            token_id: None,
        },
        source: "local".into(),
        action: "audit.recover".into(),
        resource: format!("{AUDIT_DIR}/{}", torn.file),
        outcome: Outcome::new(
            OutcomeKind::Failed,
            Some("torn_tail"),
            Some(&format!(
                "cut off an incomplete final line of {} bytes (a write interrupted by a crash, never acknowledged); body_sha256 is its digest",
                torn.bytes
            )),
        ),
        body_sha256: Some(torn.sha256),
    }
}
