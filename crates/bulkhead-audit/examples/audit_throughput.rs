//! Measures the audit log on this machine (not a test; nothing is asserted): durable appends per
//! second with N concurrent appenders (each waits for its entry to be synced, as an audited API
//! request does), and offline `verify` throughput in MB/s.
//!
//! `cargo run --release -p bulkhead-audit --example audit_throughput -- [ENTRIES_FOR_VERIFY]`,
//! or `... -- fill STATE_DIR ENTRIES` to write a log, and `... -- verify STATE_DIR` to time
//! `verify` alone on an existing one.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_audit::{AuditLog, Options, verify};
use bulkhead_core::audit::{Actor, Outcome, Record, Sha256Digest};
use bulkhead_ports::AuditSink;

fn record(i: u64) -> Record {
    Record {
        actor: Actor {
            user: Some(format!("user{}", i % 50)),
            token_id: Some(format!("tok_{:016x}", i % 97)),
        },
        source: format!("10.0.{}.{}:{}", i % 7, i % 250, 30000 + i % 20000),
        action: "project.read".into(),
        resource: format!("projects/shop/services/s{}", i % 40),
        outcome: Outcome::ok(),
        body_sha256: Some(Sha256Digest::of(&i.to_be_bytes())),
    }
}

/// `appenders` tasks append for `run` (at least `per_task` each); returns (entries, seconds).
async fn load(
    log: &Arc<AuditLog>,
    appenders: u64,
    run: Duration,
) -> Result<(u64, f64), Box<dyn Error>> {
    let sink: Arc<dyn AuditSink> = log.clone();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..appenders {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < run {
                sink.append(record(t * 1_000_000 + n)).await?;
                n += 1;
            }
            Ok::<u64, bulkhead_ports::AuditError>(n)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, dir] if mode == "verify" => {
            for pass in ["first", "second", "third"] {
                time_verify(std::path::Path::new(dir), pass)?;
            }
            return Ok(());
        }
        [mode, dir, entries] if mode == "fill" => {
            let log = Arc::new(AuditLog::open(
                std::path::Path::new(dir),
                Options::default(),
            )?);
            fill(&log, entries.parse()?).await?;
            return Ok(log.close()?);
        }
        _ => {}
    }
    let verify_entries: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(400_000);
    println!("durable appends (each acknowledged after fdatasync), 2 tokio workers:");
    for appenders in [1, 16, 64, 256, 1024] {
        let state = tempfile::tempdir()?;
        let log = Arc::new(AuditLog::open(state.path(), Options::default())?);
        let (n, secs) = load(&log, appenders, Duration::from_secs(2)).await?;
        let stats = log.stats();
        log.close()?;
        println!(
            "  {appenders:>5} appenders: {:>8.0} appends/s  ({n} in {secs:.2} s; {} batches, mean {:.1}, largest {}; {:.2} ms per batch)",
            n as f64 / secs,
            stats.batches,
            n as f64 / stats.batches.max(1) as f64,
            stats.largest_batch,
            secs * 1000.0 / stats.batches.max(1) as f64,
        );
    }

    let state = tempfile::tempdir()?;
    let log = Arc::new(AuditLog::open(state.path(), Options::default())?);
    fill(&log, verify_entries).await?;
    log.close()?;
    for pass in ["first", "second"] {
        time_verify(state.path(), pass)?;
    }
    Ok(())
}

async fn fill(log: &Arc<AuditLog>, entries: u64) -> Result<(), Box<dyn Error>> {
    let mut written = 0;
    while written < entries {
        written += load(log, 1024, Duration::from_millis(500)).await?.0;
    }
    Ok(())
}

fn time_verify(state: &std::path::Path, pass: &str) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let summary = verify(state, None)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verify ({pass} pass): {} entries, {} checkpoints, {:.1} MB in {secs:.3} s = {:.0} MB/s",
        summary.entries,
        summary.checkpoints,
        summary.bytes as f64 / 1e6,
        summary.bytes as f64 / 1e6 / secs
    );
    Ok(())
}
