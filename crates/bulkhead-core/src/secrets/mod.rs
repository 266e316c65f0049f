//! Secrets at rest, pure: validated names and value limits (`name`), key material that zeroes
//! itself and never prints (`keys`), the envelope — each version sealed by its own data key,
//! the data key wrapped by a key-encryption key, both bound by associated data to project, name
//! and version (`envelope`) — and the stored records (`record`). The caller passes keys, nonces
//! and times in; nothing here reads an RNG, a clock or a file. See docs/secrets.md.

mod envelope;
mod keys;
mod name;
mod record;

pub use envelope::{
    CIPHER, FORMAT, SealedSecret, SecretRef, TAG_BYTES, WRAPPED_DEK_BYTES, WrappedDek, open, seal,
    unwrap_dek, wrap_dek,
};
pub use keys::{DataKey, KEK_ID_LEN, KEY_BYTES, Kek, KekId, NONCE_BYTES, Nonce};
pub use name::{MAX_NAME_LEN, MAX_SECRET_BYTES, SecretName, check_value, value_equals};
pub use record::{SecretSummary, SecretVersion, SecretVersionInfo, WrappedVersion};

/// Everything that can go wrong with a secret. No variant carries a value, a key or any part
/// of a plaintext: only names, versions, key ids and sizes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret name {name:?} is not valid: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("a secret value cannot be empty")]
    Empty,
    #[error("the secret value is {size} bytes; a secret may be at most 1 MiB ({limit} bytes)")]
    TooLarge { size: usize, limit: usize },
    #[error("key-encryption key id {given:?} is not valid: it must be 16 lowercase hex characters")]
    BadKekId { given: String },
    /// The stored form is damaged or from elsewhere: an unknown format, a nonce or key of the
    /// wrong length, a blob too short to hold its tag.
    #[error("secret {target} cannot be read: {reason}")]
    Format { target: String, reason: String },
    /// The wrapped data key names one key-encryption key and another was given.
    #[error(
        "the data key of secret {target} is wrapped under key-encryption key {wrapped_under}, not {given}"
    )]
    WrongKek {
        target: String,
        wrapped_under: KekId,
        given: KekId,
    },
    /// Authentication of the wrapped data key failed: it was altered, moved from another
    /// secret or version, or the key-encryption key is not the one it was wrapped with.
    #[error(
        "the data key of secret {target} does not open under key-encryption key {kek}: it was altered, moved from another secret, or wrapped under another key"
    )]
    Unwrap { target: String, kek: KekId },
    /// Authentication of the value failed: the ciphertext was altered, truncated or moved
    /// from another secret or version. Nothing of the plaintext is returned.
    #[error(
        "secret {target} does not open: its ciphertext was altered, truncated or moved from another secret or version"
    )]
    Open { target: String },
    #[error("secret {target} cannot be sealed: {reason}")]
    Seal {
        target: String,
        reason: &'static str,
    },
}
