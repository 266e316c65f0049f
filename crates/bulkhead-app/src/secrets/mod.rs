//! Secrets as a resource: set (a new version, sealed under a fresh data key), list, versions,
//! remove, open a version for delivery, compare a candidate with the latest in constant time,
//! and rotate the key-encryption key (`rotate`). Values exist in plaintext only in memory, in
//! buffers that zero themselves; nothing here logs, stores or returns a hash of one.

mod rotate;

use std::sync::Arc;

use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::{
    DataKey, KEY_BYTES, NONCE_BYTES, Nonce, SealedSecret, SecretError, SecretName, SecretRef,
    SecretSummary, SecretVersion, SecretVersionInfo, check_value, open, seal, value_equals,
};
use bulkhead_ports::{KeyError, KeyProvider, Store, StoreError};
use tokio::sync::{Mutex, RwLock};
use zeroize::Zeroizing;

pub use rotate::{OnStep, RotationFailure, RotationReport, RotationStep};

/// How often `set` retries when another `set` of the same secret took its version number.
const SET_ATTEMPTS: usize = 3;

/// No variant carries a value, a key or a hash of either.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A bad name, an empty or oversized value, or a version that does not open.
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secret {project}/{name} does not exist")]
    NoSuchSecret {
        project: ProjectName,
        name: SecretName,
    },
    #[error("version {version} of secret {project}/{name} does not exist")]
    NoSuchVersion {
        project: ProjectName,
        name: SecretName,
        version: u64,
    },
    #[error("no randomness for a data key or nonce: {reason}")]
    Random { reason: String },
}

/// The secrets of one store, sealed under one key provider. Make one per process (the
/// composition root) and share it: its lock keeps key rotation from retiring a key that an
/// operation in flight is using.
pub struct Secrets<S> {
    store: Arc<S>,
    keys: Arc<dyn KeyProvider>,
    /// Held shared by every operation that wraps or unwraps a data key; held exclusively
    /// while rotation re-checks the store and retires keys.
    gate: RwLock<()>,
    /// One rotation at a time.
    rotating: Mutex<()>,
}

impl<S: Store> Secrets<S> {
    pub fn new(store: Arc<S>, keys: Arc<dyn KeyProvider>) -> Secrets<S> {
        Secrets {
            store,
            keys,
            gate: RwLock::new(()),
            rotating: Mutex::new(()),
        }
    }

    /// Records `value` as the next version of the secret and returns its number: a fresh data
    /// key and nonces, the data key wrapped under the current key-encryption key, one durable
    /// write. `value` (not empty, at most 1 MiB) is zeroed when this returns.
    pub async fn set(
        &self,
        project: &ProjectName,
        name: &SecretName,
        value: Zeroizing<Vec<u8>>,
        actor: &str,
        now: u64,
    ) -> Result<u64, SecretsError> {
        check_value(&value)?;
        let _gate = self.gate.read().await;
        let mut attempt = 1;
        loop {
            let version = self.store.next_secret_version(project, name).await?;
            let target = SecretRef {
                project: project.clone(),
                name: name.clone(),
                version,
            };
            let record = SecretVersion {
                project: project.clone(),
                name: name.clone(),
                version,
                created_at: now,
                created_by: actor.to_owned(),
                sealed: self.seal(&target, &value).await?,
            };
            match self.store.put_secret(&record).await {
                Ok(()) => return Ok(version),
                Err(StoreError::Conflict { .. }) if attempt < SET_ATTEMPTS => attempt += 1,
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn seal(&self, target: &SecretRef, value: &[u8]) -> Result<SealedSecret, SecretsError> {
        let dek = DataKey::from_bytes(random_key()?);
        let nonce = random_nonce()?;
        let ciphertext = seal(&dek, nonce, target, value)?;
        let kek = self.keys.current().await?;
        let wrapped = self.keys.wrap(&kek, &dek, target).await?;
        Ok(SealedSecret::new(wrapped, nonce, ciphertext))
    }

    /// The secrets of a project, by name: versions, the latest, who set it and when.
    pub async fn list(&self, project: &ProjectName) -> Result<Vec<SecretSummary>, SecretsError> {
        Ok(self.store.list_secrets(project).await?)
    }

    /// The versions of one secret, ascending; [`SecretsError::NoSuchSecret`] when it has none.
    pub async fn versions(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<Vec<SecretVersionInfo>, SecretsError> {
        let versions = self.store.secret_versions(project, name).await?;
        if versions.is_empty() {
            return Err(no_such_secret(project, name));
        }
        Ok(versions)
    }

    /// Removes every version of the secret; returns how many there were. Its numbers are not
    /// reused by a later `set`.
    pub async fn remove(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<u64, SecretsError> {
        match self.store.remove_secret(project, name).await? {
            0 => Err(no_such_secret(project, name)),
            removed => Ok(removed),
        }
    }

    /// The plaintext of one version, for delivery only (never for an API response). It
    /// zeroes itself when dropped; a version that fails to open returns nothing of it.
    pub async fn open_version(
        &self,
        project: &ProjectName,
        name: &SecretName,
        version: u64,
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let _gate = self.gate.read().await;
        let record = self
            .store
            .secret(project, name, version)
            .await?
            .ok_or_else(|| SecretsError::NoSuchVersion {
                project: project.clone(),
                name: name.clone(),
                version,
            })?;
        self.reveal(&record).await
    }

    /// The latest version's number and plaintext, for delivery only.
    pub async fn open_latest(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<(u64, Zeroizing<Vec<u8>>), SecretsError> {
        let _gate = self.gate.read().await;
        let record = self
            .store
            .latest_secret(project, name)
            .await?
            .ok_or_else(|| no_such_secret(project, name))?;
        Ok((record.version, self.reveal(&record).await?))
    }

    /// Whether the latest version holds exactly `candidate` (compared in constant time, the
    /// plaintext zeroed after); `false` when the secret has no version. For importing Compose
    /// `file:` and `environment:` secrets only when they changed, without keeping any hash.
    pub async fn latest_equals(
        &self,
        project: &ProjectName,
        name: &SecretName,
        candidate: &[u8],
    ) -> Result<bool, SecretsError> {
        let _gate = self.gate.read().await;
        let Some(record) = self.store.latest_secret(project, name).await? else {
            return Ok(false);
        };
        let current = self.reveal(&record).await?;
        Ok(value_equals(&current, candidate))
    }

    async fn reveal(&self, record: &SecretVersion) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let target = record.target();
        let dek = self.keys.unwrap(&record.sealed.dek, &target).await?;
        Ok(open(&dek, &record.sealed, &target)?)
    }
}

fn no_such_secret(project: &ProjectName, name: &SecretName) -> SecretsError {
    SecretsError::NoSuchSecret {
        project: project.clone(),
        name: name.clone(),
    }
}

fn random_key() -> Result<Zeroizing<[u8; KEY_BYTES]>, SecretsError> {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| SecretsError::Random {
        reason: e.to_string(),
    })?;
    Ok(key)
}

fn random_nonce() -> Result<Nonce, SecretsError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|e| SecretsError::Random {
        reason: e.to_string(),
    })?;
    Ok(nonce)
}
