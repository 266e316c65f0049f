//! Replies about projects and their services: the listing, one project's state, `up`,
//! `plan`, `down`, `ps`, `scale`, `rollback`, `logs` and `releases`.

use bulkhead_core::deploy::Plan;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::verdict::VerdictDoc;

/// `GET /v1/projects`: the projects the caller may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectRow {
    #[schema(schema_with = crate::schema::project_name)]
    pub name: String,
}

/// A service left as it is: its active release carries waivers its activator may no longer
/// grant (docs/rbac.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeldService {
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub release: u64,
    /// Who activated the release (empty when the store does not say).
    pub activated_by: String,
    /// Why, and who can lift it.
    pub reason: String,
}

/// `GET /v1/projects/{project}`: each service's active release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectGet {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    pub services: Vec<ActiveRelease>,
    pub held: Vec<HeldService>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActiveRelease {
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub release: u64,
    /// Pinned: an image id or `name@sha256:...`.
    pub image: String,
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    pub created_by: String,
    /// Who made it the active one (`null`: the store does not say).
    #[serde(deserialize_with = "crate::required")]
    #[schema(schema_with = crate::schema::text_or_null, required = true)]
    pub activated_by: Option<String>,
    /// The rules its waivers relax.
    pub waivers: Vec<String>,
}

/// `POST /v1/projects/{project}/deploys`: what `up` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    /// False when the plan was empty: nothing was touched.
    pub changed: bool,
    pub releases: Vec<UpRelease>,
    #[schema(schema_with = crate::schema::plan)]
    pub plan: Plan,
    /// Containers started.
    pub created: Vec<String>,
    /// Containers removed.
    pub removed: Vec<String>,
    pub held: Vec<HeldService>,
    pub verdict: VerdictDoc,
}

/// A service's release after `up` (`new`: this deploy made it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpRelease {
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub release: u64,
    pub new: bool,
}

/// `POST /v1/projects/{project}/plans`: what `up` would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::plan)]
    pub plan: Plan,
}

/// `DELETE /v1/projects/{project}`: what `down` removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    pub removed: Vec<String>,
    pub networks_removed: Vec<String>,
}

/// `GET /v1/projects/{project}/services`: each service as desired, with the containers last
/// seen for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServicesReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    pub services: Vec<ServiceRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRow {
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub release: u64,
    pub replicas: u32,
    pub containers: Vec<ContainerRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContainerRow {
    pub name: String,
    pub id: String,
    /// Its release label (`null`: it has none).
    #[serde(deserialize_with = "crate::required")]
    #[schema(schema_with = crate::schema::text_or_null, required = true)]
    pub release: Option<String>,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// `none` (no health check), `starting`, `healthy` or `unhealthy`.
    #[schema(schema_with = health)]
    pub health: String,
    /// `(container port/protocol, host address, host port)`.
    #[schema(schema_with = crate::schema::published)]
    pub published: Vec<(String, String, u16)>,
}

fn health() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["none", "starting", "healthy", "unhealthy"]))
        .build()
}

/// `PUT .../services/{service}/replicas`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScaleReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    #[schema(maximum = 100)]
    pub replicas: u32,
    /// False when the service already had that many.
    pub changed: bool,
}

/// `POST .../services/{service}/rollbacks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RollbackReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    /// The release now active.
    pub release: u64,
    #[schema(schema_with = crate::schema::plan)]
    pub plan: Plan,
    pub held: Vec<HeldService>,
}

/// `GET .../services/{service}/logs`: each replica's last lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogsReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub containers: Vec<ContainerLogs>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContainerLogs {
    pub container: String,
    pub lines: Vec<String>,
}

/// `GET .../services/{service}/releases`: oldest first, the active one marked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleasesReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::service_name)]
    pub service: String,
    pub releases: Vec<ReleaseRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRow {
    pub release: u64,
    pub active: bool,
    pub image: String,
    pub spec_hash: String,
    /// `[rule, reason]` of each waiver.
    #[schema(schema_with = crate::schema::waivers)]
    pub waivers: Vec<(String, String)>,
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    pub created_by: String,
}
