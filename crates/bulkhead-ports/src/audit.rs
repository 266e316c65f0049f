//! The audit port: appending one entry to the tamper-evident log, durably, before a request is
//! answered. An error means the entry is not durable, and the request must fail (fail closed).

use std::future::Future;
use std::pin::Pin;

use bulkhead_core::audit::{Record, Sha256Digest};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The entry was not written durably (a write or sync failed now or earlier): the log
    /// refuses every append until it is reopened. The request must not be executed.
    #[error("the audit log cannot be written durably (failing closed): {reason}")]
    NotDurable { reason: String },
    /// The record breaks a bound (e.g. a field over `MAX_FIELD_BYTES`); nothing was written.
    #[error("the request cannot be audited: {reason}")]
    Refused { reason: String },
    /// The log was closed (shutdown); nothing was written.
    #[error("the audit log is closed")]
    Closed,
}

/// Where an appended entry landed in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: Sha256Digest,
}

/// The future of one append: resolves only once the entry is durable (or will never be).
pub type AppendFuture<'a> = Pin<Box<dyn Future<Output = Result<Receipt, AuditError>> + Send + 'a>>;

/// The audit log, as the application sees it. Object safe, so the server holds an
/// `Arc<dyn AuditSink>` and calls it from many tasks at once; implementations batch concurrent
/// appends into one sync (group commit).
pub trait AuditSink: Send + Sync {
    /// Appends `record` (the log gives it seq, time and its place in the chain) and resolves
    /// once it is durable on disk. Dropping the future does not withdraw the record.
    fn append(&self, record: Record) -> AppendFuture<'_>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{Context, Poll, Waker};

    use bulkhead_core::audit::{Actor, Outcome};

    use super::*;

    /// A sink that numbers records: enough to show the trait is usable as a shared object.
    struct Counter(AtomicU64);

    impl AuditSink for Counter {
        fn append(&self, record: Record) -> AppendFuture<'_> {
            Box::pin(async move {
                if record.action.is_empty() {
                    return Err(AuditError::Refused {
                        reason: "no action".into(),
                    });
                }
                let seq = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Receipt {
                    seq,
                    hash: Sha256Digest::of(record.action.as_bytes()),
                })
            })
        }
    }

    fn record(action: &str) -> Record {
        Record {
            actor: Actor::default(),
            source: "local".into(),
            action: action.into(),
            resource: "r".into(),
            outcome: Outcome::ok(),
            body_sha256: None,
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    /// Polls a future that never waits (the counter's) to its end.
    fn ready(mut fut: AppendFuture<'_>) -> Option<Result<Receipt, AuditError>> {
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }

    #[test]
    fn usable_as_a_shared_trait_object() {
        let sink: Arc<dyn AuditSink> = Arc::new(Counter(AtomicU64::new(0)));
        let fut = sink.append(record("a"));
        assert_send(&fut);
        assert_eq!(ready(fut).and_then(Result::ok).map(|r| r.seq), Some(1));
        let clone = Arc::clone(&sink);
        let handle = std::thread::spawn(move || ready(clone.append(record("b"))));
        let joined = handle.join().ok().flatten().and_then(Result::ok);
        assert_eq!(joined.map(|r| r.seq), Some(2));
        assert!(matches!(
            ready(sink.append(record(""))),
            Some(Err(AuditError::Refused { .. }))
        ));
    }
}
