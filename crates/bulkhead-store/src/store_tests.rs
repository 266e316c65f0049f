//! Unit tests of `RedbStore` through the `Store` port.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn release(service: &str, hash: &str) -> Release {
    Release {
        project: "shop".to_owned(),
        service: service.to_owned(),
        number: 99,
        spec_hash: hash.to_owned(),
        image: format!("sha256:{hash}"),
        spec: format!("{{\"hash\":\"{hash}\"}}"),
        waivers: vec![("no-root".to_owned(), "legacy image".to_owned())],
        created_at: "2025-01-01T00:00:00Z".to_owned(),
        created_by: "local".to_owned(),
    }
}

fn project(name: &str) -> ProjectRecord {
    ProjectRecord {
        name: name.to_owned(),
        dir: format!("/srv/{name}"),
        files: vec!["compose.yaml".to_owned()],
        state: "{}".to_owned(),
    }
}

fn temp_store() -> Result<(tempfile::TempDir, RedbStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("store.redb"))?;
    Ok((dir, store))
}

async fn numbers(store: &RedbStore, service: &str) -> Result<Vec<u64>, StoreError> {
    let releases = store.releases("shop", service).await?;
    Ok(releases.iter().map(|r| r.number).collect())
}

#[tokio::test]
async fn projects_round_trip() -> TestResult {
    let (_dir, store) = temp_store()?;
    assert_eq!(store.get_project("shop").await?, None);
    store.put_project(&project("shop")).await?;
    store.put_project(&project("blog")).await?;
    assert_eq!(store.get_project("shop").await?, Some(project("shop")));
    let mut changed = project("shop");
    changed.files.push("compose.prod.yaml".to_owned());
    store.put_project(&changed).await?;
    assert_eq!(store.get_project("shop").await?, Some(changed.clone()));
    assert_eq!(store.list_projects().await?, vec![project("blog"), changed]);
    Ok(())
}

#[tokio::test]
async fn handover_marks_are_set_cleared_and_go_with_the_project() -> TestResult {
    let (_dir, store) = temp_store()?;
    assert!(!store.handover("shop").await?);
    store.set_handover("shop", true).await?;
    store.set_handover("shop", true).await?;
    assert!(store.handover("shop").await?);
    assert!(!store.handover("blog").await?);
    store.set_handover("shop", false).await?;
    store.set_handover("shop", false).await?;
    assert!(!store.handover("shop").await?);
    store.put_project(&project("shop")).await?;
    store.set_handover("shop", true).await?;
    store.delete_project("shop").await?;
    assert!(!store.handover("shop").await?);
    assert!(store.set_handover("sh\0op", true).await.is_err());
    Ok(())
}

#[tokio::test]
async fn releases_round_trip_and_ignore_the_callers_number() -> TestResult {
    let (_dir, store) = temp_store()?;
    let (stored, created) = store.record_release(release("web", "h1"), "local").await?;
    assert!(created);
    assert_eq!(
        stored,
        Release {
            number: 1,
            ..release("web", "h1")
        }
    );
    assert_eq!(store.release("shop", "web", 1).await?, Some(stored.clone()));
    assert_eq!(store.release("shop", "web", 2).await?, None);
    assert_eq!(store.releases("shop", "web").await?, vec![stored.clone()]);
    assert_eq!(store.active("shop").await?, vec![stored]);
    Ok(())
}

#[tokio::test]
async fn numbering_continues_after_a_rollback() -> TestResult {
    let (_dir, store) = temp_store()?;
    for hash in ["h1", "h2", "h3"] {
        store.record_release(release("web", hash), "local").await?;
    }
    let rolled_back = store.activate("shop", "web", 1, "local").await?;
    assert_eq!(rolled_back.spec_hash, "h1");
    assert_eq!(store.active("shop").await?, vec![rolled_back]);
    let (next, created) = store.record_release(release("web", "h4"), "local").await?;
    assert!(created);
    assert_eq!(next.number, 4);
    assert_eq!(numbers(&store, "web").await?, [1, 2, 3, 4]);
    assert_eq!(store.active("shop").await?, vec![next]);
    Ok(())
}

#[tokio::test]
async fn an_unchanged_spec_hash_records_nothing() -> TestResult {
    let (_dir, store) = temp_store()?;
    let (first, _) = store.record_release(release("web", "h1"), "local").await?;
    let (again, created) = store.record_release(release("web", "h1"), "local").await?;
    assert!(!created);
    assert_eq!(again, first);
    assert_eq!(numbers(&store, "web").await?, [1]);
    // Only the *active* hash counts: after a rollback, re-recording h2 is a new release.
    store.record_release(release("web", "h2"), "local").await?;
    store.activate("shop", "web", 1, "local").await?;
    let (back, created) = store.record_release(release("web", "h2"), "local").await?;
    assert!(created);
    assert_eq!(back.number, 3);
    Ok(())
}

#[tokio::test]
async fn services_are_numbered_independently() -> TestResult {
    let (_dir, store) = temp_store()?;
    store.record_release(release("web", "w1"), "local").await?;
    store.record_release(release("web", "w2"), "local").await?;
    let (db, _) = store.record_release(release("db", "d1"), "local").await?;
    assert_eq!(db.number, 1);
    store.activate("shop", "web", 1, "local").await?;
    let active = store.active("shop").await?;
    let summary: Vec<(&str, u64)> = active
        .iter()
        .map(|r| (r.service.as_str(), r.number))
        .collect();
    assert_eq!(summary, [("db", 1), ("web", 1)]);
    assert_eq!(numbers(&store, "db").await?, [1]);
    assert_eq!(numbers(&store, "web").await?, [1, 2]);
    Ok(())
}

#[tokio::test]
async fn activating_a_missing_release_fails() -> TestResult {
    let (_dir, store) = temp_store()?;
    store.record_release(release("web", "h1"), "local").await?;
    let err = store.activate("shop", "web", 2, "local").await;
    assert!(
        matches!(&err, Err(StoreError::NoSuchRelease { project, service, number: 2 })
            if project == "shop" && service == "web"),
        "{err:?}"
    );
    let err = store.activate("shop", "db", 1, "local").await;
    assert!(
        matches!(err, Err(StoreError::NoSuchRelease { .. })),
        "{err:?}"
    );
    assert_eq!(store.active("shop").await?[0].number, 1);
    Ok(())
}

#[tokio::test]
async fn deactivate_forgets_the_pointer_and_keeps_the_releases() -> TestResult {
    let (_dir, store) = temp_store()?;
    store.record_release(release("web", "h1"), "local").await?;
    store.record_release(release("db", "d1"), "local").await?;
    store.deactivate("shop", &["web".into()]).await?;
    store.deactivate("shop", &["nothing".into()]).await?;
    let active = store.active("shop").await?;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].service, "db");
    assert_eq!(numbers(&store, "web").await?, [1]);
    // With no active release, the same hash is recorded again.
    let (again, created) = store.record_release(release("web", "h1"), "local").await?;
    assert!(created);
    assert_eq!(again.number, 2);
    // Several at once, one transaction.
    store
        .deactivate("shop", &["web".into(), "db".into(), "nothing".into()])
        .await?;
    assert!(store.active("shop").await?.is_empty());
    assert_eq!(numbers(&store, "db").await?, [1]);
    Ok(())
}

#[tokio::test]
async fn delete_project_removes_everything_of_that_project_only() -> TestResult {
    let (_dir, store) = temp_store()?;
    store.put_project(&project("shop")).await?;
    store.put_project(&project("shop2")).await?;
    store.record_release(release("web", "h1"), "local").await?;
    store.record_release(release("web", "h2"), "local").await?;
    store.record_release(release("db", "d1"), "local").await?;
    let other = Release {
        project: "shop2".to_owned(),
        ..release("web", "x")
    };
    store.record_release(other, "local").await?;

    store.delete_project("shop").await?;
    assert_eq!(store.get_project("shop").await?, None);
    assert!(store.releases("shop", "web").await?.is_empty());
    assert!(store.active("shop").await?.is_empty());
    assert_eq!(store.list_projects().await?, vec![project("shop2")]);
    assert_eq!(store.active("shop2").await?.len(), 1);
    // Numbering starts over for a re-created project.
    let (fresh, _) = store.record_release(release("web", "h1"), "local").await?;
    assert_eq!(fresh.number, 1);
    Ok(())
}

#[test]
fn outside_a_tokio_runtime_calls_fail_cleanly() -> TestResult {
    let (_dir, store) = temp_store()?;
    let mut future = pin!(store.list_projects());
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(Err(StoreError::Io { operation, reason })) => {
            assert_eq!(operation, "list_projects");
            assert!(reason.contains("Tokio"), "{reason}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn every_activation_records_who_made_it_and_deactivation_forgets_it() -> TestResult {
    let (_dir, store) = temp_store()?;
    let by = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(s, u)| (s.to_string(), u.to_string()))
            .collect()
    };
    let mut authored = release("web", "h1");
    authored.created_by = "ana".to_owned();
    store
        .record_deploy(&project("shop"), vec![authored.clone()])
        .await?;
    assert_eq!(store.activated_by("shop").await?, by(&[("web", "ana")]));
    // An unchanged service deployed again is re-activated by the new deployer.
    let mut again = authored.clone();
    again.created_by = "bo".to_owned();
    store.record_deploy(&project("shop"), vec![again]).await?;
    assert_eq!(store.activated_by("shop").await?, by(&[("web", "bo")]));
    store.record_release(release("web", "h2"), "cy").await?;
    assert_eq!(store.activated_by("shop").await?, by(&[("web", "cy")]));
    store.activate("shop", "web", 1, "dev").await?;
    store.record_release(release("db", "d1"), "ana").await?;
    assert_eq!(
        store.activated_by("shop").await?,
        by(&[("db", "ana"), ("web", "dev")])
    );
    store.deactivate("shop", &["web".into()]).await?;
    assert_eq!(store.activated_by("shop").await?, by(&[("db", "ana")]));
    store.delete_project("shop").await?;
    assert!(store.activated_by("shop").await?.is_empty());
    Ok(())
}
