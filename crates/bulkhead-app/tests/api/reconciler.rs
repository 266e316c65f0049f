//! The reconciler loop against the real engine: a replica removed by hand comes back, without
//! any request, because the loop looks again on engine events (and every few seconds).

use std::time::{Duration, Instant};

use bulkhead_app::api::{Caller, Command, Source};
use bulkhead_app::project::ProjectOptions;
use bulkhead_core::auth::ProjectName;

use super::support::server;

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ids(project: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.bulkhead.project={project}"),
        "--filter",
        "status=running",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_removed_by_hand_is_replaced() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("examples/shop/image/bulkhead-demo").exists() {
        let built = std::process::Command::new("bash")
            .arg(root.join("examples/shop/build.sh"))
            .status()
            .expect("build.sh runs");
        assert!(built.success(), "examples/shop/build.sh failed");
    }
    let srv = server().await;
    let project = format!("bhrec{}", std::process::id());
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let ids = docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=dev.bulkhead.project={}", self.0),
            ]);
            for id in ids.lines() {
                docker(&["rm", "-f", id]);
            }
            let nets = docker(&[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("label=dev.bulkhead.project={}", self.0),
            ]);
            for n in nets.lines() {
                docker(&["network", "rm", n]);
            }
            use bulkhead_ports::Firewall as _;
            let _ = bulkhead_app::firewall::HostFirewall::new().unblock_project(&self.0);
        }
    }
    let _down = Down(project.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let options = ProjectOptions {
        files: vec![root.join("examples/shop/one.yaml")],
        project_name: Some(project.clone()),
        project_dir: None,
        profiles: vec![],
        env_file: None,
        env: [("ONE_PORT".to_string(), port.to_string())].into(),
        cwd: root.clone(),
        ..Default::default()
    };
    let name = ProjectName::new(&project).expect("name");
    srv.api
        .execute(
            Caller::local(),
            Command::ProjectUp {
                project: name.clone(),
                source: Source::Local(options),
            },
        )
        .await
        .expect("up");
    let before = ids(&project);
    assert_eq!(before.len(), 1, "{before:?}");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loop_task = tokio::spawn(bulkhead_app::server::controller::run(
        std::sync::Arc::clone(&srv.api),
        Duration::from_secs(30),
        stop_rx,
    ));
    // Let the loop subscribe to the engine's events, then remove the replica behind its back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    docker(&["rm", "-f", &before[0]]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let replaced = loop {
        let now = ids(&project);
        if now.len() == 1 && now[0] != before[0] {
            break Some(now[0].clone());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop_tx.send(true);
    let _ = loop_task.await;
    // The periodic pass is 30 s away: only the event can have triggered it this soon.
    assert!(replaced.is_some(), "not replaced within 20 s");
}
