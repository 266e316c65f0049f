//! The observed state: what the engine and the host firewall hold for a project, read from
//! owner labels only (names are for people, labels are the truth).

use std::collections::BTreeMap;

use bulkhead_core::deploy::{Observed, ObservedContainer, ObservedRules};
use bulkhead_ports::runtime::{
    LABEL_BUILT_BY, LABEL_PROJECT, LABEL_RELEASE, LABEL_REPLICA, LABEL_SERVICE, LABEL_SUBNET,
    SUBNET_PROBE,
};
use bulkhead_ports::{ContainerInfo, ContainerRuntime, Firewall, HealthState, LabelFilter};

use super::container::LABEL_SPEC;
use super::{DeployError, Deployer};

/// Containers labelled as built for `project`: its built images' replicas, and what an
/// interrupted build of them left.
pub fn built_by(project: &str) -> LabelFilter {
    LabelFilter(BTreeMap::from([(
        LABEL_BUILT_BY.to_string(),
        project.to_string(),
    )]))
}

pub fn observed_container(c: &ContainerInfo) -> ObservedContainer {
    let label = |k: &str| c.labels.get(k).cloned();
    ObservedContainer {
        id: c.id.clone(),
        name: c.name.clone(),
        service: label(LABEL_SERVICE).unwrap_or_default(),
        release: label(LABEL_RELEASE).and_then(|r| r.parse().ok()),
        replica: label(LABEL_REPLICA).and_then(|r| r.parse().ok()),
        spec_hash: label(LABEL_SPEC),
        running: c.state == "running",
        unhealthy: c.health == HealthState::Unhealthy,
        healthy: c.health == HealthState::Healthy,
        running_for_ms: c
            .running_for
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        exit_code: if c.state == "exited" {
            c.exit_code
        } else {
            None
        },
        addresses: c.addresses.clone(),
    }
}

impl<R: ContainerRuntime + 'static, S: bulkhead_ports::Store + 'static, F: Firewall + 'static>
    Deployer<R, S, F>
{
    pub async fn observe(
        &self,
        project: &str,
    ) -> Result<(Observed, Vec<ContainerInfo>), DeployError> {
        let filter = LabelFilter::project(project);
        let built_filter = built_by(project);
        // The host firewall's rules are read (an iptables process, the slowest part of a
        // no-op `up`) while the engine answers the lists.
        let firewall = std::sync::Arc::clone(&self.firewall);
        let owner = project.to_string();
        let installed = super::runner::blocking(move || firewall.installed(&owner));
        let lists = async {
            tokio::try_join!(
                self.runtime.list_containers(&filter),
                self.runtime.list_containers(&built_filter),
                self.runtime.list_networks(&filter),
                self.runtime.list_volumes(&filter),
            )
            .map_err(DeployError::from)
        };
        let ((mut containers, built, networks, volumes), installed) =
            tokio::try_join!(lists, installed)?;
        // The builder's temporary containers of an interrupted build of the project's images
        // (replicas of those images carry the label too, and the project's own): no service
        // label, so the plan removes them.
        containers.extend(
            built
                .into_iter()
                .filter(|c| !c.labels.contains_key(LABEL_PROJECT)),
        );
        // A probe network a killed run left (see `NetworkSpec::pin_subnet`) is not the
        // project's network: the plan creates that anew, which removes the probe first.
        let networks: Vec<_> = networks
            .into_iter()
            .filter(|n| n.labels.get(LABEL_SUBNET).map(String::as_str) != Some(SUBNET_PROBE))
            .collect();
        let bridges: BTreeMap<String, String> = networks
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.bridge.clone()?)))
            .collect();
        // What the engine says now replaces what was cached: a network removed or re-created
        // behind Bulkhead's back must not have its rules installed on its old bridge.
        self.bridges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.to_string(), bridges.clone());
        let rules = installed
            .into_iter()
            .map(|r| ObservedRules {
                network: r.network,
                bridge: r.bridge,
                egress_drop: r.egress_drop,
                host_drop: r.host_drop,
                ingress: r.ingress.map(|set| {
                    let mut ips: Vec<String> = set.iter().map(|ip| ip.to_string()).collect();
                    ips.sort();
                    ips
                }),
            })
            .collect();
        let observed = Observed {
            containers: containers.iter().map(observed_container).collect(),
            networks: networks.into_iter().map(|n| n.name).collect(),
            bridges,
            volumes: volumes.into_iter().map(|v| v.name).collect(),
            rules,
        };
        Ok((observed, containers))
    }

    /// A replica whose health check has not passed yet by the engine's clock (its interval
    /// may be long) is verified now: its test run once, concurrently for all; passing is
    /// ready. Keeps a converged project converged right after a rollout that verified its
    /// replicas the same way.
    ///
    /// Only when the store's handover mark is set: a run that did not end may have started a
    /// replica it never verified. With the mark clear, every replica was started by a run that
    /// ended, which verified it ready before going on, so one still "starting" by the engine's
    /// clock is ready: no test is run (an `exec` each, 0.2–0.8 s on an engine busy with the
    /// health checks of fifty new replicas, was most of a no-op `up` right after `up`). What
    /// happens to it later is the engine's health check's and the reconciler's to see.
    pub(super) async fn verify_starting(
        &self,
        project: &str,
        observed: &mut Observed,
        probes: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), DeployError> {
        if !self.store.handover(project).await? {
            for c in observed.containers.iter_mut() {
                if c.running && !c.unhealthy && probes.contains_key(&c.service) {
                    c.healthy = true;
                }
            }
            return Ok(());
        }
        let mut checks = tokio::task::JoinSet::new();
        for (i, c) in observed.containers.iter().enumerate() {
            if !c.running || c.healthy || c.unhealthy {
                continue;
            }
            let Some(probe) = probes.get(&c.service).cloned() else {
                continue;
            };
            let (runtime, id) = (std::sync::Arc::clone(&self.runtime), c.id.clone());
            checks.spawn(async move {
                let passed = runtime
                    .exec(&id, &probe, std::time::Duration::from_secs(2))
                    .await
                    .is_ok_and(|code| code == 0);
                (i, passed)
            });
        }
        while let Some(done) = checks.join_next().await {
            if let Ok((i, true)) = done
                && let Some(c) = observed.containers.get_mut(i)
            {
                c.healthy = true;
            }
        }
        Ok(())
    }
}
