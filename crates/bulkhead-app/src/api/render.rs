//! The replies commands give, as the typed documents of `bulkhead-api-types` (what the API
//! returns and what `--json` prints), built from the app's own values.

use bulkhead_api_types::{
    ContainerRow, HeldService, ReleaseRow, ReleasesReply, ServiceRow, ServicesReply, TokenReply,
    UpRelease, UpReply, UserReply, VerdictDoc,
};
use bulkhead_core::auth::{Binding, TokenRecord, UserRecord};
use bulkhead_core::clock::rfc3339;
use bulkhead_core::deploy::Desired;
use bulkhead_ports::runtime::{HealthState, LABEL_RELEASE, LABEL_SERVICE};
use bulkhead_ports::{ContainerInfo, Release};
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use crate::deploy::{Held, UpReport};

/// A reply as the JSON the dispatcher returns.
pub fn json<T: Serialize>(reply: &T) -> Result<Value, ApiError> {
    serde_json::to_value(reply)
        .map_err(|e| ApiError::internal(format!("the reply cannot be encoded: {e}")))
}

/// Services held back (see `deploy::activation`).
pub fn held(held: &[Held]) -> Vec<HeldService> {
    held.iter()
        .map(|h| HeldService {
            service: h.service.clone(),
            release: h.release,
            activated_by: h.activated_by.clone(),
            reason: h.reason.clone(),
        })
        .collect()
}

/// What `up` did.
pub fn up(r: &UpReport) -> Result<UpReply, ApiError> {
    let verdict = VerdictDoc::from_document(json(&r.verdict)?)
        .map_err(|e| ApiError::internal(format!("the verdict cannot be encoded: {e}")))?;
    Ok(UpReply {
        project: r.verdict.project.clone(),
        changed: !r.plan.is_empty(),
        releases: r
            .releases
            .iter()
            .map(|(service, release, new)| UpRelease {
                service: service.clone(),
                release: *release,
                new: *new,
            })
            .collect(),
        plan: r.plan.clone(),
        created: r.outcome.created.clone(),
        removed: r.outcome.removed.clone(),
        held: held(&r.outcome.held),
        verdict,
    })
}

/// A service's releases, oldest first, with the active one marked.
pub fn releases(
    project: &str,
    service: &str,
    all: &[Release],
    active: Option<u64>,
) -> ReleasesReply {
    let releases = all
        .iter()
        .map(|r| ReleaseRow {
            release: r.number,
            active: Some(r.number) == active,
            image: r.image.clone(),
            spec_hash: r.spec_hash.clone(),
            waivers: r.waivers.clone(),
            created_at: r.created_at.clone(),
            created_by: r.created_by.clone(),
        })
        .collect();
    ReleasesReply {
        project: project.to_string(),
        service: service.to_string(),
        releases,
    }
}

fn health(h: HealthState) -> &'static str {
    match h {
        HealthState::None => "none",
        HealthState::Starting => "starting",
        HealthState::Healthy => "healthy",
        HealthState::Unhealthy => "unhealthy",
    }
}

/// The project's services as desired, each with the containers last seen for it.
pub fn services(project: &str, desired: &Desired, containers: &[ContainerInfo]) -> ServicesReply {
    let services = desired
        .services
        .values()
        .map(|s| ServiceRow {
            service: s.name.clone(),
            release: s.release,
            replicas: s.replicas,
            containers: containers
                .iter()
                .filter(|c| c.labels.get(LABEL_SERVICE) == Some(&s.name))
                .map(|c| ContainerRow {
                    name: c.name.clone(),
                    id: c.id.clone(),
                    release: c.labels.get(LABEL_RELEASE).cloned(),
                    state: c.state.clone(),
                    health: health(c.health).to_string(),
                    published: c.published.clone(),
                })
                .collect(),
        })
        .collect();
    ServicesReply {
        project: project.to_string(),
        services,
    }
}

/// A token's record (never its secret).
pub fn token(t: &TokenRecord) -> TokenReply {
    TokenReply {
        id: t.id.to_string(),
        owner: t.owner.to_string(),
        name: t.name.to_string(),
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        revoked_at: t.revoked_at.map(rfc3339),
    }
}

/// An account, with its own bindings among `bindings`.
pub fn user(u: &UserRecord, bindings: &[Binding]) -> UserReply {
    UserReply {
        name: u.name.to_string(),
        kind: u.kind,
        created_at: rfc3339(u.created_at),
        disabled: u.disabled,
        bindings: bindings
            .iter()
            .filter(|b| b.user == u.name)
            .cloned()
            .collect(),
    }
}
