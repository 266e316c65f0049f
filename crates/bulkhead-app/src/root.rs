//! The composition root for one host: the Docker runtime, the embedded store in the state
//! directory, and the host firewall, wired into a `Deployer`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bulkhead_docker::DockerRuntime;
use bulkhead_store::RedbStore;

use crate::deploy::Deployer;
use crate::state;
use bulkhead_firewall::HostFirewall;

/// The deployer Bulkhead runs with on one host.
pub type Local = Deployer<DockerRuntime, RedbStore, HostFirewall>;

/// Open the state directory and connect to the engine.
pub async fn local(
    state_dir: Option<&Path>,
    env: &BTreeMap<String, String>,
    progress: Arc<dyn Fn(bulkhead_ports::Progress) + Send + Sync>,
) -> anyhow::Result<Arc<Local>> {
    let dir = state::resolve(state_dir, env)?;
    state::prepare(&dir)?;
    let store = Arc::new(RedbStore::open(&dir.join(state::STORE_FILE))?);
    let keys = crate::secrets::key_provider(&dir, env)?;
    let secrets = Arc::new(crate::secrets::Secrets::new(Arc::clone(&store), keys));
    let runtime = DockerRuntime::connect().await?;
    Ok(Arc::new(Deployer {
        runtime: Arc::new(runtime),
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
    }))
}
