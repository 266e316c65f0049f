//! The tamper-evident audit log, as values: entries and their hash chain, signed checkpoints,
//! the line format, and the streaming verifier. No I/O and no clock: the writer (the
//! `bulkhead-audit` adapter) gives each entry its time and place.
//!
//! # Entries
//!
//! An [`Entry`] is one JSON line: `seq` (1, 2, 3, ... across all files), `time` (RFC 3339 UTC
//! with milliseconds), `actor` (`user`, `token_id`), `source`, `action`, `resource`, `outcome`
//! (`kind`: `ok` | `denied` | `unauthenticated` | `failed`, optional `code` and `reason`),
//! `body_sha256` (hex or `null`; a body is never recorded), `prev` (the hash of entry
//! `seq - 1`; 64 zeros for entry 1) and `hash`. Digests are 64 lowercase hex digits; any other
//! spelling is refused.
//!
//! # Canonical encoding (version 1)
//!
//! `hash = SHA-256(canonical)`, where `canonical` is the concatenation of:
//!
//! | part | bytes |
//! |---|---|
//! | domain tag | `bulkhead-audit-entry-v1` followed by a zero byte (24 bytes) |
//! | `seq` | u64, big-endian |
//! | `time` | text |
//! | `actor.user` | optional text |
//! | `actor.token_id` | optional text |
//! | `source`, `action`, `resource` | text, text, text |
//! | `outcome.kind` | one byte: 1 ok, 2 denied, 3 unauthenticated, 4 failed |
//! | `outcome.code`, `outcome.reason` | optional text, optional text |
//! | `body_sha256` | `0x00`, or `0x01` followed by the 32 digest bytes |
//! | `prev` | the 32 digest bytes |
//!
//! *text* is its UTF-8 length as a u64, big-endian, followed by the UTF-8 bytes (the JSON
//! escapes decoded); *optional text* is `0x00` for `null`/absent, or `0x01` followed by text.
//! The encoding is of values, not of the JSON line: key order, whitespace and escape spelling
//! do not change the hash (a SIEM may re-serialize a line), while every value does.
//!
//! # Checkpoints and the head
//!
//! A [`Checkpoint`] numbered `n` states "entry `seq` has hash `hash`", signed with Ed25519 over
//!
//! ```text
//! "bulkhead-audit-checkpoint-v1\0" ‖ u64be(number) ‖ u64be(seq) ‖ hash (32 bytes)
//!   ‖ u64be(len(time)) ‖ time ‖ key_id (16 bytes)
//! ```
//!
//! where `key_id = SHA-256("bulkhead-audit-key-v1\0" ‖ public key)[..16]`. Checkpoint 1 is the
//! genesis (seq 0, hash zero), the first line of a new log. Each checkpoint is written as a line
//! right after the entry it signs, and the latest is also the *head* file, so that cutting or
//! rewriting the tail contradicts a signature the forger cannot make.
//!
//! # What the verifier checks
//!
//! Line by line: the line parses (strictly: unknown or duplicate keys refused); entries come in
//! seq order without gaps; each `prev` is the previous entry's `hash`; each `hash` is the hash of
//! the canonical encoding; checkpoints come in number order, are signed by the trusted key, and
//! sign the entry right before them. The signed head's entry must match it, its checkpoint line
//! must be present, and the log must not end before it.

mod checkpoint;
mod digest;
mod entry;
mod line;
mod verify;

pub use checkpoint::{
    CHECKPOINT_DOMAIN, Checkpoint, CheckpointError, KEY_ID_DOMAIN, KeyId, SignatureHex,
    verifying_key_from_hex,
};
pub use digest::Sha256Digest;
pub use entry::{
    Actor, ENTRY_DOMAIN, Entry, MAX_FIELD_BYTES, Outcome, OutcomeKind, Record, RecordError,
};
pub use line::{Line, LineError, parse_line};
pub use verify::{Failure, Reason, Summary, Verifier};

/// Re-exported so that callers name the same key types as the verifier.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
