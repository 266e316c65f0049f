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

/// The rules installed for one network of a project, bound to one bridge interface. They
/// protect the network only while that is its bridge: a network removed and created again
/// under the same name has a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstalledRules {
    pub network: String,
    /// The bridge interface the rules match.
    pub bridge: String,
    /// New connections routed out of the bridge are dropped (`DOCKER-USER`).
    pub egress_drop: bool,
    /// New connections from the bridge to the host itself are dropped (`INPUT`).
    pub host_drop: bool,
    /// The ingress allow set (sorted; empty: nothing may connect), if the network's ingress
    /// is restricted on this bridge.
    pub ingress: Option<Vec<Ipv4Addr>>,
    /// Addresses refused with a TCP reset on this bridge (see [`NetworkRules::refused`]),
    /// sorted.
    pub refused: Vec<Ipv4Addr>,
}

/// Rules are owned by a project and a network, and bound to the network's bridge, so they can
/// be listed and removed with them.
pub trait Firewall: Send + Sync {
    /// Bring the rules of several networks of `project` to `networks`, all in one transaction
    /// (every change at once, or none); a network's rules of those kinds on another bridge are
    /// replaced. Idempotent.
    fn ensure(&self, project: &str, networks: &[NetworkRules]) -> Result<(), FirewallError>;
    /// What is installed for the project, from one look at the rules: one entry per network
    /// and bridge, sorted by both.
    fn installed(&self, project: &str) -> Result<Vec<InstalledRules>, FirewallError>;
    /// Remove the rules of each network of `networks`, and of each `(network, bridge)` of
    /// `bridges` those bound to that bridge (one it no longer has; its rules on any other
    /// bridge stay), all in one transaction. Idempotent.
    fn unblock(
        &self,
        project: &str,
        networks: &[String],
        bridges: &[(String, String)],
    ) -> Result<(), FirewallError>;
    /// Remove every rule of the project.
    fn unblock_project(&self, project: &str) -> Result<(), FirewallError>;
}
