//! Unit tests of the secret transactions: numbering (never reused), listings without
//! ciphertexts, the re-wrap compare-and-set, and damaged records.

use bulkhead_core::secrets::{Nonce, SealedSecret};
use bulkhead_ports::StoreError;

use super::*;
use crate::open::open_database;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const KEK_A: &str = "aaaaaaaaaaaaaaaa";
const KEK_B: &str = "bbbbbbbbbbbbbbbb";

fn project(name: &str) -> Result<ProjectName, Box<dyn std::error::Error>> {
    Ok(ProjectName::new(name)?)
}

fn name(text: &str) -> Result<SecretName, Box<dyn std::error::Error>> {
    Ok(SecretName::new(text)?)
}

fn wrapped(kek: &str, byte: u8) -> Result<WrappedDek, Box<dyn std::error::Error>> {
    Ok(WrappedDek {
        kek_id: KekId::parse(kek)?,
        nonce: [byte; 12],
        wrapped: vec![byte; 48],
    })
}

/// A record with a stand-in sealed value of `size` bytes (the store never opens it).
fn version(
    project_name: &str,
    secret: &str,
    number: u64,
    size: usize,
) -> Result<SecretVersion, Box<dyn std::error::Error>> {
    let nonce: Nonce = [number as u8; 12];
    Ok(SecretVersion {
        project: project(project_name)?,
        name: name(secret)?,
        version: number,
        created_at: 1_000 + number,
        created_by: format!("user{number}"),
        sealed: SealedSecret::new(
            wrapped(KEK_A, number as u8)?,
            nonce,
            vec![0x5a; size + TAG_BYTES],
        ),
    })
}

fn store() -> Result<(tempfile::TempDir, Database), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = open_database(&dir.path().join("store.redb"))?;
    Ok((dir, db))
}

fn store_error<T: std::fmt::Debug>(result: Result<T, OpError>) -> String {
    match result.map_err(|e| e.into_store("test")) {
        Err(StoreError::Conflict { reason, .. }) => format!("conflict: {reason}"),
        Err(StoreError::Corrupt { reason }) => format!("corrupt: {reason}"),
        other => format!("unexpected: {other:?}"),
    }
}

#[test]
fn versions_are_numbered_in_order_and_only_the_next_is_accepted() -> TestResult {
    let (_dir, db) = store()?;
    let (shop, db_name) = (project("shop")?, name("db")?);
    assert_eq!(next_secret_version(&db, &shop, &db_name)?, 1);
    put_secret(&db, &version("shop", "db", 1, 10)?)?;
    put_secret(&db, &version("shop", "db", 2, 10)?)?;
    assert_eq!(next_secret_version(&db, &shop, &db_name)?, 3);
    let again = store_error(put_secret(&db, &version("shop", "db", 2, 99)?));
    assert!(
        again.contains("conflict: version 2") && again.contains("next version is 3"),
        "{again}"
    );
    let skip = store_error(put_secret(&db, &version("shop", "db", 5, 10)?));
    assert!(skip.starts_with("conflict"), "{skip}");
    // The refused writes changed nothing.
    let versions = secret_versions(&db, &shop, &db_name)?;
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.size))
            .collect::<Vec<_>>(),
        [(1, 10), (2, 10)]
    );
    assert_eq!(
        latest_secret(&db, &shop, &db_name)?.map(|s| s.version),
        Some(2)
    );
    assert_eq!(
        secret(&db, &shop, &db_name, 1)?,
        Some(version("shop", "db", 1, 10)?)
    );
    assert_eq!(secret(&db, &shop, &db_name, 3)?, None);
    Ok(())
}

#[test]
fn a_removed_secret_keeps_its_numbers_used() -> TestResult {
    let (_dir, db) = store()?;
    let (shop, db_name) = (project("shop")?, name("db")?);
    put_secret(&db, &version("shop", "db", 1, 4)?)?;
    put_secret(&db, &version("shop", "db", 2, 4)?)?;
    put_secret(&db, &version("shop", "db2", 1, 4)?)?;
    assert_eq!(remove_secret(&db, &shop, &db_name)?, 2);
    assert_eq!(remove_secret(&db, &shop, &db_name)?, 0);
    assert_eq!(latest_secret(&db, &shop, &db_name)?, None);
    assert!(secret_versions(&db, &shop, &db_name)?.is_empty());
    // `db2` shares the prefix `db` and is untouched.
    assert_eq!(secret_versions(&db, &shop, &name("db2")?)?.len(), 1);
    // A new `db` is version 3: a release that pinned version 1 or 2 never gets its value.
    assert_eq!(next_secret_version(&db, &shop, &db_name)?, 3);
    assert!(put_secret(&db, &version("shop", "db", 1, 4)?).is_err());
    put_secret(&db, &version("shop", "db", 3, 4)?)?;
    Ok(())
}

#[test]
fn listings_group_by_name_and_stop_at_the_project() -> TestResult {
    let (_dir, db) = store()?;
    put_secret(&db, &version("shop", "db", 1, 7)?)?;
    put_secret(&db, &version("shop", "db", 2, 8)?)?;
    put_secret(&db, &version("shop", "api", 1, 9)?)?;
    put_secret(&db, &version("shop2", "db", 1, 1)?)?;
    put_secret(&db, &version("sho", "db", 1, 1)?)?;
    let listed = list_secrets(&db, &project("shop")?)?;
    let summary: Vec<(&str, &[u64], u64, u64, &str)> = listed
        .iter()
        .map(|s| {
            let name = s.name.as_str();
            (
                name,
                s.versions.as_slice(),
                s.latest,
                s.created_at,
                s.created_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("api", &[1][..], 1, 1_001, "user1"),
            ("db", &[1, 2][..], 2, 1_002, "user2")
        ]
    );
    assert!(list_secrets(&db, &project("blog")?)?.is_empty());
    let info = secret_versions(&db, &project("shop")?, &name("api")?)?;
    assert_eq!(info[0].size, 9);
    assert_eq!(info[0].kek_id.as_str(), KEK_A);
    Ok(())
}

#[test]
fn rewrap_is_a_compare_and_set_that_keeps_the_ciphertext() -> TestResult {
    let (_dir, db) = store()?;
    put_secret(&db, &version("shop", "db", 1, 5)?)?;
    put_secret(&db, &version("blog", "db", 1, 5)?)?;
    let all = wrapped_secret_keys(&db)?;
    assert_eq!(all.len(), 2);
    let target = all[1].target.clone();
    assert_eq!(target.to_string(), "shop/db version 1");
    let (a, b) = (KekId::parse(KEK_A)?, KekId::parse(KEK_B)?);
    let new = wrapped(KEK_B, 0xee)?;
    assert_eq!(rewrap_secret(&db, &target, &a, &new)?, Rewrapped::Replaced);
    assert_eq!(
        rewrap_secret(&db, &target, &a, &wrapped(KEK_B, 0x11)?)?,
        Rewrapped::NotUnder { found: b }
    );
    let stored = secret(&db, &target.project, &target.name, 1)?.ok_or("lost")?;
    assert_eq!(stored.sealed.dek, new);
    assert_eq!(
        stored.sealed.ciphertext,
        version("shop", "db", 1, 5)?.sealed.ciphertext
    );
    remove_secret(&db, &target.project, &target.name)?;
    assert_eq!(rewrap_secret(&db, &target, &a, &new)?, Rewrapped::Gone);
    Ok(())
}

#[test]
fn a_record_under_another_key_or_mangled_is_corruption() -> TestResult {
    let (_dir, db) = store()?;
    let (shop, db_name) = (project("shop")?, name("db")?);
    put_secret(&db, &version("shop", "db", 1, 5)?)?;
    put_secret(&db, &version("shop", "db", 2, 5)?)?;
    // Swap the two records: each now sits under the other's key.
    let one = encode("secrets", &version("shop", "db", 1, 5)?)?;
    let two = encode("secrets", &version("shop", "db", 2, 5)?)?;
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(SECRETS)?;
        table.insert(secret_key(&shop, &db_name, 1).as_slice(), two.as_slice())?;
        table.insert(secret_key(&shop, &db_name, 2).as_slice(), one.as_slice())?;
    }
    txn.commit()?;
    for reason in [
        store_error(secret(&db, &shop, &db_name, 1)),
        store_error(latest_secret(&db, &shop, &db_name)),
        store_error(secret_versions(&db, &shop, &db_name)),
        store_error(list_secrets(&db, &shop)),
        store_error(wrapped_secret_keys(&db)),
    ] {
        assert!(
            reason.starts_with("corrupt") && reason.contains("shop/db/0000"),
            "{reason}"
        );
    }
    let txn = db.begin_write()?;
    txn.open_table(SECRETS)?.insert(
        secret_key(&shop, &db_name, 1).as_slice(),
        &b"{\"project\":"[..],
    )?;
    txn.commit()?;
    let reason = store_error(secret(&db, &shop, &db_name, 1));
    assert!(reason.contains("invalid JSON"), "{reason}");
    Ok(())
}
