//! Progress reporting: a spinner with the latest step on a terminal, plain `subject: line`
//! lines when piped, nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use bulkhead_ports::Progress;

use crate::output::say;

pub type Reporter = Arc<dyn Fn(Progress) + Send + Sync>;

/// The reporter for this run, and the bar to clear when done (terminal only).
pub fn reporter(quiet: bool) -> (Reporter, Option<ProgressBar>) {
    if quiet {
        return (Arc::new(|_| {}), None);
    }
    if !std::io::stderr().is_terminal() {
        return (
            Arc::new(|p: Progress| say!("{}: {}", p.subject, p.line)),
            None,
        );
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let shown = bar.clone();
    let report = move |p: Progress| {
        // Build output scrolls above the spinner; steps replace its message.
        if p.line.starts_with("Step ")
            || p.line.starts_with("---> ")
            || p.line.starts_with(" ---> ")
        {
            shown.set_message(format!("{}: {}", p.subject, p.line));
        } else {
            shown.println(format!("{}: {}", p.subject, p.line));
            shown.set_message(format!("{}: {}", p.subject, p.line));
        }
    };
    (Arc::new(report), Some(bar))
}
