//! The host firewall port over the iptables adapter.

use bulkhead_firewall::{Firewall as Iptables, RuleKind};
use std::net::Ipv4Addr;

use bulkhead_ports::{Firewall, FirewallError, NetworkRules};

/// `bulkhead_firewall::Firewall` (iptables, DOCKER-USER and INPUT) as the `Firewall` port.
#[derive(Debug)]
pub struct HostFirewall(Iptables);

impl HostFirewall {
    pub fn new() -> HostFirewall {
        HostFirewall(Iptables::new())
    }
}

impl Default for HostFirewall {
    fn default() -> HostFirewall {
        HostFirewall::new()
    }
}

fn port_error(operation: &str, e: bulkhead_firewall::FirewallError) -> FirewallError {
    FirewallError {
        operation: operation.to_string(),
        reason: e.to_string(),
    }
}

impl Firewall for HostFirewall {
    fn ensure(&self, project: &str, networks: &[NetworkRules]) -> Result<(), FirewallError> {
        let rules: Vec<bulkhead_firewall::NetworkRules<'_>> = networks
            .iter()
            .map(|n| bulkhead_firewall::NetworkRules {
                network: &n.network,
                bridge: &n.bridge,
                block_egress: n.block_egress,
                ingress: n.ingress.as_deref(),
            })
            .collect();
        self.0
            .ensure(project, &rules)
            .map_err(|e| port_error("installing rules", e))
    }

    fn ingress_allowed(
        &self,
        project: &str,
        network: &str,
    ) -> Result<Option<Vec<Ipv4Addr>>, FirewallError> {
        self.0
            .ingress_allowed(project, network)
            .map_err(|e| port_error("listing ingress rules", e))
    }

    fn blocked(&self, project: &str) -> Result<Vec<String>, FirewallError> {
        let rules = self
            .0
            .list(project)
            .map_err(|e| port_error("listing rules", e))?;
        let mut nets: Vec<String> = rules
            .into_iter()
            .filter(|r| matches!(r.kind, RuleKind::ForwardedEgress | RuleKind::HostAccess))
            .map(|r| r.network)
            .collect();
        nets.sort();
        nets.dedup();
        Ok(nets)
    }

    fn unblock(&self, project: &str, network: &str) -> Result<(), FirewallError> {
        self.0
            .remove(project, network)
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
