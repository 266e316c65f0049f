//! A network with a pinned subnet: a container given a fixed address there, its endpoint moved
//! (disconnected, connected again at the same address without its alias), and the inbound
//! connections its network namespace holds.

use super::*;
use fixture::{Names, hardened_spec, prepare, wait_healthy};
use std::net::Ipv4Addr;

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_network_gives_fixed_addresses_and_endpoints_move_keeping_them() {
    let project = unique("endpoints");
    let names = Names::of(&project, "store-1");
    let pinned = format!("{project}-in");
    let mut cleanup = names.cleanup();
    cleanup.networks.push(pinned.clone());
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
    assert_eq!(
        info.labels.get("dev.bulkhead.subnet").map(String::as_str),
        Some("pinned")
    );
    let subnet = info.subnets.first().expect("a subnet");
    assert!(!info.gateways.is_empty(), "{info:?}");
    let inspected = docker_inspect("network", &pinned);
    assert_eq!(inspected["IPAM"]["Config"][0]["Subnet"], subnet.as_str());
    let base: Ipv4Addr = subnet
        .split_once('/')
        .and_then(|(a, _)| a.parse().ok())
        .expect("an IPv4 subnet");
    let ip = Ipv4Addr::from(u32::from(base) + 9);

    let mut spec = hardened_spec(&names);
    spec.networks = vec![
        (names.front.clone(), vec!["store".to_string()]),
        (pinned.clone(), vec!["store".to_string()]),
    ];
    spec.fixed_addresses = BTreeMap::from([(pinned.clone(), ip)]);
    // Docker 20.10 makes a container's hostname one more alias on every user network.
    spec.hostname = None;
    let id = runtime.create_container(&spec).await.expect("create");
    runtime.start_container(&id).await.expect("start");
    let up = wait_healthy(&runtime, &id).await;
    let ip_text = ip.to_string();
    assert_eq!(up.addresses.get(&pinned), Some(&ip_text));
    assert_eq!(up.fixed_addresses.get(&pinned), Some(&ip_text));
    assert!(up.aliases[&pinned].contains(&"store".to_string()), "{up:?}");
    assert_eq!(
        runtime.inbound_connections(&id).await.expect("count"),
        Some(0),
        "health probes over loopback do not count"
    );

    runtime
        .disconnect_network(&id, &pinned)
        .await
        .expect("disconnect");
    runtime
        .disconnect_network(&id, &pinned)
        .await
        .expect("disconnecting again is fine");
    let off = runtime.inspect_container(&id).await.expect("inspect");
    assert_eq!(off.addresses.get(&pinned), None);
    runtime
        .connect_network(&id, &pinned, &[], Some(ip))
        .await
        .expect("connect again");
    let back = runtime.inspect_container(&id).await.expect("inspect");
    assert_eq!(back.addresses.get(&pinned), Some(&ip_text), "same address");
    assert!(
        !back.aliases[&pinned].contains(&"store".to_string()),
        "without the alias: {back:?}"
    );
    runtime
        .remove_container(&id)
        .await
        .expect("remove container");
    assert_eq!(runtime.inbound_connections(&id).await.expect("gone"), None);
}
