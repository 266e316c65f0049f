//! The reconciler loop against the real engine: a replica removed by hand comes back, without
//! any request, because the loop looks again on engine events (and every few seconds); a
//! network removed by hand comes back on the next pass with its firewall rules, bound to its
//! new bridge.

use std::collections::BTreeMap;
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

/// The demo binary in the shop's image context, built if missing.
fn demo_built() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("examples/shop/image/bulkhead-demo").exists() {
        let built = std::process::Command::new("bash")
            .arg(root.join("examples/shop/build.sh"))
            .status()
            .expect("build.sh runs");
        assert!(built.success(), "examples/shop/build.sh failed");
    }
    root
}

/// Removes a project's containers, networks and firewall rules, also when a test fails.
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
        let _ = bulkhead_firewall::HostFirewall::new().unblock_project(&self.0);
    }
}

/// `up` of the shop's store alone (`one.yaml`: one published service) as `project`.
async fn up_one(srv: &super::support::Server, root: &std::path::Path, project: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let options = ProjectOptions {
        files: vec![root.join("examples/shop/one.yaml")],
        project_name: Some(project.to_string()),
        project_dir: None,
        profiles: vec![],
        env_file: None,
        env: [("ONE_PORT".to_string(), port.to_string())].into(),
        cwd: root.to_path_buf(),
        ..Default::default()
    };
    let name = ProjectName::new(project).expect("name");
    srv.api
        .execute(
            Caller::local(),
            Command::ProjectUp {
                project: name,
                source: Source::Local(options),
            },
        )
        .await
        .expect("up");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_removed_by_hand_is_replaced() {
    let root = demo_built();
    let srv = server().await;
    let project = format!("bhrec{}", std::process::id());
    let _down = Down(project.clone());
    up_one(&srv, &root, &project).await;
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

/// The project's networks and their bridges, as the engine reports them now (none of the
/// project's networks sets a bridge name: Docker names it `br-` and 12 digits of its id).
fn bridges(project: &str) -> BTreeMap<String, String> {
    let ids = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=dev.bulkhead.project={project}"),
    ]);
    ids.lines()
        .map(|id| {
            let line = docker(&["network", "inspect", "--format", "{{.Name}} {{.Id}}", id]);
            let (name, full) = line.split_once(' ').expect("name and id");
            (name.to_string(), format!("br-{}", &full[..12]))
        })
        .collect()
}

/// The project's rules in the filter table, read with `iptables -S`: (chain, network, bridge)
/// of each, sorted, the chains of ingress restrictions as `BULKHEAD-*`.
fn rules_of(project: &str) -> Vec<(String, String, String)> {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-S"])
        .output()
        .expect("iptables runs");
    assert!(out.status.success(), "iptables -S failed");
    let tag = format!("bulkhead:{project}:");
    let mut rules: Vec<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let network = words
                .iter()
                .find_map(|w| w.trim_matches('"').strip_prefix(&tag))?;
            let bridge = words.windows(2).find(|w| w[0] == "-i")?[1];
            let chain = match words.get(1)? {
                c if c.starts_with("BULKHEAD-") => "BULKHEAD-*",
                c => c,
            };
            Some((chain.into(), network.into(), bridge.into()))
        })
        .collect();
    rules.sort();
    rules
}

/// Whether a container can open a TCP connection to `to` (the demo binary's `connect`).
fn can_connect(container: &str, to: &str) -> bool {
    std::process::Command::new("docker")
        .args([
            "exec",
            container,
            "/bulkhead-demo",
            "connect",
            to,
            "--timeout-ms",
            "1000",
        ])
        .output()
        .expect("docker exec")
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_removed_by_hand_get_their_rules_back_on_the_next_pass() {
    let root = demo_built();
    let srv = server().await;
    let project = format!("bhrecnet{}", std::process::id());
    let _down = Down(project.clone());
    up_one(&srv, &root, &project).await;
    let old = bridges(&project);
    let before = rules_of(&project);
    let network = format!("{project}-store-pub");
    assert_eq!(
        before,
        [
            ("DOCKER-USER".into(), network.clone(), old[&network].clone()),
            ("INPUT".into(), network.clone(), old[&network].clone()),
        ],
        "the published store's network drops outbound connections and those to the host"
    );

    // Behind Bulkhead's back, as `docker network prune` would once the containers are gone.
    for id in docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dev.bulkhead.project={project}"),
    ])
    .lines()
    {
        docker(&["rm", "-f", id]);
    }
    for name in old.keys() {
        docker(&["network", "rm", name]);
    }
    assert!(bridges(&project).is_empty(), "networks removed");
    assert_eq!(
        rules_of(&project),
        before,
        "the rules stay on the vanished bridge"
    );

    // One pass of the loop (it runs every few seconds and on engine events), through the
    // server's long-lived deployer.
    let mut held = BTreeMap::new();
    bulkhead_app::server::controller::reconcile(&srv.api, &project, &mut held)
        .await
        .expect("reconcile pass");
    let new = bridges(&project);
    assert_eq!(
        new.keys().collect::<Vec<_>>(),
        [&network],
        "network re-created"
    );
    assert_ne!(new[&network], old[&network], "with a new bridge");
    let mut expected: Vec<(String, String, String)> = before
        .iter()
        .map(|(chain, net, _)| (chain.clone(), net.clone(), new[net].clone()))
        .collect();
    expected.sort();
    assert_eq!(
        rules_of(&project),
        expected,
        "every rule on the new bridge, none left on the vanished one"
    );
    let (plan, _) = srv
        .api
        .deployer
        .reconcile(&project)
        .await
        .expect("second pass");
    assert!(plan.is_empty(), "the next pass has nothing to do: {plan:?}");

    // The host is closed again from the new replica (a listener of this test on the host,
    // reached through the replica's gateway), while the probe itself works.
    let replica = ids(&project);
    assert_eq!(replica.len(), 1, "{replica:?}");
    assert!(
        can_connect(&replica[0], "127.0.0.1:8082"),
        "the probe reaches the replica's own port"
    );
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = listener.local_addr().expect("addr").port();
    let gateway = docker(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").Gateway}}}}"),
        &replica[0],
    ]);
    assert!(
        !gateway.is_empty(),
        "the replica has a gateway on {network}"
    );
    assert!(
        !can_connect(&replica[0], &format!("{gateway}:{port}")),
        "the host must be closed to the replica again"
    );
}
