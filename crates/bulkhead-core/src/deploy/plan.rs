//! The reconciler's pure heart: `plan(desired, observed) -> Plan`. Level-triggered: it looks
//! only at what should be and what is, never at what happened before, so running its plan
//! twice changes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::spec::model::Condition;
use crate::spec::rollout::RolloutConfig;

/// One service as it should run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredService {
    pub name: String,
    pub release: u64,
    pub spec_hash: String,
    pub replicas: u32,
    pub depends_on: Vec<(String, Condition)>,
    /// Why a replica must stop before its successor starts (see `Template::stop_first`);
    /// `None`: start-first, the old one serves until the new one is ready.
    #[serde(default)]
    pub stop_first: Option<String>,
    /// Without a health check: how long (ms) a replica must run without a restart to count
    /// as ready. `None`: it has a health check, and only "healthy" is ready.
    #[serde(default)]
    pub settle_ms: Option<u64>,
    /// How its replicas are replaced: `update_config`, or for a rollback `rollback_config`.
    #[serde(default)]
    pub rollout: RolloutConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredNetwork {
    pub name: String,
    pub internal: bool,
    /// New outbound connections from the network are dropped by a host firewall rule.
    pub drop_outbound: bool,
    /// For an ingress network: the service whose addresses alone may be connected to inside it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Everything that should exist for a project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub project: String,
    pub services: BTreeMap<String, DesiredService>,
    pub networks: Vec<DesiredNetwork>,
    pub volumes: Vec<String>,
}

/// A container found on the engine with the project's labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub release: Option<u64>,
    pub replica: Option<u32>,
    pub spec_hash: Option<String>,
    pub running: bool,
    pub unhealthy: bool,
    /// Its health check passed (the engine says healthy, or the test was run and passed).
    #[serde(default)]
    pub healthy: bool,
    /// How long it has been running since its last (re)start, in ms, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_for_ms: Option<u64>,
    /// The exit code of a container that ran and stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Address on each network, by network name.
    pub addresses: BTreeMap<String, String>,
}

/// Host firewall rules found for one network, bound to one bridge interface: they protect the
/// network only while that is its bridge (a network removed and created again behind
/// Bulkhead's back has a new one, and rules left on the old one protect nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObservedRules {
    pub network: String,
    pub bridge: String,
    /// New connections routed out of the bridge are dropped.
    pub egress_drop: bool,
    /// New connections from the bridge to the host itself are dropped.
    pub host_drop: bool,
    /// The ingress allow set (sorted addresses), if restricted.
    pub ingress: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<String>,
    /// The bridge interface of each network, by name, as the engine reports it now.
    pub bridges: BTreeMap<String, String>,
    pub volumes: Vec<String>,
    /// The firewall rules installed for the project, by network and the bridge they match.
    pub rules: Vec<ObservedRules>,
}

impl Observed {
    /// The rules of `network` bound to the bridge it has now, if any.
    fn rules_in_force(&self, network: &str) -> Option<&ObservedRules> {
        let bridge = self.bridges.get(network)?;
        self.rules
            .iter()
            .find(|r| r.network == network && &r.bridge == bridge)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    CreateNetwork {
        name: String,
        internal: bool,
    },
    BlockEgress {
        network: String,
    },
    /// Allow new connections inside `network` only to `owner`'s containers.
    RestrictIngress {
        network: String,
        owner: String,
    },
    CreateVolume {
        name: String,
    },
    /// Create, start and wait until ready one replica (or, with `adopt`, wait until the
    /// existing one is ready); then remove `replaces`. With `stop_first` (the reason), the
    /// replaced one stops before the new one starts, and starts again if the new one fails.
    Deploy {
        service: String,
        release: u64,
        replica: u32,
        replaces: Option<(String, String)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adopt: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_first: Option<String>,
    },
    /// Remove a container (`why` says which rule of the plan asked for it).
    Remove {
        id: String,
        name: String,
        service: String,
        why: String,
    },
    RemoveNetwork {
        name: String,
    },
    /// Remove the firewall rules of `network` bound to `bridge`, a bridge it no longer has
    /// (`why` says whether the network is gone or has another one).
    RemoveRules {
        network: String,
        bridge: String,
        why: String,
    },
}

/// A service's ops, run in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub service: String,
    pub ops: Vec<Op>,
    /// How its replicas are replaced, when the spec asks for other than Bulkhead's own way
    /// (one at a time, no delay, stop at the first failure) and there is something to replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RolloutConfig>,
}

/// The plan: `prepare` first (independent), then each wave's rollouts concurrently, waves in
/// dependency order, then `cleanup`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub prepare: Vec<Op>,
    pub waves: Vec<Vec<Rollout>>,
    pub cleanup: Vec<Op>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.prepare.is_empty()
            && self.cleanup.is_empty()
            && self
                .waves
                .iter()
                .all(|w| w.iter().all(|r| r.ops.is_empty()))
    }

    /// Every op, in execution order.
    pub fn ops(&self) -> Vec<&Op> {
        let waves = self
            .waves
            .iter()
            .flat_map(|w| w.iter().flat_map(|r| r.ops.iter()));
        self.prepare
            .iter()
            .chain(waves)
            .chain(self.cleanup.iter())
            .collect()
    }
}

/// Decide what to do to turn `observed` into `desired`.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut prepare = Vec::new();
    for n in &desired.networks {
        if !observed.networks.contains(&n.name) {
            prepare.push(Op::CreateNetwork {
                name: n.name.clone(),
                internal: n.internal,
            });
        }
        // Only rules on the bridge the network has now count: a network re-created behind
        // Bulkhead's back gets its rules again.
        let in_force = observed.rules_in_force(&n.name);
        if n.drop_outbound && !in_force.is_some_and(|r| r.egress_drop && r.host_drop) {
            prepare.push(Op::BlockEgress {
                network: n.name.clone(),
            });
        }
        if let Some(owner) = &n.owner {
            let mut want: Vec<String> = observed
                .containers
                .iter()
                .filter(|c| &c.service == owner)
                .filter_map(|c| c.addresses.get(&n.name).cloned())
                .collect();
            want.sort();
            if in_force.and_then(|r| r.ingress.as_ref()) != Some(&want) {
                prepare.push(Op::RestrictIngress {
                    network: n.name.clone(),
                    owner: owner.clone(),
                });
            }
        }
    }
    for v in &desired.volumes {
        if !observed.volumes.contains(v) {
            prepare.push(Op::CreateVolume { name: v.clone() });
        }
    }
    let mut cleanup = Vec::new();
    let mut rollouts: BTreeMap<String, Rollout> = BTreeMap::new();
    for (name, svc) in &desired.services {
        let mine: Vec<&ObservedContainer> = observed
            .containers
            .iter()
            .filter(|c| &c.service == name)
            .collect();
        let ops = rollout(svc, completes(desired, name), &mine);
        let deploys = ops.iter().any(|op| matches!(op, Op::Deploy { .. }));
        rollouts.insert(
            name.clone(),
            Rollout {
                service: name.clone(),
                ops,
                config: (deploys && !svc.rollout.is_default()).then(|| svc.rollout.clone()),
            },
        );
    }
    for c in observed
        .containers
        .iter()
        .filter(|c| !desired.services.contains_key(&c.service))
    {
        // No service label: not a replica but what an interrupted image build left (the
        // classic builder's temporary container carries the labels of the image it builds on).
        let why = if c.service.is_empty() {
            "left by an interrupted image build".to_string()
        } else {
            format!("service `{}` is no longer in the spec", c.service)
        };
        cleanup.push(Op::Remove {
            id: c.id.clone(),
            name: c.name.clone(),
            service: c.service.clone(),
            why,
        });
    }
    let wanted: BTreeSet<&str> = desired.networks.iter().map(|n| n.name.as_str()).collect();
    for n in observed
        .networks
        .iter()
        .filter(|n| !wanted.contains(n.as_str()))
    {
        cleanup.push(Op::RemoveNetwork { name: n.clone() });
    }
    // Rules on a bridge their network no longer has. A network whose bridge the engine cannot
    // name keeps them (nothing says they are stale); one removed above loses them with it.
    for r in &observed.rules {
        let exists = observed.networks.contains(&r.network);
        let why = match observed.bridges.get(&r.network) {
            Some(now) if now == &r.bridge => continue,
            Some(now) => format!("its network now has bridge {now}"),
            None if exists => continue,
            None => "its network is gone".to_string(),
        };
        if exists && !wanted.contains(r.network.as_str()) {
            continue;
        }
        cleanup.push(Op::RemoveRules {
            network: r.network.clone(),
            bridge: r.bridge.clone(),
            why,
        });
    }
    Plan {
        prepare,
        waves: waves(desired, rollouts),
        cleanup,
    }
}

/// True when a dependant waits for `service` with `service_completed_successfully`: it is a
/// job (a migration, a seed) that runs to completion, and a replica that exited with code 0
/// is done, not down.
pub fn completes(desired: &Desired, service: &str) -> bool {
    desired.services.values().any(|s| {
        s.depends_on
            .iter()
            .any(|(d, c)| d == service && *c == Condition::ServiceCompletedSuccessfully)
    })
}

/// Ops for one service: half-made and superseded containers go, missing replicas come, one
/// at a time, each new one verified ready before the old one it replaces is removed. A
/// current replica that runs but is not verified ready yet (its health check has not passed,
/// or it has not run its settle time) is adopted only once it is; until then the one it
/// replaces stays. For a job, a current replica that is running or exited with code 0 is left
/// alone; one that failed runs again.
fn rollout(svc: &DesiredService, job: bool, mine: &[&ObservedContainer]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let current = |c: &ObservedContainer| {
        c.release == Some(svc.release) && c.spec_hash.as_deref() == Some(svc.spec_hash.as_str())
    };
    let settled = |c: &ObservedContainer| {
        svc.settle_ms
            .is_some_and(|settle| c.running_for_ms.is_some_and(|ran| ran >= settle))
    };
    let ready = |c: &ObservedContainer| {
        if job {
            c.running || c.exit_code == Some(0)
        } else {
            c.running && !c.unhealthy && (c.healthy || settled(c))
        }
    };
    for replica in 1..=svc.replicas {
        let free = |c: &ObservedContainer, used: &BTreeSet<&str>| {
            c.replica == Some(replica) && !used.contains(c.id.as_str())
        };
        if let Some(c) = mine
            .iter()
            .find(|c| free(c, &used) && current(c) && ready(c))
        {
            used.insert(&c.id);
            continue;
        }
        // The one this slot replaces: a superseded replica still running; for a stop-first
        // service also one that ran and was stopped (by a rollout that did not finish), so
        // that it can serve again if its successor fails.
        let old = mine
            .iter()
            .find(|c| free(c, &used) && !current(c) && c.running)
            .or_else(|| {
                svc.stop_first.as_ref()?;
                mine.iter()
                    .find(|c| free(c, &used) && !current(c) && c.exit_code.is_some())
            })
            .copied();
        let adopt = mine
            .iter()
            .find(|c| !job && free(c, &used) && current(c) && c.running && !c.unhealthy)
            .copied();
        for c in old.iter().chain(adopt.iter()) {
            used.insert(&c.id);
        }
        ops.push(Op::Deploy {
            service: svc.name.clone(),
            release: svc.release,
            replica,
            replaces: old.map(|c| (c.id.clone(), c.name.clone())),
            adopt: adopt.map(|c| c.id.clone()),
            stop_first: svc.stop_first.clone().filter(|_| old.is_some()),
        });
    }
    for c in mine.iter().filter(|c| !used.contains(c.id.as_str())) {
        let why = if current(c) && c.replica.is_some_and(|r| r > svc.replicas) {
            "scaled down".to_string()
        } else if current(c) && job {
            "failed (exit code not 0); runs again".to_string()
        } else if current(c) {
            "not running or unhealthy; replaced".to_string()
        } else {
            format!("superseded by release {}", svc.release)
        };
        let op = Op::Remove {
            id: c.id.clone(),
            name: c.name.clone(),
            service: c.service.clone(),
            why,
        };
        // Stopped leftovers and current replicas the engine marks unhealthy go first (they
        // serve nothing, and free their slot's name); serving containers only once their
        // successors are ready.
        if c.running && !(current(c) && c.unhealthy) {
            ops.push(op)
        } else {
            ops.insert(0, op)
        }
    }
    ops
}

/// Group rollouts into waves: a service waits for the services it depends on.
fn waves(desired: &Desired, mut rollouts: BTreeMap<String, Rollout>) -> Vec<Vec<Rollout>> {
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pending: Vec<&str> = desired.services.keys().map(String::as_str).collect();
    // Specs are validated acyclic; the bound guards against a cycle anyway.
    for _ in 0..=desired.services.len() {
        pending.retain(|name| {
            let deps = &desired.services[*name].depends_on;
            let known: Option<Vec<usize>> = deps
                .iter()
                .filter(|(d, _)| desired.services.contains_key(d))
                .map(|(d, _)| level.get(d.as_str()).copied())
                .collect();
            match known {
                Some(levels) => {
                    level.insert(name, levels.into_iter().map(|l| l + 1).max().unwrap_or(0));
                    false
                }
                None => true,
            }
        });
    }
    for name in pending {
        level.insert(name, 0);
    }
    let depth = level.values().copied().max().map_or(0, |m| m + 1);
    let mut out: Vec<Vec<Rollout>> = vec![Vec::new(); depth];
    for (name, l) in level {
        if let Some(r) = rollouts.remove(name) {
            out[l].push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, release: u64, replicas: u32, deps: &[&str]) -> DesiredService {
        DesiredService {
            name: name.into(),
            release,
            spec_hash: format!("h{release}"),
            replicas,
            depends_on: deps
                .iter()
                .map(|d| (d.to_string(), Condition::ServiceHealthy))
                .collect(),
            stop_first: None,
            settle_ms: None,
            rollout: RolloutConfig::default(),
        }
    }

    fn desired(services: &[DesiredService]) -> Desired {
        Desired {
            project: "p".into(),
            services: services
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
            networks: vec![DesiredNetwork {
                name: "p-api-in".into(),
                internal: true,
                drop_outbound: false,
                owner: None,
            }],
            volumes: vec![],
        }
    }

    fn running(service: &str, release: u64, replica: u32) -> ObservedContainer {
        ObservedContainer {
            id: format!("{service}-{release}-{replica}"),
            name: format!("p-{service}-{replica}"),
            service: service.into(),
            release: Some(release),
            replica: Some(replica),
            spec_hash: Some(format!("h{release}")),
            running: true,
            unhealthy: false,
            healthy: true,
            running_for_ms: Some(60_000),
            exit_code: None,
            addresses: BTreeMap::new(),
        }
    }

    fn deployed(d: &Desired) -> Observed {
        Observed {
            containers: d
                .services
                .values()
                .flat_map(|s| (1..=s.replicas).map(|r| running(&s.name, s.release, r)))
                .collect(),
            networks: d.networks.iter().map(|n| n.name.clone()).collect(),
            bridges: d
                .networks
                .iter()
                .map(|n| (n.name.clone(), bridge_of(&n.name)))
                .collect(),
            volumes: vec![],
            rules: vec![],
        }
    }

    fn summary(p: &Plan) -> Vec<String> {
        p.ops()
            .iter()
            .map(|op| match op {
                Op::CreateNetwork { name, .. } => format!("net+ {name}"),
                Op::BlockEgress { network } => format!("block {network}"),
                Op::RestrictIngress { network, owner } => format!("ingress {network} -> {owner}"),
                Op::CreateVolume { name } => format!("vol+ {name}"),
                Op::Deploy {
                    service,
                    release,
                    replica,
                    replaces,
                    adopt,
                    stop_first,
                } => {
                    format!(
                        "{} {service}#{replica} r{release}{}{}",
                        adopt
                            .as_ref()
                            .map(|id| format!("adopt {id} as"))
                            .unwrap_or("deploy".into()),
                        replaces
                            .as_ref()
                            .map(|(id, _)| format!(" replacing {id}"))
                            .unwrap_or_default(),
                        if stop_first.is_some() {
                            " stop-first"
                        } else {
                            ""
                        }
                    )
                }
                Op::Remove { id, .. } => format!("rm {id}"),
                Op::RemoveNetwork { name } => format!("net- {name}"),
                Op::RemoveRules {
                    network, bridge, ..
                } => format!("unrule {network}@{bridge}"),
            })
            .collect()
    }

    #[test]
    fn fresh_deploy_goes_in_dependency_waves() {
        let d = desired(&[
            svc("web", 1, 1, &["api"]),
            svc("api", 1, 1, &["store"]),
            svc("store", 1, 2, &[]),
        ]);
        let p = plan(&d, &Observed::default());
        assert_eq!(
            summary(&p),
            [
                "net+ p-api-in",
                "deploy store#1 r1",
                "deploy store#2 r1",
                "deploy api#1 r1",
                "deploy web#1 r1"
            ]
        );
        assert_eq!(p.waves.len(), 3);
    }

    #[test]
    fn a_converged_project_plans_nothing() {
        let d = desired(&[svc("web", 1, 1, &["api"]), svc("api", 1, 3, &[])]);
        assert!(plan(&d, &deployed(&d)).is_empty());
    }

    #[test]
    fn only_the_changed_service_is_replaced_start_first() {
        let old = desired(&[svc("web", 1, 1, &["api"]), svc("api", 1, 2, &[])]);
        let new = desired(&[svc("web", 1, 1, &["api"]), svc("api", 2, 2, &[])]);
        let p = plan(&new, &deployed(&old));
        assert_eq!(
            summary(&p),
            [
                "deploy api#1 r2 replacing api-1-1",
                "deploy api#2 r2 replacing api-1-2"
            ]
        );
    }

    #[test]
    fn a_rollout_carries_its_shape_only_when_it_replaces_something_in_a_shape_of_its_own() {
        let shaped = RolloutConfig {
            parallelism: 2,
            ..RolloutConfig::default()
        };
        let mut api = svc("api", 2, 3, &[]);
        api.rollout = shaped.clone();
        let old = desired(&[svc("api", 1, 3, &[])]);
        let p = plan(&desired(&[api.clone()]), &deployed(&old));
        assert_eq!(p.waves[0][0].config, Some(shaped));
        // Same ops, same order: the runner batches them.
        assert_eq!(summary(&p).len(), 3);
        // Converged: nothing to shape.
        let now = desired(&[api]);
        assert_eq!(plan(&now, &deployed(&now)).waves[0][0].config, None);
        // Bulkhead's own shape is not repeated in the plan.
        let p = plan(&desired(&[svc("api", 2, 3, &[])]), &deployed(&old));
        assert_eq!(p.waves[0][0].config, None);
    }

    #[test]
    fn crash_leftovers_are_cleaned_and_finished() {
        let d = desired(&[svc("api", 2, 2, &[])]);
        let mut half = running("api", 2, 2);
        half.id = "half".into();
        half.running = false;
        let observed = Observed {
            containers: vec![
                running("api", 2, 1),
                half,
                running("api", 1, 2),
                running("gone", 1, 1),
            ],
            networks: vec!["p-api-in".into(), "p-old-in".into()],
            ..Observed::default()
        };
        let p = plan(&d, &observed);
        assert_eq!(
            summary(&p),
            [
                "rm half",
                "deploy api#2 r2 replacing api-1-2",
                "rm gone-1-1",
                "net- p-old-in"
            ]
        );
        let mut after = deployed(&d);
        after.networks = vec!["p-api-in".into()];
        assert!(plan(&d, &after).is_empty(), "the plan converges");
    }

    #[test]
    fn scale_down_and_unhealthy_replicas() {
        let d = desired(&[svc("api", 1, 1, &[])]);
        let mut sick = running("api", 1, 1);
        sick.unhealthy = true;
        let observed = Observed {
            containers: vec![sick, running("api", 1, 2)],
            networks: vec!["p-api-in".into()],
            ..Observed::default()
        };
        assert_eq!(
            summary(&plan(&d, &observed)),
            ["rm api-1-1", "deploy api#1 r1", "rm api-1-2"]
        );
    }

    #[test]
    fn rollback_is_a_deploy_of_the_older_release() {
        let now = desired(&[svc("api", 3, 1, &[])]);
        let back = desired(&[svc("api", 2, 1, &[])]);
        assert_eq!(
            summary(&plan(&back, &deployed(&now))),
            ["deploy api#1 r2 replacing api-3-1"]
        );
    }

    fn bridge_of(network: &str) -> String {
        format!("br-{network}")
    }

    /// Every rule of `network` in place on `bridge`, with the ingress allow set `ingress`.
    fn bound(network: &str, bridge: &str, ingress: Option<&[&str]>) -> ObservedRules {
        ObservedRules {
            network: network.into(),
            bridge: bridge.into(),
            egress_drop: true,
            host_drop: true,
            ingress: ingress.map(|set| set.iter().map(|a| a.to_string()).collect()),
        }
    }

    #[test]
    fn egress_blocks_are_planned_until_observed() {
        let mut d = desired(&[]);
        d.networks.push(DesiredNetwork {
            name: "p-web-pub".into(),
            internal: false,
            drop_outbound: true,
            owner: None,
        });
        let mut o = deployed(&d);
        assert_eq!(summary(&plan(&d, &o)), ["block p-web-pub"]);
        let mut only_forward = bound("p-web-pub", &bridge_of("p-web-pub"), None);
        only_forward.host_drop = false;
        o.rules.push(only_forward);
        assert_eq!(
            summary(&plan(&d, &o)),
            ["block p-web-pub"],
            "the drop of connections to the host is missing"
        );
        o.rules[0].host_drop = true;
        assert!(plan(&d, &o).is_empty());
    }

    #[test]
    fn ingress_allow_sets_follow_the_owner_addresses() {
        let mut d = desired(&[svc("api", 1, 1, &[])]);
        d.networks[0].owner = Some("api".into());
        let mut o = deployed(&d);
        o.containers[0]
            .addresses
            .insert("p-api-in".into(), "10.1.0.2".into());
        assert_eq!(summary(&plan(&d, &o)), ["ingress p-api-in -> api"]);
        let br = bridge_of("p-api-in");
        o.rules = vec![bound("p-api-in", &br, Some(&["10.1.0.9"]))];
        assert_eq!(
            summary(&plan(&d, &o)),
            ["ingress p-api-in -> api"],
            "stale set"
        );
        o.rules = vec![bound("p-api-in", &br, Some(&["10.1.0.2"]))];
        assert!(plan(&d, &o).is_empty());
    }

    /// The shop's shape: `web` published (its `-pub` network drops outbound), `api` behind its
    /// one-way ingress network, rules in place on every bridge.
    fn firewalled_shop() -> (Desired, Observed) {
        let mut d = desired(&[svc("web", 1, 1, &["api"]), svc("api", 1, 1, &[])]);
        d.networks[0].owner = Some("api".into());
        d.networks[0].drop_outbound = true;
        d.networks.push(DesiredNetwork {
            name: "p-web-pub".into(),
            internal: false,
            drop_outbound: true,
            owner: None,
        });
        let mut o = deployed(&d);
        for c in &mut o.containers {
            c.addresses
                .insert("p-api-in".into(), format!("10.1.0.{}", c.name.len()));
        }
        let api_ip = o
            .containers
            .iter()
            .find(|c| c.service == "api")
            .and_then(|c| c.addresses.get("p-api-in").cloned())
            .expect("api address");
        o.rules = vec![
            bound("p-api-in", &bridge_of("p-api-in"), Some(&[api_ip.as_str()])),
            bound("p-web-pub", &bridge_of("p-web-pub"), None),
        ];
        assert!(plan(&d, &o).is_empty(), "converged");
        (d, o)
    }

    #[test]
    fn a_container_without_a_service_label_is_removed_as_a_build_leftover() {
        let d = desired(&[svc("api", 1, 1, &[])]);
        let mut o = deployed(&d);
        o.containers.push(ObservedContainer {
            id: "tmp".into(),
            name: "eager_turing".into(),
            service: String::new(),
            release: None,
            replica: None,
            spec_hash: None,
            running: false,
            ..running("", 0, 0)
        });
        let p = plan(&d, &o);
        assert_eq!(summary(&p), ["rm tmp"]);
        assert!(matches!(
            &p.cleanup[0],
            Op::Remove { why, .. } if why == "left by an interrupted image build"
        ));
    }

    #[test]
    fn networks_removed_behind_our_back_get_their_rules_again() {
        let (d, before) = firewalled_shop();
        // `docker rm -f` of the containers and `docker network rm` (or prune) of the networks:
        // only the rules are left, on bridges that are gone.
        let gone = Observed {
            rules: before.rules.clone(),
            ..Observed::default()
        };
        assert_eq!(
            summary(&plan(&d, &gone)),
            [
                "net+ p-api-in",
                "block p-api-in",
                "ingress p-api-in -> api",
                "net+ p-web-pub",
                "block p-web-pub",
                "deploy api#1 r1",
                "deploy web#1 r1",
                "unrule p-api-in@br-p-api-in",
                "unrule p-web-pub@br-p-web-pub"
            ]
        );
        let p = plan(&d, &gone);
        let why: Vec<&str> = p
            .cleanup
            .iter()
            .filter_map(|op| match op {
                Op::RemoveRules { why, .. } => Some(why.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(why, ["its network is gone", "its network is gone"]);

        // Re-created under the same names (by hand, or by a run that then failed): new
        // bridges, the old rules still listed under the networks' names.
        let mut recreated = before.clone();
        for b in recreated.bridges.values_mut() {
            b.push_str("-2");
        }
        let p = plan(&d, &recreated);
        assert_eq!(
            summary(&p),
            [
                "block p-api-in",
                "ingress p-api-in -> api",
                "block p-web-pub",
                "unrule p-api-in@br-p-api-in",
                "unrule p-web-pub@br-p-web-pub"
            ]
        );
        assert!(matches!(
            &p.cleanup[0],
            Op::RemoveRules { why, .. } if why == "its network now has bridge br-p-api-in-2"
        ));

        // The rules moved to the new bridges and the old ones taken out: converged.
        let mut fixed = recreated.clone();
        for r in &mut fixed.rules {
            r.bridge.push_str("-2");
        }
        assert!(plan(&d, &fixed).is_empty());
        // Moved, but the old bridge's rules still there: only those are work.
        fixed.rules.extend(before.rules.clone());
        assert_eq!(
            summary(&plan(&d, &fixed)),
            [
                "unrule p-api-in@br-p-api-in",
                "unrule p-web-pub@br-p-web-pub"
            ]
        );
    }

    #[test]
    fn stale_rules_of_networks_no_longer_wanted() {
        let d = desired(&[]);
        let mut o = deployed(&d);
        o.networks.push("p-old-in".into());
        o.bridges.insert("p-old-in".into(), bridge_of("p-old-in"));
        o.rules = vec![
            bound("p-old-in", &bridge_of("p-old-in"), None),
            bound("p-old-in", "br-older", None),
            bound("p-gone-in", "br-gone", Some(&[])),
        ];
        assert_eq!(
            summary(&plan(&d, &o)),
            ["net- p-old-in", "unrule p-gone-in@br-gone"],
            "a network being removed loses every rule with it"
        );
    }

    #[test]
    fn a_network_whose_bridge_is_unknown_keeps_its_rules() {
        let (d, mut o) = firewalled_shop();
        o.bridges.remove("p-web-pub");
        // Nothing says the rules are stale; nothing says they protect it either.
        assert_eq!(summary(&plan(&d, &o)), ["block p-web-pub"]);
    }

    #[test]
    fn a_job_that_completed_is_done_and_one_that_failed_runs_again() {
        let mut web = svc("web", 1, 1, &[]);
        web.depends_on = vec![("migrate".into(), Condition::ServiceCompletedSuccessfully)];
        let d = desired(&[svc("migrate", 1, 1, &[]), web]);
        assert!(completes(&d, "migrate"));
        assert!(!completes(&d, "web"));
        let mut o = deployed(&d);
        let job = o
            .containers
            .iter_mut()
            .find(|c| c.service == "migrate")
            .expect("job");
        job.running = false;
        job.exit_code = Some(0);
        assert!(plan(&d, &o).is_empty(), "exited 0: done");
        let job = o
            .containers
            .iter_mut()
            .find(|c| c.service == "migrate")
            .expect("job");
        job.exit_code = Some(3);
        assert_eq!(
            summary(&plan(&d, &o)),
            ["rm migrate-1-1", "deploy migrate#1 r1"],
            "failed: removed, then run again"
        );
        // The same exited container of a service nobody waits on to complete is down.
        let mut web = svc("web", 1, 1, &[]);
        web.depends_on = vec![("migrate".into(), Condition::ServiceHealthy)];
        let d = desired(&[svc("migrate", 1, 1, &[]), web]);
        let job = o
            .containers
            .iter_mut()
            .find(|c| c.service == "migrate")
            .expect("job");
        job.exit_code = Some(0);
        assert_eq!(
            summary(&plan(&d, &o)),
            ["rm migrate-1-1", "deploy migrate#1 r1"]
        );
    }

    #[test]
    fn a_stateful_service_replaces_stop_first() {
        let old = desired(&[svc("db", 1, 1, &[])]);
        let mut db = svc("db", 2, 1, &[]);
        db.stop_first = Some("writes volume `p-data` at /data".into());
        let new = desired(&[db.clone()]);
        let p = plan(&new, &deployed(&old));
        assert_eq!(summary(&p), ["deploy db#1 r2 replacing db-1-1 stop-first"]);
        // Killed after the old one stopped: it is still the one replaced (it serves again
        // if its successor fails), not a leftover removed first.
        let mut o = deployed(&old);
        o.containers[0].running = false;
        o.containers[0].exit_code = Some(0);
        assert_eq!(
            summary(&plan(&new, &o)),
            ["deploy db#1 r2 replacing db-1-1 stop-first"]
        );
        // A stateless service's stopped leftover is removed, not restarted.
        let stateless = desired(&[svc("db", 2, 1, &[])]);
        assert_eq!(
            summary(&plan(&stateless, &o)),
            ["rm db-1-1", "deploy db#1 r2"]
        );
        // A fresh deploy has nothing to stop first.
        assert_eq!(
            summary(&plan(&new, &Observed::default())),
            ["net+ p-api-in", "deploy db#1 r2"]
        );
    }

    #[test]
    fn a_replica_is_adopted_only_once_verified_ready() {
        let old = desired(&[svc("web", 1, 1, &[])]);
        let new = desired(&[svc("web", 2, 1, &[])]);
        // Killed mid-roll: the new replica runs, its health check has not passed yet.
        let mut o = deployed(&old);
        let mut starting = running("web", 2, 1);
        starting.healthy = false;
        o.containers.push(starting.clone());
        assert_eq!(
            summary(&plan(&new, &o)),
            ["adopt web-2-1 as web#1 r2 replacing web-1-1"]
        );
        // Once healthy, the old one goes.
        o.containers[1].healthy = true;
        assert_eq!(summary(&plan(&new, &o)), ["rm web-1-1"]);
        // An unhealthy one is not adopted: it is replaced, the old one kept until then.
        o.containers[1].healthy = false;
        o.containers[1].unhealthy = true;
        assert_eq!(
            summary(&plan(&new, &o)),
            ["rm web-2-1", "deploy web#1 r2 replacing web-1-1"]
        );
    }

    #[test]
    fn without_a_health_check_ready_means_settled() {
        let mut web = svc("web", 1, 1, &[]);
        web.settle_ms = Some(3_000);
        let d = desired(&[web]);
        let mut o = deployed(&d);
        o.containers[0].healthy = false;
        o.containers[0].running_for_ms = Some(2_999);
        assert_eq!(summary(&plan(&d, &o)), ["adopt web-1-1 as web#1 r1"]);
        o.containers[0].running_for_ms = None;
        assert_eq!(summary(&plan(&d, &o)), ["adopt web-1-1 as web#1 r1"]);
        o.containers[0].running_for_ms = Some(3_000);
        assert!(plan(&d, &o).is_empty());
        // A service with a health check is never ready by time alone.
        let d = desired(&[svc("web", 1, 1, &[])]);
        assert_eq!(summary(&plan(&d, &o)), ["adopt web-1-1 as web#1 r1"]);
    }
}
