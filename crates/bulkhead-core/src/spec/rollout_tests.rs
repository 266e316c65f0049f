//! Decoding and refusals of `update_config`, `rollback_config`, `post_start` and `pre_stop`.

use super::super::model::Service;
use super::super::spec_tests::{load_one, web_file};
use super::*;

fn web(body: &str) -> Service {
    load_one(&web_file(body))
        .unwrap_or_else(|e| panic!("{body:?} should load:\n{e}"))
        .services
        .remove("web")
        .expect("service web is loaded")
}

fn refused(body: &str) -> String {
    match load_one(&web_file(body)) {
        Ok(_) => panic!("{body:?} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn update_config_decodes_every_key() {
    let s = web(
        "deploy:\n  replicas: 4\n  update_config:\n    parallelism: 2\n    delay: 5s\n    failure_action: pause\n    monitor: 3s\n    max_failure_ratio: 0.25\n    order: stop-first\n",
    );
    let c = s.update_config.expect("update_config").value;
    assert_eq!(
        c,
        RolloutConfig {
            parallelism: 2,
            delay_ms: 5000,
            failure_action: FailureAction::Pause,
            monitor_ms: Some(3000),
            max_failure_ppm: 250_000,
            order: Some(Order::StopFirst),
        }
    );
    assert!(s.rollback_config.is_none());
}

#[test]
fn rollback_config_decodes_and_defaults_are_bulkheads_own_rollout() {
    let s = web("deploy:\n  rollback_config:\n    parallelism: 0\n    failure_action: continue\n");
    let c = s.rollback_config.expect("rollback_config").value;
    assert_eq!(c.parallelism, 0);
    assert_eq!(c.failure_action, FailureAction::Continue);
    assert_eq!(c.batch(5), 5, "0 is every replica at once");
    let d = RolloutConfig::default();
    assert!(d.is_default());
    assert_eq!((d.batch(5), d.failure_action), (1, FailureAction::Rollback));
    assert_eq!(
        web("deploy:\n  update_config: {}\n")
            .update_config
            .map(|c| c.value),
        Some(RolloutConfig::default())
    );
}

#[test]
fn max_failure_ratio_is_exceeded_only_above_the_ratio() {
    let c = RolloutConfig {
        max_failure_ppm: 250_000,
        ..RolloutConfig::default()
    };
    assert!(!c.exceeded(0, 4));
    assert!(!c.exceeded(1, 4), "1 of 4 is 25%: tolerated");
    assert!(c.exceeded(2, 4));
    assert!(
        RolloutConfig::default().exceeded(1, 100),
        "0: no failure tolerated"
    );
}

#[test]
fn values_rollouts_cannot_honour_are_refused_with_the_reason() {
    let cases = [
        ("failure_action: retry", "failure_action `retry` is unknown"),
        ("order: random", "order `random` is unknown"),
        ("max_failure_ratio: 1.5", "must be between 0 and 1"),
        ("max_failure_ratio: lots", "must be a number"),
        ("monitor: 500ms", "must be between 1s and 600s"),
        ("delay: 1h", "must be at most 600s"),
        ("parallelism: -1", "out of range"),
        ("speed: fast", "speed"),
    ];
    for (line, want) in cases {
        let msg = refused(&format!("deploy:\n  update_config:\n    {line}\n"));
        assert!(msg.contains(want), "{line}: {msg}");
    }
}

#[test]
fn start_first_is_refused_where_two_replicas_would_share_state() {
    for (mount, why) in [
        ("volumes: [\"data:/data\"]", "writes volume `data` at /data"),
        ("volumes: [\"/data\"]", "writes its own volume at /data"),
        ("volumes: [\"./d:/data\"]", "writes a bind mount at /data"),
        ("ports: [\"8080:80\"]", "binds fixed host port 8080"),
    ] {
        let msg = refused(&format!(
            "{mount}\ndeploy:\n  rollback_config:\n    order: start-first\n"
        ));
        assert!(msg.contains("order `start-first` is refused"), "{msg}");
        assert!(msg.contains(why), "{mount}: {msg}");
    }
    // Read-only, or shared on purpose: start-first holds.
    for ok in [
        "volumes: [\"data:/data:ro\"]\ndeploy:\n  update_config:\n    order: start-first\n",
        "volumes: [\"data:/data\"]\nx-bulkhead:\n  share_volumes: true\ndeploy:\n  update_config:\n    order: start-first\n",
    ] {
        web(ok);
    }
}

#[test]
fn monitor_and_settle_are_one_setting() {
    let msg = refused("x-bulkhead:\n  settle: 10s\ndeploy:\n  update_config:\n    monitor: 5s\n");
    assert!(msg.contains("disagree"), "{msg}");
    web("x-bulkhead:\n  settle: 5s\ndeploy:\n  update_config:\n    monitor: 5s\n");
}

#[test]
fn hooks_decode_in_both_forms() {
    let s = web(
        "post_start:\n  - command: touch /run/app/started\n  - command: [\"/bin/sh\", \"-c\", \"echo hi\"]\n    user: \"10001:10001\"\n    working_dir: /srv\n    environment:\n      TOKEN: s3cret\npre_stop:\n  - command: /bin/drain\n    privileged: false\n",
    );
    assert_eq!(s.post_start.len(), 2);
    assert_eq!(s.post_start[0].command, ["touch", "/run/app/started"]);
    assert_eq!(s.post_start[1].user.as_deref(), Some("10001:10001"));
    assert_eq!(s.post_start[1].working_dir.as_deref(), Some("/srv"));
    assert_eq!(s.post_start[1].environment["TOKEN"], "s3cret");
    assert_eq!(s.pre_stop[0].command, ["/bin/drain"]);
}

#[test]
fn a_hooks_environment_is_never_shown() {
    let s = web("post_start:\n  - command: x\n    environment: [TOKEN=s3cret]\n");
    let json = serde_json::to_string(&s).expect("serializes");
    assert!(!json.contains("s3cret"), "{json}");
    assert!(json.contains("TOKEN"), "{json}");
}

#[test]
fn hooks_that_would_weaken_the_container_are_refused() {
    let cases = [
        (
            "post_start:\n  - command: x\n    privileged: true\n",
            "privileged: true is refused",
        ),
        (
            "pre_stop:\n  - command: x\n    environment: [TOKEN]\n",
            "`TOKEN` has no value",
        ),
        (
            "pre_stop:\n  - command: x\n    working_dir: srv\n",
            "must be an absolute path",
        ),
        ("post_start:\n  - user: app\n", "needs a command"),
        ("post_start:\n  - command: x\n    detach: true\n", "detach"),
        ("post_start: x\n", "must be a list"),
    ];
    for (body, want) in cases {
        let msg = refused(body);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let many = format!("post_start:\n{}", "  - command: x\n".repeat(MAX_HOOKS + 1));
    assert!(refused(&many).contains("at most 8"));
}
