//! Handing a service over from a replica to its replacement without failing a caller. The
//! new replica's address is allowed before it starts, and on a network with a pinned subnet it
//! starts *dark* there (without its aliases: Docker's DNS would give out its address before
//! its interface is even up) and is lit (connected again, same address, with them) once
//! ready; then the old one leaves name resolution (on a network with a pinned subnet: disconnected and connected again at the
//! same address without its aliases, so its established connections survive), the services
//! that declared `depends_on: {svc: {restart: true}}` are replaced (they resolve again), new
//! TCP connections to the old one are answered with a reset (callers that try every resolved
//! address go on to the next at once), it drains (until it holds no inbound connection, at
//! most its stop grace period), and only then stops.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_ports::runtime::{LABEL_REPLICA, LABEL_SERVICE};
use bulkhead_ports::{ContainerRuntime, ContainerSpec, Firewall, NetworkRules, Store};

use super::container::{LABEL_SPEC, container_name};
use super::runner::RunData;
use super::{DeployError, Deployer};

/// How often a draining replica's connections are counted.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// How long a replica that left name resolution keeps serving new connections before they are
/// refused (at most its stop grace period): Docker's DNS may still hand out its address for a
/// moment (about 0.35 s measured), and a caller's SYN lost while the replica was disconnected
/// and connected again is sent again a second later (the kernel's initial retransmission
/// timeout) — to an address that must still answer.
const NAME_GRACE: Duration = Duration::from_millis(1500);

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// Before a new replica of `service` starts: the allow sets of its ingress networks hold
    /// the address it will have (with its running replicas'). Networks where it has no fixed
    /// address are left to `sync_ingress` after start, as before.
    pub(super) async fn allow_ahead(
        &self,
        project: &str,
        service: &str,
        owned: &[String],
        fixed: &std::collections::BTreeMap<String, Ipv4Addr>,
    ) -> Result<(), DeployError> {
        if !owned.iter().any(|n| fixed.contains_key(n)) {
            return Ok(());
        }
        let containers = self.containers_of(project, service).await?;
        let mut rules = Vec::new();
        for net in owned.iter().filter(|n| fixed.contains_key(*n)) {
            let Some(bridge) = self.bridge(project, net).await? else {
                continue;
            };
            let mut allowed: Vec<Ipv4Addr> = containers
                .iter()
                .filter_map(|c| c.addresses.get(net)?.parse().ok())
                .collect();
            allowed.extend(fixed.get(net));
            rules.push(NetworkRules {
                network: net.clone(),
                bridge,
                block_egress: false,
                ingress: Some(allowed),
                refused: Vec::new(),
            });
        }
        self.ensure_rules(project, rules).await
    }

    /// Take the aliases off the service's ingress networks where the replica gets a fixed
    /// address (it starts dark there); what was taken, for [`Deployer::light`].
    pub(super) fn darken(
        cspec: &mut ContainerSpec,
        owned: &[String],
    ) -> Vec<(String, Vec<String>)> {
        let mut taken = Vec::new();
        for (net, aliases) in &mut cspec.networks {
            if owned.contains(net) && cspec.fixed_addresses.contains_key(net) {
                taken.push((net.clone(), std::mem::take(aliases)));
            }
        }
        taken
    }

    /// Give a dark replica its aliases: connected again at the same address with them.
    pub(super) async fn light(
        &self,
        id: &str,
        dark: &[(String, Vec<String>)],
        fixed: &std::collections::BTreeMap<String, Ipv4Addr>,
    ) -> Result<(), DeployError> {
        for (net, aliases) in dark {
            self.runtime.disconnect_network(id, net).await?;
            self.runtime
                .connect_network(id, net, aliases, fixed.get(net).copied())
                .await?;
        }
        Ok(())
    }

    /// Light the replicas a killed run left dark: running, of the active release, under their
    /// own name, on an ingress network of their service with a fixed address but without the
    /// aliases the template gives them there. The list answer picks the candidates; where it
    /// does not carry their aliases (Docker 20.10), those candidates alone are inspected,
    /// concurrently — when `marked` (the store's mark: a run may have left one dark), else
    /// they are known lit.
    pub(super) async fn light_dark(
        &self,
        project: &str,
        ctx: &RunData,
        marked: bool,
    ) -> Result<(), DeployError> {
        if ctx.owned.values().all(Vec::is_empty) {
            return Ok(());
        }
        let all = match &ctx.listed {
            Some(listed) => listed.clone(),
            None => {
                self.runtime
                    .list_containers(&bulkhead_ports::LabelFilter::project(project))
                    .await?
            }
        };
        let mut candidates = Vec::new();
        for (service, owned) in &ctx.owned {
            let Some((rel, spec)) = ctx.releases.get(service) else {
                continue;
            };
            let mine = all
                .iter()
                .filter(|c| c.labels.get(LABEL_SERVICE) == Some(service));
            for c in mine {
                let replica = c.labels.get(LABEL_REPLICA).and_then(|r| r.parse().ok());
                let current = c.state == "running"
                    && c.labels.get(LABEL_SPEC) == Some(&rel.spec_hash)
                    && replica.is_some_and(|r| c.name == container_name(project, service, r));
                let named: Vec<(String, Vec<String>)> = spec
                    .template
                    .networks
                    .iter()
                    .filter(|(net, aliases)| {
                        owned.contains(net)
                            && c.fixed_addresses.contains_key(net)
                            && !aliases.is_empty()
                    })
                    .cloned()
                    .collect();
                if current && !named.is_empty() {
                    candidates.push((c.clone(), named));
                }
                // A run killed between the disconnect and the connect of a renaming left it
                // off the network altogether: connected again, with its names, and allowed.
                let off: Vec<&(String, Vec<String>)> = spec
                    .template
                    .networks
                    .iter()
                    .filter(|(net, _)| {
                        owned.contains(net)
                            && !c.addresses.contains_key(net)
                            && !c.fixed_addresses.contains_key(net)
                    })
                    .collect();
                if current && !off.is_empty() {
                    for (net, aliases) in off {
                        self.say(
                            &c.name,
                            format!("left off `{net}` by an earlier run: connected again"),
                        );
                        self.runtime
                            .connect_network(&c.id, net, aliases, None)
                            .await?;
                    }
                    self.sync_ingress(project, service, owned).await?;
                }
            }
        }
        let mut inspects = tokio::task::JoinSet::new();
        let mut known = Vec::new();
        for (c, named) in candidates {
            if named.iter().all(|(net, _)| c.aliases.contains_key(net)) {
                known.push((c, named));
                continue;
            }
            if !marked {
                continue;
            }
            let runtime = Arc::clone(&self.runtime);
            inspects.spawn(async move {
                let info = runtime.inspect_container(&c.id).await;
                (info, named)
            });
        }
        while let Some(done) = inspects.join_next().await {
            match done {
                Ok((Ok(info), named)) => known.push((info, named)),
                // Gone meanwhile: nothing to light.
                Ok((Err(bulkhead_ports::RuntimeError::NotFound { .. }), _)) => {}
                Ok((Err(e), _)) => return Err(e.into()),
                Err(e) => {
                    return Err(DeployError::NotReady {
                        what: "replica".into(),
                        name: project.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        known.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (c, named) in known {
            let dark: Vec<(String, Vec<String>)> = named
                .into_iter()
                .filter(|(net, aliases)| {
                    c.aliases
                        .get(net)
                        .is_some_and(|have| aliases.iter().any(|a| !have.contains(a)))
                })
                .collect();
            if dark.is_empty() || c.state != "running" {
                continue;
            }
            let fixed = c
                .fixed_addresses
                .iter()
                .filter_map(|(n, a)| Some((n.clone(), a.parse().ok()?)))
                .collect();
            self.say(
                &c.name,
                "left without its names by an earlier run: named again",
            );
            self.light(&c.id, &dark, &fixed).await?;
        }
        Ok(())
    }

    /// Once the replacement of `old` is ready: `old` leaves name resolution on each of the
    /// service's ingress networks where it has a fixed address, keeping that address (and so
    /// its connections). Elsewhere its names go only when it stops. A failure to move it is
    /// reported and the rollout goes on (it leaves name resolution when it stops). Then the
    /// dependants that asked for it are replaced; a failure there fails the rollout.
    pub(super) async fn hand_over(
        &self,
        project: &str,
        service: &str,
        old: &str,
        ctx: &RunData,
    ) -> Result<(), DeployError> {
        let owned: &[String] = ctx.owned.get(service).map_or(&[], Vec::as_slice);
        self.leave_names(old, owned).await;
        self.replace_dependants(project, service, ctx).await
    }

    /// A running replica leaves name resolution on each of `owned` where it has a fixed
    /// address, keeping that address (and so its connections). Best effort: a failure is
    /// reported and the replica leaves name resolution when it stops.
    pub(super) async fn leave_names(&self, old: &str, owned: &[String]) {
        let info = match self.runtime.inspect_container(old).await {
            Ok(info) if info.state == "running" => Some(info),
            _ => None,
        };
        for net in owned {
            let Some(ip) = info
                .as_ref()
                .and_then(|i| i.fixed_addresses.get(net)?.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let moved = async {
                self.runtime.disconnect_network(old, net).await?;
                self.runtime.connect_network(old, net, &[], Some(ip)).await
            };
            if let Err(e) = moved.await {
                self.say(
                    net,
                    format!("the old replica could not leave name resolution: {e}"),
                );
            }
        }
    }

    /// Replace, one at a time, the current replicas of every service that declared
    /// `restart: true` on `service` (callers that resolve a name once, at start), after a
    /// start-first hand-over or a stop-first replacement of it: start-first
    /// like any replacement, or stop-first for one that publishes a fixed host port.
    pub(super) async fn replace_dependants(
        &self,
        project: &str,
        service: &str,
        ctx: &RunData,
    ) -> Result<(), DeployError> {
        for (name, (rel, spec)) in &ctx.releases {
            if !spec.restart_after.iter().any(|s| s == service) {
                continue;
            }
            // The replicas of one batch hand over concurrently: one at a time replaces a
            // dependant's replicas (a lock per dependant; dependencies have no cycles, so a
            // dependant's own dependants take other locks).
            let lock = dependant_lock(&format!("{project}/{name}"));
            let _turn = lock.lock().await;
            let current: Vec<_> = self
                .containers_of(project, name)
                .await?
                .into_iter()
                .filter(|c| c.state == "running")
                .filter(|c| c.labels.get(LABEL_SPEC) == Some(&rel.spec_hash))
                .collect();
            for c in current {
                let Some(replica) = c.labels.get(LABEL_REPLICA).and_then(|r| r.parse().ok()) else {
                    continue;
                };
                self.say(
                    &c.name,
                    format!("replaced: `{service}` was, and it declared restart: true"),
                );
                let owned: &[String] = ctx.owned.get(name).map_or(&[], Vec::as_slice);
                let grace = spec.template.stop_grace_secs;
                let old = (c.id.clone(), c.name.clone());
                if fixed_host_port(&spec.template) {
                    self.stop_and_remove(&c.id, &c.name, grace).await?;
                    self.sync_ingress(project, name, owned).await?;
                    Box::pin(self.deploy_replica(project, rel, spec, replica, None, ctx)).await?;
                } else {
                    Box::pin(self.deploy_replica(project, rel, spec, replica, Some(&old), ctx))
                        .await?;
                    self.drain_and_stop(project, name, &c.id, &c.name, grace, owned)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Let the replica `id` (out of name resolution) serve new connections for [`NAME_GRACE`],
    /// then refuse them (a reset), let the ones it holds finish (until none is left, at most
    /// `grace_secs`), then stop and remove it and take its address out of the allow sets. A
    /// replica that is not running is just removed.
    pub(super) async fn drain_and_stop(
        &self,
        project: &str,
        service: &str,
        id: &str,
        name: &str,
        grace_secs: u64,
        owned: &[String],
    ) -> Result<(), DeployError> {
        let info = self.runtime.inspect_container(id).await.ok();
        let running = info.as_ref().is_some_and(|i| i.state == "running");
        // Out of name resolution (it has a fixed address on an ingress network, so it was
        // moved there without its aliases, see `leave_names`): a moment for late answers.
        let left_names = info
            .as_ref()
            .is_some_and(|i| owned.iter().any(|n| i.fixed_addresses.contains_key(n)));
        if running && !owned.is_empty() {
            let limit = Duration::from_secs(grace_secs);
            if left_names {
                tokio::time::sleep(NAME_GRACE.min(limit)).await;
            }
            self.refuse(project, service, id, owned).await?;
            let started = Instant::now();
            loop {
                match self.runtime.inbound_connections(id).await {
                    Ok(Some(n)) if n > 0 && started.elapsed() < limit => {}
                    Ok(Some(n)) if n > 0 => {
                        self.say(
                            name,
                            format!("{n} connection(s) still open after the grace"),
                        );
                        break;
                    }
                    _ => break,
                }
                tokio::time::sleep(DRAIN_POLL).await;
            }
            let ms = started.elapsed().as_millis();
            if ms >= 100 {
                self.say(name, format!("drained in {ms} ms"));
            }
        }
        self.stop_and_remove(id, name, grace_secs).await?;
        self.sync_ingress(project, service, owned).await
    }

    /// The allow sets of `service`'s ingress networks without replica `id`, whose addresses
    /// there answer new TCP connections with a reset.
    async fn refuse(
        &self,
        project: &str,
        service: &str,
        id: &str,
        owned: &[String],
    ) -> Result<(), DeployError> {
        let containers = self.containers_of(project, service).await?;
        let mut rules = Vec::new();
        for net in owned {
            let Some(bridge) = self.bridge(project, net).await? else {
                continue;
            };
            let (leaving, staying): (Vec<_>, Vec<_>) = containers.iter().partition(|c| c.id == id);
            let ips = |cs: Vec<&bulkhead_ports::ContainerInfo>| -> Vec<Ipv4Addr> {
                cs.iter()
                    .filter_map(|c| c.addresses.get(net)?.parse().ok())
                    .collect()
            };
            rules.push(NetworkRules {
                network: net.clone(),
                bridge,
                block_egress: false,
                ingress: Some(ips(staying)),
                refused: ips(leaving),
            });
        }
        self.ensure_rules(project, rules).await
    }

    /// One firewall transaction off the async workers.
    async fn ensure_rules(
        &self,
        project: &str,
        rules: Vec<NetworkRules>,
    ) -> Result<(), DeployError> {
        if rules.is_empty() {
            return Ok(());
        }
        let (fw, p) = (Arc::clone(&self.firewall), project.to_string());
        tokio::task::spawn_blocking(move || fw.ensure(&p, &rules))
            .await
            .map_err(|e| DeployError::NotReady {
                what: "firewall".into(),
                name: String::new(),
                reason: e.to_string(),
            })?
            .map_err(DeployError::from)
    }
}

/// True when a replica binds a host port of its own choosing (not an ephemeral one).
/// One replacement at a time of each dependant in this process (see `replace_dependants`).
static DEPENDANTS: std::sync::Mutex<
    std::collections::BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

fn dependant_lock(key: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    let mut locks = DEPENDANTS.lock().unwrap_or_else(|e| e.into_inner());
    std::sync::Arc::clone(locks.entry(key.to_string()).or_default())
}

fn fixed_host_port(t: &bulkhead_core::deploy::Template) -> bool {
    t.ports
        .iter()
        .any(|p| p.host_port.is_some_and(|port| port > 0))
}
