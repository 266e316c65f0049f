//! The store port: projects, immutable releases, and the active release of each service.
//! Every write is durable when the call returns.

use std::future::Future;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "the store at {path} has schema version {found}; this bulkhead knows {known} (upgrade bulkhead, or migrate)"
    )]
    Schema {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("release {number} of {project}/{service} does not exist")]
    NoSuchRelease {
        project: String,
        service: String,
        number: u64,
    },
    #[error("the store is corrupt: {reason}")]
    Corrupt { reason: String },
    #[error("store operation {operation} failed: {reason}")]
    Io {
        operation: &'static str,
        reason: String,
    },
}

/// An immutable record of one deployable version of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub project: String,
    pub service: String,
    /// 1, 2, 3, ... per service.
    pub number: u64,
    /// SHA-256 (hex) over the normalized spec and the image id: equal hashes, equal deploys.
    pub spec_hash: String,
    /// The image, pinned: an image id (`sha256:...`) or `name@sha256:...`.
    pub image: String,
    /// The normalized service spec and its effective hardening, as JSON.
    pub spec: String,
    /// Waived rule ids, each with its reason.
    pub waivers: Vec<(String, String)>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Who created it (a user name; `local` in embedded mode).
    pub created_by: String,
}

/// What the store knows of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub name: String,
    /// Absolute directory of the Compose files.
    pub dir: String,
    /// The Compose files, as given.
    pub files: Vec<String>,
    /// The project-level desired state that is not per service (network topology etc.), as JSON.
    pub state: String,
}

/// The store. Implementations must make each method's effect durable before returning.
pub trait Store: Send + Sync {
    fn put_project(
        &self,
        project: &ProjectRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_project(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ProjectRecord>, StoreError>> + Send;
    fn list_projects(&self) -> impl Future<Output = Result<Vec<ProjectRecord>, StoreError>> + Send;
    /// Remove a project, its releases and active pointers.
    fn delete_project(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record a new release with the next number for (project, service) and make it active, in
    /// one transaction. When the active release already has `spec_hash`, nothing is written and
    /// that release is returned with `false`.
    fn record_release(
        &self,
        release: Release,
    ) -> impl Future<Output = Result<(Release, bool), StoreError>> + Send;
    fn releases(
        &self,
        project: &str,
        service: &str,
    ) -> impl Future<Output = Result<Vec<Release>, StoreError>> + Send;
    fn release(
        &self,
        project: &str,
        service: &str,
        number: u64,
    ) -> impl Future<Output = Result<Option<Release>, StoreError>> + Send;
    /// The active release of every service of the project.
    fn active(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<Release>, StoreError>> + Send;
    /// Make an existing release active (rollback).
    fn activate(
        &self,
        project: &str,
        service: &str,
        number: u64,
    ) -> impl Future<Output = Result<Release, StoreError>> + Send;
    /// Forget a service's active pointer (the service left the spec); its releases stay.
    fn deactivate(
        &self,
        project: &str,
        service: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
