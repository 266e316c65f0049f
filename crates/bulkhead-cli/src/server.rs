//! `bulkhead server`: logging set up (`tracing`, human text or JSON on stderr, level from
//! BULKHEAD_LOG), the server run until SIGTERM or SIGINT, and the lines scripts read on stdout
//! once it listens (`url:`, `ca-fingerprint:`, `ca-file:`, `uploads:`, `state-dir:` last).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

use bulkhead_app::server::run::{ServerOptions, Started, run};

use crate::args::LogFormat;
use crate::failure::Failure;
use crate::output::emit;

pub struct ServerArgs {
    pub listen: String,
    pub state_dir: Option<PathBuf>,
    pub cert: Option<(PathBuf, PathBuf)>,
    pub log_format: LogFormat,
}

/// Log to stderr with the level from BULKHEAD_LOG (EnvFilter syntax; default `info`).
fn logging(format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("BULKHEAD_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).map_err(|e| {
            Failure::usage(format!("BULKHEAD_LOG={spec:?} is not a valid filter: {e}"))
                .hint("use levels and targets, like `info` or `warn,bulkhead_app=debug`")
        })?,
        _ => EnvFilter::new("info"),
    };
    // A log line that cannot be written (stderr closed: `bulkhead server 2>&1 | head`) is
    // dropped; by default the subscriber would report that with `eprintln!`, which panics.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let installed = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// What scripts read once the server listens.
fn announce(s: &Started) {
    let mut out = format!("url: {}\nca-fingerprint: {}\n", s.url, s.fingerprint);
    if let Some(ca) = &s.ca_file {
        out.push_str(&format!("ca-file: {}\n", ca.display()));
    }
    if let Some(uploads) = &s.uploads {
        out.push_str(&format!("uploads: {}\n", uploads.display()));
    }
    // Last: scripts may wait for it.
    out.push_str(&format!("state-dir: {}\n", s.state_dir.display()));
    if let Err(e) = emit(&out) {
        tracing::warn!("cannot print the server's address: {e}");
    }
    tracing::info!(url = %s.url, state_dir = %s.state_dir.display(), "listening");
}

pub fn serve(args: ServerArgs) -> anyhow::Result<ExitCode> {
    logging(args.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Listen for the signals before anything starts, so that none is missed.
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let shutdown = async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name}: shutting down");
        };
        let env = crate::args::environment();
        let opts = ServerOptions {
            listen: args.listen,
            state_dir: args.state_dir,
            cert: args.cert,
            ..ServerOptions::default()
        };
        run(opts, &env, announce, shutdown)
            .await
            .map_err(|e| Failure::refused(format!("{e:#}")))?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}
