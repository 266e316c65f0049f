//! Networks: create (bridge, internal flag, labels; a duplicate name is refused on every API
//! version; the subnet pinned on request), list by labels with bridge interface, subnets and
//! gateways, remove.

use std::collections::HashMap;

use bollard::models::{
    Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkCreateResponse, NetworkInspect,
};
use bollard::query_parameters::ListNetworksOptions;
use bollard::{BollardRequest, body_full};
use bulkhead_ports::runtime::{LABEL_SUBNET, SUBNET_PINNED, SUBNET_PROBE};
use bulkhead_ports::{LabelFilter, NetworkInfo, NetworkSpec, RuntimeError};
use bytes::Bytes;

use crate::error::status;
use crate::{DockerRuntime, connect, label_filters};

/// The driver option naming the Linux bridge; without it Docker names it `br-<id[..12]>`.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
/// How often a pinned create starts over when another network took the subnet meanwhile.
const PIN_ATTEMPTS: u32 = 5;

impl DockerRuntime {
    pub(crate) async fn network_create(
        &self,
        spec: &NetworkSpec,
    ) -> Result<NetworkInfo, RuntimeError> {
        if spec.pin_subnet {
            return self.network_create_pinned(spec).await;
        }
        self.network_create_with(spec, None).await
    }

    /// The engine accepts a container's fixed address only on a network whose subnet was
    /// configured at create ("user specified IP address is supported only when connecting to
    /// networks with user configured subnets"), and cannot change a network afterwards. So:
    /// create it as usual (the engine picks a free subnet from its own pools), read what it
    /// picked, remove it, and create it again with that subnet and gateway. Another network
    /// created in between may take the subnet: then start over. The first one is labelled
    /// [`SUBNET_PROBE`]: one a killed process left under the name is removed and made again.
    async fn network_create_pinned(&self, spec: &NetworkSpec) -> Result<NetworkInfo, RuntimeError> {
        let mut probe_spec = spec.clone();
        probe_spec
            .labels
            .insert(LABEL_SUBNET.to_string(), SUBNET_PROBE.to_string());
        let mut attempt = 1;
        loop {
            let probe = match self.network_create_with(&probe_spec, None).await {
                Err(RuntimeError::Conflict { .. }) if attempt < PIN_ATTEMPTS => {
                    self.remove_left_probe(&spec.name).await?;
                    attempt += 1;
                    continue;
                }
                probe => probe?,
            };
            self.network_remove(&probe.id).await?;
            let config: Vec<IpamConfig> = probe
                .subnets
                .iter()
                .zip(
                    probe
                        .gateways
                        .iter()
                        .map(Some)
                        .chain(std::iter::repeat(None)),
                )
                .map(|(subnet, gateway)| IpamConfig {
                    subnet: Some(subnet.clone()),
                    gateway: gateway.cloned(),
                    ..Default::default()
                })
                .collect();
            match self.network_create_with(spec, Some(config)).await {
                Err(RuntimeError::Engine { reason, .. })
                    if attempt < PIN_ATTEMPTS && reason.contains("overlaps") =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The name is taken: by a probe network a killed process left, which is removed (a
    /// pinned create then goes on), or by anything else, which is a conflict as before.
    async fn remove_left_probe(&self, name: &str) -> Result<(), RuntimeError> {
        let conflict = || RuntimeError::Conflict {
            what: "network",
            name: name.to_string(),
        };
        let existing = match self.docker.inspect_network(name, None).await {
            Ok(existing) => existing,
            // Gone meanwhile: the next attempt may create it.
            Err(err) if status(&err) == Some(404) => return Ok(()),
            Err(_) => return Err(conflict()),
        };
        let labels = existing.labels.unwrap_or_default();
        if labels.get(LABEL_SUBNET).map(String::as_str) != Some(SUBNET_PROBE) {
            return Err(conflict());
        }
        self.network_remove(existing.id.as_deref().unwrap_or(name))
            .await
    }

    async fn network_create_with(
        &self,
        spec: &NetworkSpec,
        pinned: Option<Vec<IpamConfig>>,
    ) -> Result<NetworkInfo, RuntimeError> {
        let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        if pinned.is_some() {
            labels.insert(LABEL_SUBNET.to_string(), SUBNET_PINNED.to_string());
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".to_string()),
            internal: Some(spec.internal),
            labels: Some(labels),
            ipam: pinned.map(|config| Ipam {
                driver: Some("default".to_string()),
                config: Some(config),
                options: None,
            }),
            ..Default::default()
        };
        let created = match self.post_network_create(request).await {
            // The engine answers 404 when its address pools are used up ("could not find an
            // available, non-overlapping IPv4 address pool"): not a missing network.
            Err(err) if status(&err) == Some(404) => {
                let message = crate::error::message(&err).unwrap_or_default();
                return Err(RuntimeError::Engine {
                    operation: format!("create network {}", spec.name),
                    reason: with_pool_hint(message),
                });
            }
            created => {
                created.map_err(self.fail_naming("create network", "network", &spec.name))?
            }
        };
        // By id: a 404 here is the network just created gone again (removed by someone else,
        // `docker network prune` among them, as an unused network is), not one never made.
        let inspected = match self.docker.inspect_network(&created.id, None).await {
            Err(err) if status(&err) == Some(404) => {
                return Err(RuntimeError::Engine {
                    operation: format!("create network {}", spec.name),
                    reason: format!(
                        "it was removed right after it was created (by someone else: `docker network prune` removes networks no container uses yet): {}",
                        crate::error::message(&err).unwrap_or_default()
                    ),
                });
            }
            inspected => inspected.map_err(self.fail("inspect network", "network", &spec.name))?,
        };
        Ok(network_info(from_inspect(inspected)))
    }

    /// Before API 1.44 the engine creates a second network of the same name unless the request
    /// says `CheckDuplicate: true`, which bollard's request type (API 1.53) no longer has; so on
    /// those engines the body is sent with that field added.
    async fn post_network_create(
        &self,
        request: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, bollard::errors::Error> {
        if !self.api_below(1, 44) {
            return self.docker.create_network(request).await;
        }
        let mut body = serde_json::to_value(&request)?;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("CheckDuplicate".to_string(), true.into());
        }
        let body = Bytes::from(serde_json::to_vec(&body)?);
        // This modifier replaces the connection's, which pins the API version: do both.
        let prefix = connect::version_prefix(&self.docker);
        let docker = self.docker.clone().with_request_modifier(move |req| {
            replace_create_body(connect::pin_version(req, &prefix), &body)
        });
        docker.create_network(request).await
    }

    pub(crate) async fn network_list(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let options = ListNetworksOptions {
            filters: label_filters(filter),
        };
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(self.fail("list networks", "network", ""))?;
        let mut infos: Vec<NetworkInfo> = networks.into_iter().map(network_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// A missing network is already removed; one still in use is an engine error (403 on
    /// 20.10, 409 on newer engines).
    pub(crate) async fn network_remove(&self, name: &str) -> Result<(), RuntimeError> {
        match self.docker.remove_network(name).await {
            Err(err) if status(&err) == Some(404) => Ok(()),
            removed => removed.map_err(self.fail("remove network", "network", name)),
        }
    }
}

/// The engine's "address pools used up" answer, with the way out (in the `(hint: …)` form the
/// CLI prints as a hint line); any other message as it is.
fn with_pool_hint(message: &str) -> String {
    if message.contains("could not find an available, non-overlapping IPv4 address pool") {
        format!(
            "{message}: the engine's address pools are used up, one subnet per network (hint: remove networks no longer needed — `bulkhead down` of projects not in use, `docker network ls` for others —, or give the engine more or smaller pools with `default-address-pools` in /etc/docker/daemon.json)"
        )
    } else {
        message.to_string()
    }
}

/// Swap the body of the network-create request only (the modifier sees every request).
fn replace_create_body(req: BollardRequest, body: &Bytes) -> BollardRequest {
    if is_network_create(&req) {
        req.map(|_| body_full(body.clone()))
    } else {
        req
    }
}

fn is_network_create(req: &BollardRequest) -> bool {
    req.method().as_str() == "POST" && req.uri().path().ends_with("/networks/create")
}

/// The inspect answer carries the same fields as a list entry (plus containers, ignored here).
fn from_inspect(n: NetworkInspect) -> Network {
    Network {
        name: n.name,
        id: n.id,
        driver: n.driver,
        internal: n.internal,
        ipam: n.ipam,
        options: n.options,
        labels: n.labels,
        ..Default::default()
    }
}

pub(crate) fn network_info(network: Network) -> NetworkInfo {
    let id = network.id.unwrap_or_default();
    let configs = network
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default();
    let gateways = configs.iter().filter_map(|c| c.gateway.clone()).collect();
    let subnets = configs
        .into_iter()
        .filter_map(|config| config.subnet)
        .collect();
    NetworkInfo {
        bridge: bridge_name(network.driver.as_deref(), &id, network.options.as_ref()),
        name: network.name.unwrap_or_default(),
        internal: network.internal.unwrap_or(false),
        subnets,
        gateways,
        labels: network.labels.unwrap_or_default().into_iter().collect(),
        id,
    }
}

/// The Linux interface of a bridge network: the `bridge.name` option, else `br-` and the first
/// 12 characters of the id. Other drivers have none.
pub(crate) fn bridge_name(
    driver: Option<&str>,
    id: &str,
    options: Option<&HashMap<String, String>>,
) -> Option<String> {
    if driver != Some("bridge") {
        return None;
    }
    let named = options
        .and_then(|o| o.get(BRIDGE_NAME_OPTION))
        .filter(|n| !n.is_empty());
    match named {
        Some(name) => Some(name.clone()),
        None => id.get(..12).map(|short| format!("br-{short}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names() {
        let id = "0123456789abcdef0123";
        assert_eq!(
            bridge_name(Some("bridge"), id, None).as_deref(),
            Some("br-0123456789ab")
        );
        let options = HashMap::from([(BRIDGE_NAME_OPTION.to_string(), "docker0".to_string())]);
        assert_eq!(
            bridge_name(Some("bridge"), id, Some(&options)).as_deref(),
            Some("docker0")
        );
        assert_eq!(bridge_name(Some("host"), id, None), None);
        assert_eq!(bridge_name(Some("bridge"), "short", None), None);
    }

    fn request(method: &str, path: &str) -> BollardRequest {
        let mut req = BollardRequest::new(body_full(Bytes::from_static(b"{}")));
        *req.method_mut() = method.parse().expect("method parses");
        *req.uri_mut() = format!("http://localhost{path}")
            .parse()
            .expect("uri parses");
        req
    }

    #[test]
    fn used_up_address_pools_get_a_hint_other_messages_stay() {
        let used_up = "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network";
        let text = with_pool_hint(used_up);
        assert!(text.starts_with(used_up), "{text}");
        assert!(text.ends_with("/etc/docker/daemon.json)"), "{text}");
        assert!(text.contains(" (hint: "), "{text}");
        assert_eq!(with_pool_hint("network x not found"), "network x not found");
    }

    #[test]
    fn only_network_create_gets_the_replaced_body() {
        assert!(is_network_create(&request(
            "POST",
            "/v1.41/networks/create"
        )));
        assert!(!is_network_create(&request(
            "POST",
            "/v1.41/networks/x/connect"
        )));
        assert!(!is_network_create(&request(
            "GET",
            "/v1.41/networks/create"
        )));
    }
}
