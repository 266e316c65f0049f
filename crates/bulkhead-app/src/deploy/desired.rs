//! The desired state: from a checked spec to candidate releases (images resolved and pinned,
//! the image's user resolved through its /etc/passwd, checked and pinned, templates hashed), recorded in the store; and back from the store
//! to the reconciler's `Desired`.

use std::collections::BTreeMap;
use std::path::Path;

use bulkhead_core::clock::rfc3339;
use bulkhead_core::deploy::{
    Desired, DesiredNetwork, DesiredService, HealthTemplate, MountTemplate, template,
};
use bulkhead_core::hardening::Outcome;
use bulkhead_core::secgroups::NetworkRole;
use bulkhead_core::spec::Project;
use bulkhead_core::spec::rollout::{Hook, Order, RolloutConfig};
use bulkhead_core::verdict::Verdict;
use bulkhead_ports::{ContainerRuntime, Firewall, ProjectRecord, Release};

use super::{DeployError, Deployer, ProjectState, StoredSpec, env, images};

/// One service's release-to-be.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub service: String,
    pub image: String,
    pub spec: StoredSpec,
    pub spec_hash: String,
    pub waivers: Vec<(String, String)>,
}

/// Everything `up` needs after the spec has been checked and the images resolved.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub candidates: Vec<Candidate>,
    pub state: ProjectState,
}

/// The release's hash: the template's, and the secret versions it delivers, its settle time
/// and its volume sharing when they are set (so a service without them keeps the hash it
/// always had).
pub(super) fn spec_hash(spec: &StoredSpec, image: &str) -> String {
    let template = spec.template.hash(image);
    if spec.secrets.is_empty()
        && spec.settle_ms.is_none()
        && !spec.share_volumes
        && spec.restart_after.is_empty()
        && spec.update.is_none()
        && spec.rollback.is_none()
        && spec.post_start.is_empty()
        && spec.pre_stop.is_empty()
    {
        return template;
    }
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(template.as_bytes());
    if !spec.secrets.is_empty() {
        h.update(b"\nsecrets:");
        h.update(serde_json::to_vec(&spec.secrets).unwrap_or_default());
    }
    if let Some(ms) = spec.settle_ms {
        h.update(format!("\nsettle:{ms}").as_bytes());
    }
    if spec.share_volumes {
        h.update(b"\nshare_volumes");
    }
    // A release records what its replicas restart after; declaring it is a new release.
    if !spec.restart_after.is_empty() {
        h.update(b"\nrestart_after:");
        h.update(serde_json::to_vec(&spec.restart_after).unwrap_or_default());
    }
    // How it rolls out and its hooks are part of the release (a change rolls it out).
    for (what, set) in [
        ("update", spec.update.as_ref().map(serde_json::to_vec)),
        ("rollback", spec.rollback.as_ref().map(serde_json::to_vec)),
        (
            "post_start",
            (!spec.post_start.is_empty()).then(|| serde_json::to_vec(&spec.post_start)),
        ),
        (
            "pre_stop",
            (!spec.pre_stop.is_empty()).then(|| serde_json::to_vec(&spec.pre_stop)),
        ),
    ] {
        if let Some(bytes) = set {
            h.update(format!("\n{what}:").as_bytes());
            h.update(bytes.unwrap_or_default());
        }
    }
    hex::encode(h.finalize())
}

/// The image's `VOLUME` paths that no mount of the template covers (a mount at the same
/// path, or above it, takes its place, as on the engine).
fn uncovered_volumes(image_volumes: &[String], mounts: &[MountTemplate]) -> Vec<String> {
    let targets: Vec<&str> = mounts
        .iter()
        .map(|m| match m {
            MountTemplate::Bind { target, .. }
            | MountTemplate::Volume { target, .. }
            | MountTemplate::Tmpfs { target, .. } => target.trim_end_matches('/'),
        })
        .collect();
    image_volumes
        .iter()
        .filter(|v| {
            let v = v.trim_end_matches('/');
            !targets
                .iter()
                .any(|t| *t == v || t.is_empty() || v.starts_with(&format!("{t}/")))
        })
        .cloned()
        .collect()
}

/// The exec-form probe for a health test: the test run directly for fast readiness.
pub fn probe_of(test: &[String]) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, [cmd])) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
        }
        _ => None,
    }
}

fn project_state(project: &Project, verdict: &Verdict) -> ProjectState {
    let networks = verdict
        .topology
        .networks
        .iter()
        .map(|n| DesiredNetwork {
            name: n.name.clone(),
            internal: n.internal,
            drop_outbound: n.drop_outbound,
            owner: (n.role == NetworkRole::Ingress).then(|| n.owner.clone()),
        })
        .collect();
    let mut volumes: Vec<String> = project
        .volumes
        .iter()
        .filter(|(_, v)| !v.external)
        .map(|(name, _)| super::volumes::engine_name(project, name))
        .collect();
    volumes.sort();
    ProjectState {
        networks,
        volumes,
        scale: BTreeMap::new(),
        paused: BTreeMap::new(),
    }
}

impl<R: ContainerRuntime + 'static, S: bulkhead_ports::Store + 'static, F: Firewall + 'static>
    Deployer<R, S, F>
{
    /// Resolve images and compute every service's candidate release. Builds images; creates
    /// nothing else. Refuses a user that is root in the image (uid 0, gid 0) here, before
    /// anything is deployed.
    /// With `actor`, changed `file:`/`environment:` secrets are imported as new versions (see
    /// `secret_use`); `env` is the deploying environment (pass-through variables, secrets).
    pub async fn prepare(
        &self,
        project: &Project,
        verdict: &Verdict,
        actor: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<Prepared, DeployError> {
        super::volumes::check_external(&*self.runtime, project).await?;
        let active = self.baseline(project).await?;
        let mut built = images::BuildCache::default();
        let mut candidates = Vec::new();
        for sv in &verdict.services {
            let Some(service) = project.services.get(&sv.name) else {
                continue;
            };
            if !service.configs.is_empty() {
                return Err(DeployError::Unsupported {
                    service: sv.name.clone(),
                    what: "`configs:` cannot be delivered to containers yet".into(),
                    hint: "deliver the file as a secret (`secrets:`), or bake it into the image"
                        .into(),
                });
            }
            let previous: Option<StoredSpec> = active
                .get(&sv.name)
                .and_then(|r| serde_json::from_str(&r.spec).ok());
            let reuse = previous
                .as_ref()
                .and_then(|p| p.build_key.clone())
                .zip(active.get(&sv.name).map(|r| r.image.clone()));
            let resolved = images::resolve(
                &*self.runtime,
                &project.name,
                Path::new(&project.dir),
                service,
                reuse.as_ref().map(|(k, i)| (k.as_str(), i.as_str())),
                &mut built,
                &*self.progress,
            )
            .await?;
            // The image's own user database decides who is root; the numbers are pinned.
            let identity = super::user::resolve(&*self.runtime, sv, &resolved.info).await?;
            let secret_uses = super::secret_use::resolve(
                self.secrets.as_deref(),
                project,
                &sv.name,
                service,
                Some(identity.pinned().as_str()),
                env,
                actor,
                crate::clock::now_secs(),
            )
            .await?;
            let env = env::resolve(service, env).map_err(|reason| DeployError::Environment {
                service: sv.name.clone(),
                reason,
            })?;
            let mut t = template(
                service,
                &sv.effective,
                env,
                verdict.topology.attachments_of(&sv.name),
                &format!("{}-", project.name),
            );
            super::volumes::name_mounts(project, &mut t.mounts);
            t.user = Some(identity.pinned());
            // The user's own groups, then the spec's `group_add` (by number, gid 0 only waived).
            let added = std::mem::replace(&mut t.groups, identity.groups.clone());
            for g in added {
                if !t.groups.contains(&g) {
                    t.groups.push(g);
                }
            }
            t.image_volumes = uncovered_volumes(&resolved.info.volumes, &t.mounts);
            // A tmpfs's mode holds over what the image has at its mount point, or is refused.
            super::tmpfs_mode::check(&*self.runtime, &sv.name, service, &resolved.info, &t).await?;
            if let Some(test) = &resolved.info.healthcheck {
                match &mut t.health {
                    None => {
                        t.health = Some(HealthTemplate {
                            test: test.clone(),
                            interval: None,
                            timeout: None,
                            retries: None,
                            start_period: None,
                        })
                    }
                    // Timings without a test: the image's test runs with them.
                    Some(h) if h.test.is_empty() => h.test = test.clone(),
                    Some(_) => {}
                }
            }
            let probe = t.health.as_ref().and_then(|h| probe_of(&h.test));
            // Start-first where two replicas would write one volume (an image `VOLUME`
            // included, known only now) or want one host port: refused, as the spec check
            // refuses what it can see.
            for (key, config) in [
                ("update_config", &service.update_config),
                ("rollback_config", &service.rollback_config),
            ] {
                if config.as_ref().and_then(|c| c.value.order) == Some(Order::StartFirst)
                    && let Some(why) = t.stop_first(service.bulkhead.share_volumes)
                {
                    return Err(DeployError::Policy {
                        service: sv.name.clone(),
                        reason: format!(
                            "deploy.{key}.order `start-first` is refused: the service {why}, and start-first would run the old and the new replica on it at once"
                        ),
                        hint: "remove `order` (Bulkhead replaces it stop-first)".into(),
                    });
                }
            }
            let job = project.services.values().any(|s| {
                s.depends_on.get(&sv.name).is_some_and(|d| {
                    d.value.condition
                        == bulkhead_core::spec::model::Condition::ServiceCompletedSuccessfully
                })
            });
            if job && !(service.post_start.is_empty() && service.pre_stop.is_empty()) {
                return Err(DeployError::Unsupported {
                    service: sv.name.clone(),
                    what: "`post_start` and `pre_stop` cannot run in a job (a service another waits for with `service_completed_successfully`): it may have exited before an exec could start".into(),
                    hint: "run the step in the job's own command".into(),
                });
            }
            let mut hooks = [Vec::new(), Vec::new()];
            for (i, (key, list)) in [
                ("post_start", &service.post_start),
                ("pre_stop", &service.pre_stop),
            ]
            .into_iter()
            .enumerate()
            {
                for (n, h) in list.iter().enumerate() {
                    let waived = sv
                        .waivers
                        .iter()
                        .any(|w| w.rule == bulkhead_core::hardening::Rule::NonRoot);
                    let user = super::user::hook_user(
                        &*self.runtime,
                        (&sv.name, waived),
                        &resolved.info.id,
                        &identity,
                        h.user.as_deref(),
                        &format!("{key}[{n}]"),
                    )
                    .await?;
                    hooks[i].push(Hook {
                        user: Some(user),
                        ..h.clone()
                    });
                }
            }
            let [post_start, pre_stop] = hooks;
            let spec = StoredSpec {
                template: t,
                replicas: service.replicas,
                depends_on: service
                    .depends_on
                    .iter()
                    .map(|(k, d)| (k.clone(), d.value.condition))
                    .collect(),
                probe,
                build_key: resolved.build_key.clone(),
                secrets: secret_uses,
                settle_ms: service
                    .bulkhead
                    .settle
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                share_volumes: service.bulkhead.share_volumes,
                restart_after: service
                    .depends_on
                    .iter()
                    .filter(|(_, d)| d.value.restart)
                    .map(|(k, _)| k.clone())
                    .collect(),
                update: service.update_config.as_ref().map(|c| c.value.clone()),
                rollback: service.rollback_config.as_ref().map(|c| c.value.clone()),
                post_start,
                pre_stop,
            };
            let spec_hash = spec_hash(&spec, &resolved.image);
            // Every waiver the spec declares goes with the release, used at `check` or not
            // (a `non-root` waiver may be used only by the user resolved above): activating
            // the release again needs the right to grant each.
            let mut waivers: Vec<(String, String)> = sv
                .findings
                .iter()
                .filter(|f| f.outcome == Outcome::Waived)
                .map(|f| {
                    (
                        f.rule.id().to_string(),
                        f.waiver_reason.clone().unwrap_or_default(),
                    )
                })
                .collect();
            for w in &sv.waivers {
                if !waivers.iter().any(|(id, _)| id == w.rule.id()) {
                    waivers.push((w.rule.id().to_string(), w.reason.clone()));
                }
            }
            candidates.push(Candidate {
                service: sv.name.clone(),
                image: resolved.image,
                spec,
                spec_hash,
                waivers,
            });
        }
        Ok(Prepared {
            candidates,
            state: project_state(project, verdict),
        })
    }

    /// Per service, the release a new deploy compares with: the active one, else the latest
    /// (after `down`), so an unchanged spec neither rebuilds nor makes a new release.
    async fn baseline(&self, project: &Project) -> Result<BTreeMap<String, Release>, DeployError> {
        let mut out: BTreeMap<String, Release> = BTreeMap::new();
        for r in self.store.active(&project.name).await? {
            out.insert(r.service.clone(), r);
        }
        for name in project
            .services
            .keys()
            .filter(|n| !out.contains_key(*n))
            .cloned()
            .collect::<Vec<_>>()
        {
            if let Some(latest) = self
                .store
                .releases(&project.name, &name)
                .await?
                .into_iter()
                .max_by_key(|r| r.number)
            {
                out.insert(name, latest);
            }
        }
        Ok(out)
    }

    /// Make the candidates the active releases (new release numbers only where something
    /// changed) and the project's state durable, before the runtime is touched.
    pub async fn record(
        &self,
        project: &Project,
        prepared: &Prepared,
        now_secs: u64,
        actor: &str,
    ) -> Result<Vec<(String, u64, bool)>, DeployError> {
        let record = ProjectRecord {
            name: project.name.clone(),
            dir: project.dir.clone(),
            files: project.files.clone(),
            state: serde_json::to_string(&prepared.state).unwrap_or_default(),
        };
        let releases: Vec<Release> = prepared
            .candidates
            .iter()
            .map(|c| Release {
                project: project.name.clone(),
                service: c.service.clone(),
                number: 0,
                spec_hash: c.spec_hash.clone(),
                image: c.image.clone(),
                spec: serde_json::to_string(&c.spec).unwrap_or_default(),
                waivers: c.waivers.clone(),
                created_at: rfc3339(now_secs),
                created_by: actor.to_string(),
            })
            .collect();
        // One transaction: the project and every release (after `down`, the same spec
        // re-activates its release), durable before the runtime is touched.
        let out = self
            .store
            .record_deploy(&record, releases)
            .await?
            .into_iter()
            .map(|(r, created)| (r.service.clone(), r.number, created))
            .collect();
        Ok(out)
    }

    /// The desired state as the store holds it: what the reconciler converges to.
    pub async fn desired(
        &self,
        project: &str,
    ) -> Result<(Desired, BTreeMap<String, (Release, StoredSpec)>), DeployError> {
        self.desired_with(project, &BTreeMap::new()).await
    }

    /// [`Deployer::desired`], the services in `rolling_back` replaced as that says (the
    /// `rollback_config` of the release a rollback leaves) instead of by `update_config`.
    pub async fn desired_with(
        &self,
        project: &str,
        rolling_back: &BTreeMap<String, RolloutConfig>,
    ) -> Result<(Desired, BTreeMap<String, (Release, StoredSpec)>), DeployError> {
        let record = self
            .store
            .get_project(project)
            .await?
            .ok_or_else(|| DeployError::UnknownProject(project.to_string()))?;
        let state: ProjectState = serde_json::from_str(&record.state).unwrap_or_default();
        let mut services = BTreeMap::new();
        let mut releases = BTreeMap::new();
        for r in self.store.active(project).await? {
            let spec: StoredSpec =
                serde_json::from_str(&r.spec).map_err(|e| bulkhead_ports::StoreError::Corrupt {
                    reason: format!("release {} of {}: {e}", r.number, r.service),
                })?;
            let config = rolling_back
                .get(&r.service)
                .cloned()
                .unwrap_or_else(|| spec.update_config());
            services.insert(
                r.service.clone(),
                DesiredService {
                    name: r.service.clone(),
                    release: r.number,
                    spec_hash: r.spec_hash.clone(),
                    replicas: state
                        .scale
                        .get(&r.service)
                        .copied()
                        .unwrap_or(spec.replicas),
                    depends_on: spec.depends_on.clone(),
                    stop_first: spec.stop_first_with(&config),
                    settle_ms: spec
                        .settle_with(&config)
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    rollout: config,
                },
            );
            releases.insert(r.service.clone(), (r, spec));
        }
        Ok((
            Desired {
                project: project.to_string(),
                services,
                networks: state.networks,
                volumes: state.volumes,
            },
            releases,
        ))
    }
}
