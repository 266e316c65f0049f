//! The key port: key-encryption keys (KEKs), which wrap and unwrap the data keys of secret
//! versions. The provider holds the key bytes — callers only ever see ids and wrapped keys — so
//! a KMS can take the place of the key files without the application changing.

use std::future::Future;
use std::pin::Pin;

use bulkhead_core::secrets::{DataKey, KekId, SecretError, SecretRef, WrappedDek};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "key-encryption key {id} is not available here (it was retired, or belongs to another state directory or environment)"
    )]
    UnknownKek { id: KekId },
    #[error("key-encryption key {id} is the current one and cannot be retired")]
    RetireCurrent { id: KekId },
    /// The provider cannot do this (e.g. create a key when the key comes from the environment);
    /// `reason` says what to do instead.
    #[error("{reason}")]
    Unsupported { reason: String },
    /// Wrapping or unwrapping failed (a tampered or moved wrapped key).
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("no randomness for a key or nonce: {reason}")]
    Random { reason: String },
    /// The provider's own storage failed (a key file unreadable, exposed or malformed; a KMS
    /// unreachable); `reason` names the file or service.
    #[error("{reason}")]
    Provider { reason: String },
}

/// The future of one key operation.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyError>> + Send + 'a>>;

/// Where key-encryption keys live. Object safe: the application holds an
/// `Arc<dyn KeyProvider>`. Every method is async so that a remote KMS fits.
pub trait KeyProvider: Send + Sync {
    /// The key new data keys are wrapped under.
    fn current(&self) -> KeyFuture<'_, KekId>;
    /// Wraps `dek` for `target` under the key `kek` (with a fresh nonce).
    fn wrap<'a>(
        &'a self,
        kek: &'a KekId,
        dek: &'a DataKey,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, WrappedDek>;
    /// Unwraps the data key of `target` under the key `wrapped` names.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDek,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, DataKey>;
    /// Creates a new key and makes it current, durably; returns its id.
    fn create(&self) -> KeyFuture<'_, KekId>;
    /// Every key the provider holds, the current one included, by id.
    fn list(&self) -> KeyFuture<'_, Vec<KekId>>;
    /// Destroys a key that is not current. The caller has made sure nothing is wrapped under
    /// it any more: what still is becomes unreadable.
    fn retire<'a>(&'a self, kek: &'a KekId) -> KeyFuture<'a, ()>;
}
