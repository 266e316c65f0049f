//! Unit tests for the `ContainerSpec` → create-body mapping, checked on the JSON the engine gets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn full_spec() -> ContainerSpec {
    ContainerSpec {
        name: "shop-web-1".into(),
        image: "shop:1".into(),
        command: Some(vec!["web".into()]),
        entrypoint: Some(vec!["/bin/app".into()]),
        env: vec!["A=1".into()],
        labels: BTreeMap::from([("dev.bulkhead.project".into(), "shop".into())]),
        user: Some("10001:10001".into()),
        group_add: vec!["110".into()],
        working_dir: Some("/srv".into()),
        hostname: Some("web".into()),
        read_only_rootfs: true,
        mounts: vec![
            MountSpec::Bind {
                source: "/host".into(),
                target: "/in".into(),
                read_only: true,
            },
            MountSpec::Volume {
                name: "data".into(),
                target: "/data".into(),
                read_only: false,
            },
            MountSpec::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
                mode: Some(0o1777),
                options: vec!["nosuid".into(), "exec".into(), "uid=1000".into()],
            },
            MountSpec::Tmpfs {
                target: "/run".into(),
                size: None,
                mode: None,
                options: Vec::new(),
            },
        ],
        cap_drop: vec!["ALL".into()],
        cap_add: vec!["NET_BIND_SERVICE".into()],
        privileged: false,
        security_opt: vec!["no-new-privileges:true".into()],
        networks: vec![
            ("front".into(), vec!["web".into()]),
            ("back".into(), vec!["web-b".into()]),
        ],
        fixed_addresses: BTreeMap::from([("front".into(), [172, 18, 0, 9].into())]),
        network_mode: None,
        pid_mode: None,
        ipc_mode: Some("private".into()),
        uts_mode: None,
        userns_mode: None,
        devices: vec!["/dev/fuse".into(), "/dev/a:/dev/b:r".into()],
        memory: 64 << 20,
        memory_swap: 64 << 20,
        pids_limit: 64,
        cpu_shares: 512,
        nano_cpus: Some(500_000_000),
        restart: ("on-failure".into(), 5),
        healthcheck: Some(HealthSpec {
            test: vec!["CMD".into(), "/probe".into()],
            interval: Some(Duration::from_secs(1)),
            timeout: Some(Duration::from_millis(1500)),
            retries: Some(3),
            start_period: None,
        }),
        ports: vec![PortSpec {
            container_port: 8080,
            protocol: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: None,
        }],
        init: true,
        sysctls: BTreeMap::from([("net.ipv4.ip_unprivileged_port_start".into(), "0".into())]),
        ulimits: vec![("nofile".into(), 1024, 2048)],
        runtime: Some("runc".into()),
        stop_signal: Some("SIGINT".into()),
        stop_timeout: Some(Duration::from_millis(2500)),
        tty: false,
        stdin_open: false,
        extra_hosts: vec!["db.local:10.1.2.3".into()],
        dns: vec!["10.0.0.53".into()],
        dns_search: vec!["corp.example".into()],
        dns_opt: vec!["ndots:2".into()],
        domainname: Some("corp.example".into()),
        shm_size: Some(64 << 20),
        cpuset: Some("0-1".into()),
        oom_score_adj: Some(500),
        memory_reservation: Some(64 << 20),
        log: Some((
            "local".into(),
            BTreeMap::from([("max-size".into(), "10m".into())]),
        )),
    }
}

#[test]
fn engine_settings_map_to_their_fields() {
    let body = body_json(&full_spec());
    let h = &body["HostConfig"];
    assert_eq!(h["ExtraHosts"], serde_json::json!(["db.local:10.1.2.3"]));
    assert_eq!(h["Dns"], serde_json::json!(["10.0.0.53"]));
    assert_eq!(h["DnsSearch"], serde_json::json!(["corp.example"]));
    assert_eq!(h["DnsOptions"], serde_json::json!(["ndots:2"]));
    assert_eq!(body["Domainname"], "corp.example");
    assert_eq!(h["ShmSize"], 64 << 20);
    assert_eq!(h["CpusetCpus"], "0-1");
    assert_eq!(h["OomScoreAdj"], 500);
    assert_eq!(h["MemoryReservation"], 64 << 20);
    assert_eq!(
        h["LogConfig"],
        serde_json::json!({"Type": "local", "Config": {"max-size": "10m"}})
    );
    let plain = body_json(&ContainerSpec {
        image: "x".into(),
        ..Default::default()
    });
    for key in [
        "ExtraHosts",
        "Dns",
        "ShmSize",
        "CpusetCpus",
        "OomScoreAdj",
        "LogConfig",
    ] {
        assert!(
            plain["HostConfig"].get(key).is_none(),
            "{key} set when unset"
        );
    }
}

fn body_json(spec: &ContainerSpec) -> Value {
    let body = create_body(spec).expect("spec maps");
    serde_json::to_value(&body).expect("body serializes")
}

#[test]
fn config_fields_land() {
    let body = body_json(&full_spec());
    assert_eq!(body["Image"], "shop:1");
    assert_eq!(body["Cmd"], json!(["web"]));
    assert_eq!(body["Entrypoint"], json!(["/bin/app"]));
    assert_eq!(body["Env"], json!(["A=1"]));
    assert_eq!(body["Labels"]["dev.bulkhead.project"], "shop");
    assert_eq!(body["User"], "10001:10001");
    assert_eq!(body["WorkingDir"], "/srv");
    assert_eq!(body["Hostname"], "web");
    assert_eq!(body["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(body["StopSignal"], "SIGINT");
    assert_eq!(body["StopTimeout"], 3);
    assert_eq!(body["Tty"], false);
    assert_eq!(body["OpenStdin"], false);
    let health = &body["Healthcheck"];
    assert_eq!(health["Test"], json!(["CMD", "/probe"]));
    assert_eq!(health["Interval"], 1_000_000_000_i64);
    assert_eq!(health["Timeout"], 1_500_000_000_i64);
    assert_eq!(health["Retries"], 3);
    assert!(health.get("StartPeriod").is_none());
    assert!(health.get("StartInterval").is_none());
}

#[test]
fn host_config_fields_land() {
    let body = body_json(&full_spec());
    let host = &body["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["CapAdd"], json!(["NET_BIND_SERVICE"]));
    assert_eq!(host["GroupAdd"], json!(["110"]));
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges:true"]));
    assert_eq!(host["NetworkMode"], "front");
    assert_eq!(host["IpcMode"], "private");
    assert!(host.get("PidMode").is_none());
    assert!(host.get("UTSMode").is_none());
    assert!(host.get("UsernsMode").is_none());
    assert_eq!(host["Memory"], 64 << 20);
    assert_eq!(host["MemorySwap"], 64 << 20);
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(
        host["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 5})
    );
    assert_eq!(host["Init"], true);
    assert_eq!(host["Sysctls"]["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(
        host["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
    );
    assert_eq!(host["Runtime"], "runc");
    assert_eq!(
        host["PortBindings"],
        json!({"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]})
    );
    assert_eq!(
        host["Devices"],
        json!([
            {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
            {"PathOnHost": "/dev/a", "PathInContainer": "/dev/b", "CgroupPermissions": "r"}
        ])
    );
}

#[test]
fn mounts_and_first_network_land() {
    let body = body_json(&full_spec());
    assert_eq!(
        body["HostConfig"]["Mounts"],
        json!([
            {"Type": "bind", "Source": "/host", "Target": "/in", "ReadOnly": true},
            {"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": false}
        ])
    );
    // Every tmpfs option as written, in HostConfig.Tmpfs (API 1.41's Mounts would drop all
    // but size and mode).
    assert_eq!(
        body["HostConfig"]["Tmpfs"],
        json!({"/tmp": "nosuid,exec,uid=1000,size=1048576,mode=1777", "/run": ""})
    );
    assert_eq!(
        body["NetworkingConfig"],
        json!({"EndpointsConfig": {"front": {
            "Aliases": ["web"],
            "IPAMConfig": {"IPv4Address": "172.18.0.9"}
        }}})
    );
}

/// Every key sent must exist in API 1.41; newer ones (ConsoleSize, Annotations, StartInterval,
/// CreateMountpoint, ...) must stay out.
#[test]
fn sends_only_api_1_41_keys() {
    const CONFIG: &[&str] = &[
        "Image",
        "Cmd",
        "Entrypoint",
        "Env",
        "Labels",
        "User",
        "WorkingDir",
        "Hostname",
        "ExposedPorts",
        "Healthcheck",
        "StopSignal",
        "StopTimeout",
        "Tty",
        "OpenStdin",
        "Domainname",
        "HostConfig",
        "NetworkingConfig",
    ];
    const HOST: &[&str] = &[
        "ReadonlyRootfs",
        "Mounts",
        "Tmpfs",
        "CapDrop",
        "CapAdd",
        "GroupAdd",
        "Privileged",
        "SecurityOpt",
        "NetworkMode",
        "IpcMode",
        "Devices",
        "Memory",
        "MemorySwap",
        "PidsLimit",
        "CpuShares",
        "NanoCpus",
        "RestartPolicy",
        "Init",
        "Sysctls",
        "Ulimits",
        "Runtime",
        "PortBindings",
        "ExtraHosts",
        "Dns",
        "DnsSearch",
        "DnsOptions",
        "ShmSize",
        "CpusetCpus",
        "OomScoreAdj",
        "MemoryReservation",
        "LogConfig",
    ];
    let body = body_json(&full_spec());
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    for key in keys(&body) {
        assert!(
            CONFIG.contains(&key.as_str()),
            "unexpected config key {key}"
        );
    }
    for key in keys(&body["HostConfig"]) {
        assert!(HOST.contains(&key.as_str()), "unexpected host key {key}");
    }
}

#[test]
fn network_mode_without_networks() {
    let spec = ContainerSpec {
        image: "x".into(),
        network_mode: Some("none".into()),
        ..Default::default()
    };
    let body = body_json(&spec);
    assert_eq!(body["HostConfig"]["NetworkMode"], "none");
    assert!(body.get("NetworkingConfig").is_none());
    assert_eq!(body["HostConfig"]["RestartPolicy"], json!({"Name": "no"}));
    assert!(body["HostConfig"].get("Memory").is_none());
    assert!(body["HostConfig"].get("PidsLimit").is_none());
}

#[test]
fn rejects_bad_devices_and_restart_policies() {
    assert!(device("/dev/a:/dev/b:rwm").is_ok());
    assert!(device("/dev/a:rw").is_ok());
    assert_eq!(device("dev/a"), Err(SpecError::Device("dev/a".into())));
    assert!(device("/dev/a:/dev/b:xyz").is_err());
    assert!(device("/a:/b:r:extra").is_err());
    assert!(restart_policy(&("sometimes".into(), 0)).is_err());
    assert_eq!(
        restart_policy(&("always".into(), 3)),
        Err(SpecError::RetryLimit("always".into(), 3))
    );
    assert!(restart_policy(&("unless-stopped".into(), 0)).is_ok());
}
