//! Unit tests of tokens: format, strict parsing, hashing, records and authentication.

use proptest::prelude::*;

use super::*;
use crate::auth::identity::{Role, Scope, SubjectKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ID: [u8; ID_BYTES] = [0, 1, 2, 3, 4, 5, 6, 7];

fn secret_bytes() -> [u8; SECRET_BYTES] {
    let mut bytes = [0u8; SECRET_BYTES];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = 32 + i as u8;
    }
    bytes
}

const SECRET_HEX: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const TEXT: &str =
    "bhk_0001020304050607_202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

fn user(name: &str) -> Result<UserName, Box<dyn std::error::Error>> {
    Ok(UserName::new(name)?)
}

fn record(
    secret: &TokenSecret,
    expires_at: Option<u64>,
) -> Result<TokenRecord, Box<dyn std::error::Error>> {
    Ok(TokenRecord::new(
        secret,
        user("alice")?,
        TokenName::new("laptop")?,
        1_000,
        expires_at,
    )?)
}

#[test]
fn a_token_is_prefix_id_and_secret_in_lowercase_hex() {
    let token = TokenSecret::from_random(ID, secret_bytes());
    assert_eq!(token.id().as_str(), "0001020304050607");
    assert_eq!(token.expose().as_str(), TEXT);
    assert_eq!(TEXT.len(), TOKEN_LEN);
}

#[test]
fn parsing_round_trips() -> TestResult {
    let parsed = TokenSecret::parse(TEXT)?;
    assert_eq!(parsed.id().as_str(), "0001020304050607");
    assert_eq!(parsed.expose().as_str(), TEXT);
    assert!(parsed.hash() == TokenSecret::from_random(ID, secret_bytes()).hash());
    Ok(())
}

#[test]
fn parsing_is_strict_and_never_echoes_the_token() {
    let upper = TEXT.replace("2a2b", "2A2B");
    let no_sep = TEXT.replacen("7_", "7-", 1);
    let wrong_prefix = TEXT.replacen("bhk_", "bhx_", 1);
    let non_hex = TEXT.replacen("2021", "2g21", 1);
    let multibyte = format!("bhk_000102030405060é{}", &TEXT[21..]);
    let cases = [
        ("", "85 characters"),
        (&TEXT[..84], "85 characters"),
        (&format!("{TEXT}0"), "85 characters"),
        (&format!(" {}", &TEXT[1..]), "start with"),
        (&format!("{}\n", &TEXT[..84]), "lowercase hex"),
        (&upper, "lowercase hex"),
        (&no_sep, "followed by"),
        (&wrong_prefix, "start with"),
        (&non_hex, "lowercase hex"),
        (&multibyte, "ASCII"),
    ];
    for (text, why) in cases {
        let err = TokenSecret::parse(text).err().map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("{text:?} parsed"));
        assert!(err.contains(why), "{text:?}: {err}");
        assert!(!err.contains(&SECRET_HEX[..16]), "{err}");
        assert!(!err.contains("0001020304050607"), "{err}");
    }
}

#[test]
fn debug_never_shows_the_secret() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    let debug = format!("{token:?}");
    assert!(debug.contains("0001020304050607"), "{debug}");
    assert!(!debug.contains(&SECRET_HEX[..8]), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    let hash = format!("{:?}", token.hash());
    assert!(hash.len() < 30, "{hash}");
    Ok(())
}

#[test]
fn the_hash_is_domain_separated_and_pinned() -> TestResult {
    // SHA-256("bulkhead api token v1\0" || id || "\0" || secret), computed independently: a change
    // here would lock every stored token out.
    let hash = TokenSecret::parse(TEXT)?.hash();
    assert_eq!(
        hash.to_hex(),
        "dfae79d1358ca85fb00759a267d8dcec01c46583a85ad8272b14572b72782801"
    );
    // The id is part of the hash: the same secret under another id is another hash.
    let other = TokenSecret::from_random([9; ID_BYTES], secret_bytes());
    assert!(other.hash() != hash);
    Ok(())
}

#[test]
fn hashes_round_trip_as_lowercase_hex() -> TestResult {
    let hash = TokenSecret::parse(TEXT)?.hash();
    let json = serde_json::to_string(&hash)?;
    let back: TokenHash = serde_json::from_str(&json)?;
    assert!(back == hash);
    assert!(serde_json::from_str::<TokenHash>(&json.to_uppercase()).is_err());
    assert!(serde_json::from_str::<TokenHash>("\"abcd\"").is_err());
    Ok(())
}

#[test]
fn ids_and_names_are_checked() {
    assert!(TokenId::parse("0001020304050607").is_ok());
    for bad in [
        "",
        "000102030405060",
        "00010203040506070",
        "000102030405060G",
        TEXT,
    ] {
        let err = TokenId::parse(bad).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| !e.contains("0001")),
            "{bad}: {err:?}"
        );
    }
    assert!(TokenName::new("ci deploys (prod)").is_ok());
    assert!(TokenName::new(&"é".repeat(64)).is_ok());
    for bad in ["", "   ", "a\u{1b}[31m", "line\nbreak", &"x".repeat(65)] {
        assert!(TokenName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_record_keeps_the_hash_not_the_secret() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    let json = serde_json::to_string(&record(&token, None)?)?;
    assert!(!json.contains(SECRET_HEX), "{json}");
    assert!(json.contains("dfae79d1"), "{json}");
    let back: TokenRecord = serde_json::from_str(&json)?;
    assert_eq!(back, record(&token, None)?);
    Ok(())
}

#[test]
fn expiry_must_follow_creation() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    for at in [999, 1_000] {
        assert!(matches!(
            record(&token, Some(at)),
            Err(e) if e.to_string().contains("cannot expire")
        ));
    }
    assert!(record(&token, Some(1_001)).is_ok());
    Ok(())
}

#[test]
fn usability_follows_revocation_and_expiry() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    let forever = record(&token, None)?;
    assert!(forever.is_usable(u64::MAX));
    let expiring = record(&token, Some(2_000))?;
    assert!(expiring.is_usable(1_999));
    assert!(!expiring.is_usable(2_000));
    let revoked = TokenRecord {
        revoked_at: Some(1_500),
        ..forever
    };
    assert!(!revoked.is_usable(1_000));
    Ok(())
}

#[test]
fn verify_checks_secret_then_revocation_then_expiry() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    let stored = record(&token, Some(2_000))?;
    assert_eq!(stored.verify(&token, 1_500), Ok(()));
    assert!(matches!(
        stored.verify(&token, 2_000),
        Err(TokenError::Expired { at: 2_000, .. })
    ));

    let mut other_secret = secret_bytes();
    other_secret[31] ^= 1;
    let forged = TokenSecret::from_random(ID, other_secret);
    assert!(matches!(
        stored.verify(&forged, 1_500),
        Err(TokenError::Mismatch { .. })
    ));
    let other_id = TokenSecret::from_random([7; ID_BYTES], secret_bytes());
    assert!(matches!(
        stored.verify(&other_id, 1_500),
        Err(TokenError::Mismatch { .. })
    ));

    let revoked = TokenRecord {
        revoked_at: Some(1_200),
        ..stored
    };
    assert!(matches!(
        revoked.verify(&token, 1_500),
        Err(TokenError::Revoked { at: 1_200, .. })
    ));
    // A wrong secret does not learn that the token was revoked.
    assert!(matches!(
        revoked.verify(&forged, 1_500),
        Err(TokenError::Mismatch { .. })
    ));
    Ok(())
}

#[test]
fn authenticate_builds_the_subject_of_an_enabled_owner() -> TestResult {
    let token = TokenSecret::parse(TEXT)?;
    let stored = record(&token, None)?;
    let alice = UserRecord {
        name: user("alice")?,
        kind: SubjectKind::User,
        created_at: 10,
        disabled: false,
    };
    let binding = Binding {
        user: user("alice")?,
        role: Role::Viewer,
        scope: Scope::All,
    };
    let subject = authenticate(&token, &stored, &alice, vec![binding.clone()], 1_100)?;
    assert_eq!(subject.name().as_str(), "alice");
    assert_eq!(subject.bindings(), std::slice::from_ref(&binding));

    let disabled = UserRecord {
        disabled: true,
        ..alice.clone()
    };
    let err = authenticate(&token, &stored, &disabled, vec![], 1_100);
    assert!(matches!(err, Err(TokenError::Disabled { .. })), "{err:?}");

    let bob = UserRecord {
        name: user("bob")?,
        ..alice.clone()
    };
    let err = authenticate(&token, &stored, &bob, vec![], 1_100);
    assert!(matches!(err, Err(TokenError::WrongOwner { .. })), "{err:?}");

    let foreign = Binding {
        user: user("bob")?,
        ..binding
    };
    let err = authenticate(&token, &stored, &alice, vec![foreign], 1_100);
    assert!(matches!(err, Err(TokenError::Bindings { .. })), "{err:?}");
    Ok(())
}

proptest! {
    #[test]
    fn parse_never_panics_and_accepts_only_canonical_text(text in "\\PC{0,100}") {
        if let Ok(token) = TokenSecret::parse(&text) {
            let shown = token.expose();
            prop_assert_eq!(shown.as_str(), text.as_str());
        }
    }

    #[test]
    fn near_tokens_never_panic(text in "bhk_[0-9a-fA-F_é]{16,17}_?[0-9a-fA-Fé]{60,66}") {
        if let Ok(token) = TokenSecret::parse(&text) {
            let shown = token.expose();
            prop_assert_eq!(shown.as_str(), text.as_str());
        }
    }

    #[test]
    fn every_random_token_round_trips(id in any::<[u8; ID_BYTES]>(), secret in any::<[u8; SECRET_BYTES]>()) {
        let token = TokenSecret::from_random(id, secret);
        let parsed = TokenSecret::parse(&token.expose());
        prop_assert!(parsed.is_ok());
        prop_assert!(parsed.is_ok_and(|p| p.hash() == token.hash()));
    }
}
