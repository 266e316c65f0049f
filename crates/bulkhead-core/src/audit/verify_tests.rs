//! Unit tests of the verifier: an intact log, then one tampering per rule, each named by entry,
//! file and line.

use ed25519_dalek::SigningKey;

use super::*;
use crate::audit::{Actor, Entry, Outcome, OutcomeKind, Record};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn record(i: u64) -> Record {
    Record {
        actor: Actor {
            user: Some(format!("user{}", i % 3)),
            token_id: Some(format!("tok{}", i % 5)),
        },
        source: "127.0.0.1:1".into(),
        action: "deploy.create".into(),
        resource: format!("projects/p{i}"),
        outcome: if i.is_multiple_of(4) {
            Outcome::new(OutcomeKind::Denied, Some("rbac"), Some("viewer"))
        } else {
            Outcome::ok()
        },
        body_sha256: i
            .is_multiple_of(2)
            .then(|| Sha256Digest::of(&i.to_be_bytes())),
    }
}

/// A log as the writer makes it: genesis, `n` entries, a checkpoint after every `every`
/// entries and at the end; returns its lines and the head (the last checkpoint).
fn log(k: &SigningKey, n: u64, every: u64) -> (Vec<Vec<u8>>, Checkpoint) {
    let mut lines = Vec::new();
    let push_cp = |lines: &mut Vec<Vec<u8>>, cp: &Checkpoint| {
        let mut l = Vec::new();
        assert!(cp.write_line(&mut l).is_ok());
        l.pop();
        lines.push(l);
    };
    let mut head = Checkpoint::genesis(k, 0);
    push_cp(&mut lines, &head);
    let mut prev = Sha256Digest::ZERO;
    for seq in 1..=n {
        let e = Entry::seal(record(seq), seq, seq * 10, prev);
        prev = e.hash;
        let mut l = Vec::new();
        assert!(e.write_line(&mut l).is_ok());
        l.pop();
        lines.push(l);
        if seq.is_multiple_of(every) || seq == n {
            head = Checkpoint::sign(k, head.number + 1, seq, prev, seq * 10 + 1);
            push_cp(&mut lines, &head);
        }
    }
    (lines, head)
}

fn run(k: &SigningKey, lines: &[Vec<u8>], head: Option<&Checkpoint>) -> Result<Summary, Failure> {
    let mut v = Verifier::new(&k.verifying_key());
    if let Some(h) = head {
        v = v.with_head(h.clone(), "head.json")?;
    }
    v.begin_file("a.jsonl");
    for l in lines {
        v.feed(l)?;
    }
    v.finish()
}

/// The line index (0-based) of entry `seq` in a log made by [`log`].
fn index_of(lines: &[Vec<u8>], seq: u64) -> usize {
    let needle = format!("{{\"seq\":{seq},");
    lines
        .iter()
        .position(|l| l.starts_with(needle.as_bytes()))
        .unwrap_or(usize::MAX)
}

fn rewrite(line: &[u8], edit: impl FnOnce(&mut Entry)) -> Vec<u8> {
    let Ok(Line::Entry(mut e)) = crate::audit::parse_line(line) else {
        return b"not an entry".to_vec();
    };
    edit(&mut e);
    let mut out = Vec::new();
    assert!(e.write_line(&mut out).is_ok());
    out.pop();
    out
}

use crate::audit::Line;

#[test]
fn an_intact_log_is_summed_up() -> Result<(), Failure> {
    let k = key(1);
    let (lines, head) = log(&k, 25, 10);
    let s = run(&k, &lines, Some(&head))?;
    assert_eq!((s.entries, s.checkpoints, s.last_seq), (25, 4, 25));
    assert_eq!((s.signed_seq, s.unsigned, s.torn_tail), (25, 0, 0));
    assert_eq!(s.lines, 29);
    assert_eq!(
        s.bytes,
        lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>()
    );
    assert_eq!(s.head.as_ref(), Some(&head));
    assert_eq!(s.last_checkpoint.as_ref(), Some(&head));
    Ok(())
}

#[test]
fn an_empty_log_is_its_genesis() -> Result<(), Failure> {
    let k = key(1);
    let (lines, head) = log(&k, 0, 10);
    let s = run(&k, &lines, Some(&head))?;
    assert_eq!(
        (s.entries, s.checkpoints, s.last_seq, s.signed_seq),
        (0, 1, 0, 0)
    );
    Ok(())
}

#[test]
fn entries_after_the_last_checkpoint_are_counted_unsigned() -> Result<(), Failure> {
    let k = key(1);
    let (mut lines, _) = log(&k, 25, 10);
    lines.pop(); // the final checkpoint (at 25): a crash before it was written
    let (_, head20) = log(&k, 20, 10);
    let s = run(&k, &lines, Some(&head20))?;
    assert_eq!((s.last_seq, s.signed_seq, s.unsigned), (25, 20, 5));
    Ok(())
}

fn expect(
    result: Result<Summary, Failure>,
    line: u64,
    seq: Option<u64>,
    reason: impl Fn(&Reason) -> bool,
) {
    match result {
        Ok(s) => panic!("tampering not detected: {s:?}"),
        Err(f) => {
            assert!(reason(&f.reason), "wrong reason: {f}");
            assert_eq!((f.line, f.seq), (line, seq), "wrong place: {f}");
        }
    }
}

#[test]
fn an_edited_entry_is_named() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 7);
    let text = String::from_utf8_lossy(&lines[i]).replace("projects/p7", "projects/p8");
    lines[i] = text.into_bytes();
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(7), |r| {
        *r == Reason::Hash
    });
}

#[test]
fn an_edited_prev_breaks_the_chain() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 12);
    lines[i] = rewrite(&lines[i], |e| {
        e.prev = Sha256Digest::of(b"x");
        e.hash = e.compute_hash();
    });
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(12), |r| {
        *r == Reason::Chain { prev_seq: 11 }
    });
}

#[test]
fn a_deleted_entry_is_named() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 4);
    lines.remove(i);
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(4), |r| {
        *r == Reason::Sequence {
            expected: 4,
            found: 5,
        }
    });
}

#[test]
fn swapped_entries_are_named() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 14);
    lines.swap(i, i + 1);
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(14), |r| {
        *r == Reason::Sequence {
            expected: 14,
            found: 15,
        }
    });
}

#[test]
fn a_duplicated_entry_is_named() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 3);
    let dup = lines[i].clone();
    lines.insert(i + 1, dup);
    expect(run(&k, &lines, Some(&head)), i as u64 + 2, Some(4), |r| {
        *r == Reason::Sequence {
            expected: 4,
            found: 3,
        }
    });
}

#[test]
fn a_truncated_tail_contradicts_the_head() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let i = index_of(&lines, 22);
    lines.truncate(i);
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(22), |r| {
        *r == Reason::Truncated {
            number: 4,
            head_seq: 25,
            last_seq: 21,
        }
    });
}

#[test]
fn a_rehashed_tail_with_its_checkpoint_lines_kept_is_caught_by_them() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    forge_from(&mut lines, 13);
    // Checkpoint 3 (after entry 20) still signs the original entry 20.
    let cp = index_of(&lines, 20) + 1;
    expect(run(&k, &lines, Some(&head)), cp as u64 + 1, Some(20), |r| {
        matches!(
            r,
            Reason::CheckpointMismatch {
                number: 3,
                seq: 20,
                first_unverified: 11,
                ..
            }
        )
    });
}

#[test]
fn a_rehashed_tail_without_checkpoint_lines_is_caught_by_the_head() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    forge_from(&mut lines, 22);
    lines.pop(); // the final checkpoint line, which no longer matches
    let i = index_of(&lines, 25);
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, Some(25), |r| {
        matches!(
            r,
            Reason::CheckpointMismatch {
                number: 4,
                seq: 25,
                first_unverified: 21,
                ..
            }
        )
    });
}

/// Rewrites the actor of every entry from `from` on, re-hashing the chain (a forger without
/// the signing key).
fn forge_from(lines: &mut [Vec<u8>], from: u64) {
    let mut prev = None;
    for l in lines.iter_mut() {
        let Ok(Line::Entry(e)) = crate::audit::parse_line(l) else {
            continue;
        };
        if e.seq < from {
            prev = Some(e.hash);
            continue;
        }
        *l = rewrite(l, |e| {
            e.actor.user = Some("mallory".into());
            e.prev = prev.unwrap_or(e.prev);
            e.hash = e.compute_hash();
            prev = Some(e.hash);
        });
    }
}

#[test]
fn a_deleted_checkpoint_line_is_named() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let cp2 = index_of(&lines, 10) + 1;
    lines.remove(cp2);
    let cp3 = index_of(&lines, 20) + 1;
    expect(
        run(&k, &lines, Some(&head)),
        cp3 as u64 + 1,
        Some(20),
        |r| {
            *r == Reason::CheckpointOrder {
                expected: 2,
                found: 3,
            }
        },
    );
    let (mut lines, head) = log(&k, 25, 10);
    lines.pop();
    match run(&k, &lines, Some(&head)) {
        Err(f) => {
            assert_eq!(f.file, "head.json");
            assert_eq!(f.reason, Reason::HeadNotInLog { number: 4, seq: 25 });
        }
        Ok(s) => panic!("not detected: {s:?}"),
    }
}

#[test]
fn forged_and_foreign_checkpoints_are_refused() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let cp2 = index_of(&lines, 10) + 1;
    let sig_at = lines[cp2].len() - 10;
    lines[cp2][sig_at] = if lines[cp2][sig_at] == b'0' {
        b'1'
    } else {
        b'0'
    };
    expect(
        run(&k, &lines, Some(&head)),
        cp2 as u64 + 1,
        Some(10),
        |r| {
            matches!(
                r,
                Reason::Signature(CheckpointError::BadSignature { number: 2 })
            )
        },
    );

    let other = key(2);
    let (lines, head) = log(&other, 5, 10);
    let (_, trusted_head) = log(&k, 5, 10);
    expect(run(&k, &lines, None), 1, Some(0), |r| {
        matches!(
            r,
            Reason::Signature(CheckpointError::UnknownKey { number: 1, .. })
        )
    });
    match run(&k, &lines, Some(&head)) {
        Err(f) => assert_eq!((f.file.as_str(), f.line), ("head.json", 1), "{f}"),
        Ok(s) => panic!("foreign head accepted: {s:?}"),
    }
    // The trusted key's own head over a log signed by another key: the lines fail.
    assert!(run(&k, &lines, Some(&trusted_head)).is_err());
}

#[test]
fn a_moved_checkpoint_is_misplaced() {
    let k = key(1);
    let (mut lines, head) = log(&k, 25, 10);
    let cp2 = index_of(&lines, 10) + 1;
    lines.swap(cp2, cp2 + 1); // now after entry 11
    expect(
        run(&k, &lines, Some(&head)),
        cp2 as u64 + 2,
        Some(10),
        |r| {
            *r == Reason::CheckpointMisplaced {
                number: 2,
                signed: 10,
                follows: 11,
            }
        },
    );
}

#[test]
fn bad_lines_say_where_in_the_chain_they_are() {
    let k = key(1);
    let (mut lines, head) = log(&k, 5, 10);
    let i = index_of(&lines, 3);
    lines[i].truncate(20);
    expect(run(&k, &lines, Some(&head)), i as u64 + 1, None, |r| {
        matches!(r, Reason::Line { after_seq: 2, .. })
    });
    let (mut lines, head) = log(&k, 5, 10);
    let mut h = Vec::new();
    assert!(head.write_head(&mut h).is_ok());
    h.pop();
    lines.insert(2, h);
    expect(run(&k, &lines, Some(&head)), 3, None, |r| {
        *r == Reason::HeadInSegment
    });
}

#[test]
fn a_conflicting_head_is_refused() {
    let k = key(1);
    let (lines, head) = log(&k, 25, 10);
    let other = Checkpoint::sign(&k, head.number, head.seq, head.hash, 999_999);
    match run(&k, &lines, Some(&other)) {
        Err(f) => assert_eq!(f.reason, Reason::HeadConflict { number: 4 }, "{f}"),
        Ok(s) => panic!("not detected: {s:?}"),
    }
}

#[test]
fn resume_continues_after_a_checkpoint_across_files() -> Result<(), Failure> {
    let k = key(1);
    let (lines, head) = log(&k, 25, 10);
    let cp3_at = index_of(&lines, 20) + 1;
    let Ok(Line::Checkpoint(cp3)) = crate::audit::parse_line(&lines[cp3_at]) else {
        panic!("no checkpoint after entry 20");
    };
    let mut v = Verifier::resume(&k.verifying_key(), cp3, "a.jsonl", 24)?
        .with_head(head.clone(), "head.json")?;
    v.begin_file("b.jsonl");
    for l in &lines[cp3_at + 1..] {
        v.feed(l)?;
    }
    v.torn_tail(7);
    let s = v.finish()?;
    assert_eq!(
        (s.entries, s.checkpoints, s.last_seq, s.torn_tail),
        (5, 1, 25, 7)
    );

    // The same, with a forged continuation: named in the second file.
    let mut v = Verifier::resume(
        &k.verifying_key(),
        {
            let Ok(Line::Checkpoint(c)) = crate::audit::parse_line(&lines[cp3_at]) else {
                panic!("no checkpoint");
            };
            c
        },
        "a.jsonl",
        24,
    )?;
    v.begin_file("b.jsonl");
    let forged = rewrite(&lines[cp3_at + 2], |e| e.resource = "x".into());
    v.feed(&lines[cp3_at + 1])?;
    let f = v.feed(&forged).err();
    assert_eq!(
        f.map(|f| f.to_string()),
        Some(
            "b.jsonl:2: entry 22: the entry does not match its hash (its content was changed)"
                .into()
        )
    );
    Ok(())
}

#[test]
fn failures_render_as_one_sentence() {
    let f = Failure {
        file: "audit-000001.jsonl".into(),
        line: 0,
        seq: None,
        reason: Reason::NoHead,
    };
    assert_eq!(
        f.to_string(),
        "audit-000001.jsonl: there is no signed head, so removal of the tail could not be ruled out"
    );
}
