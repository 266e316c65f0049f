//! The host firewall port over the iptables adapter.

use bulkhead_firewall::{Firewall as Iptables, RuleKind};

use bulkhead_ports::{Firewall, FirewallError, Installed, NetworkRules};

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
                refused: &n.refused,
            })
            .collect();
        self.0
            .ensure(project, &rules)
            .map_err(|e| port_error("installing rules", e))
    }

    fn installed(&self, project: &str) -> Result<Installed, FirewallError> {
        let rules = self
            .0
            .list(project)
            .map_err(|e| port_error("listing rules", e))?;
        let mut installed = Installed::default();
        for rule in rules {
            match rule.kind {
                RuleKind::ForwardedEgress | RuleKind::HostAccess => {
                    installed.blocked.push(rule.network)
                }
                RuleKind::IngressAllow { to } => {
                    installed.ingress.entry(rule.network).or_default().push(to)
                }
                RuleKind::IngressDefaultDrop => {
                    installed.ingress.entry(rule.network).or_default();
                }
                RuleKind::IngressRefuse { to } => {
                    installed.refused.entry(rule.network).or_default().push(to)
                }
                RuleKind::IngressKeep { .. } => {}
            }
        }
        installed.blocked.sort();
        installed.blocked.dedup();
        for set in installed
            .ingress
            .values_mut()
            .chain(installed.refused.values_mut())
        {
            set.sort();
            set.dedup();
        }
        Ok(installed)
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
