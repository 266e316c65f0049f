//! The JSON documents commands reply with: what the API returns and what `--json` prints.

use bulkhead_core::deploy::Desired;
use bulkhead_ports::runtime::{LABEL_RELEASE, LABEL_SERVICE};
use bulkhead_ports::{ContainerInfo, Release};
use serde_json::{Value, json};

use crate::deploy::UpReport;

/// What `up` did.
pub fn up(r: &UpReport) -> Value {
    json!({
        "project": r.verdict.project,
        "changed": !r.plan.is_empty(),
        "releases": r.releases.iter().map(|(s, n, new)| json!({"service": s, "release": n, "new": new})).collect::<Vec<_>>(),
        "plan": r.plan,
        "created": r.outcome.created,
        "removed": r.outcome.removed,
        "held": r.outcome.held,
        "verdict": r.verdict,
    })
}

/// A service's releases, oldest first, with the active one marked.
pub fn releases(project: &str, service: &str, all: &[Release], active: Option<u64>) -> Value {
    let rows: Vec<_> = all
        .iter()
        .map(|r| json!({"release": r.number, "active": Some(r.number) == active, "image": r.image, "spec_hash": r.spec_hash, "waivers": r.waivers, "created_at": r.created_at, "created_by": r.created_by}))
        .collect();
    json!({ "project": project, "service": service, "releases": rows })
}

/// The project's services as desired, each with the containers last seen for it.
pub fn services(project: &str, desired: &Desired, containers: &[ContainerInfo]) -> Value {
    let rows: Vec<_> = desired
        .services
        .values()
        .map(|s| {
            let mine: Vec<_> = containers
                .iter()
                .filter(|c| c.labels.get(LABEL_SERVICE) == Some(&s.name))
                .map(|c| {
                    json!({
                        "name": c.name,
                        "id": c.id,
                        "release": c.labels.get(LABEL_RELEASE),
                        "state": c.state,
                        "health": c.health,
                        "published": c.published,
                    })
                })
                .collect();
            json!({
                "service": s.name,
                "release": s.release,
                "replicas": s.replicas,
                "containers": mine,
            })
        })
        .collect();
    json!({ "project": project, "services": rows })
}
