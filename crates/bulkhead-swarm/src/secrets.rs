//! Versioned Swarm secrets: `<project>-<name>-v<N>`, one immutable secret per version, made
//! from the bytes handed in. The value goes to the manager in one raw request of its own —
//! not through bollard, which logs request bodies at trace level — from a buffer that is
//! wiped after; it is never logged, kept, or put in an error.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::query_parameters::ListSecretsOptions;
use bulkhead_ports::runtime::LABEL_PROJECT;
use zeroize::Zeroizing;

use crate::client::SwarmClient;
use crate::connect::post_json;
use crate::error::SwarmError;
use crate::names;

/// On a Swarm secret: the name the spec gives the secret, and its version.
pub const LABEL_SECRET: &str = "dev.bulkhead.secret";
pub const LABEL_SECRET_VERSION: &str = "dev.bulkhead.secret-version";

/// The largest value a Swarm secret holds (swarmkit's `MaxSecretSize`).
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

/// A secret on the Swarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmSecret {
    pub id: String,
    pub name: String,
    /// False when it existed already (a version, once made, never changes).
    pub created: bool,
}

impl SwarmClient {
    /// Version `version` of `project`'s secret `name`, made from `value` unless the project
    /// has it already (then its value is the one made first: Swarm secrets are immutable and
    /// cannot be read back).
    pub async fn create_secret(
        &self,
        project: &str,
        name: &str,
        version: u32,
        value: &[u8],
    ) -> Result<SwarmSecret, SwarmError> {
        let full = names::secret_name(project, name, version)?;
        if value.is_empty() || value.len() > MAX_SECRET_BYTES {
            return Err(SwarmError::SecretSize {
                name: full,
                size: value.len(),
            });
        }
        if let Some(found) = self.existing_secret(project, &full).await? {
            return Ok(found);
        }
        let labels = HashMap::from([
            (LABEL_PROJECT, project.to_string()),
            (LABEL_SECRET, name.to_string()),
            (LABEL_SECRET_VERSION, version.to_string()),
        ]);
        let body = secret_body(&full, &labels, value);
        let operation = || format!("create secret `{full}`");
        let answer = post_json(
            &self.endpoint,
            &self.docker.client_version(),
            "/secrets/create",
            &body,
        )
        .await
        .map_err(|reason| SwarmError::Engine {
            operation: operation(),
            reason,
        })?;
        drop(body);
        match answer.status {
            201 | 200 => {
                let id = serde_json::from_slice::<serde_json::Value>(&answer.body)
                    .ok()
                    .and_then(|v| v.get("ID").and_then(|id| id.as_str().map(str::to_string)))
                    .ok_or_else(|| SwarmError::Engine {
                        operation: operation(),
                        reason: "the answer has no ID".to_string(),
                    })?;
                Ok(SwarmSecret {
                    id,
                    name: full,
                    created: true,
                })
            }
            // Made meanwhile by another run: the same version, hence the same value.
            409 => self
                .existing_secret(project, &full)
                .await?
                .ok_or_else(|| SwarmError::Engine {
                    operation: operation(),
                    reason: "the engine says it exists, but it is not listed".to_string(),
                }),
            status => Err(SwarmError::Engine {
                operation: operation(),
                reason: engine_message(status, &answer.body),
            }),
        }
    }

    /// The secret named exactly `name`, if `project` owns it; one of another owner is an error.
    async fn existing_secret(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<SwarmSecret>, SwarmError> {
        let found = self
            .docker
            .list_secrets(Some(ListSecretsOptions {
                filters: Some(HashMap::from([(
                    "name".to_string(),
                    vec![name.to_string()],
                )])),
            }))
            .await
            .map_err(self.fail("list", "secret", name))?;
        let Some(secret) = found
            .into_iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name))
        else {
            return Ok(None);
        };
        let owner = secret
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .and_then(|l| l.get(LABEL_PROJECT).cloned());
        if owner.as_deref() != Some(project) {
            return Err(SwarmError::NotOwned {
                what: "secret",
                name: name.to_string(),
                project: project.to_string(),
                owner,
            });
        }
        Ok(Some(SwarmSecret {
            id: secret.id.unwrap_or_default(),
            name: name.to_string(),
            created: false,
        }))
    }
}

/// `{"Name":...,"Labels":{...},"Data":"<base64>"}` in a buffer wiped when dropped (the base64
/// text too).
fn secret_body(name: &str, labels: &HashMap<&str, String>, value: &[u8]) -> Zeroizing<Vec<u8>> {
    let data = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
    let head = serde_json::json!({ "Name": name, "Labels": labels }).to_string();
    let mut body = Zeroizing::new(Vec::with_capacity(head.len() + data.len() + 12));
    // `head` is an object: its closing brace is replaced by the data field.
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(b",\"Data\":\"");
    body.extend_from_slice(data.as_bytes());
    body.extend_from_slice(b"\"}");
    body
}

/// The engine's `{"message": ...}`, bounded, else the status alone. The request's body is not
/// in it: the engine's secret errors name the secret, never its data.
fn engine_message(status: u16, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str().map(str::to_string))
        });
    match message {
        Some(m) => format!("{status}: {}", m.chars().take(300).collect::<String>()),
        None => format!("status {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_value_in_base64_only() {
        let labels = HashMap::from([(LABEL_PROJECT, "shop".to_string())]);
        let body = secret_body("shop-pw-v1", &labels, b"hunter2");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["Name"], "shop-pw-v1");
        assert_eq!(v["Labels"][LABEL_PROJECT], "shop");
        assert_eq!(v["Data"], "aHVudGVyMg==");
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    }

    #[test]
    fn engine_errors_are_bounded() {
        let long = format!("{{\"message\":\"{}\"}}", "x".repeat(1000));
        assert_eq!(
            engine_message(400, long.as_bytes()).len(),
            "400: ".len() + 300
        );
        assert_eq!(engine_message(500, b"oops"), "status 500");
    }
}
