//! The audit log's line format: one compact JSON object per line — an entry, a
//! `{"checkpoint":{...}}` or a `{"head":{...}}` — parsed strictly (unknown or duplicate keys
//! refused) and, for verification, without copying the text fields.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use super::checkpoint::Checkpoint;
use super::digest::Sha256Digest;
use super::entry::{Actor, Entry, Fields, Outcome, OutcomeKind};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("not valid JSON for an audit line: {detail}")]
    Json { detail: String },
    #[error("an entry line lacks the field {field}")]
    Missing { field: &'static str },
    #[error("the line mixes {what}")]
    Mixed { what: &'static str },
}

/// One parsed line, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Entry(Entry),
    Checkpoint(Checkpoint),
    Head(Checkpoint),
}

/// Parses one line (without its newline).
pub fn parse_line(bytes: &[u8]) -> Result<Line, LineError> {
    Ok(match parse_view(bytes)? {
        View::Entry(e) => Line::Entry(e.to_entry()),
        View::Checkpoint(c) => Line::Checkpoint(c),
        View::Head(c) => Line::Head(c),
    })
}

/// One parsed line whose entry text still points into the line.
pub(crate) enum View<'a> {
    Entry(EntryView<'a>),
    Checkpoint(Checkpoint),
    Head(Checkpoint),
}

pub(crate) struct EntryView<'a> {
    pub seq: u64,
    time: Text<'a>,
    actor: ActorView<'a>,
    source: Text<'a>,
    action: Text<'a>,
    resource: Text<'a>,
    outcome: OutcomeView<'a>,
    body_sha256: Option<Sha256Digest>,
    pub prev: Sha256Digest,
    pub hash: Sha256Digest,
}

impl EntryView<'_> {
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            seq: self.seq,
            time: &self.time.0,
            user: self.actor.user.as_ref().map(|t| &*t.0),
            token_id: self.actor.token_id.as_ref().map(|t| &*t.0),
            source: &self.source.0,
            action: &self.action.0,
            resource: &self.resource.0,
            kind: self.outcome.kind,
            code: self.outcome.code.as_ref().map(|t| &*t.0),
            reason: self.outcome.reason.as_ref().map(|t| &*t.0),
            body_sha256: self.body_sha256.as_ref(),
            prev: &self.prev,
        }
    }

    fn to_entry(&self) -> Entry {
        let owned = |t: &Option<Text<'_>>| t.as_ref().map(|t| t.0.clone().into_owned());
        Entry {
            seq: self.seq,
            time: self.time.0.clone().into_owned(),
            actor: Actor {
                user: owned(&self.actor.user),
                token_id: owned(&self.actor.token_id),
            },
            source: self.source.0.clone().into_owned(),
            action: self.action.0.clone().into_owned(),
            resource: self.resource.0.clone().into_owned(),
            outcome: Outcome {
                kind: self.outcome.kind,
                code: owned(&self.outcome.code),
                reason: owned(&self.outcome.reason),
            },
            body_sha256: self.body_sha256,
            prev: self.prev,
            hash: self.hash,
        }
    }
}

/// Parses one line into a [`View`]: strict JSON, every entry field present, nothing unknown.
pub(crate) fn parse_view(bytes: &[u8]) -> Result<View<'_>, LineError> {
    // One UTF-8 check of the whole line, rather than one per string inside it.
    let text = std::str::from_utf8(bytes).map_err(|e| LineError::Json {
        detail: format!("not UTF-8: {e}"),
    })?;
    let wire: Wire<'_> = serde_json::from_str(text).map_err(|e| LineError::Json {
        detail: e.to_string(),
    })?;
    let has_entry_field = wire.seq.is_some()
        || wire.time.is_some()
        || wire.actor.is_some()
        || wire.source.is_some()
        || wire.action.is_some()
        || wire.resource.is_some()
        || wire.outcome.is_some()
        || wire.body_sha256.is_some()
        || wire.prev.is_some()
        || wire.hash.is_some();
    match (wire.checkpoint, wire.head, has_entry_field) {
        (Some(c), None, false) => Ok(View::Checkpoint(c)),
        (None, Some(c), false) => Ok(View::Head(c)),
        (None, None, _) => Ok(View::Entry(EntryView {
            seq: wire.seq.ok_or(LineError::Missing { field: "seq" })?,
            time: wire.time.ok_or(LineError::Missing { field: "time" })?,
            actor: wire.actor.ok_or(LineError::Missing { field: "actor" })?,
            source: wire.source.ok_or(LineError::Missing { field: "source" })?,
            action: wire.action.ok_or(LineError::Missing { field: "action" })?,
            resource: wire
                .resource
                .ok_or(LineError::Missing { field: "resource" })?,
            outcome: wire
                .outcome
                .ok_or(LineError::Missing { field: "outcome" })?,
            body_sha256: wire.body_sha256.flatten(),
            prev: wire.prev.ok_or(LineError::Missing { field: "prev" })?,
            hash: wire.hash.ok_or(LineError::Missing { field: "hash" })?,
        })),
        (Some(_), Some(_), _) => Err(LineError::Mixed {
            what: "a checkpoint and a head",
        }),
        (_, _, true) => Err(LineError::Mixed {
            what: "an entry and a checkpoint",
        }),
    }
}

/// Every key any line may have; which ones are present decides the kind of line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    checkpoint: Option<Checkpoint>,
    head: Option<Checkpoint>,
    seq: Option<u64>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    actor: Option<ActorView<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    resource: Option<Text<'a>>,
    #[serde(borrow)]
    outcome: Option<OutcomeView<'a>>,
    // `Some(None)` is an explicit `null`: an entry field, unlike an absent key.
    #[serde(default, deserialize_with = "present")]
    body_sha256: Option<Option<Sha256Digest>>,
    prev: Option<Sha256Digest>,
    hash: Option<Sha256Digest>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Sha256Digest>>, D::Error> {
    Option::<Sha256Digest>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorView<'a> {
    #[serde(borrow)]
    user: Option<Text<'a>>,
    #[serde(borrow)]
    token_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeView<'a> {
    kind: OutcomeKind,
    #[serde(borrow)]
    code: Option<Text<'a>>,
    #[serde(borrow)]
    reason: Option<Text<'a>>,
}

/// A JSON string, borrowed from the line when it has no escapes (serde's `Cow<str>` always
/// copies when nested in an `Option`).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::Record;

    fn entry() -> Entry {
        let record = Record {
            actor: Actor {
                user: Some("alice".into()),
                token_id: Some("tok_1".into()),
            },
            source: "127.0.0.1:5000".into(),
            action: "deploy.create".into(),
            resource: "projects/shop".into(),
            outcome: Outcome::ok(),
            body_sha256: Some(Sha256Digest::of(b"{}")),
        };
        Entry::seal(record, 1, 0, Sha256Digest::ZERO)
    }

    fn line(e: &Entry) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(e.write_line(&mut out).is_ok());
        out.pop();
        out
    }

    #[test]
    fn an_entry_round_trips_and_borrows() -> Result<(), LineError> {
        let e = entry();
        let bytes = line(&e);
        assert_eq!(parse_line(&bytes)?, Line::Entry(e));
        match parse_view(&bytes)? {
            View::Entry(v) => assert!(matches!(v.action.0, Cow::Borrowed(_))),
            _ => panic!("not an entry"),
        }
        Ok(())
    }

    #[test]
    fn escapes_are_decoded() -> Result<(), LineError> {
        let mut e = entry();
        e.resource = "projects/\"sh\nop\"\u{1}é".into();
        assert_eq!(parse_line(&line(&e))?, Line::Entry(e));
        Ok(())
    }

    #[test]
    fn refusals() {
        let good = String::from_utf8(line(&entry())).unwrap_or_default();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "not valid JSON"),
            ("{}".into(), "lacks the field seq"),
            ("[]".into(), "not valid JSON"),
            (good.replacen("{\"seq\":1,", "{", 1), "lacks the field seq"),
            (
                good.replacen(",\"hash\":", ",\"hash2\":", 1),
                "unknown field",
            ),
            (good.replacen("}", ",\"extra\":1}", 1), "unknown field"),
            (
                good.replacen("\"seq\":1", "\"seq\":1,\"seq\":1", 1),
                "duplicate field",
            ),
            (
                good.replacen("\"kind\":\"ok\"", "\"kind\":\"OK\"", 1),
                "unknown variant",
            ),
            (
                good.replacen("\"seq\":1", "\"seq\":-1", 1),
                "not valid JSON",
            ),
            (format!("{} ", &good[..good.len() - 1]), "not valid JSON"),
            (format!("{good}\n{good}"), "trailing characters"),
            (good.to_uppercase(), "unknown field"),
            ("{\"seq\":1,\"checkpoint\":{}}".into(), "not valid JSON"),
        ];
        for (text, want) in cases {
            let err = parse_line(text.as_bytes()).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want)),
                "{text}: {err:?}"
            );
        }
        let cp =
            crate::audit::Checkpoint::genesis(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]), 0);
        let mut mixed = Vec::new();
        assert!(cp.write_line(&mut mixed).is_ok());
        let mixed = String::from_utf8(mixed)
            .unwrap_or_default()
            .replacen("{", "{\"seq\":1,", 1);
        let err = parse_line(mixed.trim_end().as_bytes()).err();
        assert_eq!(
            err,
            Some(LineError::Mixed {
                what: "an entry and a checkpoint"
            })
        );
    }

    #[test]
    fn body_null_and_absent_are_both_none() -> Result<(), LineError> {
        let mut e = entry();
        e.body_sha256 = None;
        let bytes = line(&e);
        assert!(bytes.windows(18).any(|w| w == b"\"body_sha256\":null"));
        assert_eq!(parse_line(&bytes)?, Line::Entry(e));
        Ok(())
    }
}
