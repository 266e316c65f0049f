//! Fitting ordinary images to the hardening profile: each service's image read before the
//! deploy (config, user database, owners and modes of its data and scratch paths) and the
//! proposal decided by `core::imagefit`; and `learn`, a short sandboxed run (no network,
//! writable root, the rest of the profile) whose changed paths become mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use bulkhead_core::hardening::userdb::UserDb;
use bulkhead_core::imagefit::{
    self, Change, ChangeKind, ImageConfig, PathFact, PathFacts, Proposal, ProposedTmpfs,
    ProposedVolume,
};
use bulkhead_core::spec::Project;
use bulkhead_core::spec::model::Service;
use bulkhead_docker::LazyRuntime;
use bulkhead_ports::{ContainerRuntime, ContainerSpec, ImageInfo, Progress, RuntimeError};

use crate::deploy::{DeployError, images};

/// What `check` says about one service's image.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceFit {
    pub service: String,
    /// The image read (reference as the spec names it, or the tag Bulkhead builds).
    pub image: String,
    /// Why the image could not be read, when it could not.
    pub unread: Option<String>,
    pub proposal: Proposal,
}

fn reference(project: &Project, name: &str, service: &Service) -> String {
    match &service.image {
        Some(image) if service.build.is_none() => image.value.clone(),
        _ => images::tag(&project.name, name),
    }
}

/// Whether reading a `build:` service's image may build it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `check --fix`, `learn`: asked to act, so build it as `up` would.
    IfNeeded,
    /// `check`: read only what exists (building runs the Dockerfile's steps).
    Never,
}

/// The service's image as `up` would run it. With [`Build::IfNeeded`], a `build:` service's
/// image is built from the project's files when it is not built yet (or its inputs changed),
/// so that `check --fix` works before the first deploy; any other image must be on the engine.
async fn image_of<R: ContainerRuntime>(
    runtime: &R,
    project: &Project,
    service: &Service,
    built: &mut images::BuildCache,
    build: Build,
) -> Result<ImageInfo, String> {
    if service.build.is_some() && build == Build::Never {
        let tag = images::tag(&project.name, &service.name);
        return runtime.inspect_image(&tag).await.map_err(|e| match e {
            RuntimeError::NotFound { .. } => format!(
                "the image `{tag}` is not built yet: `bulkhead check --fix` builds it to read it (running its Dockerfile, as `up` does)"
            ),
            other => format!("the image `{tag}` could not be read: {other}"),
        });
    }
    let quiet = |_: Progress| {};
    match images::resolve(
        runtime,
        &project.name,
        Path::new(&project.dir),
        service,
        None,
        built,
        &quiet,
    )
    .await
    {
        Ok(r) => Ok(r.info),
        Err(DeployError::ImageMissing { image, .. }) => Err(format!(
            "the image `{image}` is not on the engine (it is read once it is there: `docker pull` or `docker load` it first)"
        )),
        Err(DeployError::Build { reason, .. }) => {
            Err(format!("its image could not be built: {reason}"))
        }
        Err(e) => Err(format!("its image could not be read: {e}")),
    }
}

/// Read each service's image and decide what it needs (`only`: just that service).
pub async fn advise<R: ContainerRuntime>(
    runtime: &R,
    project: &Project,
    only: Option<&str>,
    build: Build,
) -> Vec<ServiceFit> {
    let taken: BTreeSet<String> = project.volumes.keys().cloned().collect();
    let mut built = images::BuildCache::default();
    let mut out = Vec::new();
    for (name, service) in &project.services {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let image = reference(project, name, service);
        let (unread, proposal) =
            match fit(runtime, project, service, &taken, &mut built, build).await {
                Ok((p, _)) => (None, p),
                Err(e) => (Some(e), Proposal::default()),
            };
        out.push(ServiceFit {
            service: name.clone(),
            image,
            unread,
            proposal,
        });
    }
    out
}

/// The proposal for one service, and the image it read.
async fn fit<R: ContainerRuntime>(
    runtime: &R,
    project: &Project,
    service: &Service,
    taken: &BTreeSet<String>,
    built: &mut images::BuildCache,
    build: Build,
) -> Result<(Proposal, ImageInfo), String> {
    let info = image_of(runtime, project, service, built, build).await?;
    let config = ImageConfig {
        user: info.user.clone(),
        volumes: info.volumes.clone(),
        working_dir: info.working_dir.clone(),
        entrypoint: info.entrypoint.clone(),
        cmd: info.cmd.clone(),
    };
    let files = runtime
        .image_user_files(&info.id)
        .await
        .map_err(|e| format!("the image's user database could not be read: {e}"))?;
    let db = UserDb::parse(&files);
    let paths = imagefit::paths_to_read(&config, &db);
    let facts = path_facts(runtime, &info.id, &paths).await?;
    Ok((
        imagefit::propose(service, &config, &db, &facts, taken),
        info,
    ))
}

async fn path_facts<R: ContainerRuntime>(
    runtime: &R,
    image: &str,
    paths: &[String],
) -> Result<PathFacts, String> {
    let read = runtime
        .image_path_owners(image, paths)
        .await
        .map_err(|e| format!("the image's paths could not be read: {e}"))?;
    Ok(read
        .into_iter()
        .map(|(path, entry)| {
            let fact = entry.map(|e| PathFact {
                resolved: e.resolved,
                dir: e.mode & 0o170000 == 0o040000,
                mode: e.mode & 0o7777,
                uid: e.uid,
                gid: e.gid,
            });
            (path, fact)
        })
        .collect())
}

/// What `learn` found: the mounts the sandboxed run needed, and what cannot be a mount.
#[derive(Clone, Debug, Serialize)]
pub struct Learned {
    pub service: String,
    pub image: String,
    /// Who the sandbox ran as (`uid:gid`).
    pub user: String,
    pub seconds: u64,
    /// How many paths the engine reported changed.
    pub changed: usize,
    pub proposal: Proposal,
}

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("service `{0}` is not in the project")]
    NoService(String),
    #[error("service `{service}`: {reason}")]
    Image { service: String, reason: String },
    #[error("service `{service}`: the sandbox run failed: {source}")]
    Run {
        service: String,
        #[source]
        source: RuntimeError,
    },
}

/// The longest sandboxed run.
pub const MAX_LEARN: Duration = Duration::from_secs(300);

/// Run `service`'s image for `run` in a sandbox — no network, a writable root filesystem,
/// every capability dropped, no new privileges, memory and pids bounded, as the user the
/// proposal (or the spec) names, never root — then stop and remove it, and turn what it changed
/// into mounts. The spec's named volumes, binds and secrets are not mounted: the image's own
/// volumes are anonymous ones, removed with it.
pub async fn learn<R: ContainerRuntime>(
    runtime: &R,
    project: &Project,
    name: &str,
    run: Duration,
) -> Result<Learned, LearnError> {
    let service = project
        .services
        .get(name)
        .ok_or_else(|| LearnError::NoService(name.to_string()))?;
    let image = reference(project, name, service);
    let taken: BTreeSet<String> = project.volumes.keys().cloned().collect();
    let image_err = |reason: String| LearnError::Image {
        service: name.to_string(),
        reason,
    };
    let mut built = images::BuildCache::default();
    let (base, info) = fit(
        runtime,
        project,
        service,
        &taken,
        &mut built,
        Build::IfNeeded,
    )
    .await
    .map_err(image_err)?;
    let current = service
        .user
        .as_ref()
        .map(|u| u.value.clone())
        .unwrap_or_else(|| info.user.clone());
    let files = runtime
        .image_user_files(&info.id)
        .await
        .map_err(|e| image_err(e.to_string()))?;
    let id = match &base.user {
        Some(u) => (u.uid, u.gid),
        None => UserDb::parse(&files)
            .resolve(&current)
            .map(|i| (i.uid, i.gid))
            .map_err(|e| image_err(e.to_string()))?,
    };
    if id.0 == 0 || id.1 == 0 {
        return Err(image_err(
            "it would run as root and no account of the image fits: set `user:` first".into(),
        ));
    }
    let user = format!("{}:{}", id.0, id.1);
    let run = run.min(MAX_LEARN);
    let spec = sandbox(project, name, service, &info.id, &user);
    let run_err = |source| LearnError::Run {
        service: name.to_string(),
        source,
    };
    let _ = runtime.remove_container(&spec.name).await;
    let cid = runtime.create_container(&spec).await.map_err(run_err)?;
    let changes = async {
        runtime.start_container(&cid).await?;
        // The learning window itself: the run is meant to last this long.
        tokio::time::sleep(run).await;
        // Read while it runs: what a program removes when it stops (a pid file) counts too.
        let changes = runtime.container_changes(&cid).await?;
        runtime.stop_container(&cid, Duration::from_secs(2)).await?;
        Ok(changes)
    }
    .await;
    let removed = runtime.remove_container(&cid).await;
    let changes = changes.map_err(run_err)?;
    removed.map_err(run_err)?;

    let mut mounted: Vec<String> = service
        .tmpfs
        .iter()
        .map(|t| t.value.split(':').next().unwrap_or_default().to_string())
        .collect();
    mounted.extend(service.volumes.iter().map(|m| m.value.target.clone()));
    mounted.extend(info.volumes.iter().cloned());
    let list: Vec<Change> = changes
        .iter()
        .map(|c| Change {
            path: c.path.clone(),
            kind: match c.kind {
                1 => ChangeKind::Added,
                2 => ChangeKind::Deleted,
                _ => ChangeKind::Modified,
            },
        })
        .collect();
    let (points, notes) = imagefit::mount_points(&list, &mounted);
    let facts = path_facts(runtime, &info.id, &points)
        .await
        .map_err(image_err)?;
    let mut proposal = Proposal {
        notes,
        ..Proposal::default()
    };
    for point in points {
        let why = format!(
            "`bulkhead learn` saw it write below {point} in a {}s sandboxed run",
            run.as_secs()
        );
        if point.starts_with("/var/lib/") {
            let base_name = point.rsplit('/').next().unwrap_or("data");
            proposal.volumes.push(ProposedVolume {
                name: format!("{name}-{base_name}"),
                target: point,
                why: format!("{why}: lasting state, kept on a named volume"),
            });
            continue;
        }
        let fact = facts.get(&point).cloned().flatten();
        let options = match &fact {
            Some(f) if f.mode & 0o002 != 0 => String::new(),
            _ => format!("uid={},gid={}", id.0, id.1),
        };
        proposal.tmpfs.push(ProposedTmpfs {
            path: point,
            options,
            why: format!("{why}; the root filesystem is read-only"),
        });
    }
    Ok(Learned {
        service: name.to_string(),
        image,
        user,
        seconds: run.as_secs(),
        changed: changes.len(),
        proposal,
    })
}

/// The sandbox container: the service's command and plain environment, none of its mounts.
fn sandbox(
    project: &Project,
    name: &str,
    service: &Service,
    image: &str,
    user: &str,
) -> ContainerSpec {
    let env = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    ContainerSpec {
        name: format!("{}-{name}-learn", project.name),
        image: image.to_string(),
        command: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env,
        labels: BTreeMap::from([(
            bulkhead_docker::LABEL_PROBE.to_string(),
            "learn".to_string(),
        )]),
        user: Some(user.to_string()),
        working_dir: service.working_dir.clone(),
        read_only_rootfs: false,
        cap_drop: vec!["ALL".to_string()],
        security_opt: vec!["no-new-privileges:true".to_string()],
        network_mode: Some("none".to_string()),
        memory: 512 << 20,
        memory_swap: 512 << 20,
        pids_limit: 256,
        cpu_shares: 512,
        restart: ("no".to_string(), 0),
        // Its own network namespace, loopback only: a low port binds as the profile allows.
        sysctls: BTreeMap::from([(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        )]),
        ..ContainerSpec::default()
    }
}

/// [`advise`] on the host's engine ([`crate::root::engine`]), connected first: an engine
/// that does not answer is one error, not one per service.
pub async fn advise_local(
    engine: &LazyRuntime,
    project: &Project,
    only: Option<&str>,
    build: Build,
) -> Result<Vec<ServiceFit>, String> {
    engine
        .connect()
        .await
        .map_err(|e| format!("the images cannot be read: {e}"))?;
    Ok(advise(engine, project, only, build).await)
}

/// [`learn`] on the host's engine ([`crate::root::engine`]), connected first.
pub async fn learn_local(
    engine: &LazyRuntime,
    project: &Project,
    name: &str,
    run: Duration,
) -> anyhow::Result<Learned> {
    engine.connect().await?;
    Ok(learn(engine, project, name, run).await?)
}
