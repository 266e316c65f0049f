//! The envelope's tests: round trips, and every tampering — a ciphertext or wrapped key moved
//! to another project, name or version, truncated, flipped, opened with another key or under
//! another key id — fails with its own clear error and returns no plaintext.

use super::*;
use crate::secrets::keys::NONCE_BYTES;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CANARY: &[u8] = b"canary-7f3a-correct-horse-battery-staple";

fn target(
    project: &str,
    name: &str,
    version: u64,
) -> Result<SecretRef, Box<dyn std::error::Error>> {
    Ok(SecretRef {
        project: ProjectName::new(project)?,
        name: SecretName::new(name)?,
        version,
    })
}

fn key(byte: u8) -> Zeroizing<[u8; KEY_BYTES]> {
    Zeroizing::new([byte; KEY_BYTES])
}

fn nonce(byte: u8) -> Nonce {
    [byte; NONCE_BYTES]
}

/// Seals `value` for `at` the way the application does: a data key of its own, wrapped.
fn sealed(
    kek: &Kek,
    dek_byte: u8,
    at: &SecretRef,
    value: &[u8],
) -> Result<SealedSecret, SecretError> {
    let dek = DataKey::from_bytes(key(dek_byte));
    let wrapped = wrap_dek(kek, nonce(dek_byte ^ 0x55), &dek, at)?;
    let ciphertext = seal(&dek, nonce(dek_byte), at, value)?;
    Ok(SealedSecret::new(wrapped, nonce(dek_byte), ciphertext))
}

/// Unwraps and opens in one go.
fn reveal(
    kek: &Kek,
    sealed: &SealedSecret,
    at: &SecretRef,
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let dek = unwrap_dek(kek, &sealed.dek, at)?;
    open(&dek, sealed, at)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_sealed_value_round_trips_and_hides_the_plaintext() -> TestResult {
    let kek = Kek::derive(key(1));
    let at = target("shop", "db-password", 1)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    assert_eq!(stored.ciphertext.len(), CANARY.len() + TAG_BYTES);
    assert_eq!(stored.plaintext_len(), CANARY.len());
    assert!(!contains(&stored.ciphertext, CANARY));
    let json = serde_json::to_vec(&stored)?;
    assert!(!contains(&json, CANARY));
    let back: SealedSecret = serde_json::from_slice(&json)?;
    assert_eq!(back, stored);
    assert_eq!(reveal(&kek, &back, &at)?.as_slice(), CANARY);
    Ok(())
}

#[test]
fn the_stored_form_is_self_describing() -> TestResult {
    let kek = Kek::derive(key(1));
    let stored = sealed(&kek, 2, &target("shop", "db", 1)?, b"x")?;
    let json: serde_json::Value = serde_json::to_value(&stored)?;
    assert_eq!(json["format"], 1);
    assert_eq!(json["cipher"], "aes-256-gcm");
    assert_eq!(json["dek"]["kek_id"], kek.id().as_str());
    for field in ["nonce", "ciphertext"] {
        assert!(json[field].is_string(), "{field}");
    }
    Ok(())
}

#[test]
fn empty_and_oversized_values_are_not_sealed() -> TestResult {
    let dek = DataKey::from_bytes(key(2));
    let at = target("shop", "db", 1)?;
    assert_eq!(seal(&dek, nonce(1), &at, b""), Err(SecretError::Empty));
    let big = vec![7u8; MAX_BIG];
    let err = seal(&dek, nonce(1), &at, &big).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("at most 1 MiB")));
    Ok(())
}

const MAX_BIG: usize = crate::secrets::MAX_SECRET_BYTES + 1;

#[test]
fn a_ciphertext_swapped_between_two_names_does_not_open() -> TestResult {
    let kek = Kek::derive(key(1));
    let db = target("shop", "db", 1)?;
    let api = target("shop", "api-key", 1)?;
    let db_sealed = sealed(&kek, 2, &db, CANARY)?;
    let api_sealed = sealed(&kek, 3, &api, b"other value")?;
    // Whole blobs swapped: the wrapped data key no longer matches its place.
    let err = reveal(&kek, &db_sealed, &api).err();
    assert!(matches!(err, Some(SecretError::Unwrap { .. })), "{err:?}");
    // Only the ciphertexts swapped: the data key opens, the value does not.
    let mut mixed = api_sealed.clone();
    mixed.ciphertext = db_sealed.ciphertext.clone();
    mixed.nonce = db_sealed.nonce;
    let err = reveal(&kek, &mixed, &api).err();
    assert!(matches!(err, Some(SecretError::Open { .. })), "{err:?}");
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("shop/api-key version 1"), "{message}");
    assert!(!message.contains("canary"), "{message}");
    Ok(())
}

#[test]
fn the_wrong_project_name_or_version_does_not_open() -> TestResult {
    let kek = Kek::derive(key(1));
    let at = target("shop", "db", 2)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    let dek = unwrap_dek(&kek, &stored.dek, &at)?;
    for other in [
        target("blog", "db", 2)?,
        target("shop", "dc", 2)?,
        target("shop", "db", 1)?,
    ] {
        let err = unwrap_dek(&kek, &stored.dek, &other).err();
        assert!(
            matches!(err, Some(SecretError::Unwrap { .. })),
            "{other}: {err:?}"
        );
        // Even with the right data key in hand, the value is bound to its place.
        let err = open(&dek, &stored, &other).err();
        assert!(
            matches!(err, Some(SecretError::Open { .. })),
            "{other}: {err:?}"
        );
    }
    Ok(())
}

#[test]
fn the_encoding_of_the_identity_is_unambiguous() -> TestResult {
    // `ab` + `c` and `a` + `bc` concatenate alike; the length prefixes tell them apart.
    let kek = Kek::derive(key(1));
    let left = target("ab", "c", 1)?;
    let right = target("a", "bc", 1)?;
    assert_ne!(value_aad(&left), value_aad(&right));
    let stored = sealed(&kek, 2, &left, CANARY)?;
    assert!(reveal(&kek, &stored, &right).is_err());
    assert_ne!(
        dek_aad(kek.id(), &left)[..DEK_DOMAIN.len()],
        value_aad(&left)[..DEK_DOMAIN.len()]
    );
    Ok(())
}

#[test]
fn a_truncated_blob_fails_clearly() -> TestResult {
    let kek = Kek::derive(key(1));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    for keep in [0, 1, TAG_BYTES, TAG_BYTES + 1, stored.ciphertext.len() - 1] {
        let mut cut = stored.clone();
        cut.ciphertext.truncate(keep);
        let err = reveal(&kek, &cut, &at).err();
        match &err {
            Some(SecretError::Format { reason, .. }) => assert!(reason.contains("truncated")),
            Some(SecretError::Open { .. }) => {}
            other => panic!("kept {keep}: {other:?}"),
        }
    }
    let mut cut = stored.clone();
    cut.dek.wrapped.truncate(WRAPPED_DEK_BYTES - 1);
    let err = reveal(&kek, &cut, &at).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("47 bytes, not 48")));
    Ok(())
}

#[test]
fn every_flipped_bit_is_detected() -> TestResult {
    let kek = Kek::derive(key(1));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 2, &at, b"short value")?;
    for i in 0..stored.ciphertext.len() * 8 {
        let mut bad = stored.clone();
        bad.ciphertext[i / 8] ^= 1 << (i % 8);
        assert!(
            matches!(reveal(&kek, &bad, &at), Err(SecretError::Open { .. })),
            "bit {i}"
        );
    }
    for i in 0..WRAPPED_DEK_BYTES {
        let mut bad = stored.clone();
        bad.dek.wrapped[i] ^= 0x80;
        assert!(matches!(
            reveal(&kek, &bad, &at),
            Err(SecretError::Unwrap { .. })
        ));
    }
    let mut bad = stored.clone();
    bad.nonce[0] ^= 1;
    assert!(matches!(
        reveal(&kek, &bad, &at),
        Err(SecretError::Open { .. })
    ));
    let mut bad = stored;
    bad.dek.nonce[0] ^= 1;
    assert!(matches!(
        reveal(&kek, &bad, &at),
        Err(SecretError::Unwrap { .. })
    ));
    Ok(())
}

#[test]
fn the_wrong_kek_fails_naming_both_ids() -> TestResult {
    let kek = Kek::derive(key(1));
    let other = Kek::derive(key(9));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    let err = reveal(&other, &stored, &at).err();
    let Some(SecretError::WrongKek {
        wrapped_under,
        given,
        ..
    }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((wrapped_under, given), (kek.id(), other.id()));
    // Relabelled to the other key's id, it still does not open under that key.
    let mut relabelled = stored;
    relabelled.dek.kek_id = other.id().clone();
    let err = reveal(&other, &relabelled, &at).err();
    assert!(matches!(err, Some(SecretError::Unwrap { .. })), "{err:?}");
    Ok(())
}

#[test]
fn the_kek_id_is_bound_into_the_wrapping() -> TestResult {
    // The same key bytes under another id (a KMS alias, an edited record) do not open it.
    let kek = Kek::derive(key(1));
    let alias = Kek::with_id(KekId::parse("0123456789abcdef")?, key(1));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    let mut relabelled = stored;
    relabelled.dek.kek_id = alias.id().clone();
    let err = reveal(&alias, &relabelled, &at).err();
    assert!(matches!(err, Some(SecretError::Unwrap { .. })), "{err:?}");
    Ok(())
}

#[test]
fn unknown_formats_and_ciphers_are_refused() -> TestResult {
    let kek = Kek::derive(key(1));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 2, &at, CANARY)?;
    let mut newer = stored.clone();
    newer.format = 2;
    let err = reveal(&kek, &newer, &at).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("format is 2")));
    let mut other = stored;
    other.cipher = "rot13".into();
    let err = reveal(&kek, &other, &at).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("rot13")));
    let bad_nonce = r#"{"kek_id":"0123456789abcdef","nonce":"AAAA","wrapped":""}"#;
    let err = serde_json::from_str::<WrappedDek>(bad_nonce)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("12 bytes")));
    Ok(())
}

#[test]
fn debug_output_carries_no_key_or_value_bytes() -> TestResult {
    let kek = Kek::derive(key(0xAB));
    let at = target("shop", "db", 1)?;
    let stored = sealed(&kek, 0xCD, &at, CANARY)?;
    let shown = format!("{stored:?} {:?} {kek:?}", stored.dek);
    assert!(!shown.contains("canary"), "{shown}");
    assert!(shown.contains("bytes") && !shown.contains('['), "{shown}");
    Ok(())
}
