//! `LazyRuntime`: the engine `DOCKER_HOST` names, connected on first use and kept, so that
//! work that never needs the engine (accounts, the audit log, secrets at rest) never reaches
//! it, and work that does connects once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bulkhead_ports::runtime::{HookExec, HookOutcome};
use bulkhead_ports::{
    BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, FsChange,
    ImageEntry, ImageInfo, ImagePath, ImageUserFiles, LabelFilter, NetworkInfo, NetworkSpec,
    Progress, RuntimeError, VolumeInfo,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use crate::{DockerRuntime, Endpoint};

/// A [`DockerRuntime`] that connects (and negotiates the API version) on its first
/// operation. A failed connection is not kept: the next operation tries again.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone, Debug, Default)]
pub struct LazyRuntime {
    /// `None`: the one `DOCKER_HOST` names when the connection is made.
    endpoint: Option<Endpoint>,
    connected: Arc<OnceCell<DockerRuntime>>,
}

impl LazyRuntime {
    /// The engine `DOCKER_HOST` names (see [`DockerRuntime::connect`]); nothing is connected
    /// yet.
    pub fn from_env() -> LazyRuntime {
        LazyRuntime::default()
    }

    /// The engine at `endpoint`; nothing is connected yet.
    pub fn at(endpoint: Endpoint) -> LazyRuntime {
        LazyRuntime {
            endpoint: Some(endpoint),
            connected: Arc::default(),
        }
    }

    /// The connection: made now if there is none yet.
    pub async fn connect(&self) -> Result<&DockerRuntime, RuntimeError> {
        self.connected
            .get_or_try_init(|| async {
                match &self.endpoint {
                    Some(endpoint) => DockerRuntime::connect_endpoint(endpoint).await,
                    None => DockerRuntime::connect().await,
                }
            })
            .await
    }

    /// Whether a connection has been made.
    pub fn is_connected(&self) -> bool {
        self.connected.initialized()
    }
}

impl ContainerRuntime for LazyRuntime {
    async fn version(&self) -> Result<(String, String), RuntimeError> {
        self.connect().await?.version().await
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        self.connect().await?.ping().await
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, RuntimeError> {
        self.connect().await?.create_network(spec).await
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>, RuntimeError> {
        self.connect().await?.list_networks(filter).await
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        self.connect().await?.remove_network(name).await
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        self.connect().await?.create_volume(name, labels).await
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>, RuntimeError> {
        self.connect().await?.list_volumes(filter).await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        self.connect().await?.remove_volume(name).await
    }

    async fn build_image(
        &self,
        request: &BuildRequest,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, RuntimeError> {
        self.connect().await?.build_image(request, progress).await
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, RuntimeError> {
        self.connect().await?.inspect_image(reference).await
    }

    async fn image_user_files(&self, image: &str) -> Result<ImageUserFiles, RuntimeError> {
        ContainerRuntime::image_user_files(self.connect().await?, image).await
    }

    async fn image_path_modes(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImagePath>>, RuntimeError> {
        ContainerRuntime::image_path_modes(self.connect().await?, image, paths).await
    }

    async fn image_path_owners(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImageEntry>>, RuntimeError> {
        ContainerRuntime::image_path_owners(self.connect().await?, image, paths).await
    }

    async fn container_changes(&self, id: &str) -> Result<Vec<FsChange>, RuntimeError> {
        self.connect().await?.container_changes(id).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.connect().await?.create_container(spec).await
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.connect().await?.start_container(id).await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.connect().await?.stop_container(id, grace).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.connect().await?.remove_container(id).await
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        self.connect().await?.inspect_container(id).await
    }

    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        self.connect().await?.list_containers(filter).await
    }

    async fn connect_network(
        &self,
        id: &str,
        network: &str,
        aliases: &[String],
        address: Option<std::net::Ipv4Addr>,
    ) -> Result<(), RuntimeError> {
        self.connect()
            .await?
            .connect_network(id, network, aliases, address)
            .await
    }

    async fn disconnect_network(&self, id: &str, network: &str) -> Result<(), RuntimeError> {
        self.connect().await?.disconnect_network(id, network).await
    }

    async fn inbound_connections(&self, id: &str) -> Result<Option<usize>, RuntimeError> {
        self.connect().await?.inbound_connections(id).await
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.connect().await?.rename_container(id, name).await
    }

    async fn exec(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<i64, RuntimeError> {
        self.connect().await?.exec(id, cmd, timeout).await
    }

    async fn exec_hook(
        &self,
        id: &str,
        hook: &HookExec,
        timeout: Duration,
    ) -> Result<HookOutcome, RuntimeError> {
        self.connect().await?.exec_hook(id, hook, timeout).await
    }

    /// The feed starts once the connection is made; a connection that fails is the feed's
    /// one item.
    fn events(&self, filter: &LabelFilter) -> EventStream {
        let lazy = self.clone();
        let filter = filter.clone();
        futures_util::stream::once(async move {
            match lazy.connect().await {
                Ok(runtime) => runtime.events(&filter),
                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn logs(&self, id: &str, tail: Option<usize>) -> Result<Vec<String>, RuntimeError> {
        self.connect().await?.logs(id, tail).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> LazyRuntime {
        let dir = std::env::temp_dir().join(format!("bulkhead-no-engine-{}", std::process::id()));
        LazyRuntime::at(Endpoint::Unix(dir.join("docker.sock")))
    }

    #[tokio::test]
    async fn an_engine_that_does_not_answer_is_said_on_use_and_tried_again() {
        let lazy = nowhere();
        assert!(!lazy.is_connected(), "making one connects nothing");
        for _ in 0..2 {
            let err = lazy.ping().await.expect_err("no engine there");
            assert!(
                matches!(&err, RuntimeError::Unreachable { endpoint, .. } if endpoint.contains("bulkhead-no-engine")),
                "{err}"
            );
            assert!(!lazy.is_connected(), "a failed connection is not kept");
        }
    }

    #[tokio::test]
    async fn events_without_an_engine_are_one_error() {
        let items: Vec<_> = nowhere().events(&LabelFilter::default()).collect().await;
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0], Err(RuntimeError::Unreachable { .. })));
    }
}
