//! The Swarm service spec made from real templates (Compose text through the hardening): every
//! hardened setting lands in its API 1.41 field, owner labels and the spec's hash, rollouts,
//! endpoint, secrets; what Swarm cannot carry is refused.

use bollard::models::{
    EndpointSpecModeEnum, ServiceSpec, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpecContainerSpec, TaskSpecRestartPolicyConditionEnum,
};
use bulkhead_core::deploy::Template;
use bulkhead_core::hardening::Rule;
use bulkhead_core::spec::rollout::{FailureAction, Order, RolloutConfig};

use super::*;
use crate::fixture::template_of;

const STORE: &str = "command: [\"store\"]\n\
user: \"10001:10001\"\n\
read_only: true\n\
init: true\n\
environment: {STEP: \"1\", A: b}\n\
labels: {team: shop}\n\
deploy: {resources: {limits: {memory: 64M, pids: 100}}}\n\
healthcheck:\n  test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n  \
interval: 1s\n  timeout: 2s\n  retries: 3";

fn release() -> Release {
    Release {
        id: "r7".into(),
        replicas: 3,
        update: RolloutConfig::default(),
        rollback: RolloutConfig::default(),
    }
}

fn image() -> ImageRef {
    ImageRef::pinned(&format!(
        "10.99.0.1:5000/shop/demo@sha256:{}",
        "ab".repeat(32)
    ))
    .expect("a pinned image")
}

fn networks() -> Vec<Attachment> {
    vec![Attachment {
        network: "shop-svc-in".into(),
        aliases: vec!["svc".into()],
    }]
}

fn spec_for(template: &Template, release: &Release) -> Result<ServiceSpec, MappingError> {
    let image = image();
    let networks = networks();
    let secrets = [SecretMount {
        secret_id: "sid1".into(),
        secret_name: "shop-token-v2".into(),
        target: "token".into(),
        mode: 0o400,
    }];
    service_spec(&ServiceInput {
        project: "shop",
        service: "svc",
        release,
        template,
        image: &image,
        networks: &networks,
        secrets: &secrets,
    })
}

fn container(spec: &ServiceSpec) -> &TaskSpecContainerSpec {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .expect("a container spec")
}

#[test]
fn the_hardened_store_maps_field_by_field() {
    let spec = spec_for(&template_of(STORE, None), &release()).expect("maps");
    assert_eq!(spec.name.as_deref(), Some("shop-svc"));
    let labels = spec.labels.clone().expect("labels");
    assert_eq!(labels["dev.bulkhead.project"], "shop");
    assert_eq!(labels["dev.bulkhead.service"], "svc");
    assert_eq!(labels["dev.bulkhead.release"], "r7");
    assert_eq!(labels[LABEL_SPEC], spec_hash(&spec));

    let c = container(&spec);
    assert_eq!(c.image.as_deref(), Some(image().as_str()));
    let cl = c.labels.clone().expect("container labels");
    assert_eq!(cl["team"], "shop");
    assert_eq!(cl["dev.bulkhead.project"], "shop");
    assert_eq!(cl["dev.bulkhead.release"], "r7");
    assert!(!cl.contains_key(LABEL_SPEC));
    assert_eq!(c.command, None);
    assert_eq!(c.args, Some(vec!["store".to_string()]));
    assert_eq!(c.env, Some(vec!["A=b".to_string(), "STEP=1".to_string()]));
    assert_eq!(c.user.as_deref(), Some("10001:10001"));
    assert_eq!(c.read_only, Some(true));
    assert_eq!(c.capability_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(c.capability_add, None);
    assert_eq!(c.init, Some(true));
    assert_eq!(c.privileges, None);
    assert_eq!(c.stop_grace_period, Some(10_000_000_000));

    let mounts = c.mounts.clone().expect("the /tmp tmpfs");
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].target.as_deref(), Some("/tmp"));
    assert_eq!(mounts[0].typ, Some(bollard::models::MountType::TMPFS));
    let tmpfs = mounts[0].tmpfs_options.clone().expect("tmpfs options");
    assert_eq!((tmpfs.size_bytes, tmpfs.mode), (Some(64 << 20), None));

    let health = c.health_check.clone().expect("a health check");
    assert_eq!(health.test.as_ref().map(|t| t[0].as_str()), Some("CMD"));
    assert_eq!(health.interval, Some(1_000_000_000));
    assert_eq!(health.timeout, Some(2_000_000_000));
    assert_eq!(health.retries, Some(3));

    let secrets = c.secrets.clone().expect("the secret");
    let file = secrets[0].file.clone().expect("as a file");
    assert_eq!(secrets[0].secret_name.as_deref(), Some("shop-token-v2"));
    assert_eq!(
        (
            file.name.as_deref(),
            file.uid.as_deref(),
            file.gid.as_deref(),
            file.mode
        ),
        (Some("token"), Some("10001"), Some("10001"), Some(0o400))
    );

    let task = spec.task_template.as_ref().expect("task");
    let limits = task
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .expect("limits");
    assert_eq!(
        (limits.memory_bytes, limits.pids),
        (Some(64 << 20), Some(100))
    );
    let restart = task.restart_policy.clone().expect("restart policy");
    assert_eq!(
        restart.condition,
        Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE)
    );
    assert_eq!(restart.max_attempts, Some(5));
    let nets = task.networks.clone().expect("networks");
    assert_eq!(nets[0].target.as_deref(), Some("shop-svc-in"));
    assert_eq!(nets[0].aliases, Some(vec!["svc".to_string()]));
    assert_eq!(spec.networks, None);

    let mode = spec
        .mode
        .clone()
        .and_then(|m| m.replicated)
        .expect("replicated");
    assert_eq!(mode.replicas, Some(3));
    let endpoint = spec.endpoint_spec.clone().expect("endpoint");
    assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::DNSRR));
    assert_eq!(endpoint.ports, None);

    let update = spec.update_config.clone().expect("update config");
    assert_eq!(
        update.order,
        Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST)
    );
    assert_eq!(update.parallelism, Some(1));
    assert_eq!(
        update.failure_action,
        Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
    );
    assert_eq!(update.monitor, Some(5_000_000_000));
    let rollback = spec.rollback_config.clone().expect("rollback config");
    assert_eq!(
        rollback.order,
        Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST)
    );
    assert_eq!(
        rollback.failure_action,
        Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE)
    );
}

#[test]
fn only_fields_api_1_41_knows_are_sent() {
    // Fields of these types added after API 1.41: an engine of 1.41 would ignore them.
    const NEWER: &[&str] = &[
        "StartInterval",
        "OomScoreAdj",
        "NoNewPrivileges",
        "Seccomp",
        "AppArmor",
        "SwapBytes",
        "MemorySwappiness",
        "ImageOptions",
    ];
    let body =
        "security_opt: [\"label=type:svirt_lxc_net_t\"]\ntmpfs: [\"/run:size=1m,mode=0700\"]";
    let t = template_of(&format!("{STORE}\n{body}"), Some(Rule::ApparmorDefault));
    let spec = spec_for(&t, &release()).expect("maps");
    let json = serde_json::to_string(&spec).expect("JSON");
    for field in NEWER {
        assert!(!json.contains(&format!("\"{field}\"")), "{field} in {json}");
    }
    let tmpfs = serde_json::to_value(&container(&spec).mounts).expect("JSON");
    assert!(tmpfs.to_string().contains("\"Mode\":448"), "{tmpfs}");
    assert!(!tmpfs.to_string().contains("\"Options\""), "{tmpfs}");
}

#[test]
fn the_hash_is_stable_and_follows_any_change() {
    let t = template_of(STORE, None);
    let a = spec_for(&t, &release()).expect("maps");
    let b = spec_for(&t, &release()).expect("maps");
    assert_eq!(
        a.labels.as_ref().map(|l| &l[LABEL_SPEC]),
        b.labels.as_ref().map(|l| &l[LABEL_SPEC])
    );
    let changed = template_of(&STORE.replace("STEP: \"1\"", "STEP: \"2\""), None);
    let c = spec_for(&changed, &release()).expect("maps");
    assert_ne!(
        a.labels.as_ref().map(|l| &l[LABEL_SPEC]),
        c.labels.as_ref().map(|l| &l[LABEL_SPEC])
    );
    let more = Release {
        replicas: 4,
        ..release()
    };
    let d = spec_for(&t, &more).expect("maps");
    assert_ne!(
        a.labels.as_ref().map(|l| &l[LABEL_SPEC]),
        d.labels.as_ref().map(|l| &l[LABEL_SPEC])
    );
}

#[test]
fn what_swarm_cannot_carry_is_refused_with_every_reason() {
    let t = template_of(
        &format!("{STORE}\nprivileged: true\noom_score_adj: 5"),
        Some(Rule::NoPrivileged),
    );
    let err = spec_for(&t, &release()).expect_err("refused");
    let MappingError::Refused { service, gaps } = &err else {
        panic!("{err}");
    };
    assert_eq!(service, "svc");
    let ids: Vec<&str> = gaps.iter().map(Gap::id).collect();
    assert_eq!(ids, ["no-privileged", "oom_score_adj"]);
    let text = err.to_string();
    assert!(
        text.starts_with("service `svc` cannot run on Swarm: no-privileged: "),
        "{text}"
    );
    assert!(text.contains("; oom_score_adj: "), "{text}");
}

#[test]
fn an_unpinned_user_or_no_overlay_is_refused() {
    let t = template_of("read_only: true", None);
    assert!(matches!(
        spec_for(&t, &release()),
        Err(MappingError::UnpinnedUser { service, .. }) if service == "svc"
    ));
    let t = template_of("user: app", None);
    assert!(matches!(
        spec_for(&t, &release()),
        Err(MappingError::UnpinnedUser { .. })
    ));
    let t = template_of(STORE, None);
    let image = image();
    let err = service_spec(&ServiceInput {
        project: "shop",
        service: "svc",
        release: &release(),
        template: &t,
        image: &image,
        networks: &[],
        secrets: &[],
    })
    .expect_err("no overlay");
    assert!(
        err.to_string().contains("joins the node's default bridge"),
        "{err}"
    );
}

#[test]
fn a_waived_host_network_joins_swarms_host_network() {
    let t = template_of(
        &format!("{STORE}\nnetwork_mode: host"),
        Some(Rule::NoHostNetwork),
    );
    let spec = spec_for(&t, &release()).expect("maps");
    let nets = spec
        .task_template
        .and_then(|t| t.networks)
        .expect("networks");
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0].target.as_deref(), Some("host"));
}

#[test]
fn a_public_fixed_port_is_published_in_host_mode_and_rolls_stop_first() {
    let t = template_of(
        &format!("{STORE}\nports: [\"8082:8082\"]\nx-bulkhead: {{public: true}}"),
        None,
    );
    let spec = spec_for(&t, &release()).expect("maps");
    let ports = spec
        .endpoint_spec
        .clone()
        .and_then(|e| e.ports)
        .expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (ports[0].published_port, ports[0].target_port),
        (Some(8082), Some(8082))
    );
    assert_eq!(
        ports[0].publish_mode,
        Some(bollard::models::EndpointPortConfigPublishModeEnum::HOST)
    );
    let update = spec.update_config.expect("update config");
    assert_eq!(
        update.order,
        Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST)
    );
}

#[test]
fn the_releases_rollout_settings_shape_update_and_rollback() {
    let shaped = RolloutConfig {
        parallelism: 2,
        delay_ms: 1500,
        failure_action: FailureAction::Pause,
        monitor_ms: Some(20_000),
        max_failure_ppm: 250_000,
        order: Some(Order::StopFirst),
    };
    let r = Release {
        update: shaped.clone(),
        rollback: RolloutConfig {
            failure_action: FailureAction::Continue,
            ..shaped
        },
        ..release()
    };
    let spec = spec_for(&template_of(STORE, None), &r).expect("maps");
    let u = spec.update_config.expect("update config");
    assert_eq!(
        (u.parallelism, u.delay, u.monitor, u.max_failure_ratio),
        (
            Some(2),
            Some(1_500_000_000),
            Some(20_000_000_000),
            Some(0.25)
        )
    );
    assert_eq!(
        u.failure_action,
        Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE)
    );
    assert_eq!(u.order, Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST));
    let b = spec.rollback_config.expect("rollback config");
    assert_eq!(
        b.failure_action,
        Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE)
    );
    assert_eq!(
        b.order,
        Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST)
    );
}

#[test]
fn engine_settings_swarm_has_land_in_their_fields() {
    let store = STORE.replace(
        "deploy: {resources: {limits: {memory: 64M, pids: 100}}}\n",
        "",
    );
    let body = format!(
        "{store}\nentrypoint: [\"/bulkhead-demo\"]\nextra_hosts: [\"db:10.0.0.5\"]\n\
         dns: [10.0.0.2]\ndns_search: [shop.internal]\n\
         sysctls: {{net.ipv4.ip_unprivileged_port_start: \"0\"}}\n\
         ulimits: {{nofile: {{soft: 1024, hard: 2048}}}}\ngroup_add: [\"10002\"]\n\
         logging: {{driver: local, options: {{max-size: 1m}}}}\n\
         security_opt: [\"label=disable\"]\n\
         deploy: {{resources: {{limits: {{memory: 64M, pids: 100}}, reservations: {{memory: 32M}}}}}}"
    );
    let t = template_of(&body, Some(Rule::ApparmorDefault));
    let spec = spec_for(&t, &release()).expect("maps");
    let c = container(&spec);
    assert_eq!(c.command, Some(vec!["/bulkhead-demo".to_string()]));
    assert_eq!(c.args, Some(vec!["store".to_string()]));
    assert_eq!(c.hosts, Some(vec!["10.0.0.5 db".to_string()]));
    let dns = c.dns_config.clone().expect("DNS");
    assert_eq!(dns.nameservers, Some(vec!["10.0.0.2".to_string()]));
    assert_eq!(dns.search, Some(vec!["shop.internal".to_string()]));
    assert_eq!(
        c.sysctls
            .as_ref()
            .map(|s| s["net.ipv4.ip_unprivileged_port_start"].clone()),
        Some("0".to_string())
    );
    let ulimit = c.ulimits.clone().expect("ulimits");
    assert_eq!((ulimit[0].soft, ulimit[0].hard), (Some(1024), Some(2048)));
    assert_eq!(c.groups, Some(vec!["10002".to_string()]));
    let selinux = c
        .privileges
        .clone()
        .and_then(|p| p.se_linux_context)
        .expect("SELinux");
    assert_eq!(selinux.disable, Some(true));
    let task = spec.task_template.clone().expect("task");
    let log = task.log_driver.expect("log driver");
    assert_eq!(log.name.as_deref(), Some("local"));
    let reserved = task
        .resources
        .and_then(|r| r.reservations)
        .expect("reservation");
    assert_eq!(reserved.memory_bytes, Some(32 << 20));
}

#[test]
fn images_are_pinned_by_digest_or_loudly_not() {
    assert!(ImageRef::pinned(&format!("reg:5000/a/b@sha256:{}", "0f".repeat(32))).is_ok());
    for bad in [
        "demo:1".to_string(),
        format!("demo@sha256:{}", "0F".repeat(32)),
        format!("demo@sha256:{}", "0".repeat(63)),
        format!("@sha256:{}", "0".repeat(64)),
    ] {
        assert_eq!(
            ImageRef::pinned(&bad),
            Err(ImageError::NotPinned(bad.clone()))
        );
    }
    let local = ImageRef::node_local_unpinned_for_tests("demo:1");
    assert_eq!(local.as_str(), "demo:1");
}
