//! The store port: projects, immutable releases, and the active release of each service;
//! accounts, their API tokens and role bindings; sealed secret versions. Every write is durable
//! when the call returns.

use std::future::Future;

use bulkhead_core::auth::{Binding, ProjectName, TokenId, TokenRecord, UserName, UserRecord};
use bulkhead_core::secrets::{
    KekId, SecretName, SecretRef, SecretSummary, SecretVersion, SecretVersionInfo, WrappedDek,
    WrappedVersion,
};
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
    /// `what` is `user`, `token`...
    #[error("{what} {name} already exists")]
    Exists { what: &'static str, name: String },
    #[error("{what} {name} does not exist")]
    NotFound { what: &'static str, name: String },
    /// A compare-and-set lost: the record changed since the caller read it (re-read, retry).
    #[error("{what} {name} changed meanwhile: {reason}")]
    Conflict {
        what: &'static str,
        name: String,
        reason: String,
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

/// What authenticating one request needs, read in one transaction: the token's record, its
/// owner and the owner's bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenLookup {
    pub token: TokenRecord,
    pub user: UserRecord,
    pub bindings: Vec<Binding>,
}

/// What [`Store::rewrap_secret`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rewrapped {
    /// The new wrapped data key is stored.
    Replaced,
    /// The version's data key is no longer under the expected key (someone re-wrapped it
    /// first); nothing was written.
    NotUnder { found: KekId },
    /// The version no longer exists (the secret was removed); nothing was written.
    Gone,
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

    /// Record a new release with the next number for (project, service) and make it active,
    /// activated by `activated_by`, in one transaction. When the active release already has
    /// `spec_hash`, nothing is written and that release is returned with `false`.
    fn record_release(
        &self,
        release: Release,
        activated_by: &str,
    ) -> impl Future<Output = Result<(Release, bool), StoreError>> + Send;
    /// A deploy's writes in one transaction: put `project`, then for each release: unchanged
    /// (`false`) when the service's active release has its hash; the latest release made
    /// active again (`false`) when none is active and the latest has its hash; else recorded
    /// with the next number and made active (`true`). Every service of the deploy is recorded as
    /// activated by its release's `created_by` (the deployer), unchanged ones included.
    fn record_deploy(
        &self,
        project: &ProjectRecord,
        releases: Vec<Release>,
    ) -> impl Future<Output = Result<Vec<(Release, bool)>, StoreError>> + Send;
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
    /// Who made each service's active release active (an account name; `local` in embedded
    /// mode), by service: what the reconciler checks before it creates a container of a
    /// release that carries waivers.
    fn activated_by(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<std::collections::BTreeMap<String, String>, StoreError>> + Send;
    /// Make an existing release active (rollback), activated by `activated_by`.
    fn activate(
        &self,
        project: &str,
        service: &str,
        number: u64,
        activated_by: &str,
    ) -> impl Future<Output = Result<Release, StoreError>> + Send;
    /// Forget the active pointers of `services` (they left the spec, or the project went
    /// down), in one transaction; their releases stay.
    fn deactivate(
        &self,
        project: &str,
        services: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Mark `project` as possibly holding a replica its run left without its names on a
    /// network (`true`: set before a run hands a service over; `false`: cleared once a run
    /// ended with every replica lit). Marked projects have every candidate looked at again.
    fn set_handover(
        &self,
        project: &str,
        under_way: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether `project` is marked (see [`Store::set_handover`]).
    fn handover(&self, project: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Add a user or service account; [`StoreError::Exists`] when the name is taken.
    fn add_user(&self, user: &UserRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_user(
        &self,
        name: &UserName,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;
    /// Every account, by name.
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserRecord>, StoreError>> + Send;
    /// Disable or re-enable an account; [`StoreError::NotFound`] when there is none.
    fn set_user_disabled(
        &self,
        name: &UserName,
        disabled: bool,
    ) -> impl Future<Output = Result<UserRecord, StoreError>> + Send;
    /// Remove an account with all its tokens and bindings, in one transaction;
    /// [`StoreError::NotFound`] when there is none.
    fn delete_user(&self, name: &UserName) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record a new token. Its owner must exist ([`StoreError::NotFound`]) and its id be new
    /// ([`StoreError::Exists`]).
    fn add_token(&self, token: &TokenRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A token by id: one B-tree lookup.
    fn get_token(
        &self,
        id: &TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// A token with its owner and the owner's bindings, in one read transaction: what each
    /// request's authentication needs. `None` when there is no such token.
    fn lookup_token(
        &self,
        id: &TokenId,
    ) -> impl Future<Output = Result<Option<TokenLookup>, StoreError>> + Send;
    /// The tokens of one account (by id), or of every account (by owner, then id); revoked and
    /// expired ones included.
    fn list_tokens(
        &self,
        owner: Option<&UserName>,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;
    /// Revoke a token at `at` (Unix seconds). Revoking a revoked token keeps the first time.
    /// [`StoreError::NotFound`] when there is no such token.
    fn revoke_token(
        &self,
        id: &TokenId,
        at: u64,
    ) -> impl Future<Output = Result<TokenRecord, StoreError>> + Send;

    /// Add a binding; `false` when the account already has it. The account must exist
    /// ([`StoreError::NotFound`]).
    fn add_binding(
        &self,
        binding: &Binding,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Remove a binding; `false` when the account did not have it.
    fn remove_binding(
        &self,
        binding: &Binding,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The bindings of one account, or of every account: by user, then role name, then scope
    /// (all projects before any one project).
    fn list_bindings(
        &self,
        user: Option<&UserName>,
    ) -> impl Future<Output = Result<Vec<Binding>, StoreError>> + Send;

    /// Record a new version of a secret. Its number must be the next of (project, name): one
    /// more than the highest ever recorded, removed versions included (numbers are never
    /// reused), else [`StoreError::Conflict`] and nothing is written.
    fn put_secret(
        &self,
        secret: &SecretVersion,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The number the next version of (project, name) gets (1 for a name never set).
    fn next_secret_version(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// One version, with its sealed value.
    fn secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
        version: u64,
    ) -> impl Future<Output = Result<Option<SecretVersion>, StoreError>> + Send;
    /// The highest version that exists, with its sealed value.
    fn latest_secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> impl Future<Output = Result<Option<SecretVersion>, StoreError>> + Send;
    /// The versions of one secret, ascending, without their values.
    fn secret_versions(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> impl Future<Output = Result<Vec<SecretVersionInfo>, StoreError>> + Send;
    /// The secrets of a project, by name, without their values.
    fn list_secrets(
        &self,
        project: &ProjectName,
    ) -> impl Future<Output = Result<Vec<SecretSummary>, StoreError>> + Send;
    /// Remove every version of a secret in one transaction; returns how many there were (0:
    /// no such secret). Its numbers stay used.
    fn remove_secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The wrapped data key of every version of every secret (no ciphertexts): what key
    /// rotation re-wraps.
    fn wrapped_secret_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<WrappedVersion>, StoreError>> + Send;
    /// Replace one version's wrapped data key, if it is still under `expected` (compare and
    /// set), in one durable transaction; the ciphertext is untouched.
    fn rewrap_secret(
        &self,
        target: &SecretRef,
        expected: &KekId,
        dek: &WrappedDek,
    ) -> impl Future<Output = Result<Rewrapped, StoreError>> + Send;
}
