//! Integration tests of the audit log on disk: its life cycle (open, append, close, reopen,
//! rotate, export, read), tampering named by `verify` (`tamper`), random mutations
//! (`mutations`), and durability: fail closed, group commit, torn tails (`durability`).

#[path = "audit/durability.rs"]
mod durability;
#[path = "audit/mutations.rs"]
mod mutations;
#[path = "audit/tamper.rs"]
mod tamper;

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulkhead_audit::{
    AUDIT_DIR, AuditLog, Filter, HEAD_FILE, OpenError, Options, ReadError, entries, export, verify,
    verify_export,
};
use bulkhead_core::audit::{
    Actor, Failure, Line, Outcome, OutcomeKind, Record, Sha256Digest, Summary, parse_line,
};
use bulkhead_ports::AuditError;

pub type TestResult = Result<(), Box<dyn Error>>;

pub fn record(i: u64) -> Record {
    Record {
        actor: Actor {
            user: Some(format!("user{}", i % 3)),
            token_id: Some(format!("tok{}", i % 5)),
        },
        source: format!("127.0.0.1:{}", 40000 + i % 100),
        action: if i.is_multiple_of(2) {
            "deploy.create".into()
        } else {
            "project.read".into()
        },
        resource: format!("projects/p{i}"),
        outcome: if i.is_multiple_of(4) {
            Outcome::new(OutcomeKind::Denied, Some("rbac"), Some("role viewer"))
        } else {
            Outcome::ok()
        },
        body_sha256: i
            .is_multiple_of(2)
            .then(|| Sha256Digest::of(&i.to_be_bytes())),
    }
}

/// Small segments (a few entries each) and a checkpoint every 10 entries; no timed ones.
pub fn small() -> Options {
    Options {
        segment_bytes: 3000,
        checkpoint_entries: 10,
        checkpoint_interval: Duration::from_secs(3600),
    }
}

/// Opens a log, appends records `from..=to` one at a time, closes it.
pub fn append_range(state: &Path, from: u64, to: u64, options: Options) -> TestResult {
    let log = AuditLog::open(state, options)?;
    for i in from..=to {
        let receipt = log.append_blocking(record(i))?;
        assert_eq!(receipt.seq, i);
    }
    log.close()?;
    Ok(())
}

pub fn audit_dir(state: &Path) -> PathBuf {
    state.join(AUDIT_DIR)
}

/// The segment files, in order.
pub fn segment_paths(state: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(audit_dir(state))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|x| x == "jsonl"));
    found.sort();
    found
}

pub fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The complete lines of a file (without newlines).
pub fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap_or_default();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

pub fn write_lines(path: &Path, lines: &[Vec<u8>]) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    fs::write(path, bytes)
}

/// Where entry `seq` is: its segment and 0-based line index.
pub fn find_entry(state: &Path, seq: u64) -> Option<(PathBuf, usize)> {
    for path in segment_paths(state) {
        for (i, line) in read_lines(&path).iter().enumerate() {
            if let Ok(Line::Entry(e)) = parse_line(line)
                && e.seq == seq
            {
                return Some((path, i));
            }
        }
    }
    None
}

/// The failure `verify` reports; panics (failing the test) when it verifies or cannot read.
pub fn failure_of(result: Result<Summary, ReadError>) -> Failure {
    match result {
        Err(ReadError::Failed(f)) => f,
        Err(other) => panic!("verify could not read the log: {other}"),
        Ok(s) => panic!("tampering not detected: {s:?}"),
    }
}

#[test]
fn a_new_log_verifies_and_reopening_continues_the_chain() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 25, Options::default())?;
    let s = verify(state.path(), None)?;
    assert_eq!(
        (s.entries, s.last_seq, s.signed_seq, s.unsigned),
        (25, 25, 25, 0)
    );
    // Genesis and the close's checkpoint.
    assert_eq!(s.checkpoints, 2);
    append_range(state.path(), 26, 30, Options::default())?;
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.last_seq, s.checkpoints), (30, 30, 3));
    assert_eq!(s.head.map(|h| h.seq), Some(30));
    Ok(())
}

#[test]
fn a_second_writer_is_refused() -> TestResult {
    let state = tempfile::tempdir()?;
    let log = AuditLog::open(state.path(), Options::default())?;
    assert!(matches!(
        AuditLog::open(state.path(), Options::default()),
        Err(OpenError::Locked { .. })
    ));
    log.close()?;
    drop(log);
    drop(AuditLog::open(state.path(), Options::default())?);
    Ok(())
}

#[test]
fn segments_rotate_sealed_by_checkpoints_and_resume_across_them() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 40, small())?;
    append_range(state.path(), 41, 60, small())?;
    let segments = segment_paths(state.path());
    assert!(segments.len() >= 4, "{segments:?}");
    for sealed in &segments[..segments.len() - 1] {
        let lines = read_lines(sealed);
        let last = lines.last().map(|l| parse_line(l));
        assert!(matches!(last, Some(Ok(Line::Checkpoint(_)))), "{sealed:?}");
    }
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.last_seq, s.unsigned), (60, 60, 0));
    Ok(())
}

#[test]
fn checkpoints_come_every_n_entries_and_on_close() -> TestResult {
    let state = tempfile::tempdir()?;
    let options = Options {
        segment_bytes: 1 << 30,
        ..small()
    };
    append_range(state.path(), 1, 25, options)?;
    let lines = read_lines(&segment_paths(state.path())[0]);
    let signed: Vec<u64> = lines
        .iter()
        .filter_map(|l| match parse_line(l) {
            Ok(Line::Checkpoint(c)) => Some(c.seq),
            _ => None,
        })
        .collect();
    assert_eq!(signed, vec![0, 10, 20, 25]);
    Ok(())
}

#[test]
fn a_checkpoint_is_signed_after_the_interval_without_more_entries() -> TestResult {
    let state = tempfile::tempdir()?;
    let options = Options {
        checkpoint_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let log = AuditLog::open(state.path(), options)?;
    log.append_blocking(record(1))?;
    // Polls for the timed checkpoint (nothing else would write one); bounded at 10 s.
    let mut waited = Duration::ZERO;
    while log.stats().checkpoints == 0 && waited < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    assert_eq!(log.stats().checkpoints, 1);
    // The head covers entry 1 while the log is still open.
    let s = verify(state.path(), None)?;
    assert_eq!((s.signed_seq, s.head.map(|h| h.seq)), (1, Some(1)));
    log.close()?;
    Ok(())
}

#[test]
fn a_record_over_the_bounds_is_refused_alone() -> TestResult {
    let state = tempfile::tempdir()?;
    let log = AuditLog::open(state.path(), Options::default())?;
    let mut big = record(1);
    big.resource = "x".repeat(bulkhead_core::audit::MAX_FIELD_BYTES + 1);
    assert!(matches!(
        log.append_blocking(big),
        Err(AuditError::Refused { .. })
    ));
    assert_eq!(log.append_blocking(record(2))?.seq, 1);
    assert!(!log.stats().failed);
    log.close()?;
    assert!(matches!(
        log.append_blocking(record(3)),
        Err(AuditError::Closed)
    ));
    Ok(())
}

#[test]
fn export_is_one_stream_that_verifies() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 30, small())?;
    let mut out = Vec::new();
    let exported = export(state.path(), &mut out)?;
    let summary = verify(state.path(), None)?;
    assert_eq!(exported.lines, summary.lines + 1);
    assert!(out.starts_with(b"{\"head\":"));
    let log = AuditLog::open(state.path(), small())?;
    let key = log.public_key();
    log.close()?;
    drop(log);
    let checked = verify_export(out.as_slice(), &key)?;
    assert_eq!((checked.entries, checked.last_seq), (30, 30));
    // An edit in the stream is named by its line in the stream.
    let text = String::from_utf8(out)?.replacen("projects/p7\"", "projects/q7\"", 1);
    let index = text
        .lines()
        .position(|l| l.contains("projects/q7\""))
        .unwrap_or(0);
    match verify_export(text.as_bytes(), &key) {
        Err(ReadError::Failed(f)) => assert_eq!((f.line, f.seq), (index as u64 + 1, Some(7))),
        other => panic!("edit not detected: {other:?}"),
    }
    Ok(())
}

#[test]
fn entries_are_filtered_by_time_actor_and_action() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 30, small())?;
    let count =
        |filter: Filter| -> Result<u64, ReadError> { entries(state.path(), &filter, |_| ()) };
    assert_eq!(count(Filter::default())?, 30);
    let deploys = Filter {
        action: Some("deploy".into()),
        ..Filter::default()
    };
    assert_eq!(count(deploys)?, 15);
    let exact = Filter {
        action: Some("deploy.create".into()),
        ..Filter::default()
    };
    assert_eq!(count(exact)?, 15);
    let prefix_only = Filter {
        action: Some("deploy.c".into()),
        ..Filter::default()
    };
    assert_eq!(count(prefix_only)?, 0);
    let user0 = Filter {
        actor: Some("user0".into()),
        ..Filter::default()
    };
    assert_eq!(count(user0)?, 10);
    let token = Filter {
        actor: Some("tok1".into()),
        ..Filter::default()
    };
    assert_eq!(count(token)?, 6);
    let mut times = Vec::new();
    entries(state.path(), &Filter::default(), |e| times.push(e.time))?;
    let since = bulkhead_core::clock::parse_rfc3339(&times[20]);
    let mut seqs = Vec::new();
    entries(
        state.path(),
        &Filter {
            since,
            ..Filter::default()
        },
        |e| seqs.push(e.seq),
    )?;
    assert!(seqs.contains(&21) && seqs.contains(&30) && !seqs.is_empty());
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let future = Filter {
        since: Some(u64::MAX),
        ..Filter::default()
    };
    assert_eq!(count(future)?, 0);
    Ok(())
}

#[test]
fn files_and_directories_are_private() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 3, Options::default())?;
    let mode = |p: PathBuf| fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(audit_dir(state.path()))?, 0o700);
    assert_eq!(mode(state.path().join("keys"))?, 0o700);
    assert_eq!(mode(state.path().join("keys/audit-ed25519.key"))?, 0o600);
    assert_eq!(mode(segment_paths(state.path())[0].clone())?, 0o600);
    assert_eq!(mode(audit_dir(state.path()).join(HEAD_FILE))?, 0o600);
    Ok(())
}
