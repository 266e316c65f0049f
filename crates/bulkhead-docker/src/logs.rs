//! Container logs: stdout and stderr demultiplexed by the engine's frame headers and cut into
//! lines, each stream assembled separately so interleaved partial frames do not mix. What is
//! kept is bounded, whatever a container wrote: the last [`MAX_LINES`] lines, at most
//! [`MAX_BYTES`] in all, none longer than [`MAX_LINE_BYTES`].

use std::collections::VecDeque;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bulkhead_ports::RuntimeError;
use futures_util::StreamExt;

use crate::DockerRuntime;

/// The most lines one read keeps (the last ones).
pub const MAX_LINES: usize = 10_000;
/// The most bytes of lines one read keeps (the last ones).
pub const MAX_BYTES: usize = 8 << 20;
/// A longer line is cut into pieces of this size.
pub const MAX_LINE_BYTES: usize = 64 << 10;

impl DockerRuntime {
    /// The last `tail` lines (all when `None`, within the bounds of the module doc) of stdout
    /// and stderr, in the engine's order.
    pub(crate) async fn container_logs(
        &self,
        id: &str,
        tail: Option<usize>,
    ) -> Result<Vec<String>, RuntimeError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let mut frames = self.docker.logs(id, Some(options));
        let mut lines = Lines::default();
        while let Some(frame) = frames.next().await {
            lines.push(frame.map_err(self.fail("read container logs", "container", id))?);
        }
        Ok(lines.finish())
    }
}

/// Splits frames into lines; a line may span frames (the engine cuts long lines at 16 KiB).
#[derive(Debug, Default)]
pub(crate) struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    lines: VecDeque<String>,
    bytes: usize,
}

impl Lines {
    pub(crate) fn push(&mut self, frame: LogOutput) {
        let (pending, message) = match frame {
            LogOutput::StdErr { message } => (&mut self.stderr, message),
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => (&mut self.stdout, message),
        };
        pending.extend_from_slice(&message);
        let mut done = Vec::new();
        loop {
            match pending.iter().position(|b| *b == b'\n') {
                Some(end) if end <= MAX_LINE_BYTES => {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    done.push(text(&line[..end]));
                }
                _ if pending.len() > MAX_LINE_BYTES => {
                    let piece: Vec<u8> = pending.drain(..MAX_LINE_BYTES).collect();
                    done.push(text(&piece));
                }
                _ => break,
            }
        }
        for line in done {
            self.keep(line);
        }
    }

    /// Keep `line`, dropping the oldest ones past the bounds.
    fn keep(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > MAX_LINES || self.bytes > MAX_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// The lines, with any unterminated last line of each stream.
    pub(crate) fn finish(mut self) -> Vec<String> {
        for pending in [
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        ] {
            if !pending.is_empty() {
                self.keep(text(&pending));
            }
        }
        self.lines.into()
    }
}

fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> LogOutput {
        LogOutput::StdOut {
            message: s.as_bytes().to_vec().into(),
        }
    }

    fn err(s: &str) -> LogOutput {
        LogOutput::StdErr {
            message: s.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn assembles_lines_per_stream() {
        let mut lines = Lines::default();
        lines.push(out("one\ntw"));
        lines.push(err("oops\r\n"));
        lines.push(out("o\nthree"));
        lines.push(err("half"));
        assert_eq!(lines.finish(), ["one", "oops", "two", "three", "half"]);
    }

    #[test]
    fn keeps_empty_lines() {
        let mut lines = Lines::default();
        lines.push(out("a\n\nb\n"));
        assert_eq!(lines.finish(), ["a", "", "b"]);
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let mut lines = Lines::default();
        // One line with no end, longer than a line may be: cut into pieces.
        lines.push(out(&"x".repeat(MAX_LINE_BYTES * 2 + 5)));
        // More lines than are kept: the oldest go.
        for i in 0..MAX_LINES + 10 {
            lines.push(out(&format!("line {i}\n")));
        }
        let kept = lines.finish();
        assert_eq!(kept.len(), MAX_LINES);
        assert_eq!(kept.first().map(String::as_str), Some("line 10"));
        assert!(kept.iter().all(|l| l.len() <= MAX_LINE_BYTES));
        let mut big = Lines::default();
        for _ in 0..(MAX_BYTES / MAX_LINE_BYTES) + 4 {
            big.push(out(&format!("{}\n", "y".repeat(MAX_LINE_BYTES))));
        }
        let kept = big.finish();
        assert!(kept.iter().map(String::len).sum::<usize>() <= MAX_BYTES);
    }
}
