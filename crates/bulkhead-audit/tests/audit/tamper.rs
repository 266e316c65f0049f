//! Tampering with the files on disk, each named by `verify` with the right entry, file and line:
//! a byte edited, an entry deleted, two entries swapped, the tail truncated, the tail replaced
//! by re-hashed forged entries; and the signing key replaced in the state directory.

use std::fs;
use std::path::Path;

use bulkhead_audit::{AuditLog, HEAD_FILE, export_public_key, read_public_key, verify};
use bulkhead_core::audit::{Checkpoint, Line, Reason, SigningKey, parse_line};

use super::*;

const N: u64 = 60;

/// A closed log of `N` entries over several segments.
fn fixture() -> Result<tempfile::TempDir, Box<dyn Error>> {
    let state = tempfile::tempdir()?;
    append_range(state.path(), 1, N, small())?;
    assert!(segment_paths(state.path()).len() >= 3);
    assert_eq!(verify(state.path(), None)?.entries, N);
    Ok(state)
}

/// The first entry from `from` on that is followed, in its segment, by the next entry.
fn entry_followed_by_entry(state: &Path, from: u64) -> Option<(u64, PathBuf, usize)> {
    (from..N).find_map(|seq| {
        let (path, i) = find_entry(state, seq)?;
        let next = read_lines(&path).get(i + 1).map(|l| parse_line(l));
        matches!(next, Some(Ok(Line::Entry(ref e))) if e.seq == seq + 1).then_some((seq, path, i))
    })
}

#[test]
fn a_byte_edited_is_named() -> TestResult {
    let state = fixture()?;
    let (path, i) = find_entry(state.path(), 17).ok_or("no entry 17")?;
    let mut bytes = fs::read(&path)?;
    let line_start: usize = read_lines(&path)[..i].iter().map(|l| l.len() + 1).sum();
    let at = line_start
        + read_lines(&path)[i]
            .windows(12)
            .position(|w| w == b"projects/p17")
            .ok_or("no resource")?
        + 9;
    bytes[at] = b'q'; // projects/p17 -> projects/q17: one byte
    fs::write(&path, bytes)?;
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        (f.file.clone(), f.line, f.seq),
        (name(&path), i as u64 + 1, Some(17))
    );
    assert_eq!(f.reason, Reason::Hash);
    Ok(())
}

#[test]
fn an_entry_deleted_is_named() -> TestResult {
    let state = fixture()?;
    let (seq, path, i) = entry_followed_by_entry(state.path(), 23).ok_or("no pair")?;
    let mut lines = read_lines(&path);
    lines.remove(i);
    write_lines(&path, &lines)?;
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        (f.file.clone(), f.line, f.seq),
        (name(&path), i as u64 + 1, Some(seq))
    );
    assert_eq!(
        f.reason,
        Reason::Sequence {
            expected: seq,
            found: seq + 1
        }
    );
    Ok(())
}

#[test]
fn two_entries_swapped_are_named() -> TestResult {
    let state = fixture()?;
    let (seq, path, i) = entry_followed_by_entry(state.path(), 31).ok_or("no pair")?;
    let mut lines = read_lines(&path);
    lines.swap(i, i + 1);
    write_lines(&path, &lines)?;
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        (f.file.clone(), f.line, f.seq),
        (name(&path), i as u64 + 1, Some(seq))
    );
    assert_eq!(
        f.reason,
        Reason::Sequence {
            expected: seq,
            found: seq + 1
        }
    );
    Ok(())
}

#[test]
fn the_tail_truncated_is_named() -> TestResult {
    let state = fixture()?;
    let keep = N - 4;
    let (path, i) = find_entry(state.path(), keep).ok_or("no entry")?;
    let lines = read_lines(&path);
    write_lines(&path, &lines[..=i])?;
    for later in segment_paths(state.path())
        .into_iter()
        .filter(|p| *p > path)
    {
        fs::remove_file(later)?;
    }
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        (f.file.clone(), f.line, f.seq),
        (name(&path), i as u64 + 2, Some(keep + 1))
    );
    assert!(
        matches!(f.reason, Reason::Truncated { head_seq: N, last_seq, .. } if last_seq == keep),
        "{f}"
    );
    Ok(())
}

#[test]
fn the_tail_replaced_by_rehashed_forged_entries_is_caught_by_the_signature() -> TestResult {
    let state = fixture()?;
    let forge_from = N - 6;
    // The last checkpoint before the forgery: everything after it is unproven once forged.
    let mut last_good = 0;
    let mut prev = None;
    for path in segment_paths(state.path()) {
        let mut out = Vec::new();
        for line in read_lines(&path) {
            match parse_line(&line)? {
                Line::Entry(mut e) if e.seq >= forge_from => {
                    e.actor.user = Some("mallory".into());
                    e.prev = prev.unwrap_or(e.prev);
                    e.hash = e.compute_hash();
                    prev = Some(e.hash);
                    let mut l = Vec::new();
                    e.write_line(&mut l)?;
                    l.pop();
                    out.push(l);
                }
                Line::Entry(e) => {
                    prev = Some(e.hash);
                    out.push(line);
                }
                // The forger cannot sign, so drops the checkpoints that no longer match.
                Line::Checkpoint(c) if c.seq >= forge_from => {}
                Line::Checkpoint(c) => {
                    last_good = c.seq;
                    out.push(line);
                }
                Line::Head(_) => return Err("a head in a segment".into()),
            }
        }
        write_lines(&path, &out)?;
    }
    let (path, i) = find_entry(state.path(), N).ok_or("no last entry")?;
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        (f.file.clone(), f.line, f.seq),
        (name(&path), i as u64 + 1, Some(N))
    );
    assert!(
        matches!(f.reason, Reason::CheckpointMismatch { seq: N, first_unverified, .. }
            if first_unverified == last_good + 1 && first_unverified <= forge_from),
        "{f}"
    );
    Ok(())
}

#[test]
fn a_replaced_signing_key_is_caught_by_an_exported_public_key() -> TestResult {
    let state = fixture()?;
    let kept = tempfile::tempdir()?;
    let exported = kept.path().join("audit.pub");
    export_public_key(state.path(), &exported)?;
    let trusted = read_public_key(&exported)?;

    // The attacker re-signs every checkpoint and the head with a key of their own, and puts
    // that key in the state directory.
    let forger = SigningKey::from_bytes(&[66; 32]);
    let mut head = None;
    for path in segment_paths(state.path()) {
        let mut out = Vec::new();
        for line in read_lines(&path) {
            match parse_line(&line)? {
                Line::Checkpoint(c) => {
                    let resigned = Checkpoint::sign(&forger, c.number, c.seq, c.hash, 0);
                    let mut l = Vec::new();
                    resigned.write_line(&mut l)?;
                    l.pop();
                    out.push(l);
                    head = Some(resigned);
                }
                _ => out.push(line),
            }
        }
        write_lines(&path, &out)?;
    }
    let mut bytes = Vec::new();
    head.ok_or("no checkpoint")?.write_head(&mut bytes)?;
    fs::write(audit_dir(state.path()).join(HEAD_FILE), bytes)?;
    let keys = state.path().join("keys");
    fs::write(
        keys.join("audit-ed25519.pub"),
        bulkhead_audit::public_key_text(&forger.verifying_key()),
    )?;

    // Trusting the state directory, the forgery passes: the key itself was replaced.
    assert!(verify(state.path(), None).is_ok());
    // Trusting the exported key, it does not; and the writer refuses to continue it.
    let f = failure_of(verify(state.path(), Some(&trusted)));
    assert_eq!((f.file.as_str(), f.line), (HEAD_FILE, 1), "{f}");
    assert!(matches!(f.reason, Reason::Signature(_)), "{f}");
    assert!(AuditLog::open(state.path(), small()).is_err());
    Ok(())
}

#[test]
fn opening_a_tampered_tail_is_refused() -> TestResult {
    let state = fixture()?;
    let (path, i) = find_entry(state.path(), N - 1).ok_or("no entry")?;
    let mut lines = read_lines(&path);
    let text = String::from_utf8(lines[i].clone())?.replace(":\"user", ":\"usr");
    lines[i] = text.into_bytes();
    write_lines(&path, &lines)?;
    match AuditLog::open(state.path(), small()) {
        Err(OpenError::Tampered { failure, .. }) => {
            assert_eq!((failure.seq, failure.reason), (Some(N - 1), Reason::Hash));
        }
        Err(other) => return Err(format!("wrong refusal: {other}").into()),
        Ok(_) => return Err("a tampered log was continued".into()),
    }
    Ok(())
}

#[test]
fn a_missing_head_or_segment_is_named() -> TestResult {
    let state = fixture()?;
    let head = audit_dir(state.path()).join(HEAD_FILE);
    let saved = fs::read(&head)?;
    fs::remove_file(&head)?;
    assert_eq!(
        failure_of(verify(state.path(), None)).reason,
        Reason::NoHead
    );
    assert!(AuditLog::open(state.path(), small()).is_err());
    fs::write(&head, saved)?;
    let second = segment_paths(state.path())[1].clone();
    fs::remove_file(&second)?;
    let f = failure_of(verify(state.path(), None));
    assert_eq!(
        f.reason,
        Reason::SegmentMissing {
            missing: name(&second)
        }
    );
    Ok(())
}
