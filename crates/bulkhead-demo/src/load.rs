//! `loop URL`: GET a URL back to back until standard input closes, then print what happened
//! (requests that succeeded, failed, and took over a second), for rollout tests and benches.

use crate::client;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A request slower than this is counted as slow (it still succeeded).
const SLOW: Duration = Duration::from_secs(1);
/// At most this many failure messages are kept for the summary.
const KEEP_ERRORS: usize = 5;

/// What a loop did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub slow: u64,
    pub max_ms: u128,
    pub errors: Vec<String>,
}

impl Tally {
    fn record(&mut self, took: Duration, result: Result<u16, String>) {
        self.max_ms = self.max_ms.max(took.as_millis());
        if took > SLOW {
            self.slow += 1;
        }
        match result {
            Ok(status) if (200..300).contains(&status) => self.ok += 1,
            other => {
                self.failed += 1;
                if self.errors.len() < KEEP_ERRORS {
                    self.errors.push(match other {
                        Ok(status) => format!("status {status}"),
                        Err(e) => e,
                    });
                }
            }
        }
    }

    /// `ok=N failed=N slow=N max_ms=N`, then one `error: ...` line per kept failure.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "ok={} failed={} slow={} max_ms={}",
            self.ok, self.failed, self.slow, self.max_ms
        );
        for e in &self.errors {
            out.push_str(&format!("\nerror: {e}"));
        }
        out
    }
}

/// Run the loop: `started` is printed after the first request, the summary once stdin closes.
pub fn run(url: &str) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        watcher.store(true, Ordering::SeqCst);
    });
    let mut tally = Tally::default();
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        let start = Instant::now();
        let result = client::get(url, client::CONNECT_TIMEOUT).map(|r| r.status);
        tally.record(start.elapsed(), result);
        if first {
            first = false;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "started");
            let _ = out.flush();
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_slow_requests_and_keeps_a_few_errors() {
        let mut t = Tally::default();
        t.record(Duration::from_millis(3), Ok(200));
        t.record(Duration::from_millis(1500), Ok(204));
        t.record(Duration::from_millis(2), Ok(502));
        for i in 0..7 {
            t.record(Duration::from_millis(1), Err(format!("refused {i}")));
        }
        assert_eq!((t.ok, t.failed, t.slow, t.max_ms), (2, 8, 1, 1500));
        assert_eq!(t.errors.len(), KEEP_ERRORS);
        let s = t.summary();
        assert!(
            s.starts_with("ok=2 failed=8 slow=1 max_ms=1500\nerror: status 502\n"),
            "{s}"
        );
    }
}
