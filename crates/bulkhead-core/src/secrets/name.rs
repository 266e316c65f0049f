//! Secret names (`[A-Za-z0-9][A-Za-z0-9._-]{0,62}`, never a path) and the bounds on a value:
//! not empty, at most [`MAX_SECRET_BYTES`]; and the constant-time comparison of two values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::SecretError;

/// Longest secret name.
pub const MAX_NAME_LEN: usize = crate::names::SECRET.max_len;
/// Largest secret value: 1 MiB.
pub const MAX_SECRET_BYTES: usize = 1 << 20;

/// A secret's name within its project. It becomes a file name under `/run/secrets/`, so it is
/// never empty and never holds `/`, `..` or NUL: `[A-Za-z0-9][A-Za-z0-9._-]{0,62}` without
/// `..`, checked by [`crate::names::SECRET`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    pub fn new(name: &str) -> Result<SecretName, SecretError> {
        crate::names::SECRET
            .check(name)
            .map_err(|reason| SecretError::BadName {
                name: name.to_owned(),
                reason,
            })?;
        Ok(SecretName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretError;
    fn try_from(name: String) -> Result<SecretName, SecretError> {
        SecretName::new(&name)
    }
}

impl From<SecretName> for String {
    fn from(name: SecretName) -> String {
        name.0
    }
}

impl FromStr for SecretName {
    type Err = SecretError;
    fn from_str(name: &str) -> Result<SecretName, SecretError> {
        SecretName::new(name)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Refuses an empty value and one over [`MAX_SECRET_BYTES`]; the error names the limit and
/// the size, never the bytes.
pub fn check_value(value: &[u8]) -> Result<(), SecretError> {
    if value.is_empty() {
        return Err(SecretError::Empty);
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            size: value.len(),
            limit: MAX_SECRET_BYTES,
        });
    }
    Ok(())
}

/// Whether two values are equal, in time that depends on their lengths only (not on where
/// they differ).
pub fn value_equals(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_are_accepted() {
        for name in [
            "db",
            "DB_PASSWORD",
            "tls.key",
            "a",
            "9-lives",
            "a.b-c_d",
            &"x".repeat(63),
        ] {
            assert_eq!(SecretName::new(name).map(String::from), Ok(name.to_owned()));
        }
    }

    #[test]
    fn paths_and_bad_names_are_refused_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("a/b", "`/`"),
            ("/etc", "`/`"),
            ("..", "`..`"),
            ("a..b", "`..`"),
            ("a\0b", "NUL"),
            (".env", "start with"),
            ("-x", "start with"),
            ("a b", "only letters"),
            ("é", "start with"),
            ("a:b", "only letters"),
        ];
        for (name, reason) in cases {
            let err = SecretName::new(name).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(reason)),
                "{name:?}: {err:?}"
            );
        }
        let long = "x".repeat(64);
        let err = SecretName::new(&long).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("longer than 63")));
    }

    #[test]
    fn a_nul_is_shown_escaped_not_raw() {
        let err = SecretName::new("a\0b").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("a\\0b") && !e.contains('\0')));
    }

    #[test]
    fn names_deserialize_through_validation() {
        assert!(serde_json::from_str::<SecretName>("\"db\"").is_ok());
        assert!(serde_json::from_str::<SecretName>("\"../x\"").is_err());
    }

    #[test]
    fn values_are_bounded_and_the_limit_is_named() {
        assert_eq!(check_value(b""), Err(SecretError::Empty));
        assert_eq!(check_value(b"x"), Ok(()));
        assert_eq!(check_value(&vec![0; MAX_SECRET_BYTES]), Ok(()));
        let err = check_value(&vec![0; 10 << 20]).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("at most 1 MiB") && e.contains("10485760")),
            "{err:?}"
        );
    }

    #[test]
    fn equality_is_plain_equality() {
        assert!(value_equals(b"abc", b"abc"));
        assert!(!value_equals(b"abc", b"abd"));
        assert!(!value_equals(b"abc", b"abcd"));
        assert!(value_equals(b"", b""));
    }
}
