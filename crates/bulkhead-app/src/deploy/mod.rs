//! Deploying a project on one host: releases recorded in the store, then the reconciler —
//! observe, `plan`, run — against the container runtime and the host firewall.

mod activation;
mod address;
mod batches;
pub mod container;
mod desired;
mod env;
#[cfg(test)]
mod fake_runtime;
mod handover;
mod hooks;
pub mod images;
mod observe;
pub mod ops;
mod runner;
pub mod secret_files;
mod secret_use;
mod tmpfs_mode;
mod user;
mod volumes;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use bulkhead_core::deploy::{DesiredNetwork, Plan, Template};
use bulkhead_core::spec::model::Condition;
use bulkhead_core::spec::rollout::{Hook, Order, RolloutConfig};
use bulkhead_core::verdict::Verdict;
use bulkhead_ports::{
    ContainerRuntime, Firewall, FirewallError, Progress, RuntimeError, Store, StoreError,
};

pub use activation::Held;
pub use desired::{Candidate, Prepared};
pub use runner::Outcome;

use crate::project::OpenError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the spec is refused by policy ({count} finding(s)); nothing was created")]
    Refused { count: usize, verdict: Box<Verdict> },
    #[error("service `{service}`: {reason}")]
    Policy {
        service: String,
        reason: String,
        hint: String,
    },
    #[error("service `{service}`: {what}")]
    Unsupported {
        service: String,
        what: String,
        hint: String,
    },
    #[error(
        "service `{service}`: image `{image}` is not present on this engine and cannot be pulled"
    )]
    ImageMissing { service: String, image: String },
    #[error("service `{service}`: build failed: {reason}")]
    Build { service: String, reason: String },
    #[error("service `{service}`: {reason}")]
    Environment { service: String, reason: String },
    #[error("{what} `{name}` did not become ready: {reason}")]
    NotReady {
        what: String,
        name: String,
        reason: String,
    },
    #[error(
        "a {what} named {name} exists but does not belong to project {project}; remove or rename it, or choose another project name with -p"
    )]
    NameTaken {
        what: &'static str,
        name: String,
        project: String,
    },
    #[error("project `{0}` is not known to this state directory")]
    UnknownProject(String),
    #[error("service `{service}` has no release {number}")]
    NoRelease { service: String, number: u64 },
    #[error("project `{project}` has no service `{service}`{known}")]
    UnknownService {
        project: String,
        service: String,
        /// `` (its services: a, b)`` or nothing.
        known: String,
    },
    /// A rollout that failed past its `max_failure_ratio` (see `runner::stopped`).
    #[error("service `{service}`: {reason}")]
    Rollout { service: String, reason: String },
    #[error("service `{service}` has nothing to roll back to: {reason}")]
    NoRollback { service: String, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}

impl DeployError {
    fn for_service(self, service: &str) -> DeployError {
        match self {
            DeployError::Build { reason, .. } => DeployError::Build {
                service: service.to_string(),
                reason,
            },
            other => other,
        }
    }
}

/// What a release stores beyond its pinned image: everything needed to recreate its
/// containers without the spec (rollback, crash recovery).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSpec {
    pub template: Template,
    pub replicas: u32,
    pub depends_on: Vec<(String, Condition)>,
    /// Exec-form readiness probe (the health test run directly, for fast readiness).
    pub probe: Option<Vec<String>>,
    pub build_key: Option<String>,
    /// The secrets its containers get, each at a recorded version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUse>,
    /// `x-bulkhead.settle` in ms, when the spec sets it (without a health check, a replica is
    /// ready once it ran this long without a restart; default `DEFAULT_SETTLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_ms: Option<u64>,
    /// `x-bulkhead.share_volumes`: replicas may write the service's volumes at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_volumes: bool,
    /// Services whose replacement replaces this one's replicas too (`depends_on: {svc:
    /// {restart: true}}`: it resolves their names once, at start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_after: Vec<String>,
    /// `deploy.update_config`, when the spec sets it: how `up` replaces the replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<RolloutConfig>,
    /// `deploy.rollback_config`, when the spec sets it: how `bulkhead rollback` leaving this
    /// release replaces the replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RolloutConfig>,
    /// `post_start` hooks, each with its user resolved and pinned as `uid:gid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// `pre_stop` hooks, likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
}

impl StoredSpec {
    /// Why a replica stops before its successor starts, if it must (by `up`).
    pub fn stop_first(&self) -> Option<String> {
        self.stop_first_with(&self.update_config())
    }

    /// Why a replica stops before its successor starts in a rollout shaped by `c`: the
    /// service's writable state or fixed host port, else `order: stop-first`.
    pub fn stop_first_with(&self, c: &RolloutConfig) -> Option<String> {
        self.template.stop_first(self.share_volumes).or_else(|| {
            (c.order == Some(Order::StopFirst))
                .then(|| "asks for it (order: stop-first)".to_string())
        })
    }

    /// How `up` replaces the replicas (`update_config`, else Bulkhead's own way).
    pub fn update_config(&self) -> RolloutConfig {
        self.update.clone().unwrap_or_default()
    }

    /// How a rollback leaving this release replaces the replicas.
    pub fn rollback_config(&self) -> RolloutConfig {
        self.rollback.clone().unwrap_or_default()
    }

    fn checked(&self) -> bool {
        self.template
            .health
            .as_ref()
            .is_some_and(|h| !h.test.is_empty() && h.test.first().is_none_or(|t| t != "NONE"))
    }

    /// Without a health check, the settle time a replica must run without a restart; `None`
    /// when it has one (then only "healthy" is ready).
    pub fn settle(&self) -> Option<std::time::Duration> {
        self.settle_with(&self.update_config())
    }

    /// [`StoredSpec::settle`] in a rollout shaped by `c`: its `monitor` is the settle time
    /// (`x-bulkhead.settle` is the same setting; the spec refuses the two when they differ).
    pub fn settle_with(&self, c: &RolloutConfig) -> Option<std::time::Duration> {
        if self.checked() {
            return None;
        }
        Some(self.settle_ms.or(c.monitor_ms).map_or(
            bulkhead_core::spec::extension::DEFAULT_SETTLE,
            std::time::Duration::from_millis,
        ))
    }

    /// With a health check, how long a new replica must also have run without a restart
    /// once healthy (`monitor`); `None` without one (the settle time covers it) or unset.
    pub fn monitor_with(&self, c: &RolloutConfig) -> Option<std::time::Duration> {
        c.monitor_ms
            .filter(|_| self.checked())
            .map(std::time::Duration::from_millis)
    }
}

/// The project-level desired state kept in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectState {
    pub networks: Vec<DesiredNetwork>,
    pub volumes: Vec<String>,
    /// Replica counts set by `scale`, by service; they win over the spec's until the next
    /// `up`, which applies the spec again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scale: BTreeMap<String, u32>,
    /// Services whose rollout to the release named was paused (`failure_action: pause`): the
    /// reconciler leaves them as they are while that release is active, until the next `up`
    /// (which records a fresh state) or a rollback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paused: BTreeMap<String, u64>,
}

/// The deploying side of the application, over its three ports.
pub struct Deployer<R, S, F> {
    pub runtime: Arc<R>,
    pub store: Arc<S>,
    pub firewall: Arc<F>,
    pub progress: Arc<dyn Fn(Progress) + Send + Sync>,
    /// Who is deploying (recorded in releases).
    pub actor: String,
    /// Process environment (pass-through variables).
    pub env: BTreeMap<String, String>,
    /// Bridge interface by project, then network name: replaced by each observation of the
    /// project (a network removed or re-created behind Bulkhead's back has a new bridge),
    /// filled as networks are looked up.
    pub bridges: std::sync::Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// The encrypted secret store (`None`: secrets cannot be delivered).
    pub secrets: Option<Arc<crate::secrets::Secrets<S>>>,
    /// Where decrypted secret files live while their containers do (a tmpfs).
    pub secret_files: secret_files::SecretFiles,
    /// Fixed addresses given to replicas not yet started (see `address`).
    pub addresses: address::Addresses,
}

/// What `up` did.
#[derive(Debug)]
pub struct UpReport {
    pub verdict: Verdict,
    /// (service, release number, newly recorded?)
    pub releases: Vec<(String, u64, bool)>,
    pub plan: Plan,
    pub outcome: Outcome,
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    fn say(&self, subject: &str, line: impl Into<String>) {
        (self.progress)(Progress {
            subject: subject.to_string(),
            line: line.into(),
        });
    }
}

pub use desired::probe_of;
pub use secret_use::{SECRETS_DIR, SecretUse};
