//! The keys a provider holds in memory, and the one wrap/unwrap both providers use: the core's
//! envelope with a fresh random nonce per wrap.

use std::collections::BTreeMap;

use bulkhead_core::secrets::{
    DataKey, Kek, KekId, NONCE_BYTES, Nonce, SecretRef, WrappedDek, unwrap_dek, wrap_dek,
};
use bulkhead_ports::KeyError;

/// The current key's id and every key, by id.
#[derive(Debug)]
pub(crate) struct KeySet {
    pub(crate) current: KekId,
    pub(crate) keys: BTreeMap<KekId, Kek>,
}

impl KeySet {
    /// A set of one key, current.
    pub(crate) fn of(kek: Kek) -> KeySet {
        let current = kek.id().clone();
        KeySet {
            keys: BTreeMap::from([(current.clone(), kek)]),
            current,
        }
    }

    pub(crate) fn insert(&mut self, kek: Kek) {
        self.keys.insert(kek.id().clone(), kek);
    }

    fn get(&self, id: &KekId) -> Result<&Kek, KeyError> {
        self.keys
            .get(id)
            .ok_or_else(|| KeyError::UnknownKek { id: id.clone() })
    }

    pub(crate) fn wrap(
        &self,
        kek: &KekId,
        dek: &DataKey,
        target: &SecretRef,
    ) -> Result<WrappedDek, KeyError> {
        let kek = self.get(kek)?;
        let mut nonce: Nonce = [0; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Random {
            reason: e.to_string(),
        })?;
        Ok(wrap_dek(kek, nonce, dek, target)?)
    }

    pub(crate) fn unwrap(
        &self,
        wrapped: &WrappedDek,
        target: &SecretRef,
    ) -> Result<DataKey, KeyError> {
        let kek = self.get(&wrapped.kek_id)?;
        Ok(unwrap_dek(kek, wrapped, target)?)
    }

    pub(crate) fn ids(&self) -> Vec<KekId> {
        self.keys.keys().cloned().collect()
    }

    /// Forgets a key that is not current (its bytes are zeroed as they drop).
    pub(crate) fn forget(&mut self, id: &KekId) -> Result<(), KeyError> {
        if id == &self.current {
            return Err(KeyError::RetireCurrent { id: id.clone() });
        }
        self.keys.remove(id);
        Ok(())
    }
}
