//! `bulkhead audit`: `log` and `export` read through the API (a server's, or the embedded
//! dispatcher, so that reading is itself audited); `verify` and `pubkey` read the state
//! directory directly, offline, and never through a server.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use bulkhead_api_types::AuditPage;
use bulkhead_app::api::{AuditQuery, Command};
use bulkhead_audit::{KeyError, ReadError};
use bulkhead_client::Method;
use bulkhead_core::audit::Entry;

use crate::accounts::Target;
use crate::backend::{Backend, Request, query};
use crate::failure::Failure;
use crate::output::{emit, emit_json, say};
use crate::replies::read;

/// Entries asked for per page.
const PAGE: usize = 1000;

/// Which entries `audit log` shows.
pub struct LogFilter<'a> {
    pub since: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
}

pub async fn log(t: &Target<'_>, filter: &LogFilter<'_>) -> anyhow::Result<ExitCode> {
    if let Some(since) = filter.since
        && bulkhead_core::clock::parse_rfc3339_signed(since).is_none()
    {
        return Err(Failure::usage(format!(
            "--since {since:?} is not an RFC 3339 time (like 2026-11-27T03:32:05Z)"
        ))
        .into());
    }
    let env = crate::args::environment();
    let b = Backend::open(t.state_dir, &env, true).await?;
    let result = pages(&b, filter, t.json).await;
    b.close().await;
    let entries = result?;
    if t.json {
        emit_json(&json!({ "entries": entries }))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page of matching entries, following `next_cursor`. Text is printed page by page;
/// for JSON the entries are gathered and returned.
async fn pages(b: &Backend, filter: &LogFilter<'_>, json: bool) -> anyhow::Result<Vec<Entry>> {
    let own = |v: Option<&str>| v.map(str::to_string);
    let mut cursor: Option<u64> = None;
    let mut gathered = Vec::new();
    let mut header = !json;
    loop {
        let q = AuditQuery {
            since: own(filter.since),
            actor: own(filter.actor),
            action: own(filter.action),
            limit: Some(PAGE),
            cursor,
        };
        let path = format!(
            "/v1/audit{}",
            query(&[
                ("since", q.since.clone()),
                ("actor", q.actor.clone()),
                ("action", q.action.clone()),
                ("limit", Some(PAGE.to_string())),
                ("cursor", cursor.map(|c| c.to_string())),
            ])
        );
        let reply: AuditPage = read(
            "audit page",
            b.call(Request::new(
                Method::GET,
                path,
                Command::AuditRead { query: q },
            ))
            .await?,
        )?;
        if json {
            gathered.extend(reply.entries);
        } else {
            emit(&lines(&reply.entries, header))?;
            header = false;
        }
        match reply.next_cursor {
            Some(next) if Some(next) != cursor => cursor = Some(next),
            _ => return Ok(gathered),
        }
    }
}

/// Entries as text, one a line.
fn lines(entries: &[Entry], header: bool) -> String {
    let mut out = String::new();
    if header {
        let _ = writeln!(
            out,
            "{:>6}  {:<24} {:<14} {:<18} {:<36} OUTCOME",
            "SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE"
        );
    }
    for e in entries {
        let who = match (&e.actor.user, &e.actor.token_id) {
            (Some(user), _) => user.clone(),
            (None, Some(token)) => format!("token {token}"),
            (None, None) => "-".to_string(),
        };
        let mut result = e.outcome.kind.as_str().to_string();
        if let Some(code) = &e.outcome.code {
            let _ = write!(result, " ({code})");
        }
        if let Some(reason) = &e.outcome.reason {
            let _ = write!(result, ": {reason}");
        }
        let _ = writeln!(
            out,
            "{:>6}  {:<24} {:<14} {:<18} {:<36} {result}",
            e.seq, e.time, who, e.action, e.resource
        );
    }
    out
}

/// Which key a verification trusted, said plainly: as JSON and as a note for people.
struct Trusted {
    json: Value,
    note: String,
}

/// The key `verify` checks signatures with: the one in `pubkey` (kept elsewhere), or — without
/// it — the one beside the log, which proves nothing against whoever can rewrite the log.
fn trusted_key(
    dir: &Path,
    pubkey: Option<&Path>,
    key: Option<&bulkhead_core::audit::VerifyingKey>,
) -> Trusted {
    use bulkhead_core::audit::KeyId;
    match (pubkey, key) {
        (Some(path), Some(key)) => {
            let id = KeyId::of(key).to_string();
            Trusted {
                note: format!(
                    "checked against the key in {} (key-id {id})",
                    path.display()
                ),
                json: json!({"source": "pubkey", "file": path.display().to_string(), "key_id": id, "independent": true}),
            }
        }
        _ => {
            let id = bulkhead_audit::state_public_key(dir)
                .map(|k| KeyId::of(&k).to_string())
                .unwrap_or_default();
            let keys = dir.join("keys");
            Trusted {
                note: format!(
                    "note: the signing key was taken from {}, the same state directory as the log (key-id {id}): whoever can rewrite the log there can re-sign it and it passes. To detect that, verify against a copy of the public key kept elsewhere: `bulkhead audit pubkey --output FILE` once, keep FILE (or the key-id `bulkhead init` printed) off this host, then `bulkhead audit verify --pubkey FILE`",
                    keys.display()
                ),
                json: json!({"source": "state-dir", "dir": keys.display().to_string(), "key_id": id, "independent": false}),
            }
        }
    }
}

/// `audit verify`: offline, against the state directory's key or `pubkey`.
pub fn verify(
    state_dir: Option<&Path>,
    pubkey: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let env = crate::args::environment();
    let dir = bulkhead_app::state::resolve(state_dir, &env)?;
    let key = match pubkey {
        Some(p) => {
            Some(bulkhead_audit::read_public_key(p).map_err(|e| Failure::usage(e.to_string()))?)
        }
        None => None,
    };
    let trusted = trusted_key(&dir, pubkey, key.as_ref());
    match bulkhead_audit::verify(&dir, key.as_ref()) {
        Ok(summary) => {
            if json {
                let mut doc = serde_json::to_value(&summary).context("encoding the summary")?;
                if let Some(map) = doc.as_object_mut() {
                    map.insert("intact".into(), Value::Bool(true));
                    map.insert("key".into(), trusted.json);
                }
                emit_json(&doc)?;
            } else {
                let mut line = format!(
                    "intact: {} entries, {} checkpoints, last seq {}",
                    summary.entries, summary.checkpoints, summary.last_seq
                );
                if summary.unsigned > 0 {
                    let _ = write!(
                        line,
                        " ({} after the last signed checkpoint)",
                        summary.unsigned
                    );
                }
                if summary.torn_tail > 0 {
                    let _ = write!(
                        line,
                        "; a torn final line of {} bytes (cut off when the log is next opened)",
                        summary.torn_tail
                    );
                }
                emit(&format!("{line}\n"))?;
                say!("{}", trusted.note);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ReadError::Failed(f)) => {
            if json {
                // The document is the whole answer: the error is not said a second time.
                emit_json(&json!({
                    "intact": false,
                    "failure": {"file": f.file, "line": f.line, "seq": f.seq, "reason": f.reason.to_string()},
                }))?;
                return Ok(ExitCode::from(crate::failure::EXIT_FAILED));
            }
            Err(Failure::refused(format!("the audit log in {} does not verify: {f}", dir.display()))
                .hint("keep the directory as evidence; compare with a copy kept elsewhere (a SIEM, an export)")
                .into())
        }
        Err(e) => Err(Failure::usage(format!(
            "cannot verify the audit log in {}: {e}",
            dir.display()
        ))
        .into()),
    }
}

pub async fn export(t: &Target<'_>, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let env = crate::args::environment();
    let b = Backend::open(t.state_dir, &env, true).await?;
    let request = Request::new(Method::GET, "/v1/audit/export", Command::AuditExport).slow();
    let result = b.lines(request).await;
    b.close().await;
    let bytes = result?;
    match output {
        None => emit(&String::from_utf8_lossy(&bytes))?,
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            let lines = bytes.iter().filter(|b| **b == b'\n').count();
            say!("exported {lines} lines to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit pubkey`: the key checkpoints are verified with, to keep away from this host.
pub fn pubkey(state_dir: Option<&Path>, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let env = crate::args::environment();
    let dir = bulkhead_app::state::resolve(state_dir, &env)?;
    let missing = |e: KeyError| {
        Failure::usage(e.to_string()).hint(
            "the key is made when the audit log is first written (`bulkhead init`, the server, or any embedded command)",
        )
    };
    match output {
        None => {
            let key = bulkhead_audit::state_public_key(&dir).map_err(missing)?;
            emit(&bulkhead_audit::public_key_text(&key))?;
        }
        Some(path) => {
            bulkhead_audit::export_public_key(&dir, path).map_err(missing)?;
            say!(
                "wrote the audit public key to {}; keep a copy away from this host and check the log with `bulkhead audit verify --pubkey {}`",
                path.display(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
