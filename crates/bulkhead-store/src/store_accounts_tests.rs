//! Unit tests of `RedbStore`'s accounts through the `Store` port: users, tokens, bindings, and
//! the cascade when a user is removed.

use bulkhead_core::auth::{ProjectName, Role, Scope, SubjectKind, TokenName, TokenSecret};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn temp_store() -> Result<(tempfile::TempDir, RedbStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("store.redb"))?;
    Ok((dir, store))
}

fn name(text: &str) -> Result<UserName, Box<dyn std::error::Error>> {
    Ok(UserName::new(text)?)
}

fn account(text: &str, kind: SubjectKind) -> Result<UserRecord, Box<dyn std::error::Error>> {
    Ok(UserRecord {
        name: name(text)?,
        kind,
        created_at: 1_000,
        disabled: false,
    })
}

fn token_of(owner: &str, seed: u8) -> Result<TokenRecord, Box<dyn std::error::Error>> {
    let secret = TokenSecret::from_random([seed; 8], [seed; 32]);
    Ok(TokenRecord::new(
        &secret,
        name(owner)?,
        TokenName::new("laptop")?,
        1_000,
        Some(5_000),
    )?)
}

fn bind(
    user: &str,
    role: Role,
    project: Option<&str>,
) -> Result<Binding, Box<dyn std::error::Error>> {
    let scope = match project {
        Some(project) => Scope::Project(ProjectName::new(project)?),
        None => Scope::All,
    };
    Ok(Binding {
        user: name(user)?,
        role,
        scope,
    })
}

#[tokio::test]
async fn users_round_trip_and_names_are_unique() -> TestResult {
    let (_dir, store) = temp_store()?;
    let bob = account("bob", SubjectKind::User)?;
    let ci = account("ci", SubjectKind::ServiceAccount)?;
    store.add_user(&ci).await?;
    store.add_user(&bob).await?;
    assert_eq!(store.get_user(&name("bob")?).await?, Some(bob.clone()));
    assert_eq!(store.get_user(&name("nobody")?).await?, None);
    assert_eq!(store.list_users().await?, vec![bob.clone(), ci.clone()]);

    let again = store
        .add_user(&UserRecord {
            created_at: 9,
            ..bob.clone()
        })
        .await;
    assert!(
        matches!(&again, Err(StoreError::Exists { what: "user", name }) if name == "bob"),
        "{again:?}"
    );
    assert_eq!(
        again.err().map(|e| e.to_string()).as_deref(),
        Some("user bob already exists")
    );
    assert_eq!(store.get_user(&name("bob")?).await?, Some(bob.clone()));

    let disabled = store.set_user_disabled(&name("bob")?, true).await?;
    assert!(disabled.disabled);
    assert_eq!(store.get_user(&name("bob")?).await?, Some(disabled));
    let missing = store.set_user_disabled(&name("nobody")?, true).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "user", .. })),
        "{missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn tokens_are_found_by_id_listed_by_owner_and_revoked_once() -> TestResult {
    let (_dir, store) = temp_store()?;
    store
        .add_user(&account("alice", SubjectKind::User)?)
        .await?;
    store.add_user(&account("bob", SubjectKind::User)?).await?;
    let (a1, a2, b1) = (
        token_of("alice", 1)?,
        token_of("alice", 2)?,
        token_of("bob", 3)?,
    );
    for token in [&a2, &b1, &a1] {
        store.add_token(token).await?;
    }
    assert_eq!(store.get_token(&a1.id).await?, Some(a1.clone()));
    assert_eq!(store.get_token(&TokenId::from_bytes([9; 8])).await?, None);
    assert_eq!(
        store.list_tokens(Some(&name("alice")?)).await?,
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(
        store.list_tokens(None).await?,
        vec![a1.clone(), a2.clone(), b1.clone()]
    );

    let duplicate = store.add_token(&a1).await;
    assert!(
        matches!(duplicate, Err(StoreError::Exists { what: "token", .. })),
        "{duplicate:?}"
    );
    let orphan = store.add_token(&token_of("carol", 4)?).await;
    assert!(
        matches!(orphan, Err(StoreError::NotFound { what: "user", .. })),
        "{orphan:?}"
    );

    let revoked = store.revoke_token(&a1.id, 2_000).await?;
    assert_eq!(revoked.revoked_at, Some(2_000));
    let again = store.revoke_token(&a1.id, 3_000).await?;
    assert_eq!(
        again.revoked_at,
        Some(2_000),
        "the first revocation time stays"
    );
    assert_eq!(store.get_token(&a1.id).await?, Some(revoked));
    let missing = store.revoke_token(&TokenId::from_bytes([9; 8]), 1).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "token", .. })),
        "{missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bindings_are_unique_per_user_role_and_scope() -> TestResult {
    let (_dir, store) = temp_store()?;
    store
        .add_user(&account("alice", SubjectKind::User)?)
        .await?;
    store.add_user(&account("bob", SubjectKind::User)?).await?;
    let dev_shop = bind("alice", Role::Developer, Some("shop"))?;
    let dev_blog = bind("alice", Role::Developer, Some("blog"))?;
    let admin = bind("alice", Role::Admin, None)?;
    let project_all = bind("bob", Role::Viewer, Some("all"))?;
    let viewer_all = bind("bob", Role::Viewer, None)?;
    for binding in [&dev_shop, &dev_blog, &admin, &project_all, &viewer_all] {
        assert!(store.add_binding(binding).await?, "{binding:?}");
    }
    assert!(
        !store.add_binding(&dev_shop).await?,
        "a binding was added twice"
    );
    assert_eq!(
        store.list_bindings(Some(&name("alice")?)).await?,
        vec![admin.clone(), dev_blog.clone(), dev_shop.clone()]
    );
    // `all projects` and a project called `all` are two bindings.
    assert_eq!(
        store.list_bindings(Some(&name("bob")?)).await?,
        vec![viewer_all.clone(), project_all.clone()]
    );
    assert_eq!(store.list_bindings(None).await?.len(), 5);

    assert!(store.remove_binding(&dev_shop).await?);
    assert!(!store.remove_binding(&dev_shop).await?);
    assert_eq!(
        store.list_bindings(Some(&name("alice")?)).await?,
        vec![admin, dev_blog]
    );

    let orphan = store.add_binding(&bind("carol", Role::Viewer, None)?).await;
    assert!(
        matches!(orphan, Err(StoreError::NotFound { what: "user", .. })),
        "{orphan:?}"
    );
    Ok(())
}

#[tokio::test]
async fn lookup_token_reads_the_token_its_owner_and_their_bindings() -> TestResult {
    let (_dir, store) = temp_store()?;
    let alice = account("alice", SubjectKind::User)?;
    store.add_user(&alice).await?;
    store
        .add_user(&account("alicia", SubjectKind::User)?)
        .await?;
    let token = token_of("alice", 1)?;
    store.add_token(&token).await?;
    let binding = bind("alice", Role::Viewer, Some("shop"))?;
    store.add_binding(&binding).await?;
    store
        .add_binding(&bind("alicia", Role::Admin, None)?)
        .await?;
    assert_eq!(
        store.lookup_token(&token.id).await?,
        Some(TokenLookup {
            token,
            user: alice,
            bindings: vec![binding],
        })
    );
    assert_eq!(
        store.lookup_token(&TokenId::from_bytes([7; 8])).await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn deleting_a_user_takes_their_tokens_and_bindings_only() -> TestResult {
    let (_dir, store) = temp_store()?;
    for user in ["alice", "alicia"] {
        store.add_user(&account(user, SubjectKind::User)?).await?;
        store.add_binding(&bind(user, Role::Viewer, None)?).await?;
    }
    let (mine, theirs) = (token_of("alice", 1)?, token_of("alicia", 2)?);
    store.add_token(&mine).await?;
    store.add_token(&theirs).await?;

    store.delete_user(&name("alice")?).await?;
    assert_eq!(store.get_user(&name("alice")?).await?, None);
    assert_eq!(store.get_token(&mine.id).await?, None);
    assert_eq!(store.lookup_token(&mine.id).await?, None);
    assert!(store.list_bindings(Some(&name("alice")?)).await?.is_empty());
    assert_eq!(store.list_tokens(None).await?, vec![theirs.clone()]);
    assert_eq!(
        store.list_bindings(None).await?,
        vec![bind("alicia", Role::Viewer, None)?]
    );

    let again = store.delete_user(&name("alice")?).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { what: "user", .. })),
        "{again:?}"
    );
    // A re-created account starts with nothing.
    store
        .add_user(&account("alice", SubjectKind::User)?)
        .await?;
    assert!(store.list_tokens(Some(&name("alice")?)).await?.is_empty());
    assert!(store.list_bindings(Some(&name("alice")?)).await?.is_empty());
    Ok(())
}
