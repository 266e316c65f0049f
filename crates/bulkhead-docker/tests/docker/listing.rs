//! One list call against one inspect per container: a healthy, a starting and an exited
//! container read both ways agree on everything the list answer carries, and the list's run
//! time is a lower bound of the inspected one.

use super::*;
use fixture::{Names, hardened_spec, prepare, probe, wait_healthy};
use std::net::Ipv4Addr;

/// Poll until the container has exited; bounded to about 30 s.
async fn wait_exited(runtime: &DockerRuntime, id: &str) -> bulkhead_ports::ContainerInfo {
    for _ in 0..120 {
        let info = runtime.inspect_container(id).await.expect("inspect");
        if info.state == "exited" {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("container {id} did not exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_list_call_tells_what_inspect_tells() {
    let project = unique("listing");
    let names = Names::of(&project, "healthy-1");
    let pinned = format!("{project}-in");
    let (starting, exited) = (
        format!("{project}-starting-1"),
        format!("{project}-exited-1"),
    );
    let mut cleanup = names.cleanup();
    cleanup.networks.push(pinned.clone());
    cleanup
        .containers
        .extend([starting.clone(), exited.clone()]);
    let runtime = runtime().await;
    prepare(&runtime, &names).await;
    let info = runtime
        .create_network(&NetworkSpec {
            name: pinned.clone(),
            internal: true,
            labels: labels(&project, "net"),
            pin_subnet: true,
        })
        .await
        .expect("create a pinned network");
    let base: Ipv4Addr = info
        .subnets
        .first()
        .and_then(|s| s.split_once('/'))
        .and_then(|(a, _)| a.parse().ok())
        .expect("an IPv4 subnet");

    // Healthy: published port, two networks with aliases, a fixed address on the third.
    let mut healthy = hardened_spec(&names);
    healthy.hostname = None;
    healthy
        .networks
        .push((pinned.clone(), vec!["store-in".into()]));
    healthy.fixed_addresses =
        BTreeMap::from([(pinned.clone(), Ipv4Addr::from(u32::from(base) + 9))]);
    let healthy_id = runtime.create_container(&healthy).await.expect("create");
    runtime.start_container(&healthy_id).await.expect("start");
    let healthy_info = wait_healthy(&runtime, &healthy_id).await;
    assert!(!healthy_info.published.is_empty(), "{healthy_info:?}");

    // Starting: its first health check is an hour away.
    let mut waiting = hardened_spec(&names);
    waiting.name = starting.clone();
    waiting.labels = labels(&project, "starting");
    waiting.hostname = None;
    waiting.ports.clear();
    waiting.networks = vec![(pinned.clone(), vec!["waiting".into()])];
    waiting.fixed_addresses =
        BTreeMap::from([(pinned.clone(), Ipv4Addr::from(u32::from(base) + 10))]);
    waiting.healthcheck = Some(HealthSpec {
        test: [vec!["CMD".to_string()], probe(8082)].concat(),
        interval: Some(Duration::from_secs(3600)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(3),
        start_period: None,
    });
    let starting_id = runtime.create_container(&waiting).await.expect("create");
    runtime.start_container(&starting_id).await.expect("start");

    // Exited: an unknown role makes the demo binary exit with a non-zero code.
    let mut failing = hardened_spec(&names);
    failing.name = exited.clone();
    failing.labels = labels(&project, "exited");
    failing.hostname = None;
    failing.ports.clear();
    failing.restart = ("no".to_string(), 0);
    failing.command = Some(vec!["no-such-role".to_string()]);
    let exited_id = runtime.create_container(&failing).await.expect("create");
    runtime.start_container(&exited_id).await.expect("start");
    let exited_info = wait_exited(&runtime, &exited_id).await;
    assert!(
        exited_info.exit_code.is_some_and(|c| c != 0),
        "{exited_info:?}"
    );

    let listed = runtime
        .list_containers(&project_filter(&project))
        .await
        .expect("list");
    let mut names_listed: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    names_listed.sort_unstable();
    assert_eq!(
        listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        names_listed,
        "sorted by name"
    );
    assert_eq!(listed.len(), 3, "{listed:?}");
    for id in [&healthy_id, &starting_id, &exited_id] {
        // Inspected after the list: it has run at least as long as the list says.
        let from_list = listed.iter().find(|c| &c.id == id).expect("listed");
        let inspected = runtime.inspect_container(id).await.expect("inspect");
        assert_eq!(from_list.name, inspected.name);
        assert_eq!(from_list.image, inspected.image);
        assert_eq!(from_list.labels, inspected.labels);
        assert_eq!(from_list.state, inspected.state, "{from_list:?}");
        if inspected.state == "running" {
            assert_eq!(from_list.health, inspected.health, "{from_list:?}");
        } else {
            // Inspect keeps the last verdict of a stopped container (20.10: unhealthy); its
            // status line does not tell one.
            assert_eq!(from_list.health, HealthState::None, "{from_list:?}");
        }
        assert_eq!(from_list.exit_code, inspected.exit_code, "{from_list:?}");
        assert_eq!(from_list.addresses, inspected.addresses);
        assert_eq!(from_list.fixed_addresses, inspected.fixed_addresses);
        assert_eq!(from_list.published, inspected.published);
        assert_eq!(from_list.restart_count, None);
        assert!(inspected.restart_count.is_some());
        // Where the list carries aliases they are inspect's (Docker 20.10 carries none).
        for (net, aliases) in &from_list.aliases {
            assert_eq!(Some(aliases), inspected.aliases.get(net), "{net}");
        }
        match (from_list.running_for, inspected.running_for) {
            (Some(listed), Some(ran)) => assert!(listed <= ran, "{listed:?} > {ran:?}"),
            (None, None) => assert_eq!(inspected.state, "exited"),
            other => panic!("run times disagree: {other:?}"),
        }
    }
    let by_id = |id: &str| listed.iter().find(|c| c.id == id).expect("listed");
    assert_eq!(by_id(&healthy_id).health, HealthState::Healthy);
    assert_eq!(by_id(&starting_id).health, HealthState::Starting);
    assert_eq!(by_id(&exited_id).state, "exited");
    assert!(by_id(&exited_id).exit_code.is_some_and(|c| c != 0));
    assert_eq!(
        by_id(&healthy_id).fixed_addresses.len(),
        1,
        "the fixed address is in the list answer"
    );
}
