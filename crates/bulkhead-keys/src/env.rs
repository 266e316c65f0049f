//! `EnvKeys`: the key-encryption key from the environment (`BULKHEAD_KEK`, base64 of 32 bytes),
//! so that it can live outside the state directory (a secrets manager, a systemd credential).
//! Bulkhead cannot make or destroy such a key: to rotate, the operator sets `BULKHEAD_KEK_OLD`
//! to the old key and `BULKHEAD_KEK` to a new one, runs `bulkhead keys rotate`, and then unsets
//! `BULKHEAD_KEK_OLD`.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use bulkhead_core::secrets::{DataKey, KEY_BYTES, Kek, KekId, SecretRef, WrappedDek};
use bulkhead_ports::{KeyError, KeyFuture, KeyProvider};
use zeroize::Zeroizing;

use crate::KeysError;
use crate::disk::parse_key;
use crate::set::KeySet;

/// The current key-encryption key.
pub const KEK_VAR: &str = "BULKHEAD_KEK";
/// The previous one, during a rotation.
pub const OLD_KEK_VAR: &str = "BULKHEAD_KEK_OLD";

/// Keys from the environment: the current one, and the previous one while rotating.
#[derive(Debug)]
pub struct EnvKeys {
    set: RwLock<KeySet>,
}

impl EnvKeys {
    /// The keys in `env`; `None` when `BULKHEAD_KEK` is unset or empty. The variables' text
    /// stays in the process environment (which Bulkhead cannot wipe); the parsed keys zero
    /// themselves.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<EnvKeys>, KeysError> {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty());
        let Some(current) = get(KEK_VAR) else {
            return Ok(None);
        };
        let current = parse_key(current.as_bytes(), KEK_VAR)?;
        let old = get(OLD_KEK_VAR)
            .map(|old| parse_key(old.as_bytes(), OLD_KEK_VAR))
            .transpose()?;
        EnvKeys::new(current, old).map(Some)
    }

    /// The keys given: `current` wraps new data keys; `old`, if any, only unwraps.
    pub fn new(
        current: Zeroizing<[u8; KEY_BYTES]>,
        old: Option<Zeroizing<[u8; KEY_BYTES]>>,
    ) -> Result<EnvKeys, KeysError> {
        let mut set = KeySet::of(Kek::derive(current));
        if let Some(old) = old {
            let old = Kek::derive(old);
            if old.id() == &set.current {
                return Err(KeysError::SameKey);
            }
            set.insert(old);
        }
        Ok(EnvKeys {
            set: RwLock::new(set),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, KeySet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why an environment key cannot be made here, and how to rotate it instead.
fn cannot_create() -> KeyError {
    KeyError::Unsupported {
        reason: format!(
            "the key-encryption key comes from {KEK_VAR}, so bulkhead cannot make a new one: to rotate, set {OLD_KEK_VAR} to the current key and {KEK_VAR} to a new one (`head -c 32 /dev/urandom | base64`), run `bulkhead keys rotate`, then unset {OLD_KEK_VAR}"
        ),
    }
}

impl KeyProvider for EnvKeys {
    fn current(&self) -> KeyFuture<'_, KekId> {
        Box::pin(async move { Ok(self.read().current.clone()) })
    }

    fn wrap<'a>(
        &'a self,
        kek: &'a KekId,
        dek: &'a DataKey,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, WrappedDek> {
        Box::pin(async move { self.read().wrap(kek, dek, target) })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDek,
        target: &'a SecretRef,
    ) -> KeyFuture<'a, DataKey> {
        Box::pin(async move { self.read().unwrap(wrapped, target) })
    }

    fn create(&self) -> KeyFuture<'_, KekId> {
        Box::pin(async move { Err(cannot_create()) })
    }

    fn list(&self) -> KeyFuture<'_, Vec<KekId>> {
        Box::pin(async move { Ok(self.read().ids()) })
    }

    /// Forgets the old key for the rest of this process; `BULKHEAD_KEK_OLD` should then be
    /// unset.
    fn retire<'a>(&'a self, kek: &'a KekId) -> KeyFuture<'a, ()> {
        Box::pin(async move {
            self.set
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .forget(kek)
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn env(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_key_comes_from_the_variable() -> Result<(), Box<dyn std::error::Error>> {
        assert!(EnvKeys::from_env(&env(&[]))?.is_none());
        assert!(EnvKeys::from_env(&env(&[(KEK_VAR, String::new())]))?.is_none());
        let keys =
            EnvKeys::from_env(&env(&[(KEK_VAR, STANDARD.encode([7u8; 32]))]))?.ok_or("no keys")?;
        assert_eq!(keys.current().await?, KekId::of(&[7; 32]));
        assert_eq!(keys.list().await?, [KekId::of(&[7; 32])]);
        let err = keys.create().await.err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains(OLD_KEK_VAR) && e.contains("keys rotate")));
        Ok(())
    }

    #[tokio::test]
    async fn bad_values_are_refused_naming_the_variable() -> Result<(), Box<dyn std::error::Error>>
    {
        let short = STANDARD.encode([7u8; 16]);
        let err = EnvKeys::from_env(&env(&[(KEK_VAR, short.clone())])).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(KEK_VAR) && message.contains("16 bytes"),
            "{message}"
        );
        assert!(!message.contains(&short), "{message}");
        let same = STANDARD.encode([7u8; 32]);
        let err = EnvKeys::from_env(&env(&[(KEK_VAR, same.clone()), (OLD_KEK_VAR, same)])).err();
        assert!(matches!(err, Some(KeysError::SameKey)), "{err:?}");
        Ok(())
    }

    #[tokio::test]
    async fn the_old_key_only_unwraps_and_is_forgotten_on_retire()
    -> Result<(), Box<dyn std::error::Error>> {
        let keys = EnvKeys::from_env(&env(&[
            (KEK_VAR, STANDARD.encode([1u8; 32])),
            (OLD_KEK_VAR, STANDARD.encode([2u8; 32])),
        ]))?
        .ok_or("no keys")?;
        let (new, old) = (KekId::of(&[1; 32]), KekId::of(&[2; 32]));
        assert_eq!(keys.current().await?, new);
        assert_eq!(keys.list().await?.len(), 2);
        assert!(matches!(
            keys.retire(&new).await,
            Err(KeyError::RetireCurrent { .. })
        ));
        keys.retire(&old).await?;
        assert_eq!(keys.list().await?, [new]);
        Ok(())
    }
}
