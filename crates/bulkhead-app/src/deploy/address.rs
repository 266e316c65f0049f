//! Fixed addresses for replicas on networks whose subnet is pinned: a replica's address is
//! known before it starts, so the ingress allow sets can hold it before any caller can
//! resolve its name. One allocation at a time per Deployer (concurrent rollouts never pick
//! the same address); never the network, gateway or broadcast address, nor one a container of
//! the project has or is configured with; searched after the last one given (in a new process:
//! after the highest one in use), so an address just freed (a retired replica's, maybe still
//! cached by a caller) is not given again soon.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use bulkhead_ports::runtime::{LABEL_SUBNET, SUBNET_PINNED};
use bulkhead_ports::{ContainerRuntime, Firewall, LabelFilter, NetworkInfo, Store};

use super::{DeployError, Deployer};

/// The allocator's state (one per Deployer).
#[derive(Debug, Default)]
pub struct Addresses {
    /// Serializes allocations, across the engine look-up they depend on.
    turn: tokio::sync::Mutex<()>,
    pool: Mutex<Pool>,
}

#[derive(Debug, Default)]
struct Pool {
    /// Given out for a replica not yet started (the engine does not know them yet).
    held: BTreeSet<(String, Ipv4Addr)>,
    /// The last address given out on each network.
    last: BTreeMap<String, Ipv4Addr>,
}

/// Addresses given to one replica, by network; given back to the pool when dropped (by then
/// the replica runs and the engine knows them, or it is gone).
pub struct Held<'a> {
    pool: &'a Addresses,
    pub by_network: BTreeMap<String, Ipv4Addr>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut pool = self.pool.pool.lock().unwrap_or_else(|e| e.into_inner());
        for (net, ip) in &self.by_network {
            pool.held.remove(&(net.clone(), *ip));
        }
    }
}

/// A pinned network's IPv4 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    base: u32,
    prefix: u8,
}

impl Subnet {
    /// The subnet of a network created with a pinned subnet (its label says so); `None` for
    /// any other network (created before pinning existed, or not by Bulkhead): its replicas
    /// get their addresses from the engine at start, as before.
    pub fn of(info: &NetworkInfo) -> Option<Subnet> {
        if info.labels.get(LABEL_SUBNET).map(String::as_str) != Some(SUBNET_PINNED) {
            return None;
        }
        info.subnets.iter().find_map(|s| Subnet::parse(s))
    }

    /// `a.b.c.d/n` with 8 ≤ n ≤ 30.
    pub fn parse(cidr: &str) -> Option<Subnet> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (8..=30).contains(p))?;
        let mask = u32::MAX << (32 - prefix);
        Some(Subnet {
            base: u32::from(addr) & mask,
            prefix,
        })
    }

    /// Host addresses a replica may get: the first one (the engine's default gateway) and
    /// the broadcast address are left out, as is the network address.
    fn range(&self) -> (u32, u32) {
        let size = 1u32 << (32 - self.prefix);
        (self.base + 2, self.base + size - 2)
    }
}

/// The first address of `subnet` after `after` (wrapping around) that is not `taken`.
pub fn pick(
    subnet: Subnet,
    taken: &BTreeSet<Ipv4Addr>,
    after: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let (first, last) = subnet.range();
    let start = after
        .map(u32::from)
        .filter(|&a| (first..=last).contains(&a))
        .map_or(first, |a| if a == last { first } else { a + 1 });
    (start..=last)
        .chain(first..start)
        .map(Ipv4Addr::from)
        .find(|ip| !taken.contains(ip))
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// A fixed address on each of `networks` whose subnet is pinned (none on the others).
    pub(super) async fn hold_addresses(
        &self,
        project: &str,
        networks: &[String],
    ) -> Result<Held<'_>, DeployError> {
        let mut held = Held {
            pool: &self.addresses,
            by_network: BTreeMap::new(),
        };
        if networks.is_empty() {
            return Ok(held);
        }
        let filter = LabelFilter::project(project);
        let _turn = self.addresses.turn.lock().await;
        let nets = self.runtime.list_networks(&filter).await?;
        let pinned: Vec<(&String, Subnet, Vec<Ipv4Addr>)> = networks
            .iter()
            .filter_map(|n| {
                let info = nets.iter().find(|i| &i.name == n)?;
                let gateways = info
                    .gateways
                    .iter()
                    .filter_map(|g| g.parse().ok())
                    .collect();
                Some((n, Subnet::of(info)?, gateways))
            })
            .collect();
        if pinned.is_empty() {
            return Ok(held);
        }
        let containers = self.runtime.list_containers(&filter).await?;
        let mut pool = self
            .addresses
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (net, subnet, gateways) in pinned {
            let mut taken: BTreeSet<Ipv4Addr> = containers
                .iter()
                .flat_map(|c| [c.addresses.get(net), c.fixed_addresses.get(net)])
                .flatten()
                .filter_map(|a| a.parse().ok())
                .chain(gateways)
                .collect();
            taken.extend(
                pool.held
                    .iter()
                    .filter(|(n, _)| n == net)
                    .map(|(_, ip)| *ip),
            );
            let after = pool.last.get(net).copied().or_else(|| {
                let (first, _) = subnet.range();
                taken
                    .iter()
                    .rev()
                    .find(|ip| u32::from(**ip) >= first)
                    .copied()
            });
            let ip = pick(subnet, &taken, after).ok_or_else(|| DeployError::NotReady {
                what: "network".into(),
                name: net.clone(),
                reason: "no free address is left in its subnet".into(),
            })?;
            pool.held.insert((net.clone(), ip));
            pool.last.insert(net.clone(), ip);
            held.by_network.insert(net.clone(), ip);
        }
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("address")
    }

    #[test]
    fn subnets_parse() {
        let s = Subnet::parse("172.18.0.0/16").expect("parses");
        assert_eq!(
            s.range(),
            (u32::from(ip("172.18.0.2")), u32::from(ip("172.18.255.254")))
        );
        assert_eq!(
            Subnet::parse("172.18.3.7/24"),
            Subnet::parse("172.18.3.0/24")
        );
        for bad in [
            "172.18.0.0",
            "x/16",
            "172.18.0.0/31",
            "10.0.0.0/4",
            "fd00::/64",
        ] {
            assert_eq!(Subnet::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn picks_after_the_last_one_skipping_taken_gateway_and_edges() {
        let s = Subnet::parse("10.9.0.0/29").expect("parses"); // hosts .1 – .6
        let none = BTreeSet::new();
        assert_eq!(
            pick(s, &none, None),
            Some(ip("10.9.0.2")),
            ".1 is the gateway"
        );
        assert_eq!(pick(s, &none, Some(ip("10.9.0.2"))), Some(ip("10.9.0.3")));
        let taken: BTreeSet<Ipv4Addr> = [ip("10.9.0.3"), ip("10.9.0.4")].into();
        assert_eq!(pick(s, &taken, Some(ip("10.9.0.2"))), Some(ip("10.9.0.5")));
        assert_eq!(
            pick(s, &none, Some(ip("10.9.0.6"))),
            Some(ip("10.9.0.2")),
            "wraps around, never the broadcast .7"
        );
        let full: BTreeSet<Ipv4Addr> = (2..=6).map(|i| Ipv4Addr::new(10, 9, 0, i)).collect();
        assert_eq!(pick(s, &full, None), None);
        assert_eq!(
            pick(s, &none, Some(ip("192.168.0.1"))),
            Some(ip("10.9.0.2")),
            "a cursor outside the subnet starts at the beginning"
        );
    }

    #[test]
    fn only_labelled_networks_are_pinned() {
        let mut info = NetworkInfo {
            id: "n".into(),
            name: "p-api-in".into(),
            internal: true,
            bridge: None,
            subnets: vec!["172.18.0.0/16".into()],
            gateways: vec![],
            labels: BTreeMap::new(),
        };
        assert_eq!(
            Subnet::of(&info),
            None,
            "created before pinning: the engine decides"
        );
        info.labels
            .insert(LABEL_SUBNET.to_string(), SUBNET_PINNED.to_string());
        assert_eq!(Subnet::of(&info), Subnet::parse("172.18.0.0/16"));
    }
}
