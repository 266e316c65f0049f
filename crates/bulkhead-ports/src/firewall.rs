//! The host firewall port: dropping new outbound connections from a network (a published
//! service's way in must not be its way out), and one-way ingress inside a network.

use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
#[error("host firewall: {operation} failed: {reason}")]
pub struct FirewallError {
    pub operation: String,
    pub reason: String,
}

/// What one network of a project should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    pub network: String,
    /// The network's bridge interface.
    pub bridge: String,
    /// Drop new connections from containers on the network to anywhere but the network
    /// itself (the host included).
    pub block_egress: bool,
    /// Allow new connections between members only to these addresses (the owning service's);
    /// drop every other new connection inside the network. `None` leaves them as they are.
    pub ingress: Option<Vec<Ipv4Addr>>,
    /// With `ingress`: answer new TCP connections to these addresses (replicas being retired)
    /// with a reset, so a caller that tries every address goes on to the next one at once.
    /// Never wider than drop: an address also in `ingress` is allowed.
    pub refused: Vec<Ipv4Addr>,
}

/// The rules installed for a project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Networks whose egress is blocked, sorted.
    pub blocked: Vec<String>,
    /// Networks with an ingress restriction, each with its allow set (sorted; empty: nothing
    /// may connect).
    pub ingress: std::collections::BTreeMap<String, Vec<Ipv4Addr>>,
    /// Networks with refused addresses (see [`NetworkRules::refused`]), each sorted.
    pub refused: std::collections::BTreeMap<String, Vec<Ipv4Addr>>,
}

/// Rules are owned by a project and a network, so they can be listed and removed with them.
pub trait Firewall: Send + Sync {
    /// Bring the rules of several networks of `project` to `networks`, all in one transaction
    /// (every change at once, or none). Idempotent.
    fn ensure(&self, project: &str, networks: &[NetworkRules]) -> Result<(), FirewallError>;
    /// What is installed for the project, from one look at the rules.
    fn installed(&self, project: &str) -> Result<Installed, FirewallError>;
    /// Remove the rules of one network.
    fn unblock(&self, project: &str, network: &str) -> Result<(), FirewallError>;
    /// Remove every rule of the project.
    fn unblock_project(&self, project: &str) -> Result<(), FirewallError>;
}
