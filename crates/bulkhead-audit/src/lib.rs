//! The tamper-evident audit log on disk: JSONL segments under `<state-dir>/audit/`, appended by
//! one writer thread with group commit, sealed by Ed25519-signed checkpoints and a signed head,
//! verified offline by streaming every segment through `bulkhead_core::audit::Verifier`.
//!
//! ```text
//! <state-dir>/audit/audit-000001.jsonl   entries and checkpoint lines, rotated at a size
//! <state-dir>/audit/audit-000002.jsonl   ...
//! <state-dir>/audit/head.json            the latest checkpoint, replaced atomically
//! <state-dir>/audit/writer.lock          held by the one process writing
//! <state-dir>/keys/audit-ed25519.key     the signing key (0600)
//! <state-dir>/keys/audit-ed25519.pub     its public half (export it; verify with --pubkey)
//! ```

mod key;
mod layout;
mod lines;
mod log;
mod open;
mod read;
mod writer;

pub use key::{
    KeyError, export_public_key, parse_public_key, public_key_text, read_public_key,
    state_public_key,
};
pub use layout::{
    AUDIT_DIR, HEAD_FILE, KEY_DIR, KEY_FILE, LOCK_FILE, PUBLIC_KEY_FILE, segment_name,
};
pub use lines::MAX_LINE;
pub use log::AuditLog;
pub use open::OpenError;
pub use read::{Exported, Filter, ReadError, entries, export, verify, verify_export};
pub use writer::{Options, Stats};
