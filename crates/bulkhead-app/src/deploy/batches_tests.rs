//! Controller tests of rollout shapes and hooks against the in-memory runtime: batches of
//! `parallelism`, `failure_action` and `max_failure_ratio`, `order: stop-first`, `post_start`
//! and `pre_stop`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bulkhead_core::deploy::{Op, Rollout, Template};
use bulkhead_core::spec::rollout::{FailureAction, Hook, Order, RolloutConfig};
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_RELEASE, LABEL_REPLICA, LABEL_SERVICE};
use bulkhead_ports::{ProjectRecord, Release, Store};
use bulkhead_store::RedbStore;

use super::super::fake_runtime::{FakeFirewall, FakeRuntime};
use super::super::runner::RunData;
use super::super::{Deployer, ProjectState, StoredSpec};

type Fake = Deployer<FakeRuntime, RedbStore, FakeFirewall>;

struct World {
    d: Arc<Fake>,
    said: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

fn template() -> Template {
    Template {
        command: Some(vec!["sleep".into(), "infinity".into()]),
        entrypoint: None,
        env: Vec::new(),
        labels: BTreeMap::new(),
        working_dir: None,
        hostname: None,
        mounts: Vec::new(),
        networks: Vec::new(),
        network_mode: Some("none".into()),
        health: None,
        ports: Vec::new(),
        ulimits: Vec::new(),
        stop_signal: None,
        stop_grace_secs: 2,
        tty: false,
        stdin_open: false,
        user: Some("10001:10001".into()),
        groups: Vec::new(),
        read_only_rootfs: true,
        cap_drop: vec!["ALL".into()],
        cap_add: Vec::new(),
        privileged: false,
        security_opt: Vec::new(),
        pid: None,
        ipc: None,
        uts: None,
        userns_mode: None,
        devices: Vec::new(),
        memory: 64 << 20,
        memory_swap: 64 << 20,
        pids_limit: 100,
        cpu_shares: 1024,
        nano_cpus: None,
        restart: ("on-failure".into(), 5),
        init: true,
        sysctls: Vec::new(),
        runtime: None,
        image_volumes: Vec::new(),
        engine: Default::default(),
    }
}

fn spec(replicas: u32) -> StoredSpec {
    StoredSpec {
        template: template(),
        replicas,
        depends_on: Vec::new(),
        probe: None,
        build_key: None,
        secrets: Vec::new(),
        settle_ms: None,
        share_volumes: false,
        restart_after: Vec::new(),
        update: None,
        rollback: None,
        post_start: Vec::new(),
        pre_stop: Vec::new(),
    }
}

fn hook(program: &str) -> Hook {
    Hook {
        command: vec![program.into(), "--now".into()],
        user: Some("10001:10001".into()),
        working_dir: None,
        environment: BTreeMap::from([("TOKEN".to_string(), "s3cret".to_string())]),
    }
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(&dir.path().join("store.redb")).expect("a store");
    let said = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&said);
    let d = Arc::new(Deployer {
        runtime: Arc::new(FakeRuntime::default()),
        store: Arc::new(store),
        firewall: Arc::new(FakeFirewall),
        progress: Arc::new(move |p: bulkhead_ports::Progress| {
            if let Ok(mut s) = sink.lock() {
                s.push(format!("{}: {}", p.subject, p.line));
            }
        }),
        actor: "test".into(),
        env: BTreeMap::new(),
        bridges: Default::default(),
        secrets: None,
        secret_files: super::super::secret_files::SecretFiles::new(dir.path().join("secrets")),
        addresses: Default::default(),
    });
    World { d, said, _dir: dir }
}

impl World {
    /// Record `spec` as the next release of `web` (its number returned with it).
    async fn release(&self, spec: &StoredSpec, hash: &str) -> Release {
        let r = Release {
            project: "p".into(),
            service: "web".into(),
            number: 0,
            spec_hash: hash.into(),
            image: "sha256:fake".into(),
            spec: serde_json::to_string(spec).expect("json"),
            waivers: Vec::new(),
            created_at: "2026-12-03T00:00:00Z".into(),
            created_by: "test".into(),
        };
        self.d
            .store
            .record_release(r, "test")
            .await
            .expect("recorded")
            .0
    }

    /// Old replicas 1..=n of release `number`, running.
    fn old_replicas(&self, n: u32, number: u64) {
        for r in 1..=n {
            let labels = BTreeMap::from([
                (LABEL_PROJECT.to_string(), "p".to_string()),
                (LABEL_SERVICE.to_string(), "web".to_string()),
                (LABEL_RELEASE.to_string(), number.to_string()),
                (LABEL_REPLICA.to_string(), r.to_string()),
            ]);
            self.d
                .runtime
                .seed(&format!("old{r}"), &format!("p-web-{r}"), labels);
        }
    }

    /// Replace replicas 1..=n (old ones seeded) by `new` shaped by `config`.
    async fn roll(
        &self,
        n: u32,
        mut new: StoredSpec,
        config: RolloutConfig,
        stop_first: bool,
    ) -> Result<(), String> {
        let mut old = spec(n);
        old.pre_stop = new.pre_stop.clone();
        let first = self.release(&old, "h1").await;
        self.old_replicas(n, first.number);
        new.replicas = n;
        let rel = self.release(&new, "h2").await;
        let ops = (1..=n)
            .map(|r| Op::Deploy {
                service: "web".into(),
                release: rel.number,
                replica: r,
                replaces: Some((format!("old{r}"), format!("p-web-{r}"))),
                adopt: None,
                stop_first: stop_first.then(|| "asks for it (order: stop-first)".into()),
            })
            .collect();
        let rollout = Rollout {
            service: "web".into(),
            ops,
            config: Some(config.clone()),
        };
        let data = Arc::new(RunData {
            releases: BTreeMap::from([("web".to_string(), (rel, new))]),
            owned: BTreeMap::new(),
            gate: None,
            listed: None,
            configs: BTreeMap::from([("web".to_string(), config)]),
        });
        self.d
            .rollout("p", &rollout, &data)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn log(&self) -> Vec<String> {
        self.d.runtime.log()
    }

    fn said(&self) -> Vec<String> {
        self.said.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The running containers as (replica, release): release 1 is the old one, 2 the new.
    fn running(&self) -> Vec<(u32, u64)> {
        self.d.runtime.running()
    }
}

fn shaped(parallelism: u32, action: FailureAction) -> RolloutConfig {
    RolloutConfig {
        parallelism,
        failure_action: action,
        ..RolloutConfig::default()
    }
}

/// Where the first line starting with `line` is (an old replica's name gains `-old-<id>`).
fn index(log: &[String], line: &str) -> usize {
    log.iter()
        .position(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` in {log:#?}"))
}

#[tokio::test]
async fn parallelism_replaces_that_many_replicas_at_once() {
    for (parallelism, most) in [(1, 1), (2, 2), (0, 4)] {
        let w = world();
        let config = shaped(parallelism, FailureAction::Rollback);
        w.roll(4, spec(4), config, false)
            .await
            .unwrap_or_else(|e| panic!("parallelism {parallelism}: {e}"));
        let got = w.d.runtime.with(|s| s.most_alive);
        assert_eq!(got, most, "parallelism {parallelism}: {:#?}", w.log());
    }
    // Batches of two: the second batch starts once the first one's old replicas are gone.
    let w = world();
    w.roll(4, spec(4), shaped(2, FailureAction::Rollback), false)
        .await
        .expect("rolled");
    let log = w.log();
    assert!(index(&log, "create p-web-2") < index(&log, "remove p-web-1-old"));
    assert!(
        index(&log, "remove p-web-2-old") < index(&log, "create p-web-3"),
        "{log:#?}"
    );
    assert!(
        w.said()
            .iter()
            .any(|l| l == "web: batch 2: replacing replicas 3, 4 at once"),
        "{:#?}",
        w.said()
    );
}

#[tokio::test]
async fn delay_waits_between_batches_only() {
    let w = world();
    let config = RolloutConfig {
        delay_ms: 1,
        ..shaped(2, FailureAction::Rollback)
    };
    w.roll(4, spec(4), config, false).await.expect("rolled");
    let waits = w
        .said()
        .iter()
        .filter(|l| l.contains("next batch in"))
        .count();
    assert_eq!(waits, 1, "{:#?}", w.said());
}

#[tokio::test]
async fn rollback_stops_at_the_failure_and_the_old_replica_keeps_serving() {
    let w = world();
    w.d.runtime.with(|s| s.crash.insert(2));
    let err = w
        .roll(4, spec(4), RolloutConfig::default(), false)
        .await
        .expect_err("replica 2 fails");
    assert!(err.contains("p-web-2"), "{err}");
    let log = w.log();
    assert!(!log.iter().any(|l| l == "create p-web-3"), "{log:#?}");
    // Replica 1 is new, 2's predecessor was never stopped, 3 and 4 untouched.
    assert!(
        !log.iter().any(|l| l.starts_with("stop p-web-2")),
        "{log:#?}"
    );
    assert_eq!(w.running(), [(1, 2), (2, 1), (3, 1), (4, 1)]);
}

#[tokio::test]
async fn continue_goes_on_past_a_failure_and_fails_at_the_end() {
    let w = world();
    w.d.runtime.with(|s| s.crash.insert(2));
    let err = w
        .roll(4, spec(4), shaped(1, FailureAction::Continue), false)
        .await
        .expect_err("up fails at the end");
    assert!(err.contains("1 of 4 replicas failed"), "{err}");
    assert!(err.contains("failure_action: continue"), "{err}");
    let log = w.log();
    assert!(log.iter().any(|l| l == "create p-web-4"), "{log:#?}");
    assert_eq!(w.running(), [(1, 2), (2, 1), (3, 2), (4, 2)]);
}

#[tokio::test]
async fn max_failure_ratio_tolerates_up_to_its_share() {
    let w = world();
    w.d.runtime.with(|s| s.crash.insert(2));
    let config = RolloutConfig {
        max_failure_ppm: 250_000,
        ..shaped(1, FailureAction::Rollback)
    };
    w.roll(4, spec(4), config.clone(), false)
        .await
        .expect("1 of 4 is within 25%");
    assert!(
        w.said()
            .iter()
            .any(|l| l.contains("tolerated (max_failure_ratio)")),
        "{:#?}",
        w.said()
    );
    let w = world();
    w.d.runtime.with(|s| {
        s.crash.insert(1);
        s.crash.insert(2);
    });
    let err = w
        .roll(4, spec(4), config, false)
        .await
        .expect_err("2 of 4 is past 25%");
    assert!(err.contains("2 of 4 replicas failed"), "{err}");
    assert!(!w.log().iter().any(|l| l == "create p-web-3"));
}

#[tokio::test]
async fn pause_stops_and_the_reconciler_leaves_the_service_until_the_next_up() {
    let w = world();
    let record = ProjectRecord {
        name: "p".into(),
        dir: "/srv/p".into(),
        files: vec!["compose.yaml".into()],
        state: serde_json::to_string(&ProjectState::default()).expect("json"),
    };
    w.d.store.put_project(&record).await.expect("project");
    w.d.runtime.with(|s| s.crash.insert(1));
    let err = w
        .roll(2, spec(2), shaped(1, FailureAction::Pause), false)
        .await
        .expect_err("paused");
    assert!(err.contains("rollout paused"), "{err}");
    let state: ProjectState = serde_json::from_str(
        &w.d.store
            .get_project("p")
            .await
            .expect("read")
            .expect("project")
            .state,
    )
    .expect("state");
    assert_eq!(state.paused, BTreeMap::from([("web".to_string(), 2)]));
    let active = w.d.store.active("p").await.expect("active");
    let releases = active
        .into_iter()
        .map(|r| (r.service.clone(), (r, spec(2))))
        .collect();
    assert_eq!(w.d.paused("p", &releases).await.expect("paused"), ["web"]);

    // The reconciler leaves it as it is...
    let before = w.log().len();
    let (plan, _) = w.d.reconcile("p").await.expect("reconciled");
    assert!(
        plan.waves.iter().flatten().all(|r| r.service != "web"),
        "{plan:?}"
    );
    assert_eq!(w.log().len(), before, "{:#?}", w.log());
    assert!(
        w.said()
            .iter()
            .any(|l| l.contains("left as it is: its rollout was paused"))
    );
    // ...until the next `up` records a fresh state: then it goes on.
    w.d.store.put_project(&record).await.expect("project");
    w.d.runtime.with(|s| s.crash.clear());
    let (plan, _) = w.d.reconcile("p").await.expect("reconciled");
    assert!(
        plan.waves.iter().flatten().any(|r| r.service == "web"),
        "{plan:?}"
    );
    assert_eq!(w.running(), [(1, 2), (2, 2)]);
}

#[test]
fn order_stop_first_makes_any_service_stop_first_and_start_first_never_lifts_it() {
    let s = spec(1);
    let stop = RolloutConfig {
        order: Some(Order::StopFirst),
        ..RolloutConfig::default()
    };
    let start = RolloutConfig {
        order: Some(Order::StartFirst),
        ..RolloutConfig::default()
    };
    assert_eq!(s.stop_first_with(&RolloutConfig::default()), None);
    assert!(s.stop_first_with(&stop).is_some());
    let mut stateful = spec(1);
    stateful.template.image_volumes = vec!["/data".into()];
    assert_eq!(
        stateful.stop_first_with(&start).as_deref(),
        Some("writes its image's volume /data")
    );
}

#[tokio::test]
async fn stop_first_stops_the_old_replica_before_its_successor_is_created() {
    let w = world();
    let config = RolloutConfig {
        order: Some(Order::StopFirst),
        ..RolloutConfig::default()
    };
    w.roll(1, spec(1), config, true).await.expect("rolled");
    let log = w.log();
    assert!(
        index(&log, "stop p-web-1") < index(&log, "create p-web-1"),
        "{log:#?}"
    );
}

#[tokio::test]
async fn post_start_runs_after_the_start_and_a_failing_one_fails_the_replica() {
    let w = world();
    let mut new = spec(1);
    new.post_start = vec![hook("/bin/warm")];
    w.roll(1, new.clone(), RolloutConfig::default(), false)
        .await
        .expect("rolled");
    let log = w.log();
    assert!(index(&log, "start p-web-1") < index(&log, "hook p-web-1 /bin/warm"));
    assert!(index(&log, "hook p-web-1 /bin/warm") < index(&log, "remove p-web-1-old"));
    let (_, exec) = w.d.runtime.with(|s| s.hooks[0].clone());
    assert_eq!(exec.user, "10001:10001");
    assert_eq!(exec.env, ["TOKEN=s3cret"]);
    assert!(
        !w.said().iter().any(|l| l.contains("s3cret")),
        "{:#?}",
        w.said()
    );

    let w = world();
    w.d.runtime
        .with(|s| s.failing_hooks.insert("/bin/warm".into()));
    let err = w
        .roll(1, new, RolloutConfig::default(), false)
        .await
        .expect_err("a failing post_start fails the replica");
    assert!(
        err.contains("post_start[0] (`/bin/warm`) exited with code 3"),
        "{err}"
    );
    assert!(err.contains("it went wrong"), "{err}");
    assert!(!err.contains("s3cret") && !err.contains("--now"), "{err}");
    assert_eq!(w.running(), [(1, 1)], "the old replica keeps serving");
    assert!(!w.log().iter().any(|l| l.starts_with("stop ")));
}

#[tokio::test]
async fn pre_stop_runs_before_the_old_replica_stops_and_a_failure_does_not_keep_it() {
    for failing in [false, true] {
        let w = world();
        if failing {
            w.d.runtime
                .with(|s| s.failing_hooks.insert("/bin/drain".into()));
        }
        let mut new = spec(1);
        new.pre_stop = vec![hook("/bin/drain")];
        w.roll(1, new, RolloutConfig::default(), false)
            .await
            .expect("rolled");
        let log = w.log();
        let hook = index(&log, "hook p-web-1-old");
        assert!(log[hook].ends_with(" /bin/drain"), "{log:#?}");
        assert!(hook < index(&log, "stop p-web-1-old"), "{log:#?}");
        assert!(log.iter().any(|l| l.starts_with("remove p-web-1-old")));
        if failing {
            assert!(
                w.said()
                    .iter()
                    .any(|l| l.contains("exited with code 3; stopping anyway")),
                "{:#?}",
                w.said()
            );
        }
    }
}

#[tokio::test]
async fn bulkhead_rollback_is_shaped_by_the_rollback_config_of_the_release_it_leaves() {
    let w = world();
    let record = ProjectRecord {
        name: "p".into(),
        dir: "/srv/p".into(),
        files: vec!["compose.yaml".into()],
        state: serde_json::to_string(&ProjectState::default()).expect("json"),
    };
    w.d.store.put_project(&record).await.expect("project");
    w.release(&spec(3), "h1").await;
    let mut leaving = spec(3);
    leaving.rollback = Some(shaped(0, FailureAction::Rollback));
    let second = w.release(&leaving, "h2").await;
    for r in 1..=3 {
        let labels = BTreeMap::from([
            (LABEL_PROJECT.to_string(), "p".to_string()),
            (LABEL_SERVICE.to_string(), "web".to_string()),
            (LABEL_RELEASE.to_string(), second.number.to_string()),
            (LABEL_REPLICA.to_string(), r.to_string()),
            (
                super::super::container::LABEL_SPEC.to_string(),
                "h2".to_string(),
            ),
        ]);
        w.d.runtime
            .seed(&format!("old{r}"), &format!("p-web-{r}"), labels);
    }
    let (to, plan, _) =
        w.d.rollback("p", "web", None, "test")
            .await
            .expect("rolled back");
    assert_eq!(to, 1);
    let config = plan.waves[0][0].config.clone().expect("shaped");
    assert_eq!(config.parallelism, 0);
    assert_eq!(w.d.runtime.with(|s| s.most_alive), 3, "{:#?}", w.log());
    assert!(
        w.said()
            .iter()
            .any(|l| l == "web: batch 1: replacing replicas 1, 2, 3 at once"),
        "{:#?}",
        w.said()
    );
    assert_eq!(w.running(), [(1, 1), (2, 1), (3, 1)]);
}
