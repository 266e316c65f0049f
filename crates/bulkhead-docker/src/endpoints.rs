//! A container's endpoints after create: connecting it to a network (aliases, fixed address)
//! and disconnecting it, what inspect says about them, and the inbound TCP connections its own
//! network namespace still holds (read from `/proc/<pid>/net/tcp`, for draining).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use bollard::errors::Error as BollardError;
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
    NetworkSettings,
};
use bulkhead_ports::RuntimeError;

use crate::DockerRuntime;
use crate::error::status;

impl DockerRuntime {
    pub(crate) async fn network_connect(
        &self,
        id: &str,
        network: &str,
        aliases: &[String],
        address: Option<Ipv4Addr>,
    ) -> Result<(), RuntimeError> {
        let request = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(endpoint(aliases, address)),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| self.connect_error(id, network, e))
    }

    /// A 404 at connect is the network, or the container (`No such container: …`, removed
    /// meanwhile): the engine's message says which.
    pub(crate) fn connect_error(&self, id: &str, network: &str, err: BollardError) -> RuntimeError {
        if crate::error::message(&err).is_some_and(|m| m.contains("No such container")) {
            return self.fail("connect container to network", "container", id)(err);
        }
        self.fail("connect container to network", "network", network)(err)
    }

    /// Disconnecting a container that is not connected (or gone) is not an error.
    pub(crate) async fn network_disconnect(
        &self,
        id: &str,
        network: &str,
    ) -> Result<(), RuntimeError> {
        let request = NetworkDisconnectRequest {
            container: id.to_string(),
            force: Some(false),
        };
        match self.docker.disconnect_network(network, request).await {
            Err(err) if status(&err) == Some(404) => Ok(()),
            Err(err)
                if crate::error::message(&err).is_some_and(|m| m.contains("not connected")) =>
            {
                Ok(())
            }
            done => {
                done.map_err(self.fail("disconnect container from network", "network", network))
            }
        }
    }

    /// Only meaningful when the engine runs on this host (as the host firewall already
    /// requires): the container's init process is looked up by its pid in our `/proc`.
    pub(crate) async fn container_inbound(&self, id: &str) -> Result<Option<usize>, RuntimeError> {
        let inspected = match self.docker.inspect_container(id, None).await {
            Ok(i) => i,
            Err(err) if status(&err) == Some(404) => return Ok(None),
            Err(err) => return Err(self.fail("inspect container", "container", id)(err)),
        };
        let Some(pid) = inspected.state.and_then(|s| s.pid).filter(|&p| p > 0) else {
            return Ok(None);
        };
        let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).ok();
        let Some(v4) = read("tcp") else {
            return Ok(None);
        };
        let v6 = read("tcp6").unwrap_or_default();
        Ok(Some(inbound(&v4, &v6)))
    }
}

/// An endpoint carrying `aliases` and, when given, a fixed IPv4 address.
pub(crate) fn endpoint(aliases: &[String], address: Option<Ipv4Addr>) -> EndpointSettings {
    EndpointSettings {
        aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
        ipam_config: address.map(|a| EndpointIpamConfig {
            ipv4_address: Some(a.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The fixed address configured on each network (inspect's `IPAMConfig.IPv4Address`).
pub(crate) fn fixed_addresses(network: &NetworkSettings) -> BTreeMap<String, String> {
    let Some(networks) = &network.networks else {
        return BTreeMap::new();
    };
    networks
        .iter()
        .filter_map(|(name, endpoint)| {
            let ip = endpoint.ipam_config.as_ref()?.ipv4_address.as_deref()?;
            (!ip.is_empty()).then(|| (name.clone(), ip.to_string()))
        })
        .collect()
}

/// The aliases of each endpoint (the engine adds the short container id on a user network).
pub(crate) fn aliases(network: &NetworkSettings) -> BTreeMap<String, Vec<String>> {
    let Some(networks) = &network.networks else {
        return BTreeMap::new();
    };
    networks
        .iter()
        .map(|(name, endpoint)| (name.clone(), endpoint.aliases.clone().unwrap_or_default()))
        .collect()
}

/// TCP states of `/proc/net/tcp` (include/net/tcp_states.h).
const ESTABLISHED: u8 = 0x01;
const SYN_RECV: u8 = 0x03;
const FIN_WAIT1: u8 = 0x04;
const CLOSE_WAIT: u8 = 0x08;
const LAST_ACK: u8 = 0x09;
const LISTEN: u8 = 0x0A;
const CLOSING: u8 = 0x0B;

/// Connections accepted (or queued to be) on a listening port, from a peer that is not the
/// container itself (health probes run by `exec` connect over loopback), that are still open
/// or whose last bytes the peer has not acknowledged yet (closed by the server, the answer
/// still in flight: stopping the container now would lose it).
fn inbound(v4: &str, v6: &str) -> usize {
    let rows: Vec<Row> = v4
        .lines()
        .chain(v6.lines())
        .filter_map(Row::parse)
        .collect();
    let listening: BTreeSet<u16> = rows
        .iter()
        .filter(|r| r.state == LISTEN)
        .map(|r| r.local_port)
        .collect();
    rows.iter()
        .filter(|r| {
            matches!(
                r.state,
                ESTABLISHED | SYN_RECV | FIN_WAIT1 | CLOSE_WAIT | LAST_ACK | CLOSING
            )
        })
        .filter(|r| listening.contains(&r.local_port) && !r.remote_loopback)
        .count()
}

struct Row {
    local_port: u16,
    remote_loopback: bool,
    state: u8,
}

impl Row {
    /// `sl local_address rem_address st ...`, addresses as `HEX:PORT` (IPv4 in host byte
    /// order, IPv6 as four such words); the header line does not parse.
    fn parse(line: &str) -> Option<Row> {
        let mut words = line.split_whitespace();
        let _slot = words.next()?;
        let (_, local_port) = words.next()?.split_once(':')?;
        let (remote, _) = words.next()?.split_once(':')?;
        let state = u8::from_str_radix(words.next()?, 16).ok()?;
        Some(Row {
            local_port: u16::from_str_radix(local_port, 16).ok()?,
            remote_loopback: is_loopback(remote),
            state,
        })
    }
}

/// `0100007F` (127.0.0.1), or `::1`, or `::ffff:127.x.x.x` as `/proc` writes them.
fn is_loopback(hex: &str) -> bool {
    match hex.len() {
        8 => u32::from_str_radix(hex, 16).is_ok_and(|v| v.to_le_bytes()[0] == 127),
        32 => {
            hex == "00000000000000000000000001000000"
                || (hex.starts_with("0000000000000000FFFF0000") && hex[24..26] == *"7F")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 31114 1 0 100 0 0 10 0
   1: 0B00007F:B6D1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31017 1 0 100 0 0 10 0
   2: 0100007F:1F91 0100007F:B664 01 00000000:00000000 03:00000CB6 00000000     0        0 0 3 0
   3: 0C0012AC:1F91 0B0012AC:A6DC 01 00000000:00000000 00:00000000 00000000 10001        0 1 1 0
   4: 0C0012AC:1F91 0B0012AC:A6DE 08 00000000:00000000 00:00000000 00000000 10001        0 1 1 0
   5: 0C0012AC:1F91 0B0012AC:A6E0 06 00000000:00000000 00:00000000 00000000 10001        0 1 1 0
   6: 0C0012AC:C350 0B0013AC:1F92 01 00000000:00000000 00:00000000 00000000 10001        0 1 1 0
   7: 0C0012AC:1F91 0B0012AC:A6E2 04 00000100:00000000 01:00000014 00000000 10001        0 0 3 0
   8: 0C0012AC:1F91 0B0012AC:A6E4 05 00000000:00000000 00:00000000 00000000 10001        0 0 3 0
";

    #[test]
    fn counts_open_inbound_connections_to_listening_ports_only() {
        // Row 2: a health probe over loopback; 5: TIME_WAIT; 6: an outbound call (its local
        // port does not listen); 8: FIN_WAIT2 (everything it sent was acknowledged). Rows 3
        // (established), 4 (close-wait) and 7 (closed, answer not yet acknowledged) count.
        assert_eq!(inbound(V4, ""), 3);
        assert_eq!(inbound("", ""), 0);
        assert_eq!(inbound("garbage\n1: x", ""), 0);
    }

    #[test]
    fn loopback_peers_in_both_families() {
        assert!(is_loopback("0100007F"));
        assert!(is_loopback("0200007F"));
        assert!(!is_loopback("0B0012AC"));
        assert!(is_loopback("00000000000000000000000001000000"));
        assert!(is_loopback("0000000000000000FFFF00007F000001"));
        assert!(!is_loopback("0000000000000000FFFF0000AC12000B"));
    }

    #[test]
    fn endpoints_carry_a_fixed_address_only_when_given() {
        let e = endpoint(&["api".into()], Some(Ipv4Addr::new(172, 18, 0, 9)));
        assert_eq!(e.aliases, Some(vec!["api".to_string()]));
        assert_eq!(
            e.ipam_config.and_then(|c| c.ipv4_address).as_deref(),
            Some("172.18.0.9")
        );
        let e = endpoint(&[], None);
        assert_eq!((e.aliases, e.ipam_config), (None, None));
    }
}
