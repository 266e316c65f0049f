//! Key rotation: stopped by the caller at each kind of step, SIGKILLed mid-run in a child
//! process, then re-run — every secret stays readable and the old key file goes; with keys from
//! the environment; and a damaged version that keeps its key instead of losing it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bulkhead_app::secrets::{RotationStep, Secrets};
use bulkhead_core::secrets::KekId;
use bulkhead_keys::{EnvKeys, FileKeys, KEK_VAR, KEY_DIR, OLD_KEK_VAR};
use bulkhead_ports::{KeyProvider, Store};
use bulkhead_store::RedbStore;
use zeroize::Zeroizing;

use crate::support::{AnyError, State, TestResult, name, project, swap_sealed};

/// The secrets every rotation test starts from: (project, name, versions).
const SEEDED: [(&str, &str, u64); 4] = [
    ("shop", "db", 3),
    ("shop", "api", 2),
    ("blog", "db", 2),
    ("blog", "smtp", 1),
];
/// Versions in [`SEEDED`].
const SEEDED_VERSIONS: u64 = 8;

fn value(project: &str, secret: &str, version: u64) -> Vec<u8> {
    format!("{project}/{secret}/{version}: value").into_bytes()
}

async fn seed(secrets: &Secrets<RedbStore>) -> TestResult {
    for (p, n, versions) in SEEDED {
        for version in 1..=versions {
            let v = Zeroizing::new(value(p, n, version));
            secrets
                .set(&project(p)?, &name(n)?, v, "alice", version)
                .await?;
        }
    }
    Ok(())
}

/// Every seeded version opens to its value.
async fn all_readable(secrets: &Secrets<RedbStore>) -> TestResult {
    for (p, n, versions) in SEEDED {
        for version in 1..=versions {
            let opened = secrets
                .open_version(&project(p)?, &name(n)?, version)
                .await?;
            assert_eq!(opened.as_slice(), value(p, n, version), "{p}/{n} {version}");
        }
    }
    Ok(())
}

/// The key files in the state directory, by id.
fn key_files(state: &Path) -> Result<Vec<String>, AnyError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(state.join(KEY_DIR))? {
        let file = entry?.file_name().to_string_lossy().into_owned();
        if let Some(id) = file
            .strip_prefix("kek-")
            .and_then(|f| f.strip_suffix(".key"))
        {
            out.push(id.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

async fn current(state: &State) -> Result<KekId, AnyError> {
    Ok(FileKeys::open(state.path())?.current().await?)
}

#[tokio::test]
async fn a_full_rotation_rewraps_everything_and_retires_the_old_key() -> TestResult {
    let state = State::new()?;
    let secrets = state.secrets()?;
    seed(&secrets).await?;
    let old = current(&state).await?;
    let report = secrets.rotate().await?;
    let new = report.kek.clone().ok_or("no key")?;
    assert_ne!(new, old);
    assert!(report.created && !report.interrupted);
    assert_eq!(report.rewrapped, SEEDED_VERSIONS);
    assert_eq!(report.retired, [old]);
    assert!(report.failed.is_empty() && report.kept.is_empty());
    assert_eq!(key_files(state.path())?, [new.to_string()]);
    all_readable(&secrets).await?;
    let v = Zeroizing::new(b"after".to_vec());
    let version = secrets
        .set(&project("shop")?, &name("db")?, v, "bob", 9)
        .await?;
    let info = secrets.versions(&project("shop")?, &name("db")?).await?;
    assert_eq!(
        info.last().map(|i| (i.version, &i.kek_id)),
        Some((version, &new))
    );
    Ok(())
}

/// Runs a rotation that stops at the first step `stop` accepts, drops everything (as a kill
/// would), then re-runs it in a fresh process state and checks the end result.
async fn stop_then_rerun(stop: impl Fn(&RotationStep<'_>) -> bool + Send + Sync) -> TestResult {
    let state = State::new()?;
    let old = {
        let secrets = state.secrets()?;
        seed(&secrets).await?;
        let old = current(&state).await?;
        let report = secrets
            .rotate_with(&mut |step| {
                if stop(&step) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
        assert!(report.interrupted, "{report:?}");
        old
    };
    let secrets = state.secrets()?;
    all_readable(&secrets).await?;
    let report = secrets.rotate().await?;
    assert!(
        !report.interrupted && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(report.retired.contains(&old), "{report:?}");
    let new = report.kek.clone().ok_or("no key")?;
    assert_eq!(key_files(state.path())?, [new.to_string()]);
    all_readable(&secrets).await?;
    drop(secrets);
    all_readable(&state.secrets()?).await
}

#[tokio::test]
async fn stopped_after_some_rewraps_the_rerun_continues() -> TestResult {
    stop_then_rerun(|step| matches!(step, RotationStep::Rewrapped { done: 3, .. })).await
}

#[tokio::test]
async fn stopped_right_after_the_new_key_the_rerun_continues() -> TestResult {
    stop_then_rerun(|step| matches!(step, RotationStep::Created { .. })).await
}

#[tokio::test]
async fn stopped_before_the_old_key_is_retired_the_rerun_finishes() -> TestResult {
    stop_then_rerun(
        |step| matches!(step, RotationStep::Rewrapped { done, total, .. } if done == total),
    )
    .await
}

#[tokio::test]
async fn a_continued_rotation_reports_what_was_already_done() -> TestResult {
    let state = State::new()?;
    let secrets = state.secrets()?;
    seed(&secrets).await?;
    let stopped = secrets
        .rotate_with(&mut |step| match step {
            RotationStep::Rewrapped { done: 5, .. } => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .await?;
    assert_eq!((stopped.created, stopped.rewrapped), (true, 5));
    let report = secrets.rotate().await?;
    assert!(!report.created, "a continued rotation makes no new key");
    assert_eq!(
        (report.rewrapped, report.already_current),
        (SEEDED_VERSIONS - 5, 5)
    );
    assert_eq!(report.kek, stopped.kek);
    assert_eq!(report.retired.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_damaged_version_keeps_its_key_and_is_reported() -> TestResult {
    let state = State::new()?;
    let old = {
        let secrets = state.secrets()?;
        seed(&secrets).await?;
        current(&state).await?
    };
    swap_sealed(&state.store_path(), ("shop", "db", 1), ("blog", "smtp", 1))?;
    let secrets = state.secrets()?;
    let report = secrets.rotate().await?;
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(
        report.failed[0].reason.contains("does not open"),
        "{report:?}"
    );
    assert_eq!(report.kept, std::slice::from_ref(&old));
    assert!(report.retired.is_empty());
    assert!(key_files(state.path())?.contains(&old.to_string()));
    assert_eq!(report.rewrapped, SEEDED_VERSIONS - 2);
    Ok(())
}

/// Not a test on its own: the child of [`a_rotation_killed_midway_is_finished_by_the_next`].
/// Seeded state in `ROTATE_CHILD_STATE`; prints each re-wrap as it is durable.
#[test]
fn rotate_child() -> TestResult {
    let Some(dir) = std::env::var_os("ROTATE_CHILD_STATE") else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let store = Arc::new(RedbStore::open(&Path::new(&dir).join("bulkhead.redb"))?);
    let keys: Arc<dyn KeyProvider> = Arc::new(FileKeys::open(Path::new(&dir))?);
    let secrets = Secrets::new(store, keys);
    let mut out = std::io::stdout();
    runtime.block_on(secrets.rotate_with(&mut |step| {
        if let RotationStep::Rewrapped { done, .. } = step {
            let _ = writeln!(out, "rewrapped {done}");
            let _ = out.flush();
            // Slow enough that the kill lands long before the end.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        ControlFlow::Continue(())
    }))?;
    Ok(())
}

#[tokio::test]
async fn a_rotation_killed_midway_is_finished_by_the_next() -> TestResult {
    const MANY: u64 = 150;
    let state = State::new()?;
    let shop = project("shop")?;
    let old = {
        let secrets = state.secrets()?;
        for i in 0..MANY {
            let v = Zeroizing::new(format!("value {i}").into_bytes());
            secrets
                .set(&shop, &name(&format!("s{i}"))?, v, "alice", i)
                .await?;
        }
        current(&state).await?
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "rotation::rotate_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ROTATE_CHILD_STATE", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut seen = 0;
    for line in BufReader::new(stdout).lines() {
        if line?.starts_with("rewrapped ") {
            seen += 1;
            if seen == 20 {
                break;
            }
        }
    }
    child.kill()?;
    child.wait()?;
    assert_eq!(seen, 20, "the child stopped early");

    // Killed midway: some versions under the new key, the rest still under the old one.
    {
        let store = RedbStore::open(&state.store_path())?;
        let keys = store.wrapped_secret_keys().await?;
        let under_old = keys.iter().filter(|w| w.dek.kek_id == old).count() as u64;
        assert!(
            under_old <= MANY - 20,
            "{under_old} still under the old key"
        );
        assert!(under_old > 0, "the child finished before it was killed");
    }
    let secrets = state.secrets()?;
    let report = secrets.rotate().await?;
    assert!(!report.created && report.failed.is_empty(), "{report:?}");
    assert!(report.already_current >= 20, "{report:?}");
    assert_eq!(report.rewrapped + report.already_current, MANY);
    assert_eq!(report.retired, [old]);
    for i in 0..MANY {
        let opened = secrets
            .open_version(&shop, &name(&format!("s{i}"))?, 1)
            .await?;
        assert_eq!(opened.as_slice(), format!("value {i}").as_bytes());
    }
    Ok(())
}

fn env(pairs: &[(&str, [u8; 32])]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), STANDARD.encode(v)))
        .collect()
}

#[tokio::test]
async fn environment_keys_rotate_with_the_old_key_beside_the_new() -> TestResult {
    let state = State::new()?;
    let with = |pairs: &[(&str, [u8; 32])]| -> Result<Secrets<RedbStore>, AnyError> {
        let keys = EnvKeys::from_env(&env(pairs))?.ok_or("no env keys")?;
        state.secrets_with(Arc::new(keys))
    };
    let (a, b) = ([1u8; 32], [2u8; 32]);
    {
        let secrets = with(&[(KEK_VAR, a)])?;
        seed(&secrets).await?;
        let message = secrets
            .rotate()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains(OLD_KEK_VAR), "{message}");
    }
    assert!(
        !state.path().join(KEY_DIR).exists(),
        "env keys wrote key files"
    );
    {
        let secrets = with(&[(KEK_VAR, b), (OLD_KEK_VAR, a)])?;
        let report = secrets.rotate().await?;
        assert!(!report.created && report.failed.is_empty(), "{report:?}");
        assert_eq!(report.rewrapped, SEEDED_VERSIONS);
        assert_eq!(report.retired, [KekId::of(&a)]);
        // Run again with the old key still set: it is let go, nothing else happens.
        drop(secrets);
        let again = with(&[(KEK_VAR, b), (OLD_KEK_VAR, a)])?;
        let report = again.rotate().await?;
        assert_eq!(
            (report.rewrapped, report.retired.len()),
            (0, 1),
            "{report:?}"
        );
    }
    all_readable(&with(&[(KEK_VAR, b)])?).await?;
    let store = RedbStore::open(&state.store_path())?;
    assert!(
        store
            .wrapped_secret_keys()
            .await?
            .iter()
            .all(|w| w.dek.kek_id == KekId::of(&b))
    );
    Ok(())
}
