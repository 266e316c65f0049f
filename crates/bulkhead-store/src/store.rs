//! `RedbStore`: the `Store` port over one redb file, each call one transaction on Tokio's
//! blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_core::auth::{Binding, ProjectName, TokenId, TokenRecord, UserName, UserRecord};
use bulkhead_core::secrets::{
    KekId, SecretName, SecretRef, SecretSummary, SecretVersion, SecretVersionInfo, WrappedDek,
    WrappedVersion,
};
use bulkhead_ports::{ProjectRecord, Release, Rewrapped, Store, StoreError, TokenLookup};
use redb::Database;

use crate::accounts;
use crate::open::open_database;
use crate::ops::{self, OpError};
use crate::secrets;

/// The embedded store. Cheap to clone; all clones share one database handle.
///
/// Only one `RedbStore` may have a given file open at a time, across processes and within one
/// (redb locks the file); a second [`RedbStore::open`] fails with [`StoreError::Open`].
/// Its methods must be awaited inside a Tokio runtime (they run on its blocking pool).
#[derive(Clone, Debug)]
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("there is no Tokio runtime to run the store transaction on")]
    NoRuntime,
    #[error("the store transaction did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl RedbStore {
    /// Opens the store at `path`, creating it (and its missing parent directories, mode 0700;
    /// the file, mode 0600) if needed, and bringing its schema to [`crate::SCHEMA_VERSION`].
    ///
    /// Blocks (it commits once); call it at startup or from a blocking context.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let db = open_database(path).map_err(|err| err.into_store(path))?;
        Ok(RedbStore {
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one transaction on the blocking pool.
    async fn run<T, F>(&self, operation: &'static str, transaction: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, OpError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let joined = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(move || transaction(&db))
                .await
                .map_err(RunError::from),
            Err(_) => Err(RunError::NoRuntime),
        };
        match joined {
            Ok(result) => result.map_err(|err| err.into_store(operation)),
            Err(err) => Err(StoreError::Io {
                operation,
                reason: err.to_string(),
            }),
        }
    }
}

impl Store for RedbStore {
    async fn put_project(&self, project: &ProjectRecord) -> Result<(), StoreError> {
        let project = project.clone();
        self.run("put_project", move |db| ops::put_project(db, &project))
            .await
    }

    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>, StoreError> {
        let name = name.to_owned();
        self.run("get_project", move |db| ops::get_project(db, &name))
            .await
    }

    async fn list_projects(&self) -> Result<Vec<ProjectRecord>, StoreError> {
        self.run("list_projects", ops::list_projects).await
    }

    async fn delete_project(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run("delete_project", move |db| ops::delete_project(db, &name))
            .await
    }

    async fn record_deploy(
        &self,
        project: &ProjectRecord,
        releases: Vec<Release>,
    ) -> Result<Vec<(Release, bool)>, StoreError> {
        let project = project.clone();
        self.run("record_deploy", move |db| {
            ops::record_deploy(db, &project, releases)
        })
        .await
    }

    async fn record_release(
        &self,
        release: Release,
        activated_by: &str,
    ) -> Result<(Release, bool), StoreError> {
        let by = activated_by.to_owned();
        self.run("record_release", move |db| {
            ops::record_release(db, release, &by)
        })
        .await
    }

    async fn releases(&self, project: &str, service: &str) -> Result<Vec<Release>, StoreError> {
        let (project, service) = (project.to_owned(), service.to_owned());
        self.run("releases", move |db| ops::releases(db, &project, &service))
            .await
    }

    async fn release(
        &self,
        project: &str,
        service: &str,
        number: u64,
    ) -> Result<Option<Release>, StoreError> {
        let (project, service) = (project.to_owned(), service.to_owned());
        self.run("release", move |db| {
            ops::release(db, &project, &service, number)
        })
        .await
    }

    async fn active(&self, project: &str) -> Result<Vec<Release>, StoreError> {
        let project = project.to_owned();
        self.run("active", move |db| ops::active(db, &project))
            .await
    }

    async fn activated_by(
        &self,
        project: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let project = project.to_owned();
        self.run("activated_by", move |db| {
            crate::activations::activated_by(db, &project)
        })
        .await
    }

    async fn activate(
        &self,
        project: &str,
        service: &str,
        number: u64,
        activated_by: &str,
    ) -> Result<Release, StoreError> {
        let (project, service) = (project.to_owned(), service.to_owned());
        let by = activated_by.to_owned();
        self.run("activate", move |db| {
            ops::activate(db, &project, &service, number, &by)
        })
        .await
    }

    async fn deactivate(&self, project: &str, services: &[String]) -> Result<(), StoreError> {
        let (project, services) = (project.to_owned(), services.to_vec());
        self.run("deactivate", move |db| {
            ops::deactivate(db, &project, &services)
        })
        .await
    }
    async fn set_handover(&self, project: &str, under_way: bool) -> Result<(), StoreError> {
        let project = project.to_owned();
        self.run("set_handover", move |db| {
            ops::set_handover(db, &project, under_way)
        })
        .await
    }

    async fn handover(&self, project: &str) -> Result<bool, StoreError> {
        let project = project.to_owned();
        self.run("handover", move |db| ops::handover(db, &project))
            .await
    }

    async fn add_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.run("add_user", move |db| accounts::add_user(db, &user))
            .await
    }

    async fn get_user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        let name = name.clone();
        self.run("get_user", move |db| accounts::get_user(db, &name))
            .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.run("list_users", accounts::list_users).await
    }

    async fn set_user_disabled(
        &self,
        name: &UserName,
        disabled: bool,
    ) -> Result<UserRecord, StoreError> {
        let name = name.clone();
        self.run("set_user_disabled", move |db| {
            accounts::set_user_disabled(db, &name, disabled)
        })
        .await
    }

    async fn delete_user(&self, name: &UserName) -> Result<(), StoreError> {
        let name = name.clone();
        self.run("delete_user", move |db| accounts::delete_user(db, &name))
            .await
    }

    async fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.run("add_token", move |db| accounts::add_token(db, &token))
            .await
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let id = id.clone();
        self.run("get_token", move |db| accounts::get_token(db, &id))
            .await
    }

    async fn lookup_token(&self, id: &TokenId) -> Result<Option<TokenLookup>, StoreError> {
        let id = id.clone();
        self.run("lookup_token", move |db| accounts::lookup_token(db, &id))
            .await
    }

    async fn list_tokens(&self, owner: Option<&UserName>) -> Result<Vec<TokenRecord>, StoreError> {
        let owner = owner.cloned();
        self.run("list_tokens", move |db| {
            accounts::list_tokens(db, owner.as_ref())
        })
        .await
    }

    async fn revoke_token(&self, id: &TokenId, at: u64) -> Result<TokenRecord, StoreError> {
        let id = id.clone();
        self.run("revoke_token", move |db| {
            accounts::revoke_token(db, &id, at)
        })
        .await
    }

    async fn add_binding(&self, binding: &Binding) -> Result<bool, StoreError> {
        let binding = binding.clone();
        self.run("add_binding", move |db| accounts::add_binding(db, &binding))
            .await
    }

    async fn remove_binding(&self, binding: &Binding) -> Result<bool, StoreError> {
        let binding = binding.clone();
        self.run("remove_binding", move |db| {
            accounts::remove_binding(db, &binding)
        })
        .await
    }

    async fn list_bindings(&self, user: Option<&UserName>) -> Result<Vec<Binding>, StoreError> {
        let user = user.cloned();
        self.run("list_bindings", move |db| {
            accounts::list_bindings(db, user.as_ref())
        })
        .await
    }

    async fn put_secret(&self, secret: &SecretVersion) -> Result<(), StoreError> {
        let secret = secret.clone();
        self.run("put_secret", move |db| secrets::put_secret(db, &secret))
            .await
    }

    async fn next_secret_version(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<u64, StoreError> {
        let (project, name) = (project.clone(), name.clone());
        self.run("next_secret_version", move |db| {
            secrets::next_secret_version(db, &project, &name)
        })
        .await
    }

    async fn secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
        version: u64,
    ) -> Result<Option<SecretVersion>, StoreError> {
        let (project, name) = (project.clone(), name.clone());
        self.run("secret", move |db| {
            secrets::secret(db, &project, &name, version)
        })
        .await
    }

    async fn latest_secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<Option<SecretVersion>, StoreError> {
        let (project, name) = (project.clone(), name.clone());
        self.run("latest_secret", move |db| {
            secrets::latest_secret(db, &project, &name)
        })
        .await
    }

    async fn secret_versions(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<Vec<SecretVersionInfo>, StoreError> {
        let (project, name) = (project.clone(), name.clone());
        self.run("secret_versions", move |db| {
            secrets::secret_versions(db, &project, &name)
        })
        .await
    }

    async fn list_secrets(&self, project: &ProjectName) -> Result<Vec<SecretSummary>, StoreError> {
        let project = project.clone();
        self.run("list_secrets", move |db| {
            secrets::list_secrets(db, &project)
        })
        .await
    }

    async fn remove_secret(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<u64, StoreError> {
        let (project, name) = (project.clone(), name.clone());
        self.run("remove_secret", move |db| {
            secrets::remove_secret(db, &project, &name)
        })
        .await
    }

    async fn wrapped_secret_keys(&self) -> Result<Vec<WrappedVersion>, StoreError> {
        self.run("wrapped_secret_keys", secrets::wrapped_secret_keys)
            .await
    }

    async fn rewrap_secret(
        &self,
        target: &SecretRef,
        expected: &KekId,
        dek: &WrappedDek,
    ) -> Result<Rewrapped, StoreError> {
        let (target, expected, dek) = (target.clone(), expected.clone(), dek.clone());
        self.run("rewrap_secret", move |db| {
            secrets::rewrap_secret(db, &target, &expected, &dek)
        })
        .await
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "store_accounts_tests.rs"]
mod account_tests;
