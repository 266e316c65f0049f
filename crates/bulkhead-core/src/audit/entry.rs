//! An audit entry — who did what to which resource, from where, with what outcome — and the
//! canonical encoding that seals it into the hash chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::digest::Sha256Digest;
use crate::clock::rfc3339_millis;

/// The longest text field an entry may carry, in bytes (hostile input is bounded: a request
/// with a longer user, path or reason is refused, not audited in part).
pub const MAX_FIELD_BYTES: usize = 4096;

/// The domain tag that starts every entry's canonical encoding (version 1).
pub const ENTRY_DOMAIN: &[u8] = b"bulkhead-audit-entry-v1\0";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit field {field} is {len} bytes; an entry allows at most {MAX_FIELD_BYTES}")]
pub struct RecordError {
    pub field: &'static str,
    pub len: usize,
}

/// Who made the request. Both are `None` for an unauthenticated request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub user: Option<String>,
    /// The id of the token used (never the token itself).
    pub token_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Allowed and done.
    Ok,
    /// Authenticated, but not allowed.
    Denied,
    /// No valid credentials.
    Unauthenticated,
    /// Allowed, but it failed (or the request was bad).
    Failed,
}

impl OutcomeKind {
    /// The byte that stands for the kind in the canonical encoding.
    pub const fn tag(self) -> u8 {
        match self {
            OutcomeKind::Ok => 1,
            OutcomeKind::Denied => 2,
            OutcomeKind::Unauthenticated => 3,
            OutcomeKind::Failed => 4,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Denied => "denied",
            OutcomeKind::Unauthenticated => "unauthenticated",
            OutcomeKind::Failed => "failed",
        }
    }
}

/// How the request ended, with an optional short machine code and human reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub code: Option<String>,
    pub reason: Option<String>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::new(OutcomeKind::Ok, None, None)
    }

    pub fn new(kind: OutcomeKind, code: Option<&str>, reason: Option<&str>) -> Outcome {
        Outcome {
            kind,
            code: code.map(str::to_owned),
            reason: reason.map(str::to_owned),
        }
    }
}

/// What a caller asks to be audited: an entry before the log gives it a place (seq, time, prev)
/// and seals it. There is no body field: only its hash is ever recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub actor: Actor,
    /// The client's address, e.g. `127.0.0.1:50412`, or `local` for an in-process call.
    pub source: String,
    /// What was asked, e.g. `deploy.create`.
    pub action: String,
    /// What it was asked of, e.g. `projects/shop`.
    pub resource: String,
    pub outcome: Outcome,
    /// SHA-256 of the request body, when there was one. A body that may hold a low-entropy
    /// secret should not be hashed either (a digest lets a holder of the log confirm a guess).
    pub body_sha256: Option<Sha256Digest>,
}

impl Record {
    /// Refuses a record with a text field longer than [`MAX_FIELD_BYTES`].
    pub fn check(&self) -> Result<(), RecordError> {
        let fields: [(&'static str, Option<&str>); 7] = [
            ("actor.user", self.actor.user.as_deref()),
            ("actor.token_id", self.actor.token_id.as_deref()),
            ("source", Some(&self.source)),
            ("action", Some(&self.action)),
            ("resource", Some(&self.resource)),
            ("outcome.code", self.outcome.code.as_deref()),
            ("outcome.reason", self.outcome.reason.as_deref()),
        ];
        for (field, text) in fields {
            let len = text.map_or(0, str::len);
            if len > MAX_FIELD_BYTES {
                return Err(RecordError { field, len });
            }
        }
        Ok(())
    }
}

/// One line of the audit log. Its `hash` is SHA-256 over the canonical encoding of every other
/// field (see [`crate::audit`]), and its `prev` is the `hash` of the entry before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, 3, ... without gaps, across all segment files.
    pub seq: u64,
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-27T03:32:05.042Z`.
    pub time: String,
    pub actor: Actor,
    pub source: String,
    pub action: String,
    pub resource: String,
    pub outcome: Outcome,
    pub body_sha256: Option<Sha256Digest>,
    pub prev: Sha256Digest,
    pub hash: Sha256Digest,
}

impl Entry {
    /// Gives `record` its place in the chain — number `seq`, time `unix_millis`, after the entry
    /// whose hash is `prev` — and computes its hash.
    pub fn seal(record: Record, seq: u64, unix_millis: u64, prev: Sha256Digest) -> Entry {
        let mut entry = Entry {
            seq,
            time: rfc3339_millis(unix_millis),
            actor: record.actor,
            source: record.source,
            action: record.action,
            resource: record.resource,
            outcome: record.outcome,
            body_sha256: record.body_sha256,
            prev,
            hash: Sha256Digest::ZERO,
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The canonical encoding of every field but `hash`.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        encode(&self.fields(), &mut out);
        out
    }

    /// The hash this entry should carry (equal to `hash` when it is intact).
    pub fn compute_hash(&self) -> Sha256Digest {
        Sha256Digest::of(&self.canonical())
    }

    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            seq: self.seq,
            time: &self.time,
            user: self.actor.user.as_deref(),
            token_id: self.actor.token_id.as_deref(),
            source: &self.source,
            action: &self.action,
            resource: &self.resource,
            kind: self.outcome.kind,
            code: self.outcome.code.as_deref(),
            reason: self.outcome.reason.as_deref(),
            body_sha256: self.body_sha256.as_ref(),
            prev: &self.prev,
        }
    }

    /// Appends the entry as one compact JSON line (with its newline) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *out, self)?;
        out.push(b'\n');
        Ok(())
    }
}

/// An entry's hashed fields, borrowed: what both the owned [`Entry`] and the verifier's
/// zero-copy view encode.
pub(crate) struct Fields<'a> {
    pub seq: u64,
    pub time: &'a str,
    pub user: Option<&'a str>,
    pub token_id: Option<&'a str>,
    pub source: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub kind: OutcomeKind,
    pub code: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub body_sha256: Option<&'a Sha256Digest>,
    pub prev: &'a Sha256Digest,
}

/// Writes the canonical encoding of `f` to `out` (see the module documentation of
/// [`crate::audit`] for the exact layout).
pub(crate) fn encode(f: &Fields<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(ENTRY_DOMAIN);
    out.extend_from_slice(&f.seq.to_be_bytes());
    text(out, f.time);
    optional_text(out, f.user);
    optional_text(out, f.token_id);
    text(out, f.source);
    text(out, f.action);
    text(out, f.resource);
    out.push(f.kind.tag());
    optional_text(out, f.code);
    optional_text(out, f.reason);
    match f.body_sha256 {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            out.extend_from_slice(&d.0);
        }
    }
    out.extend_from_slice(&f.prev.0);
}

/// SHA-256 of the canonical encoding of `f`, using `scratch` as the buffer.
pub(crate) fn hash_fields(f: &Fields<'_>, scratch: &mut Vec<u8>) -> Sha256Digest {
    scratch.clear();
    encode(f, scratch);
    Sha256Digest(Sha256::digest(scratch.as_slice()).into())
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn optional_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            text(out, s);
        }
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
