//! The canary test: three random values go in through a real `bulkhead server` (`secret set`
//! from stdin twice, and a Compose `file:` secret imported at `up`), reach the container as
//! files on a tmpfs (checked through their digests), survive a new version and a key rotation;
//! then every place a leak could hide — the state directory, the audit log, the server's
//! output, `docker inspect` and the containers' environment and command lines, every API
//! reply and every CLI output — is searched for each value in every common encoding. None
//! may be found.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::super::server_process::{Server, init, run, token_of};
use super::super::support::{Shop, bulkhead};
use super::{assert_digest, canary, json_of, replica, secret_files, sha256_hex, with_stdin};

/// One service, the shop image as `store`, with a secret set through the API (`db`) and one
/// from a file in the project directory (`cfg`, delivered as `app.cfg`). Its port is
/// published on an ephemeral host port, so that a new replica can start before the old one
/// stops.
const COMPOSE: &str = r#"services:
  store:
    build:
      context: ./image
    command: ["store"]
    ports:
      - "127.0.0.1::8082"
    user: "10001:10001"
    read_only: true
    init: true
    healthcheck:
      test: ["CMD", "/bulkhead-demo", "probe", "http://127.0.0.1:8082/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
    secrets:
      - db
      - source: cfg
        target: app.cfg
secrets:
  db:
    external: true
  cfg:
    file: ./cfg.txt
"#;

/// The files `store` gets, with their modes (the default: 0400).
const FILES: &[(&str, u32)] = &[("/run/secrets/db", 0o400), ("/run/secrets/app.cfg", 0o400)];

/// Everything the run produced that a value could leak into: (where, bytes).
#[derive(Default)]
struct Evidence(Vec<(String, Vec<u8>)>);

impl Evidence {
    fn add(&mut self, what: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((what.into(), bytes.into()));
    }

    /// A CLI command's stdout (the API reply, with `--json`) and stderr.
    fn output(&mut self, what: &str, out: &Output) {
        self.add(format!("stdout of `{what}`"), out.stdout.clone());
        self.add(format!("stderr of `{what}`"), out.stderr.clone());
    }

    /// `docker inspect` of the project's containers, and the environment and command line of
    /// each running container's processes (its init and the init's children).
    fn containers(&mut self, shop: &Shop, when: &str) {
        for c in shop.containers() {
            let name = c["Name"].as_str().unwrap_or_default().to_string();
            self.add(format!("docker inspect {name} ({when})"), c.to_string());
            let Some(pid) = c["State"]["Pid"].as_u64().filter(|p| *p > 0) else {
                continue;
            };
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            let pids = std::iter::once(pid.to_string())
                .chain(children.split_whitespace().map(str::to_string));
            for p in pids {
                for file in ["environ", "cmdline"] {
                    if let Ok(bytes) = std::fs::read(format!("/proc/{p}/{file}")) {
                        self.add(format!("/proc/{p}/{file} of {name} ({when})"), bytes);
                    }
                }
            }
        }
    }

    /// Every file under `dir`, recursively. `shared`: other tests may be removing files there
    /// meanwhile, so one that vanished is skipped rather than an error.
    fn dir(&mut self, dir: &Path, shared: bool) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(_) if shared => return,
            Err(e) => panic!("read {}: {e}", dir.display()),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.dir(&path, shared),
                Ok(t) if t.is_file() => match std::fs::read(&path) {
                    Ok(bytes) => self.add(format!("file {}", path.display()), bytes),
                    Err(_) if shared => {}
                    Err(e) => panic!("read {}: {e}", path.display()),
                },
                _ => {}
            }
        }
    }
}

/// The forms a value could be written in: raw, hex (both cases), base64 and base64url (with
/// and without padding, and at each offset inside a longer base64 text), and its SHA-256
/// (no hash of a value is ever kept: it would confirm guesses of a weak one).
fn forms(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("raw".to_string(), value.to_vec()),
        ("hex".to_string(), hex::encode(value).into_bytes()),
        ("HEX".to_string(), hex::encode_upper(value).into_bytes()),
    ];
    for (alphabet, padded, unpadded) in [
        ("base64", STANDARD, STANDARD_NO_PAD),
        ("base64url", URL_SAFE, URL_SAFE_NO_PAD),
    ] {
        out.push((alphabet.to_string(), padded.encode(value).into_bytes()));
        out.push((
            format!("{alphabet} unpadded"),
            unpadded.encode(value).into_bytes(),
        ));
        for shift in 1..3 {
            // The characters that depend on the value's bytes only: the first group of four
            // mixes in what precedes it, the last what follows.
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(value);
            let text = unpadded.encode(&shifted);
            let core = text.as_bytes()[4..text.len() - 4].to_vec();
            out.push((format!("{alphabet} at offset {shift}"), core));
        }
    }
    let digest = Sha256::digest(value);
    out.push(("sha256 hex".into(), hex::encode(digest).into_bytes()));
    out.push(("SHA256 HEX".into(), hex::encode_upper(digest).into_bytes()));
    out.push(("sha256 base64".into(), STANDARD.encode(digest).into_bytes()));
    out
}

/// Every place a form of a canary occurs: `canary N (form) in WHERE at K`. Every form is
/// ASCII, and bytes that are not UTF-8 only ever become U+FFFD, never ASCII: so searching the
/// lossy text (with std's optimized substring search) finds exactly what the bytes hold.
fn find(evidence: &Evidence, canaries: &[&str]) -> Vec<String> {
    let needles: Vec<(usize, String, String)> = canaries
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            forms(c.as_bytes()).into_iter().map(move |(form, bytes)| {
                let needle = String::from_utf8(bytes).expect("an ASCII form");
                (i + 1, form, needle)
            })
        })
        .collect();
    let mut hits = Vec::new();
    for (place, hay) in &evidence.0 {
        let hay = String::from_utf8_lossy(hay);
        for (n, form, needle) in &needles {
            if let Some(at) = hay.find(needle.as_str()) {
                hits.push(format!("canary {n} ({form}) in {place} at {at}"));
            }
        }
    }
    hits
}

/// `bulkhead` as the admin's client of the server, every output kept as evidence.
struct Admin<'a> {
    shop: &'a Shop,
    server: &'a Server,
    token: &'a str,
}

impl Admin<'_> {
    /// Run `args` (with this shop's `-f` and `-p` when `project`), `stdin` fed in.
    fn run(
        &self,
        evidence: &mut Evidence,
        args: &[&str],
        stdin: Option<&str>,
        project: bool,
    ) -> Output {
        let mut cmd: Command = if project {
            self.shop.command(args)
        } else {
            let mut c = bulkhead();
            c.args(args);
            c
        };
        self.server.point(&mut cmd, self.token);
        let out = match stdin {
            Some(value) => with_stdin(&mut cmd, value.as_bytes()),
            None => run(&mut cmd),
        };
        evidence.output(&args.join(" "), &out);
        out
    }
}

#[test]
fn the_search_finds_each_form_of_a_canary() {
    let c = canary();
    let wrapped = format!("xy{c}z");
    let mut evidence = Evidence::default();
    evidence.add("base64url at offset 2", URL_SAFE_NO_PAD.encode(&wrapped));
    evidence.add("HEX", format!("..{}..", hex::encode_upper(&c)));
    evidence.add("sha256", format!("digest={}", sha256_hex(c.as_bytes())));
    let hits = find(&evidence, &[&c]);
    assert!(
        hits.iter().any(|h| h.contains("(base64url at offset 2)")),
        "{hits:?}"
    );
    assert!(hits.iter().any(|h| h.contains("(HEX)")), "{hits:?}");
    assert!(hits.iter().any(|h| h.contains("(sha256 hex)")), "{hits:?}");
    assert!(find(&evidence, &[&canary()]).is_empty());
}

#[test]
fn no_secret_value_is_written_in_plaintext_anywhere() {
    let shop = Shop::new("q");
    let (c1, c2, c3) = (canary(), canary(), canary());
    // The `file:` secret: the user's plaintext on disk, by their choice (not searched).
    let cfg = shop.dir.path().join("cfg.txt");
    std::fs::write(&cfg, &c3).expect("write cfg.txt");
    std::fs::write(shop.compose(), COMPOSE).expect("write compose.yaml");
    let state = shop.state_dir();
    let p = shop.name.clone();
    let mut evidence = Evidence::default();

    let out = init(&state);
    evidence.output("init", &out);
    let token = token_of(&out);
    let log = tempfile::NamedTempFile::new().expect("tmp");
    let mut server = Server::start_logging(&state, log.path().to_path_buf(), "debug");
    let admin = Admin {
        shop: &shop,
        server: &server,
        token: &token,
    };
    let ev = &mut evidence;

    // The first value, from stdin; nothing runs yet, so nothing rolls.
    let db = format!("{p}/db");
    let set = json_of(
        &admin.run(ev, &["secret", "set", &db, "--json"], Some(&c1), false),
        0,
    );
    assert_eq!(
        (set["version"].as_u64(), set["rolled"].clone()),
        (Some(1), Value::Array(vec![]))
    );

    // Deployed remotely: both files delivered, as the service's user, read-only, on a tmpfs.
    json_of(&admin.run(ev, &["up", "-q", "--json"], None, true), 0);
    let (first, port) = replica(&shop, "store", 8082);
    assert_digest(port, "db", &sha256_hex(c1.as_bytes()));
    assert_digest(port, "app.cfg", &sha256_hex(c3.as_bytes()));
    let first_files = secret_files(&first, 10001, FILES);
    ev.containers(&shop, "after up");

    // A new version rolls the service; the old replica's files go with it.
    let set = json_of(
        &admin.run(ev, &["secret", "set", &db, "--json"], Some(&c2), false),
        0,
    );
    assert_eq!(set["version"].as_u64(), Some(2), "{set:#}");
    assert_eq!(set["rolled"], serde_json::json!(["store"]), "{set:#}");
    let (second, port) = replica(&shop, "store", 8082);
    assert_ne!(second["Id"], first["Id"], "a new replica");
    assert_digest(port, "db", &sha256_hex(c2.as_bytes()));
    assert_digest(port, "app.cfg", &sha256_hex(c3.as_bytes()));
    for f in &first_files {
        assert!(!f.exists(), "{} outlived its container", f.display());
    }
    let second_files = secret_files(&second, 10001, FILES);
    ev.containers(&shop, "after the new version");

    // A new key-encryption key: every version re-wrapped, the running service unaffected.
    let report = json_of(
        &admin.run(ev, &["keys", "rotate", "--json"], None, false),
        0,
    );
    assert_eq!(report["failed"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["created"], true, "{report:#}");
    assert!(report["rewrapped"].as_u64() >= Some(3), "{report:#}");
    assert_eq!(
        report["retired"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    assert_digest(port, "db", &sha256_hex(c2.as_bytes()));
    let keys = std::fs::read_dir(state.join("keys")).expect("keys dir");
    for k in keys.flatten() {
        let mode = k.metadata().expect("key file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is private", k.path().display());
    }
    ev.containers(&shop, "after keys rotate");

    // Names, numbers and sizes are listed; never a value.
    let list = json_of(
        &admin.run(ev, &["secret", "ls", &p, "--json"], None, false),
        0,
    );
    let names: Vec<&str> = list["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["cfg", "db"], "{list:#}");
    let versions = json_of(
        &admin.run(ev, &["secret", "versions", &db, "--json"], None, false),
        0,
    );
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, [1, 2], "{versions:#}");
    let text_list = admin.run(ev, &["secret", "ls", &p], None, false);
    assert_eq!(text_list.status.code(), Some(0));
    let ps = admin.run(ev, &["ps", "--json"], None, true);
    assert_eq!(ps.status.code(), Some(0));

    // The audit log, read through the server: the sets and the rotation, done.
    let log_doc = json_of(&admin.run(ev, &["audit", "log", "--json"], None, false), 0);
    let done = |action: &str| {
        log_doc["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == action && e["outcome"]["code"] == "done")
            .count()
    };
    assert_eq!(done("secret.set"), 2, "{log_doc:#}");
    assert_eq!(done("key.rotate"), 1, "{log_doc:#}");
    let export = admin.run(ev, &["audit", "export"], None, false);
    assert_eq!(export.status.code(), Some(0));

    // Down: the containers and their secret files are gone.
    let down = admin.run(ev, &["down", "-q"], None, true);
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(shop.containers().is_empty(), "containers left after down");
    for f in &second_files {
        assert!(!f.exists(), "{} outlived down", f.display());
    }
    // Nor is any copy left on the server's tmpfs (delivered files, unpacked uploads).
    let mut tmpfs = Evidence::default();
    tmpfs.dir(Path::new("/run/bulkhead"), true);
    let left = find(&tmpfs, &[&c1, &c2, &c3]);
    assert!(left.is_empty(), "left on the tmpfs:\n{}", left.join("\n"));

    // Stopped: the state directory at rest, the server's output, the log read offline.
    let status = server.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        server.log()
    );
    evidence.add("server stdout", server.stdout());
    evidence.add("server stderr", server.log());
    let offline = bulkhead()
        .args(["audit", "export", "--state-dir"])
        .arg(&state)
        .output()
        .expect("bulkhead runs");
    assert_eq!(offline.status.code(), Some(0));
    evidence.output("audit export (embedded)", &offline);
    evidence.dir(&state, false);
    assert!(
        evidence.0.iter().any(|(w, _)| w.ends_with("bulkhead.redb")),
        "the store file was searched"
    );

    let hits = find(&evidence, &[&c1, &c2, &c3]);
    assert!(
        hits.is_empty(),
        "secret values leaked:\n{}",
        hits.join("\n")
    );
    // The search works: the one plaintext copy the user made is found.
    let mut control = Evidence::default();
    control.dir(shop.dir.path(), false);
    let found = find(&control, &[&c3]);
    assert!(found.iter().any(|h| h.contains("cfg.txt")), "{found:?}");
}
