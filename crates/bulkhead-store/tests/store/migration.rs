//! Schema versions: a newer one refused, a version 1 store (written as bulkhead 1 did) and a
//! real version 2 file (tests/fixtures/store-v2.redb, written by the schema-2 code) migrated on
//! open, keeping everything.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bulkhead_core::auth::{Binding, ProjectName, Role, Scope, TokenId};
use bulkhead_core::secrets::{KekId, SealedSecret, SecretName, SecretVersion, WrappedDek};
use bulkhead_ports::{Release, Store, StoreError};
use bulkhead_store::{RedbStore, SCHEMA_VERSION};

use super::{TestResult, account, project, release, user};

#[test]
fn a_newer_schema_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    drop(RedbStore::open(&path)?);
    {
        // The documented layout: table `meta`, key `schema_version`, value u32.
        let meta: redb::TableDefinition<&str, u32> = redb::TableDefinition::new("meta");
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(meta)?
            .insert("schema_version", SCHEMA_VERSION + 1)?;
        txn.commit()?;
    }
    let err = RedbStore::open(&path).err();
    let Some(StoreError::Schema { found, known, .. }) = &err else {
        panic!("expected a schema error, got {err:?}");
    };
    assert_eq!((*found, *known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("upgrade bulkhead"), "{message}");
    Ok(())
}

/// Writes a store as bulkhead with schema 1 did: its three tables with one project, two
/// releases of `web` (the second active), and the version.
fn write_v1_store(path: &Path) -> TestResult {
    let meta: redb::TableDefinition<&str, u32> = redb::TableDefinition::new("meta");
    let projects: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("projects");
    let releases: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("releases");
    let active: redb::TableDefinition<(&[u8], &[u8]), u64> = redb::TableDefinition::new("active");
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    txn.open_table(meta)?.insert("schema_version", 1)?;
    txn.open_table(projects)?
        .insert(&b"shop"[..], serde_json::to_vec(&project())?.as_slice())?;
    {
        let mut table = txn.open_table(releases)?;
        for (number, hash) in [(1u64, "w1"), (2, "w2")] {
            let key = format!("shop\0web\0{number:020}");
            let value = Release {
                number,
                ..release("web", hash)
            };
            table.insert(key.as_bytes(), serde_json::to_vec(&value)?.as_slice())?;
        }
    }
    txn.open_table(active)?
        .insert((&b"shop"[..], &b"web"[..]), 2)?;
    txn.commit()?;
    Ok(())
}

fn read_schema_version(path: &Path) -> Result<Option<u32>, Box<dyn std::error::Error>> {
    use redb::ReadableTable as _;
    let meta: redb::TableDefinition<&str, u32> = redb::TableDefinition::new("meta");
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    let version = txn
        .open_table(meta)?
        .get("schema_version")?
        .map(|v| v.value());
    Ok(version)
}

#[tokio::test]
async fn a_version_1_store_is_migrated_and_keeps_its_releases() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    write_v1_store(&path)?;
    assert_eq!(SCHEMA_VERSION, 5);

    let store = RedbStore::open(&path)?;
    assert_eq!(store.list_projects().await?, vec![project()]);
    let numbers: Vec<u64> = store
        .releases("shop", "web")
        .await?
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(store.active("shop").await?[0].spec_hash, "w2");
    // Schema 4 backfills the activator from the active release's author.
    let by = store.activated_by("shop").await?;
    assert_eq!(by.get("web").map(String::as_str), Some("local"));
    assert!(store.list_users().await?.is_empty());
    // Schema 5 marks every project: its first run looks at every replica a cut-short run of
    // an older bulkhead could have left without its names.
    assert!(store.handover("shop").await?);
    store.add_user(&account("alice")?).await?;
    let (next, _) = store.record_release(release("web", "w3"), "local").await?;
    assert_eq!(next.number, 3);
    drop(store);

    assert_eq!(read_schema_version(&path)?, Some(SCHEMA_VERSION));
    let store = RedbStore::open(&path)?;
    assert_eq!(store.list_users().await?, vec![account("alice")?]);
    Ok(())
}

/// A store written by bulkhead at schema 2 (before secrets): project `shop`, releases 1 and 2
/// of `web` (2 active), user `alice` with token `ci` (id `0707070707070707`) and the binding
/// developer in `shop`.
const V2_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v2.redb");

#[tokio::test]
async fn a_real_version_2_store_is_migrated_and_keeps_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.redb");
    std::fs::copy(V2_FIXTURE, &path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    assert_eq!(read_schema_version(&path)?, Some(2));

    let store = RedbStore::open(&path)?;
    assert_eq!(store.list_projects().await?, vec![project()]);
    let hashes: Vec<String> = store
        .releases("shop", "web")
        .await?
        .into_iter()
        .map(|r| r.spec_hash)
        .collect();
    assert_eq!(hashes, ["w1", "w2"]);
    assert_eq!(store.active("shop").await?[0].number, 2);
    let token_id = TokenId::parse("0707070707070707")?;
    let found = store.lookup_token(&token_id).await?.ok_or("token lost")?;
    assert_eq!(found.user, account("alice")?);
    let shop = ProjectName::new("shop")?;
    assert_eq!(
        found.bindings,
        [Binding {
            user: user("alice")?,
            role: Role::Developer,
            scope: Scope::Project(shop.clone()),
        }]
    );
    assert!(store.list_secrets(&shop).await?.is_empty());
    let name = SecretName::new("db")?;
    assert_eq!(store.next_secret_version(&shop, &name).await?, 1);
    store.put_secret(&sealed_version(&shop, &name, 1)?).await?;
    drop(store);

    assert_eq!(read_schema_version(&path)?, Some(SCHEMA_VERSION));
    let store = RedbStore::open(&path)?;
    let listed = store.list_secrets(&shop).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].versions, [1]);
    assert_eq!(
        store.secret(&shop, &name, 1).await?,
        Some(sealed_version(&shop, &name, 1)?)
    );
    Ok(())
}

/// A secret version with a stand-in sealed value (the store never opens it).
fn sealed_version(
    project: &ProjectName,
    name: &SecretName,
    version: u64,
) -> Result<SecretVersion, Box<dyn std::error::Error>> {
    let dek = WrappedDek {
        kek_id: KekId::parse("0123456789abcdef")?,
        nonce: [1; 12],
        wrapped: vec![2; 48],
    };
    Ok(SecretVersion {
        project: project.clone(),
        name: name.clone(),
        version,
        created_at: 1_700_000_000,
        created_by: "local".to_owned(),
        sealed: SealedSecret::new(dek, [3; 12], vec![4; 40]),
    })
}
