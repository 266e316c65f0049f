//! Unit tests of the account transactions: what they make of damaged or inconsistent tables.

use bulkhead_core::auth::{Role, Scope, SubjectKind, TokenName, TokenSecret};
use bulkhead_ports::StoreError;

use super::*;
use crate::open::open_database;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn store() -> Result<(tempfile::TempDir, Database), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = open_database(&dir.path().join("store.redb"))?;
    Ok((dir, db))
}

fn user(name: &str) -> Result<UserRecord, Box<dyn std::error::Error>> {
    Ok(UserRecord {
        name: UserName::new(name)?,
        kind: SubjectKind::User,
        created_at: 100,
        disabled: false,
    })
}

fn token(owner: &str, id: u8) -> Result<TokenRecord, Box<dyn std::error::Error>> {
    let secret = TokenSecret::from_random([id; 8], [id; 32]);
    Ok(TokenRecord::new(
        &secret,
        UserName::new(owner)?,
        TokenName::new("laptop")?,
        100,
        None,
    )?)
}

fn corrupt_reason(result: Result<impl std::fmt::Debug, OpError>) -> String {
    match result.map_err(|e| e.into_store("test")) {
        Err(StoreError::Corrupt { reason }) => reason,
        other => format!("not Corrupt: {other:?}"),
    }
}

#[test]
fn a_token_without_its_owner_is_corruption() -> TestResult {
    let (_dir, db) = store()?;
    add_user(&db, &user("alice")?)?;
    let stored = token("alice", 1)?;
    add_token(&db, &stored)?;
    let txn = db.begin_write()?;
    txn.open_table(USERS)?.remove(&b"alice"[..])?;
    txn.commit()?;
    let reason = corrupt_reason(lookup_token(&db, &stored.id));
    assert!(
        reason.contains("does not exist") && reason.contains("alice"),
        "{reason}"
    );
    Ok(())
}

#[test]
fn an_index_entry_without_its_token_is_corruption() -> TestResult {
    let (_dir, db) = store()?;
    add_user(&db, &user("alice")?)?;
    let stored = token("alice", 1)?;
    add_token(&db, &stored)?;
    let txn = db.begin_write()?;
    txn.open_table(TOKENS)?
        .remove(stored.id.as_str().as_bytes())?;
    txn.commit()?;
    for reason in [
        corrupt_reason(list_tokens(&db, Some(&UserName::new("alice")?))),
        corrupt_reason(list_tokens(&db, None)),
    ] {
        assert!(reason.contains(stored.id.as_str()), "{reason}");
    }
    Ok(())
}

#[test]
fn records_under_the_wrong_key_are_corruption() -> TestResult {
    let (_dir, db) = store()?;
    let txn = db.begin_write()?;
    txn.open_table(USERS)?
        .insert(&b"bob"[..], serde_json::to_vec(&user("alice")?)?.as_slice())?;
    let stored = token("alice", 1)?;
    txn.open_table(TOKENS)?.insert(
        &b"0000000000000000"[..],
        serde_json::to_vec(&stored)?.as_slice(),
    )?;
    txn.commit()?;
    let reason = corrupt_reason(get_user(&db, &UserName::new("bob")?));
    assert!(reason.contains("user alice"), "{reason}");
    let reason = corrupt_reason(get_token(&db, &TokenId::parse("0000000000000000")?));
    assert!(reason.contains(stored.id.as_str()), "{reason}");
    Ok(())
}

#[test]
fn a_binding_under_another_key_is_corruption() -> TestResult {
    let (_dir, db) = store()?;
    add_user(&db, &user("alice")?)?;
    let binding = Binding {
        user: UserName::new("alice")?,
        role: Role::Viewer,
        scope: Scope::All,
    };
    let txn = db.begin_write()?;
    txn.open_table(BINDINGS)?.insert(
        (&b"alice"[..], &b"admin\0*"[..]),
        serde_json::to_vec(&binding)?.as_slice(),
    )?;
    txn.commit()?;
    let reason = corrupt_reason(list_bindings(&db, None));
    assert!(reason.contains("alice/admin/*"), "{reason}");
    Ok(())
}

#[test]
fn an_invalid_stored_name_is_corruption_not_a_panic() -> TestResult {
    let (_dir, db) = store()?;
    let txn = db.begin_write()?;
    txn.open_table(USERS)?.insert(
        &b"Bad Name"[..],
        &br#"{"name":"Bad Name","kind":"user","created_at":1,"disabled":false}"#[..],
    )?;
    txn.commit()?;
    let reason = corrupt_reason(list_users(&db));
    assert!(
        reason.contains("users") && reason.contains("not valid"),
        "{reason}"
    );
    Ok(())
}

#[test]
fn a_refused_write_changes_nothing() -> TestResult {
    let (_dir, db) = store()?;
    let err = add_token(&db, &token("ghost", 1)?).map_err(|e| e.into_store("op"));
    assert!(
        matches!(&err, Err(StoreError::NotFound { what: "user", name }) if name == "ghost"),
        "{err:?}"
    );
    assert!(list_tokens(&db, None)?.is_empty());
    Ok(())
}
