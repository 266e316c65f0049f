//! Executing commands once the dispatcher has allowed them: the deploy operations under the
//! project's lock (run as tasks of their own, so a client that goes away cannot cut a deploy
//! in half), reads from the store and the reconciler's last look, the audit log.

use std::sync::Arc;

use bulkhead_api_types::{
    ActiveRelease, AuditPage, ContainerLogs, DownReply, LogsReply, PlanReply, ProjectGet,
    ProjectList, ProjectRow, RollbackReply, ScaleReply, StatusReply,
};
use bulkhead_core::auth::ProjectName;
use bulkhead_core::spec::Project;
use bulkhead_core::verdict::Verdict;
use bulkhead_ports::{ContainerRuntime, LabelFilter, Store};
use serde_json::Value;

use super::bundle::Upload;
use super::command::{AuditQuery, Command, Source};
use super::dispatch::{Api, Authenticated, Reply};
use super::error::ApiError;
use super::render;
use crate::deploy::DeployError;
use crate::deploy::ops::checked;
use crate::project::{Origin, ProjectOptions};
use crate::root::local::Local;

/// What a command needed before its decision was final.
pub(super) enum Prepared {
    None,
    /// An opened, checked, deployable project (and the upload it came from, removed on drop).
    Deploy {
        project: Box<Project>,
        verdict: Box<Verdict>,
        env: std::collections::BTreeMap<String, String>,
        _upload: Option<Upload>,
    },
    /// `plan` works from options (it resolves images itself).
    Plan {
        options: Box<ProjectOptions>,
        _upload: Option<Upload>,
    },
    /// A rollback to this release, whose waivers (if any) the caller may grant.
    Rollback {
        to: u64,
    },
    /// A scale of the service's active release as it was checked (`None`: there is none).
    Scale {
        release: Option<u64>,
    },
}

impl Api {
    /// Side-effect-free work before the decision is final: open and check a deploy, and refuse
    /// one that needs waivers its caller may not grant.
    pub(super) async fn prepare(
        &self,
        who: &Authenticated,
        command: &Command,
    ) -> Result<Prepared, ApiError> {
        if command.needs_engine() {
            self.engine().await?;
        }
        match command {
            Command::ProjectUp { project, source } => {
                let (options, upload) = self.options(project, source)?;
                let (opened, verdict) = checked(&options)?;
                if opened.name != project.as_str() {
                    return Err(ApiError::bad_request(format!(
                        "the files describe project {}, not {project}",
                        opened.name
                    )));
                }
                self.check_waivers(who, project, &verdict).await?;
                check_secret_sources(who, project, &opened)?;
                Ok(Prepared::Deploy {
                    project: Box::new(opened),
                    verdict: Box::new(verdict),
                    env: options.env,
                    _upload: upload,
                })
            }
            Command::ProjectPlan { project, source } => {
                let (options, upload) = self.options(project, source)?;
                Ok(Prepared::Plan {
                    options: Box::new(options),
                    _upload: upload,
                })
            }
            Command::ServiceRollback {
                project,
                service,
                to,
            } => {
                let to = self
                    .check_rollback(who, project, service.as_str(), *to)
                    .await?;
                Ok(Prepared::Rollback { to })
            }
            Command::ServiceScale {
                project, service, ..
            } => {
                let release = self.check_scale(who, project, service.as_str()).await?;
                Ok(Prepared::Scale { release })
            }
            Command::SecretSet { project, .. } => {
                // A new version rolls the deployed services that use the secret.
                if !self
                    .deployer
                    .store
                    .active(project.as_str())
                    .await?
                    .is_empty()
                {
                    self.engine().await?;
                }
                Ok(Prepared::None)
            }
            _ => Ok(Prepared::None),
        }
    }

    /// The container engine, connected now if it was not yet: a command that needs it fails
    /// here, before it starts, when it does not answer.
    async fn engine(&self) -> Result<(), ApiError> {
        self.deployer
            .runtime
            .connect()
            .await
            .map(drop)
            .map_err(|e| DeployError::Runtime(e).into())
    }

    fn options(
        &self,
        project: &ProjectName,
        source: &Source,
    ) -> Result<(ProjectOptions, Option<Upload>), ApiError> {
        match source {
            Source::Local(options) => Ok((options.clone(), None)),
            Source::Bundle(bundle) => {
                let uploads = self.open_uploads()?;
                let upload = Upload::extract(uploads.dir(), &bundle.archive)?;
                let files = bundle
                    .files
                    .iter()
                    .map(|f| upload.path_of(f))
                    .collect::<Result<Vec<_>, _>>()?;
                let options = ProjectOptions {
                    files,
                    project_name: Some(project.to_string()),
                    project_dir: Some(upload.dir().to_path_buf()),
                    profiles: Vec::new(),
                    env_file: None,
                    env: bundle.env.clone(),
                    cwd: upload.dir().to_path_buf(),
                    origin: Origin::Upload,
                    allow_host_paths: Vec::new(),
                };
                Ok((options, Some(upload)))
            }
        }
    }

    pub(super) async fn run(
        self: &Arc<Self>,
        who: &Authenticated,
        command: Command,
        prepared: Prepared,
    ) -> Result<Reply, ApiError> {
        let d = &self.deployer;
        let document = match command {
            Command::ProjectList => self.project_list(who).await?,
            Command::ProjectGet { project } => self.project_get(&project).await?,
            Command::ProjectUp { project, .. } => {
                let Prepared::Deploy {
                    project: opened,
                    verdict,
                    env,
                    _upload: upload,
                } = prepared
                else {
                    return Err(ApiError::internal("deploy was not prepared"));
                };
                let actor = who.subject.name().to_string();
                let report = self
                    .locked(&project, move |d| async move {
                        // The task owns the upload: its files stay while the deploy reads them
                        // (even if the client went away) and go when it ends, however it ends.
                        let _upload = upload;
                        d.up_checked(&opened, *verdict, &actor, &env).await
                    })
                    .await?;
                // A no-op `up` changed nothing: the cached view stays (the reconciler and the
                // views refresh it); one list call less on the path a no-op `up` waits for.
                if !report.plan.is_empty() {
                    self.refresh(&project).await;
                }
                render::json(&render::up(&report)?)?
            }
            Command::ProjectPlan { .. } => {
                let Prepared::Plan { options, _upload } = prepared else {
                    return Err(ApiError::internal("plan was not prepared"));
                };
                let (verdict, plan) = d.plan_only(&options).await?;
                render::json(&PlanReply {
                    project: verdict.project,
                    plan,
                })?
            }
            Command::ProjectDown { project, volumes } => {
                let p = project.to_string();
                let outcome = self
                    .locked(&project, move |d| async move { d.down(&p, volumes).await })
                    .await?;
                self.refresh(&project).await;
                render::json(&DownReply {
                    project: project.to_string(),
                    removed: outcome.removed,
                    networks_removed: outcome.networks_removed,
                })?
            }
            Command::ServiceList { project } => self.service_list(&project).await?,
            Command::ServiceScale {
                project,
                service,
                replicas,
            } => {
                let Prepared::Scale { release: checked } = prepared else {
                    return Err(ApiError::internal("scale was not prepared"));
                };
                let (p, s) = (project.to_string(), service.to_string());
                let changed = self
                    .locked(&project, move |d| async move {
                        // The release whose waivers were checked must still be the active one.
                        let now = d.store.active(&p).await?;
                        if now.iter().find(|r| r.service == s).map(|r| r.number) != checked {
                            return Ok(None);
                        }
                        let changed = d.scale(&p, &s, replicas).await?;
                        if changed {
                            d.reconcile(&p).await?;
                        }
                        Ok(Some(changed))
                    })
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(format!(
                            "the active release of service `{service}` changed while the scale was checked; try again"
                        ))
                    })?;
                if changed {
                    self.refresh(&project).await;
                }
                render::json(&ScaleReply {
                    project: project.to_string(),
                    service: service.to_string(),
                    replicas,
                    changed,
                })?
            }
            Command::ServiceRollback {
                project, service, ..
            } => {
                let Prepared::Rollback { to } = prepared else {
                    return Err(ApiError::internal("rollback was not prepared"));
                };
                let (p, s) = (project.to_string(), service.to_string());
                let actor = who.subject.name().to_string();
                let (number, plan, outcome) = self
                    .locked(&project, move |d| async move {
                        d.rollback(&p, &s, Some(to), &actor).await
                    })
                    .await?;
                self.refresh(&project).await;
                render::json(&RollbackReply {
                    project: project.to_string(),
                    service: service.to_string(),
                    release: number,
                    plan,
                    held: render::held(&outcome.held),
                })?
            }
            Command::ServiceLogs {
                project,
                service,
                tail,
            } => {
                let logs = d.logs(project.as_str(), service.as_str(), tail).await?;
                let containers = logs
                    .into_iter()
                    .map(|(container, lines)| ContainerLogs { container, lines })
                    .collect();
                render::json(&LogsReply {
                    project: project.to_string(),
                    service: service.to_string(),
                    containers,
                })?
            }
            Command::ReleaseList { project, service } => {
                let (all, active) = d.releases(project.as_str(), service.as_str()).await?;
                render::json(&render::releases(
                    project.as_str(),
                    service.as_str(),
                    &all,
                    active,
                ))?
            }
            Command::AuditRead { query } => self.audit_read(&query).await?,
            Command::AuditExport => return self.audit_export().await,
            Command::ServerStatus => render::json(&StatusReply {
                listener: self.listener.snapshot(),
            })?,
            c @ (Command::SecretSet { .. }
            | Command::SecretList { .. }
            | Command::SecretVersions { .. }
            | Command::SecretRemove { .. }
            | Command::KeyRotate) => return self.secrets(who, c).await,
            other => return self.accounts(who, other).await,
        };
        Ok(Reply::Json(document))
    }

    /// Run `f` on the deployer under the project's lock, as a task of its own.
    pub(super) async fn locked<T, F, Fut>(&self, project: &ProjectName, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Local>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, DeployError>> + Send + 'static,
    {
        let lock = self.project_lock(project.as_str());
        let deployer = Arc::clone(&self.deployer);
        tokio::spawn(async move {
            let _held = lock.lock().await;
            f(deployer).await
        })
        .await
        .map_err(|e| ApiError::internal(format!("the operation stopped: {e}")))?
        .map_err(ApiError::from)
    }

    /// Look at the project's containers again (after a change, or for the reconciler).
    pub async fn refresh(&self, project: &ProjectName) {
        let filter = LabelFilter::project(project.as_str());
        if let Ok(list) = self.deployer.runtime.list_containers(&filter).await {
            self.observed
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(project.to_string(), list);
        }
    }

    async fn project_list(&self, who: &Authenticated) -> Result<Value, ApiError> {
        let mut names = Vec::new();
        for p in self.deployer.store.list_projects().await? {
            let Ok(name) = ProjectName::new(&p.name) else {
                continue;
            };
            let resource = bulkhead_core::auth::Resource::Project(name);
            let may = bulkhead_core::auth::authorize(
                &who.subject,
                bulkhead_core::auth::Action::ProjectGet,
                &resource,
            );
            if may.is_allow() {
                names.push(ProjectRow { name: p.name });
            }
        }
        render::json(&ProjectList { projects: names })
    }

    async fn project_get(&self, project: &ProjectName) -> Result<Value, ApiError> {
        let store = &self.deployer.store;
        if store.get_project(project.as_str()).await?.is_none() {
            return Err(ApiError::not_found(format!(
                "project {project} does not exist"
            )));
        }
        let active = store.active(project.as_str()).await?;
        let activators = store.activated_by(project.as_str()).await?;
        let held = self.deployer.held(project.as_str(), &active).await?;
        let mut services = Vec::new();
        for r in active {
            services.push(ActiveRelease {
                activated_by: activators.get(&r.service).cloned(),
                waivers: r.waivers.iter().map(|(rule, _)| rule.clone()).collect(),
                service: r.service,
                release: r.number,
                image: r.image,
                created_at: r.created_at,
                created_by: r.created_by,
            });
        }
        render::json(&ProjectGet {
            project: project.to_string(),
            services,
            held: render::held(&held),
        })
    }

    /// Services from the store, containers from the reconciler's last look (the engine is
    /// asked only when the project was never looked at).
    async fn service_list(&self, project: &ProjectName) -> Result<Value, ApiError> {
        let cached = self
            .desired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project.as_str())
            .cloned();
        let desired = match cached {
            Some(d) => d,
            None => {
                let generation = self.generation();
                let d = match self.deployer.desired(project.as_str()).await {
                    Ok((d, _)) => Arc::new(d),
                    Err(DeployError::UnknownProject(_)) => {
                        return Err(ApiError::not_found(format!(
                            "project {project} does not exist"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                let mut cache = self.desired.lock().unwrap_or_else(|e| e.into_inner());
                if self.generation() == generation {
                    cache.insert(project.to_string(), Arc::clone(&d));
                }
                d
            }
        };
        let cached = self
            .observed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(project.as_str())
            .cloned();
        let containers = match cached {
            Some(c) => c,
            None => {
                self.refresh(project).await;
                self.observed
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(project.as_str())
                    .cloned()
                    .unwrap_or_default()
            }
        };
        render::json(&render::services(project.as_str(), &desired, &containers))
    }

    async fn audit_read(&self, query: &AuditQuery) -> Result<Value, ApiError> {
        let since = match &query.since {
            // A time before 1970 is before every entry.
            Some(t) => Some(
                bulkhead_core::clock::parse_rfc3339_signed(t)
                    .map(|ms| u64::try_from(ms).unwrap_or(0))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("since {t:?} is not an RFC 3339 time"))
                    })?,
            ),
            None => None,
        };
        let filter = bulkhead_audit::Filter {
            since,
            actor: query.actor.clone(),
            action: query.action.clone(),
        };
        let limit = query.limit.unwrap_or(100).clamp(1, 1000);
        let after = query.cursor.unwrap_or(0);
        let dir = self.state_dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut more = false;
            bulkhead_audit::entries(&dir, &filter, |e| {
                if e.seq <= after {
                    return;
                }
                if out.len() < limit {
                    out.push(e);
                } else {
                    more = true;
                }
            })
            .map_err(|e| ApiError::internal(e.to_string()))?;
            let next = if more {
                out.last().map(|e| e.seq)
            } else {
                None
            };
            render::json(&AuditPage {
                entries: out,
                next_cursor: next,
            })
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }

    async fn audit_export(&self) -> Result<Reply, ApiError> {
        let dir = self.state_dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            bulkhead_audit::export(&dir, &mut out)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(Reply::Lines(out))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }
}

/// A deploy whose secrets come from `file:` or `environment:` writes their values (a new
/// version when they changed), so its caller needs `secret.set` too: an operator, who may
/// deploy but not change secrets, is refused rather than setting them this way.
fn check_secret_sources(
    who: &Authenticated,
    project: &ProjectName,
    opened: &Project,
) -> Result<(), ApiError> {
    use bulkhead_core::spec::model::SecretDef;
    let sourced: std::collections::BTreeSet<&str> = opened
        .services
        .values()
        .flat_map(|s| s.secrets.iter())
        .map(|r| r.value.source.as_str())
        .filter(|name| {
            matches!(
                opened.secrets.get(*name),
                Some(SecretDef::File(_) | SecretDef::Environment(_))
            )
        })
        .collect();
    if sourced.is_empty() {
        return Ok(());
    }
    let resource = bulkhead_core::auth::Resource::Project(project.clone());
    let decision = bulkhead_core::auth::authorize(
        &who.subject,
        bulkhead_core::auth::Action::SecretSet,
        &resource,
    );
    if decision.is_allow() {
        return Ok(());
    }
    let names: Vec<String> = sourced.iter().map(|n| format!("`{n}`")).collect();
    Err(ApiError::forbidden(format!(
        "the spec gives secret {} a `file:` or `environment:` source, which sets its value, and {} may not set secrets of project {project}; have a developer or admin set it (`bulkhead secret set`) and declare it `external: true`",
        names.join(", "),
        who.subject.name()
    )))
}
