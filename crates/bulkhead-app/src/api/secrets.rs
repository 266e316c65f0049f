//! Secret commands: set (a new sealed version, then every service delivering an older version
//! of it rolls), list and versions (names, numbers, sizes, times — never a value), remove, and
//! rotating the key-encryption key. No reply carries a value, a key or a hash of either.

use bulkhead_api_types::{
    SecretList, SecretRemoved, SecretRow, SecretSetReply, SecretVersionRow, SecretVersions,
};
use serde_json::Value;

use bulkhead_core::clock::rfc3339;

use super::command::Command;
use super::dispatch::{Api, Authenticated, Reply};
use super::error::ApiError;
use super::render::json;
use crate::clock::now_secs;
use crate::secrets::SecretsError;

fn secret_error(e: SecretsError) -> ApiError {
    match &e {
        SecretsError::Secret(_) => ApiError::bad_request(e.to_string()),
        SecretsError::NoSuchSecret { .. } | SecretsError::NoSuchVersion { .. } => {
            ApiError::not_found(e.to_string())
        }
        _ => ApiError::internal(e.to_string()),
    }
}

impl Api {
    pub(super) async fn secrets(
        &self,
        who: &Authenticated,
        command: Command,
    ) -> Result<Reply, ApiError> {
        let secrets =
            self.deployer.secrets.clone().ok_or_else(|| {
                ApiError::internal("the encrypted secret store is not configured")
            })?;
        let document: Value = match command {
            Command::SecretSet {
                project,
                name,
                value,
            } => {
                bulkhead_core::secrets::check_value(&value.0)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let actor = who.subject.name().to_string();
                // A new version rolls the services that use the secret: one whose release
                // carries waivers needs the right to grant them, checked again under the lock.
                let may_grant = self.check_secret_roll(who, &project, name.as_str()).await?;
                let (p, n) = (project.clone(), name.clone());
                let s = std::sync::Arc::clone(&secrets);
                let (version, rolled) = self
                    .locked(&project, move |d| async move {
                        if !may_grant {
                            let waived = d.waived_users_of_secret(p.as_str(), n.as_str()).await?;
                            if let Some((service, release, _)) = waived.first() {
                                return Err(crate::deploy::DeployError::Policy {
                                    service: service.clone(),
                                    reason: format!(
                                        "release {release} now carries waivers, and a new version of this secret would roll it"
                                    ),
                                    hint: "ask an admin to set the secret".into(),
                                });
                            }
                        }
                        let version =
                            s.set(&p, &n, value.0, &actor, now_secs())
                                .await
                                .map_err(|e| crate::deploy::DeployError::Policy {
                                    service: String::new(),
                                    reason: e.to_string(),
                                    hint: "check the value: not empty, at most 1 MiB".into(),
                                })?;
                        let rolled = d
                            .roll_secret(p.as_str(), n.as_str(), version, &actor)
                            .await?;
                        Ok((version, rolled))
                    })
                    .await?;
                if !rolled.is_empty() {
                    self.refresh(&project).await;
                }
                json(&SecretSetReply {
                    project: project.to_string(),
                    secret: name.to_string(),
                    version,
                    rolled,
                })?
            }
            Command::SecretList { project } => {
                let list = secrets.list(&project).await.map_err(secret_error)?;
                let secrets = list
                    .iter()
                    .map(|s| SecretRow {
                        name: s.name.to_string(),
                        versions: s.versions.clone(),
                        latest: s.latest,
                        created_at: rfc3339(s.created_at),
                        created_by: s.created_by.clone(),
                    })
                    .collect();
                json(&SecretList {
                    project: project.to_string(),
                    secrets,
                })?
            }
            Command::SecretVersions { project, name } => {
                let versions = secrets
                    .versions(&project, &name)
                    .await
                    .map_err(secret_error)?;
                let versions = versions
                    .iter()
                    .map(|v| SecretVersionRow {
                        version: v.version,
                        created_at: rfc3339(v.created_at),
                        created_by: v.created_by.clone(),
                        size: v.size,
                    })
                    .collect();
                json(&SecretVersions {
                    project: project.to_string(),
                    secret: name.to_string(),
                    versions,
                })?
            }
            Command::SecretRemove { project, name } => {
                let removed = secrets
                    .remove(&project, &name)
                    .await
                    .map_err(secret_error)?;
                json(&SecretRemoved {
                    project: project.to_string(),
                    secret: name.to_string(),
                    removed_versions: removed,
                })?
            }
            Command::KeyRotate => {
                let report = secrets.rotate().await.map_err(secret_error)?;
                json(&report)?
            }
            _ => return Err(ApiError::internal("not a secret command")),
        };
        Ok(Reply::Json(document))
    }
}
