//! The hardened container's fixture: names, spec, image/networks/volume, and the wait for health.

use super::*;
use support::demo_context;

/// Networks, volume and image for one lifecycle run, all named after `project`.
pub struct Names {
    pub project: String,
    pub tag: String,
    pub front: String,
    pub back: String,
    pub volume: String,
    pub container: String,
}

impl Names {
    pub fn new() -> Names {
        Names::of(&unique("life"), "store-1")
    }

    /// The names of `project`'s objects, its container `<project>-<container>`.
    pub fn of(project: &str, container: &str) -> Names {
        Names {
            tag: format!("{project}-demo:1"),
            front: format!("{project}-front"),
            back: format!("{project}-back"),
            volume: format!("{project}-data"),
            container: format!("{project}-{container}"),
            project: project.to_string(),
        }
    }

    pub fn cleanup(&self) -> Cleanup {
        Cleanup {
            containers: vec![
                self.container.clone(),
                format!("{}-renamed", self.container),
            ],
            networks: vec![self.front.clone(), self.back.clone()],
            volumes: vec![self.volume.clone()],
            images: vec![self.tag.clone()],
        }
    }
}

pub fn probe(port: u16) -> Vec<String> {
    ["/bulkhead-demo", "probe"]
        .into_iter()
        .map(String::from)
        .chain([format!("http://127.0.0.1:{port}/healthz")])
        .collect()
}

pub fn hardened_spec(names: &Names) -> ContainerSpec {
    ContainerSpec {
        name: names.container.clone(),
        image: names.tag.clone(),
        command: Some(
            ["store", "--listen", "0.0.0.0:8082"]
                .map(String::from)
                .to_vec(),
        ),
        env: vec!["BULKHEAD_TEST=1".to_string()],
        labels: labels(&names.project, "store"),
        user: Some("10001:10001".to_string()),
        group_add: Vec::new(),
        working_dir: Some("/".to_string()),
        hostname: Some("store".to_string()),
        read_only_rootfs: true,
        mounts: vec![
            MountSpec::Tmpfs {
                target: "/tmp".to_string(),
                size: Some(1 << 20),
                mode: Some(0o1777),
                options: vec!["noexec".into(), "nosuid".into(), "uid=10001".into()],
            },
            MountSpec::Volume {
                name: names.volume.clone(),
                target: "/data".to_string(),
                read_only: true,
            },
        ],
        cap_drop: vec!["ALL".to_string()],
        security_opt: vec!["no-new-privileges:true".to_string()],
        networks: vec![
            (names.front.clone(), vec!["store".to_string()]),
            (names.back.clone(), vec!["store-b".to_string()]),
        ],
        fixed_addresses: Default::default(),
        memory: 64 << 20,
        pids_limit: 64,
        cpu_shares: 512,
        nano_cpus: Some(500_000_000),
        restart: ("on-failure".to_string(), 3),
        healthcheck: Some(HealthSpec {
            test: [vec!["CMD".to_string()], probe(8082)].concat(),
            interval: Some(Duration::from_secs(1)),
            timeout: Some(Duration::from_secs(2)),
            retries: Some(3),
            start_period: None,
        }),
        ports: vec![PortSpec {
            container_port: 8082,
            protocol: "tcp".to_string(),
            host_ip: "127.0.0.1".to_string(),
            host_port: None,
        }],
        init: true,
        ulimits: vec![("nofile".to_string(), 1024, 1024)],
        stop_signal: Some("SIGTERM".to_string()),
        stop_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

pub async fn prepare(runtime: &DockerRuntime, names: &Names) {
    let context = demo_context();
    let mut request = build_request(context.path(), &names.tag);
    request.labels = labels(&names.project, "image");
    runtime
        .build_image(&request, &|_| {})
        .await
        .expect("build the demo image");
    for (name, internal) in [(&names.front, false), (&names.back, true)] {
        let spec = NetworkSpec {
            name: name.clone(),
            internal,
            labels: labels(&names.project, "net"),
            pin_subnet: false,
        };
        runtime.create_network(&spec).await.expect("create network");
    }
    let volume_labels = labels(&names.project, "data");
    runtime
        .create_volume(&names.volume, &volume_labels)
        .await
        .expect("create volume");
}

/// Poll until healthy; bounded to about 30 s, failing with the logs on anything else.
pub async fn wait_healthy(runtime: &DockerRuntime, id: &str) -> bulkhead_ports::ContainerInfo {
    for _ in 0..120 {
        let info = runtime
            .inspect_container(id)
            .await
            .expect("inspect container");
        match info.health {
            HealthState::Healthy => return info,
            HealthState::Unhealthy => {}
            _ if info.state == "running" || info.state == "created" => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            _ => {}
        }
        let logs = runtime.logs(id, None).await.unwrap_or_default();
        panic!(
            "container went {} / {:?}; logs: {logs:?}",
            info.state, info.health
        );
    }
    let logs = runtime.logs(id, None).await.unwrap_or_default();
    panic!("container not healthy after ~30 s; logs: {logs:?}");
}
