//! Every write the CLI makes, to stdout and stderr: a closed pipe (`bulkhead check | head`,
//! `bulkhead up 2>&1 | head -2`) ends that output quietly instead of panicking, as
//! command-line tools do; the command itself carries on and its exit code is its own result.
//! Nothing here uses `println!`/`eprintln!`, which panic when their stream is closed.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout found its reader gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `text` to stdout. A broken pipe is not an error worth reporting (the reader has what
/// it wanted; [`stdout_closed`] says so from then on); others are returned.
pub fn emit(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Whether nobody reads stdout any more: a command that would only print more (`logs -f`)
/// stops.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Write one JSON document, pretty-printed, with a trailing newline.
pub fn emit_json(value: &serde_json::Value) -> io::Result<()> {
    emit(&format!("{value:#}\n"))
}

/// Write one line to stderr. A stderr that cannot be written (closed, full disk) is ignored:
/// there is nowhere left to say so, and the command's work must not stop over it.
pub fn to_stderr(line: fmt::Arguments<'_>) {
    let text = format!("{line}\n");
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `eprintln!` that never panics: [`to_stderr`] with format arguments.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::to_stderr(format_args!($($arg)*))
    };
}
pub(crate) use say;
