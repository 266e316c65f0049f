//! Unit tests of the synchronous transactions: what they make of damaged tables.

use super::*;
use crate::open::open_database;

fn sample(project: &str, service: &str, hash: &str) -> Release {
    Release {
        project: project.to_owned(),
        service: service.to_owned(),
        number: 0,
        spec_hash: hash.to_owned(),
        image: "sha256:abc".to_owned(),
        spec: "{}".to_owned(),
        waivers: vec![],
        created_at: "2025-01-01T00:00:00Z".to_owned(),
        created_by: "local".to_owned(),
    }
}

fn store() -> Result<(tempfile::TempDir, Database), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = open_database(&dir.path().join("store.redb"))?;
    Ok((dir, db))
}

fn overwrite(db: &Database, key: &[u8], value: &[u8]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(RELEASES)?.insert(key, value)?;
    txn.commit()?;
    Ok(())
}

fn corrupt_reason(result: Result<impl std::fmt::Debug, OpError>) -> String {
    match result.map_err(|e| e.into_store("test")) {
        Err(StoreError::Corrupt { reason }) => reason,
        other => format!("not Corrupt: {other:?}"),
    }
}

#[test]
fn corrupt_release_json_is_reported_with_its_key() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    record_release(&db, sample("p", "web", "h1"), "local")?;
    overwrite(&db, &release_key("p", "web", 1)?, b"{\"project\": tru")?;
    for reason in [
        corrupt_reason(releases(&db, "p", "web")),
        corrupt_reason(release(&db, "p", "web", 1)),
        corrupt_reason(active(&db, "p")),
        corrupt_reason(record_release(&db, sample("p", "web", "h2"), "local")),
    ] {
        assert!(reason.contains("p/web/00000000000000000001"), "{reason}");
    }
    Ok(())
}

#[test]
fn invalid_utf8_is_corruption_not_a_panic() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    let txn = db.begin_write()?;
    txn.open_table(PROJECTS)?
        .insert(&b"\xff\xfe"[..], &b"\xff"[..])?;
    txn.commit()?;
    let reason = corrupt_reason(list_projects(&db));
    assert!(reason.contains("projects"), "{reason}");
    Ok(())
}

#[test]
fn a_release_stored_under_the_wrong_key_is_corruption() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    let mut other = sample("p", "web", "h");
    other.number = 7;
    overwrite(
        &db,
        &release_key("p", "web", 1)?,
        &serde_json::to_vec(&other)?,
    )?;
    let reason = corrupt_reason(release(&db, "p", "web", 1));
    assert!(reason.contains("release 7"), "{reason}");
    Ok(())
}

#[test]
fn a_dangling_active_pointer_is_corruption() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    let txn = db.begin_write()?;
    txn.open_table(ACTIVE)?
        .insert((&b"p"[..], &b"web"[..]), 3)?;
    txn.commit()?;
    let reason = corrupt_reason(active(&db, "p"));
    assert!(reason.contains("p/web") && reason.contains('3'), "{reason}");
    Ok(())
}

#[test]
fn names_with_nul_are_refused_before_any_write() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    let err =
        record_release(&db, sample("p\0x", "web", "h"), "local").map_err(|e| e.into_store("op"));
    assert!(
        matches!(&err, Err(StoreError::Io { operation: "op", reason }) if reason.contains("NUL")),
        "{err:?}"
    );
    assert!(releases(&db, "p", "web")?.is_empty());
    Ok(())
}

#[test]
fn active_stops_at_the_project_boundary() -> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    record_release(&db, sample("a", "web", "h"), "local")?;
    record_release(&db, sample("ab", "db", "h"), "local")?;
    record_release(&db, sample("a", "db", "h"), "local")?;
    let services: Vec<String> = active(&db, "a")?.into_iter().map(|r| r.service).collect();
    assert_eq!(services, ["db", "web"]);
    delete_project(&db, "a")?;
    assert!(active(&db, "a")?.is_empty());
    assert_eq!(active(&db, "ab")?.len(), 1);
    Ok(())
}

#[test]
fn a_deploy_records_new_keeps_unchanged_and_reactivates_after_down()
-> Result<(), Box<dyn std::error::Error>> {
    let (_dir, db) = store()?;
    let project = bulkhead_ports::ProjectRecord {
        name: "p".into(),
        dir: "/p".into(),
        files: vec!["compose.yaml".into()],
        state: "{}".into(),
    };
    let first = record_deploy(
        &db,
        &project,
        vec![sample("p", "web", "h1"), sample("p", "db", "h1")],
    )?;
    let numbers = |v: &[(Release, bool)]| -> Vec<(String, u64, bool)> {
        v.iter()
            .map(|(r, n)| (r.service.clone(), r.number, *n))
            .collect()
    };
    assert_eq!(
        numbers(&first),
        [("web".into(), 1, true), ("db".into(), 1, true)]
    );
    assert_eq!(get_project(&db, "p")?, Some(project.clone()));
    // web changed, db did not.
    let second = record_deploy(
        &db,
        &project,
        vec![sample("p", "web", "h2"), sample("p", "db", "h1")],
    )?;
    assert_eq!(
        numbers(&second),
        [("web".into(), 2, true), ("db".into(), 1, false)]
    );
    // After down (nothing active), the same spec re-activates its latest release.
    deactivate(&db, "p", &["web".into()])?;
    deactivate(&db, "p", &["db".into()])?;
    let third = record_deploy(
        &db,
        &project,
        vec![sample("p", "web", "h2"), sample("p", "db", "h1")],
    )?;
    assert_eq!(
        numbers(&third),
        [("web".into(), 2, false), ("db".into(), 1, false)]
    );
    assert_eq!(active(&db, "p")?.len(), 2);
    // A name with NUL refuses the whole deploy: nothing of it is written.
    let err = record_deploy(
        &db,
        &project,
        vec![sample("p", "web", "h3"), sample("p", "d\0b", "h")],
    );
    assert!(err.is_err());
    assert_eq!(releases(&db, "p", "web")?.len(), 2, "all or nothing");
    Ok(())
}
