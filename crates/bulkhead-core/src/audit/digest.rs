//! Fixed-size binary values as the audit log writes them: SHA-256 digests, key ids and
//! signatures, each as strict lowercase hex (one spelling per value, so a flipped letter case is
//! a changed line, never an equal one).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest: an entry's hash, the chain's `prev`, a request body's hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// All zeros: the `prev` of entry 1 and the hash the genesis checkpoint signs.
    pub const ZERO: Sha256Digest = Sha256Digest([0; 32]);

    /// The digest of `bytes` (e.g. a request body, which is never written itself).
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Parses 64 lowercase hex digits; anything else (uppercase too) is `None`.
    pub fn from_hex(text: &str) -> Option<Sha256Digest> {
        decode_hex(text).map(Sha256Digest)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

/// The value of each lowercase hex digit; `0xff` for every other byte.
const NIBBLE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes exactly `2 * N` lowercase hex digits (branch-free per digit: the verifier decodes
/// three digests per entry).
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut invalid = 0u8;
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *slot = hi << 4 | lo;
    }
    (invalid & 0xf0 == 0).then_some(out)
}

/// Serde for a `[u8; N]` newtype as lowercase hex.
macro_rules! hex_serde {
    ($ty:ident, $len:literal, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct HexVisitor;
                impl Visitor<'_> for HexVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as {} lowercase hex digits", $what, 2 * $len)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$ty, E> {
                        decode_hex::<$len>(text)
                            .map($ty)
                            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
                    }
                }
                deserializer.deserialize_str(HexVisitor)
            }
        }
    };
}
pub(crate) use hex_serde;

hex_serde!(Sha256Digest, 32, "a SHA-256 digest");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict_lowercase() {
        let d = Sha256Digest::of(b"abc");
        let hex = d.to_hex();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Digest::from_hex(&hex), Some(d));
        assert_eq!(Sha256Digest::from_hex(&hex.to_uppercase()), None);
        assert_eq!(Sha256Digest::from_hex(&hex[..62]), None);
        assert_eq!(Sha256Digest::from_hex(&format!("{hex}00")), None);
        assert_eq!(Sha256Digest::from_hex(&hex.replace('b', "g")), None);
        assert_eq!(decode_hex::<2>("0aff"), Some([0x0a, 0xff]));
    }

    #[test]
    fn serde_round_trip_and_refusals() -> Result<(), serde_json::Error> {
        let d = Sha256Digest::of(b"x");
        let json = serde_json::to_string(&d)?;
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json)?, d);
        assert!(serde_json::from_str::<Sha256Digest>(&json.to_uppercase()).is_err());
        assert!(serde_json::from_str::<Sha256Digest>("12").is_err());
        Ok(())
    }
}
