//! Tests of the TLS identity: first start, reuse, renewal, user-supplied files, refusals.

use std::os::unix::fs::PermissionsExt;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn mode(path: &Path) -> std::io::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn first_start_creates_private_files_and_a_second_start_reuses_them() -> TestResult {
    let state = tempfile::tempdir()?;
    let first = load_or_create(state.path(), &[])?;
    let dir = state.path().join(TLS_DIR);
    assert_eq!(
        first.source(),
        &Source::Generated {
            dir: dir.clone(),
            ca_created: true,
            server_issued: true
        }
    );
    assert_eq!(mode(&dir)?, 0o700);
    assert_eq!(mode(&dir.join(CA_KEY_FILE))?, 0o600);
    assert_eq!(mode(&dir.join(SERVER_KEY_FILE))?, 0o600);
    assert!(dir.join(CA_CERT_FILE).is_file() && dir.join(SERVER_CERT_FILE).is_file());
    assert_eq!(std::fs::read_dir(&dir)?.count(), 4, "no temp files left");
    assert_eq!(first.ca_file(), Some(dir.join(CA_CERT_FILE)));
    let ca = files::read_chain(&dir.join(CA_CERT_FILE))?;
    assert_eq!(first.fingerprint(), fingerprint(&ca[0]));
    first.server_config()?;

    let server_pem = std::fs::read(dir.join(SERVER_CERT_FILE))?;
    let second = load_or_create(state.path(), &[])?;
    assert_eq!(second.fingerprint(), first.fingerprint());
    assert!(matches!(
        second.source(),
        Source::Generated {
            ca_created: false,
            server_issued: false,
            ..
        }
    ));
    assert_eq!(std::fs::read(dir.join(SERVER_CERT_FILE))?, server_pem);
    Ok(())
}

#[test]
fn fingerprint_is_upper_case_sha256_pairs() {
    let empty = fingerprint(b"");
    assert!(empty.starts_with("E3:B0:C4:42:98:FC:1C:14:"), "{empty}");
    assert_eq!(empty.len(), 32 * 3 - 1);
}

#[test]
fn a_missing_name_or_a_lost_key_reissues_the_server_cert_under_the_same_ca() -> TestResult {
    let state = tempfile::tempdir()?;
    let first = load_or_create(state.path(), &[])?;
    let more = load_or_create(state.path(), &["api.example.test".to_string()])?;
    assert_eq!(more.fingerprint(), first.fingerprint());
    assert!(matches!(
        more.source(),
        Source::Generated {
            ca_created: false,
            server_issued: true,
            ..
        }
    ));
    let names = subject_names(&["api.example.test".to_string()])?;
    let ca = files::read_chain(&state.path().join(TLS_DIR).join(CA_CERT_FILE))?;
    assert!(issue::fits(&ca[0], more.cert_chain(), &names));

    std::fs::remove_file(state.path().join(TLS_DIR).join(SERVER_KEY_FILE))?;
    let again = load_or_create(state.path(), &[])?;
    assert!(matches!(
        again.source(),
        Source::Generated {
            server_issued: true,
            ..
        }
    ));
    Ok(())
}

#[test]
fn a_world_readable_generated_key_is_refused() -> TestResult {
    let state = tempfile::tempdir()?;
    load_or_create(state.path(), &[])?;
    for file in [CA_KEY_FILE, SERVER_KEY_FILE] {
        let path = state.path().join(TLS_DIR).join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        let err = load_or_create(state.path(), &[])
            .err()
            .ok_or("a world-readable key was accepted")?;
        assert!(matches!(err, TlsError::KeyPermissions { .. }), "{err}");
        assert!(err.to_string().contains(file), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A self-signed certificate for `name`, written as `<name>.pem` and `<name>.key` (0600).
fn user_files(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()])?;
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, certified.cert.pem())?;
    files::write_atomic(
        &key,
        certified.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    Ok((cert, key))
}

#[test]
fn a_user_supplied_cert_replaces_the_generated_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (cert, key) = user_files(dir.path(), "bulkhead.example.test")?;
    let material = load_user(&cert, &key)?;
    assert_eq!(
        material.source(),
        &Source::User {
            cert: cert.clone(),
            key: key.clone()
        }
    );
    assert_eq!(material.ca_file(), None);
    let leaf = files::read_chain(&cert)?;
    assert_eq!(material.fingerprint(), fingerprint(&leaf[0]));
    assert_eq!(material.cert_chain(), &leaf[..]);
    material.server_config()?;
    Ok(())
}

#[test]
fn a_user_key_that_does_not_match_or_is_world_readable_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (cert, _) = user_files(dir.path(), "a.example.test")?;
    let (_, other_key) = user_files(dir.path(), "b.example.test")?;
    let err = load_user(&cert, &other_key)
        .err()
        .ok_or("a mismatched key was accepted")?;
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("a.example.test.pem")
            && err.to_string().contains("b.example.test.key"),
        "{err}"
    );

    let (cert, key) = user_files(dir.path(), "c.example.test")?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604))?;
    let err = load_user(&cert, &key)
        .err()
        .ok_or("a world-readable key was accepted")?;
    assert!(
        matches!(err, TlsError::KeyPermissions { mode: 0o604, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    Ok(())
}
