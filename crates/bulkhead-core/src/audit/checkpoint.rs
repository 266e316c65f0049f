//! Signed checkpoints: an Ed25519 signature over (checkpoint number, last entry's seq and hash,
//! time, key id), so that removing or rewriting the tail of the chain is detected.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use super::digest::{Sha256Digest, decode_hex, hex_serde};
use crate::clock::rfc3339_millis;

/// The domain tag that starts every signed checkpoint message (version 1).
pub const CHECKPOINT_DOMAIN: &[u8] = b"bulkhead-audit-checkpoint-v1\0";

/// The domain tag of a key id: `key_id = SHA-256(KEY_ID_DOMAIN || public key)[..16]`.
pub const KEY_ID_DOMAIN: &[u8] = b"bulkhead-audit-key-v1\0";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {number} is signed by key {found}, not by the trusted key {trusted}")]
    UnknownKey {
        number: u64,
        found: KeyId,
        trusted: KeyId,
    },
    #[error("checkpoint {number} has an invalid signature")]
    BadSignature { number: u64 },
}

/// The fingerprint of an audit public key: 16 bytes, written as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    pub fn of(key: &VerifyingKey) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key.as_bytes());
        let digest: [u8; 32] = h.finalize().into();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        KeyId(id)
    }

    pub fn from_hex(text: &str) -> Option<KeyId> {
        decode_hex(text).map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

hex_serde!(KeyId, 16, "a key id");

/// An Ed25519 signature, written as 128 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureHex(pub [u8; 64]);

impl fmt::Debug for SignatureHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureHex({})", hex::encode(self.0))
    }
}

hex_serde!(SignatureHex, 64, "an Ed25519 signature");

/// A signed statement "the chain's entry `seq` has hash `hash`", the `number`th of the log.
///
/// Checkpoints are numbered 1, 2, 3, ... in the order written; number 1 is the genesis
/// checkpoint (seq 0, hash all zeros) written when the log is created. Each is written as a
/// line of the segment it follows (`{"checkpoint":{...}}`) and, the latest, as the head file
/// (`{"head":{...}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub number: u64,
    /// The last entry it covers (0 for the genesis checkpoint).
    pub seq: u64,
    /// That entry's hash ([`Sha256Digest::ZERO`] for the genesis checkpoint).
    pub hash: Sha256Digest,
    /// When it was signed, RFC 3339 UTC with milliseconds.
    pub time: String,
    pub key_id: KeyId,
    pub signature: SignatureHex,
}

impl Checkpoint {
    /// Signs checkpoint `number` over entry `seq` with hash `hash`, at `unix_millis`.
    pub fn sign(
        key: &SigningKey,
        number: u64,
        seq: u64,
        hash: Sha256Digest,
        unix_millis: u64,
    ) -> Checkpoint {
        let time = rfc3339_millis(unix_millis);
        let key_id = KeyId::of(&key.verifying_key());
        let message = message(number, seq, &hash, &time, &key_id);
        let signature = SignatureHex(key.sign(&message).to_bytes());
        Checkpoint {
            number,
            seq,
            hash,
            time,
            key_id,
            signature,
        }
    }

    /// Checkpoint 1 of a new log.
    pub fn genesis(key: &SigningKey, unix_millis: u64) -> Checkpoint {
        Checkpoint::sign(key, 1, 0, Sha256Digest::ZERO, unix_millis)
    }

    /// Checks that `key` signed this checkpoint (its key id first, then the signature, with
    /// Ed25519's strict verification: no malleable or small-order encodings).
    pub fn verify(&self, key: &VerifyingKey, key_id: &KeyId) -> Result<(), CheckpointError> {
        if self.key_id != *key_id {
            return Err(CheckpointError::UnknownKey {
                number: self.number,
                found: self.key_id,
                trusted: *key_id,
            });
        }
        let message = self.message();
        let signature = Signature::from_bytes(&self.signature.0);
        key.verify_strict(&message, &signature)
            .map_err(|_| CheckpointError::BadSignature {
                number: self.number,
            })
    }

    /// The signed message (see [`crate::audit`] for its layout).
    pub fn message(&self) -> Vec<u8> {
        message(self.number, self.seq, &self.hash, &self.time, &self.key_id)
    }

    /// Appends `{"checkpoint":{...}}` and a newline: the checkpoint as a segment line.
    pub fn write_line(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *out, &Wrapped { checkpoint: self })?;
        out.push(b'\n');
        Ok(())
    }

    /// Appends `{"head":{...}}` and a newline: the checkpoint as the head file.
    pub fn write_head(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *out, &Head { head: self })?;
        out.push(b'\n');
        Ok(())
    }
}

#[derive(Serialize)]
struct Wrapped<'a> {
    checkpoint: &'a Checkpoint,
}

#[derive(Serialize)]
struct Head<'a> {
    head: &'a Checkpoint,
}

fn message(number: u64, seq: u64, hash: &Sha256Digest, time: &str, key_id: &KeyId) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 8 + 8 + 32 + 8 + time.len() + 16);
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&number.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&hash.0);
    m.extend_from_slice(&(time.len() as u64).to_be_bytes());
    m.extend_from_slice(time.as_bytes());
    m.extend_from_slice(&key_id.0);
    m
}

/// Parses a hex public key (64 lowercase hex digits) into a verifying key.
pub fn verifying_key_from_hex(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = decode_hex(text)?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_then_verify() {
        let k = key(7);
        let vk = k.verifying_key();
        let id = KeyId::of(&vk);
        let cp = Checkpoint::sign(&k, 3, 42, Sha256Digest::of(b"e42"), 1_795_750_325_042);
        assert_eq!(cp.time, "2026-11-27T03:32:05.042Z");
        assert_eq!(cp.key_id, id);
        assert_eq!(cp.verify(&vk, &id), Ok(()));
    }

    #[test]
    fn every_signed_field_is_covered() {
        let k = key(7);
        let vk = k.verifying_key();
        let id = KeyId::of(&vk);
        let cp = Checkpoint::sign(&k, 3, 42, Sha256Digest::of(b"e42"), 0);
        let variants: Vec<Checkpoint> = vec![
            Checkpoint {
                number: 4,
                ..cp.clone()
            },
            Checkpoint {
                seq: 43,
                ..cp.clone()
            },
            Checkpoint {
                hash: Sha256Digest::ZERO,
                ..cp.clone()
            },
            Checkpoint {
                time: "1970-01-01T00:00:00.001Z".into(),
                ..cp.clone()
            },
        ];
        for v in variants {
            assert_eq!(
                v.verify(&vk, &id),
                Err(CheckpointError::BadSignature { number: v.number })
            );
        }
        let mut sig = cp.clone();
        sig.signature.0[10] ^= 1;
        assert!(matches!(
            sig.verify(&vk, &id),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn another_key_is_unknown() {
        let cp = Checkpoint::genesis(&key(1), 0);
        let other = key(2).verifying_key();
        let err = cp.verify(&other, &KeyId::of(&other));
        assert!(
            matches!(err, Err(CheckpointError::UnknownKey { number: 1, .. })),
            "{err:?}"
        );
        // Claiming the trusted key's id does not help: the signature is checked with that key.
        let forged = Checkpoint {
            key_id: KeyId::of(&other),
            ..cp
        };
        let err = forged.verify(&other, &KeyId::of(&other));
        assert_eq!(err, Err(CheckpointError::BadSignature { number: 1 }));
    }

    #[test]
    fn message_is_domain_separated_and_length_prefixed() {
        let m = message(1, 2, &Sha256Digest::ZERO, "t", &KeyId([9; 16]));
        assert!(m.starts_with(CHECKPOINT_DOMAIN));
        assert_eq!(m.len(), CHECKPOINT_DOMAIN.len() + 8 + 8 + 32 + 8 + 1 + 16);
    }

    #[test]
    fn lines_round_trip() -> Result<(), serde_json::Error> {
        let cp = Checkpoint::genesis(&key(1), 5);
        let mut line = Vec::new();
        cp.write_line(&mut line)?;
        assert!(line.starts_with(b"{\"checkpoint\":{\"number\":1,\"seq\":0,"));
        assert!(line.ends_with(b"}}\n"));
        let mut head = Vec::new();
        cp.write_head(&mut head)?;
        assert!(head.starts_with(b"{\"head\":{"));
        Ok(())
    }

    #[test]
    fn key_ids_and_public_keys_parse_strictly() {
        let vk = key(3).verifying_key();
        let id = KeyId::of(&vk);
        assert_eq!(KeyId::from_hex(&id.to_string()), Some(id));
        assert_eq!(KeyId::from_hex(&id.to_string()[..30]), None);
        assert_eq!(
            verifying_key_from_hex(&hex::encode(vk.as_bytes())),
            Some(vk)
        );
        assert_eq!(verifying_key_from_hex("00"), None);
    }
}
