//! Rolling a service while callers inside the project call it: no request fails. Four request
//! loops run in the callers' containers (`bulkhead-demo loop`, through Docker's embedded DNS
//! and the ingress firewall) while the service is replaced 20 times; each loop counts what
//! failed (each request takes 200 ms at the store, so some are always in flight when a replica
//! is retired). Synchronised by messages only: a loop says `started` after its first request, and
//! prints its tally when its standard input closes. And a replica a killed run left dark (on
//! its ingress network without its aliases) named again by the next `up`, and only then.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use super::support::{Shop, docker, ids_by_service, text};

/// A store rolled under load, and a caller with two replicas that calls it.
const ROLL: &str = r#"services:
  caller:
    build:
      context: ./image
    command: ["web", "--listen", "0.0.0.0:8080"]
    environment:
      API_URL: http://store:8082
    user: "10001:10001"
    read_only: true
    init: true
    deploy:
      replicas: 2
    depends_on:
      store:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "/bulkhead-demo", "probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3

  store:
    build:
      context: ./image
    command: ["store"]
    environment:
      ROLL: "0"
    user: "10001:10001"
    read_only: true
    init: true
    healthcheck:
      test: ["CMD", "/bulkhead-demo", "probe", "http://127.0.0.1:8082/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
"#;

/// One `bulkhead-demo loop` running in a caller container.
struct Loop {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Loop {
    fn start(container: &str, url: &str) -> Loop {
        let mut child = Command::new("docker")
            .args(["exec", "-i", container, "/bulkhead-demo", "loop", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("docker exec runs");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the loop answers");
        assert_eq!(line.trim(), "started", "{line}");
        Loop { child, out }
    }

    /// Close its input; its tally: (ok, failed, the whole summary).
    fn finish(mut self) -> (u64, u64, String) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let mut summary = String::new();
        for line in self.out.lines() {
            summary.push_str(&line.expect("summary line"));
            summary.push('\n');
        }
        let _ = self.child.wait();
        let field = |name: &str| -> u64 {
            summary
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name}= in {summary:?}"))
        };
        (field("ok"), field("failed"), summary)
    }
}

/// Two loops in each of the two caller replicas, calling the store's slow endpoint by name.
fn four_loops(shop: &Shop) -> Vec<Loop> {
    let callers: Vec<String> = (1..=2)
        .map(|i| format!("{}-caller-{i}", shop.name))
        .collect();
    callers
        .iter()
        .flat_map(|c| [c, c])
        .map(|c| Loop::start(c, "http://store:8082/items/slow"))
        .collect()
}

/// Stop the loops; the failed requests of all, and their summaries. Each must have succeeded
/// at least once.
fn tally(loops: Vec<Loop>) -> (u64, String) {
    let mut failed = 0;
    let mut report = String::new();
    for l in loops {
        let (ok, bad, summary) = l.finish();
        assert!(ok > 0, "a loop never succeeded: {summary}");
        failed += bad;
        report.push_str(&summary);
    }
    (failed, report)
}

#[test]
fn twenty_rolls_under_four_request_loops_fail_no_request() {
    let shop = Shop::new("z");
    std::fs::write(shop.compose(), ROLL).expect("write compose.yaml");
    let first = shop.bulkhead(&["up", "-q"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let loops = four_loops(&shop);
    for roll in 1..=20 {
        shop.edit(
            &format!("ROLL: \"{}\"", roll - 1),
            &format!("ROLL: \"{roll}\""),
        );
        let up = shop.bulkhead(&["up", "-q"]);
        assert_eq!(
            up.status.code(),
            Some(0),
            "roll {roll}: {}",
            text(&up.stderr)
        );
    }
    let (failed, report) = tally(loops);
    eprintln!("20 rolls under 4 loops:\n{report}");
    assert_eq!(failed, 0, "requests failed during the rolls:\n{report}");
    let rel = shop.bulkhead(&["releases", "store", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&rel.stdout).expect("releases json");
    assert_eq!(
        doc["releases"].as_array().map(Vec::len),
        Some(21),
        "every roll made a release"
    );
}

#[test]
fn a_dependant_with_restart_true_is_replaced_when_what_it_calls_is() {
    let shop = Shop::new("y");
    let spec = ROLL.replacen(
        "        condition: service_healthy\n",
        "        condition: service_healthy\n        restart: true\n",
        1,
    );
    assert_ne!(spec, ROLL);
    std::fs::write(shop.compose(), spec).expect("write compose.yaml");
    let first = shop.bulkhead(&["up", "-q"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before = ids_by_service(&shop.containers());
    assert_eq!(before["caller"].len(), 2);

    shop.edit("ROLL: \"0\"", "ROLL: \"1\"");
    let up = shop.bulkhead(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let after = ids_by_service(&shop.containers());
    assert_ne!(after["store"], before["store"], "store is replaced");
    assert_eq!(
        after["caller"].len(),
        2,
        "the callers' old replicas are gone"
    );
    for id in &before["caller"] {
        assert!(
            !after["caller"].contains(id),
            "caller replica {id} was not replaced\n{}",
            text(&up.stdout)
        );
    }
    let said = format!("{}{}", text(&up.stdout), text(&up.stderr));
    assert!(said.contains("it declared restart: true"), "{said}");
    // Same release: replaced, not changed; the next up has nothing to do.
    let again = shop.bulkhead(&["up"]);
    assert!(
        text(&again.stdout).contains("up to date, nothing changed"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn a_dependant_with_restart_true_is_replaced_after_a_stop_first_replacement() {
    let shop = Shop::new("z");
    let spec =
        ROLL.replacen(
            "        condition: service_healthy\n",
            "        condition: service_healthy\n        restart: true\n",
            1,
        )
        .replace(
            "    command: [\"store\"]\n",
            "    command: [\"store\"]\n    volumes:\n      - data:/data\n",
        ) + "\nvolumes:\n  data: {}\n";
    std::fs::write(shop.compose(), spec).expect("write compose.yaml");
    let first = shop.bulkhead(&["up", "-q"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before = ids_by_service(&shop.containers());

    shop.edit("ROLL: \"0\"", "ROLL: \"1\"");
    let up = shop.bulkhead(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let said = format!("{}{}", text(&up.stdout), text(&up.stderr));
    assert!(said.contains("stopping first"), "{said}");
    assert!(said.contains("it declared restart: true"), "{said}");
    let after = ids_by_service(&shop.containers());
    assert_ne!(after["store"], before["store"], "store is replaced");
    assert_eq!(after["caller"].len(), 2, "{said}");
    for id in &before["caller"] {
        assert!(!after["caller"].contains(id), "caller {id} kept\n{said}");
    }
}

#[test]
fn scaling_down_under_four_request_loops_fails_no_request() {
    let shop = Shop::new("s");
    let spec = ROLL.replace(
        "    command: [\"store\"]\n",
        "    command: [\"store\"]\n    deploy:\n      replicas: 3\n",
    );
    std::fs::write(shop.compose(), spec).expect("write compose.yaml");
    let first = shop.bulkhead(&["up", "-q"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let loops = four_loops(&shop);
    // Each cycle removes two replicas that hold requests in flight, then brings them back.
    for cycle in 1..=5 {
        for (from, to) in [("3", "1"), ("1", "3")] {
            shop.edit(&format!("replicas: {from}\n"), &format!("replicas: {to}\n"));
            let up = shop.bulkhead(&["up", "-q"]);
            assert_eq!(
                up.status.code(),
                Some(0),
                "cycle {cycle}, {from} -> {to}: {}",
                text(&up.stderr)
            );
        }
    }
    let (failed, report) = tally(loops);
    eprintln!("5 scale-downs under 4 loops:\n{report}");
    assert_eq!(failed, 0, "requests failed while scaling down:\n{report}");
}

/// The aliases of `container` on `network`, from `docker inspect`.
fn aliases(container: &str, network: &str) -> Vec<String> {
    let format = format!("{{{{json (index .NetworkSettings.Networks \"{network}\").Aliases}}}}");
    serde_json::from_str::<Option<Vec<String>>>(
        docker(&["inspect", "-f", &format, container]).trim(),
    )
    .expect("aliases JSON")
    .unwrap_or_default()
}

/// The store's handover mark of `project` (what a run leaves when it is killed mid-handover),
/// read or set with the store of `state` (no bulkhead process has it open meanwhile).
fn handover_mark(state: &std::path::Path, project: &str, set: Option<bool>) -> bool {
    use bulkhead_ports::Store as _;
    let store = bulkhead_store::RedbStore::open(&state.join(bulkhead_app::state::STORE_FILE))
        .expect("open the store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        if let Some(mark) = set {
            store
                .set_handover(project, mark)
                .await
                .expect("set the mark");
        }
        store.handover(project).await.expect("read the mark")
    })
}

#[test]
fn a_replica_left_dark_by_a_killed_run_is_named_again() {
    // The container list of Docker 20.10 carries no aliases: `up` inspects the replicas that
    // may be dark, when the store's mark says a run may have left one, and finds this one.
    let shop = Shop::new("d");
    std::fs::write(shop.compose(), ROLL).expect("write compose.yaml");
    let first = shop.bulkhead(&["up", "-q"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let store = format!("{}-store-1", shop.name);
    let net = format!("{}-store-in", shop.name);
    let fixed_format =
        format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAMConfig.IPv4Address}}}}");
    let fixed = docker(&["inspect", "-f", &fixed_format, &store])
        .trim()
        .to_string();
    assert!(!fixed.is_empty(), "a fixed address on {net}");
    assert!(aliases(&store, &net).contains(&"store".to_string()));
    assert!(
        !handover_mark(&shop.state_dir(), &shop.name, None),
        "a run that ended clears its mark"
    );
    // What a run killed between a replica's start and its lighting leaves: on its ingress
    // network at its fixed address, without its aliases, and the project marked.
    docker(&["network", "disconnect", &net, &store]);
    docker(&["network", "connect", "--ip", &fixed, &net, &store]);
    assert!(!aliases(&store, &net).contains(&"store".to_string()));
    assert!(handover_mark(&shop.state_dir(), &shop.name, Some(true)));

    let up = shop.bulkhead(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let said = format!("{}{}", text(&up.stdout), text(&up.stderr));
    assert!(said.contains("named again"), "{said}");
    assert!(aliases(&store, &net).contains(&"store".to_string()));
    let again = docker(&["inspect", "-f", &fixed_format, &store]);
    assert_eq!(again.trim(), fixed, "it keeps its address");
    assert!(!handover_mark(&shop.state_dir(), &shop.name, None));
    // Lit, it is left alone: aliases the list does not carry are not taken for missing ones.
    let quiet = shop.bulkhead(&["up"]);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    let said = format!("{}{}", text(&quiet.stdout), text(&quiet.stderr));
    assert!(!said.contains("named again"), "{said}");
}
