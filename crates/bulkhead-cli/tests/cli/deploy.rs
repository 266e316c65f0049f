//! `bulkhead up` and friends on the real Docker Engine, with the shop demo: deploy and serve,
//! idempotence, start-first replacement without downtime, rollback, down, crash recovery,
//! refusals that create nothing (an undeliverable secret among them), CIS fields read back
//! with `docker inspect`, and the audit log the embedded commands write.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::support::{Shop, bulkhead, ids_by_service, text};

pub(super) fn up(shop: &Shop) -> String {
    let out = shop.bulkhead(&["up", "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "up failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn assert_page(shop: &Shop) {
    let Some((status, body)) = shop.get("/") else {
        // What the engine holds, for the failure report.
        let state: Vec<String> = shop
            .containers()
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c["Name"],
                    c["State"]["Status"],
                    c["State"]["Health"]["Status"],
                    c["NetworkSettings"]["Networks"]
                )
            })
            .collect();
        panic!("web does not answer; containers:\n{}", state.join("\n"));
    };
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Bulkhead shop") && body.contains("Bilge pump"),
        "{body}"
    );
}

#[test]
fn shop_deploys_serves_is_idempotent_and_goes_down_cleanly() {
    let shop = Shop::new("a");
    let first = up(&shop);
    assert!(
        first.contains(&format!("http://127.0.0.1:{}/", shop.port)),
        "{first}"
    );
    assert_page(&shop);
    let before = ids_by_service(&shop.containers());
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        ["api", "store", "web"]
    );

    let second = up(&shop);
    assert!(second.contains("up to date, nothing changed"), "{second}");
    assert_eq!(
        ids_by_service(&shop.containers()),
        before,
        "a second up must keep the same containers"
    );

    let logs = shop.bulkhead(&["logs", "web", "--tail", "20"]);
    assert_eq!(logs.status.code(), Some(0), "{}", text(&logs.stderr));
    assert!(
        text(&logs.stdout).contains(&format!("{}-web-1 | ", shop.name)),
        "{}",
        text(&logs.stdout)
    );

    let plan = shop.bulkhead(&["plan"]);
    assert!(
        text(&plan.stdout).contains("nothing to do"),
        "{}",
        text(&plan.stdout)
    );

    let ps = shop.bulkhead(&["ps", "--json"]);
    let doc: Value = serde_json::from_slice(&ps.stdout).expect("ps json");
    assert_eq!(doc["containers"].as_array().map(Vec::len), Some(3));

    let down = shop.bulkhead(&["down", "-q"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert!(shop.containers().is_empty(), "containers left after down");
    assert!(
        shop.labelled("network").is_empty(),
        "networks left after down"
    );
    let rules = std::process::Command::new("iptables")
        .args(["-w", "-S"])
        .output()
        .expect("iptables");
    assert!(
        !text(&rules.stdout).contains(&format!("bulkhead:{}:", shop.name)),
        "firewall rules left after down"
    );

    // Up after down: the same spec re-activates its release rather than making a new one.
    up(&shop);
    let rel = shop.bulkhead(&["releases", "web", "--json"]);
    let doc: Value = serde_json::from_slice(&rel.stdout).expect("releases json");
    assert_eq!(doc["releases"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_page(&shop);

    // Embedded commands go through the dispatcher too: each is in the audit log, which verifies.
    let verify = bulkhead()
        .args(["audit", "verify", "--state-dir"])
        .arg(shop.state_dir())
        .output()
        .expect("bulkhead runs");
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    assert!(
        text(&verify.stdout).starts_with("intact: "),
        "{}",
        text(&verify.stdout)
    );
    let log = bulkhead()
        .args([
            "audit",
            "log",
            "--json",
            "--action",
            "project",
            "--state-dir",
        ])
        .arg(shop.state_dir())
        .output()
        .expect("bulkhead runs");
    assert_eq!(log.status.code(), Some(0), "{}", text(&log.stderr));
    let doc: Value = serde_json::from_slice(&log.stdout).expect("audit log json");
    let done = |action: &str| {
        doc["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["action"] == action
                    && e["resource"] == format!("projects/{}", shop.name)
                    && e["actor"]["user"] == "local"
                    && e["outcome"]["code"] == "done"
            })
            .count()
    };
    assert_eq!(done("project.up"), 3, "three ups: {doc:#}");
    assert_eq!(done("project.down"), 1, "one down: {doc:#}");
}

#[test]
fn a_job_runs_to_completion_before_its_dependants_and_only_once() {
    let shop = Shop::new("j");
    let job = "\n  seed:\n    build:\n      context: ./image\n    command: [\"help\"]\n    user: \"10001:10001\"\n    read_only: true\n    init: true\n\n  store:\n";
    shop.edit("\n  store:\n", job);
    shop.edit(
        "    command: [\"store\"]\n",
        "    command: [\"store\"]\n    depends_on:\n      seed:\n        condition: service_completed_successfully\n",
    );
    up(&shop);
    assert_page(&shop);
    let seed = || {
        shop.containers()
            .into_iter()
            .filter(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == "seed")
            .collect::<Vec<_>>()
    };
    let done = seed();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["State"]["Status"], "exited");
    assert_eq!(done[0]["State"]["ExitCode"], 0);
    let store_started = shop
        .containers()
        .into_iter()
        .find(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == "store")
        .map(|c| {
            c["State"]["StartedAt"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .expect("store");
    let seed_finished = done[0]["State"]["FinishedAt"].as_str().unwrap_or_default();
    assert!(
        seed_finished < store_started.as_str(),
        "store started ({store_started}) after the job finished ({seed_finished})"
    );

    // Completed is done: a second up does not run it again.
    let again = up(&shop);
    assert!(again.contains("up to date, nothing changed"), "{again}");
    assert_eq!(seed()[0]["Id"], done[0]["Id"]);

    // A job that fails stops the deploy, with its exit code; its dependants keep running.
    shop.edit(
        "    command: [\"help\"]",
        "    command: [\"connect\", \"127.0.0.1:1\"]",
    );
    let out = shop.bulkhead(&["up", "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("exited with code 1"), "{err}");
    assert_page(&shop);
}

#[test]
fn a_secret_that_cannot_be_delivered_is_refused_without_its_value_and_creates_nothing() {
    let shop = Shop::new("s");
    let value = "not-a-real-secret\n".repeat((1 << 20) / 18 + 1);
    std::fs::write(shop.dir.path().join("pw.txt"), &value).expect("write secret file");
    shop.edit(
        "    command: [\"store\"]",
        "    command: [\"store\"]\n    secrets: [pw]",
    );
    let spec = std::fs::read_to_string(shop.compose()).expect("read");
    std::fs::write(
        shop.compose(),
        format!("{spec}\nsecrets:\n  pw:\n    file: ./pw.txt\n"),
    )
    .expect("write");
    let out = shop.bulkhead(&["up", "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("service `store`: secret `pw`") && err.contains("1048576 bytes"),
        "{err}"
    );
    assert!(
        !err.contains("not-a-real-secret"),
        "the secret value leaked into an error"
    );
    assert!(shop.containers().is_empty());
}

#[test]
fn every_container_passes_the_cis_checks_read_back_from_docker() {
    let shop = Shop::new("h");
    up(&shop);
    let containers = shop.containers();
    assert_eq!(containers.len(), 3);
    for c in &containers {
        let name = c["Name"].as_str().unwrap_or_default();
        let hc = &c["HostConfig"];
        let check = |ok: bool, what: &str| assert!(ok, "{name}: {what}\n{hc:#}");
        check(hc["Privileged"] == false, "5.5 Privileged");
        check(
            hc["CapDrop"] == serde_json::json!(["ALL"]),
            "5.4 CapDrop ALL",
        );
        check(
            hc["CapAdd"].is_null() || hc["CapAdd"].as_array().is_some_and(Vec::is_empty),
            "5.4 CapAdd empty",
        );
        check(hc["ReadonlyRootfs"] == true, "5.13 ReadonlyRootfs");
        check(hc["Memory"].as_i64() == Some(512 << 20), "5.11 Memory");
        check(hc["MemorySwap"] == hc["Memory"], "5.11 no swap");
        check(hc["CpuShares"].as_i64() == Some(1024), "5.12 CpuShares");
        check(hc["PidsLimit"].as_i64() == Some(512), "5.29 PidsLimit");
        let mode = hc["NetworkMode"].as_str().unwrap_or_default();
        check(
            mode != "default" && mode != "bridge" && mode != "host",
            "5.10/5.30 NetworkMode",
        );
        for key in ["PidMode", "IpcMode", "UTSMode", "UsernsMode"] {
            let v = hc[key].as_str().unwrap_or_default();
            check(v != "host", &format!("{key} not host"));
        }
        let secopt: Vec<&str> = hc["SecurityOpt"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        check(
            secopt.contains(&"no-new-privileges:true"),
            "5.26 no-new-privileges",
        );
        check(
            !secopt.iter().any(|o| o.contains("unconfined")),
            "5.22 seccomp not unconfined",
        );
        check(
            hc["Devices"].as_array().is_none_or(Vec::is_empty),
            "5.18 Devices",
        );
        let mounts = c["Mounts"].to_string();
        check(!mounts.contains("docker.sock"), "5.32 docker.sock");
        check(
            !c["Config"]["Healthcheck"]["Test"].is_null(),
            "5.27 Healthcheck",
        );
        let user = c["Config"]["User"].as_str().unwrap_or_default();
        check(
            !user.is_empty() && !user.starts_with("root") && !user.starts_with("0"),
            "4.1 User",
        );
        check(
            hc["RestartPolicy"]["Name"] == "on-failure"
                && hc["RestartPolicy"]["MaximumRetryCount"]
                    .as_i64()
                    .is_some_and(|n| n <= 5),
            "5.15 RestartPolicy",
        );
        check(hc["Init"] == true, "--init");
        for binding in hc["PortBindings"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for b in binding.as_array().into_iter().flatten() {
                check(b["HostIp"] == "127.0.0.1", "5.14 port bound to 127.0.0.1");
            }
        }
        for label in [
            "dev.bulkhead.project",
            "dev.bulkhead.service",
            "dev.bulkhead.release",
            "dev.bulkhead.replica",
        ] {
            check(c["Config"]["Labels"][label].is_string(), label);
        }
    }
}

#[test]
fn changing_one_service_replaces_only_it_without_downtime_and_rolls_back() {
    let shop = Shop::new("c");
    up(&shop);
    let before = ids_by_service(&shop.containers());
    shop.edit(
        "STORE_URL: http://store:8082",
        "STORE_URL: http://store:8082\n      FLAVOR: two",
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let poller = {
        let (stop, ok, failed, port) = (
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
            shop.port,
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match super::support::http_get(port, "/") {
                    Some((200, _)) => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = up(&shop);
    stop.store(true, Ordering::SeqCst);
    poller.join().expect("poller");
    assert!(ok.load(Ordering::SeqCst) > 0, "the poller never got a page");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "web failed requests during the replacement"
    );

    let after = ids_by_service(&shop.containers());
    assert_eq!(after["web"], before["web"], "web must be left alone\n{out}");
    assert_eq!(after["store"], before["store"], "store must be left alone");
    assert_ne!(after["api"], before["api"], "api must be replaced");
    assert_eq!(after["api"].len(), 1, "the old api container must be gone");

    let rel = shop.bulkhead(&["releases", "api", "--json"]);
    let doc: Value = serde_json::from_slice(&rel.stdout).expect("releases json");
    let active: Vec<u64> = doc["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["active"] == true)
        .filter_map(|r| r["release"].as_u64())
        .collect();
    assert_eq!(active, [2]);

    let back = shop.bulkhead(&["rollback", "api", "-q"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    let api: Vec<Value> = shop
        .containers()
        .into_iter()
        .filter(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == "api")
        .collect();
    assert_eq!(api.len(), 1);
    assert_eq!(api[0]["Config"]["Labels"]["dev.bulkhead.release"], "1");
    assert!(
        !api[0]["Config"]["Env"].to_string().contains("FLAVOR"),
        "release 1 has no FLAVOR"
    );
    assert_page(&shop);
}

#[test]
fn a_refused_spec_creates_nothing() {
    let shop = Shop::new("r");
    shop.edit(
        "    command: [\"store\"]",
        "    command: [\"store\"]\n    privileged: true",
    );
    let out = shop.bulkhead(&["up", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("rule no-privileged") && err.contains("waivers"),
        "{err}"
    );
    assert!(shop.containers().is_empty());
    assert!(shop.labelled("network").is_empty());
}

#[test]
fn a_root_image_without_user_is_refused_with_the_fix() {
    let shop = Shop::new("u");
    let dockerfile = shop.dir.path().join("image/Dockerfile");
    let text_df = std::fs::read_to_string(&dockerfile).expect("Dockerfile");
    std::fs::write(&dockerfile, text_df.replace("USER 10001:10001\n", ""))
        .expect("write Dockerfile");
    shop.edit(
        "    command: [\"store\"]\n    user: \"10001:10001\"\n",
        "    command: [\"store\"]\n",
    );
    let out = shop.bulkhead(&["up", "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "service `store`: rule non-root: the image's USER is root (no USER), which is uid 0"
        ),
        "{err}"
    );
    // The fix is the image's own account (the demo image has none but root): `check --fix`
    // proposes it, never a made-up uid.
    assert!(err.contains("bulkhead check --fix"), "{err}");
    assert!(shop.containers().is_empty());
}

#[test]
fn kill_9_during_up_then_up_converges_with_nothing_orphaned() {
    let shop = Shop::new("k");
    for delay_ms in [300u64, 900, 1600] {
        let mut child = shop
            .command(&["up", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn up");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        up(&shop);
        let containers = shop.containers();
        let names: Vec<&str> = containers
            .iter()
            .filter_map(|c| c["Name"].as_str())
            .collect();
        assert_eq!(
            containers.len(),
            3,
            "after a kill at {delay_ms} ms: {names:?}"
        );
        for c in &containers {
            assert_eq!(c["State"]["Running"], true, "{}", c["Name"]);
            assert!(
                !c["Name"].as_str().unwrap_or_default().contains("-old-"),
                "{names:?}"
            );
        }
        assert_page(&shop);
        // Make the next round redeploy something.
        shop.edit(
            "STORE_URL: http://store:8082",
            &format!("STORE_URL: http://store:8082\n      ROUND_{delay_ms}: \"x\""),
        );
    }
    let mut nets = shop.labelled("network");
    nets.sort();
    assert_eq!(nets.len(), 3, "{nets:?}");
}

/// A service named with upper case (`Web`, as Compose allows) deploys, and `scale`, `logs`,
/// `releases` and `rollback` name it as written: its containers and labels keep the case, its
/// network and image take it lowered.
#[test]
fn a_service_named_web_deploys_scales_logs_and_rolls_back() {
    let shop = Shop::new("w");
    let service = |command: &str, edition: &str| {
        format!(
            "    build:\n      context: ./image\n    command: [\"{command}\"]\n    environment:\n      EDITION: \"{edition}\"\n    user: \"10001:10001\"\n    read_only: true\n    init: true\n    healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      interval: 1s\n      timeout: 2s\n      retries: 3\n"
        )
    };
    let spec = |edition: &str| {
        format!(
            "services:\n  Web:\n{}  api:\n{}    depends_on:\n      Web:\n        condition: service_healthy\n",
            service("store", edition),
            service("store", "1")
        )
    };
    std::fs::write(shop.compose(), spec("1")).expect("write compose.yaml");
    up(&shop);
    let web = || {
        shop.containers()
            .into_iter()
            .filter(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == "Web")
            .collect::<Vec<_>>()
    };
    let first = web();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["Name"], format!("/{}-Web-1", shop.name));
    let networks = shop.labelled("network");
    let names: Vec<String> = networks
        .iter()
        .map(|id| super::support::docker(&["network", "inspect", "-f", "{{.Name}}", id]))
        .map(|n| n.trim().to_string())
        .collect();
    assert!(
        names.contains(&format!("{}-web-in", shop.name)),
        "{names:?}"
    );

    let scaled = shop.bulkhead(&["scale", "Web", "2", "-q"]);
    assert_eq!(scaled.status.code(), Some(0), "{}", text(&scaled.stderr));
    assert_eq!(web().len(), 2);
    let logs = shop.bulkhead(&["logs", "Web", "--json"]);
    assert_eq!(logs.status.code(), Some(0), "{}", text(&logs.stderr));
    let doc: Value = serde_json::from_slice(&logs.stdout).expect("logs json");
    assert_eq!(doc["service"], "Web");

    std::fs::write(shop.compose(), spec("2")).expect("write compose.yaml");
    up(&shop);
    let rel = shop.bulkhead(&["releases", "Web", "--json"]);
    assert_eq!(rel.status.code(), Some(0), "{}", text(&rel.stderr));
    let doc: Value = serde_json::from_slice(&rel.stdout).expect("releases json");
    assert_eq!(doc["releases"].as_array().map(Vec::len), Some(2), "{doc}");
    let back = shop.bulkhead(&["rollback", "Web", "-q"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    let now = web();
    assert!(!now.is_empty());
    for c in now {
        assert_eq!(c["Config"]["Labels"]["dev.bulkhead.release"], "1");
    }
}
