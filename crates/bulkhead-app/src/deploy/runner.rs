//! Running a plan: prepare ops, then each wave's rollouts concurrently (bounded), then cleanup.
//! Engine calls that fail for transient reasons are retried with backoff; a replica that does
//! not become ready is removed again and the one it was to replace keeps serving.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use bulkhead_core::deploy::{Op, Plan};
use bulkhead_core::spec::model::Condition;
use bulkhead_core::spec::rollout::RolloutConfig;
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_REPLICA, LABEL_SERVICE};
use bulkhead_ports::{
    ContainerRuntime, Firewall, HealthState, LabelFilter, NetworkRules, NetworkSpec, Release,
    RuntimeError, Store,
};

use super::container::{Identity, container_name, container_spec, owner_labels, replica_volumes};
use super::{DeployError, Deployer, StoredSpec};
use crate::project::files::check_bind_source;

/// The label naming a container's secret-file directory on the secrets tmpfs.
pub const LABEL_SECRETS: &str = "dev.bulkhead.secrets";
/// Rollouts running at once.
const PARALLELISM: usize = 8;
/// How long a job may run before `up` gives up on it.
const JOB_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How often readiness is probed.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Readiness probes (`exec`s) running at once in this process, whatever the number of
/// replicas awaited.
static PROBES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// What running a plan did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub created: Vec<String>,
    pub removed: Vec<String>,
    pub networks_created: Vec<String>,
    pub networks_removed: Vec<String>,
    /// Services left as they are: their active release carries waivers its activator may no
    /// longer grant (see `activation`).
    pub held: Vec<super::Held>,
}

/// What a run needs besides the plan: the active releases, and the ingress networks each
/// service owns (their allow sets follow the service's containers).
pub struct RunData {
    pub releases: BTreeMap<String, (Release, StoredSpec)>,
    pub owned: BTreeMap<String, Vec<String>>,
    /// Networks whose firewall rules are still being installed (set by `run`).
    pub gate: Option<watch::Receiver<Gate>>,
    /// The project's containers as the plan's observation listed them: what `run` looks at
    /// again before its waves when the plan changed nothing before them (else it lists anew).
    pub listed: Option<Vec<bulkhead_ports::ContainerInfo>>,
    /// How each service's replicas are replaced in this run (`update_config`, or a
    /// rollback's `rollback_config`); Bulkhead's own way for a service not named.
    pub configs: BTreeMap<String, RolloutConfig>,
}

impl RunData {
    pub(super) fn config(&self, service: &str) -> RolloutConfig {
        self.configs.get(service).cloned().unwrap_or_default()
    }
}

pub(super) type Releases = Arc<RunData>;

/// Progress of the firewall work running beside the rollouts: a container starts only once
/// every network it joins has its rules.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    pub pending: std::collections::BTreeSet<String>,
    pub failed: Option<String>,
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// Execute `plan` for `project`. `releases` are the active releases by service.
    pub async fn run(
        self: &Arc<Self>,
        project: &str,
        plan: &Plan,
        data: RunData,
    ) -> Result<Outcome, DeployError> {
        let mut data = data;
        let (gate_tx, gate_rx) = watch::channel(Gate::default());
        data.gate = Some(gate_rx);
        if !plan.prepare.is_empty() {
            data.listed = None;
        }
        let releases: Releases = Arc::new(data);
        let mut outcome = Outcome::default();
        // Networks are independent of each other: create them concurrently; every firewall
        // rule is in place before any container starts.
        let (creates, rest): (Vec<&Op>, Vec<&Op>) = plan
            .prepare
            .iter()
            .partition(|op| matches!(op, Op::CreateNetwork { .. }));
        let mut set = JoinSet::new();
        for op in creates {
            let (me, project, op, releases) = (
                Arc::clone(self),
                project.to_string(),
                op.clone(),
                Arc::clone(&releases),
            );
            set.spawn(async move {
                let mut part = Outcome::default();
                me.apply(&project, &op, &releases, &mut part)
                    .await
                    .map(|()| part)
            });
        }
        // Every create runs to its end, a failed one's included: dropping the set would cancel
        // the others half-way (a network left without its pinned subnet).
        let mut failed = None;
        while let Some(r) = set.join_next().await {
            let part = r.map_err(|e| DeployError::NotReady {
                what: "network".into(),
                name: project.to_string(),
                reason: e.to_string(),
            });
            match part {
                Ok(Ok(part)) => outcome.networks_created.extend(part.networks_created),
                Ok(Err(e)) | Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let (rules, others): (Vec<&Op>, Vec<&Op>) = rest
            .into_iter()
            .partition(|op| matches!(op, Op::BlockEgress { .. } | Op::RestrictIngress { .. }));
        for op in others {
            self.apply(project, op, &releases, &mut outcome).await?;
        }
        let firewall = self.spawn_rules(project, rules, gate_tx);
        // A mark in the store says a run may have left a replica without its names (it handed
        // a service over and did not end, or is the first since the mark existed): only then
        // are the replicas the engine's list cannot tell about inspected.
        let marked = self.store.handover(project).await?;
        self.light_dark(project, &releases, marked).await?;
        let changes = plan.waves.iter().flatten().any(|r| !r.ops.is_empty());
        if changes && !marked {
            self.store.set_handover(project, true).await?;
        }
        for wave in &plan.waves {
            let mut set = JoinSet::new();
            let mut results = Vec::new();
            for rollout in wave.iter().filter(|r| !r.ops.is_empty()) {
                if set.len() >= PARALLELISM
                    && let Some(r) = set.join_next().await
                {
                    results.push(r);
                }
                let me = Arc::clone(self);
                let (project, rollout, releases) =
                    (project.to_string(), rollout.clone(), Arc::clone(&releases));
                set.spawn(async move { me.rollout(&project, &rollout, &releases).await });
            }
            while let Some(r) = set.join_next().await {
                results.push(r);
            }
            for r in results {
                let part = r.map_err(|e| DeployError::NotReady {
                    what: "rollout".into(),
                    name: project.to_string(),
                    reason: e.to_string(),
                })??;
                outcome.created.extend(part.created);
                outcome.removed.extend(part.removed);
            }
        }
        firewall.await.map_err(|e| DeployError::NotReady {
            what: "firewall".into(),
            name: project.to_string(),
            reason: e.to_string(),
        })??;
        self.clean_up(project, &plan.cleanup, &releases, &mut outcome)
            .await?;
        self.sweep_secrets(project).await?;
        if changes || marked {
            self.store.set_handover(project, false).await?;
        }
        Ok(outcome)
    }

    /// The plan's cleanup: the containers of services no longer wanted removed concurrently
    /// (bounded), then the rules of every network that goes and every rule left on a bridge
    /// its network no longer has in one firewall transaction, then the networks removed
    /// concurrently — a network's rules go before it does, as before.
    async fn clean_up(
        self: &Arc<Self>,
        project: &str,
        cleanup: &[Op],
        releases: &Releases,
        outcome: &mut Outcome,
    ) -> Result<(), DeployError> {
        let removes: Vec<Op> = cleanup
            .iter()
            .filter(|op| matches!(op, Op::Remove { .. }))
            .cloned()
            .collect();
        let removed = self
            .apply_concurrently(project, removes, releases, "remove")
            .await?;
        outcome.removed.extend(removed.removed);
        let mut networks = Vec::new();
        let mut bridges = Vec::new();
        for op in cleanup {
            match op {
                Op::RemoveNetwork { name } => networks.push(name.clone()),
                Op::RemoveRules {
                    network, bridge, ..
                } => bridges.push((network.clone(), bridge.clone())),
                _ => {}
            }
        }
        if networks.is_empty() && bridges.is_empty() {
            return Ok(());
        }
        let (fw, p) = (Arc::clone(&self.firewall), project.to_string());
        let (nets, stale) = (networks.clone(), bridges.clone());
        blocking(move || fw.unblock(&p, &nets, &stale)).await?;
        for op in cleanup {
            if let Op::RemoveRules {
                network,
                bridge,
                why,
            } = op
            {
                self.say(
                    network,
                    format!("no firewall rules left on {bridge} ({why})"),
                );
            }
        }
        if let Some(cached) = self
            .bridges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(project)
        {
            for name in &networks {
                cached.remove(name);
            }
        }
        let mut set = JoinSet::new();
        let mut results = Vec::new();
        for name in networks {
            if set.len() >= PARALLELISM
                && let Some(r) = set.join_next().await
            {
                results.push(r);
            }
            let me = Arc::clone(self);
            set.spawn(async move {
                retry(|| me.runtime.remove_network(&name)).await?;
                me.say(&name, "network removed");
                Ok::<_, DeployError>(name)
            });
        }
        while let Some(r) = set.join_next().await {
            results.push(r);
        }
        for r in results {
            let name = r.map_err(|e| DeployError::NotReady {
                what: "network".into(),
                name: project.to_string(),
                reason: e.to_string(),
            })??;
            outcome.networks_removed.push(name);
        }
        Ok(())
    }

    /// Apply independent `ops` at most `PARALLELISM` at once; every one runs to its end, and
    /// the first failure (in the order of `ops`) is returned.
    async fn apply_concurrently(
        self: &Arc<Self>,
        project: &str,
        ops: Vec<Op>,
        releases: &Releases,
        what: &str,
    ) -> Result<Outcome, DeployError> {
        let mut set = JoinSet::new();
        let mut results = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            if set.len() >= PARALLELISM
                && let Some(r) = set.join_next().await
            {
                results.push(r);
            }
            let (me, project, releases) =
                (Arc::clone(self), project.to_string(), Arc::clone(releases));
            set.spawn(async move {
                let mut part = Outcome::default();
                let done = me.apply(&project, &op, &releases, &mut part).await;
                (i, done.map(|()| part))
            });
        }
        while let Some(r) = set.join_next().await {
            results.push(r);
        }
        let mut parts = Vec::new();
        for r in results {
            parts.push(r.map_err(|e| DeployError::NotReady {
                what: what.into(),
                name: project.to_string(),
                reason: e.to_string(),
            })?);
        }
        parts.sort_by_key(|(i, _)| *i);
        let mut outcome = Outcome::default();
        for (_, part) in parts {
            let part = part?;
            outcome.created.extend(part.created);
            outcome.removed.extend(part.removed);
            outcome.networks_created.extend(part.networks_created);
            outcome.networks_removed.extend(part.networks_removed);
        }
        Ok(outcome)
    }

    /// Install the firewall rules of the plan in the background, all networks in one
    /// transaction, publishing progress on the gate; a failure is published too and returned.
    fn spawn_rules(
        self: &Arc<Self>,
        project: &str,
        rules: Vec<&Op>,
        gate: watch::Sender<Gate>,
    ) -> tokio::task::JoinHandle<Result<(), DeployError>> {
        let ops: Vec<Op> = rules.into_iter().cloned().collect();
        gate.send_modify(|g| {
            g.pending = ops
                .iter()
                .filter_map(|op| match op {
                    Op::BlockEgress { network } | Op::RestrictIngress { network, .. } => {
                        Some(network.clone())
                    }
                    _ => None,
                })
                .collect();
        });
        let (me, project) = (Arc::clone(self), project.to_string());
        tokio::spawn(async move {
            let result = me.install_rules(&project, &ops).await;
            gate.send_modify(|g| match &result {
                Ok(()) => g.pending.clear(),
                Err(e) => g.failed = Some(e.to_string()),
            });
            result
        })
    }

    /// `BlockEgress` and `RestrictIngress` ops, as one firewall transaction.
    async fn install_rules(&self, project: &str, ops: &[Op]) -> Result<(), DeployError> {
        let mut wanted: BTreeMap<String, NetworkRules> = BTreeMap::new();
        for op in ops {
            let (network, owner) = match op {
                Op::BlockEgress { network } => (network, None),
                Op::RestrictIngress { network, owner } => (network, Some(owner)),
                _ => continue,
            };
            let bridge = self
                .bridge(project, network)
                .await?
                .ok_or_else(|| {
                    network_gone(
                        network,
                        "its bridge interface is unknown (the network is gone), so its firewall rules cannot be installed",
                    )
                })?;
            let entry = wanted
                .entry(network.clone())
                .or_insert_with(|| NetworkRules {
                    network: network.clone(),
                    bridge,
                    block_egress: false,
                    ingress: None,
                    refused: Vec::new(),
                });
            match owner {
                None => entry.block_egress = true,
                Some(owner) => {
                    entry.ingress = Some(self.addresses(project, owner, network).await?);
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let networks: Vec<NetworkRules> = wanted.into_values().collect();
        let (fw, p, nets) = (
            Arc::clone(&self.firewall),
            project.to_string(),
            networks.clone(),
        );
        blocking(move || fw.ensure(&p, &nets)).await?;
        for n in &networks {
            if n.block_egress {
                self.say(
                    &n.network,
                    format!(
                        "outbound connections dropped, to the host too (DOCKER-USER and INPUT, {})",
                        n.bridge
                    ),
                );
            }
        }
        Ok(())
    }

    pub(super) async fn apply(
        &self,
        project: &str,
        op: &Op,
        releases: &Releases,
        outcome: &mut Outcome,
    ) -> Result<(), DeployError> {
        match op {
            Op::CreateNetwork { name, internal } => {
                let part = name
                    .strip_prefix(&format!("{project}-"))
                    .and_then(|n| n.rsplit_once('-'))
                    .map(|(s, _)| s)
                    .unwrap_or_default();
                // The name has the service in lower case (`ServiceName::engine_part`); the
                // label has it as written.
                let owner = releases
                    .releases
                    .keys()
                    .find(|s| bulkhead_core::names::ServiceName::engine_part(s) == part)
                    .map_or(part, String::as_str);
                // Only a service's own (ingress) networks need fixed addresses (see
                // `handover`); pinning costs a create and a remove more.
                let spec = NetworkSpec {
                    name: name.clone(),
                    internal: *internal,
                    labels: owner_labels(project, owner, 0),
                    pin_subnet: releases.owned.values().any(|nets| nets.contains(name)),
                };
                match retry(|| self.runtime.create_network(&spec)).await {
                    Ok(_) => {}
                    // Not among the project's own networks (those are observed by label), so
                    // someone else's: joining it would bypass the security groups.
                    Err(RuntimeError::Conflict { .. }) => {
                        return Err(DeployError::NameTaken {
                            what: "network",
                            name: name.clone(),
                            project: project.to_string(),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
                self.say(
                    name,
                    if *internal {
                        "network created (internal)"
                    } else {
                        "network created"
                    },
                );
                outcome.networks_created.push(name.clone());
            }
            Op::BlockEgress { .. } | Op::RestrictIngress { .. } => {
                self.install_rules(project, std::slice::from_ref(op))
                    .await?;
            }
            Op::CreateVolume { name } => {
                let owner = name.strip_prefix(&format!("{project}-")).unwrap_or(name);
                let labels = owner_labels(project, owner, 0);
                retry(|| self.runtime.create_volume(name, &labels)).await?;
                self.say(name, "volume created");
            }
            Op::Deploy {
                service,
                release,
                replica,
                replaces,
                adopt,
                stop_first,
            } => {
                let (rel, spec) =
                    releases
                        .releases
                        .get(service)
                        .ok_or_else(|| DeployError::NoRelease {
                            service: service.clone(),
                            number: *release,
                        })?;
                let owned = releases.owned.get(service).cloned().unwrap_or_default();
                // Never two replicas of one slot at once on a stateful service: the old one
                // stops first, and serves again if its successor does not become ready.
                let (before, after) = match stop_first {
                    Some(_) => (replaces.as_ref(), None),
                    None => (None, replaces.as_ref()),
                };
                if let (Some((id, old)), Some(why)) = (before, stop_first) {
                    self.say(old, format!("stopping first: the service {why}"));
                    self.stop_only(id, old, spec.template.stop_grace_secs)
                        .await?;
                    self.sync_ingress(project, service, &owned).await?;
                }
                let made = match adopt {
                    Some(id) => {
                        self.adopt_replica(project, rel, spec, *replica, id, releases)
                            .await
                    }
                    None => {
                        self.deploy_replica(project, rel, spec, *replica, after, releases)
                            .await
                    }
                };
                let name = match made {
                    Ok(name) => name,
                    Err(e) => {
                        if let Some((id, old)) = before {
                            self.serve_again(project, service, id, old, &owned).await;
                        }
                        return Err(e);
                    }
                };
                outcome.created.push(name);
                match (before, after) {
                    // Stopped already: nothing to drain; the dependants that resolve it
                    // once are replaced as after a start-first hand-over.
                    (Some((id, old)), _) => {
                        self.stop_and_remove(id, old, 0).await?;
                        outcome.removed.push(old.clone());
                        self.replace_dependants(project, service, releases).await?;
                    }
                    (None, Some((id, old))) => {
                        self.retire(project, service, id, old, spec, &owned, outcome)
                            .await?;
                    }
                    (None, None) => {}
                }
            }
            Op::Remove {
                id,
                name,
                service,
                why,
            } => {
                let grace = releases
                    .releases
                    .get(service)
                    .map_or(10, |(_, s)| s.template.stop_grace_secs);
                match releases.owned.get(service) {
                    // A replica of a service that stays (superseded, or scaled away) leaves
                    // as a replaced one does: out of name resolution, refused, drained.
                    Some(owned) if !owned.is_empty() => {
                        self.leave_names(id, owned).await;
                        self.drain_and_stop(project, service, id, name, grace, owned)
                            .await?;
                    }
                    _ => self.stop_and_remove(id, name, grace).await?,
                }
                self.say(name, format!("removed ({why})"));
                outcome.removed.push(name.clone());
            }
            Op::RemoveNetwork { name } => {
                let (fw, p, n) = (
                    Arc::clone(&self.firewall),
                    project.to_string(),
                    name.clone(),
                );
                blocking(move || fw.unblock(&p, &[n], &[])).await?;
                if let Some(cached) = self
                    .bridges
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(project)
                {
                    cached.remove(name);
                }
                retry(|| self.runtime.remove_network(name)).await?;
                self.say(name, "network removed");
                outcome.networks_removed.push(name.clone());
            }
            Op::RemoveRules {
                network,
                bridge,
                why,
            } => {
                let (fw, p) = (Arc::clone(&self.firewall), project.to_string());
                let (n, b) = (network.clone(), bridge.clone());
                blocking(move || fw.unblock(&p, &[], &[(n, b)])).await?;
                self.say(
                    network,
                    format!("no firewall rules left on {bridge} ({why})"),
                );
            }
        }
        Ok(())
    }

    /// Create, start and wait for one replica. The canonical name is freed first by renaming
    /// whatever holds it (the container being replaced keeps serving under its new name). On
    /// networks with a pinned subnet it gets a fixed address, allowed before it starts; once
    /// ready, the replica it replaces is handed over (see `handover`).
    pub(super) async fn deploy_replica(
        &self,
        project: &str,
        rel: &Release,
        spec: &StoredSpec,
        replica: u32,
        replaces: Option<&(String, String)>,
        ctx: &RunData,
    ) -> Result<String, DeployError> {
        let owned: &[String] = ctx.owned.get(&rel.service).map_or(&[], Vec::as_slice);
        let gate = ctx.gate.clone();
        let id = Identity {
            project,
            service: &rel.service,
            release: rel.number,
            replica,
            spec_hash: &rel.spec_hash,
            image: &rel.image,
        };
        let mut cspec = container_spec(&id, &spec.template);
        let name = container_name(project, &rel.service, replica);
        check_binds(&rel.service, &cspec)?;
        self.replica_volumes(&id, &spec.template).await?;
        let joins: Vec<String> = cspec.networks.iter().map(|(n, _)| n.clone()).collect();
        let held = self.hold_addresses(project, &joins).await?;
        cspec.fixed_addresses = held.by_network.clone();
        // Beside a replica that serves, it starts dark (see `handover`).
        let dark = match replaces {
            Some(_) => Self::darken(&mut cspec, owned),
            None => Vec::new(),
        };
        let secret_key = self.deliver_secrets(project, spec, &mut cspec).await?;
        let created = match self.create_for(&cspec, &name).await {
            Ok(id) => id,
            Err(e) => {
                if let Some(key) = &secret_key {
                    self.secret_files.remove(key);
                }
                return Err(e);
            }
        };

        let started = Instant::now();
        let ready = async {
            let joins: Vec<String> = spec
                .template
                .networks
                .iter()
                .map(|(n, _)| n.clone())
                .collect();
            wait_for_rules(gate, &joins).await?;
            self.allow_ahead(project, &rel.service, owned, &cspec.fixed_addresses)
                .await?;
            // The engine mounts at start: the sources are looked at once more, last thing.
            check_binds(&rel.service, &cspec)?;
            self.runtime.start_container(&created).await?;
            // Addresses are assigned at start; callers may connect as soon as the name
            // resolves to the new replica, so it is ready only once it is allowed too. The
            // firewall update and the health probes run side by side.
            if is_job(ctx, &rel.service) {
                // Nothing calls a job once it is done, and its address goes with it.
                self.wait_completed(&created, &name).await?;
                return self.sync_ingress(project, &rel.service, owned).await;
            }
            let config = ctx.config(&rel.service);
            let (allowed, ready) =
                tokio::join!(self.sync_ingress(project, &rel.service, owned), async {
                    self.post_start(&created, &name, spec).await?;
                    self.wait_ready(&created, &name, spec, &config).await
                });
            allowed.and(ready)?;
            self.light(&created, &dark, &cspec.fixed_addresses).await
        };
        if let Err(e) = ready.await {
            let e = self
                .discard(project, &rel.service, &created, &name, owned, e)
                .await;
            if replaces.is_some() {
                self.say(&name, "new replica failed; the old one keeps serving");
            }
            return Err(e);
        }
        self.say(
            &name,
            format!(
                "ready in {} ms (release {})",
                started.elapsed().as_millis(),
                rel.number
            ),
        );
        drop(held);
        if let Some((old, _)) = replaces {
            self.hand_over(project, &rel.service, old, ctx).await?;
        }
        Ok(name)
    }

    /// The replica's own volumes (its anonymous and image volumes), created with owner labels
    /// (and its replica number) unless they exist; one of that name that is not this
    /// project's is never mounted.
    async fn replica_volumes(
        &self,
        id: &Identity<'_>,
        template: &bulkhead_core::deploy::Template,
    ) -> Result<(), DeployError> {
        for (volume, _) in replica_volumes(id, template) {
            let mut labels = owner_labels(id.project, id.service, 0);
            labels.insert(LABEL_REPLICA.to_string(), id.replica.to_string());
            match retry(|| self.runtime.create_volume(&volume, &labels)).await {
                Ok(()) => {}
                Err(RuntimeError::Conflict { .. }) => {
                    return Err(DeployError::NameTaken {
                        what: "volume",
                        name: volume,
                        project: id.project.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Retire the replica `old` (being replaced): new connections to it refused, drained,
    /// stopped and removed, its address out of the service's ingress allow sets.
    #[allow(clippy::too_many_arguments)]
    async fn retire(
        &self,
        project: &str,
        service: &str,
        id: &str,
        old: &str,
        spec: &StoredSpec,
        owned: &[String],
        outcome: &mut Outcome,
    ) -> Result<(), DeployError> {
        self.drain_and_stop(
            project,
            service,
            id,
            old,
            spec.template.stop_grace_secs,
            owned,
        )
        .await?;
        outcome.removed.push(old.to_string());
        Ok(())
    }

    /// Create the container; when its canonical name is taken, rename the holder first (the
    /// container being replaced keeps serving under its new name).
    async fn create_for(
        &self,
        cspec: &bulkhead_ports::ContainerSpec,
        name: &str,
    ) -> Result<String, DeployError> {
        match self.runtime.create_container(cspec).await {
            Err(RuntimeError::Conflict { .. }) => {
                let holder = self.runtime.inspect_container(name).await?;
                // Names of two projects can meet (`p` + `db-x` and `p-db` + `x`): only a
                // container of this project is moved aside, never another's.
                let project = cspec.labels.get(LABEL_PROJECT);
                if project.is_none() || holder.labels.get(LABEL_PROJECT) != project {
                    return Err(DeployError::NameTaken {
                        what: "container",
                        name: name.to_string(),
                        project: project.cloned().unwrap_or_default(),
                    });
                }
                let short: String = holder.id.chars().take(8).collect();
                self.runtime
                    .rename_container(&holder.id, &format!("{name}-old-{short}"))
                    .await?;
                Ok(self.runtime.create_container(cspec).await?)
            }
            Err(RuntimeError::NotFound {
                what: "network",
                name: network,
            }) => Err(network_gone(
                &network,
                "it is gone, so no container can join it",
            )),
            other => Ok(other?),
        }
    }

    /// Decrypt the release's secrets into a fresh directory on the secrets tmpfs and mount
    /// each file read-only at its target; the directory's key goes in a label, so the files
    /// can go when the container does. Values live only in zeroing buffers and on the tmpfs.
    async fn deliver_secrets(
        &self,
        project: &str,
        spec: &StoredSpec,
        cspec: &mut bulkhead_ports::ContainerSpec,
    ) -> Result<Option<String>, DeployError> {
        if spec.secrets.is_empty() {
            return Ok(None);
        }
        let policy = |reason: String| DeployError::Policy {
            service: cspec.name.clone(),
            reason,
            hint: "check the secret store (`bulkhead secret versions`)".into(),
        };
        let secrets = self
            .secrets
            .as_ref()
            .ok_or_else(|| policy("the encrypted secret store is not configured".into()))?;
        let project_name =
            bulkhead_core::auth::ProjectName::new(project).map_err(|e| policy(e.to_string()))?;
        let mut files = Vec::new();
        for u in &spec.secrets {
            let name = bulkhead_core::secrets::SecretName::new(&u.name)
                .map_err(|e| policy(e.to_string()))?;
            let value = secrets
                .open_version(&project_name, &name, u.version)
                .await
                .map_err(|e| policy(format!("secret `{}` version {}: {e}", u.name, u.version)))?;
            files.push(super::secret_files::SecretFile {
                target: u.target.clone(),
                value,
                uid: u.uid,
                gid: u.gid,
                mode: u.mode,
            });
        }
        let key = format!("{project}.{}", super::secret_files::new_key());
        let (store, k) = (self.secret_files.clone(), key.clone());
        let mounts = tokio::task::spawn_blocking(move || store.write(&k, &files))
            .await
            .map_err(|e| policy(e.to_string()))?
            .map_err(|e| policy(e.to_string()))?;
        for (host, target) in mounts {
            cspec.mounts.push(bulkhead_ports::MountSpec::Bind {
                source: host.to_string_lossy().into_owned(),
                target,
                read_only: true,
            });
        }
        cspec.labels.insert(LABEL_SECRETS.to_string(), key.clone());
        Ok(Some(key))
    }

    /// Remove the secret files of the project's containers that are gone.
    pub(super) async fn sweep_secrets(&self, project: &str) -> Result<(), DeployError> {
        let prefix = format!("{project}.");
        let keys = self.secret_files.keys();
        if !keys.iter().any(|k| k.starts_with(&prefix)) {
            return Ok(());
        }
        let live: std::collections::BTreeSet<String> = self
            .runtime
            .list_containers(&LabelFilter::project(project))
            .await?
            .into_iter()
            .filter_map(|c| c.labels.get(LABEL_SECRETS).cloned())
            .collect();
        for key in keys
            .iter()
            .filter(|k| k.starts_with(&prefix) && !live.contains(*k))
        {
            self.secret_files.remove(key);
        }
        Ok(())
    }

    /// Ready: running and either healthy per the engine, or its health test passing when run
    /// directly (sooner than the engine's interval); without a health check, running for its
    /// settle time without a restart. A restart on the way (a crash loop) fails it at once.
    async fn wait_ready(
        &self,
        id: &str,
        name: &str,
        spec: &StoredSpec,
        config: &RolloutConfig,
    ) -> Result<(), DeployError> {
        let settle = spec.settle_with(config);
        let monitor = spec.monitor_with(config);
        let limit = readiness_limit(spec, settle) + monitor.unwrap_or_default();
        if let Some(settle) = settle {
            self.say(
                name,
                format!(
                    "no health check: ready once it has run {} s without a restart ({})",
                    settle.as_secs_f64(),
                    if spec.settle_ms.is_none() && config.monitor_ms.is_some() {
                        "monitor"
                    } else {
                        "x-bulkhead.settle"
                    }
                ),
            );
        }
        if let Some(m) = monitor {
            self.say(
                name,
                format!(
                    "ready once healthy and it has run {} s without a restart (monitor)",
                    m.as_secs_f64()
                ),
            );
        }
        // Healthy counts once it also ran its `monitor` time (restarts fail it above).
        let monitored = |ran: Option<Duration>| monitor.is_none_or(|m| ran.is_some_and(|r| r >= m));
        let start = Instant::now();
        let mut restarts: Option<u64> = None;
        loop {
            let info = self.runtime.inspect_container(id).await?;
            let count = info.restart_count.unwrap_or(0);
            let before = *restarts.get_or_insert(count);
            if info.state == "restarting" || count > before {
                return Err(DeployError::NotReady {
                    what: "replica".into(),
                    name: name.into(),
                    reason: format!(
                        "it is crash-looping (restarted {} time(s) while it was awaited)",
                        count.saturating_sub(before).max(1)
                    ),
                });
            }
            if info.state == "exited" || info.state == "dead" {
                let code = info.exit_code.unwrap_or(-1);
                return Err(DeployError::NotReady {
                    what: "replica".into(),
                    name: name.into(),
                    reason: format!("the container exited with code {code}"),
                });
            }
            if info.state == "running" {
                match (settle, &spec.probe, info.health) {
                    (_, _, HealthState::Healthy) if monitored(info.running_for) => return Ok(()),
                    (_, _, HealthState::Healthy) => {}
                    // The engine counted its retries (after the start period): a verdict.
                    (_, _, HealthState::Unhealthy) => {
                        return Err(DeployError::NotReady {
                            what: "replica".into(),
                            name: name.into(),
                            reason: "its health check failed: the engine marks it unhealthy".into(),
                        });
                    }
                    (Some(settle), _, _) => {
                        if info.running_for.is_some_and(|ran| ran >= settle) {
                            return Ok(());
                        }
                    }
                    (None, Some(probe), _) => {
                        // An exec is a process start in the engine: many replicas awaited at
                        // once take turns, leaving the engine time to start the rest.
                        let passed = {
                            let _turn = PROBES.acquire().await;
                            self.runtime
                                .exec(id, probe, Duration::from_secs(2))
                                .await
                                .is_ok_and(|code| code == 0)
                        };
                        if passed && monitored(info.running_for) {
                            return Ok(());
                        }
                    }
                    (None, None, _) => {}
                }
            }
            if start.elapsed() > limit {
                return Err(DeployError::NotReady {
                    what: "replica".into(),
                    name: name.into(),
                    reason: format!("not healthy after {} s", limit.as_secs()),
                });
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Verify a replica a previous run created and started (it was killed, or the reconciler
    /// found it not yet ready): adopted once ready; removed if it never is.
    async fn adopt_replica(
        &self,
        project: &str,
        rel: &Release,
        spec: &StoredSpec,
        replica: u32,
        id: &str,
        ctx: &RunData,
    ) -> Result<String, DeployError> {
        let owned: &[String] = ctx.owned.get(&rel.service).map_or(&[], Vec::as_slice);
        let name = container_name(project, &rel.service, replica);
        self.say(&name, "started by an earlier run: verifying it is ready");
        let joins: Vec<String> = spec
            .template
            .networks
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let ready = async {
            wait_for_rules(ctx.gate.clone(), &joins).await?;
            let config = ctx.config(&rel.service);
            // Its post_start may or may not have run before the earlier run ended: hooks
            // run at least once.
            let (allowed, ready) =
                tokio::join!(self.sync_ingress(project, &rel.service, owned), async {
                    self.post_start(id, &name, spec).await?;
                    self.wait_ready(id, &name, spec, &config).await
                });
            allowed.and(ready)
        };
        if let Err(e) = ready.await {
            return Err(self
                .discard(project, &rel.service, id, &name, owned, e)
                .await);
        }
        self.say(&name, format!("ready (release {})", rel.number));
        Ok(name)
    }

    /// A replica that did not become ready: its last log lines kept for the error, then it is
    /// removed and the service's allow sets follow.
    async fn discard(
        &self,
        project: &str,
        service: &str,
        id: &str,
        name: &str,
        owned: &[String],
        e: DeployError,
    ) -> DeployError {
        let logs = self.runtime.logs(id, Some(10)).await.unwrap_or_default();
        let fix = self.fix_for(id, &logs).await;
        let _ = self.runtime.remove_container(id).await;
        let _ = self.sync_ingress(project, service, owned).await;
        let tail = if logs.is_empty() {
            String::new()
        } else {
            format!("; last log lines:\n    {}", logs.join("\n    "))
        };
        let reason = match e {
            DeployError::NotReady { reason, .. } => reason,
            other => other.to_string(),
        };
        DeployError::NotReady {
            what: "replica".into(),
            name: name.to_string(),
            reason: format!("{reason}{tail}{fix}"),
        }
    }

    /// The fix for what the last log lines say (only the matched path is quoted), with the
    /// owner of that path in the image when a permission was denied; "" when nothing matched.
    async fn fix_for(&self, id: &str, logs: &[String]) -> String {
        let Some(cause) = bulkhead_core::imagefit::diagnose(logs) else {
            return String::new();
        };
        let mut owner = None;
        if let (bulkhead_core::imagefit::Cause::PermissionDenied { path: Some(p) }, Ok(info)) =
            (&cause, self.runtime.inspect_container(id).await)
            && let Ok(found) = self
                .runtime
                .image_path_owners(&info.image, std::slice::from_ref(p))
                .await
        {
            owner = found.get(p).cloned().flatten().map(|e| (e.uid, e.gid));
        }
        format!("\n  fix: {}", cause.fix(owner))
    }

    /// Stop (not remove) the replica a stop-first rollout replaces.
    async fn stop_only(&self, id: &str, name: &str, grace_secs: u64) -> Result<(), DeployError> {
        self.pre_stop(id, name, Duration::from_secs(grace_secs))
            .await;
        match self
            .runtime
            .stop_container(id, Duration::from_secs(grace_secs))
            .await
        {
            Ok(()) | Err(RuntimeError::NotFound { .. }) => {
                self.say(name, "stopped");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Its successor failed: the stopped replica of the previous release starts again.
    /// Best effort — the successor's failure is the error worth reporting; the next run
    /// (the reconciler, or `up`) keeps it as the one to replace either way.
    async fn serve_again(
        &self,
        project: &str,
        service: &str,
        id: &str,
        name: &str,
        owned: &[String],
    ) {
        match self.runtime.start_container(id).await {
            Ok(()) => {
                let _ = self.sync_ingress(project, service, owned).await;
                self.say(
                    name,
                    "the new replica failed; the previous release serves again",
                );
            }
            Err(e) => self.say(
                name,
                format!("could not start the previous release again: {e}"),
            ),
        }
    }

    /// A job is done when its container exits with code 0; any other exit code fails it.
    async fn wait_completed(&self, id: &str, name: &str) -> Result<(), DeployError> {
        let start = Instant::now();
        loop {
            let info = self.runtime.inspect_container(id).await?;
            if info.state == "exited" || info.state == "dead" {
                return match info.exit_code {
                    Some(0) => Ok(()),
                    code => Err(DeployError::NotReady {
                        what: "job".into(),
                        name: name.into(),
                        reason: format!(
                            "it exited with code {} (a dependant waits for it with service_completed_successfully)",
                            code.unwrap_or(-1)
                        ),
                    }),
                };
            }
            if start.elapsed() > JOB_LIMIT {
                return Err(DeployError::NotReady {
                    what: "job".into(),
                    name: name.into(),
                    reason: format!("still running after {} s", JOB_LIMIT.as_secs()),
                });
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Point the ingress allow sets of `networks` (owned by `service`) at the addresses its
    /// containers have on them now (one firewall transaction).
    pub(super) async fn sync_ingress(
        &self,
        project: &str,
        service: &str,
        networks: &[String],
    ) -> Result<(), DeployError> {
        if networks.is_empty() {
            return Ok(());
        }
        let containers = self.containers_of(project, service).await?;
        let mut rules = Vec::new();
        for net in networks {
            let Some(bridge) = self.bridge(project, net).await? else {
                continue;
            };
            let allowed: Vec<Ipv4Addr> = containers
                .iter()
                .filter_map(|c| c.addresses.get(net))
                .filter_map(|a| a.parse().ok())
                .collect();
            rules.push(NetworkRules {
                network: net.clone(),
                bridge,
                block_egress: false,
                ingress: Some(allowed),
                refused: Vec::new(),
            });
        }
        if rules.is_empty() {
            return Ok(());
        }
        let (fw, p) = (Arc::clone(&self.firewall), project.to_string());
        blocking(move || fw.ensure(&p, &rules)).await
    }

    pub(super) async fn containers_of(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Vec<bulkhead_ports::ContainerInfo>, DeployError> {
        let mut filter = LabelFilter::project(project);
        filter
            .0
            .insert(LABEL_SERVICE.to_string(), service.to_string());
        Ok(self.runtime.list_containers(&filter).await?)
    }

    /// The addresses `service`'s containers have on `network` now.
    async fn addresses(
        &self,
        project: &str,
        service: &str,
        network: &str,
    ) -> Result<Vec<Ipv4Addr>, DeployError> {
        Ok(self
            .containers_of(project, service)
            .await?
            .iter()
            .filter_map(|c| c.addresses.get(network))
            .filter_map(|a| a.parse().ok())
            .collect())
    }

    /// The bridge interface of one of the project's networks (cached: a network keeps its
    /// bridge for life; the project's entries are replaced by each observation, so a network
    /// re-created behind Bulkhead's back is looked up again, and a removal drops its entry).
    pub(super) async fn bridge(
        &self,
        project: &str,
        network: &str,
    ) -> Result<Option<String>, DeployError> {
        if let Some(b) = self
            .bridges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project)
            .and_then(|nets| nets.get(network))
        {
            return Ok(Some(b.clone()));
        }
        let listed: BTreeMap<String, String> = self
            .runtime
            .list_networks(&LabelFilter::project(project))
            .await?
            .into_iter()
            .filter_map(|n| Some((n.name, n.bridge?)))
            .collect();
        let found = listed.get(network).cloned();
        self.bridges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.to_string(), listed);
        Ok(found)
    }

    pub(super) async fn stop_and_remove(
        &self,
        id: &str,
        name: &str,
        grace_secs: u64,
    ) -> Result<(), DeployError> {
        // Runs only in a running replica (not one a stop-first rollout stopped already).
        self.pre_stop(id, name, Duration::from_secs(grace_secs))
            .await;
        match self
            .runtime
            .stop_container(id, Duration::from_secs(grace_secs))
            .await
        {
            Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        retry(|| self.runtime.remove_container(id)).await?;
        self.say(name, "stopped and removed");
        Ok(())
    }
}

/// True when a dependant waits for `service` to complete (`service_completed_successfully`).
fn is_job(data: &RunData, service: &str) -> bool {
    data.releases.values().any(|(_, spec)| {
        spec.depends_on
            .iter()
            .any(|(d, c)| d == service && *c == Condition::ServiceCompletedSuccessfully)
    })
}

/// How long a replica may take: its start period plus every retry of its check (at least
/// 10 s); without a check, its settle time plus 60 s.
fn readiness_limit(spec: &StoredSpec, settle: Option<Duration>) -> Duration {
    let h = spec.template.health.as_ref();
    let d = |s: Option<&String>| {
        s.and_then(|s| bulkhead_core::spec::units::parse_duration(s).ok())
            .unwrap_or(Duration::from_secs(30))
    };
    let per_try = h.map_or(Duration::ZERO, |h| {
        d(h.interval.as_ref()) + d(h.timeout.as_ref())
    });
    let tries = h.and_then(|h| h.retries).unwrap_or(3) + 1;
    let start = h
        .and_then(|h| h.start_period.as_ref())
        .map_or(Duration::ZERO, |s| d(Some(s)));
    match settle {
        // Without a health check: its settle time, after a start that may be slow.
        Some(settle) => settle + Duration::from_secs(60),
        // The engine's own verdict (`unhealthy`) ends the wait sooner; this bounds a check
        // that never answers.
        None => (start + per_try * tries).max(Duration::from_secs(10)),
    }
}

/// Retry transient engine failures (unreachable, engine errors) three times with backoff.
/// A network of the project missing where this deploy needs it: created (now or by an earlier
/// run) and then removed behind Bulkhead's back before any container used it — what `docker
/// network prune` and `docker system prune` do to a network no container uses yet, which is
/// each new network's state from its creation until its first replica starts.
fn network_gone(network: &str, what: &str) -> DeployError {
    DeployError::NotReady {
        what: "network".into(),
        name: network.to_string(),
        reason: format!(
            "{what}: something removed it after it was created and before a container used it, as `docker network prune` does to unused networks (hint: run `up` again, which creates it anew; do not prune networks on an engine where deploys run)"
        ),
    }
}

async fn retry<T, Fut>(mut f: impl FnMut() -> Fut) -> Result<T, RuntimeError>
where
    Fut: std::future::Future<Output = Result<T, RuntimeError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(RuntimeError::Unreachable { .. } | RuntimeError::Engine { .. }) if attempt < 3 => {
                tokio::time::sleep(delay).await;
                delay *= 4;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Wait until every network in `joins` has its firewall rules (or the rules failed).
async fn wait_for_rules(
    gate: Option<watch::Receiver<Gate>>,
    joins: &[String],
) -> Result<(), DeployError> {
    let Some(mut rx) = gate else { return Ok(()) };
    loop {
        {
            let g = rx.borrow_and_update();
            if let Some(reason) = &g.failed {
                return Err(DeployError::NotReady {
                    what: "firewall".into(),
                    name: joins.join(", "),
                    reason: reason.clone(),
                });
            }
            if !joins.iter().any(|n| g.pending.contains(n)) {
                return Ok(());
            }
        }
        if rx.changed().await.is_err() {
            let g = rx.borrow();
            if joins.iter().any(|n| g.pending.contains(n)) {
                return Err(DeployError::NotReady {
                    what: "firewall".into(),
                    name: joins.join(", "),
                    reason: "the rules were not installed".into(),
                });
            }
            return Ok(());
        }
    }
}

/// Run a host-firewall call (a few iptables processes) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, bulkhead_ports::FirewallError> + Send + 'static,
) -> Result<T, DeployError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DeployError::NotReady {
            what: "firewall".into(),
            name: String::new(),
            reason: e.to_string(),
        })?
        .map_err(DeployError::from)
}

/// Every bind source of `cspec`, checked again (see [`check_bind_source`]).
fn check_binds(service: &str, cspec: &bulkhead_ports::ContainerSpec) -> Result<(), DeployError> {
    for m in &cspec.mounts {
        if let bulkhead_ports::MountSpec::Bind { source, .. } = m {
            check_bind_source(Path::new(source)).map_err(|e| DeployError::Policy {
                service: service.to_string(),
                reason: format!("bind mount refused: {e}"),
                hint:
                    "a bind source must stay the directory or file that was checked; deploy again"
                        .to_string(),
            })?;
        }
    }
    Ok(())
}
