//! The network paths of a deployed shop, tried from inside its containers: the declared
//! ones open, every other one (between services, back to callers, out to the host) closed.

use serde_json::Value;

use super::deploy::up;
use super::support::Shop;

/// The address of a container on a network, from `docker inspect`.
fn ip(c: &Value, network: &str) -> Option<String> {
    c["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .map(str::to_string)
}

fn can_connect(from: &Value, to: &str) -> bool {
    let id = from["Id"].as_str().unwrap_or_default();
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            id,
            "/bulkhead-demo",
            "connect",
            to,
            "--timeout-ms",
            "1000",
        ])
        .output()
        .expect("docker exec");
    out.status.success()
}

#[test]
fn only_declared_paths_are_open() {
    let shop = Shop::new("n");
    up(&shop);
    let containers = shop.containers();
    let by = |s: &str| {
        containers
            .iter()
            .find(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == s)
            .cloned()
            .expect("service container")
    };
    let (web, api, store) = (by("web"), by("api"), by("store"));
    let p = &shop.name;
    let api_ip = ip(&api, &format!("{p}-api-in")).expect("api on its ingress network");
    let store_ip = ip(&store, &format!("{p}-store-in")).expect("store on its ingress network");
    let web_ips: Vec<String> = web["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|n| n["IPAddress"].as_str().map(str::to_string))
        .collect();
    assert!(
        can_connect(&web, &format!("{api_ip}:8081")),
        "web -> api must be open"
    );
    assert!(
        can_connect(&api, &format!("{store_ip}:8082")),
        "api -> store must be open"
    );
    assert!(
        !can_connect(&web, &format!("{store_ip}:8082")),
        "web -> store must be closed"
    );
    for w in &web_ips {
        assert!(
            !can_connect(&store, &format!("{w}:8080")),
            "store -> web ({w}) must be closed"
        );
    }
    let api_ips: Vec<String> = api["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|n| n["IPAddress"].as_str().map(str::to_string))
        .collect();
    for a in &api_ips {
        assert!(
            !can_connect(&store, &format!("{a}:8081")),
            "store -> api ({a}) must be closed"
        );
    }
    let web_on_api_in = ip(&web, &format!("{p}-api-in")).expect("web joins api's ingress network");
    assert!(
        !can_connect(&api, &format!("{web_on_api_in}:8080")),
        "api -> web must be closed (one-way ingress)"
    );
    // Egress: a listener the test starts on the host, reached through the web's gateway.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = listener.local_addr().expect("addr").port();
    for (net, n) in web["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(gw) = n["Gateway"].as_str().filter(|g| !g.is_empty()) {
            assert!(
                !can_connect(&web, &format!("{gw}:{port}")),
                "web -> host via {net} must be closed"
            );
        }
    }
}
