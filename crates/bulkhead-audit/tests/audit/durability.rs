//! Durability: failing closed when the log cannot be written, group commit under concurrent
//! appenders, and recovery of a torn final line.

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::time::Instant;

use bulkhead_audit::{AuditLog, segment_name, verify};
use bulkhead_core::audit::Sha256Digest;
use bulkhead_ports::{AuditError, AuditSink};

use super::*;

/// How the log is made unwritable, as root too: the segment the writer continues is a symlink
/// to `/dev/full`, on which every write fails with ENOSPC ("no space left on device") whoever
/// the writer is — the failure a full disk gives, through the same write and sync calls.
/// (Permissions cannot do it: the tests run as root, which ignores them.)
#[test]
fn an_unwritable_log_refuses_every_append_and_acknowledges_nothing() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 3, Options::default())?;
    // Segment 1 is sealed by the close's checkpoint; the next segment is the full device.
    let next = audit_dir(state.path()).join(segment_name(2));
    symlink("/dev/full", &next)?;

    let log = AuditLog::open(state.path(), Options::default())?;
    let first = log.append_blocking(record(4));
    assert!(
        matches!(&first, Err(AuditError::NotDurable { reason }) if reason.contains("No space left")),
        "{first:?}"
    );
    // Failed closed: later appends are refused without another try.
    let second = log.append_blocking(record(5));
    assert!(
        matches!(second, Err(AuditError::NotDurable { .. })),
        "{second:?}"
    );
    let stats = log.stats();
    assert!(stats.failed);
    assert_eq!(stats.appended, 0);
    assert!(log.close().is_err());
    drop(log);

    // With the device gone, the log is exactly what was acknowledged.
    fs::remove_file(&next)?;
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.last_seq), (3, 3));
    append_range(state.path(), 4, 5, Options::default())?;
    assert_eq!(verify(state.path(), None)?.last_seq, 5);
    Ok(())
}

#[test]
fn an_audit_directory_replaced_by_a_file_is_refused() -> TestResult {
    let state = tempfile::tempdir()?;
    fs::write(audit_dir(state.path()), b"not a directory")?;
    assert!(matches!(
        AuditLog::open(state.path(), Options::default()),
        Err(OpenError::Io { .. })
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_share_syncs_and_get_contiguous_seqs() -> TestResult {
    const TASKS: u64 = 64;
    const EACH: u64 = 100;
    let state = tempfile::tempdir()?;
    let log = Arc::new(AuditLog::open(state.path(), Options::default())?);
    let sink: Arc<dyn AuditSink> = log.clone();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let receipt = sink.append(record(t * EACH + i)).await?;
                seqs.push(receipt.seq);
            }
            Ok::<_, AuditError>(seqs)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await??;
        // One appender's entries are in its order.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    assert_eq!(all, (1..=TASKS * EACH).collect::<Vec<_>>());
    let stats = log.stats();
    log.close()?;
    assert_eq!(stats.appended, TASKS * EACH);
    // Group commit: far fewer syncs than entries.
    assert!(stats.batches < stats.appended, "{stats:?}");
    println!(
        "{} appends by {TASKS} tasks in {elapsed:?}: {} batches (largest {}), {} syncs in all",
        stats.appended, stats.batches, stats.largest_batch, stats.syncs
    );
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.unsigned), (TASKS * EACH, 0));
    Ok(())
}

#[test]
fn a_torn_final_line_is_cut_off_and_recorded() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 5, Options::default())?;
    let segment = segment_paths(state.path()).pop().ok_or("no segment")?;
    // A crash in the middle of writing entry 6: part of its line, no newline.
    let torn = b"{\"seq\":6,\"time\":\"2026-11-27T03:32:05.042Z\",\"actor\":{\"us";
    let mut bytes = fs::read(&segment)?;
    let intact_len = bytes.len();
    bytes.extend_from_slice(torn);
    fs::write(&segment, &bytes)?;

    // Offline, before any repair: the log verifies, and the torn bytes are reported.
    let s = verify(state.path(), None)?;
    assert_eq!((s.last_seq, s.torn_tail), (5, torn.len() as u64));

    // Reopening cuts the line and records that, never silently.
    let log = AuditLog::open(state.path(), Options::default())?;
    assert_eq!(log.stats().appended, 1);
    log.close()?;
    drop(log);
    assert!(fs::read(&segment)?.starts_with(&bytes[..intact_len]));
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.torn_tail), (6, 0));
    let mut recovered = Vec::new();
    let filter = Filter {
        action: Some("audit.recover".into()),
        ..Filter::default()
    };
    entries(state.path(), &filter, |e| recovered.push(e))?;
    let [entry] = recovered.as_slice() else {
        return Err(format!("expected one recovery entry: {recovered:?}").into());
    };
    assert_eq!(entry.seq, 6);
    assert_eq!(entry.body_sha256, Some(Sha256Digest::of(torn)));
    assert_eq!(entry.resource, format!("audit/{}", name(&segment)));
    let reason = entry.outcome.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!("{} bytes", torn.len())),
        "{reason}"
    );
    Ok(())
}

#[test]
fn a_crash_between_checkpoint_line_and_head_is_caught_up() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 5, Options::default())?;
    let head = audit_dir(state.path()).join(bulkhead_audit::HEAD_FILE);
    let old_head = fs::read(&head)?;
    append_range(state.path(), 6, 8, Options::default())?;
    // The head as it was before the last checkpoint: an older, validly signed one.
    fs::write(&head, &old_head)?;
    let s = verify(state.path(), None)?;
    assert_eq!((s.last_seq, s.signed_seq), (8, 8));
    drop(AuditLog::open(state.path(), Options::default())?);
    assert_ne!(fs::read(&head)?, old_head);
    assert_eq!(verify(state.path(), None)?.head.map(|h| h.seq), Some(8));
    Ok(())
}

#[test]
fn entries_a_crash_left_unsigned_are_signed_after_reopening() -> TestResult {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, 5, Options::default())?;
    // As a crash after the entries' sync and before the close's checkpoint leaves it: the last
    // checkpoint line gone, the head still the genesis.
    let segment = segment_paths(state.path()).pop().ok_or("no segment")?;
    let mut lines = read_lines(&segment);
    lines.pop();
    write_lines(&segment, &lines)?;
    let Line::Checkpoint(genesis) = parse_line(&lines[0])? else {
        return Err("no genesis line".into());
    };
    let mut head = Vec::new();
    genesis.write_head(&mut head)?;
    fs::write(
        audit_dir(state.path()).join(bulkhead_audit::HEAD_FILE),
        head,
    )?;
    let s = verify(state.path(), None)?;
    assert_eq!((s.last_seq, s.signed_seq, s.unsigned), (5, 0, 5));

    let options = Options {
        checkpoint_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let log = AuditLog::open(state.path(), options)?;
    // Polls for the timed checkpoint; bounded at 10 s.
    let started = Instant::now();
    while log.stats().checkpoints == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = verify(state.path(), None)?;
    assert_eq!((s.signed_seq, s.unsigned), (5, 0));
    log.close()?;
    Ok(())
}

#[test]
fn a_crash_while_creating_the_log_starts_it_again() -> TestResult {
    let state = tempfile::tempdir()?;
    fs::create_dir_all(audit_dir(state.path()))?;
    // The first segment created, its genesis line cut short, no head yet.
    fs::write(
        audit_dir(state.path()).join(segment_name(1)),
        b"{\"checkpoint\":{\"number\":1,",
    )?;
    append_range(state.path(), 1, 2, Options::default())?;
    let s = verify(state.path(), None)?;
    assert_eq!((s.entries, s.checkpoints, s.torn_tail), (2, 2, 0));
    Ok(())
}
