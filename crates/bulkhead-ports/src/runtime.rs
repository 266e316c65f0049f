//! The container runtime port: networks, volumes, image builds and inspection, and containers,
//! all addressed by Bulkhead's owner labels.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use bulkhead_core::hardening::userdb::ImageUserFiles;
use serde::Serialize;

/// Owner labels every object Bulkhead creates carries.
pub const LABEL_PROJECT: &str = "dev.bulkhead.project";
pub const LABEL_SERVICE: &str = "dev.bulkhead.service";
pub const LABEL_RELEASE: &str = "dev.bulkhead.release";
pub const LABEL_REPLICA: &str = "dev.bulkhead.replica";
/// On an image Bulkhead built: the project it was built for (whose code it holds). Not
/// [`LABEL_PROJECT`]: the classic builder's temporary containers carry the labels of the image
/// a step builds on, and one left by an interrupted build must not look like the project's.
/// Images built before this label existed carry [`LABEL_PROJECT`] instead.
pub const LABEL_BUILT_BY: &str = "dev.bulkhead.built-by";
/// On a network: `pinned` when its subnet was pinned at create (`NetworkSpec::pin_subnet`), so
/// its containers may be given fixed addresses.
pub const LABEL_SUBNET: &str = "dev.bulkhead.subnet";
/// The value of [`LABEL_SUBNET`] on a network whose subnet is pinned.
pub const SUBNET_PINNED: &str = "pinned";
/// The value of [`LABEL_SUBNET`] on the short-lived network made to learn a free subnet before
/// the pinned one of the same name is created: one a killed process left is not the project's
/// network (it is removed and made again).
pub const SUBNET_PROBE: &str = "probe";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot reach the container engine at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("the container engine speaks API {found}; at least {needed} is needed")]
    TooOld { found: String, needed: String },
    #[error("{what} `{name}` was not found")]
    NotFound { what: &'static str, name: String },
    #[error("{what} `{name}` already exists")]
    Conflict { what: &'static str, name: String },
    #[error("building image {tag} failed: {reason}")]
    Build { tag: String, reason: String },
    #[error("{operation} failed: {reason}")]
    Engine { operation: String, reason: String },
}

/// A lifecycle hook (`post_start`, `pre_stop`) to run in a running container through the
/// engine's exec: never privileged, as a pinned non-root `uid:gid`. Its `Debug` shows the
/// environment's names only: values are never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct HookExec {
    pub cmd: Vec<String>,
    /// `uid:gid`, resolved and judged non-root at deploy.
    pub user: String,
    pub working_dir: Option<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
}

impl std::fmt::Debug for HookExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("HookExec")
            .field("cmd", &self.cmd)
            .field("user", &self.user)
            .field("working_dir", &self.working_dir)
            .field("env", &names)
            .finish()
    }
}

/// What a hook did: its exit code (-1 when it was still running at its deadline) and the last
/// lines of its output (bounded: at most [`HOOK_OUTPUT_LINES`] lines of at most
/// [`HOOK_OUTPUT_LINE`] bytes, from at most [`HOOK_OUTPUT_BYTES`] read), each value of its
/// environment replaced by `(hidden)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookOutcome {
    pub exit_code: i64,
    pub output: Vec<String>,
}

/// Bounds of what is kept of a hook's output.
pub const HOOK_OUTPUT_LINES: usize = 10;
pub const HOOK_OUTPUT_LINE: usize = 200;
pub const HOOK_OUTPUT_BYTES: usize = 64 * 1024;

/// Select objects by labels: every pair must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelFilter(pub BTreeMap<String, String>);

impl LabelFilter {
    pub fn project(name: &str) -> LabelFilter {
        LabelFilter(BTreeMap::from([(
            LABEL_PROJECT.to_string(),
            name.to_string(),
        )]))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    /// No route out of the network (Docker's `--internal`).
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// Let the engine pick the subnet as usual, then make it the network's configured subnet
    /// (labelled [`LABEL_SUBNET`]`=`[`SUBNET_PINNED`]): the engine gives a container a fixed
    /// address (`ContainerSpec::fixed_addresses`) only on such a network.
    pub pin_subnet: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub internal: bool,
    /// The Linux bridge interface name, for host firewall rules.
    pub bridge: Option<String>,
    pub subnets: Vec<String>,
    /// The gateway addresses of its subnets (the bridge's own), as the engine reports them.
    pub gateways: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A progress line from a long operation (a build step, a health wait).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub subject: String,
    pub line: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context directory; sent to the engine as a tar stream.
    pub context: PathBuf,
    /// Relative to the context; `Dockerfile` when `None`.
    pub dockerfile: Option<String>,
    pub tag: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Whether the build's `RUN` steps get a network (the engine's default bridge). `false`,
    /// the default: none at all.
    pub network: bool,
}

/// What Bulkhead needs to know about an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The image id (`sha256:...`), the content digest of its config.
    pub id: String,
    /// Registry digests (`name@sha256:...`), when the image came from a registry.
    pub repo_digests: Vec<String>,
    /// The image's USER ("" means root).
    pub user: String,
    /// The image's HEALTHCHECK test, if it has one (`["NONE"]` counts as none).
    pub healthcheck: Option<Vec<String>>,
    /// The image's labels (an image Bulkhead built carries `LABEL_BUILT_BY`).
    pub labels: BTreeMap<String, String>,
    /// The image's `VOLUME` paths, sorted.
    pub volumes: Vec<String>,
    /// The image's `ENTRYPOINT`, `CMD` and `WORKDIR` ("" when unset), what `check` reads to
    /// fit it to the profile.
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
}

/// A path of an image with its owner, read without running it (links followed inside the
/// image's root, as [`ImagePath`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageEntry {
    /// Where the path leads, links resolved inside the image.
    pub resolved: String,
    /// `st_mode`, as [`ImagePath::mode`].
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One entry of the engine's list of what a container changed in its root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FsChange {
    pub path: String,
    /// 0 modified, 1 added, 2 deleted (the engine's numbers).
    pub kind: u8,
}

/// A path of an image as a mount point leads to it: symbolic links followed inside the image's
/// root (as the engine and runc resolve a mount's target), and what is found there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImagePath {
    /// Where the path leads, links resolved inside the image (the path itself, cleaned, when
    /// no link is on the way).
    pub resolved: String,
    /// What is there, as `st_mode`: the file type (`S_IFDIR` is `0o040000`) and the permission
    /// bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
}

impl ImagePath {
    /// `S_IFMT` and `S_IFDIR`.
    const TYPE: u32 = 0o170000;
    const DIR: u32 = 0o040000;

    pub fn is_dir(&self) -> bool {
        self.mode & Self::TYPE == Self::DIR
    }

    /// The permission bits, setuid, setgid and sticky included (what `chmod` sets).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSpec {
    Bind {
        source: String,
        target: String,
        read_only: bool,
    },
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
    /// A tmpfs mounted with these options: `size` in bytes, `mode` the permission bits, and
    /// `options` in order (mount flags such as `noexec` or `ro`, and `uid=`, `gid=`,
    /// `nr_inodes=`...). Every one is applied; the runtime may put secure flags of its own
    /// first (Docker: `noexec,nosuid,nodev`), which an option named here overrides.
    Tmpfs {
        target: String,
        size: Option<u64>,
        mode: Option<u32>,
        options: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    /// `None`: the engine picks.
    pub host_port: Option<u16>,
}

/// Health check as the engine takes it (exec or shell form in `test`, Docker's syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

/// Everything needed to create one container; the adapter maps it field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Supplementary groups (numeric), as `HostConfig.GroupAdd`.
    pub group_add: Vec<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub read_only_rootfs: bool,
    pub mounts: Vec<MountSpec>,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// First network: joined at create; the others are connected before start.
    pub networks: Vec<(String, Vec<String>)>,
    /// A fixed IPv4 address on some of those networks (by name); only networks with a pinned
    /// subnet accept one. The others get an address from the engine at start.
    pub fixed_addresses: BTreeMap<String, std::net::Ipv4Addr>,
    /// `Some("none")`, `Some("host")`, ... when not on networks.
    pub network_mode: Option<String>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub uts_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub devices: Vec<String>,
    pub memory: i64,
    pub memory_swap: i64,
    pub pids_limit: i64,
    pub cpu_shares: i64,
    pub nano_cpus: Option<i64>,
    /// `(name, max retries)`, e.g. `("on-failure", 5)`.
    pub restart: (String, u32),
    pub healthcheck: Option<HealthSpec>,
    pub ports: Vec<PortSpec>,
    pub init: bool,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<(String, i64, i64)>,
    pub runtime: Option<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<Duration>,
    pub tty: bool,
    pub stdin_open: bool,
    /// `name:address` lines for /etc/hosts (`HostConfig.ExtraHosts`).
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub domainname: Option<String>,
    /// /dev/shm size in bytes.
    pub shm_size: Option<u64>,
    pub cpuset: Option<String>,
    pub oom_score_adj: Option<i64>,
    /// Soft memory limit in bytes.
    pub memory_reservation: Option<u64>,
    /// `(driver, options)`; `None`: the engine's default.
    pub log: Option<(String, BTreeMap<String, String>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// The container has no health check.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// created, running, exited, ...
    pub state: String,
    /// The engine's verdict; of a container not running, only an inspect answer tells the
    /// last one (a list answer says `None`).
    pub health: HealthState,
    pub exit_code: Option<i64>,
    /// Address on each network, by network name.
    pub addresses: BTreeMap<String, String>,
    /// The fixed address configured on each network that has one (running or not), by name.
    pub fixed_addresses: BTreeMap<String, String>,
    /// The aliases of its endpoint on each network it is connected to, by network name. A
    /// list answer may not carry them (Docker 20.10's does not): a network missing here is
    /// unknown, not alias-free — inspect the container to know.
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Published ports as `(container port/proto, host ip, host port)`.
    pub published: Vec<(String, String, u16)>,
    /// How long it has been running since its last (re)start; `None` when it is not running
    /// or the engine's answer does not tell. From a list answer, a lower bound (the engine
    /// rounds it: "About a minute").
    pub running_for: Option<Duration>,
    /// How often the engine restarted it (by its restart policy), when the answer tells (an
    /// inspect answer does, a list answer does not).
    pub restart_count: Option<u64>,
}

/// Something the engine reports about one of its objects (Docker's `/events`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// `container`, `network`, `volume`, ...
    pub kind: String,
    /// `create`, `start`, `die`, `kill`, `destroy`, `health_status: healthy`, ...
    pub action: String,
    /// The object's id.
    pub id: String,
    /// The attributes the engine reports: for containers their labels (the owner labels
    /// among them), `name`, `image`, and `exitCode` on `die`.
    pub attributes: BTreeMap<String, String>,
    /// Unix time in nanoseconds, as the engine stamped it.
    pub time_nanos: i64,
}

/// A live feed of engine events; it ends when the engine connection does.
pub type EventStream = futures_util::stream::BoxStream<'static, Result<RuntimeEvent, RuntimeError>>;

/// The container engine. Every method is one engine operation; none retries on its own.
pub trait ContainerRuntime: Send + Sync {
    /// Engine version and negotiated API version.
    fn version(&self) -> impl Future<Output = Result<(String, String), RuntimeError>> + Send;
    /// Whether the engine answers (a cheap request: `version` asks the engine for the
    /// versions of its parts, tens of milliseconds).
    fn ping(&self) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    fn create_network(
        &self,
        spec: &NetworkSpec,
    ) -> impl Future<Output = Result<NetworkInfo, RuntimeError>> + Send;
    fn list_networks(
        &self,
        filter: &LabelFilter,
    ) -> impl Future<Output = Result<Vec<NetworkInfo>, RuntimeError>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    fn list_volumes(
        &self,
        filter: &LabelFilter,
    ) -> impl Future<Output = Result<Vec<VolumeInfo>, RuntimeError>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Build an image; `progress` receives the build output line by line. Returns the image id.
    fn build_image(
        &self,
        request: &BuildRequest,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;
    fn inspect_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<ImageInfo, RuntimeError>> + Send;

    /// The image's `/etc/passwd` and `/etc/group`, read without running it: each bounded to
    /// [`MAX_FILE_BYTES`](bulkhead_core::hardening::userdb::MAX_FILE_BYTES), and anything but
    /// a regular file (a symlink, a directory) is not read but reported as refused. `image` is
    /// an image id (`sha256:...`); images are immutable, so implementations may cache by it.
    fn image_user_files(
        &self,
        image: &str,
    ) -> impl Future<Output = Result<ImageUserFiles, RuntimeError>> + Send;

    /// What each of `paths` (absolute) leads to in the image, read without running it: links
    /// followed inside the image's root as a mount's target is (the last component too), and
    /// `None` where nothing is there. `image` is an image id (`sha256:...`); implementations
    /// may cache by it. Paths inside one of the image's `VOLUME`s are read from the volume the
    /// engine fills from the image.
    fn image_path_modes(
        &self,
        image: &str,
        paths: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Option<ImagePath>>, RuntimeError>> + Send;

    /// What each of `paths` leads to in the image with its owner, as
    /// [`ContainerRuntime::image_path_modes`]; `None` where nothing is there. At most 64 paths.
    fn image_path_owners(
        &self,
        image: &str,
        paths: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Option<ImageEntry>>, RuntimeError>> + Send;

    /// What a container changed in its root filesystem (`docker diff`), at most 10,000 entries.
    fn container_changes(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Vec<FsChange>, RuntimeError>> + Send;

    /// Create (not start) a container and connect it to all its networks. Returns its id.
    fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;
    fn start_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Stop with the grace period, then SIGKILL.
    fn stop_container(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Remove (forcing, with its anonymous volumes). Removing a missing container is not an error.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    fn inspect_container(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ContainerInfo, RuntimeError>> + Send;
    /// All containers (running or not) matching the filter, in one engine call whatever
    /// their number: what `ContainerInfo` says a list answer may leave out (restart count,
    /// aliases, an exact run time) needs `inspect_container`.
    fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> impl Future<Output = Result<Vec<ContainerInfo>, RuntimeError>> + Send;
    /// Connect a container to a network with `aliases` (names other members resolve to it)
    /// and, on a network with a pinned subnet, a fixed `address`.
    fn connect_network(
        &self,
        id: &str,
        network: &str,
        aliases: &[String],
        address: Option<std::net::Ipv4Addr>,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Disconnect a container from a network (its address and names there go with it).
    fn disconnect_network(
        &self,
        id: &str,
        network: &str,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// How many TCP connections that came in to a running container's listening ports (from
    /// outside the container) are still open, as its own network namespace shows them; `None`
    /// when that cannot be looked at (the engine runs on another host, the container is gone).
    fn inbound_connections(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<usize>, RuntimeError>> + Send;
    /// Rename a container (used to free its canonical name during a start-first rollout).
    fn rename_container(
        &self,
        id: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Run `cmd` (exec form) in a running container as its user; its exit code, output dropped.
    /// A command still running after `timeout` counts as failed (exit code -1).
    fn exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<i64, RuntimeError>> + Send;
    /// Run a lifecycle hook in a running container (see [`HookExec`]); a hook still running
    /// after `timeout` counts as failed (exit code -1).
    fn exec_hook(
        &self,
        id: &str,
        hook: &HookExec,
        timeout: Duration,
    ) -> impl Future<Output = Result<HookOutcome, RuntimeError>> + Send;
    /// Events of containers and networks matching the filter, from now on, until the stream is
    /// dropped. Level-triggered consumers use them only as hints to look again.
    fn events(&self, filter: &LabelFilter) -> EventStream;
    /// The last `tail` lines (all when `None`) of a container's stdout and stderr.
    fn logs(
        &self,
        id: &str,
        tail: Option<usize>,
    ) -> impl Future<Output = Result<Vec<String>, RuntimeError>> + Send;
}
