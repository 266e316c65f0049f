//! Replies about secrets (names, versions, sizes and who set them: never a value) and the
//! key rotation report.

use bulkhead_core::secrets::KekId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v1/projects/{project}/secrets/{name}`: the new version, and the services it rolled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretSetReply {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::secret_name)]
    pub secret: String,
    pub version: u64,
    pub rolled: Vec<String>,
}

/// `GET /v1/projects/{project}/secrets`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretList {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    pub secrets: Vec<SecretRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretRow {
    #[schema(schema_with = crate::schema::secret_name)]
    pub name: String,
    pub versions: Vec<u64>,
    pub latest: u64,
    /// When the latest version was set.
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    pub created_by: String,
}

/// `GET /v1/projects/{project}/secrets/{name}/versions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretVersions {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::secret_name)]
    pub secret: String,
    pub versions: Vec<SecretVersionRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretVersionRow {
    pub version: u64,
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: String,
    pub created_by: String,
    /// The value's size in bytes.
    pub size: u64,
}

/// `DELETE /v1/projects/{project}/secrets/{name}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretRemoved {
    #[schema(schema_with = crate::schema::project_name)]
    pub project: String,
    #[schema(schema_with = crate::schema::secret_name)]
    pub secret: String,
    pub removed_versions: u64,
}

/// `POST /v1/keys/rotations`: what a rotation did (docs/secrets.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotationReport {
    /// The current key-encryption key at the end.
    #[serde(deserialize_with = "crate::required")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{16}$", required = true)]
    pub kek: Option<KekId>,
    /// This run made a new key (`false`: it continued or finished an earlier, interrupted one).
    pub created: bool,
    /// Versions whose data key this run re-wrapped under the current key.
    pub rewrapped: u64,
    /// Versions already under the current key.
    pub already_current: u64,
    /// Versions removed while the rotation ran.
    pub vanished: u64,
    /// Old keys destroyed.
    #[schema(value_type = Vec<String>)]
    pub retired: Vec<KekId>,
    /// Old keys kept because a version that failed to re-wrap still uses them.
    #[schema(value_type = Vec<String>)]
    pub kept: Vec<KekId>,
    /// Versions that could not be re-wrapped (damaged, or under a key that is gone).
    pub failed: Vec<RotationFailure>,
    /// Stopped by the caller before the end; running again continues.
    pub interrupted: bool,
}

/// One version rotation could not re-wrap, and why (never any key or value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotationFailure {
    pub secret: String,
    pub reason: String,
}
