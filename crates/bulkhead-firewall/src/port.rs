//! `HostFirewall`: this crate's iptables [`Firewall`](crate::Firewall) as the
//! `bulkhead_ports::Firewall` port (rules read back grouped by network and bridge).

use std::collections::BTreeMap;

use bulkhead_ports::{Firewall, FirewallError, InstalledRules, NetworkRules};

use crate::{Firewall as Iptables, RuleKind};

/// [`crate::Firewall`] (iptables, DOCKER-USER and INPUT) as the `Firewall` port.
#[derive(Debug)]
pub struct HostFirewall(Iptables);

impl HostFirewall {
    /// Over `iptables` from `PATH`, like dockerd.
    pub fn new() -> HostFirewall {
        HostFirewall(Iptables::new())
    }
}

impl Default for HostFirewall {
    fn default() -> HostFirewall {
        HostFirewall::new()
    }
}

/// The port over a given iptables firewall (another program, or a fake in tests).
impl From<Iptables> for HostFirewall {
    fn from(iptables: Iptables) -> HostFirewall {
        HostFirewall(iptables)
    }
}

fn port_error(operation: &str, e: crate::FirewallError) -> FirewallError {
    FirewallError {
        operation: operation.to_string(),
        reason: e.to_string(),
    }
}

impl Firewall for HostFirewall {
    fn ensure(&self, project: &str, networks: &[NetworkRules]) -> Result<(), FirewallError> {
        let rules: Vec<crate::NetworkRules<'_>> = networks
            .iter()
            .map(|n| crate::NetworkRules {
                network: &n.network,
                bridge: &n.bridge,
                block_egress: n.block_egress,
                ingress: n.ingress.as_deref(),
                refused: &n.refused,
            })
            .collect();
        self.0
            .ensure(project, &rules)
            .map_err(|e| port_error("installing rules", e))
    }

    fn installed(&self, project: &str) -> Result<Vec<InstalledRules>, FirewallError> {
        let rules = self
            .0
            .list(project)
            .map_err(|e| port_error("listing rules", e))?;
        let mut bound: BTreeMap<(String, String), InstalledRules> = BTreeMap::new();
        for rule in rules {
            let entry = bound
                .entry((rule.network.clone(), rule.bridge.clone()))
                .or_insert_with(|| InstalledRules {
                    network: rule.network,
                    bridge: rule.bridge,
                    ..InstalledRules::default()
                });
            match rule.kind {
                RuleKind::ForwardedEgress => entry.egress_drop = true,
                RuleKind::HostAccess => entry.host_drop = true,
                RuleKind::IngressAllow { to } => {
                    entry.ingress.get_or_insert_with(Vec::new).push(to)
                }
                RuleKind::IngressDefaultDrop => {
                    entry.ingress.get_or_insert_with(Vec::new);
                }
                RuleKind::IngressRefuse { to } => entry.refused.push(to),
                RuleKind::IngressKeep { .. } => {}
            }
        }
        Ok(bound
            .into_values()
            .map(|mut r| {
                if let Some(set) = &mut r.ingress {
                    set.sort();
                    set.dedup();
                }
                r.refused.sort();
                r.refused.dedup();
                r
            })
            .collect())
    }

    fn unblock(
        &self,
        project: &str,
        networks: &[String],
        bridges: &[(String, String)],
    ) -> Result<(), FirewallError> {
        let networks: Vec<&str> = networks.iter().map(String::as_str).collect();
        let bridges: Vec<(&str, &str)> = bridges
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_str()))
            .collect();
        self.0
            .remove_networks(project, &networks, &bridges)
            .map(|_| ())
            .map_err(|e| port_error("removing rules", e))
    }

    fn unblock_project(&self, project: &str) -> Result<(), FirewallError> {
        self.0
            .remove_project(project)
            .map(|_| ())
            .map_err(|e| port_error("removing rules", e))
    }
}
