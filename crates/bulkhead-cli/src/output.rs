//! Writing reports to stdout: a closed pipe (`bulkhead check | head`) ends quietly instead of
//! panicking, as command-line tools do.

use std::io::{self, Write};

/// Write `text` to stdout. A broken pipe is not an error worth reporting; others are returned.
pub fn emit(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Write one JSON document, pretty-printed, with a trailing newline.
pub fn emit_json(value: &serde_json::Value) -> io::Result<()> {
    emit(&format!("{value:#}\n"))
}
