//! Security groups: who may open connections to each service (from `allow_from`, or derived
//! from `depends_on`), each service's egress, and the Docker network topology that enforces it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::names::ServiceName;
use crate::spec::Project;
use crate::spec::extension::Egress;

/// Who may call one service, and whether it may reach the internet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecurityGroup {
    pub service: String,
    pub allow_from: Vec<String>,
    /// True when `allow_from` was derived from `depends_on` rather than written.
    pub derived: bool,
    pub egress: Egress,
    /// Published on the host (some port has a host binding).
    pub published: bool,
}

/// Why a network exists. (`<service>` in a network's name is in lower case:
/// [`ServiceName::engine_part`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkRole {
    /// `<project>-<service>-in`: the service and the services allowed to call it. Internal, and
    /// new connections from it to the host are dropped by a host firewall rule.
    Ingress,
    /// `<project>-<service>-out`: a route to the internet for a service with `egress: internet`.
    Egress,
    /// `<project>-<service>-pub`: how published ports reach the service. Not internal (Docker
    /// cannot publish from internal networks), so new outbound connections from it are dropped
    /// by a host firewall rule unless the service has `egress: internet`.
    Publish,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    pub name: String,
    pub role: NetworkRole,
    /// The service the network belongs to.
    pub owner: String,
    /// Docker's `--internal`: no route out.
    pub internal: bool,
    /// Services attached, owner included.
    pub members: Vec<String>,
    /// New outbound connections (to the host, or routed anywhere) are dropped by a host firewall
    /// rule: every network but an `egress: internet` one.
    pub drop_outbound: bool,
}

/// The whole topology for a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub groups: Vec<SecurityGroup>,
    pub networks: Vec<NetworkPlan>,
    /// Networks each service joins, by service.
    pub attachments: BTreeMap<String, Vec<String>>,
    /// Paths the topology cannot close, said plainly.
    pub caveats: Vec<String>,
}

impl Topology {
    /// The networks `service` joins (none when it joins no security-group network).
    pub fn attachments_of(&self, service: &str) -> &[String] {
        self.attachments.get(service).map_or(&[], Vec::as_slice)
    }
}

/// The services allowed to call `name`: its `allow_from`, or its dependants.
pub fn allowed_callers(project: &Project, name: &str) -> (Vec<String>, bool) {
    let Some(service) = project.services.get(name) else {
        return (Vec::new(), false);
    };
    match &service.bulkhead.allow_from {
        Some(list) => {
            let set: BTreeSet<String> = list
                .iter()
                .map(|a| a.value.clone())
                .filter(|c| c != name)
                .collect();
            (set.into_iter().collect(), false)
        }
        None => {
            let set: BTreeSet<String> = project
                .services
                .values()
                .filter(|s| s.name != name && s.depends_on.contains_key(name))
                .map(|s| s.name.clone())
                .collect();
            (set.into_iter().collect(), true)
        }
    }
}

/// Compute the security groups and the networks that enforce them. Services that do not use
/// the security-group networks (`network_mode: none`, a waived host network) join nothing.
pub fn topology(project: &Project, on_networks: &BTreeSet<String>) -> Topology {
    let p = &project.name;
    let mut groups = Vec::new();
    let mut networks = Vec::new();
    let mut attachments: BTreeMap<String, Vec<String>> = on_networks
        .iter()
        .map(|s| (s.clone(), Vec::new()))
        .collect();
    for (name, service) in &project.services {
        let (callers, derived) = allowed_callers(project, name);
        let callers: Vec<String> = callers
            .into_iter()
            .filter(|c| on_networks.contains(c))
            .collect();
        let published = !service.ports.is_empty();
        let egress = service.bulkhead.egress;
        groups.push(SecurityGroup {
            service: name.clone(),
            allow_from: callers.clone(),
            derived,
            egress,
            published,
        });
        if !on_networks.contains(name) {
            continue;
        }
        if !callers.is_empty() {
            let net = format!("{p}-{}-in", ServiceName::engine_part(name));
            let mut members = vec![name.clone()];
            members.extend(callers.iter().cloned());
            for m in &members {
                attachments.entry(m.clone()).or_default().push(net.clone());
            }
            networks.push(NetworkPlan {
                name: net,
                role: NetworkRole::Ingress,
                owner: name.clone(),
                internal: true,
                members,
                // Internal networks have no route out, but their containers can still reach
                // the host itself through the bridge (docs/docker-20.10-facts.md, c).
                drop_outbound: true,
            });
        }
        if egress == Egress::Internet {
            let net = format!("{p}-{}-out", ServiceName::engine_part(name));
            attachments
                .entry(name.clone())
                .or_default()
                .push(net.clone());
            networks.push(NetworkPlan {
                name: net,
                role: NetworkRole::Egress,
                owner: name.clone(),
                internal: false,
                members: vec![name.clone()],
                drop_outbound: false,
            });
        }
        if published && egress == Egress::None {
            let net = format!("{p}-{}-pub", ServiceName::engine_part(name));
            attachments
                .entry(name.clone())
                .or_default()
                .push(net.clone());
            networks.push(NetworkPlan {
                name: net,
                role: NetworkRole::Publish,
                owner: name.clone(),
                internal: false,
                members: vec![name.clone()],
                drop_outbound: true,
            });
        }
    }
    // Non-internal networks first: the engine publishes ports only through the network a
    // container is created on, and never from an internal one (docs/docker-20.10-facts.md).
    let internal: BTreeSet<&str> = networks
        .iter()
        .filter(|n| n.internal)
        .map(|n| n.name.as_str())
        .collect();
    for nets in attachments.values_mut() {
        nets.sort_by_key(|n| (internal.contains(n.as_str()), n.clone()));
    }
    let caveats = caveats(project, &groups);
    Topology {
        groups,
        networks,
        attachments,
        caveats,
    }
}

fn caveats(project: &Project, groups: &[SecurityGroup]) -> Vec<String> {
    let mut out = vec![
        "processes on the Docker host itself can reach every container address, on internal networks too; host access is not a security-group path".to_string(),
        "the host firewall rules live in Docker's DOCKER-USER chain, which Docker 20.10 unhooks for a few milliseconds whenever any network is created on the host; a new connection opened in that window is not dropped".to_string(),
    ];
    for g in groups.iter().filter(|g| g.published) {
        out.push(format!(
            "`{}` is published: its published ports accept connections from whoever can reach the bound host address, whatever its allow_from",
            g.service
        ));
    }
    if !project.networks.is_empty() {
        let names: Vec<&str> = project.networks.keys().map(String::as_str).collect();
        out.push(format!(
            "the spec's own networks ({}) are not created: Bulkhead derives every network from the security groups",
            names.join(", ")
        ));
    }
    out
}
