//! The Swarm adapter against a real 3-node Swarm (`cargo xtask lab up 3`, brought up here when
//! it is not up, and taken down again only then): the demo store deployed with the mapping
//! across the nodes, its hardening read back with `docker inspect` of a task container on a
//! worker, no update when nothing changed, a rolling update when the environment did, a
//! versioned secret delivered as a file, the IPsec probe checked against what an encrypted
//! overlay really carries between nodes, and removal by owner label leaving nothing on any
//! node. Needs root (the lab is one dockerd per network namespace); skipped, saying so,
//! otherwise.

#[path = "swarm/lab.rs"]
mod lab;
#[path = "swarm/spec.rs"]
mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use bollard::models::{
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_RELEASE, LABEL_SERVICE};
use bulkhead_swarm::{
    Applied, IpsecSupport, LABEL_SPEC, OverlaySpec, SecretMount, ServiceState, SwarmClient,
    SwarmError, TaskHealth, encryption, ipsec,
};
use lab::{Cleanup, Lab, docker_ok, inspect};
use serde_json::Value;

/// Polls of a convergence wait, 250 ms apart: two minutes at most.
const POLLS: usize = 480;
const POLL: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread")]
async fn the_host_engine_is_refused_unless_it_is_a_swarm_manager() {
    let host = "unix:///var/run/docker.sock";
    let state = docker_ok(
        host,
        &[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ],
    );
    match SwarmClient::connect_to(host).await {
        Ok(_) => assert_eq!(state.trim(), "active true", "connected to a non-manager"),
        Err(err) => {
            assert_ne!(state.trim(), "active true", "a manager was refused: {err}");
            assert!(matches!(err, SwarmError::NotManager { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("is not a Swarm manager; Bulkhead never creates a cluster"),
                "{err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_runs_hardened_on_three_nodes_and_leaves_nothing() {
    if !lab::is_root() {
        eprintln!(
            "SKIPPED the_store_runs_hardened_on_three_nodes_and_leaves_nothing: the Swarm lab \
             needs root (one dockerd per network namespace); run the tests as root"
        );
        return;
    }
    let lab = Lab::up();
    let project = format!("bhst{}", std::process::id());
    let image = format!("bulkhead-swarm-test/demo:{project}");
    let _cleanup = Cleanup {
        nodes: lab.nodes.clone(),
        project: project.clone(),
        image: image.clone(),
    };
    lab::demo_image(&lab, &image);

    let worker = SwarmClient::connect_to(&lab.nodes[1])
        .await
        .expect_err("a worker is refused");
    assert!(
        matches!(&worker, SwarmError::NotManager { state, .. } if state == "a Swarm worker"),
        "{worker}"
    );
    let (client, manager) = SwarmClient::connect_to(lab.manager())
        .await
        .expect("the lab's manager");
    assert!(manager.nodes >= 3 && manager.managers >= 1, "{manager:?}");

    let support = ipsec::probe();
    eprintln!("swarm test: IPsec probe: {support:?}");
    let encryption = encryption(&support, true).expect("allowed unencrypted");
    let network = format!("{project}-store-in");
    let overlay = OverlaySpec {
        name: network.clone(),
        internal: true,
        encrypted: encryption.encrypted,
        labels: owner(&project),
    };
    let (network_id, created) = client.create_overlay(&overlay).await.expect("overlay");
    assert!(created);
    let again = client
        .create_overlay(&overlay)
        .await
        .expect("overlay again");
    assert_eq!(again, (network_id.clone(), false));
    let net = inspect(lab.manager(), &["network"], &network_id);
    assert_eq!(
        (
            &net["Driver"],
            &net["Scope"],
            &net["Internal"],
            &net["Attachable"]
        ),
        (
            &Value::from("overlay"),
            &Value::from("swarm"),
            &Value::from(true),
            &Value::from(false)
        )
    );
    assert_eq!(
        net["Options"].get("encrypted").is_some(),
        encryption.encrypted
    );
    assert_eq!(net["Labels"][LABEL_PROJECT], Value::from(project.clone()));

    let canary = format!("bulkhead-swarm-canary-{}", std::process::id());
    let secret = client
        .create_secret(&project, "token", 1, canary.as_bytes())
        .await
        .expect("secret");
    assert!(secret.created);
    assert_eq!(secret.name, format!("{project}-token-v1"));
    let same = client
        .create_secret(&project, "token", 1, b"another value")
        .await
        .expect("the same version again");
    assert_eq!(
        (same.id.as_str(), same.created),
        (secret.id.as_str(), false)
    );
    let mount = SecretMount {
        secret_id: secret.id.clone(),
        secret_name: secret.name.clone(),
        target: "token".into(),
        mode: 0o400,
    };

    let first = spec::store_template(&image, 1);
    let store = spec::store_spec(&project, &first, &image, &network, &mount);
    let name = store.name.clone().expect("a name");
    let applied = client.apply_service(&store).await.expect("create");
    assert!(matches!(applied, Applied::Created { .. }), "{applied:?}");
    let running = wait_service(&client, &project, &name, 3, &store, false).await;
    let nodes: BTreeSet<_> = up_tasks(&running).filter_map(|t| t.node.clone()).collect();
    assert_eq!(nodes.len(), 3, "one task per node: {:?}", running.tasks);

    check_worker_task(&lab, &running, &project, &canary);
    let service_text = docker_ok(lab.manager(), &["service", "inspect", &name]);
    assert!(
        !service_text.contains(&canary),
        "the secret's value is in service inspect"
    );

    // Nothing changed: nothing is sent, the version stays.
    let unchanged = spec::store_spec(
        &project,
        &spec::store_template(&image, 1),
        &image,
        &network,
        &mount,
    );
    let applied = client.apply_service(&unchanged).await.expect("apply again");
    assert_eq!(
        applied,
        Applied::Unchanged {
            id: running.id.clone(),
            version: running.version
        }
    );
    assert_eq!(
        service(&client, &project, &name).await.version,
        running.version
    );

    // The environment changed: one rolling update.
    let second = spec::store_spec(
        &project,
        &spec::store_template(&image, 2),
        &image,
        &network,
        &mount,
    );
    let applied = client.apply_service(&second).await.expect("update");
    assert_eq!(
        applied,
        Applied::Updated {
            id: running.id.clone(),
            version: running.version
        }
    );
    let updated = wait_service(&client, &project, &name, 3, &second, true).await;
    assert!(updated.version > running.version);
    assert_eq!(updated.update_state.as_deref(), Some("completed"));
    for task in up_tasks(&updated) {
        let c = task_container(&lab, task);
        let env = c["Config"]["Env"].as_array().expect("env").clone();
        assert!(
            env.contains(&Value::from("BULKHEAD_TEST_STEP=2")),
            "{env:?}"
        );
    }

    overlays_carry_what_the_probe_says(
        &lab, &client, &project, &image, &updated, &network, &support,
    )
    .await;

    let removed = client.remove_project(&project).await.expect("remove");
    assert!(removed.services.contains(&name), "{removed:?}");
    assert!(removed.networks.contains(&network), "{removed:?}");
    assert_eq!(removed.secrets, vec![secret.name.clone()]);
    assert!(
        client
            .project_services(&project)
            .await
            .expect("list")
            .is_empty()
    );
    nothing_left(&lab, &project).await;
    let again = client.remove_project(&project).await.expect("remove again");
    assert_eq!(again, Default::default());
}

fn owner(project: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(LABEL_PROJECT.to_string(), project.to_string())])
}

/// Tasks Swarm means to run and that run.
fn up_tasks(s: &ServiceState) -> impl Iterator<Item = &bulkhead_swarm::TaskInfo> {
    s.tasks
        .iter()
        .filter(|t| t.desired_state == "running" && t.state == "running")
}

async fn service(client: &SwarmClient, project: &str, name: &str) -> ServiceState {
    client
        .project_services(project)
        .await
        .expect("list the project's services")
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("service {name} is listed"))
}

/// Wait until `name` runs `spec` (its hash label) with `replicas` ready tasks and, after an
/// update, that update completed; an update that rolled back or paused fails at once.
async fn wait_service(
    client: &SwarmClient,
    project: &str,
    name: &str,
    replicas: usize,
    spec: &ServiceSpec,
    updated: bool,
) -> ServiceState {
    let hash = spec.labels.as_ref().map(|l| l[LABEL_SPEC].clone());
    let mut last = None;
    for _ in 0..POLLS {
        let s = service(client, project, name).await;
        if let Some(
            bad @ ("rollback_started" | "rollback_completed" | "rollback_paused" | "paused"),
        ) = s.update_state.as_deref()
        {
            panic!("update of {name} went {bad}: {:?}", s.update_message)
        }
        let ready = up_tasks(&s)
            .filter(|t| t.health == TaskHealth::Ready)
            .count();
        let settled = match s.update_state.as_deref() {
            None => !updated,
            state => state == Some("completed"),
        };
        if s.spec_hash == hash && ready == replicas && settled && up_tasks(&s).count() == replicas {
            return s;
        }
        last = Some(s);
        tokio::time::sleep(POLL).await;
    }
    panic!("{name} did not settle with {replicas} ready tasks: {last:#?}");
}

/// The container of a task, inspected on its own node.
fn task_container(lab: &Lab, task: &bulkhead_swarm::TaskInfo) -> Value {
    let node = task.node.as_deref().expect("the task's node");
    let id = task.container_id.as_deref().expect("the task's container");
    inspect(lab.node(node), &[], id)
}

/// A task container on a worker, read back: the hardening, the owner labels, the gaps the
/// adapter reports (no swap limit, no no_new_privs, no CPU weight), the tmpfs flags the
/// engine adds, and the secret as a file of the service's user that no inspect shows.
fn check_worker_task(lab: &Lab, s: &ServiceState, project: &str, canary: &str) {
    let task = up_tasks(s)
        .find(|t| t.node.as_deref() != Some("bulkhead-lab-n1"))
        .expect("a task on a worker");
    let c = task_container(lab, task);
    let host = &c["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(c["Config"]["User"], "10001:10001");
    assert_eq!(host["PidsLimit"], 100);
    assert_eq!(host["Memory"], 64 << 20);
    assert_eq!(host["Init"], true);
    let labels = &c["Config"]["Labels"];
    assert_eq!(labels[LABEL_PROJECT], project);
    assert_eq!(labels[LABEL_SERVICE], "store");
    assert!(
        labels[LABEL_RELEASE]
            .as_str()
            .is_some_and(|r| r.starts_with("r-"))
    );
    // The gaps, as docker inspect shows them.
    assert_eq!(host["MemorySwap"], 2 * (64 << 20), "swap limit gap");
    assert_eq!(host["CpuShares"], 0, "CPU weight gap");
    assert!(
        host["SecurityOpt"].is_null(),
        "no-new-privileges gap: {}",
        host["SecurityOpt"]
    );
    let pid = c["State"]["Pid"].as_i64().expect("a pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.contains("NoNewPrivs:\t0"), "{status}");
    assert!(
        status.contains("Seccomp:\t2"),
        "the engine's default seccomp filter: {status}"
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let tmp = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/tmp"))
        .expect("/tmp is mounted");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(
            tmp.split(' ').nth(5).is_some_and(|o| o.contains(flag)),
            "{tmp}"
        );
    }
    let secret = format!("/proc/{pid}/root/run/secrets/token");
    assert_eq!(
        std::fs::read_to_string(&secret).expect("the secret file"),
        canary
    );
    let meta = std::fs::metadata(&secret).expect("stat the secret");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (10001, 10001, 0o400)
    );
    assert!(
        !c.to_string().contains(canary),
        "the secret's value is in docker inspect"
    );
}

/// Whether the probe's answer holds: a task on node 2 opens a TCP connection to a store task
/// on another node, over the store's overlay (encrypted only when the probe said it works:
/// the connection must succeed) and over an encrypted overlay (it succeeds exactly when the
/// probe found IPsec).
async fn overlays_carry_what_the_probe_says(
    lab: &Lab,
    client: &SwarmClient,
    project: &str,
    image: &str,
    store: &ServiceState,
    network: &str,
    support: &IpsecSupport,
) {
    let target = up_tasks(store)
        .find(|t| t.node.as_deref() != Some("bulkhead-lab-n2"))
        .expect("a store task off node 2");
    let address = task_container(lab, target)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .expect("the task's overlay address")
        .to_string();
    let plain = call(client, project, image, "plain", network, &address).await;
    assert_eq!(plain, "complete", "node 2 reached {address} over {network}");

    let encrypted = format!("{project}-enc");
    let spec = OverlaySpec {
        name: encrypted.clone(),
        internal: true,
        encrypted: true,
        labels: owner(project),
    };
    client
        .create_overlay(&spec)
        .await
        .expect("encrypted overlay");
    let enc_store = store_on(
        &encrypted,
        project,
        image,
        target.node.as_deref().unwrap_or_default(),
    );
    let name = enc_store.name.clone().expect("a name");
    client
        .apply_service(&enc_store)
        .await
        .expect("the store on the encrypted overlay");
    let running = wait_ready(client, project, &name).await;
    let task = up_tasks(&running).next().expect("its task");
    let address = task_container(lab, task)["NetworkSettings"]["Networks"][&encrypted]["IPAddress"]
        .as_str()
        .expect("the task's address")
        .to_string();
    let got = call(client, project, image, "enc", &encrypted, &address).await;
    match support {
        IpsecSupport::Available => assert_eq!(got, "complete", "IPsec found, yet no traffic"),
        IpsecSupport::Missing { .. } => assert_eq!(got, "failed", "no IPsec found, yet traffic"),
        IpsecSupport::Unknown { reason } => {
            eprintln!("swarm test: probe unknown ({reason}); encrypted overlay call: {got}")
        }
    }
}

/// One store task of a spec made by hand, on `network`, on node `hostname`.
fn store_on(network: &str, project: &str, image: &str, hostname: &str) -> ServiceSpec {
    ServiceSpec {
        name: Some(format!("{project}-encstore")),
        labels: Some(HashMap::from([(
            LABEL_PROJECT.to_string(),
            project.to_string(),
        )])),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_string()),
                args: Some(vec!["store".to_string()]),
                labels: Some(HashMap::from([(
                    LABEL_PROJECT.to_string(),
                    project.to_string(),
                )])),
                user: Some("10001:10001".to_string()),
                read_only: Some(true),
                capability_drop: Some(vec!["ALL".to_string()]),
                init: Some(true),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.hostname=={hostname}")]),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(network.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        endpoint_spec: Some(bollard::models::EndpointSpec {
            mode: Some(bollard::models::EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    }
}

async fn wait_ready(client: &SwarmClient, project: &str, name: &str) -> ServiceState {
    for _ in 0..POLLS {
        let s = service(client, project, name).await;
        if up_tasks(&s).any(|t| t.health == TaskHealth::Ready) {
            return s;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{name} has no running task");
}

/// One run on node 2 of `bulkhead-demo connect ADDRESS:8082` over `network`, never restarted;
/// its task's final state: `complete` (connected) or `failed`. A replicated service, not a
/// job: Swarm never reaps the tasks (nor their containers) of a removed job.
async fn call(
    client: &SwarmClient,
    project: &str,
    image: &str,
    tag: &str,
    network: &str,
    address: &str,
) -> String {
    let name = format!("{project}-call-{tag}");
    let caller = ServiceSpec {
        name: Some(name.clone()),
        labels: Some(HashMap::from([(
            LABEL_PROJECT.to_string(),
            project.to_string(),
        )])),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_string()),
                args: Some(
                    [
                        "connect",
                        &format!("{address}:8082"),
                        "--timeout-ms",
                        "3000",
                    ]
                    .map(str::to_string)
                    .to_vec(),
                ),
                user: Some("10001:10001".to_string()),
                read_only: Some(true),
                capability_drop: Some(vec!["ALL".to_string()]),
                labels: Some(HashMap::from([(
                    LABEL_PROJECT.to_string(),
                    project.to_string(),
                )])),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec!["node.hostname==bulkhead-lab-n2".to_string()]),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(network.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    client.apply_service(&caller).await.expect("the caller");
    for _ in 0..POLLS {
        let s = service(client, project, &name).await;
        if let Some(t) = s
            .tasks
            .iter()
            .find(|t| matches!(t.state.as_str(), "complete" | "failed" | "rejected"))
        {
            eprintln!(
                "swarm test: call {tag} to {address}: {} {:?}",
                t.state, t.error
            );
            return t.state.clone();
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("the caller {name} did not end");
}

/// After removal: no service, network or secret of the project on the manager, and on every
/// node no container of it and no instance of its networks (a node removes them once its
/// containers are gone).
async fn nothing_left(lab: &Lab, project: &str) {
    let label = format!("label={LABEL_PROJECT}={project}");
    let names = format!("name={project}-");
    let mut left = String::new();
    for _ in 0..POLLS {
        left.clear();
        for kind in ["service", "secret"] {
            let out = docker_ok(lab.manager(), &[kind, "ls", "-q", "--filter", &label]);
            left.extend(out.split_whitespace().map(|id| format!("{kind} {id}; ")));
        }
        for node in &lab.nodes {
            let containers = docker_ok(node, &["ps", "-aq", "--filter", &label]);
            let networks = docker_ok(node, &["network", "ls", "-q", "--filter", &names]);
            left.extend(
                containers
                    .split_whitespace()
                    .map(|id| format!("container {id} on {node}; ")),
            );
            left.extend(
                networks
                    .split_whitespace()
                    .map(|id| format!("network {id} on {node}; ")),
            );
        }
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("left after removal: {left}");
}
