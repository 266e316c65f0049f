//! New secret values and key rotation under running containers, embedded: the shop's `store`
//! gets a secret set with `secret set` and one from an `environment:` source. A new version
//! rolls `store` start-first while the shop keeps serving (web → api → store, polled every
//! 50 ms); `keys rotate` changes nothing the services see; an `up` with nothing new is a
//! no-op, and a changed `environment:` value is imported as a new version and rolled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::super::support::{Shop, bulkhead, http_get, ids_by_service, text};
use super::{assert_digest, json_of, replica, secret_files, sha256_hex, with_stdin};

/// `store` publishes its port on an ephemeral host port (so the test can ask it for digests
/// while a new replica starts beside the old one) and uses two secrets.
fn with_secrets(shop: &Shop) {
    shop.edit(
        "    command: [\"store\"]\n",
        "    command: [\"store\"]\n    ports:\n      - \"127.0.0.1::8082\"\n    secrets:\n      - db\n      - source: tok\n        mode: 0440\n",
    );
    let spec = std::fs::read_to_string(shop.compose()).expect("read compose.yaml");
    std::fs::write(
        shop.compose(),
        format!("{spec}\nsecrets:\n  db:\n    external: true\n  tok:\n    environment: SHOP_SECRET_TOK\n"),
    )
    .expect("write compose.yaml");
}

/// The files `store` gets, with their modes (`tok` asks for 0440).
const FILES: &[(&str, u32)] = &[("/run/secrets/db", 0o400), ("/run/secrets/tok", 0o440)];

/// `bulkhead ARGS` embedded on the shop's state directory.
fn secret_cmd(shop: &Shop, args: &[&str]) -> std::process::Command {
    let mut cmd = bulkhead();
    cmd.args(args).env("BULKHEAD_STATE_DIR", shop.state_dir());
    cmd
}

/// `up -q` with `SHOP_SECRET_TOK=tok`; its stdout.
fn up_with(shop: &Shop, tok: &str) -> String {
    let out = shop
        .command(&["up", "-q"])
        .env("SHOP_SECRET_TOK", tok)
        .output()
        .expect("bulkhead runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "up failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Polls the shop's page every 50 ms until stopped: (answered, failed).
struct Poller {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(port: u16) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (s, o, f) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match http_get(port, "/") {
                    Some((200, body)) if body.contains("Bilge pump") => {
                        o.fetch_add(1, Ordering::SeqCst)
                    }
                    _ => f.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Poller {
            stop,
            ok,
            failed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u32, u32) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("poller");
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn numbers(reply: &Value, key: &str, field: &str) -> Vec<u64> {
    reply[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v[field].as_u64())
        .collect()
}

#[test]
fn a_new_secret_version_rolls_its_service_without_downtime_and_rotation_changes_nothing() {
    let shop = Shop::new("w");
    with_secrets(&shop);
    let db = format!("{}/db", shop.name);
    let (v1, v2) = ("first value\n", "second value, from a file");

    // Not set yet: refused with the fix, nothing created.
    let out = shop
        .command(&["up", "-q"])
        .env("SHOP_SECRET_TOK", "token-a")
        .output()
        .expect("bulkhead runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("secret `db`") && err.contains(&format!("bulkhead secret set {db}")),
        "{err}"
    );
    assert!(shop.containers().is_empty());

    let set = with_stdin(
        &mut secret_cmd(&shop, &["secret", "set", &db]),
        v1.as_bytes(),
    );
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr));
    assert!(
        text(&set.stdout).contains(&format!("secret {db}: version 1 set")),
        "{}",
        text(&set.stdout)
    );
    up_with(&shop, "token-a");
    let (store, port) = replica(&shop, "store", 8082);
    assert_digest(port, "db", &sha256_hex(v1.as_bytes()));
    assert_digest(port, "tok", &sha256_hex(b"token-a"));
    let files = secret_files(&store, 10001, FILES);
    let before = ids_by_service(&shop.containers());

    // A new version from a file, while the shop is polled: no request fails.
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), v2).expect("write the value");
    let poller = Poller::start(shop.port);
    std::thread::sleep(Duration::from_millis(200));
    let path = file.path().to_string_lossy().into_owned();
    let set = secret_cmd(
        &shop,
        &["secret", "set", &db, "--from-file", &path, "--json"],
    )
    .output()
    .expect("bulkhead runs");
    std::thread::sleep(Duration::from_millis(200));
    let (ok, failed) = poller.finish();
    let reply = json_of(&set, 0);
    assert_eq!(reply["version"].as_u64(), Some(2), "{reply:#}");
    assert_eq!(reply["rolled"], serde_json::json!(["store"]), "{reply:#}");
    assert!(ok > 0, "the poller never got a page");
    assert_eq!(
        failed, 0,
        "requests failed while store rolled ({ok} answered)"
    );
    let after = ids_by_service(&shop.containers());
    assert_ne!(after["store"], before["store"], "store rolled");
    assert_eq!(after["web"], before["web"], "web left alone");
    assert_eq!(after["api"], before["api"], "api left alone");
    let (store, port) = replica(&shop, "store", 8082);
    assert_digest(port, "db", &sha256_hex(v2.as_bytes()));
    assert_digest(port, "tok", &sha256_hex(b"token-a"));
    for f in &files {
        assert!(!f.exists(), "{} outlived its container", f.display());
    }
    secret_files(&store, 10001, FILES);

    // Key rotation while it runs: every version re-wrapped, the services see nothing.
    let poller = Poller::start(shop.port);
    let rotate = secret_cmd(&shop, &["keys", "rotate"])
        .output()
        .expect("bulkhead runs");
    let (ok, failed) = poller.finish();
    assert_eq!(rotate.status.code(), Some(0), "{}", text(&rotate.stderr));
    let report = text(&rotate.stdout);
    assert!(
        report.contains("(new): 3 version(s) re-wrapped, 0 already current"),
        "{report}"
    );
    assert!(ok > 0 && failed == 0, "{ok} answered, {failed} failed");
    assert_digest(port, "db", &sha256_hex(v2.as_bytes()));
    assert_eq!(
        ids_by_service(&shop.containers()),
        after,
        "nothing restarted"
    );

    let versions = json_of(
        &secret_cmd(&shop, &["secret", "versions", &db, "--json"])
            .output()
            .expect("bulkhead runs"),
        0,
    );
    assert_eq!(
        numbers(&versions, "versions", "version"),
        [1, 2],
        "{versions:#}"
    );
    assert_eq!(
        numbers(&versions, "versions", "size"),
        [v1.len() as u64, v2.len() as u64]
    );
    let table = secret_cmd(&shop, &["secret", "versions", &db])
        .output()
        .expect("bulkhead runs");
    assert!(
        text(&table.stdout).starts_with("VERSION  BYTES"),
        "{}",
        text(&table.stdout)
    );

    // Nothing new: a no-op. A new `environment:` value: a new version, rolled.
    let same = up_with(&shop, "token-a");
    assert!(same.contains("up to date, nothing changed"), "{same}");
    assert_eq!(ids_by_service(&shop.containers()), after);
    up_with(&shop, "token-b");
    let (_, port) = replica(&shop, "store", 8082);
    assert_digest(port, "tok", &sha256_hex(b"token-b"));
    assert_digest(port, "db", &sha256_hex(v2.as_bytes()));
    let list = json_of(
        &secret_cmd(&shop, &["secret", "ls", &shop.name, "--json"])
            .output()
            .expect("bulkhead runs"),
        0,
    );
    let latest: Vec<(String, u64)> = list["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["latest"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(latest, [("db".to_string(), 2), ("tok".to_string(), 2)]);
}
