//! Container lifecycle: create (and connect to every network), start, stop, remove, rename,
//! inspect and list, and the engine's inspect and list answers → the port's `ContainerInfo`.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerState, ContainerSummary, HealthStatusEnum,
    NetworkConnectRequest, NetworkSettings,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions,
};
use bulkhead_ports::{ContainerInfo, ContainerSpec, HealthState, LabelFilter, RuntimeError};

use crate::connect::TIMEOUT_SECS;
use crate::error::{message, status};
use crate::{DockerRuntime, label_filters, spec};

impl DockerRuntime {
    /// Create the container on its first network, then connect the others (with their aliases)
    /// before anything starts it; a failed connect removes the half-made container.
    pub(crate) async fn container_create(
        &self,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        let body = spec::create_body(spec).map_err(|e| RuntimeError::Engine {
            operation: "create container".to_string(),
            reason: e.to_string(),
        })?;
        let options = CreateContainerOptions {
            name: (!spec.name.is_empty()).then(|| spec.name.clone()),
            ..Default::default()
        };
        self.check_networks(spec).await?;
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| self.create_error(spec, e))?;
        if let Err(err) = self.connect_networks(&created.id, spec).await {
            // Best effort: the connect failure is the error worth reporting.
            let _ = self.container_remove(&created.id).await;
            return Err(err);
        }
        Ok(created.id)
    }

    /// Docker 20.10 accepts a missing network at create, and at connect for a container not yet
    /// running, and fails only at start; look them up first so every engine says `NotFound`.
    async fn check_networks(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        for (network, _) in &spec.networks {
            self.docker
                .inspect_network(network, None)
                .await
                .map_err(self.fail("create container", "network", network))?;
        }
        Ok(())
    }

    /// A 404 at create names what is missing in the engine's own words: `No such image: …` is
    /// the image, `network … not found` the network the create names (the first; newer
    /// engines look it up at create); anything else (`No such container: …` of a `container:`
    /// mode, a volume driver) keeps the engine's message rather than being guessed at (every
    /// such 404 used to be reported as a missing network).
    fn create_error(&self, spec: &ContainerSpec, err: BollardError) -> RuntimeError {
        match (status(&err), message(&err)) {
            (Some(404), Some(m)) if m.starts_with("network ") && m.contains("not found") => {
                let network = spec.networks.first().map(|(n, _)| n.as_str());
                let name = network.or(spec.network_mode.as_deref()).unwrap_or_default();
                RuntimeError::NotFound {
                    what: "network",
                    name: name.to_string(),
                }
            }
            (Some(404), Some(m)) if !m.contains("No such image") => RuntimeError::Engine {
                operation: format!("create container {}", spec.name),
                reason: m.to_string(),
            },
            (Some(404), _) => self.fail("create container", "image", &spec.image)(err),
            _ => self.fail_naming("create container", "container", &spec.name)(err),
        }
    }

    async fn connect_networks(&self, id: &str, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        for (network, aliases) in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(crate::endpoints::endpoint(
                    aliases,
                    spec.fixed_addresses.get(network).copied(),
                )),
            };
            self.docker
                .connect_network(network, request)
                .await
                .map_err(|e| self.connect_error(id, network, e))?;
        }
        Ok(())
    }

    pub(crate) async fn container_start(&self, id: &str) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(self.fail("start container", "container", id))
    }

    /// SIGTERM (or the stop signal), `grace`, then SIGKILL; an already stopped container is fine
    /// (the engine answers 304). The request may take the whole grace period, so its timeout
    /// grows with it.
    pub(crate) async fn container_stop(
        &self,
        id: &str,
        grace: Duration,
    ) -> Result<(), RuntimeError> {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions {
            t: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let timeout = Duration::from_secs(TIMEOUT_SECS.saturating_add(seconds));
        self.docker
            .clone()
            .with_timeout(timeout)
            .stop_container(id, Some(options))
            .await
            .map_err(self.fail("stop container", "container", id))
    }

    /// Force-remove with anonymous volumes; a missing container is already removed.
    pub(crate) async fn container_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Err(err) if status(&err) == Some(404) => Ok(()),
            removed => removed.map_err(self.fail("remove container", "container", id)),
        }
    }

    /// 404: no container `id`; 409: `name` is taken.
    pub(crate) async fn container_rename(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        let options = RenameContainerOptions {
            name: name.to_string(),
        };
        match self.docker.rename_container(id, options).await {
            Err(err) if status(&err) == Some(409) => {
                Err(self.fail_naming("rename container", "container", name)(err))
            }
            renamed => renamed.map_err(self.fail("rename container", "container", id)),
        }
    }

    pub(crate) async fn container_inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(self.fail("inspect container", "container", id))?;
        Ok(container_info(inspected))
    }

    /// Every container, running or not, carrying all the filter's labels, sorted by name: one
    /// list call, read with `summary_info` (no restart count; aliases only where the answer
    /// carries them, which Docker 20.10's does not).
    pub(crate) async fn container_list(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: label_filters(filter),
            ..Default::default()
        };
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(self.fail("list containers", "container", ""))?;
        let mut infos: Vec<ContainerInfo> = summaries.into_iter().map(summary_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }
}

/// The list answer's summary → `ContainerInfo`. Health, exit code and how long it has run come
/// from the status line (`status::parse`; the run time a lower bound, to the second at best);
/// the image is the reference it was created from, or the image ID once that reference names
/// another image; `restart_count` is `None` (inspect tells it).
pub(crate) fn summary_info(summary: ContainerSummary) -> ContainerInfo {
    let state = summary.state.map(|s| s.to_string()).unwrap_or_default();
    let status = crate::status::parse(summary.status.as_deref().unwrap_or_default());
    let networks = summary
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let network = NetworkSettings {
        networks: Some(networks.clone()),
        ..Default::default()
    };
    // A legacy link adds `/other/alias` names; the container's own has no inner slash.
    let names = summary.names.unwrap_or_default();
    let name = names
        .iter()
        .map(|n| n.trim_start_matches('/'))
        .find(|n| !n.contains('/'))
        .unwrap_or_default()
        .to_string();
    let mut published: Vec<(String, String, u16)> = summary
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            Some((
                format!("{}/{proto}", p.private_port),
                p.ip.unwrap_or_default(),
                p.public_port?,
            ))
        })
        .collect();
    published.sort();
    ContainerInfo {
        id: summary.id.unwrap_or_default(),
        name,
        image: summary.image.unwrap_or_default(),
        labels: summary.labels.unwrap_or_default().into_iter().collect(),
        health: status.health,
        exit_code: status.exit_code.filter(|_| state == "exited"),
        running_for: status.running_for.filter(|_| state == "running"),
        state,
        addresses: addresses(&network),
        fixed_addresses: crate::endpoints::fixed_addresses(&network),
        aliases: networks
            .into_iter()
            .filter_map(|(name, endpoint)| Some((name, endpoint.aliases?)))
            .collect(),
        published,
        restart_count: None,
    }
}

pub(crate) fn container_info(inspected: ContainerInspectResponse) -> ContainerInfo {
    let config = inspected.config.unwrap_or_default();
    let state = inspected.state.unwrap_or_default();
    let network = inspected.network_settings.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let exited = matches!(status.as_str(), "exited" | "dead");
    let running_for = running_for(&state, &status);
    ContainerInfo {
        id: inspected.id.unwrap_or_default(),
        name: inspected
            .name
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        health: health(&state),
        exit_code: state.exit_code.filter(|_| exited),
        state: status,
        addresses: addresses(&network),
        fixed_addresses: crate::endpoints::fixed_addresses(&network),
        aliases: crate::endpoints::aliases(&network),
        published: published(&network),
        running_for,
        restart_count: inspected.restart_count.and_then(|n| u64::try_from(n).ok()),
    }
}

/// How long a running container has run since its last start (`State.StartedAt` to now).
fn running_for(state: &ContainerState, status: &str) -> Option<Duration> {
    if status != "running" {
        return None;
    }
    let started = bulkhead_core::clock::parse_rfc3339(state.started_at.as_deref()?)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let now = u64::try_from(now).ok()?;
    Some(Duration::from_millis(now.saturating_sub(started)))
}

fn health(state: &ContainerState) -> HealthState {
    match state.health.as_ref().and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => HealthState::Starting,
        Some(HealthStatusEnum::HEALTHY) => HealthState::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => HealthState::Unhealthy,
        Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) | None => HealthState::None,
    }
}

/// Network name → IP address, for networks where the container has one (it is running).
fn addresses(network: &NetworkSettings) -> BTreeMap<String, String> {
    let Some(networks) = &network.networks else {
        return BTreeMap::new();
    };
    networks
        .iter()
        .filter_map(|(name, endpoint)| {
            let ip = endpoint.ip_address.as_deref().filter(|ip| !ip.is_empty())?;
            Some((name.clone(), ip.to_string()))
        })
        .collect()
}

/// `(8080/tcp, host ip, host port)` for every published binding, sorted.
fn published(network: &NetworkSettings) -> Vec<(String, String, u16)> {
    let Some(ports) = &network.ports else {
        return Vec::new();
    };
    let mut published: Vec<(String, String, u16)> = ports
        .iter()
        .flat_map(|(port, bindings)| {
            bindings.iter().flatten().filter_map(move |binding| {
                let host_port = binding.host_port.as_deref()?.parse().ok()?;
                let host_ip = binding.host_ip.clone().unwrap_or_default();
                Some((port.clone(), host_ip, host_port))
            })
        })
        .collect();
    published.sort();
    published
}
