//! The observed state: what the engine and the host firewall hold for a project, read from
//! owner labels only (names are for people, labels are the truth).

use std::collections::BTreeMap;

use bulkhead_core::deploy::{Observed, ObservedContainer, ObservedRules};
use bulkhead_ports::runtime::{LABEL_RELEASE, LABEL_REPLICA, LABEL_SERVICE};
use bulkhead_ports::{ContainerInfo, ContainerRuntime, Firewall, HealthState, LabelFilter};

use super::container::LABEL_SPEC;
use super::{DeployError, Deployer};

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
        let (containers, networks, volumes) = tokio::try_join!(
            self.runtime.list_containers(&filter),
            self.runtime.list_networks(&filter),
            self.runtime.list_volumes(&filter),
        )?;
        let installed = self.firewall.installed(project)?;
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
}
