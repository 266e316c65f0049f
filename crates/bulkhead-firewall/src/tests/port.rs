//! Unit tests of `HostFirewall`, the port over the iptables firewall: what the app asks for
//! is what it reads back, grouped by network and bridge.

use bulkhead_ports::{Firewall as _, InstalledRules, NetworkRules as Wanted};

use super::*;

fn port() -> (FakeIptables, HostFirewall) {
    let fake = FakeIptables::docker_host();
    (fake.clone(), HostFirewall::from(Firewall::with_exec(fake)))
}

#[test]
fn installed_rules_read_back_as_they_were_asked_for() {
    let (_, fw) = port();
    let edge = Wanted {
        network: "edge".into(),
        bridge: "br-aaaaaaaaaaaa".into(),
        block_egress: true,
        ingress: None,
        refused: Vec::new(),
    };
    let db = Wanted {
        network: "db-in".into(),
        bridge: DB_BR.into(),
        block_egress: false,
        ingress: Some(vec![O2, O]),
        refused: vec![CALLER],
    };
    fw.ensure("shop", &[edge, db]).expect("ensure");
    assert_eq!(
        fw.installed("shop").expect("installed"),
        [
            InstalledRules {
                network: "db-in".into(),
                bridge: DB_BR.into(),
                egress_drop: false,
                host_drop: false,
                ingress: Some(vec![O, O2]),
                refused: vec![CALLER],
            },
            InstalledRules {
                network: "edge".into(),
                bridge: "br-aaaaaaaaaaaa".into(),
                egress_drop: true,
                host_drop: true,
                ingress: None,
                refused: Vec::new(),
            },
        ]
    );
    assert_eq!(fw.installed("other").expect("installed"), []);
}

#[test]
fn an_empty_allow_set_reads_back_as_restricted() {
    let (_, fw) = port();
    let db = Wanted {
        network: "db-in".into(),
        bridge: DB_BR.into(),
        block_egress: false,
        ingress: Some(Vec::new()),
        refused: Vec::new(),
    };
    fw.ensure("shop", &[db]).expect("ensure");
    let installed = fw.installed("shop").expect("installed");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].ingress, Some(Vec::new()));
}

#[test]
fn unblock_takes_a_network_or_a_stale_bridge_and_unblock_project_the_rest() {
    let (fake, fw) = port();
    let wanted = |network: &str, bridge: &str| Wanted {
        network: network.into(),
        bridge: bridge.into(),
        block_egress: true,
        ingress: None,
        refused: Vec::new(),
    };
    fw.ensure(
        "shop",
        &[
            wanted("edge", "br-aaaaaaaaaaaa"),
            wanted("admin", "br-cccccccccccc"),
        ],
    )
    .expect("ensure");
    fw.unblock("shop", &["admin".into()], &[]).expect("unblock");
    let left: Vec<String> = fw
        .installed("shop")
        .expect("installed")
        .into_iter()
        .map(|r| r.network)
        .collect();
    assert_eq!(left, ["edge"]);
    fw.unblock("shop", &[], &[("edge".into(), "br-bbbbbbbbbbbb".into())])
        .expect("unblock a bridge it does not have");
    assert_eq!(fw.installed("shop").expect("installed").len(), 1);
    fw.unblock_project("shop").expect("unblock the project");
    assert_eq!(fw.installed("shop").expect("installed"), []);
    assert_eq!(fake.rules("DOCKER-USER"), ["-j RETURN"]);
}

#[test]
fn a_failure_names_the_operation() {
    let (_, fw) = port();
    let bad = Wanted {
        network: "edge".into(),
        bridge: "br+".into(),
        block_egress: true,
        ingress: None,
        refused: Vec::new(),
    };
    let err = fw.ensure("shop", &[bad]).expect_err("an invalid bridge");
    assert_eq!(err.operation, "installing rules");
    assert!(err.reason.contains("br+"), "{err}");
}
