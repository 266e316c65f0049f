//! The envelope: a secret version's value sealed with AES-256-GCM under its own data key, the
//! data key wrapped with AES-256-GCM under a key-encryption key; each layer's associated data
//! binds it to (project, name, version), and the wrapping also to the key-encryption key's id.
//! A ciphertext or wrapped key moved to another secret, version or key does not open.
//!
//! Associated data (every text is its UTF-8 length as u64 big-endian, then its bytes):
//!
//! ```text
//! value: "bulkhead-secret-value-v1\0" ‖ text(project) ‖ text(name) ‖ u64be(version)
//! dek:   "bulkhead-secret-dek-v1\0" ‖ text(kek id) ‖ text(project) ‖ text(name) ‖ u64be(version)
//! ```

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as AeadNonce, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::SecretError;
use super::keys::{DataKey, KEY_BYTES, Kek, KekId, Nonce};
use super::name::{SecretName, check_value};
use crate::auth::ProjectName;

/// The stored form's version; a different one is refused, never guessed at.
pub const FORMAT: u32 = 1;
/// The one cipher of format 1, for both layers.
pub const CIPHER: &str = "aes-256-gcm";
/// Bytes of an AES-GCM tag.
pub const TAG_BYTES: usize = 16;
/// Bytes of a wrapped data key: the key and its tag.
pub const WRAPPED_DEK_BYTES: usize = KEY_BYTES + TAG_BYTES;

const VALUE_DOMAIN: &[u8] = b"bulkhead-secret-value-v1\0";
const DEK_DOMAIN: &[u8] = b"bulkhead-secret-dek-v1\0";

/// One version of one secret: what the associated data binds a ciphertext to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    pub project: ProjectName,
    pub name: SecretName,
    pub version: u64,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} version {}", self.project, self.name, self.version)
    }
}

/// A data key wrapped under a key-encryption key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDek {
    pub kek_id: KekId,
    #[serde(with = "b64_nonce")]
    pub nonce: Nonce,
    /// The encrypted key and its tag ([`WRAPPED_DEK_BYTES`]).
    #[serde(with = "b64")]
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappedDek {{ kek_id: {}, {} bytes }}",
            self.kek_id,
            self.wrapped.len()
        )
    }
}

/// The stored form of one sealed version: self-describing (format, cipher), with the
/// wrapped data key and the value's nonce and ciphertext (the ciphertext ends in its tag).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub format: u32,
    pub cipher: String,
    pub dek: WrappedDek,
    #[serde(with = "b64_nonce")]
    pub nonce: Nonce,
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedSecret {{ format: {}, cipher: {}, dek: {:?}, ciphertext: {} bytes }}",
            self.format,
            self.cipher,
            self.dek,
            self.ciphertext.len()
        )
    }
}

/// Seals `plaintext` (checked: not empty, at most 1 MiB) for `target` under `dek`. The nonce
/// must be fresh; `dek` should serve this one version only.
pub fn seal(
    dek: &DataKey,
    nonce: Nonce,
    target: &SecretRef,
    plaintext: &[u8],
) -> Result<Vec<u8>, SecretError> {
    check_value(plaintext)?;
    let key = aead_key(dek.expose(), target)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_BYTES));
    buf.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        AeadNonce::assume_unique_for_key(nonce),
        Aad::from(value_aad(target)),
        &mut *buf,
    )
    .map_err(|_| SecretError::Seal {
        target: target.to_string(),
        reason: "the cipher refused the input",
    })?;
    // Sealed in place: the buffer now holds ciphertext and tag only.
    Ok(std::mem::take(&mut *buf))
}

/// Opens a sealed version's ciphertext for `target`. On any failure nothing of the plaintext
/// is returned (the buffer is zeroed); on success the plaintext zeroes itself when dropped.
pub fn open(
    dek: &DataKey,
    sealed: &SealedSecret,
    target: &SecretRef,
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    check_format(sealed, target)?;
    if sealed.ciphertext.len() <= TAG_BYTES {
        return Err(format_error(
            target,
            format!(
                "the ciphertext is {} bytes, too short to hold a value and its tag (it was truncated)",
                sealed.ciphertext.len()
            ),
        ));
    }
    let key = aead_key(dek.expose(), target)?;
    let mut buf = Zeroizing::new(sealed.ciphertext.clone());
    let opened = key.open_in_place(
        AeadNonce::assume_unique_for_key(sealed.nonce),
        Aad::from(value_aad(target)),
        &mut buf,
    );
    let len = match opened {
        Ok(plain) => plain.len(),
        Err(_) => {
            return Err(SecretError::Open {
                target: target.to_string(),
            });
        }
    };
    buf.truncate(len);
    Ok(buf)
}

/// Wraps `dek` for `target` under `kek` with a fresh `nonce`.
pub fn wrap_dek(
    kek: &Kek,
    nonce: Nonce,
    dek: &DataKey,
    target: &SecretRef,
) -> Result<WrappedDek, SecretError> {
    let key = aead_key(kek.expose(), target)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(WRAPPED_DEK_BYTES));
    buf.extend_from_slice(dek.expose());
    key.seal_in_place_append_tag(
        AeadNonce::assume_unique_for_key(nonce),
        Aad::from(dek_aad(kek.id(), target)),
        &mut *buf,
    )
    .map_err(|_| SecretError::Seal {
        target: target.to_string(),
        reason: "the cipher refused the data key",
    })?;
    Ok(WrappedDek {
        kek_id: kek.id().clone(),
        nonce,
        wrapped: std::mem::take(&mut *buf),
    })
}

/// Unwraps the data key of `target` with `kek`, which must be the key it names.
pub fn unwrap_dek(
    kek: &Kek,
    wrapped: &WrappedDek,
    target: &SecretRef,
) -> Result<DataKey, SecretError> {
    if &wrapped.kek_id != kek.id() {
        return Err(SecretError::WrongKek {
            target: target.to_string(),
            wrapped_under: wrapped.kek_id.clone(),
            given: kek.id().clone(),
        });
    }
    if wrapped.wrapped.len() != WRAPPED_DEK_BYTES {
        return Err(format_error(
            target,
            format!(
                "the wrapped data key is {} bytes, not {WRAPPED_DEK_BYTES}",
                wrapped.wrapped.len()
            ),
        ));
    }
    let key = aead_key(kek.expose(), target)?;
    let mut buf = Zeroizing::new(wrapped.wrapped.clone());
    let opened = key
        .open_in_place(
            AeadNonce::assume_unique_for_key(wrapped.nonce),
            Aad::from(dek_aad(kek.id(), target)),
            &mut buf,
        )
        .map_err(|_| SecretError::Unwrap {
            target: target.to_string(),
            kek: kek.id().clone(),
        })?;
    let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
    if opened.len() != KEY_BYTES {
        return Err(format_error(
            target,
            "the data key has the wrong length".into(),
        ));
    }
    bytes.copy_from_slice(opened);
    Ok(DataKey::from_bytes(bytes))
}

impl SealedSecret {
    /// The stored form of a freshly sealed version.
    pub fn new(dek: WrappedDek, nonce: Nonce, ciphertext: Vec<u8>) -> SealedSecret {
        SealedSecret {
            format: FORMAT,
            cipher: CIPHER.to_owned(),
            dek,
            nonce,
            ciphertext,
        }
    }

    /// The plaintext's length (the ciphertext without its tag).
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext.len().saturating_sub(TAG_BYTES)
    }
}

fn check_format(sealed: &SealedSecret, target: &SecretRef) -> Result<(), SecretError> {
    if sealed.format != FORMAT {
        return Err(format_error(
            target,
            format!(
                "its stored format is {}, and this bulkhead knows {FORMAT} only (upgrade bulkhead)",
                sealed.format
            ),
        ));
    }
    if sealed.cipher != CIPHER {
        return Err(format_error(
            target,
            format!("unknown cipher {:?} (format 1 is {CIPHER})", sealed.cipher),
        ));
    }
    Ok(())
}

fn format_error(target: &SecretRef, reason: String) -> SecretError {
    SecretError::Format {
        target: target.to_string(),
        reason,
    }
}

fn aead_key(bytes: &[u8; KEY_BYTES], target: &SecretRef) -> Result<LessSafeKey, SecretError> {
    let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretError::Seal {
        target: target.to_string(),
        reason: "the key has the wrong length",
    })?;
    Ok(LessSafeKey::new(unbound))
}

fn value_aad(target: &SecretRef) -> Vec<u8> {
    let mut out = VALUE_DOMAIN.to_vec();
    identity(&mut out, target);
    out
}

fn dek_aad(kek: &KekId, target: &SecretRef) -> Vec<u8> {
    let mut out = DEK_DOMAIN.to_vec();
    text(&mut out, kek.as_str());
    identity(&mut out, target);
    out
}

fn identity(out: &mut Vec<u8>, target: &SecretRef) {
    text(out, target.project.as_str());
    text(out, target.name.as_str());
    out.extend_from_slice(&target.version.to_be_bytes());
}

fn text(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Byte strings as standard base64 in JSON.
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// A nonce as base64 in JSON, exactly [`super::keys::NONCE_BYTES`] bytes.
mod b64_nonce {
    use serde::{Deserializer, Serializer};

    use super::Nonce;

    pub(super) fn serialize<S: Serializer>(nonce: &Nonce, s: S) -> Result<S::Ok, S::Error> {
        super::b64::serialize(nonce, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Nonce, D::Error> {
        let bytes = super::b64::deserialize(d)?;
        let len = bytes.len();
        bytes.try_into().map_err(|_| {
            serde::de::Error::custom(format!("a nonce is 12 bytes, this one is {len}"))
        })
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
