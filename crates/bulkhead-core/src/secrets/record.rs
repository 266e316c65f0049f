//! What the store keeps of a secret: one record per version (who set it, when, its size, its
//! sealed form), and the views listings return — which never carry a ciphertext.

use serde::{Deserialize, Serialize};

use super::envelope::{SealedSecret, SecretRef, WrappedDek};
use super::keys::KekId;
use super::name::SecretName;
use crate::auth::ProjectName;

/// One stored version of a secret. Versions are numbered 1, 2, 3, … per (project, name) and
/// never reused, not even after the secret is removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    pub project: ProjectName,
    pub name: SecretName,
    pub version: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// Who set it (a user name; `local` in embedded mode).
    pub created_by: String,
    pub sealed: SealedSecret,
}

impl SecretVersion {
    /// The identity its associated data binds it to.
    pub fn target(&self) -> SecretRef {
        SecretRef {
            project: self.project.clone(),
            name: self.name.clone(),
            version: self.version,
        }
    }

    /// What a listing shows of it.
    pub fn info(&self) -> SecretVersionInfo {
        SecretVersionInfo {
            version: self.version,
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            size: self.sealed.plaintext_len() as u64,
            kek_id: self.sealed.dek.kek_id.clone(),
        }
    }
}

/// One version as listed: never the value, never the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersionInfo {
    pub version: u64,
    /// Unix seconds.
    pub created_at: u64,
    pub created_by: String,
    /// Bytes of the value (the ciphertext's length tells as much).
    pub size: u64,
    /// The key-encryption key its data key is wrapped under.
    pub kek_id: KekId,
}

/// One secret of a project as listed: its versions, and who set the latest one, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSummary {
    pub name: SecretName,
    /// The versions that exist, ascending.
    pub versions: Vec<u64>,
    pub latest: u64,
    /// When the latest version was set (Unix seconds), and by whom.
    pub created_at: u64,
    pub created_by: String,
}

/// A version's wrapped data key, without its ciphertext: what rotation re-wraps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedVersion {
    pub target: SecretRef,
    pub dek: WrappedDek,
}
