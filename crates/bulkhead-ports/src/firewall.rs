//! The host firewall port: dropping new outbound connections from a network (a published
//! service's way in must not be its way out), and one-way ingress inside a network.

use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
#[error("host firewall: {operation} failed: {reason}")]
pub struct FirewallError {
    pub operation: String,
    pub reason: String,
}

/// Rules are owned by a project and a network, so they can be listed and removed with them.
pub trait Firewall: Send + Sync {
    /// Drop new connections from containers on `network` (bridge `bridge`) to anywhere but the
    /// network itself. Idempotent.
    fn block_egress(&self, project: &str, network: &str, bridge: &str)
    -> Result<(), FirewallError>;
    /// On `network`, allow new connections between its members only to `allowed` (the owning
    /// service's addresses); drop every other new connection inside it. Replaces the previous
    /// set without a gap. Idempotent.
    fn restrict_ingress(
        &self,
        project: &str,
        network: &str,
        bridge: &str,
        allowed: &[Ipv4Addr],
    ) -> Result<(), FirewallError>;
    /// The allow set installed on `network`, or `None` when it is not restricted.
    fn ingress_allowed(
        &self,
        project: &str,
        network: &str,
    ) -> Result<Option<Vec<Ipv4Addr>>, FirewallError>;
    /// Networks of the project whose egress is blocked.
    fn blocked(&self, project: &str) -> Result<Vec<String>, FirewallError>;
    /// Remove the rules of one network.
    fn unblock(&self, project: &str, network: &str) -> Result<(), FirewallError>;
    /// Remove every rule of the project.
    fn unblock_project(&self, project: &str) -> Result<(), FirewallError>;
}
