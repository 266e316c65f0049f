//! The Docker Engine adapter: `DockerRuntime` implements the `ContainerRuntime` port over the
//! Engine API (1.41 or newer) with bollard; each module owns one group of engine operations.

mod build;
mod connect;
mod containers;
mod context;
mod endpoints;
mod error;
mod events;
mod exec;
mod images;
mod lazy;
mod logs;
mod networks;
mod owners;
mod pathmodes;
mod probe;
mod spec;
mod status;
mod userfiles;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bulkhead_ports::{
    BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, FsChange,
    ImageEntry, ImageInfo, ImagePath, ImageUserFiles, LabelFilter, NetworkInfo, NetworkSpec,
    Progress, RuntimeError, VolumeInfo,
};

pub use connect::{DEFAULT_HOST, Endpoint, HostError, MIN_API_VERSION};
pub use lazy::LazyRuntime;
pub use probe::LABEL_PROBE;

/// A connection to one Docker Engine, with the API version agreed with it.
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
    endpoint: String,
    user_files: userfiles::UserFilesCache,
    path_modes: pathmodes::PathCache,
    /// Set once the probes a killed process left have been looked for.
    probes_swept: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DockerRuntime {
    /// Connect to the engine `DOCKER_HOST` names (a unix socket path, `unix://PATH` or
    /// `tcp://HOST:PORT`; `/var/run/docker.sock` when unset), negotiate the API version, and
    /// refuse engines older than API 1.41.
    pub async fn connect() -> Result<DockerRuntime, RuntimeError> {
        let endpoint = Endpoint::from_env().map_err(|e| e.unreachable())?;
        DockerRuntime::connect_endpoint(&endpoint).await
    }

    /// Like [`DockerRuntime::connect`], to an explicit host in `DOCKER_HOST` syntax.
    pub async fn connect_to(host: &str) -> Result<DockerRuntime, RuntimeError> {
        let endpoint = Endpoint::parse(host).map_err(|e| e.unreachable())?;
        DockerRuntime::connect_endpoint(&endpoint).await
    }

    /// Connect to a parsed endpoint (see [`Endpoint::parse`]).
    pub async fn connect_endpoint(endpoint: &Endpoint) -> Result<DockerRuntime, RuntimeError> {
        let docker = connect::open(endpoint).await?;
        Ok(DockerRuntime {
            docker,
            endpoint: endpoint.to_string(),
            user_files: userfiles::user_files_cache(),
            path_modes: pathmodes::path_cache(),
            probes_swept: std::sync::Arc::default(),
        })
    }

    /// The engine address, as shown in errors (`unix:///var/run/docker.sock`, `tcp://...`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API version agreed with the engine, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// A closure turning a bollard failure of `operation` on `what` `name` into a port error.
    pub(crate) fn fail<'a>(
        &'a self,
        operation: &'static str,
        what: &'static str,
        name: &'a str,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError + 'a {
        self.fail_op(error::Op::new(operation, what, name))
    }

    /// Like [`DockerRuntime::fail`] for a call that gives `what` the name `name`, where a 409
    /// means the name is taken.
    pub(crate) fn fail_naming<'a>(
        &'a self,
        operation: &'static str,
        what: &'static str,
        name: &'a str,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError + 'a {
        self.fail_op(error::Op::new(operation, what, name).naming())
    }

    fn fail_op<'a>(
        &'a self,
        op: error::Op<'a>,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError + 'a {
        move |err| error::map(&self.endpoint, op, err)
    }
}

impl ContainerRuntime for DockerRuntime {
    async fn version(&self) -> Result<(String, String), RuntimeError> {
        self.engine_version().await
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(self.fail("ping", "engine", &self.endpoint))
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, RuntimeError> {
        self.network_create(spec).await
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>, RuntimeError> {
        self.network_list(filter).await
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        self.network_remove(name).await
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        self.volume_create(name, labels).await
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>, RuntimeError> {
        self.volume_list(filter).await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        self.volume_remove(name).await
    }

    async fn build_image(
        &self,
        request: &BuildRequest,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, RuntimeError> {
        self.image_build(request, progress).await
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, RuntimeError> {
        self.image_inspect(reference).await
    }

    async fn image_user_files(&self, image: &str) -> Result<ImageUserFiles, RuntimeError> {
        self.image_user_files(image).await
    }

    async fn image_path_modes(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImagePath>>, RuntimeError> {
        self.image_path_modes(image, paths).await
    }

    async fn image_path_owners(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImageEntry>>, RuntimeError> {
        self.image_path_owners(image, paths).await
    }

    async fn container_changes(&self, id: &str) -> Result<Vec<FsChange>, RuntimeError> {
        self.changes(id).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.container_create(spec).await
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.container_start(id).await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.container_stop(id, grace).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.container_remove(id).await
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        self.container_inspect(id).await
    }

    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        self.container_list(filter).await
    }

    async fn connect_network(
        &self,
        id: &str,
        network: &str,
        aliases: &[String],
        address: Option<std::net::Ipv4Addr>,
    ) -> Result<(), RuntimeError> {
        self.network_connect(id, network, aliases, address).await
    }

    async fn disconnect_network(&self, id: &str, network: &str) -> Result<(), RuntimeError> {
        self.network_disconnect(id, network).await
    }

    async fn inbound_connections(&self, id: &str) -> Result<Option<usize>, RuntimeError> {
        self.container_inbound(id).await
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.container_rename(id, name).await
    }

    async fn exec(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<i64, RuntimeError> {
        self.container_exec(id, cmd, timeout).await
    }

    async fn exec_hook(
        &self,
        id: &str,
        hook: &bulkhead_ports::runtime::HookExec,
        timeout: Duration,
    ) -> Result<bulkhead_ports::runtime::HookOutcome, RuntimeError> {
        self.container_hook(id, hook, timeout).await
    }

    async fn logs(&self, id: &str, tail: Option<usize>) -> Result<Vec<String>, RuntimeError> {
        self.container_logs(id, tail).await
    }

    fn events(&self, filter: &LabelFilter) -> EventStream {
        self.event_stream(filter)
    }
}

/// The engine's `filters` query for "every label pair matches" (none: everything).
pub(crate) fn label_filters(filter: &LabelFilter) -> Option<HashMap<String, Vec<String>>> {
    if filter.0.is_empty() {
        return None;
    }
    let labels = filter.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(HashMap::from([("label".to_string(), labels)]))
}
