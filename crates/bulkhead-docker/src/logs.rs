//! Container logs: stdout and stderr demultiplexed by the engine's frame headers and cut into
//! lines, each stream assembled separately so interleaved partial frames do not mix.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bulkhead_ports::RuntimeError;
use futures_util::StreamExt;

use crate::DockerRuntime;

impl DockerRuntime {
    /// The last `tail` lines (all when `None`) of stdout and stderr, in the engine's order.
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
    lines: Vec<String>,
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
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.lines.push(text(&line[..end]));
        }
    }

    /// The lines, with any unterminated last line of each stream.
    pub(crate) fn finish(mut self) -> Vec<String> {
        for pending in [
            std::mem::take(&mut self.stdout),
            std::mem::take(&mut self.stderr),
        ] {
            if !pending.is_empty() {
                self.lines.push(text(&pending));
            }
        }
        self.lines
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
}
