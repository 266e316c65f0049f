//! Secrets end to end through the real redb store and key files in a temporary state directory:
//! round trips, canaries that must appear nowhere on disk, tampering through the store, bad
//! input, and key rotation interrupted midway — by the caller, and by SIGKILL — then re-run.

#[path = "secrets/support.rs"]
mod support;

#[path = "secrets/rotation.rs"]
mod rotation;

use bulkhead_app::secrets::SecretsError;
use bulkhead_core::secrets::{MAX_SECRET_BYTES, SecretError, SecretName};
use bulkhead_keys::FileKeys;
use bulkhead_ports::KeyError;
use zeroize::Zeroizing;

use support::{CANARY, State, TestResult, files_containing, name, project, swap_sealed};

#[tokio::test]
async fn a_secret_round_trips_and_lists_without_values() -> TestResult {
    let state = State::new()?;
    let secrets = state.secrets()?;
    let (shop, db) = (project("shop")?, name("db")?);
    let value = |v: &[u8]| Zeroizing::new(v.to_vec());
    assert_eq!(
        secrets
            .set(&shop, &db, value(b"first"), "alice", 100)
            .await?,
        1
    );
    assert_eq!(secrets.set(&shop, &db, value(CANARY), "bob", 200).await?, 2);
    assert_eq!(
        secrets
            .set(&shop, &name("api")?, value(b"k"), "bob", 300)
            .await?,
        1
    );

    assert_eq!(
        secrets.open_version(&shop, &db, 1).await?.as_slice(),
        b"first"
    );
    assert_eq!(
        secrets.open_version(&shop, &db, 2).await?.as_slice(),
        CANARY
    );
    let (latest, opened) = secrets.open_latest(&shop, &db).await?;
    assert_eq!((latest, opened.as_slice()), (2, CANARY));
    assert!(secrets.latest_equals(&shop, &db, CANARY).await?);
    assert!(!secrets.latest_equals(&shop, &db, b"first").await?);
    assert!(
        !secrets
            .latest_equals(&shop, &name("never-set")?, b"x")
            .await?
    );

    let listed = secrets.list(&shop).await?;
    let names: Vec<(&str, &[u64], &str)> = listed
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.versions.as_slice(),
                s.created_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("api", &[1][..], "bob"), ("db", &[1, 2][..], "bob")]
    );
    let listing = serde_json::to_string(&listed)?;
    assert!(
        !listing.contains("canary") && !listing.contains("first"),
        "{listing}"
    );
    let versions = secrets.versions(&shop, &db).await?;
    assert_eq!(
        versions.iter().map(|v| v.size).collect::<Vec<_>>(),
        [5, CANARY.len() as u64]
    );
    assert!(matches!(
        secrets.open_version(&shop, &db, 3).await,
        Err(SecretsError::NoSuchVersion { version: 3, .. })
    ));

    assert_eq!(secrets.remove(&shop, &db).await?, 2);
    assert!(matches!(
        secrets.remove(&shop, &db).await,
        Err(SecretsError::NoSuchSecret { .. })
    ));
    assert!(matches!(
        secrets.versions(&shop, &db).await,
        Err(SecretsError::NoSuchSecret { .. })
    ));
    // Numbers are not reused after a removal.
    assert_eq!(
        secrets
            .set(&shop, &db, value(b"again"), "alice", 400)
            .await?,
        3
    );
    Ok(())
}

#[test]
fn operations_are_send_futures() -> TestResult {
    fn send<T: Send>(_: T) {}
    let state = State::new()?;
    let secrets = state.secrets()?;
    let (p, n) = (project("shop")?, name("db")?);
    send(secrets.set(&p, &n, Zeroizing::new(vec![1]), "a", 0));
    send(secrets.list(&p));
    send(secrets.versions(&p, &n));
    send(secrets.remove(&p, &n));
    send(secrets.open_version(&p, &n, 1));
    send(secrets.open_latest(&p, &n));
    send(secrets.latest_equals(&p, &n, b"x"));
    send(secrets.rotate());
    Ok(())
}

#[tokio::test]
async fn the_canary_appears_nowhere_in_the_state_dir() -> TestResult {
    let state = State::new()?;
    {
        let secrets = state.secrets()?;
        for (i, secret) in ["db", "api", "tls.key"].iter().enumerate() {
            let value = Zeroizing::new(CANARY.to_vec());
            secrets
                .set(&project("shop")?, &name(secret)?, value, "alice", i as u64)
                .await?;
        }
        let value = Zeroizing::new(CANARY.to_vec());
        secrets
            .set(&project("shop")?, &name("db")?, value, "alice", 9)
            .await?;
        secrets.rotate().await?;
        assert!(
            secrets
                .latest_equals(&project("shop")?, &name("db")?, CANARY)
                .await?
        );
    }
    let found = files_containing(state.path(), CANARY)?;
    assert!(found.is_empty(), "the canary is on disk in {found:?}");
    Ok(())
}

#[test]
fn the_canary_search_finds_every_form() -> TestResult {
    use base64::Engine as _;
    let dir = tempfile::tempdir()?;
    let misaligned = [&b"xy"[..], CANARY, b"z"].concat();
    let encoded = [
        CANARY.to_vec(),
        hex::encode_upper(CANARY).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&misaligned)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE
            .encode([&b"q"[..], CANARY].concat())
            .into_bytes(),
    ];
    for (i, bytes) in encoded.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("f{i}")),
            [&b"junk "[..], bytes, b" junk"].concat(),
        )?;
    }
    let found = files_containing(dir.path(), CANARY)?;
    let files: std::collections::BTreeSet<_> = found.iter().map(|(path, _)| path).collect();
    assert_eq!(files.len(), encoded.len(), "{found:?}");
    Ok(())
}

#[tokio::test]
async fn sealed_values_swapped_in_the_store_do_not_open() -> TestResult {
    let state = State::new()?;
    let (shop, db, api) = (project("shop")?, name("db")?, name("api")?);
    {
        let secrets = state.secrets()?;
        secrets
            .set(&shop, &db, Zeroizing::new(CANARY.to_vec()), "a", 1)
            .await?;
        secrets
            .set(&shop, &api, Zeroizing::new(b"api value".to_vec()), "a", 2)
            .await?;
        secrets
            .set(&shop, &db, Zeroizing::new(b"db v2".to_vec()), "a", 3)
            .await?;
    }
    // Two names' sealed blobs swapped, and two versions' of one name.
    swap_sealed(&state.store_path(), ("shop", "db", 1), ("shop", "api", 1))?;
    let secrets = state.secrets()?;
    for (secret, version) in [(&db, 1), (&api, 1)] {
        let err = secrets.open_version(&shop, secret, version).await.err();
        let Some(SecretsError::Key(KeyError::Secret(SecretError::Unwrap { target, .. }))) = &err
        else {
            panic!("{secret} {version}: {err:?}");
        };
        assert!(target.contains(&format!("shop/{secret} version {version}")));
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !message.contains("canary") && !message.contains("api value"),
            "{message}"
        );
    }
    drop(secrets);
    swap_sealed(&state.store_path(), ("shop", "db", 2), ("shop", "api", 1))?;
    let secrets = state.secrets()?;
    assert!(secrets.open_version(&shop, &db, 2).await.is_err());
    assert!(secrets.latest_equals(&shop, &db, b"db v2").await.is_err());
    Ok(())
}

#[tokio::test]
async fn another_state_dirs_key_fails_clearly() -> TestResult {
    let state = State::new()?;
    let (shop, db) = (project("shop")?, name("db")?);
    state
        .secrets()?
        .set(&shop, &db, Zeroizing::new(CANARY.to_vec()), "a", 1)
        .await?;
    let elsewhere = tempfile::tempdir()?;
    let foreign = FileKeys::open_or_create(elsewhere.path())?;
    let secrets = state.secrets_with(std::sync::Arc::new(foreign))?;
    let err = secrets.open_version(&shop, &db, 1).await.err();
    assert!(
        matches!(err, Some(SecretsError::Key(KeyError::UnknownKek { .. }))),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() -> TestResult {
    let state = State::new()?;
    let secrets = state.secrets()?;
    let (shop, db) = (project("shop")?, name("db")?);
    let err = secrets
        .set(&shop, &db, Zeroizing::new(Vec::new()), "a", 1)
        .await
        .err();
    assert!(
        matches!(err, Some(SecretsError::Secret(SecretError::Empty))),
        "{err:?}"
    );
    let huge = Zeroizing::new(vec![b'x'; 10 << 20]);
    let message = secrets
        .set(&shop, &db, huge, "a", 1)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("at most 1 MiB"), "{message}");
    let at_limit = Zeroizing::new(vec![b'x'; MAX_SECRET_BYTES]);
    assert_eq!(
        secrets.set(&shop, &name("big")?, at_limit, "a", 1).await?,
        1
    );
    for bad in ["a/b", "../etc", "..", "a\0b", ""] {
        let err = SecretName::new(bad).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("is not valid")), "{bad:?}");
    }
    let listed = secrets.list(&shop).await?;
    assert_eq!(listed.len(), 1, "only `big` was written: {listed:?}");
    Ok(())
}
