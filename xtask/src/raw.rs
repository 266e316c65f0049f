//! The raw-Docker baseline: the same containers, networks and readiness wait as Bulkhead's,
//! made with direct engine calls and nothing else (no spec parsing, store, plan or firewall
//! in the timed part).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use bulkhead_app::deploy::container::{Identity, container_spec};
use bulkhead_app::deploy::probe_of;
use bulkhead_app::project::{ProjectOptions, open};
use bulkhead_core::deploy::template;
use bulkhead_core::hardening::Profile;
use bulkhead_core::verdict;
use bulkhead_docker::DockerRuntime;
use bulkhead_ports::{ContainerRuntime, ContainerSpec, NetworkSpec};

const PROJECT: &str = "benchraw";

/// A container to create, with its readiness probe.
type Start = (ContainerSpec, Option<Vec<String>>);

struct Prepared {
    networks: Vec<NetworkSpec>,
    /// Dependency waves.
    waves: Vec<Vec<Start>>,
}

async fn prepare(rt: &DockerRuntime, file: &Path) -> anyhow::Result<Prepared> {
    let env: BTreeMap<String, String> = [
        ("SHOP_PORT", "18480"),
        ("ONE_PORT", "18482"),
        ("HOME", "/root"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let opts = ProjectOptions {
        files: vec![file.to_path_buf()],
        project_name: Some(PROJECT.into()),
        env,
        cwd: std::env::current_dir()?,
        ..ProjectOptions::default()
    };
    let project = open(&opts)?;
    let v = verdict::check(&project, &Profile::default());
    let networks = v
        .topology
        .networks
        .iter()
        .map(|n| NetworkSpec {
            name: n.name.clone(),
            internal: n.internal,
            labels: BTreeMap::new(),
            pin_subnet: false,
        })
        .collect();
    let mut image = None;
    for name in project.services.keys() {
        let tag = bulkhead_app::deploy::images::tag("benchbh", name);
        if let Ok(info) = rt.inspect_image(&tag).await {
            image = Some(info.id);
            break;
        }
    }
    let image = image.context("run bulkhead up first: no bulkhead/*:benchbh image")?;
    let mut by_level: BTreeMap<usize, Vec<Start>> = BTreeMap::new();
    for sv in &v.services {
        let service = &project.services[&sv.name];
        let env = service
            .environment
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let nets = v
            .topology
            .attachments
            .get(&sv.name)
            .cloned()
            .unwrap_or_default();
        let t = template(service, &sv.effective, env, &nets, "benchraw-");
        let probe = t.health.as_ref().and_then(|h| probe_of(&h.test));
        let id = Identity {
            project: PROJECT,
            service: &sv.name,
            release: 1,
            replica: 1,
            spec_hash: "raw",
            image: &image,
        };
        let level = depth(&project, &sv.name);
        by_level
            .entry(level)
            .or_default()
            .push((container_spec(&id, &t), probe));
    }
    Ok(Prepared {
        networks,
        waves: by_level.into_values().collect(),
    })
}

fn depth(project: &bulkhead_core::spec::Project, name: &str) -> usize {
    project.services.get(name).map_or(0, |s| {
        s.depends_on
            .keys()
            .map(|d| depth(project, d) + 1)
            .max()
            .unwrap_or(0)
    })
}

/// One timed up and one timed down.
pub async fn cycle(file: &Path, _services: usize) -> anyhow::Result<(Duration, Duration)> {
    let rt = DockerRuntime::connect().await?;
    let p = prepare(&rt, file).await?;
    let start = Instant::now();
    for n in &p.networks {
        rt.create_network(n).await?;
    }
    let mut ids = Vec::new();
    for wave in &p.waves {
        let mut started = Vec::new();
        for (spec, probe) in wave {
            let id = rt.create_container(spec).await?;
            rt.start_container(&id).await?;
            started.push((id, probe.clone()));
        }
        for (id, probe) in &started {
            wait_ready(&rt, id, probe.as_deref()).await?;
        }
        ids.extend(started.into_iter().map(|(id, _)| id));
    }
    let up = start.elapsed();
    let start = Instant::now();
    let stops = ids
        .iter()
        .map(|id| rt.stop_container(id, Duration::from_secs(10)));
    for r in futures_util::future::join_all(stops).await {
        r?;
    }
    for id in &ids {
        rt.remove_container(id).await?;
    }
    for n in &p.networks {
        rt.remove_network(&n.name).await?;
    }
    Ok((up, start.elapsed()))
}

async fn wait_ready(rt: &DockerRuntime, id: &str, probe: Option<&[String]>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = match probe {
            Some(p) => rt
                .exec(id, p, Duration::from_secs(2))
                .await
                .is_ok_and(|c| c == 0),
            None => rt
                .inspect_container(id)
                .await
                .is_ok_and(|i| i.state == "running"),
        };
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "container {id} not ready after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
