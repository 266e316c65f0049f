//! The one composition root: from a state directory and the process environment it builds
//! every adapter — the audit log, the store, the key-encryption keys and the secrets sealed
//! with them, the engine (connected on first use), the host firewall — and the `Api` over
//! them. The embedded CLI and `bulkhead server` open through it; nothing else picks an adapter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_audit::AuditLog;
use bulkhead_docker::LazyRuntime;
use bulkhead_firewall::HostFirewall;
use bulkhead_keys::{EnvKeys, FileKeys, KeysError};
use bulkhead_ports::{AuditError, AuditSink, KeyProvider, Progress, RuntimeError, StoreError};
use bulkhead_store::RedbStore;

use crate::api::Api;
use crate::deploy::Deployer;
use crate::state::{self, StateError};

pub mod local;

pub use local::Local;

/// Why a state directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error(transparent)]
    State(#[from] StateError),
    /// The audit log (`Locked`: another process holds the directory).
    #[error(transparent)]
    Audit(#[from] bulkhead_audit::OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("closing the audit log: {0}")]
    Close(#[from] AuditError),
    #[error("{what} in {dir} stopped: {reason}")]
    Task {
        what: &'static str,
        dir: PathBuf,
        reason: String,
    },
}

/// A state directory opened: the `Api` over every adapter, and the audit log it appends to.
pub struct Root {
    pub api: Arc<Api>,
    /// The audit log, also the `Api`'s sink; [`Root::close`] ends it with a signed checkpoint.
    pub audit: Arc<AuditLog>,
    pub state_dir: PathBuf,
}

/// The container engine this host runs on: the Docker Engine `DOCKER_HOST` names (else the
/// default socket), connected on first use.
pub fn engine() -> LazyRuntime {
    LazyRuntime::from_env()
}

/// Open the state directory (`state_dir`, else the one `env` names): the audit log first
/// (its lock tells a running server apart from a free directory), then the store and the
/// keys. The engine is not reached here: the first command that needs it connects.
/// `progress` receives what deploys report.
pub async fn open(
    state_dir: Option<&Path>,
    env: &BTreeMap<String, String>,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> Result<Root, RootError> {
    let dir = state::resolve(state_dir, env)?;
    state::prepare(&dir)?;
    let at = dir.clone();
    let audit = tokio::task::spawn_blocking(move || {
        AuditLog::open(&at, bulkhead_audit::Options::default())
    })
    .await
    .map_err(|e| RootError::Task {
        what: "opening the audit log",
        dir: dir.clone(),
        reason: e.to_string(),
    })??;
    let audit = Arc::new(audit);
    let store = Arc::new(RedbStore::open(&dir.join(state::STORE_FILE))?);
    let keys = key_provider(&dir, env)?;
    let secrets = Arc::new(crate::secrets::Secrets::new(Arc::clone(&store), keys));
    let deployer = Arc::new(Deployer {
        runtime: Arc::new(engine()),
        store,
        firewall: Arc::new(HostFirewall::new()),
        progress,
        actor: env
            .get("USER")
            .cloned()
            .unwrap_or_else(|| "local".to_string()),
        env: env.clone(),
        bridges: Default::default(),
        addresses: Default::default(),
        secrets: Some(secrets),
        secret_files: Default::default(),
    });
    let api = Api::new(
        deployer,
        Arc::clone(&audit) as Arc<dyn AuditSink>,
        dir.clone(),
    );
    Ok(Root {
        api: Arc::new(api),
        audit,
        state_dir: dir,
    })
}

/// The key provider configured for this host: `BULKHEAD_KEK` (and `BULKHEAD_KEK_OLD` while
/// rotating) when set, else the key files of the state directory, the first made if none.
fn key_provider(
    state_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Arc<dyn KeyProvider>, KeysError> {
    if let Some(keys) = EnvKeys::from_env(env)? {
        return Ok(Arc::new(keys));
    }
    Ok(Arc::new(FileKeys::open_or_create(state_dir)?))
}

impl Root {
    /// Connect the engine now rather than on first use (the server does at start, so that an
    /// engine that does not answer is said at once).
    pub async fn connect_engine(&self) -> Result<(), RuntimeError> {
        self.api.deployer.runtime.connect().await.map(drop)
    }

    /// Close the audit log with a final signed checkpoint (appends after this fail).
    pub async fn close(self) -> Result<(), RootError> {
        let Root {
            api,
            audit,
            state_dir,
        } = self;
        drop(api);
        tokio::task::spawn_blocking(move || audit.close())
            .await
            .map_err(|e| RootError::Task {
                what: "closing the audit log",
                dir: state_dir,
                reason: e.to_string(),
            })??;
        Ok(())
    }
}
