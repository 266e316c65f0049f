//! Every key of the Compose Specification (corpus/compose/compose-spec.json), classified: each
//! service key, `deploy` key and top-level key is either supported — a minimal file using it
//! loads and the normalized spec carries it — or refused with its reason, naming the key. A key
//! the schema gains that nobody classified fails here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use bulkhead_core::spec::{self, LoadInput, Project, SourceFile, SpecErrors};

use super::corpus_root;

/// The other files of /srv/keys that a spec may name (`include`, `extends.file`,
/// `label_file`): absolute path and content.
const DISK: &[(&str, &str)] = &[
    (
        "/srv/keys/lib/compose.yaml",
        "services:\n  cache:\n    image: redis\n    env_file: [cache.env]\n",
    ),
    (
        "/srv/keys/lib/base.yaml",
        "services:\n  base:\n    image: base\n    working_dir: /base\n    env_file: [base.env]\n",
    ),
    ("/srv/keys/app.labels", "team=shop\n"),
];

/// One compose.yaml in /srv/keys, profile `debug` active; the files it names are read from
/// `DISK` as the app reads them, pass by pass.
fn load_text(text: &str) -> Result<Project, SpecErrors> {
    let mut input = LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: text.to_string(),
        }],
        project_dir: "/srv/keys".into(),
        project_name: None,
        dotenv: None,
        env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
        profiles: vec!["debug".to_string()],
        extra: Default::default(),
    };
    loop {
        match spec::load_step(&input) {
            spec::Step::Done(r) => return *r,
            spec::Step::Needs(wanted) => {
                for w in wanted {
                    let file = DISK
                        .iter()
                        .find(|(p, _)| *p == w.path)
                        .map(|(p, t)| SourceFile {
                            name: p.to_string(),
                            text: t.to_string(),
                        });
                    if file.is_none() && w.required {
                        return spec::load(&input);
                    }
                    input.extra.insert(w.path, file);
                }
            }
        }
    }
}

/// The schema's keys under `definitions.<def>.properties` (or the top level's `properties`).
fn schema_keys(def: Option<&str>) -> Vec<String> {
    let path = corpus_root().join("compose/compose-spec.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the Compose schema at {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let node = match def {
        Some(d) => &schema["definitions"][d]["properties"],
        None => &schema["properties"],
    };
    let keys: Vec<String> = node
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert!(!keys.is_empty(), "no keys for {def:?} in the schema");
    keys
}

/// Values Compose or Bulkhead's hardening refuses, each with the words of its error.
#[rustfmt::skip]
const REFUSED_VALUES: &[(&str, &str)] = &[
    ("services:\n  '123':\n    image: a\n", "a name of digits only"),
    ("services:\n  web:\n    image: a\n    environment:\n      - DEBUG = true\n", "has a space before `=`"),
    ("services:\n  web:\n    image: a\n    network_mode: none\n    networks: [n]\nnetworks: {n: }\n", "`networks` and `network_mode: none` cannot go together"),
    ("services:\n  web: {image: a}\nnetworks:\n  'bad name': {}\n", "the name `bad name` is not valid"),
    ("services:\n  web:\n    image: a\n    ulimits: {NOFILE: 1}\n", "lowercase letters"),
    ("services:\n  web:\n    image: a\n    oom_score_adj: -500\n", "oom_score_adj -500 is refused"),
    ("services:\n  web:\n    image: a\n    group_add: [docker]\n", "group_add: `docker` is refused"),
    ("services:\n  web:\n    image: a\n    pull_policy: always\n", "Bulkhead never pulls at deploy"),
    ("services:\n  web:\n    image: a\n    dns: [resolver.example]\n", "is not an IP address"),
    ("services:\n  web:\n    image: a\n    dns_opt: [frobnicate]\n", "is not a resolver option"),
    ("services:\n  web:\n    image: a\n    extra_hosts: ['db:not-an-ip']\n", "is not an IP address or host-gateway"),
    ("services:\n  web:\n    image: a\n    logging: {driver: local, options: {syslog-address: x}}\n", "is not an option of the local log drivers"),
    ("services:\n  web:\n    image: a\n    cpuset: 3-1\n", "is not a list of CPU numbers"),
    ("services:\n  web:\n    image: a\n    deploy: {mode: global}\n", "deploy.mode `global` is refused"),
    ("services:\n  web:\n    image: a\n    deploy: {restart_policy: {delay: 5s}}\n", "key `delay` is refused"),
    ("services:\n  web:\n    image: a\n    volumes: [/data]\n    deploy: {update_config: {order: start-first}}\n", "order `start-first` is refused: the service writes its own volume at /data"),
    ("services:\n  web:\n    image: a\n    deploy: {update_config: {failure_action: retry}}\n", "failure_action `retry` is unknown"),
    ("services:\n  web:\n    image: a\n    post_start: [{command: id, privileged: true}]\n", "privileged: true is refused"),
    ("services:\n  web:\n    image: a\n    imgae: b\n", "did you mean `image`?"),
    ("services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n", "extends: a cycle"),
    ("services:\n  a:\n    image: x\n    extends: {file: other.yaml, service: b}\n", "extends.file: `other.yaml` was not read"),
    ("services:\n  a:\n    image: x\n    extends: {file: lib/base.yaml, service: b}\n", "which is not a service of `lib/base.yaml`"),
    ("include: [lib/compose.yaml]\nservices:\n  cache:\n    image: x\n", "services.cache is defined both here"),
    ("services:\n  a:\n    image: x\n    extends: nothere\n", "which is not a service of the project"),
];

#[test]
fn values_compose_refuses_are_refused_with_their_reason() {
    for (text, words) in REFUSED_VALUES {
        match load_text(text) {
            Ok(_) => panic!("loads: {text}"),
            Err(e) => assert!(e.to_string().contains(words), "{text}: {e}"),
        }
    }
}

#[test]
fn the_deprecated_external_name_form_is_read() {
    let p = load_text(
        "services:\n  web:\n    image: a\n    networks: [n]\n    volumes: [v:/v]\n    secrets: [s]\n\
         networks: {n: {external: {name: corp-net}}}\nvolumes: {v: {external: {name: corp-vol}}}\n\
         secrets: {s: {external: {name: corp-secret}}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.networks["n"].external);
    assert_eq!(p.networks["n"].name.as_deref(), Some("corp-net"));
    assert_eq!(p.volumes["v"].name.as_deref(), Some("corp-vol"));
    assert_eq!(
        format!("{:?}", p.secrets["s"]),
        r#"External(Some("corp-secret"))"#
    );
}

/// Supported service keys: a body for service `web` (beside `image: app` unless it has its
/// own), and (JSON pointer into the normalized service, the value it must carry).
#[rustfmt::skip]
fn supported_service_keys() -> BTreeMap<&'static str, (&'static str, &'static str, Value)> {
    BTreeMap::from([
        (
            "image",
            ("image: nginx:1", "/image/value", json!("nginx:1")),
        ),
        ("build", ("build: ./app", "/build/context", json!("./app"))),
        (
            "command",
            ("command: run now", "/command", json!(["run", "now"])),
        ),
        (
            "entrypoint",
            ("entrypoint: [/bin/app]", "/entrypoint", json!(["/bin/app"])),
        ),
        (
            "environment",
            ("environment: [A=1]", "/environment/A", json!("1")),
        ),
        (
            "env_file",
            ("env_file: a.env", "/env_file/0/path", json!("a.env")),
        ),
        (
            "ports",
            (
                "ports: ['8080:80']",
                "/ports/0/value/published",
                json!([8080, 8080]),
            ),
        ),
        ("expose", ("expose: ['80']", "/expose/0/start", json!(80))),
        (
            "healthcheck",
            (
                "healthcheck: {test: [CMD, 'true']}",
                "/healthcheck/test/cmd",
                json!(["true"]),
            ),
        ),
        (
            "depends_on",
            (
                "depends_on: [db]",
                "/depends_on/db/value/condition",
                json!("service_started"),
            ),
        ),
        ("deploy", ("deploy: {replicas: 2}", "/replicas", json!(2))),
        (
            "mem_limit",
            ("mem_limit: 64m", "/limits/memory", json!(64 << 20)),
        ),
        (
            "mem_reservation",
            (
                "mem_reservation: 32m",
                "/reservations/memory",
                json!(32 << 20),
            ),
        ),
        ("cpus", ("cpus: 0.5", "/limits/cpus", json!(0.5))),
        (
            "cpu_shares",
            ("cpu_shares: 512", "/cpu_shares/value", json!(512)),
        ),
        ("cpuset", ("cpuset: 0-1", "/cpuset", json!("0-1"))),
        ("pids_limit", ("pids_limit: 50", "/limits/pids", json!(50))),
        ("shm_size", ("shm_size: 64m", "/shm_size", json!(64 << 20))),
        (
            "oom_score_adj",
            ("oom_score_adj: 500", "/oom_score_adj", json!(500)),
        ),
        (
            "user",
            ("user: '1000:1000'", "/user/value", json!("1000:1000")),
        ),
        (
            "group_add",
            ("group_add: ['44']", "/group_add/0/value", json!(44)),
        ),
        (
            "working_dir",
            ("working_dir: /srv", "/working_dir", json!("/srv")),
        ),
        ("read_only", ("read_only: true", "/read_only", json!(true))),
        ("tmpfs", ("tmpfs: /run", "/tmpfs/0/value", json!("/run"))),
        (
            "cap_add",
            (
                "cap_add: [NET_ADMIN]",
                "/cap_add/0/value",
                json!("NET_ADMIN"),
            ),
        ),
        (
            "cap_drop",
            ("cap_drop: [ALL]", "/cap_drop/0/value", json!("ALL")),
        ),
        (
            "privileged",
            ("privileged: true", "/privileged/value", json!(true)),
        ),
        (
            "security_opt",
            (
                "security_opt: ['no-new-privileges:true']",
                "/security_opt/0/value",
                json!("no-new-privileges:true"),
            ),
        ),
        (
            "network_mode",
            ("network_mode: none", "/network_mode/value", json!("none")),
        ),
        (
            "networks",
            ("networks: [front]", "/networks/front/aliases", json!([])),
        ),
        (
            "extra_hosts",
            (
                "extra_hosts: ['db.local:10.0.0.9']",
                "/extra_hosts/0",
                json!(["db.local", "10.0.0.9"]),
            ),
        ),
        ("dns", ("dns: 10.0.0.53", "/dns", json!(["10.0.0.53"]))),
        (
            "dns_search",
            (
                "dns_search: [corp.example]",
                "/dns_search",
                json!(["corp.example"]),
            ),
        ),
        (
            "dns_opt",
            ("dns_opt: ['ndots:2']", "/dns_opt", json!(["ndots:2"])),
        ),
        (
            "domainname",
            (
                "domainname: corp.example",
                "/domainname",
                json!("corp.example"),
            ),
        ),
        (
            "volumes",
            (
                "volumes: ['data:/data']",
                "/volumes/0/value/source",
                json!("data"),
            ),
        ),
        (
            "restart",
            ("restart: always", "/restart/value/policy", json!("always")),
        ),
        ("labels", ("labels: {a: b}", "/labels/a", json!("b"))),
        (
            "secrets",
            (
                "secrets: [pw]",
                "/secrets/0/value/target",
                json!("/run/secrets/pw"),
            ),
        ),
        (
            "configs",
            ("configs: [cfg]", "/configs/0/value/target", json!("/cfg")),
        ),
        (
            "stop_signal",
            ("stop_signal: SIGINT", "/stop_signal", json!("SIGINT")),
        ),
        (
            "stop_grace_period",
            ("stop_grace_period: 5s", "/stop_grace_period", json!("5s")),
        ),
        (
            "container_name",
            (
                "container_name: web-1",
                "/container_name/value",
                json!("web-1"),
            ),
        ),
        ("hostname", ("hostname: box", "/hostname", json!("box"))),
        ("init", ("init: false", "/init", json!(false))),
        (
            "ulimits",
            (
                "ulimits: {nofile: 1024}",
                "/ulimits/nofile/soft",
                json!(1024),
            ),
        ),
        (
            "sysctls",
            (
                "sysctls: {net.core.somaxconn: '1024'}",
                "/sysctls/net.core.somaxconn",
                json!("1024"),
            ),
        ),
        (
            "devices",
            (
                "devices: ['/dev/fuse']",
                "/devices/0/value",
                json!("/dev/fuse"),
            ),
        ),
        (
            "platform",
            ("platform: linux/amd64", "/platform", json!("linux/amd64")),
        ),
        (
            "profiles",
            ("profiles: [debug]", "/profiles", json!(["debug"])),
        ),
        ("pid", ("pid: host", "/pid/value", json!("host"))),
        ("ipc", ("ipc: private", "/ipc/value", json!("private"))),
        ("uts", ("uts: host", "/uts/value", json!("host"))),
        (
            "userns_mode",
            ("userns_mode: host", "/userns_mode/value", json!("host")),
        ),
        (
            "runtime",
            ("runtime: runsc", "/runtime/value", json!("runsc")),
        ),
        (
            "stdin_open",
            ("stdin_open: true", "/stdin_open", json!(true)),
        ),
        ("tty", ("tty: true", "/tty", json!(true))),
        ("scale", ("scale: 3", "/replicas", json!(3))),
        (
            "logging",
            (
                "logging: {driver: local, options: {max-size: 10m}}",
                "/logging/value/options/max-size",
                json!("10m"),
            ),
        ),
        (
            "pull_policy",
            ("pull_policy: never", "/pull_policy", json!("never")),
        ),
        ("attach", ("attach: false", "/attach", json!(false))),
        (
            "extends",
            ("extends: {service: db}", "/hostname", json!("dbhost")),
        ),
        (
            "label_file",
            ("label_file: ./app.labels", "/labels/team", json!("shop")),
        ),
        (
            "post_start",
            (
                "post_start: [{command: touch /tmp/up, environment: {K: secret-v}}]",
                "/post_start/0",
                json!({"command": ["touch", "/tmp/up"], "environment": {"K": "(hidden)"}}),
            ),
        ),
        (
            "pre_stop",
            (
                "pre_stop: [{command: [/bin/drain], user: app}]",
                "/pre_stop/0",
                json!({"command": ["/bin/drain"], "user": "app"}),
            ),
        ),
    ])
}

/// Supported `deploy` keys, as above (the body is the value of `deploy:`).
#[rustfmt::skip]
fn supported_deploy_keys() -> BTreeMap<&'static str, (&'static str, &'static str, Value)> {
    BTreeMap::from([
        ("replicas", ("{replicas: 3}", "/replicas", json!(3))),
        ("resources", ("{resources: {limits: {memory: 64m}}}", "/limits/memory", json!(64 << 20))),
        ("labels", ("{labels: {team: core}}", "/deploy_labels/team", json!("core"))),
        ("restart_policy", ("{restart_policy: {condition: on-failure, max_attempts: 3}}", "/restart/value", json!({"policy": "on-failure", "max_retries": 3}))),
        ("mode", ("{mode: replicated}", "/replicas", json!(1))),
        ("endpoint_mode", ("{endpoint_mode: dnsrr}", "/replicas", json!(1))),
        ("update_config", ("{update_config: {parallelism: 2, order: stop-first}}", "/update_config/value", json!({"parallelism": 2, "failure_action": "rollback", "order": "stop-first"}))),
        ("rollback_config", ("{rollback_config: {parallelism: 0, failure_action: pause, delay: 2s}}", "/rollback_config/value", json!({"parallelism": 0, "delay_ms": 2000, "failure_action": "pause"}))),
    ])
}

/// A file with service `web` made of `body`, service `db`, and what the bodies refer to.
fn file(body: &str) -> String {
    let image = if body.starts_with("image:") || body.starts_with("build:") {
        String::new()
    } else {
        "    image: app\n".to_string()
    };
    format!(
        "services:\n  web:\n{image}    {body}\n  db:\n    image: db\n    hostname: dbhost\n\
         networks: {{front: }}\nvolumes: {{data: }}\n\
         secrets: {{pw: {{file: ./pw.txt}}}}\nconfigs: {{cfg: {{content: hi}}}}\n"
    )
}

/// The normalized service `web` of `text` as JSON, or the loader's errors as text.
fn web_json(text: &str) -> Result<Value, String> {
    let mut p = load_text(text).map_err(|e| e.to_string())?;
    let web = p.services.remove("web").ok_or("service web is inactive")?;
    Ok(serde_json::to_value(&web).expect("a service serializes"))
}

/// The error of a refused key: names the key, says it is refused, gives a reason that is not a
/// generic "unsupported" and no list of every key.
fn assert_refused(key: &str, text: &str) {
    let err = match load_text(text) {
        Ok(_) => panic!("`{key}` neither supported (no test row) nor refused: it loads"),
        Err(e) => e.to_string(),
    };
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!("`{key}` is refused")),
        "`{key}` is not classified (a key the schema gained?): {err}"
    );
    let hint = err
        .lines()
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("hint: "))
        .unwrap_or_default();
    assert!(
        hint.len() > 30 && !hint.contains("not supported") && !hint.contains("supported keys"),
        "`{key}`: the reason is missing or generic: {err}"
    );
}

#[test]
fn every_service_key_of_the_compose_schema_is_supported_or_refused_with_its_reason() {
    let supported = supported_service_keys();
    let keys = schema_keys(Some("service"));
    assert!(keys.len() >= 92, "{}", keys.len());
    for key in &keys {
        match supported.get(key.as_str()) {
            Some((body, pointer, want)) => {
                let web = web_json(&file(body)).unwrap_or_else(|e| panic!("`{key}`: {e}"));
                let got = web.pointer(pointer).cloned().unwrap_or(Value::Null);
                assert_eq!(&got, want, "`{key}` ({body}) at {pointer}: {web}");
            }
            None => assert_refused(key, &file(&format!("{key}: x"))),
        }
    }
    for key in supported.keys() {
        assert!(
            keys.iter().any(|k| k == key),
            "`{key}` is not in the schema"
        );
    }
    for key in bulkhead_core::spec::service::SERVICE_KEYS {
        assert!(
            supported.contains_key(key),
            "supported `{key}` has no row here"
        );
    }
}

#[test]
fn every_deploy_key_of_the_compose_schema_is_supported_or_refused_with_its_reason() {
    let supported = supported_deploy_keys();
    for key in schema_keys(Some("deployment")) {
        match supported.get(key.as_str()) {
            Some((body, pointer, want)) => {
                let web = web_json(&file(&format!("deploy: {body}")))
                    .unwrap_or_else(|e| panic!("deploy.{key}: {e}"));
                let got = web.pointer(pointer).cloned().unwrap_or(Value::Null);
                assert_eq!(&got, want, "deploy.{key} ({body}) at {pointer}: {web}");
            }
            None => assert_refused(&key, &file(&format!("deploy: {{{key}: {{}}}}"))),
        }
    }
}

/// Reads what a top-level key put into the project.
type ReadProject = fn(&Project) -> String;

#[test]
fn every_top_level_key_of_the_compose_schema_is_supported_or_refused_with_its_reason() {
    let base = "services:\n  web:\n    image: app\n";
    #[rustfmt::skip]
    let supported: BTreeMap<&str, (&str, ReadProject, &str)> = BTreeMap::from([
        ("name", ("name: shop\n", (|p: &Project| p.name.clone()) as ReadProject, "shop")),
        ("version", ("version: '3.8'\n", |p| p.notes.len().to_string(), "1")),
        ("services", ("", |p| p.services.len().to_string(), "1")),
        ("networks", ("networks: {front: }\n", |p| p.networks.keys().cloned().collect(), "front")),
        ("volumes", ("volumes: {data: }\n", |p| p.volumes.keys().cloned().collect(), "data")),
        ("secrets", ("secrets: {pw: {file: ./pw}}\n", |p| p.secrets.keys().cloned().collect(), "pw")),
        ("configs", ("configs: {cfg: {content: x}}\n", |p| p.configs.keys().cloned().collect(), "cfg")),
        ("include", ("include: [lib/compose.yaml]\n", |p| p.services.keys().cloned().collect::<Vec<_>>().join(","), "cache,web")),
    ]);
    for key in schema_keys(None) {
        match supported.get(key.as_str()) {
            Some((extra, read, want)) => {
                let p =
                    load_text(&format!("{base}{extra}")).unwrap_or_else(|e| panic!("`{key}`: {e}"));
                assert_eq!(read(&p), *want, "`{key}`");
            }
            None => assert_refused(&key, &format!("{base}{key}: x\n")),
        }
    }
}
