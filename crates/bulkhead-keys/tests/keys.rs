//! Integration tests of `FileKeys` on a real directory: creation and reuse, permissions, damaged
//! or exposed key files refused with their path, the states a kill can leave, and rotation's
//! primitives (create, wrap under either key, retire).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::{DataKey, KekId, SecretName, SecretRef};
use bulkhead_keys::{CURRENT_FILE, FileKeys, KEY_DIR, KeysError, key_file_name};
use bulkhead_ports::{KeyError, KeyProvider};
use zeroize::Zeroizing;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn mode(path: &Path) -> std::io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

fn target() -> Result<SecretRef, Box<dyn std::error::Error>> {
    Ok(SecretRef {
        project: ProjectName::new("shop")?,
        name: SecretName::new("db")?,
        version: 1,
    })
}

fn dek() -> DataKey {
    DataKey::from_bytes(Zeroizing::new([0x42; 32]))
}

fn only_key_file(dir: &Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "key") {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        other => Err(format!("expected one key file, found {other:?}").into()),
    }
}

#[tokio::test]
async fn the_first_key_is_created_private_and_then_reused() -> TestResult {
    let state = tempfile::tempdir()?;
    let keys = FileKeys::open_or_create(state.path())?;
    let id = keys.current().await?;
    let dir = state.path().join(KEY_DIR);
    assert_eq!(mode(&dir)?, 0o700);
    let file = dir.join(key_file_name(&id));
    assert_eq!(only_key_file(&dir)?, file);
    assert_eq!(mode(&file)?, 0o600);
    assert_eq!(mode(&dir.join(CURRENT_FILE))?, 0o600);
    assert_eq!(
        fs::read_to_string(dir.join(CURRENT_FILE))?,
        format!("{id}\n")
    );
    let text = fs::read_to_string(&file)?;
    assert_eq!(text.len(), 45, "base64 of 32 bytes and a newline");
    let wrapped = keys.wrap(&id, &dek(), &target()?).await?;
    drop(keys);

    let again = FileKeys::open_or_create(state.path())?;
    assert_eq!(again.current().await?, id);
    assert_eq!(again.list().await?, std::slice::from_ref(&id));
    let unwrapped = again.unwrap(&wrapped, &target()?).await?;
    assert_eq!(unwrapped.expose(), dek().expose());
    let opened = FileKeys::open(state.path())?;
    assert_eq!(opened.current().await?, id);
    Ok(())
}

#[test]
fn open_without_keys_says_so() -> TestResult {
    let state = tempfile::tempdir()?;
    let err = FileKeys::open(state.path()).err();
    assert!(matches!(err, Some(KeysError::NoKeys { .. })), "{err:?}");
    Ok(())
}

#[test]
fn an_exposed_key_file_is_refused_with_its_path() -> TestResult {
    let state = tempfile::tempdir()?;
    let id = KekId::parse(&fs_current(state.path())?)?;
    let file = state.path().join(KEY_DIR).join(key_file_name(&id));
    for open_mode in [0o644, 0o640, 0o604] {
        fs::set_permissions(&file, fs::Permissions::from_mode(open_mode))?;
        let err = FileKeys::open(state.path()).err().map(|e| e.to_string());
        let message = err.unwrap_or_default();
        assert!(
            message.contains(&file.display().to_string()) && message.contains("600"),
            "{message}"
        );
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600))?;
    FileKeys::open(state.path())?;
    fs::set_permissions(
        state.path().join(KEY_DIR),
        fs::Permissions::from_mode(0o755),
    )?;
    let err = FileKeys::open(state.path()).err();
    assert!(
        matches!(err, Some(KeysError::Exposed { mode: 0o755, .. })),
        "{err:?}"
    );
    Ok(())
}

/// Creates the keys of `state` and returns the current id as written in `kek-current`.
fn fs_current(state: &Path) -> Result<String, Box<dyn std::error::Error>> {
    drop(FileKeys::open_or_create(state)?);
    Ok(fs::read_to_string(state.join(KEY_DIR).join(CURRENT_FILE))?
        .trim()
        .to_owned())
}

#[test]
fn a_key_file_that_is_not_32_bytes_is_refused_with_its_path() -> TestResult {
    let state = tempfile::tempdir()?;
    let id = KekId::parse(&fs_current(state.path())?)?;
    let file = state.path().join(KEY_DIR).join(key_file_name(&id));
    for (content, says) in [
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "31 bytes"),
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
            "36 bytes",
        ),
        ("", "0 bytes"),
        ("this is not base64 at all\n", "not base64"),
    ] {
        fs::write(&file, content)?;
        let message = FileKeys::open(state.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains(&file.display().to_string()) && message.contains(says),
            "{content:?}: {message}"
        );
    }
    Ok(())
}

#[test]
fn a_renamed_or_replaced_key_file_is_refused() -> TestResult {
    let state = tempfile::tempdir()?;
    let id = KekId::parse(&fs_current(state.path())?)?;
    let dir = state.path().join(KEY_DIR);
    let other = KekId::parse("0123456789abcdef")?;
    fs::rename(
        dir.join(key_file_name(&id)),
        dir.join(key_file_name(&other)),
    )?;
    let err = FileKeys::open(state.path()).err();
    assert!(
        matches!(&err, Some(KeysError::IdMismatch { named, found, .. }) if named == &other && found == &id),
        "{err:?}"
    );
    fs::rename(
        dir.join(key_file_name(&other)),
        dir.join(key_file_name(&id)),
    )?;
    fs::write(dir.join(CURRENT_FILE), format!("{other}\n"))?;
    let message = FileKeys::open(state.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains(&key_file_name(&other)), "{message}");
    fs::write(dir.join(CURRENT_FILE), "nonsense\n")?;
    assert!(matches!(
        FileKeys::open(state.path()),
        Err(KeysError::Malformed { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_kill_before_kek_current_is_recovered_or_refused() -> TestResult {
    let state = tempfile::tempdir()?;
    let id = KekId::parse(&fs_current(state.path())?)?;
    let dir = state.path().join(KEY_DIR);
    // The first key written, `kek-current` not yet: the one key is adopted.
    fs::remove_file(dir.join(CURRENT_FILE))?;
    let keys = FileKeys::open(state.path())?;
    assert_eq!(keys.current().await?, id);
    assert_eq!(
        fs::read_to_string(dir.join(CURRENT_FILE))?.trim(),
        id.as_str()
    );
    // Two keys and no `kek-current`: ambiguous, refused.
    let second = keys.create().await?;
    drop(keys);
    fs::remove_file(dir.join(CURRENT_FILE))?;
    let err = FileKeys::open(state.path()).err();
    assert!(
        matches!(err, Some(KeysError::NoCurrent { count: 2, .. })),
        "{err:?}"
    );
    fs::write(dir.join(CURRENT_FILE), format!("{second}\n"))?;
    fs::set_permissions(dir.join(CURRENT_FILE), fs::Permissions::from_mode(0o600))?;
    // A temporary file from a killed write is removed, never loaded.
    fs::write(
        dir.join(format!(".{}.tmp.99", key_file_name(&second))),
        "junk",
    )?;
    let keys = FileKeys::open(state.path())?;
    assert_eq!(keys.current().await?, second);
    assert_eq!(keys.list().await?.len(), 2);
    assert!(
        !dir.join(format!(".{}.tmp.99", key_file_name(&second)))
            .exists()
    );
    Ok(())
}

#[tokio::test]
async fn a_new_key_becomes_current_and_the_old_one_is_retired() -> TestResult {
    let state = tempfile::tempdir()?;
    let keys = FileKeys::open_or_create(state.path())?;
    let old = keys.current().await?;
    let under_old = keys.wrap(&old, &dek(), &target()?).await?;
    let new = keys.create().await?;
    assert_ne!(new, old);
    assert_eq!(keys.current().await?, new);
    let mut listed = keys.list().await?;
    listed.sort();
    let mut expected = vec![old.clone(), new.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    // Both unwrap; the new one wraps.
    assert!(keys.unwrap(&under_old, &target()?).await.is_ok());
    let under_new = keys.wrap(&new, &dek(), &target()?).await?;
    assert_eq!(under_new.kek_id, new);
    assert!(matches!(
        keys.retire(&new).await,
        Err(KeyError::RetireCurrent { .. })
    ));
    keys.retire(&old).await?;
    assert!(!keys.key_path(&old).exists());
    assert!(matches!(
        keys.unwrap(&under_old, &target()?).await,
        Err(KeyError::UnknownKek { .. })
    ));
    drop(keys);
    let keys = FileKeys::open(state.path())?;
    assert_eq!(keys.list().await?, [new]);
    Ok(())
}

#[tokio::test]
async fn other_files_in_the_key_directory_are_left_alone() -> TestResult {
    let state = tempfile::tempdir()?;
    let dir = state.path().join(KEY_DIR);
    fs::create_dir(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    fs::write(dir.join("audit-ed25519.key"), "not ours")?;
    let keys = FileKeys::open_or_create(state.path())?;
    assert_eq!(keys.list().await?.len(), 1);
    assert_eq!(
        fs::read_to_string(dir.join("audit-ed25519.key"))?,
        "not ours"
    );
    Ok(())
}
