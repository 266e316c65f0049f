//! A hardened container's whole life on two networks: build, create, start, healthy, read back
//! with `docker inspect`, exec, logs, rename, stop, remove.

use super::*;
use fixture::{Names, hardened_spec, prepare, probe, wait_healthy};
use support::http_status;

/// Everything the spec asked for, as the engine's own `docker inspect` shows it.
fn check_docker_inspect(names: &Names) {
    let container = docker_inspect("container", &names.container);
    check_host_config(&container["HostConfig"], names);
    check_config_and_networks(&container, names);
}

fn check_host_config(host: &serde_json::Value, names: &Names) {
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges:true"]));
    assert_eq!(host["Memory"], 64 << 20);
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["Init"], true);
    assert_eq!(host["Privileged"], false);
    assert_eq!(
        host["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(host["PortBindings"]["8082/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(host["NetworkMode"], names.front.as_str());
    assert_eq!(
        host["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 1024}])
    );
    assert_eq!(
        host["Tmpfs"],
        json!({"/tmp": "noexec,nosuid,uid=10001,size=1048576,mode=1777"})
    );
    let mounts = host["Mounts"].as_array().expect("mounts");
    assert!(mounts.iter().any(|m| m["Type"] == "volume"
        && m["Source"] == names.volume.as_str()
        && m["ReadOnly"] == true));
}

fn check_config_and_networks(container: &serde_json::Value, names: &Names) {
    let config = &container["Config"];
    assert_eq!(config["User"], "10001:10001");
    assert_eq!(config["Hostname"], "store");
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert_eq!(config["StopTimeout"], 5);
    assert_eq!(config["Healthcheck"]["Interval"], 1_000_000_000_i64);
    assert_eq!(config["Labels"]["dev.bulkhead.service"], "store");
    let env = config["Env"].as_array().expect("env");
    assert!(env.contains(&json!("BULKHEAD_TEST=1")));
    let networks = &container["NetworkSettings"]["Networks"];
    let aliases = |network: &str| networks[network]["Aliases"].as_array().cloned();
    assert!(
        aliases(&names.front)
            .expect("front")
            .contains(&json!("store"))
    );
    assert!(
        aliases(&names.back)
            .expect("back")
            .contains(&json!("store-b"))
    );
}

async fn check_running(runtime: &DockerRuntime, names: &Names, id: &str) {
    let info = runtime.inspect_container(id).await.expect("inspect");
    assert_eq!(
        (info.name.as_str(), info.state.as_str()),
        (names.container.as_str(), "running")
    );
    assert_eq!(info.image, names.tag);
    assert_eq!(info.exit_code, None);
    assert_eq!(info.labels, labels(&names.project, "store"));
    let networks: Vec<&String> = info.addresses.keys().collect();
    assert_eq!(networks, [&names.back, &names.front]);
    let [(port, host_ip, host_port)] = info.published.as_slice() else {
        panic!("one published port: {:?}", info.published);
    };
    assert_eq!((port.as_str(), host_ip.as_str()), ("8082/tcp", "127.0.0.1"));
    assert!(*host_port > 0);
    let status = http_status(*host_port, "/healthz").expect("the published port answers");
    assert!(status.contains(" 200"), "{status}");

    let listed = runtime
        .list_containers(&project_filter(&names.project))
        .await
        .expect("list");
    // The uptime moves on between the two reads; the list answer has no restart count and
    // (Docker 20.10) no aliases (see `listing` for the rest).
    let without_uptime = |mut c: bulkhead_ports::ContainerInfo| {
        assert!(c.running_for.is_some(), "a running container has an uptime");
        c.running_for = None;
        c.restart_count = None;
        c.aliases.clear();
        c
    };
    let listed: Vec<_> = listed.into_iter().map(without_uptime).collect();
    assert_eq!(listed, vec![without_uptime(info)]);
}

async fn check_exec_and_logs(runtime: &DockerRuntime, id: &str) {
    let ok = runtime
        .exec(id, &probe(8082), Duration::from_secs(10))
        .await
        .expect("exec");
    assert_eq!(ok, 0);
    let refused = runtime
        .exec(id, &probe(1), Duration::from_secs(10))
        .await
        .expect("exec");
    assert_ne!(refused, 0);
    let forever = ["/bulkhead-demo", "store", "--listen", "127.0.0.1:0"].map(String::from);
    let timed_out = runtime
        .exec(id, &forever, Duration::from_secs(1))
        .await
        .expect("exec");
    assert_eq!(timed_out, -1);

    let logs = runtime.logs(id, None).await.expect("logs");
    assert!(logs.iter().any(|l| l.contains("listening on")), "{logs:?}");
    let last = runtime.logs(id, Some(1)).await.expect("logs");
    assert!(last.len() <= 1, "{last:?}");
}

async fn rename_round_trip(runtime: &DockerRuntime, names: &Names, id: &str) {
    let renamed = format!("{}-renamed", names.container);
    runtime
        .rename_container(id, &renamed)
        .await
        .expect("rename");
    assert_eq!(
        runtime.inspect_container(id).await.expect("inspect").name,
        renamed
    );
    runtime
        .rename_container(id, &names.container)
        .await
        .expect("rename back");
}

/// Stopping twice is fine; the second finds it stopped.
async fn stop_twice(runtime: &DockerRuntime, id: &str) {
    runtime
        .stop_container(id, Duration::from_secs(5))
        .await
        .expect("stop");
    let stopped = runtime.inspect_container(id).await.expect("inspect");
    assert_eq!(stopped.state, "exited");
    assert!(stopped.exit_code.is_some());
    assert!(stopped.addresses.is_empty());
    runtime
        .stop_container(id, Duration::from_secs(5))
        .await
        .expect("already stopped");
    // A 409 that is not about a name: the engine's own words, not `Conflict`.
    let err = runtime
        .exec(id, &probe(8082), Duration::from_secs(5))
        .await
        .expect_err("not running");
    assert_err!(err, RuntimeError::Engine { reason, .. } if reason.contains("not running"));
}

/// Removing twice is fine too; afterwards the project's labels select nothing.
async fn remove_all(runtime: &DockerRuntime, names: &Names, id: &str) {
    runtime.remove_container(id).await.expect("remove");
    runtime.remove_container(id).await.expect("already removed");
    let err = runtime.inspect_container(id).await.expect_err("gone");
    assert_err!(
        err,
        RuntimeError::NotFound {
            what: "container",
            ..
        }
    );
    runtime
        .remove_volume(&names.volume)
        .await
        .expect("remove volume");
    for network in [&names.front, &names.back] {
        runtime
            .remove_network(network)
            .await
            .expect("remove network");
    }
    let filter = project_filter(&names.project);
    assert!(
        runtime
            .list_containers(&filter)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        runtime
            .list_networks(&filter)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        runtime
            .list_volumes(&filter)
            .await
            .expect("list")
            .is_empty()
    );
}

/// A missing network, first or later, is `NotFound` and leaves no container behind.
async fn check_missing_networks(runtime: &DockerRuntime, names: &Names) {
    for index in [0, 1] {
        let mut spec = hardened_spec(names);
        spec.networks[index].0 = format!("{}-nonexistent", names.project);
        let err = runtime
            .create_container(&spec)
            .await
            .expect_err("no such network");
        assert_err!(
            err,
            RuntimeError::NotFound {
                what: "network",
                ..
            }
        );
    }
    let filter = project_filter(&names.project);
    assert!(
        runtime
            .list_containers(&filter)
            .await
            .expect("list")
            .is_empty()
    );
}

/// The image carries the build's labels and goes with `docker rmi`, parents and all.
fn remove_image(names: &Names) {
    let image = docker_inspect("image", &names.tag);
    assert_eq!(image["Config"]["Labels"]["dev.bulkhead.service"], "image");
    let status = std::process::Command::new("docker")
        .args(["rmi", &names.tag])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("docker rmi runs");
    assert!(status.success());
    assert!(!image_exists(&names.tag));
}

#[tokio::test(flavor = "multi_thread")]
async fn hardened_container_lifecycle() {
    let runtime = runtime().await;
    let names = Names::new();
    let _cleanup = names.cleanup();
    prepare(&runtime, &names).await;
    check_missing_networks(&runtime, &names).await;

    // The event feed of the project, read from before the container exists until it is gone.
    let mut feed = runtime.events(&project_filter(&names.project));
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        let deadline = tokio::time::sleep(Duration::from_secs(120));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                event = futures_util::StreamExt::next(&mut feed) => match event {
                    Some(Ok(e)) => {
                        let done = e.action == "destroy";
                        seen.push(e);
                        if done {
                            break;
                        }
                    }
                    Some(Err(e)) => panic!("event feed failed: {e}"),
                    None => break,
                },
            }
        }
        seen
    });
    // The feed's request goes out when the task first polls it.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let spec = hardened_spec(&names);
    let id = runtime
        .create_container(&spec)
        .await
        .expect("create container");
    let again = runtime
        .create_container(&spec)
        .await
        .expect_err("name taken");
    assert_err!(
        again,
        RuntimeError::Conflict {
            what: "container",
            ..
        }
    );
    let created = runtime.inspect_container(&id).await.expect("inspect");
    assert_eq!(created.state, "created");
    assert_eq!(created.addresses, BTreeMap::new());

    runtime.start_container(&id).await.expect("start");
    let healthy = wait_healthy(&runtime, &id).await;
    assert_eq!(healthy.health, HealthState::Healthy);
    check_docker_inspect(&names);
    check_running(&runtime, &names, &id).await;
    check_exec_and_logs(&runtime, &id).await;
    rename_round_trip(&runtime, &names, &id).await;
    stop_twice(&runtime, &id).await;
    remove_all(&runtime, &names, &id).await;
    check_events(watcher.await.expect("watcher"), &names, &id);
    remove_image(&names);
}

/// The feed saw the container's life in order, with its owner labels.
fn check_events(seen: Vec<bulkhead_ports::RuntimeEvent>, names: &Names, id: &str) {
    let actions: Vec<&str> = seen
        .iter()
        .filter(|e| e.kind == "container" && e.id == id)
        .map(|e| e.action.as_str())
        .collect();
    let position = |action: &str| {
        actions
            .iter()
            .position(|a| *a == action)
            .unwrap_or_else(|| panic!("no {action} event in {actions:?}"))
    };
    assert!(position("start") < position("die"), "{actions:?}");
    assert!(position("die") < position("destroy"), "{actions:?}");
    for e in seen.iter().filter(|e| e.kind == "container") {
        assert_eq!(
            e.attributes.get("dev.bulkhead.project"),
            Some(&names.project),
            "only the project's objects: {e:?}"
        );
    }
    let died = &seen[seen
        .iter()
        .position(|e| e.id == id && e.action == "die")
        .expect("die")];
    assert!(died.attributes.contains_key("exitCode"), "{died:?}");
    assert!(died.time_nanos > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_reports_missing_image_and_network() {
    let runtime = runtime().await;
    let project = unique("missing");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(format!("{project}-x"));
    let spec = ContainerSpec {
        name: format!("{project}-x"),
        image: format!("{project}-nonexistent:1"),
        ..Default::default()
    };
    let err = runtime.create_container(&spec).await.expect_err("no image");
    assert_err!(err, RuntimeError::NotFound { what: "image", .. });
    let id = format!("{project}-no-such-container");
    let err = runtime.inspect_container(&id).await.expect_err("missing");
    assert_err!(
        err,
        RuntimeError::NotFound {
            what: "container",
            ..
        }
    );
    runtime
        .remove_container(&id)
        .await
        .expect("missing is removed");
    let err = runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .expect_err("missing");
    assert_err!(err, RuntimeError::NotFound { .. });
}
