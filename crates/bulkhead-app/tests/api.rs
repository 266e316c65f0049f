//! The API end to end, in process: the real router, dispatcher, redb store, audit log, Docker
//! engine and host firewall. The authorization matrix runs every route × every role × own /
//! other project (or own / other account) through HTTP handling; the security suite covers
//! unauthenticated and forged callers, rate limiting, waivers, and failing closed when the
//! audit log cannot be written; and the reconciler loop putting right what was changed by
//! hand.

#[path = "api/support.rs"]
mod support;

#[path = "api/matrix.rs"]
mod matrix;

#[path = "api/security.rs"]
mod security;

#[path = "api/reconciler.rs"]
mod reconciler;
