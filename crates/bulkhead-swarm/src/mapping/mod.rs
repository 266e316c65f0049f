//! A Compose service's release → one Swarm `ServiceSpec` (pure): owner labels and the spec's
//! hash, replicas, DNS round-robin endpoint, host-mode ports, rolling update and rollback
//! shaped by the release's rollout settings; the task's container in `container`. Only fields
//! Engine API 1.41 knows are set; what it cannot carry is refused (see `gaps`).

mod container;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec,
};
use bulkhead_core::deploy::{PortTemplate, Template};
use bulkhead_core::spec::extension::DEFAULT_SETTLE;
use bulkhead_core::spec::rollout::{FailureAction, Order, RolloutConfig};
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_RELEASE, LABEL_SERVICE};

use crate::gaps::{Gap, refusals};
use crate::hash::spec_hash;
use crate::names::{self, NameError};

pub(crate) use container::selinux_field;

/// On a Swarm service: the hash of its spec as Bulkhead made it ([`spec_hash`]), compared
/// before any update, since an update with nothing changed still replaces tasks.
pub const LABEL_SPEC: &str = "dev.bulkhead.spec";

/// The release a service spec deploys, and how its tasks are replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The release's id, the value of `dev.bulkhead.release`.
    pub id: String,
    pub replicas: u32,
    /// `deploy.update_config`: how a new release rolls out.
    pub update: RolloutConfig,
    /// `deploy.rollback_config`: how Swarm rolls back a failed update.
    pub rollback: RolloutConfig,
}

/// The image the tasks run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `name@sha256:<64 hex>`: every node runs exactly this image.
    Pinned(String),
    /// A tag the nodes already hold (`cargo xtask lab load`): for tests only. It breaks the
    /// `pinned-image` rule, so nodes may run different images; each node tries a pull first.
    NodeLocalUnpinned(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("image `{0}` is not pinned by digest (name@sha256:<64 hex digits>)")]
    NotPinned(String),
}

impl ImageRef {
    /// An image reference pinned by digest.
    pub fn pinned(reference: &str) -> Result<ImageRef, ImageError> {
        let pinned = reference
            .split_once("@sha256:")
            .is_some_and(|(name, digest)| {
                !name.is_empty()
                    && digest.len() == 64
                    && digest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
        if pinned {
            Ok(ImageRef::Pinned(reference.to_string()))
        } else {
            Err(ImageError::NotPinned(reference.to_string()))
        }
    }

    /// A tag loaded into every node beforehand, unpinned: tests and the lab only.
    pub fn node_local_unpinned_for_tests(tag: &str) -> ImageRef {
        ImageRef::NodeLocalUnpinned(tag.to_string())
    }

    pub fn as_str(&self) -> &str {
        match self {
            ImageRef::Pinned(r) | ImageRef::NodeLocalUnpinned(r) => r,
        }
    }
}

/// An overlay network the service joins, with the names it answers to there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
}

/// A Swarm secret given to the tasks as a file (on the node's tmpfs, owned by the service's
/// pinned user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMount {
    pub secret_id: String,
    pub secret_name: String,
    /// A file name under /run/secrets, or an absolute path.
    pub target: String,
    pub mode: u32,
}

/// Everything one Swarm service is made from.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInput<'a> {
    pub project: &'a str,
    /// The Compose service's name.
    pub service: &'a str,
    pub release: &'a Release,
    pub template: &'a Template,
    pub image: &'a ImageRef,
    /// The overlays the service joins (its security groups), in order.
    pub networks: &'a [Attachment],
    pub secrets: &'a [SecretMount],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("service `{service}` cannot run on Swarm: {}", list(gaps))]
    Refused { service: String, gaps: Vec<Gap> },
    #[error("service `{service}`: {source}")]
    Name {
        service: String,
        #[source]
        source: NameError,
    },
    #[error(
        "service `{service}` has no user pinned as uid:gid (`{user}`); a user is pinned from the image's own user database before a Swarm service is made"
    )]
    UnpinnedUser { service: String, user: String },
    #[error(
        "service `{service}` joins no overlay network; a Swarm task without one joins the node's default bridge"
    )]
    NoNetwork { service: String },
}

fn list(gaps: &[Gap]) -> String {
    gaps.iter()
        .map(|g| format!("{}: {}", g.id(), g.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The Swarm service `<project>-<service>` running `input.release` of the service: refused
/// when the template holds a setting Swarm cannot carry ([`crate::gaps::refusals`]). The spec
/// carries its own hash in [`LABEL_SPEC`].
pub fn service_spec(input: &ServiceInput<'_>) -> Result<ServiceSpec, MappingError> {
    let service = input.service.to_string();
    let refused = refusals(input.template);
    if !refused.is_empty() {
        return Err(MappingError::Refused {
            service,
            gaps: refused,
        });
    }
    let name =
        names::service_name(input.project, input.service).map_err(|source| MappingError::Name {
            service: service.clone(),
            source,
        })?;
    let (uid, gid) = pinned_user(input.template).ok_or_else(|| MappingError::UnpinnedUser {
        service: service.clone(),
        user: input.template.user.clone().unwrap_or_default(),
    })?;
    let networks = attachments(input)?;
    let owner = owner_labels(input);
    let task = TaskSpec {
        container_spec: Some(container::container_spec(input, &owner, (uid, gid))),
        resources: Some(container::resources(input.template)),
        restart_policy: Some(container::restart_policy(&input.template.restart)),
        networks: Some(networks),
        log_driver: container::log_driver(&input.template.engine),
        ..Default::default()
    };
    let stop_first = input.template.stop_first(false).is_some();
    let mut spec = ServiceSpec {
        name: Some(name),
        labels: Some(owner.into_iter().collect()),
        task_template: Some(task),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(input.release.replicas)),
            }),
            ..Default::default()
        }),
        update_config: Some(update_config(&input.release.update, stop_first)),
        rollback_config: Some(rollback_config(&input.release.rollback, stop_first)),
        endpoint_spec: Some(endpoint_spec(&input.template.ports)),
        ..Default::default()
    };
    let hash = spec_hash(&spec);
    if let Some(labels) = spec.labels.as_mut() {
        labels.insert(LABEL_SPEC.to_string(), hash);
    }
    Ok(spec)
}

/// `uid:gid` in digits, as the deploy pins it.
fn pinned_user(t: &Template) -> Option<(u32, u32)> {
    let (uid, gid) = t.user.as_deref()?.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// Project, service and release: on the service and on every task's container.
fn owner_labels(input: &ServiceInput<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_PROJECT.to_string(), input.project.to_string()),
        (LABEL_SERVICE.to_string(), input.service.to_string()),
        (LABEL_RELEASE.to_string(), input.release.id.clone()),
    ])
}

/// The overlays given, or Swarm's predefined `host` network for a waived `network_mode: host`.
fn attachments(input: &ServiceInput<'_>) -> Result<Vec<NetworkAttachmentConfig>, MappingError> {
    if input.template.network_mode.as_deref() == Some("host") {
        return Ok(vec![NetworkAttachmentConfig {
            target: Some("host".to_string()),
            ..Default::default()
        }]);
    }
    if input.networks.is_empty() {
        return Err(MappingError::NoNetwork {
            service: input.service.to_string(),
        });
    }
    Ok(input
        .networks
        .iter()
        .map(|a| NetworkAttachmentConfig {
            target: Some(a.network.clone()),
            aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
            ..Default::default()
        })
        .collect())
}

/// DNS round-robin (no virtual IP: it rests on IPVS, which not every kernel has), and the
/// published ports in host mode (the routing mesh rests on IPVS too).
fn endpoint_spec(ports: &[PortTemplate]) -> EndpointSpec {
    let ports: Vec<EndpointPortConfig> = ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol.as_str() {
                "udp" => EndpointPortConfigProtocolEnum::UDP,
                "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                _ => EndpointPortConfigProtocolEnum::TCP,
            }),
            target_port: Some(i64::from(p.container_port)),
            published_port: p.host_port.map(i64::from),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    EndpointSpec {
        mode: Some(EndpointSpecModeEnum::DNSRR),
        ports: (!ports.is_empty()).then_some(ports),
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The shared part of both rollout configs: parallelism, delay, monitor (the settle time when
/// the spec names none), failure ratio, and whether the old task stops first.
struct Shape {
    parallelism: i64,
    delay: i64,
    monitor: i64,
    ratio: f64,
    stop_first: bool,
}

fn shape(c: &RolloutConfig, stop_first: bool) -> Shape {
    let monitor = c.monitor_ms.map_or(DEFAULT_SETTLE, Duration::from_millis);
    Shape {
        parallelism: i64::from(c.parallelism),
        delay: nanos(Duration::from_millis(c.delay_ms)),
        monitor: nanos(monitor),
        ratio: f64::from(c.max_failure_ppm) / 1_000_000.0,
        stop_first: match c.order {
            Some(Order::StopFirst) => true,
            Some(Order::StartFirst) => false,
            None => stop_first,
        },
    }
}

/// Start-first unless the old task must stop first (a fixed host port), one task at a time
/// by default; a failed update rolls back.
fn update_config(c: &RolloutConfig, stop_first: bool) -> ServiceSpecUpdateConfig {
    let s = shape(c, stop_first);
    ServiceSpecUpdateConfig {
        parallelism: Some(s.parallelism),
        delay: Some(s.delay),
        failure_action: Some(match c.failure_action {
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
        }),
        monitor: Some(s.monitor),
        max_failure_ratio: Some(s.ratio),
        order: Some(if s.stop_first {
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
        } else {
            ServiceSpecUpdateConfigOrderEnum::START_FIRST
        }),
    }
}

/// Like [`update_config`]; a rollback that fails pauses (Swarm cannot roll back a rollback,
/// which is also what `rollback` means there: stop, and leave the rest as it is).
fn rollback_config(c: &RolloutConfig, stop_first: bool) -> ServiceSpecRollbackConfig {
    let s = shape(c, stop_first);
    ServiceSpecRollbackConfig {
        parallelism: Some(s.parallelism),
        delay: Some(s.delay),
        failure_action: Some(match c.failure_action {
            FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            FailureAction::Rollback | FailureAction::Pause => {
                ServiceSpecRollbackConfigFailureActionEnum::PAUSE
            }
        }),
        monitor: Some(s.monitor),
        max_failure_ratio: Some(s.ratio),
        order: Some(if s.stop_first {
            ServiceSpecRollbackConfigOrderEnum::STOP_FIRST
        } else {
            ServiceSpecRollbackConfigOrderEnum::START_FIRST
        }),
    }
}

fn hash_map(map: BTreeMap<String, String>) -> HashMap<String, String> {
    map.into_iter().collect()
}

#[cfg(test)]
#[path = "../mapping_tests.rs"]
mod tests;
