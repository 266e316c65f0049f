//! The listener's counters: connections open (in all and per client address) and the
//! connections and requests it turned away before any handler saw them, by reason. Shared with
//! the API, which reports them (`GET /v1/status`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the listener turned a connection or a request away without a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The client already held its per-client maximum of connections: closed at once.
    OverClientLimit,
    /// The TLS handshake failed (not TLS, a bad client hello) or did not finish in time.
    Tls,
    /// What came over TLS was not an HTTP/1.1 request hyper could parse (no path to audit).
    Malformed,
    /// A request head larger than the parser's buffer (hyper answered 431 itself).
    HeadTooLarge,
}

/// Counters, updated by the accept loop and each connection.
#[derive(Debug, Default)]
pub struct Stats {
    open: AtomicU64,
    accepted: AtomicU64,
    over_client_limit: AtomicU64,
    tls: AtomicU64,
    malformed: AtomicU64,
    head_too_large: AtomicU64,
    clients: Mutex<HashMap<IpAddr, usize>>,
    /// Woken on every change, for [`Stats::wait_until`].
    changed: tokio::sync::Notify,
}

/// The counters at one moment, as the status reply shows them (its type is the reply's).
pub use bulkhead_api_types::{ListenerStats as Snapshot, Rejected};

/// One open connection of one client address; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct ClientSlot {
    stats: Arc<Stats>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
        let mut clients = self.stats.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = clients.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                clients.remove(&self.ip);
            }
        }
        drop(clients);
        self.stats.changed.notify_waiters();
    }
}

impl Stats {
    /// A slot for one more connection from `ip`'s client (see [`client_of`](crate::api::client_of)),
    /// or `None` (counted) when it holds `max`.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let ip = crate::api::client_of(ip);
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let n = clients.entry(ip).or_insert(0);
        if *n >= max {
            if *n == 0 {
                clients.remove(&ip);
            }
            drop(clients);
            self.reject(Rejection::OverClientLimit);
            return None;
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::SeqCst);
        drop(clients);
        self.changed.notify_waiters();
        Some(ClientSlot {
            stats: Arc::clone(self),
            ip,
        })
    }

    pub fn reject(&self, why: Rejection) {
        let counter = match why {
            Rejection::OverClientLimit => &self.over_client_limit,
            Rejection::Tls => &self.tls,
            Rejection::Malformed => &self.malformed,
            Rejection::HeadTooLarge => &self.head_too_large,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Wait until the counters satisfy `ready` (an event to synchronise on, not a time).
    pub async fn wait_until(&self, ready: impl Fn(&Snapshot) -> bool) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if ready(&self.snapshot()) {
                return;
            }
            changed.await;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Snapshot {
            connections_open: load(&self.open),
            connections_accepted: load(&self.accepted),
            clients: self.clients.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
            rejected: Rejected {
                over_client_limit: load(&self.over_client_limit),
                tls_handshake: load(&self.tls),
                malformed_http: load(&self.malformed),
                head_too_large: load(&self.head_too_large),
            },
        }
    }
}
