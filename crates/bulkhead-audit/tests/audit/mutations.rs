//! Random mutations of a closed log — a byte flipped, a line deleted, two lines swapped, a file
//! truncated, a line duplicated — across its segments and head: every mutation that changes the
//! log's content is detected by `verify`, and one that changes nothing is not reported.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use bulkhead_audit::verify;
use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// One closed log of 40 entries over several segments, built once; each case copies it.
fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<tempfile::TempDir> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let state = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
            let options = Options {
                segment_bytes: 2500,
                checkpoint_entries: 7,
                ..small()
            };
            if let Err(e) = append_range(state.path(), 1, 40, options) {
                panic!("fixture: {e}");
            }
            state
        })
        .path()
}

fn copy_state(from: &Path, to: &Path) -> std::io::Result<()> {
    for sub in ["audit", "keys"] {
        fs::create_dir_all(to.join(sub))?;
        for item in fs::read_dir(from.join(sub))? {
            let item = item?;
            if item.file_name() != "writer.lock" {
                fs::copy(item.path(), to.join(sub).join(item.file_name()))?;
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { file: Index, at: Index, xor: u8 },
    Delete { line: Index },
    Swap { a: Index, b: Index },
    Truncate { file: Index, at: Index },
    Duplicate { line: Index, to: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<Index>(), 1u8..=255).prop_map(|(file, at, xor)| Mutation::Flip {
            file,
            at,
            xor
        }),
        any::<Index>().prop_map(|line| Mutation::Delete { line }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap { a, b }),
        (any::<Index>(), any::<Index>()).prop_map(|(file, at)| Mutation::Truncate { file, at }),
        (any::<Index>(), any::<Index>()).prop_map(|(line, to)| Mutation::Duplicate { line, to }),
    ]
}

/// The files a mutation may touch: every segment, then the head.
fn files(state: &Path) -> Vec<PathBuf> {
    let mut all = segment_paths(state);
    all.push(audit_dir(state).join(bulkhead_audit::HEAD_FILE));
    all
}

/// Applies `m`; line mutations work on the log's lines across segments, each line staying in
/// (or moving to) a segment file.
fn apply(state: &Path, m: &Mutation) -> std::io::Result<()> {
    let files = files(state);
    let segments = &files[..files.len() - 1];
    let mut lines: Vec<(usize, Vec<u8>)> = segments
        .iter()
        .enumerate()
        .flat_map(|(f, p)| read_lines(p).into_iter().map(move |l| (f, l)))
        .collect();
    match m {
        Mutation::Flip { file, at, xor } => {
            let path = file.get(&files);
            let mut bytes = fs::read(path)?;
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= xor;
            }
            return fs::write(path, bytes);
        }
        Mutation::Truncate { file, at } => {
            let path = file.get(&files);
            let len = fs::metadata(path)?.len() as usize;
            let cut = at.index(len + 1);
            return fs::OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(cut as u64);
        }
        Mutation::Delete { line } => {
            lines.remove(line.index(lines.len()));
        }
        Mutation::Swap { a, b } => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            let (la, lb) = (lines[a].1.clone(), lines[b].1.clone());
            lines[a].1 = lb;
            lines[b].1 = la;
        }
        Mutation::Duplicate { line, to } => {
            let copy = lines[line.index(lines.len())].1.clone();
            let to = to.index(lines.len() + 1);
            let file = lines.get(to).map_or(segments.len() - 1, |(f, _)| *f);
            lines.insert(to, (file, copy));
        }
    }
    for (f, path) in segments.iter().enumerate() {
        let mine: Vec<Vec<u8>> = lines
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|(_, l)| l.clone())
            .collect();
        write_lines(path, &mine)?;
    }
    Ok(())
}

/// The log's content as values: per segment, each complete line as JSON (or its bytes when it
/// is not JSON) and the bytes after the last newline; the head file as one JSON value. Equal
/// content, equal logs (JSON whitespace around a value is no content).
type Content = (
    Vec<(Vec<Result<serde_json::Value, Vec<u8>>>, Vec<u8>)>,
    Result<serde_json::Value, Vec<u8>>,
);

fn content(state: &Path) -> Content {
    let head = fs::read(audit_dir(state).join(bulkhead_audit::HEAD_FILE)).unwrap_or_default();
    let head = serde_json::from_slice(&head).map_err(|_| head);
    let segments = segment_paths(state)
        .iter()
        .map(|p| {
            let bytes = fs::read(p).unwrap_or_default();
            let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let lines = bytes[..end]
                .split(|&b| b == b'\n')
                .take(bytes[..end].iter().filter(|&&b| b == b'\n').count())
                .map(|l| serde_json::from_slice(l).map_err(|_| l.to_vec()))
                .collect();
            (lines, bytes[end..].to_vec())
        })
        .collect();
    (segments, head)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // The cases are cheap to regenerate; a failure prints its minimal mutation.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_mutation_that_changes_content_is_detected(m in mutation()) {
        let state = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        copy_state(fixture(), state.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let before = content(state.path());
        apply(state.path(), &m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let changed = content(state.path()) != before;
        match verify(state.path(), None) {
            Ok(summary) => prop_assert!(!changed, "{m:?} changed the log undetected: {summary:?}"),
            Err(ReadError::Failed(f)) => prop_assert!(changed, "{m:?} changed nothing, yet: {f}"),
            Err(other) => prop_assert!(false, "{m:?}: verify could not read: {other}"),
        }
    }
}
