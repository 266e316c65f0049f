//! Key material: data keys (one per secret version) and key-encryption keys, both 256 bits,
//! zeroed on drop and never printed; and the public id of a key-encryption key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SecretError;

/// Bytes of every key: AES-256.
pub const KEY_BYTES: usize = 32;
/// Bytes of an AES-GCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Hex characters of a [`KekId`].
pub const KEK_ID_LEN: usize = 16;

/// A 96-bit AES-GCM nonce. Random, from the caller; never reused under one key.
pub type Nonce = [u8; NONCE_BYTES];

/// The data key of one secret version: random, used for that version only. Zeroed on drop;
/// `Debug` shows nothing of it.
pub struct DataKey(Zeroizing<[u8; KEY_BYTES]>);

impl DataKey {
    /// A data key from random bytes the caller drew (core has no RNG).
    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_BYTES]>) -> DataKey {
        DataKey(bytes)
    }

    /// The key bytes, for the AEAD.
    pub fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A key-encryption key with its id. Zeroed on drop; `Debug` shows the id only.
pub struct Kek {
    id: KekId,
    bytes: Zeroizing<[u8; KEY_BYTES]>,
}

impl Kek {
    /// A key whose id is derived from it ([`KekId::of`]): file and environment keys.
    pub fn derive(bytes: Zeroizing<[u8; KEY_BYTES]>) -> Kek {
        Kek {
            id: KekId::of(&bytes),
            bytes,
        }
    }

    /// A key with an id given by whoever holds it (a KMS names its keys itself).
    pub fn with_id(id: KekId, bytes: Zeroizing<[u8; KEY_BYTES]>) -> Kek {
        Kek { id, bytes }
    }

    pub fn id(&self) -> &KekId {
        &self.id
    }

    /// The key bytes, for the AEAD.
    pub fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.bytes
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek({}, <redacted>)", self.id)
    }
}

/// The public name of a key-encryption key: 16 lowercase hex characters. For keys Bulkhead
/// makes, the first 16 hex digits of SHA-256 of the key (64 bits of a hash of a 256-bit
/// random key: it names the key and reveals nothing usable about it).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KekId(String);

impl KekId {
    pub fn of(key: &[u8; KEY_BYTES]) -> KekId {
        let digest = Sha256::digest(key);
        let mut id = hex::encode(digest);
        id.truncate(KEK_ID_LEN);
        KekId(id)
    }

    pub fn parse(given: &str) -> Result<KekId, SecretError> {
        let ok = given.len() == KEK_ID_LEN
            && given
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(SecretError::BadKekId {
                given: given.chars().take(2 * KEK_ID_LEN).collect(),
            });
        }
        Ok(KekId(given.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KekId {
    type Error = SecretError;
    fn try_from(given: String) -> Result<KekId, SecretError> {
        KekId::parse(&given)
    }
}

impl From<KekId> for String {
    fn from(id: KekId) -> String {
        id.0
    }
}

impl FromStr for KekId {
    type Err = SecretError;
    fn from_str(given: &str) -> Result<KekId, SecretError> {
        KekId::parse(given)
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_hash_prefix_and_parse_strictly() -> Result<(), SecretError> {
        let id = KekId::of(&[0; KEY_BYTES]);
        // SHA-256 of 32 zero bytes: 66687aadf862bd77...
        assert_eq!(id.as_str(), "66687aadf862bd77");
        assert_eq!(KekId::parse("66687aadf862bd77")?, id);
        for bad in [
            "",
            "66687AADF862BD77",
            "66687aadf862bd7",
            "66687aadf862bd77a",
            "zz",
        ] {
            assert!(KekId::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let kek = Kek::derive(Zeroizing::new([0xAB; KEY_BYTES]));
        let dek = DataKey::from_bytes(Zeroizing::new([0xCD; KEY_BYTES]));
        let shown = format!("{kek:?} {dek:?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "));
        assert!(!shown.contains("205") && !shown.contains("cdcd"));
        assert!(shown.contains("redacted") && shown.contains(kek.id().as_str()));
    }
}
