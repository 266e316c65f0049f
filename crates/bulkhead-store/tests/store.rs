//! Integration tests of `RedbStore` as a file: reopening, locking, permissions, surviving a
//! SIGKILL'd writer, accounts end to end (tokens authenticated through the core's
//! `authenticate`); schema refusal and migration (from schema 1, and from a real schema-2
//! file) in `migration`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use bulkhead_core::auth::{
    Binding, Role, Scope, SubjectKind, TokenError, TokenName, TokenRecord, TokenSecret, UserName,
    UserRecord, authenticate,
};
use bulkhead_ports::{ProjectRecord, Release, Store, StoreError};
use bulkhead_store::RedbStore;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The child mode of this binary: set to run [`crash_child`]'s write loop.
const CHILD_ENV: &str = "BULKHEAD_STORE_CHILD";
const CHILD_PATH_ENV: &str = "BULKHEAD_STORE_CHILD_PATH";

fn release(service: &str, hash: &str) -> Release {
    Release {
        project: "shop".to_owned(),
        service: service.to_owned(),
        number: 0,
        spec_hash: hash.to_owned(),
        image: format!("sha256:{hash}"),
        spec: format!("{{\"hash\":\"{hash}\"}}"),
        waivers: vec![],
        created_at: "2025-01-01T00:00:00Z".to_owned(),
        created_by: "local".to_owned(),
    }
}

fn project() -> ProjectRecord {
    ProjectRecord {
        name: "shop".to_owned(),
        dir: "/srv/shop".to_owned(),
        files: vec!["compose.yaml".to_owned()],
        state: "{\"networks\":[]}".to_owned(),
    }
}

fn mode(path: &Path) -> Result<u32, std::io::Error> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test]
async fn reopening_after_drop_keeps_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    let store = RedbStore::open(&path)?;
    store.put_project(&project()).await?;
    for hash in ["w1", "w2", "w3"] {
        store.record_release(release("web", hash), "local").await?;
    }
    store.record_release(release("db", "d1"), "local").await?;
    store.activate("shop", "web", 2, "local").await?;
    let releases = store.releases("shop", "web").await?;
    drop(store);

    let store = RedbStore::open(&path)?;
    assert_eq!(store.list_projects().await?, vec![project()]);
    assert_eq!(store.releases("shop", "web").await?, releases);
    let active: Vec<(String, u64)> = store
        .active("shop")
        .await?
        .into_iter()
        .map(|r| (r.service, r.number))
        .collect();
    assert_eq!(active, [("db".to_owned(), 1), ("web".to_owned(), 2)]);
    let (next, _) = store.record_release(release("web", "w4"), "local").await?;
    assert_eq!(next.number, 4);
    Ok(())
}

#[test]
fn a_second_open_of_the_same_file_is_refused_clearly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    let first = RedbStore::open(&path)?;
    let clone = first.clone();
    let second = RedbStore::open(&path);
    let Err(StoreError::Open { reason, .. }) = &second else {
        panic!("expected an open error, got {second:?}");
    };
    assert!(reason.contains("another bulkhead process"), "{reason}");
    drop(first);
    // A clone still holds the handle, and so the lock.
    assert!(RedbStore::open(&path).is_err());
    drop(clone);
    drop(RedbStore::open(&path)?);
    Ok(())
}

#[test]
fn new_directories_are_0700_and_the_file_0600() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let path = dir.path().join("state").join("bulkhead").join("store.redb");
    drop(RedbStore::open(&path)?);
    assert_eq!(mode(&path)?, 0o600);
    assert_eq!(mode(&dir.path().join("state"))?, 0o700);
    assert_eq!(mode(&dir.path().join("state/bulkhead"))?, 0o700);
    assert_eq!(
        mode(dir.path())?,
        0o755,
        "an existing directory was changed"
    );
    drop(RedbStore::open(&path)?);
    assert_eq!(mode(&path)?, 0o600);
    Ok(())
}

/// Not a test on its own: the write loop of the child process of
/// [`a_killed_writer_loses_no_committed_release`]. Returns at once unless [`CHILD_ENV`] is set.
#[test]
fn crash_child() -> TestResult {
    if std::env::var_os(CHILD_ENV).is_none() {
        return Ok(());
    }
    let path = std::env::var_os(CHILD_PATH_ENV).ok_or("no store path")?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let store = RedbStore::open(Path::new(&path))?;
    let mut out = std::io::stdout().lock();
    runtime.block_on(async {
        for i in 0u64.. {
            let service = if i % 3 == 0 { "db" } else { "web" };
            let hash = format!("{}-{i}", std::process::id());
            let (stored, _) = store
                .record_release(release(service, &hash), "local")
                .await?;
            writeln!(out, "committed {service} {}", stored.number)?;
            out.flush()?;
            if i % 7 == 6 {
                store.activate("shop", "web", 1, "local").await?;
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Runs the child until it has reported `commits` commits, then SIGKILLs it; returns what it
/// reported, per service.
fn run_and_kill_child(
    path: &Path,
    commits: usize,
) -> Result<Vec<(String, u64)>, Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env(CHILD_PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut reported = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Some(rest) = line.strip_prefix("committed ") else {
            continue;
        };
        let (service, number) = rest.split_once(' ').ok_or("bad child line")?;
        reported.push((service.to_owned(), number.parse()?));
        if reported.len() >= commits {
            break;
        }
    }
    // SIGKILL, most likely in the middle of the next commit.
    child.kill()?;
    child.wait()?;
    if reported.len() < commits {
        return Err(format!("the child stopped after {} commits", reported.len()).into());
    }
    Ok(reported)
}

#[tokio::test]
async fn a_killed_writer_loses_no_committed_release() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    let mut highest: BTreeMap<String, u64> = BTreeMap::new();
    for commits in [25, 60, 41] {
        for (service, number) in run_and_kill_child(&path, commits)? {
            let entry = highest.entry(service).or_default();
            *entry = (*entry).max(number);
        }
        let store = RedbStore::open(&path)?;
        for (service, reported) in &highest {
            let numbers: Vec<u64> = store
                .releases("shop", service)
                .await?
                .iter()
                .map(|r| r.number)
                .collect();
            // Every reported number is there, numbered without gaps (at most one more commit,
            // made after the last report, may be there too).
            assert!(
                numbers.len() as u64 >= *reported,
                "{service}: {numbers:?} < {reported}"
            );
            assert!(
                numbers.iter().copied().eq(1..=numbers.len() as u64),
                "{numbers:?}"
            );
        }
        assert_eq!(store.active("shop").await?.len(), 2);
    }
    Ok(())
}

fn user(name: &str) -> Result<UserName, Box<dyn std::error::Error>> {
    Ok(UserName::new(name)?)
}

fn account(name: &str) -> Result<UserRecord, Box<dyn std::error::Error>> {
    Ok(UserRecord {
        name: user(name)?,
        kind: SubjectKind::User,
        created_at: 1_000,
        disabled: false,
    })
}

#[tokio::test]
async fn accounts_survive_a_reopen_and_a_deleted_user_takes_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    let secret = TokenSecret::from_random([1; 8], [2; 32]);
    let token = TokenRecord::new(&secret, user("alice")?, TokenName::new("ci")?, 1_000, None)?;
    let binding = Binding {
        user: user("alice")?,
        role: Role::Developer,
        scope: Scope::All,
    };
    {
        let store = RedbStore::open(&path)?;
        store.add_user(&account("alice")?).await?;
        store.add_token(&token).await?;
        store.add_binding(&binding).await?;
    }
    let store = RedbStore::open(&path)?;
    let found = store.lookup_token(secret.id()).await?.ok_or("token lost")?;
    let subject = authenticate(&secret, &found.token, &found.user, found.bindings, 2_000)?;
    assert_eq!(subject.bindings(), [binding]);

    store.delete_user(&user("alice")?).await?;
    drop(store);
    let store = RedbStore::open(&path)?;
    assert_eq!(store.lookup_token(secret.id()).await?, None);
    assert!(store.list_tokens(None).await?.is_empty());
    assert!(store.list_bindings(None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_found_but_do_not_authenticate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("store.redb"))?;
    store.add_user(&account("alice")?).await?;
    let revoked = TokenSecret::from_random([1; 8], [1; 32]);
    let expiring = TokenSecret::from_random([2; 8], [2; 32]);
    let name = TokenName::new("laptop")?;
    store
        .add_token(&TokenRecord::new(
            &revoked,
            user("alice")?,
            name.clone(),
            1_000,
            None,
        )?)
        .await?;
    store
        .add_token(&TokenRecord::new(
            &expiring,
            user("alice")?,
            name,
            1_000,
            Some(3_000),
        )?)
        .await?;
    store.revoke_token(revoked.id(), 1_500).await?;

    let found = store
        .lookup_token(revoked.id())
        .await?
        .ok_or("token lost")?;
    assert_eq!(found.token.revoked_at, Some(1_500));
    assert!(!found.token.is_usable(2_000));
    let err = authenticate(&revoked, &found.token, &found.user, found.bindings, 2_000);
    assert!(
        matches!(err, Err(TokenError::Revoked { at: 1_500, .. })),
        "{err:?}"
    );

    let found = store
        .lookup_token(expiring.id())
        .await?
        .ok_or("token lost")?;
    assert!(found.token.is_usable(2_999) && !found.token.is_usable(3_000));
    assert!(authenticate(&expiring, &found.token, &found.user, vec![], 2_999).is_ok());
    let err = authenticate(&expiring, &found.token, &found.user, vec![], 3_000);
    assert!(
        matches!(err, Err(TokenError::Expired { at: 3_000, .. })),
        "{err:?}"
    );

    // A disabled account's valid token does not authenticate either.
    let disabled = store.set_user_disabled(&user("alice")?, true).await?;
    let err = authenticate(&expiring, &found.token, &disabled, vec![], 2_000);
    assert!(matches!(err, Err(TokenError::Disabled { .. })), "{err:?}");
    Ok(())
}

#[path = "store/migration.rs"]
mod migration;
