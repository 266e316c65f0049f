//! A service's secrets at deploy time: which secret, which version, delivered where and to
//! whom. Compose's top-level `file:` and `environment:` secrets are imported as new versions
//! when their content changed (compared with the latest in constant time, never by a stored
//! hash); other secrets must have been set (`bulkhead secret set`). A release records the
//! versions it uses, so changing a secret rolls the services that use it.

use std::collections::BTreeMap;
use std::path::Path;

use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::{MAX_SECRET_BYTES, SecretName};
use bulkhead_core::spec::Project;
use bulkhead_core::spec::model::{FileRef, SecretDef, Service};
use bulkhead_ports::Store;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::DeployError;
use crate::project::files::read_nofollow;
use crate::secrets::Secrets;

/// Where secrets land in the container unless a target says otherwise.
pub const SECRETS_DIR: &str = "/run/secrets";

/// One secret a release delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretUse {
    pub name: String,
    pub version: u64,
    /// Absolute path in the container.
    pub target: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

fn refused(service: &str, reason: String, hint: &str) -> DeployError {
    DeployError::Policy {
        service: service.to_string(),
        reason,
        hint: hint.to_string(),
    }
}

/// The secrets `service` uses, each at the version this deploy delivers. With `actor`, changed
/// `file:`/`environment:` sources are imported as new versions by `actor`; without (a plan),
/// a changed source shows as the next version and nothing is written.
#[allow(clippy::too_many_arguments)]
pub async fn resolve<S: Store>(
    secrets: Option<&Secrets<S>>,
    project: &Project,
    name: &str,
    service: &Service,
    user: Option<&str>,
    env: &BTreeMap<String, String>,
    actor: Option<&str>,
    now: u64,
) -> Result<Vec<SecretUse>, DeployError> {
    if service.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let Some(secrets) = secrets else {
        return Err(refused(
            name,
            "`secrets:` need the encrypted secret store, which is not configured".into(),
            "run with a state directory (its key files are made on first use) or set BULKHEAD_KEK",
        ));
    };
    let project_name = ProjectName::new(&project.name)
        .map_err(|e| refused(name, e.to_string(), "rename the project"))?;
    let mut out = Vec::new();
    for r in &service.secrets {
        let f: &FileRef = &r.value;
        let secret = SecretName::new(&f.source).map_err(|e| {
            refused(
                name,
                format!("secret `{}`: {e}", f.source),
                "rename the secret",
            )
        })?;
        let (uid, gid) = owner(name, f, user)?;
        let target = if f.target.starts_with('/') {
            f.target.clone()
        } else {
            format!("{SECRETS_DIR}/{}", f.target)
        };
        let candidate = match project.secrets.get(&f.source) {
            Some(SecretDef::File(path)) => Some(read_source(name, &f.source, Path::new(path))?),
            Some(SecretDef::Environment(var)) => match env.get(var) {
                Some(v) => Some(Zeroizing::new(v.as_bytes().to_vec())),
                None => {
                    return Err(refused(
                        name,
                        format!(
                            "secret `{}` comes from the variable {var}, which is not set",
                            f.source
                        ),
                        "set the variable in the deploying environment",
                    ));
                }
            },
            Some(SecretDef::Content(_)) => {
                return Err(refused(
                    name,
                    format!(
                        "secret `{}` has inline `content:`, which Compose allows for configs only",
                        f.source
                    ),
                    "use `file:` or `environment:`, or `bulkhead secret set`",
                ));
            }
            Some(SecretDef::External(_)) | None => None,
        };
        let latest = secrets
            .list(&project_name)
            .await
            .map_err(|e| refused(name, e.to_string(), "check the secret store"))?
            .into_iter()
            .find(|s| s.name == secret)
            .map(|s| s.latest);
        let version = match (candidate, latest) {
            (Some(value), latest) => {
                let same = match latest {
                    Some(_) => secrets
                        .latest_equals(&project_name, &secret, &value)
                        .await
                        .map_err(|e| refused(name, e.to_string(), "check the secret store"))?,
                    None => false,
                };
                match (same, actor) {
                    (true, _) => latest.unwrap_or(0),
                    (false, Some(actor)) => secrets
                        .set(&project_name, &secret, value, actor, now)
                        .await
                        .map_err(|e| {
                            refused(
                                name,
                                format!("secret `{}`: {e}", f.source),
                                "check the value",
                            )
                        })?,
                    (false, None) => latest.unwrap_or(0) + 1,
                }
            }
            (None, Some(latest)) => latest,
            (None, None) => {
                return Err(refused(
                    name,
                    format!(
                        "secret `{}` of project {} is not set",
                        f.source, project.name
                    ),
                    &format!(
                        "set it with `bulkhead secret set {}/{} --from-file FILE`, or give it a `file:` or `environment:` source",
                        project.name, f.source
                    ),
                ));
            }
        };
        out.push(SecretUse {
            name: f.source.clone(),
            version,
            target,
            uid,
            gid,
            mode: f.mode.unwrap_or(0o400),
        });
    }
    Ok(out)
}

/// The file's owner: the secret's `uid`/`gid`, else the service's numeric user.
fn owner(service: &str, f: &FileRef, user: Option<&str>) -> Result<(u32, u32), DeployError> {
    let parse = |what: &str, v: &str| {
        v.parse::<u32>().map_err(|_| {
            refused(
                service,
                format!("secret `{}`: {what} {v:?} is not a number", f.source),
                "give uid and gid as numbers",
            )
        })
    };
    let (u, g) = user
        .map(|u| u.split_once(':').unwrap_or((u, u)))
        .map(|(u, g)| (u.to_string(), g.to_string()))
        .unwrap_or_default();
    let uid = match &f.uid {
        Some(v) => parse("uid", v)?,
        None => parse("the service's user", &u)?,
    };
    let gid = match &f.gid {
        Some(v) => parse("gid", v)?,
        None => parse("the service's group", &g)?,
    };
    Ok((uid, gid))
}

/// A `file:` source, bounded.
fn read_source(
    service: &str,
    secret: &str,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>, DeployError> {
    // Confined when the project was opened; read with no link followed, so a swap since then
    // is refused rather than followed.
    read_nofollow(path, MAX_SECRET_BYTES)
        .map(Zeroizing::new)
        .map_err(|e| {
            refused(
                service,
                format!("secret `{secret}`: {e}"),
                "check the `file:` path",
            )
        })
}
