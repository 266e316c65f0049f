//! Overlay networks: created on the manager (swarm scope, never attachable, `internal` when
//! asked, owner labels, encrypted unless the kernel cannot), and the decision whether they are
//! encrypted.

use std::collections::{BTreeMap, HashMap};

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptions;
use bulkhead_ports::runtime::LABEL_PROJECT;

use crate::client::SwarmClient;
use crate::error::SwarmError;
use crate::ipsec::IpsecSupport;
use crate::names;

/// The driver option that makes dockerd encrypt the overlay (IPsec ESP between nodes).
const ENCRYPTED: &str = "encrypted";

/// Reads of a network the manager has not allocated yet (100 ms apart).
const ALLOCATION_POLLS: usize = 100;

/// An overlay network as Bulkhead wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlaySpec {
    pub name: String,
    /// No route out (`--internal`): for a service that declares no egress.
    pub internal: bool,
    pub encrypted: bool,
    /// Owner labels; `dev.bulkhead.project` at least.
    pub labels: BTreeMap<String, String>,
}

/// Whether overlays are encrypted, and what to tell the user about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encryption {
    pub encrypted: bool,
    /// Said in the output when set: why overlays are not encrypted, or why that is not known.
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptionError {
    #[error(
        "encrypted overlay networks cannot work here: {reason}; traffic between nodes would be dropped"
    )]
    Unavailable { reason: String },
}

impl EncryptionError {
    /// The fix, for the hint line.
    pub fn hint(&self) -> &'static str {
        "run the Swarm on kernels with IPsec ESP (esp4 and rfc4106(gcm(aes))), or pass --allow-unencrypted-overlay to carry service traffic between nodes unencrypted"
    }
}

/// Encrypted by default; unencrypted only when the kernel has no IPsec and the user allowed
/// it (`--allow-unencrypted-overlay`), said in `note`. When the probe could not tell, the
/// overlays stay encrypted and the note says that it is not known whether they work.
pub fn encryption(
    support: &IpsecSupport,
    allow_unencrypted: bool,
) -> Result<Encryption, EncryptionError> {
    match support {
        IpsecSupport::Available => Ok(Encryption {
            encrypted: true,
            note: None,
        }),
        IpsecSupport::Missing { reason } if allow_unencrypted => Ok(Encryption {
            encrypted: false,
            note: Some(format!(
                "overlay networks are NOT encrypted (--allow-unencrypted-overlay): {reason}"
            )),
        }),
        IpsecSupport::Missing { reason } => Err(EncryptionError::Unavailable {
            reason: reason.clone(),
        }),
        IpsecSupport::Unknown { reason } => Ok(Encryption {
            encrypted: true,
            note: Some(format!(
                "overlay networks are encrypted, but whether the nodes' kernels carry IPsec is not known ({reason}); if they do not, traffic between nodes is dropped"
            )),
        }),
    }
}

impl SwarmClient {
    /// Create the overlay, or find it as it is. Returns its id and whether it was created. An
    /// existing one of another project, or with other settings, is an error: a network's
    /// settings cannot change.
    pub async fn create_overlay(&self, spec: &OverlaySpec) -> Result<(String, bool), SwarmError> {
        names::network_name(&spec.name)?;
        let project = spec.labels.get(LABEL_PROJECT).cloned().unwrap_or_default();
        if let Some(found) = self.overlay_named(&spec.name).await? {
            let labels = found.labels.clone().unwrap_or_default();
            let owner = labels.get(LABEL_PROJECT).cloned();
            if owner.as_deref() != Some(project.as_str()) {
                return Err(SwarmError::NotOwned {
                    what: "network",
                    name: spec.name.clone(),
                    project,
                    owner,
                });
            }
            let encrypted = found
                .options
                .as_ref()
                .is_some_and(|o| o.contains_key(ENCRYPTED));
            let have = (
                found.driver.as_deref() == Some("overlay"),
                found.internal == Some(true),
                encrypted,
                found.attachable == Some(true),
            );
            if have != (true, spec.internal, spec.encrypted, false) {
                return Err(SwarmError::Changed {
                    what: "network",
                    name: spec.name.clone(),
                    differs: format!(
                        "driver {}, internal {}, encrypted {}, attachable {}",
                        found.driver.as_deref().unwrap_or("?"),
                        have.1,
                        have.2,
                        have.3
                    ),
                });
            }
            return Ok((found.id.unwrap_or_default(), false));
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("overlay".to_string()),
            scope: Some("swarm".to_string()),
            internal: Some(spec.internal),
            attachable: Some(false),
            options: spec
                .encrypted
                .then(|| HashMap::from([(ENCRYPTED.to_string(), String::new())])),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(self.fail("create", "network", &spec.name))?;
        Ok((created.id, true))
    }

    /// The swarm-scoped network named exactly `name` (the engine's name filter matches parts),
    /// once the manager has allocated it: before that its driver and options read empty (the
    /// engine shows them from the allocation), so a new one is read again for a few seconds.
    async fn overlay_named(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::Network>, SwarmError> {
        for _ in 0..ALLOCATION_POLLS {
            match self.overlay_listed(name).await? {
                Some(n) if n.driver.as_deref().unwrap_or_default().is_empty() => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                found => return Ok(found),
            }
        }
        self.overlay_listed(name).await
    }

    async fn overlay_listed(
        &self,
        name: &str,
    ) -> Result<Option<bollard::models::Network>, SwarmError> {
        let found = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(HashMap::from([
                    ("name".to_string(), vec![name.to_string()]),
                    ("scope".to_string(), vec!["swarm".to_string()]),
                ])),
            }))
            .await
            .map_err(self.fail("list", "network", name))?;
        Ok(found.into_iter().find(|n| n.name.as_deref() == Some(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_are_encrypted_unless_the_kernel_cannot_and_the_user_allowed_it() {
        let missing = IpsecSupport::Missing {
            reason: "the kernel refused an ESP state: Error: Requested AEAD algorithm not found."
                .into(),
        };
        assert_eq!(
            encryption(&IpsecSupport::Available, false),
            Ok(Encryption {
                encrypted: true,
                note: None
            })
        );
        let refused = encryption(&missing, false).expect_err("refused without the flag");
        assert!(
            refused
                .to_string()
                .contains("traffic between nodes would be dropped")
        );
        assert!(refused.hint().contains("--allow-unencrypted-overlay"));
        let allowed = encryption(&missing, true).expect("allowed with the flag");
        assert!(!allowed.encrypted);
        assert!(
            allowed
                .note
                .is_some_and(|n| n.contains("NOT encrypted") && n.contains("AEAD")),
        );
        let unknown = IpsecSupport::Unknown {
            reason: "not root".into(),
        };
        for allow in [false, true] {
            let e = encryption(&unknown, allow).expect("encrypted when unknown");
            assert!(e.encrypted && e.note.is_some_and(|n| n.contains("not known")));
        }
    }
}
