//! The crate's integration tests through its public API: the real-world Compose corpus (every
//! file parses and gets the verdict we agree with), property tests that no input panics the
//! parser, and the security groups derived for small projects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_core::hardening::{NetworkMode, Outcome, Profile, RULES, Rule};
use bulkhead_core::secgroups::{NetworkPlan, NetworkRole, Topology};
use bulkhead_core::spec::extension::Egress;
use bulkhead_core::spec::{self, LoadInput, Project, SourceFile, SpecErrors};
use bulkhead_core::verdict::{self, Verdict};
use proptest::prelude::*;

#[path = "core/compose_keys.rs"]
mod compose_keys;

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

/// `$BULKHEAD_CORPUS`, or the workspace's own `corpus/` (a copy carried with the project).
fn corpus_root() -> PathBuf {
    match std::env::var_os("BULKHEAD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus"),
    }
}

/// Every `*/compose.y*ml` of the awesome-compose corpus, sorted. Panics, saying where it looked,
/// when the corpus is not there: a missing corpus must fail the run, not skip it.
fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_root().join("compose/awesome-compose");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the Compose corpus is missing: looked in {} ({e}); set BULKHEAD_CORPUS to the corpus directory (the one holding compose/awesome-compose)",
            dir.display()
        )
    });
    let mut files = Vec::new();
    for entry in entries {
        let sub = entry.expect("a readable corpus directory entry").path();
        if !sub.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&sub).expect("a readable example directory") {
            let path = file.expect("a readable example entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("compose.y") && name.ends_with("ml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

struct Example {
    /// The example's directory name (e.g. `pihole-cloudflared-DoH`).
    dir: String,
    project: Project,
    verdict: Verdict,
}

fn load_corpus_file(path: &Path) -> Result<Project, SpecErrors> {
    let dir = std::fs::canonicalize(path.parent().expect("a file in a directory"))
        .expect("a canonical example directory");
    let dir_name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 directory name");
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let text = std::fs::read_to_string(path).expect("a readable Compose file");
    spec::load(&LoadInput {
        files: vec![SourceFile {
            name: format!("{dir_name}/{file_name}"),
            text,
        }],
        project_dir: dir.to_str().expect("a UTF-8 path").to_string(),
        project_name: None,
        dotenv: None,
        env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
        profiles: Vec::new(),
        extra: Default::default(),
    })
}

/// The whole corpus, loaded and checked. Every file must parse.
fn corpus() -> Vec<Example> {
    let mut examples = Vec::new();
    let mut failures = Vec::new();
    for path in corpus_files() {
        let dir = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .expect("a UTF-8 directory name")
            .to_string();
        match load_corpus_file(&path) {
            Ok(project) => {
                let verdict = verdict::check(&project, &Profile::default());
                examples.push(Example {
                    dir,
                    project,
                    verdict,
                });
            }
            Err(e) => failures.push(format!("{}:\n{e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "corpus files that do not parse:\n{}",
        failures.join("\n")
    );
    examples
}

fn example<'a>(corpus: &'a [Example], dir: &str) -> &'a Example {
    corpus
        .iter()
        .find(|e| e.dir == dir)
        .unwrap_or_else(|| panic!("no example `{dir}` in the corpus"))
}

/// Refused services per rule (a service counts once per rule).
fn refused_services_by_rule(corpus: &[Example]) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for e in corpus {
        for (s, f) in e.verdict.refusals() {
            out.entry(f.rule.id())
                .or_default()
                .insert(format!("{}/{}", e.dir, s.name));
        }
    }
    out
}

#[test]
fn corpus_every_file_parses_and_gets_a_verdict() {
    let corpus = corpus();
    let services: usize = corpus.iter().map(|e| e.verdict.services.len()).sum();
    let refused: Vec<String> = corpus
        .iter()
        .flat_map(|e| {
            e.verdict
                .services
                .iter()
                .filter(|s| !s.deployable)
                .map(move |s| format!("{}/{}", e.dir, s.name))
        })
        .collect();
    let by_rule = refused_services_by_rule(&corpus);

    println!(
        "{:<32} {:>8} {:>8}  refused by",
        "example", "services", "refused"
    );
    for e in &corpus {
        let mut rules: BTreeSet<String> = BTreeSet::new();
        for (s, f) in e.verdict.refusals() {
            rules.insert(format!("{}:{}", s.name, f.rule.id()));
        }
        let n_refused = e.verdict.services.iter().filter(|s| !s.deployable).count();
        println!(
            "{:<32} {:>8} {:>8}  {}",
            e.dir,
            e.verdict.services.len(),
            n_refused,
            rules.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "\nfiles parsed: {} of {}; services: {services}; refused services: {}",
        corpus.len(),
        corpus_files().len(),
        refused.len()
    );
    println!("refused services by rule:");
    for (rule, who) in &by_rule {
        println!(
            "  {rule:<18} {} ({})",
            who.len(),
            who.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }

    assert_eq!(corpus.len(), 39, "every corpus file parses");
    assert_eq!(services, 81);
    assert_eq!(refused.len(), 8, "{refused:?}");
    let counts: BTreeMap<&str, usize> = by_rule.iter().map(|(r, s)| (*r, s.len())).collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("cap-drop-all", 2),
            ("default-runtime", 2),
            ("no-docker-socket", 2),
            ("no-host-mounts", 4),
            ("no-host-network", 1),
            ("safe-sysctls", 1),
        ])
    );
    let undeployable: Vec<&str> = corpus
        .iter()
        .filter(|e| !e.verdict.deployable)
        .map(|e| e.dir.as_str())
        .collect();
    assert_eq!(
        undeployable,
        [
            "minecraft",
            "pihole-cloudflared-DoH",
            "plex",
            "portainer",
            "traefik-golang",
            "wasmedge-kafka-mysql",
            "wasmedge-mysql-nginx",
            "wireguard",
        ]
    );
}

/// Every refusal in the corpus, exactly, with the words that say why. Each was checked by hand
/// against the Compose file it comes from.
#[test]
fn corpus_refusals_are_exactly_the_ones_we_agree_with() {
    let expected: Vec<(&str, &str, &str, &str)> = vec![
        // ~/minecraft_data with HOME=/home/test: outside the project.
        (
            "minecraft",
            "minecraft",
            "no-host-mounts",
            "bind-mounts /home/test/minecraft_data, outside the project directory",
        ),
        (
            "pihole-cloudflared-DoH",
            "pihole",
            "cap-drop-all",
            "cap_add NET_ADMIN",
        ),
        (
            "pihole-cloudflared-DoH",
            "pihole",
            "no-host-mounts",
            "bind-mounts /etc/dnsmasq.d, outside",
        ),
        (
            "pihole-cloudflared-DoH",
            "pihole",
            "no-host-mounts",
            "bind-mounts /etc/pihole, outside",
        ),
        // ${PLEX_MEDIA_PATH} is unset: the bind has no source.
        (
            "plex",
            "plex",
            "no-host-mounts",
            "bind mount to /media/ has an empty host path",
        ),
        (
            "plex",
            "plex",
            "no-host-network",
            "`network_mode: host` shares the host's network stack",
        ),
        (
            "portainer",
            "portainer",
            "no-docker-socket",
            "mounts /var/run/docker.sock, which gives control of the Docker Engine",
        ),
        (
            "traefik-golang",
            "frontend",
            "no-docker-socket",
            "mounts /var/run/docker.sock",
        ),
        (
            "wasmedge-kafka-mysql",
            "etl",
            "default-runtime",
            "runtime `io.containerd.wasmedge.v1` is not one of runc, runsc",
        ),
        (
            "wasmedge-mysql-nginx",
            "backend",
            "default-runtime",
            "runtime `io.containerd.wasmedge.v1` is not one of runc, runsc",
        ),
        (
            "wireguard",
            "wireguard",
            "cap-drop-all",
            "cap_add NET_ADMIN",
        ),
        (
            "wireguard",
            "wireguard",
            "cap-drop-all",
            "cap_add SYS_MODULE",
        ),
        (
            "wireguard",
            "wireguard",
            "no-host-mounts",
            "bind-mounts /lib/modules, outside",
        ),
        (
            "wireguard",
            "wireguard",
            "no-host-mounts",
            "bind-mounts /usr/share/appdata/wireguard/config, outside",
        ),
        (
            "wireguard",
            "wireguard",
            "no-host-mounts",
            "bind-mounts /usr/src, outside",
        ),
        (
            "wireguard",
            "wireguard",
            "safe-sysctls",
            "sysctl net.ipv4.conf.all.src_valid_mark is outside the safe set",
        ),
    ];
    let corpus = corpus();
    let mut observed: Vec<(String, String, &str, String)> = Vec::new();
    for e in &corpus {
        for (s, f) in e.verdict.refusals() {
            observed.push((
                e.dir.clone(),
                s.name.clone(),
                f.rule.id(),
                f.message.clone(),
            ));
            assert!(f.at.is_some(), "{}/{}: {f:?} names no place", e.dir, s.name);
        }
    }
    observed.sort();
    let shown: Vec<String> = observed
        .iter()
        .map(|(d, s, r, m)| format!("{d}/{s} {r}: {m}"))
        .collect();
    assert_eq!(
        observed.len(),
        expected.len(),
        "refusals:\n{}",
        shown.join("\n")
    );
    for (got, want) in observed.iter().zip(&expected) {
        assert!(
            got.0 == want.0 && got.1 == want.1 && got.2 == want.2 && got.3.contains(want.3),
            "got {got:?}, want {want:?}; all refusals:\n{}",
            shown.join("\n")
        );
    }
    // The triples, as a set, for the record.
    let triples: BTreeSet<(&str, &str, &str)> =
        expected.iter().map(|(d, s, r, _)| (*d, *s, *r)).collect();
    assert_eq!(triples.len(), 12);
}

#[test]
fn corpus_known_verdicts() {
    let corpus = corpus();
    let refused_by = |dir: &str, service: &str| -> BTreeSet<&'static str> {
        let e = example(&corpus, dir);
        e.verdict
            .refusals()
            .filter(|(s, _)| s.name == service)
            .map(|(_, f)| f.rule.id())
            .collect()
    };
    assert_eq!(
        refused_by("portainer", "portainer"),
        BTreeSet::from(["no-docker-socket"])
    );
    assert_eq!(
        refused_by("plex", "plex"),
        BTreeSet::from(["no-host-network", "no-host-mounts"])
    );
    assert_eq!(
        refused_by("traefik-golang", "frontend"),
        BTreeSet::from(["no-docker-socket"])
    );
    assert!(refused_by("traefik-golang", "backend").is_empty());
    assert_eq!(
        refused_by("minecraft", "minecraft"),
        BTreeSet::from(["no-host-mounts"])
    );
    assert!(refused_by("wireguard", "wireguard").contains("cap-drop-all"));
    assert!(refused_by("pihole-cloudflared-DoH", "pihole").contains("cap-drop-all"));
    assert!(refused_by("pihole-cloudflared-DoH", "cloudflared").is_empty());

    // Refused means not relaxed: the host network stays the security groups, the capabilities
    // stay dropped.
    let svc = |dir: &str, name: &str| {
        example(&corpus, dir)
            .verdict
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{dir}/{name}"))
            .clone()
    };
    let plex = svc("plex", "plex");
    assert_eq!(plex.effective.network_mode, NetworkMode::SecurityGroups);
    let wg = svc("wireguard", "wireguard");
    assert!(wg.effective.cap_add.is_empty());
    assert!(wg.effective.sysctls.is_empty());
    let etl = svc("wasmedge-kafka-mysql", "etl");
    assert_eq!(etl.effective.runtime, None);

    // plex's unset variable is said, not hidden.
    let notes: Vec<&str> = example(&corpus, "plex")
        .project
        .notes
        .iter()
        .map(|n| n.message.as_str())
        .collect();
    assert!(
        notes.contains(&"variable PLEX_MEDIA_PATH is not set; it stands for an empty string"),
        "{notes:?}"
    );
    // The project name follows the directory, normalized as Compose does.
    assert_eq!(
        example(&corpus, "pihole-cloudflared-DoH").project.name,
        "pihole-cloudflared-doh"
    );
    assert_eq!(
        example(&corpus, "react-rust-postgres").project.name,
        "react-rust-postgres"
    );
}

#[test]
fn corpus_images_by_tag_are_flagged_for_pinning() {
    let corpus = corpus();
    let (mut by_tag, mut built) = (0, 0);
    for e in &corpus {
        for s in &e.verdict.services {
            let spec = &e.project.services[&s.name];
            let pinned: Vec<_> = s
                .findings
                .iter()
                .filter(|f| f.rule == Rule::PinnedImage)
                .collect();
            assert_eq!(pinned.len(), 1, "{}/{}: {pinned:?}", e.dir, s.name);
            let f = pinned[0];
            // No image in the corpus is pinned by digest.
            assert_eq!(f.outcome, Outcome::Flagged, "{}/{}: {f:?}", e.dir, s.name);
            if spec.build.is_some() {
                built += 1;
                assert!(f.message.contains("built from source"), "{f:?}");
            } else {
                by_tag += 1;
                let image = s.image.as_deref().expect("an image when nothing is built");
                assert_eq!(
                    f.message,
                    format!(
                        "image `{image}` is referenced by tag; it will be pinned to a digest at deploy"
                    )
                );
            }
        }
    }
    assert_eq!((by_tag, built), (45, 36));
}

/// What every service of the corpus gets, refused or not: the strict settings, and one finding
/// per rule.
#[test]
fn corpus_effective_settings_are_strict_everywhere() {
    let corpus = corpus();
    for e in &corpus {
        for s in &e.verdict.services {
            let who = format!("{}/{}", e.dir, s.name);
            for info in RULES {
                assert!(
                    s.findings.iter().any(|f| f.rule == info.rule),
                    "{who}: no finding for {}",
                    info.id
                );
            }
            let eff = &s.effective;
            assert!(!eff.privileged, "{who}");
            assert_eq!(eff.cap_drop, ["ALL"], "{who}");
            assert!(eff.cap_add.is_empty(), "{who}: {:?}", eff.cap_add);
            assert!(eff.read_only_rootfs, "{who}");
            assert!(
                eff.tmpfs.iter().any(|(p, _)| p == "/tmp")
                    || e.project.services[&s.name]
                        .volumes
                        .iter()
                        .any(|m| m.value.target == "/tmp"),
                "{who}: {:?}",
                eff.tmpfs
            );
            assert_eq!(eff.security_opt, ["no-new-privileges:true"], "{who}");
            assert!(eff.memory > 0 && eff.memory_swap == eff.memory, "{who}");
            assert!(eff.pids_limit > 0, "{who}");
            assert_eq!(eff.cpu_shares, 1024, "{who}");
            assert!(
                eff.restart == ("on-failure".to_string(), 5)
                    || eff.restart == ("no".to_string(), 0),
                "{who}: {:?}",
                eff.restart
            );
            assert!(
                eff.ports.iter().all(|p| p.host_ip == "127.0.0.1"),
                "{who}: {:?}",
                eff.ports
            );
            assert!(eff.devices.is_empty(), "{who}");
            assert_eq!(
                (&eff.pid, &eff.ipc, &eff.uts, &eff.userns_mode),
                (&None, &None, &None, &None),
                "{who}"
            );
            assert_eq!(eff.network_mode, NetworkMode::SecurityGroups, "{who}");
            assert!(s.waivers.is_empty(), "{who}");
        }
    }
    // minecraft's own limit is kept; everyone else gets the default.
    let mc = &example(&corpus, "minecraft").verdict.services[0];
    assert_eq!(mc.effective.memory, 3 << 29);
    // `restart: "no"` is kept (fastapi), every other restart policy bounded.
    let api = &example(&corpus, "fastapi").verdict.services[0];
    assert_eq!(api.effective.restart, ("no".to_string(), 0));
}

#[test]
fn corpus_topologies_follow_depends_on() {
    let corpus = corpus();
    let topo = |dir: &str| -> &Topology { &example(&corpus, dir).verdict.topology };
    let allow = |t: &Topology, service: &str| -> Vec<String> {
        t.groups
            .iter()
            .find(|g| g.service == service)
            .map(|g| g.allow_from.clone())
            .unwrap_or_else(|| panic!("no group for {service}"))
    };
    // nginx-golang-mysql: proxy -> backend -> db.
    let t = topo("nginx-golang-mysql");
    assert_eq!(allow(t, "db"), ["backend"]);
    assert_eq!(allow(t, "backend"), ["proxy"]);
    assert!(allow(t, "proxy").is_empty());
    let names: Vec<&str> = t.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "nginx-golang-mysql-backend-in",
            "nginx-golang-mysql-db-in",
            "nginx-golang-mysql-proxy-pub"
        ]
    );
    // The spec's own networks are not created, and `check` says so.
    let t = topo("nextcloud-redis-mariadb");
    assert!(
        t.caveats
            .iter()
            .any(|c| c.contains("the spec's own networks (dbnet, redisnet) are not created")),
        "{:?}",
        t.caveats
    );
    // nextcloud's services have no depends_on: nobody may call redis or db.
    assert!(allow(t, "db").is_empty() && allow(t, "redis").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Property tests: no input panics the parser (or the policy after it)
// ---------------------------------------------------------------------------------------------

fn load_text(text: &str) -> Result<Project, SpecErrors> {
    spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: text.to_string(),
        }],
        project_dir: "/srv/fuzz".into(),
        project_name: None,
        dotenv: None,
        env: BTreeMap::from([
            ("HOME".to_string(), "/home/test".to_string()),
            ("X".to_string(), "1".to_string()),
        ]),
        profiles: Vec::new(),
        extra: Default::default(),
    })
}

/// Load, and when it loads, decide: neither may panic.
fn load_and_check(text: &str) {
    if let Ok(project) = load_text(text) {
        let v = verdict::check(&project, &Profile::default());
        assert_eq!(v.services.len(), project.services.len());
    }
}

const KEYS: &[&str] = &[
    "services",
    "svc",
    "web",
    "name",
    "version",
    "volumes",
    "networks",
    "secrets",
    "configs",
    "image",
    "build",
    "context",
    "command",
    "environment",
    "env_file",
    "ports",
    "target",
    "published",
    "host_ip",
    "expose",
    "healthcheck",
    "test",
    "depends_on",
    "condition",
    "deploy",
    "resources",
    "limits",
    "reservations",
    "memory",
    "cpus",
    "pids",
    "replicas",
    "mem_limit",
    "pids_limit",
    "user",
    "read_only",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "network_mode",
    "restart",
    "labels",
    "sysctls",
    "devices",
    "profiles",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "runtime",
    "ulimits",
    "soft",
    "hard",
    "source",
    "type",
    "file",
    "x-bulkhead",
    "tier",
    "public",
    "allow_from",
    "egress",
    "autoscale",
    "waivers",
    "rule",
    "reason",
    "trust",
    "x-common",
    "<<",
    "include",
    "links",
    "\"quoted key\"",
    "? complex",
];

const VALUES: &[&str] = &[
    "",
    "${X:-1}",
    "${X:?missing}",
    "${Y:-${X}}",
    "${Y?}",
    "$X",
    "$$",
    "${",
    "$",
    "&a",
    "*a",
    "&a {x: 1}",
    "*b",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    "[a, b]",
    "{a: 1, b: [2]}",
    "[{rule: no-privileged, reason: x}]",
    "1",
    "0",
    "-1",
    "1.5G",
    "0.5",
    "99999999999999999999",
    "1e400",
    "\"8080:80\"",
    "\"127.0.0.1:80-90:80-90/udp\"",
    "'x'",
    "\"",
    "'",
    "~",
    "null",
    "true",
    "no",
    "!reset",
    "!override []",
    "!!str 1",
    "!custom x",
    "./data:/data",
    "/var/run/docker.sock:/x:ro",
    ":/media",
    "~/x:/y",
    "on-failure:3",
    "host",
    "service:web",
    "root",
    "\"0:0\"",
    "[CMD, /probe]",
    "[NONE]",
    "internet",
    "safe",
    "|",
    ">-",
    "# comment",
    "- item",
    "-",
    ":",
    "? ",
    "%TAG",
    "---",
    "...",
    "\t",
    "é",
    "\u{feff}",
];

/// A line of Compose-like YAML: indentation, maybe a list dash, a key, a value.
fn line() -> impl Strategy<Value = String> {
    (
        0usize..6,
        prop::bool::weighted(0.2),
        prop::sample::select(KEYS),
        prop::bool::weighted(0.9),
        prop::sample::select(VALUES),
    )
        .prop_map(|(indent, dash, key, colon, value)| {
            let dash = if dash { "- " } else { "" };
            let sep = if colon { ": " } else { " " };
            format!("{}{dash}{key}{sep}{value}", "  ".repeat(indent))
        })
}

/// Keys of a service, and values that fit some of them (and not others).
const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "environment",
    "ports",
    "expose",
    "healthcheck",
    "deploy",
    "mem_limit",
    "cpus",
    "pids_limit",
    "user",
    "read_only",
    "tmpfs",
    "cap_add",
    "privileged",
    "security_opt",
    "network_mode",
    "volumes",
    "restart",
    "labels",
    "sysctls",
    "devices",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "runtime",
    "x-bulkhead",
    "<<",
];

const SERVICE_VALUES: &[&str] = &[
    "${X:-1}",
    "\"${X}\"",
    "\"${UNSET}\"",
    "\"${UNSET}:${UNSET}\"",
    "[]",
    "{}",
    "null",
    "1",
    "0",
    "-1",
    "true",
    "false",
    "512m",
    "host",
    "none",
    "private",
    "root",
    "always",
    "\"on-failure:9\"",
    "io.containerd.wasmedge.v1",
    "[\"8080:80\"]",
    "[\"0.0.0.0:80:80\", \"127.0.0.1:81:81/udp\"]",
    "[NET_ADMIN, cap_net_bind_service]",
    "[\"./data:/data\", \"/:/host:ro\", \"${UNSET}:/media\"]",
    "[seccomp=unconfined, \"no-new-privileges:false\", disable]",
    "{net.ipv4.ip_forward: 1}",
    "[/dev/sda]",
    "[/tmp, /run]",
    "{test: [CMD, /probe]}",
    "{resources: {limits: {memory: 0, pids: -1, cpus: 0.5}}}",
    "{public: true, egress: internet}",
    "{tier: safe}",
    "{waivers: [{rule: no-host-network, reason: x}]}",
    "{waivers: [{rule: memory-limit, reason: x}]}",
    "*a",
    "&b [x]",
    "[",
    "{",
    "'",
];

fn service_line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SERVICE_KEYS),
        prop::sample::select(SERVICE_VALUES),
    )
        .prop_map(|(k, v)| format!("    {k}: {v}"))
}

/// A document: either one service with a few keys (often valid, so the policy runs), or a
/// Compose-looking head followed by free fragments at any indentation.
fn compose_like() -> impl Strategy<Value = String> {
    let service = (prop::bool::ANY, prop::collection::vec(service_line(), 0..6)).prop_map(
        |(anchor, lines)| {
            let mut text = if anchor {
                String::from("x-base: &a {image: a/b:1}\nservices:\n  svc:\n    <<: *a\n")
            } else {
                String::from("services:\n  svc:\n    image: a/b:1\n")
            };
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
            text
        },
    );
    let fragments =
        (prop::bool::ANY, prop::collection::vec(line(), 0..24)).prop_map(|(head, lines)| {
            let mut text = if head {
                String::from("services:\n  svc:\n    image: a/b:1\n")
            } else {
                String::new()
            };
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
            text
        });
    prop_oneof![service, fragments]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Integration tests have no lib.rs for proptest to write regressions beside.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load_and_check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,256}") {
        load_and_check(&text);
    }

    #[test]
    fn compose_like_documents_never_panic_the_loader(text in compose_like()) {
        load_and_check(&text);
    }

    #[test]
    fn the_yaml_parser_never_panics(text in prop_oneof![any::<String>(), compose_like()]) {
        let file: Arc<str> = Arc::from("fuzz.yaml");
        let _ = spec::yaml::parse(&file, &text);
    }
}

/// The grammar does reach the policy: many generated documents load, and some are refused.
/// Without this, the property above could pass by rejecting everything at the first line.
#[test]
fn the_compose_like_grammar_reaches_the_policy() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = compose_like();
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..512 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a generated document")
            .current();
        if let Ok(project) = load_text(&text) {
            loaded += 1;
            if !verdict::check(&project, &Profile::default()).deployable {
                refused += 1;
            }
        }
    }
    assert!(
        loaded >= 32,
        "only {loaded} of 512 generated documents load"
    );
    assert!(
        refused >= 5,
        "only {refused} generated documents are refused"
    );
}

// ---------------------------------------------------------------------------------------------
// Security groups
// ---------------------------------------------------------------------------------------------

fn check(text: &str) -> Verdict {
    let project = spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: text.to_string(),
        }],
        project_dir: "/srv/shop".into(),
        project_name: Some("shop".into()),
        dotenv: None,
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: Default::default(),
    })
    .unwrap_or_else(|e| panic!("the spec should load:\n{e}\n{text}"));
    verdict::check(&project, &Profile::default())
}

fn network<'a>(t: &'a Topology, name: &str) -> &'a NetworkPlan {
    t.networks
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no network {name} in {:#?}", t.networks))
}

fn group_allow(t: &Topology, service: &str) -> (Vec<String>, bool) {
    let g = t
        .groups
        .iter()
        .find(|g| g.service == service)
        .unwrap_or_else(|| panic!("no group for {service}"));
    (g.allow_from.clone(), g.derived)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const CHAIN: &str = "services:
  web:
    image: example/web:1
    depends_on: [api]
  api:
    image: example/api:1
    depends_on: [store]
  store:
    image: example/store:1
";

#[test]
fn a_depends_on_chain_gives_one_ingress_network_per_called_service() {
    let t = check(CHAIN).topology;
    assert_eq!(group_allow(&t, "api"), (strings(&["web"]), true));
    assert_eq!(group_allow(&t, "store"), (strings(&["api"]), true));
    assert_eq!(group_allow(&t, "web"), (Vec::new(), true));

    assert_eq!(t.networks.len(), 2, "{:#?}", t.networks);
    let api_in = network(&t, "shop-api-in");
    assert_eq!(api_in.members, ["api", "web"]);
    assert_eq!(
        (
            api_in.role,
            api_in.owner.as_str(),
            api_in.internal,
            api_in.drop_outbound
        ),
        (NetworkRole::Ingress, "api", true, true)
    );
    let store_in = network(&t, "shop-store-in");
    assert_eq!(store_in.members, ["store", "api"]);
    assert_eq!(
        (store_in.role, store_in.owner.as_str(), store_in.internal),
        (NetworkRole::Ingress, "store", true)
    );
    assert!(t.networks.iter().all(|n| n.internal));

    let attached = |s: &str| t.attachments.get(s).cloned().unwrap_or_default();
    assert_eq!(attached("web"), ["shop-api-in"]);
    assert_eq!(attached("api"), ["shop-api-in", "shop-store-in"]);
    assert_eq!(attached("store"), ["shop-store-in"]);
    // web and store share no network: store cannot be reached from web.
    let web: BTreeSet<String> = attached("web").into_iter().collect();
    assert!(attached("store").iter().all(|n| !web.contains(n)));
}

#[test]
fn allow_from_overrides_depends_on() {
    let spec = "services:
  web:
    image: example/web:1
    depends_on: [api]
  admin:
    image: example/admin:1
  api:
    image: example/api:1
    x-bulkhead: {allow_from: [admin, api]}
  store:
    image: example/store:1
    depends_on: [api]
    x-bulkhead: {allow_from: []}
";
    let t = check(spec).topology;
    // Written, not derived; web depends on api but may not call it; naming oneself is dropped.
    assert_eq!(group_allow(&t, "api"), (strings(&["admin"]), false));
    assert_eq!(network(&t, "shop-api-in").members, ["api", "admin"]);
    assert!(!t.attachments["web"].contains(&"shop-api-in".to_string()));
    // An empty allow_from: nobody, so no ingress network at all.
    assert_eq!(group_allow(&t, "store"), (Vec::new(), false));
    assert!(t.networks.iter().all(|n| n.owner != "store"));
}

#[test]
fn egress_internet_adds_an_outbound_network() {
    let spec = "services:
  fetcher:
    image: example/fetcher:1
    x-bulkhead: {egress: internet}
  site:
    image: example/site:1
    ports: [\"8080:80\"]
    x-bulkhead: {egress: internet}
";
    let t = check(spec).topology;
    let out = network(&t, "shop-fetcher-out");
    assert_eq!(
        (out.role, out.internal, out.drop_outbound),
        (NetworkRole::Egress, false, false)
    );
    assert_eq!(out.members, ["fetcher"]);
    assert_eq!(t.attachments["fetcher"], ["shop-fetcher-out"]);
    let g = t
        .groups
        .iter()
        .find(|g| g.service == "fetcher")
        .expect("group");
    assert_eq!(g.egress, Egress::Internet);
    // Published with egress: the outbound network carries the ports, no -pub network.
    assert_eq!(t.attachments["site"], ["shop-site-out"]);
    assert!(t.networks.iter().all(|n| n.name != "shop-site-pub"));
}

#[test]
fn a_published_service_without_egress_gets_a_publish_network_that_drops_outbound() {
    let spec = "services:
  site:
    image: example/site:1
    ports: [\"8080:80\"]
    depends_on: [api]
  api:
    image: example/api:1
";
    let v = check(spec);
    let t = &v.topology;
    let publish = network(t, "shop-site-pub");
    assert_eq!(
        (publish.role, publish.internal, publish.drop_outbound),
        (NetworkRole::Publish, false, true)
    );
    assert_eq!(publish.members, ["site"]);
    assert_eq!(t.attachments["site"], ["shop-site-pub", "shop-api-in"]);
    assert!(
        t.groups
            .iter()
            .any(|g| g.service == "site" && g.published && g.egress == Egress::None)
    );
    // api is not published: no -pub, no -out.
    assert_eq!(t.attachments["api"], ["shop-api-in"]);
    assert!(
        t.caveats
            .iter()
            .any(|c| c.starts_with("`site` is published")),
        "{:?}",
        t.caveats
    );
}

#[test]
fn services_outside_the_security_groups_join_nothing() {
    let spec = "services:
  batch:
    image: example/batch:1
    network_mode: none
    depends_on: [api]
  api:
    image: example/api:1
  worker:
    image: example/worker:1
    depends_on: [batch]
  vpn:
    image: example/vpn:1
    network_mode: host
    ports: [\"51820:51820/udp\"]
    depends_on: [api]
    x-bulkhead: {waivers: [{rule: no-host-network, reason: \"routes the host\"}]}
";
    let v = check(spec);
    assert!(v.deployable, "{:#?}", v.refusals().collect::<Vec<_>>());
    let t = &v.topology;
    for outside in ["batch", "vpn"] {
        assert!(
            !t.attachments.contains_key(outside),
            "{outside}: {:?}",
            t.attachments
        );
        assert!(
            t.networks
                .iter()
                .all(|n| n.owner != outside && !n.members.iter().any(|m| m == outside)),
            "{outside}: {:#?}",
            t.networks
        );
    }
    // api's callers are off the networks: nobody left to let in, so no ingress network.
    assert_eq!(group_allow(t, "api").0, Vec::<String>::new());
    assert!(t.networks.iter().all(|n| n.owner != "api"));
    // worker depends on batch, which has no network: worker gets nothing from it.
    assert_eq!(t.attachments["worker"], Vec::<String>::new());
    assert!(t.networks.is_empty(), "{:#?}", t.networks);
    let eff = |name: &str| {
        v.services
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.effective.network_mode.clone())
            .expect("service")
    };
    assert_eq!(eff("batch"), NetworkMode::None);
    assert_eq!(eff("vpn"), NetworkMode::Waived("host".into()));
}

#[test]
fn a_refused_host_network_stays_on_the_security_groups() {
    let spec = "services:
  vpn:
    image: example/vpn:1
    network_mode: host
    depends_on: [api]
  api:
    image: example/api:1
";
    let v = check(spec);
    assert!(!v.deployable);
    assert_eq!(network(&v.topology, "shop-api-in").members, ["api", "vpn"]);
    let (s, f) = v.refusals().next().expect("a refusal");
    assert_eq!((s.name.as_str(), f.rule), ("vpn", Rule::NoHostNetwork));
    let hint = verdict::waiver_hint(s, f);
    assert!(
        hint.contains("x-bulkhead: { waivers: [{ rule: no-host-network, reason: \"<why>\" }] }"),
        "{hint}"
    );
}

#[test]
fn tier_safe_refusals_point_away_from_waivers() {
    let spec = "services:
  vault:
    image: example/vault:1
    cap_add: [IPC_LOCK]
    x-bulkhead: {tier: safe}
";
    let v = check(spec);
    let (s, f) = v.refusals().next().expect("a refusal");
    assert_eq!(f.rule, Rule::CapDropAll);
    let hint = verdict::waiver_hint(s, f);
    assert!(
        hint.contains("tier `safe`, which accepts no waivers"),
        "{hint}"
    );
}
