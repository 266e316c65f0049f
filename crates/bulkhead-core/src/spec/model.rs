//! The typed spec: a Compose project as Bulkhead understands it, every value normalized and
//! every place remembered for error messages.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::error::Span;
use super::extension::{ProjectExt, ServiceExt};
pub use super::rollout::{FailureAction, Hook, Order, RolloutConfig};
use super::units::format_duration;

/// A whole Compose project after loading, merging, interpolating and validating.
#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub name: String,
    /// Absolute project directory; relative paths in the spec are resolved against it.
    pub dir: String,
    pub files: Vec<String>,
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, NetworkDef>,
    pub volumes: BTreeMap<String, VolumeDef>,
    pub secrets: BTreeMap<String, SecretDef>,
    pub configs: BTreeMap<String, SecretDef>,
    /// Where each `secrets.<name>` / `configs.<name>` definition was written (key:
    /// `secrets.<name>`), for errors about the files they name.
    #[serde(skip)]
    pub definitions: BTreeMap<String, Span>,
    /// Services left out because none of their profiles is active.
    pub inactive: Vec<String>,
    pub bulkhead: ProjectExt,
    /// Things worth saying that are not errors (an ignored `version`, an unset variable).
    pub notes: Vec<Note>,
    /// The other files loading read, absolute: included Compose files and their variables
    /// files, `extends.file`, `label_file` (an upload must carry them).
    pub loaded: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    pub span: Span,
    pub message: String,
}

/// A value together with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct At<T> {
    pub value: T,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// Where each key of the service was written, for messages.
    #[serde(skip)]
    pub keys: BTreeMap<String, Span>,
    pub image: Option<At<String>>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `None` value: passed through from the environment of the deploying process.
    pub environment: BTreeMap<String, Option<String>>,
    pub env_file: Vec<EnvFile>,
    pub ports: Vec<At<PortMapping>>,
    pub expose: Vec<PortRange>,
    pub healthcheck: Option<Healthcheck>,
    pub depends_on: BTreeMap<String, At<Dependency>>,
    pub replicas: u32,
    pub limits: Resources,
    pub reservations: Resources,
    pub user: Option<At<String>>,
    pub working_dir: Option<String>,
    pub read_only: Option<bool>,
    pub tmpfs: Vec<At<String>>,
    pub cap_add: Vec<At<String>>,
    pub cap_drop: Vec<At<String>>,
    pub privileged: At<bool>,
    pub security_opt: Vec<At<String>>,
    pub network_mode: Option<At<String>>,
    pub networks: BTreeMap<String, ServiceNetwork>,
    pub volumes: Vec<At<Mount>>,
    pub restart: Option<At<Restart>>,
    pub labels: BTreeMap<String, String>,
    pub secrets: Vec<At<FileRef>>,
    pub configs: Vec<At<FileRef>>,
    pub stop_signal: Option<String>,
    #[serde(serialize_with = "opt_duration")]
    pub stop_grace_period: Option<Duration>,
    pub container_name: Option<At<String>>,
    pub hostname: Option<String>,
    pub init: Option<bool>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<At<String>>,
    pub platform: Option<String>,
    pub profiles: Vec<String>,
    pub pid: Option<At<String>>,
    pub ipc: Option<At<String>>,
    pub uts: Option<At<String>>,
    pub userns_mode: Option<At<String>>,
    pub runtime: Option<At<String>>,
    pub stdin_open: bool,
    pub tty: bool,
    /// The keys of `engine_opts` (DNS, /etc/hosts, logging, resources...), at this level in JSON.
    #[serde(flatten)]
    pub engine: EngineOpts,
    /// `deploy.update_config`: how `up` replaces the replicas (`None`: Bulkhead's own way).
    pub update_config: Option<At<RolloutConfig>>,
    /// `deploy.rollback_config`: how `bulkhead rollback` replaces them.
    pub rollback_config: Option<At<RolloutConfig>>,
    /// `post_start`: run in each new replica once it started, before it counts as ready.
    #[serde(serialize_with = "shown_hooks")]
    pub post_start: Vec<Hook>,
    /// `pre_stop`: run in a replica before it is stopped.
    #[serde(serialize_with = "shown_hooks")]
    pub pre_stop: Vec<Hook>,
    pub bulkhead: ServiceExt,
}

/// The container settings of `engine_opts`, each checked at load: what the engine is given.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EngineOpts {
    /// `extra_hosts` as `(name, address)`: lines of the container's /etc/hosts, nothing more.
    pub extra_hosts: Vec<(String, String)>,
    /// Resolver addresses (IP literals only).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub domainname: Option<String>,
    /// Size of /dev/shm in bytes.
    pub shm_size: Option<u64>,
    /// The relative CPU weight asked for (bounded by the profile's).
    pub cpu_shares: Option<At<i64>>,
    /// CPUs the container may run on (`0-3,6`).
    pub cpuset: Option<String>,
    /// 0..=1000: more likely to be OOM-killed; a negative value is refused at load.
    pub oom_score_adj: Option<i64>,
    /// Supplementary groups by number (gid 0 answers to the non-root rule).
    pub group_add: Vec<At<u32>>,
    pub logging: Option<At<Logging>>,
    pub pull_policy: Option<PullPolicy>,
    /// Whether `up` would stream the service's logs (Compose's `attach`); Bulkhead's `up`
    /// streams none, so only `false` and the default agree.
    pub attach: bool,
    /// `deploy.labels`: put on the containers after the service's own `labels`.
    pub deploy_labels: BTreeMap<String, String>,
}

/// The service's log driver and its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Logging {
    /// `None`: the engine's default driver.
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// `pull_policy`: the ones that need no pull at deploy (Bulkhead never pulls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// `missing`, `if_not_present`: the local image (Bulkhead's only way).
    Missing,
    /// `never`: the local image, never pulled.
    Never,
    /// `build`: the image comes from `build:`.
    Build,
}

/// Hooks as `check --json` shows them: their environment's names, never its values.
fn shown_hooks<S: Serializer>(hooks: &[Hook], s: S) -> Result<S::Ok, S::Error> {
    let shown: Vec<Hook> = hooks.iter().map(Hook::shown).collect();
    shown.serialize(s)
}

impl Service {
    /// Where `key` was written in this service, or the service itself when it was not.
    pub fn key_span(&self, key: &str) -> &Span {
        self.keys.get(key).unwrap_or(&self.span)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Build {
    pub context: String,
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// An inclusive port range; a single port has `start == end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
    pub protocol: Protocol,
}

/// A published (or, with no `published`, container-only) port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    pub target: PortRange,
    /// Host ports; `None` lets the engine pick one.
    pub published: Option<(u16, u16)>,
    /// The address asked for in the spec, if any (Bulkhead binds 127.0.0.1 unless `public`).
    pub host_ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthTest {
    /// `NONE` or `disable: true`: the image's check is switched off.
    Disabled,
    /// Exec form: argv run directly.
    Cmd(Vec<String>),
    /// Shell form: run with the image's `/bin/sh -c`.
    Shell(String),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Healthcheck {
    /// `None`: keep the image's test, override only the timings.
    pub test: Option<HealthTest>,
    #[serde(serialize_with = "opt_duration")]
    pub interval: Option<Duration>,
    #[serde(serialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    #[serde(serialize_with = "opt_duration")]
    pub start_period: Option<Duration>,
    #[serde(serialize_with = "opt_duration")]
    pub start_interval: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    pub restart: bool,
    pub required: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resources {
    pub cpus: Option<f64>,
    pub memory: Option<u64>,
    pub pids: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Volume name, or the host path as written for a bind (empty for anonymous volumes, tmpfs).
    pub source: String,
    /// For binds: the absolute, lexically normalized host path.
    pub host_path: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub tmpfs_size: Option<u64>,
    /// A tmpfs volume's `tmpfs.mode` (permission bits, sticky included).
    pub tmpfs_mode: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "policy", content = "max_retries")]
pub enum Restart {
    No,
    Always,
    OnFailure(Option<u32>),
    UnlessStopped,
}

/// A service's use of a secret or config: delivered as a file at `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub source: String,
    pub target: String,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkDef {
    pub driver: Option<String>,
    pub external: bool,
    pub internal: bool,
    pub name: Option<String>,
    pub subnets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VolumeDef {
    pub driver: Option<String>,
    pub external: bool,
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config: where its content comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretDef {
    /// A file, resolved against the project directory.
    File(String),
    /// The named variable of the deploying process's environment.
    Environment(String),
    /// Inline content (configs only).
    Content(String),
    External(Option<String>),
}

fn opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}
