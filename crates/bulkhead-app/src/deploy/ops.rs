//! The user-facing deploy operations: up, plan, down, ps, releases, rollback, logs — each
//! a composition of check, store and reconcile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use bulkhead_core::deploy::{Desired, DesiredService, Plan, plan};
use bulkhead_core::spec::Project;
use bulkhead_core::spec::rollout::RolloutConfig;
use bulkhead_core::verdict::Verdict;
use bulkhead_ports::{ContainerInfo, ContainerRuntime, Firewall, LabelFilter, Release, Store};

use super::{DeployError, Deployer, UpReport};
use crate::clock::now_secs;
use crate::project::ProjectOptions;

/// Open and check; a refused spec stops here, before anything is built or created.
pub fn checked(opts: &ProjectOptions) -> Result<(Project, Verdict), DeployError> {
    let (project, verdict) = crate::check::check(opts)?;
    if !verdict.deployable {
        let count = verdict.refusals().count();
        return Err(DeployError::Refused {
            count,
            verdict: Box::new(verdict),
        });
    }
    Ok((project, verdict))
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// `up`: check, resolve images, record releases (durably), reconcile.
    pub async fn up(self: &Arc<Self>, opts: &ProjectOptions) -> Result<UpReport, DeployError> {
        let (project, verdict) = checked(opts)?;
        let actor = self.actor.clone();
        self.up_checked(&project, verdict, &actor, &opts.env).await
    }

    /// `up` of a project already opened and checked (its verdict deployable), recording
    /// `actor` as the author of new releases.
    pub async fn up_checked(
        self: &Arc<Self>,
        project: &Project,
        verdict: Verdict,
        actor: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<UpReport, DeployError> {
        let project = project.clone();
        self.runtime.ping().await?;
        let prepared = self.prepare(&project, &verdict, Some(actor), env).await?;
        let releases = self.record(&project, &prepared, now_secs(), actor).await?;
        let (plan, outcome) = self.reconcile(&project.name).await?;
        Ok(UpReport {
            verdict,
            releases,
            plan,
            outcome,
        })
    }

    /// Observe, plan and run against the store's desired state; services whose active release
    /// carries waivers its activator may no longer grant are held (left as they are, reported
    /// in the outcome).
    pub async fn reconcile(
        self: &Arc<Self>,
        project: &str,
    ) -> Result<(Plan, super::Outcome), DeployError> {
        self.reconcile_with(project, &BTreeMap::new()).await
    }

    /// [`Deployer::reconcile`], the services in `rolling_back` replaced as that says.
    pub async fn reconcile_with(
        self: &Arc<Self>,
        project: &str,
        rolling_back: &BTreeMap<String, RolloutConfig>,
    ) -> Result<(Plan, super::Outcome), DeployError> {
        let (desired, releases) = self.desired_with(project, rolling_back).await?;
        let configs = desired
            .services
            .iter()
            .map(|(name, s)| (name.clone(), s.rollout.clone()))
            .collect();
        let held = self
            .held(project, releases.values().map(|(r, _)| r))
            .await?;
        let (mut observed, listed) = self.observe(project).await?;
        let probes = releases
            .iter()
            .filter_map(|(service, (_, spec))| Some((service.clone(), spec.probe.clone()?)))
            .collect();
        self.verify_starting(project, &mut observed, &probes)
            .await?;
        let mut plan = plan(&desired, &observed);
        super::activation::hold_back(&mut plan, &held);
        let paused = self.paused(project, &releases).await?;
        if !paused.is_empty() {
            let names: Vec<&str> = paused.iter().map(String::as_str).collect();
            super::activation::hold_back_services(&mut plan, &names);
            for s in &paused {
                self.say(s, "left as it is: its rollout was paused (failure_action: pause) until the next `up` or `rollback`");
            }
        }
        let mut owned: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for n in &desired.networks {
            if let Some(o) = &n.owner {
                owned.entry(o.clone()).or_default().push(n.name.clone());
            }
        }
        let mut outcome = self
            .run(
                project,
                &plan,
                super::runner::RunData {
                    releases,
                    owned,
                    gate: None,
                    listed: Some(listed),
                    configs,
                },
            )
            .await?;
        outcome.held = held;
        Ok((plan, outcome))
    }

    /// `plan`: what `up` would do, without recording or touching anything (builds excepted:
    /// an image is built when its context changed, to know its digest).
    pub async fn plan_only(
        self: &Arc<Self>,
        opts: &ProjectOptions,
    ) -> Result<(Verdict, Plan), DeployError> {
        let (project, verdict) = checked(opts)?;
        let prepared = self.prepare(&project, &verdict, None, &opts.env).await?;
        let active = self.store.active(&project.name).await?;
        let mut desired = Desired {
            project: project.name.clone(),
            networks: prepared.state.networks.clone(),
            volumes: prepared.state.volumes.clone(),
            ..Desired::default()
        };
        for c in &prepared.candidates {
            let all = self.store.releases(&project.name, &c.service).await?;
            let current = active
                .iter()
                .find(|r| r.service == c.service && r.spec_hash == c.spec_hash);
            let release = current.map_or_else(
                || all.iter().map(|r| r.number).max().unwrap_or(0) + 1,
                |r| r.number,
            );
            desired.services.insert(
                c.service.clone(),
                DesiredService {
                    name: c.service.clone(),
                    release,
                    spec_hash: c.spec_hash.clone(),
                    replicas: c.spec.replicas,
                    depends_on: c.spec.depends_on.clone(),
                    stop_first: c.spec.stop_first(),
                    settle_ms: c
                        .spec
                        .settle()
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    rollout: c.spec.update_config(),
                },
            );
        }
        let (mut observed, _) = self.observe(&project.name).await?;
        let probes = prepared
            .candidates
            .iter()
            .filter_map(|c| Some((c.service.clone(), c.spec.probe.clone()?)))
            .collect();
        self.verify_starting(&project.name, &mut observed, &probes)
            .await?;
        Ok((verdict, plan(&desired, &observed)))
    }

    /// `down`: stop every container of the project in parallel (each within its grace period),
    /// remove containers, firewall rules and networks, and volumes when asked. Releases stay.
    pub async fn down(
        self: &Arc<Self>,
        project: &str,
        volumes: bool,
    ) -> Result<super::Outcome, DeployError> {
        let filter = LabelFilter::project(project);
        let mut containers = self.runtime.list_containers(&filter).await?;
        // And what an interrupted build of its images left (see `observe`).
        let built = self
            .runtime
            .list_containers(&super::observe::built_by(project))
            .await?;
        containers.extend(built.into_iter().filter(|c| {
            !c.labels
                .contains_key(bulkhead_ports::runtime::LABEL_PROJECT)
        }));
        let graces: std::collections::BTreeMap<String, u64> = match self.desired(project).await {
            Ok((_, releases)) => releases
                .into_iter()
                .map(|(s, (_, spec))| (s, spec.template.stop_grace_secs))
                .collect(),
            Err(_) => Default::default(),
        };
        let mut set = JoinSet::new();
        for c in containers {
            let me = Arc::clone(self);
            let service = c
                .labels
                .get(bulkhead_ports::runtime::LABEL_SERVICE)
                .cloned()
                .unwrap_or_default();
            let grace = if c.state == "running" {
                graces.get(&service).copied().unwrap_or(10)
            } else {
                0
            };
            set.spawn(async move {
                me.stop_and_remove(&c.id, &c.name, grace)
                    .await
                    .map(|()| c.name)
            });
        }
        let mut outcome = super::Outcome::default();
        while let Some(r) = set.join_next().await {
            let name = r.map_err(|e| DeployError::NotReady {
                what: "stop".into(),
                name: project.into(),
                reason: e.to_string(),
            })??;
            outcome.removed.push(name);
        }
        self.firewall.unblock_project(project)?;
        self.bridges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(project);
        // Networks (then volumes) are independent of each other: removed concurrently.
        let networks = self.runtime.list_networks(&filter).await?;
        let removals = networks
            .into_iter()
            .map(|n| async move { self.runtime.remove_network(&n.name).await.map(|()| n.name) });
        for removed in futures_bounded(removals).await {
            outcome.networks_removed.push(removed?);
        }
        if volumes {
            let volumes = self.runtime.list_volumes(&filter).await?;
            let removals = volumes
                .into_iter()
                .map(|v| async move { self.runtime.remove_volume(&v.name).await });
            for removed in futures_bounded(removals).await {
                removed?;
            }
        }
        let services = self.active_services(project).await?;
        self.store.deactivate(project, &services).await?;
        self.sweep_secrets(project).await?;
        Ok(outcome)
    }

    /// `scale SERVICE N`: the service's replica count until the next `up`. Durable before it
    /// returns; `false` (and nothing written) when it already is `replicas`. Converging is the
    /// reconciler's job.
    pub async fn scale(
        &self,
        project: &str,
        service: &str,
        replicas: u32,
    ) -> Result<bool, DeployError> {
        let mut record = self
            .store
            .get_project(project)
            .await?
            .ok_or_else(|| DeployError::UnknownProject(project.to_string()))?;
        let active = self.store.active(project).await?;
        let release = active
            .iter()
            .find(|r| r.service == service)
            .ok_or_else(|| DeployError::NoRelease {
                service: service.to_string(),
                number: 0,
            })?;
        let spec: super::StoredSpec = serde_json::from_str(&release.spec).map_err(|e| {
            bulkhead_ports::StoreError::Corrupt {
                reason: format!("release {} of {service}: {e}", release.number),
            }
        })?;
        let mut state: super::ProjectState =
            serde_json::from_str(&record.state).unwrap_or_default();
        let current = state.scale.get(service).copied().unwrap_or(spec.replicas);
        if current == replicas {
            return Ok(false);
        }
        if replicas > 1
            && !spec.share_volumes
            && let Some(what) = spec.template.shared_writable()
        {
            return Err(DeployError::Policy {
                service: service.to_string(),
                reason: format!(
                    "{replicas} replicas would all write {what} at once; the service scales to 1 at most"
                ),
                hint: "declare `x-bulkhead: { share_volumes: true }` in the spec if the application coordinates its writers, then `up`".into(),
            });
        }
        if replicas == spec.replicas {
            state.scale.remove(service);
        } else {
            state.scale.insert(service.to_string(), replicas);
        }
        record.state = serde_json::to_string(&state).unwrap_or_default();
        self.store.put_project(&record).await?;
        Ok(true)
    }

    /// A secret got a new version: every active release that delivers an older version of it
    /// is succeeded by a release delivering `version` (same image, same everything else), and
    /// the project converges — start-first, as any deploy. Returns the services rolled.
    /// The active releases that use `secret` and carry waivers: (service, release number,
    /// waived rule ids). Setting the secret rolls each, creating containers with the waivers.
    pub async fn waived_users_of_secret(
        &self,
        project: &str,
        secret: &str,
    ) -> Result<Vec<(String, u64, Vec<String>)>, DeployError> {
        let mut out = Vec::new();
        for r in self.store.active(project).await? {
            if r.waivers.is_empty() {
                continue;
            }
            let spec: super::StoredSpec =
                serde_json::from_str(&r.spec).map_err(|e| bulkhead_ports::StoreError::Corrupt {
                    reason: format!("release {} of {}: {e}", r.number, r.service),
                })?;
            if spec.secrets.iter().any(|u| u.name == secret) {
                let rules = r.waivers.iter().map(|(id, _)| id.clone()).collect();
                out.push((r.service.clone(), r.number, rules));
            }
        }
        Ok(out)
    }

    pub async fn roll_secret(
        self: &Arc<Self>,
        project: &str,
        secret: &str,
        version: u64,
        actor: &str,
    ) -> Result<Vec<String>, DeployError> {
        let mut rolled = Vec::new();
        // A secret roll grants nothing new: each rolled release keeps the activator of the one
        // it succeeds (whose waivers, if any, it carries unchanged).
        let activators = self.store.activated_by(project).await?;
        for r in self.store.active(project).await? {
            let mut spec: super::StoredSpec =
                serde_json::from_str(&r.spec).map_err(|e| bulkhead_ports::StoreError::Corrupt {
                    reason: format!("release {} of {}: {e}", r.number, r.service),
                })?;
            let mut changed = false;
            for u in spec.secrets.iter_mut().filter(|u| u.name == secret) {
                if u.version != version {
                    u.version = version;
                    changed = true;
                }
            }
            if !changed {
                continue;
            }
            let release = Release {
                project: project.to_string(),
                service: r.service.clone(),
                number: 0,
                spec_hash: super::desired::spec_hash(&spec, &r.image),
                image: r.image.clone(),
                spec: serde_json::to_string(&spec).unwrap_or_default(),
                waivers: r.waivers.clone(),
                created_at: bulkhead_core::clock::rfc3339(now_secs()),
                created_by: actor.to_string(),
            };
            let by = activators
                .get(&r.service)
                .filter(|by| !by.is_empty())
                .map_or(actor, String::as_str);
            self.store.record_release(release, by).await?;
            rolled.push(r.service);
        }
        if !rolled.is_empty() {
            self.reconcile(project).await?;
        }
        Ok(rolled)
    }

    /// `ps`: the project's containers.
    pub async fn ps(&self, project: &str) -> Result<Vec<ContainerInfo>, DeployError> {
        let mut list = self
            .runtime
            .list_containers(&LabelFilter::project(project))
            .await?;
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// `releases SERVICE`: every release, oldest first, and which one is active; an error
    /// naming the project or the service when it is not known.
    pub async fn releases(
        &self,
        project: &str,
        service: &str,
    ) -> Result<(Vec<Release>, Option<u64>), DeployError> {
        self.known_service(project, service).await?;
        let all = self.store.releases(project, service).await?;
        let active = self
            .store
            .active(project)
            .await?
            .into_iter()
            .find(|r| r.service == service)
            .map(|r| r.number);
        Ok((all, active))
    }

    /// The names of the project's services with an active release, sorted, each once.
    async fn active_services(&self, project: &str) -> Result<Vec<String>, DeployError> {
        let mut names: Vec<String> = self
            .store
            .active(project)
            .await?
            .into_iter()
            .map(|r| r.service)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Refuse a project the store does not know, or a service of it that never had a release.
    async fn known_service(&self, project: &str, service: &str) -> Result<(), DeployError> {
        if self.store.get_project(project).await?.is_none() {
            return Err(DeployError::UnknownProject(project.to_string()));
        }
        if !self.store.releases(project, service).await?.is_empty() {
            return Ok(());
        }
        let names = self.active_services(project).await?;
        let known = if names.is_empty() {
            String::new()
        } else {
            format!(" (its services: {})", names.join(", "))
        };
        Err(DeployError::UnknownService {
            project: project.to_string(),
            service: service.to_string(),
            known,
        })
    }

    /// `rollback SERVICE [--to N]`: re-activate release N (default: the one before the active
    /// one), recording `actor` as its activator, and converge to it.
    pub async fn rollback(
        self: &Arc<Self>,
        project: &str,
        service: &str,
        to: Option<u64>,
        actor: &str,
    ) -> Result<(u64, Plan, super::Outcome), DeployError> {
        let (all, active) = self.releases(project, service).await?;
        let target = rollback_target(service, &all, active, to)?.number;
        // The release it leaves says how (its `rollback_config`), as Compose's own does.
        let leaving = all
            .iter()
            .find(|r| Some(r.number) == active)
            .and_then(|r| serde_json::from_str::<super::StoredSpec>(&r.spec).ok())
            .map(|s| s.rollback_config())
            .unwrap_or_default();
        self.store.activate(project, service, target, actor).await?;
        let rolling_back = BTreeMap::from([(service.to_string(), leaving)]);
        let (plan, outcome) = self.reconcile_with(project, &rolling_back).await?;
        Ok((target, plan, outcome))
    }

    /// `logs SERVICE`: the last lines of each replica's output.
    pub async fn logs(
        &self,
        project: &str,
        service: &str,
        tail: Option<usize>,
    ) -> Result<Vec<(String, Vec<String>)>, DeployError> {
        self.known_service(project, service).await?;
        let mut filter = LabelFilter::project(project);
        filter.0.insert(
            bulkhead_ports::runtime::LABEL_SERVICE.to_string(),
            service.to_string(),
        );
        let mut out = Vec::new();
        for c in self.ps_filtered(&filter).await? {
            out.push((c.name.clone(), self.runtime.logs(&c.id, tail).await?));
        }
        Ok(out)
    }

    async fn ps_filtered(&self, filter: &LabelFilter) -> Result<Vec<ContainerInfo>, DeployError> {
        let mut list = self.runtime.list_containers(filter).await?;
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }
}

/// Run `futures` at most `DOWN_PARALLELISM` at once, all to their end; their results in order.
async fn futures_bounded<T>(futures: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
    use futures_util::StreamExt;
    futures_util::stream::iter(futures)
        .buffered(DOWN_PARALLELISM)
        .collect()
        .await
}

/// Engine removals `down` runs at once.
const DOWN_PARALLELISM: usize = 8;

/// Poll interval for `logs -f`.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// The release a rollback of `service` goes to: `to`, or the one before the `active` one;
/// an error saying why when there is none (no release at all, none active, the active one the
/// first, or no release `to`).
pub fn rollback_target<'a>(
    service: &str,
    all: &'a [Release],
    active: Option<u64>,
    to: Option<u64>,
) -> Result<&'a Release, DeployError> {
    let nothing = |reason: String| DeployError::NoRollback {
        service: service.to_string(),
        reason,
    };
    if all.is_empty() {
        return Err(nothing(
            "it has no releases yet (`up` makes the first)".into(),
        ));
    }
    let target = match (to, active) {
        (Some(n), _) => n,
        (None, None) => {
            return Err(nothing(
                "it has no active release (the project is down); name one with --to N".into(),
            ));
        }
        (None, Some(current)) => all
            .iter()
            .map(|r| r.number)
            .filter(|n| *n < current)
            .max()
            .ok_or_else(|| nothing(format!("release {current} is its first")))?,
    };
    all.iter()
        .find(|r| r.number == target)
        .ok_or_else(|| DeployError::NoRelease {
            service: service.to_string(),
            number: target,
        })
}
