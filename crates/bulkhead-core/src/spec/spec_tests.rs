//! Data-driven tests of the whole spec pipeline through `load`: every service key in each of its
//! syntaxes, the top-level sections, anchors and merge keys, interpolation, merging of several
//! files, profiles and the project name. Error texts and places are in `spec_tests_errors`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use super::extension::{Egress, Severity, Tier, Trust};
use super::model::*;
use super::service::SERVICE_KEYS;
use super::{LoadInput, Project, SourceFile, SpecErrors, load};

/// Everything a test can vary in a [`LoadInput`]; the defaults are one file in [`DIR`].
pub(super) struct Setup<'a> {
    pub files: &'a [(&'a str, &'a str)],
    pub env: &'a [(&'a str, &'a str)],
    pub dotenv: Option<&'a str>,
    pub profiles: &'a [&'a str],
    pub project_name: Option<&'a str>,
    pub dir: &'a str,
}

pub(super) const DIR: &str = "/srv/Shop App";

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            files: &[],
            env: &[("HOME", "/home/dev")],
            dotenv: None,
            profiles: &[],
            project_name: None,
            dir: DIR,
        }
    }
}

pub(super) fn run(s: &Setup<'_>) -> Result<Project, SpecErrors> {
    let file = |(name, text): &(&str, &str)| SourceFile {
        name: name.to_string(),
        text: text.to_string(),
    };
    load(&LoadInput {
        files: s.files.iter().map(file).collect(),
        project_dir: s.dir.to_string(),
        project_name: s.project_name.map(str::to_string),
        dotenv: s.dotenv.map(|t| file(&(".env", t))),
        env: s
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        profiles: s.profiles.iter().map(|p| p.to_string()).collect(),
        extra: Default::default(),
    })
}

/// One `compose.yaml`.
pub(super) fn load_one(text: &str) -> Result<Project, SpecErrors> {
    run(&Setup {
        files: &[("compose.yaml", text)],
        ..Setup::default()
    })
}

/// Top-level declarations every service body below may refer to.
const DECLS: &str = "networks: {front: , back: }\nvolumes: {data: }\n\
    secrets: {pw: {file: ./pw.txt}}\nconfigs: {cfg: {content: hi}}\n";

fn indent(body: &str, by: &str) -> String {
    body.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// A file with service `web` made of `body` (given `image: app` unless the body has an image or
/// a build), services `db` and `cache`, and [`DECLS`].
pub(super) fn web_file(body: &str) -> String {
    let image = if body.contains("image:") || body.contains("build:") {
        ""
    } else {
        "    image: app\n"
    };
    format!(
        "services:\n  web:\n{image}{}  db:\n    image: db\n  cache:\n    image: cache\n{DECLS}",
        indent(body, "    ")
    )
}

fn web(body: &str) -> Service {
    load_one(&web_file(body))
        .unwrap_or_else(|e| panic!("{body:?} should load:\n{e}"))
        .services
        .remove("web")
        .expect("service web is loaded")
}

/// Load each body as service `web` and compare what `get` reads from it.
fn table<T: PartialEq + Debug>(cases: &[(&str, T)], get: impl Fn(&Service) -> T) {
    for (body, want) in cases {
        assert_eq!(&get(&web(body)), want, "{body}");
    }
}

fn at<T: Clone>(a: &Option<At<T>>) -> Option<T> {
    a.as_ref().map(|a| a.value.clone())
}

fn ats<T: Clone>(v: &[At<T>]) -> Vec<T> {
    v.iter().map(|a| a.value.clone()).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn opt_map(v: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}

// The case tables below are kept one row per line: `#[rustfmt::skip]` stops rustfmt from
// spreading each row over a dozen lines.

#[rustfmt::skip]
fn build_cases() -> Vec<(&'static str, Build)> {
    let b = |context: &str, dockerfile: Option<&str>, args: &[(&str, Option<&str>)], target: Option<&str>| Build {
        context: context.into(), dockerfile: dockerfile.map(Into::into), args: opt_map(args), target: target.map(Into::into),
    };
    vec![
        ("build: ./app", b("./app", None, &[], None)),
        ("build:\n  context: ./api\n  dockerfile: Dockerfile.prod\n  args:\n    A: 1\n    B:\n  target: runtime",
            b("./api", Some("Dockerfile.prod"), &[("A", Some("1")), ("B", None)], Some("runtime"))),
        ("build: {args: [X=1, Y, Z=a=b]}", b(".", None, &[("X", Some("1")), ("Y", None), ("Z", Some("a=b"))], None)),
    ]
}

#[test]
fn build_both_syntaxes() {
    table(&build_cases(), |s| s.build.clone().expect("build"));
}

type Argv = Option<Vec<String>>;

#[rustfmt::skip]
fn argv_cases() -> Vec<(&'static str, (Argv, Argv))> {
    let v = |w: &[&str]| Some(strs(w));
    vec![
        (r#"command: echo "hello world" 'a b' c\ d"#, (v(&["echo", "hello world", "a b", "c d"]), None)),
        (r#"command: ["sh", "-c", "echo $$HOME"]"#, (v(&["sh", "-c", "echo $HOME"]), None)),
        ("entrypoint: /entry.sh --flag=1", (None, v(&["/entry.sh", "--flag=1"]))),
        ("entrypoint: [/sbin/tini, --]\ncommand: [run]", (v(&["run"]), v(&["/sbin/tini", "--"]))),
        ("command:", (None, None)),
    ]
}

#[test]
fn command_and_entrypoint_string_or_list() {
    table(&argv_cases(), |s| (s.command.clone(), s.entrypoint.clone()));
}

#[rustfmt::skip]
fn environment_cases() -> Vec<(&'static str, BTreeMap<String, Option<String>>)> {
    let want = opt_map(&[("A", Some("1")), ("B", None), ("C", Some("")), ("D", Some("x=y"))]);
    vec![
        ("environment:\n  A: 1\n  B:\n  C: ''\n  D: x=y", want.clone()),
        ("environment: [A=1, B, C=, D=x=y]", want),
        ("environment: {ON: true, N: 0.50}", opt_map(&[("N", Some("0.50")), ("ON", Some("true"))])),
    ]
}

#[test]
fn environment_map_or_list() {
    table(&environment_cases(), |s| s.environment.clone());
}

#[rustfmt::skip]
fn env_file_cases() -> Vec<(&'static str, Vec<EnvFile>)> {
    let f = |path: &str, required| EnvFile { path: path.into(), required };
    vec![
        ("env_file: .env.web", vec![f(".env.web", true)]),
        ("env_file: [a.env, b.env]", vec![f("a.env", true), f("b.env", true)]),
        ("env_file:\n  - path: ./opt.env\n    required: false\n  - ./req.env", vec![f("./opt.env", false), f("./req.env", true)]),
        ("env_file: {path: x.env, required: false}", vec![f("x.env", false)]),
    ]
}

#[test]
fn env_file_string_list_or_mapping() {
    table(&env_file_cases(), |s| s.env_file.clone());
}

#[rustfmt::skip]
fn port_cases() -> Vec<(&'static str, Vec<PortMapping>)> {
    use Protocol::*;
    let pm = |t: (u16, u16), published, ip: Option<&str>, protocol| PortMapping {
        target: PortRange { start: t.0, end: t.1, protocol }, published, host_ip: ip.map(Into::into),
    };
    vec![
        (r#"ports: ["3000", "8080:80", "9090-9091:8080-8081", 5000-5001]"#, vec![
            pm((3000, 3000), None, None, Tcp),
            pm((80, 80), Some((8080, 8080)), None, Tcp),
            pm((8080, 8081), Some((9090, 9091)), None, Tcp),
            pm((5000, 5001), None, None, Tcp),
        ]),
        (r#"ports: ["127.0.0.1:8001:8001", "[::1]:6001:6001", "6060:6060/udp", "127.0.0.1::5000"]"#, vec![
            pm((8001, 8001), Some((8001, 8001)), Some("127.0.0.1"), Tcp),
            pm((6001, 6001), Some((6001, 6001)), Some("::1"), Tcp),
            pm((6060, 6060), Some((6060, 6060)), None, Udp),
            pm((5000, 5000), None, Some("127.0.0.1"), Tcp),
        ]),
        ("ports:\n  - target: 80\n    published: 8080\n    host_ip: 0.0.0.0\n    protocol: udp\n    mode: host\n  - target: 443\n  - {target: 53, published: \"5300-5301\"}", vec![
            pm((80, 80), Some((8080, 8080)), Some("0.0.0.0"), Udp),
            pm((443, 443), None, None, Tcp),
            pm((53, 53), Some((5300, 5301)), None, Tcp),
        ]),
    ]
}

#[test]
fn ports_short_and_long() {
    table(&port_cases(), |s| ats(&s.ports));
}

#[rustfmt::skip]
fn expose_cases() -> Vec<(&'static str, Vec<PortRange>)> {
    let r = |start, end, protocol| PortRange { start, end, protocol };
    vec![(r#"expose: ["3000", 8080, "9000-9005", "53/udp"]"#,
        vec![r(3000, 3000, Protocol::Tcp), r(8080, 8080, Protocol::Tcp), r(9000, 9005, Protocol::Tcp), r(53, 53, Protocol::Udp)])]
}

#[test]
fn expose_single_ranges_and_protocols() {
    table(&expose_cases(), |s| s.expose.clone());
}

#[rustfmt::skip]
fn health_cases() -> Vec<(&'static str, Healthcheck)> {
    let secs = |n| Some(Duration::from_secs(n));
    let h = |test, interval, retries| Healthcheck { test, interval, timeout: None, retries, start_period: None, start_interval: None };
    let full = Healthcheck {
        test: Some(HealthTest::Shell("curl -f http://localhost || exit 1".into())),
        interval: secs(90), timeout: Some(Duration::from_millis(1500)), retries: Some(3), start_period: secs(40), start_interval: secs(5),
    };
    vec![
        ("healthcheck:\n  test: curl -f http://localhost || exit 1\n  interval: 1m30s\n  timeout: 1500ms\n  retries: 3\n  start_period: 40s\n  start_interval: 5", full),
        ("healthcheck: {test: [CMD, curl, -f, 'http://x']}", h(Some(HealthTest::Cmd(strs(&["curl", "-f", "http://x"]))), None, None)),
        ("healthcheck: {test: [CMD-SHELL, 'pg_isready || exit 1']}", h(Some(HealthTest::Shell("pg_isready || exit 1".into())), None, None)),
        ("healthcheck: {test: [NONE]}", h(Some(HealthTest::Disabled), None, None)),
        ("healthcheck: {disable: true, retries: 2}", h(Some(HealthTest::Disabled), None, Some(2))),
        ("healthcheck: {interval: 1h2m, x-why: slow start}", h(None, secs(3720), None)),
    ]
}

#[test]
fn healthcheck_test_forms_and_timings() {
    table(&health_cases(), |s| {
        s.healthcheck.clone().expect("healthcheck")
    });
}

type Dep = (String, Condition, bool, bool);

#[rustfmt::skip]
fn depends_cases() -> Vec<(&'static str, Vec<Dep>)> {
    use Condition::*;
    let d = |name: &str, c, restart, required| (name.to_string(), c, restart, required);
    vec![
        ("depends_on: [db, cache]", vec![d("cache", ServiceStarted, false, true), d("db", ServiceStarted, false, true)]),
        ("depends_on:\n  db:\n    condition: service_healthy\n    restart: true\n  cache:\n    condition: service_completed_successfully\n    required: false",
            vec![d("cache", ServiceCompletedSuccessfully, false, false), d("db", ServiceHealthy, true, true)]),
        ("depends_on: {db: {condition: service_started}, cache: }", vec![d("cache", ServiceStarted, false, true), d("db", ServiceStarted, false, true)]),
        ("depends_on: {ghost: {condition: service_started, required: false}}", vec![d("ghost", ServiceStarted, false, false)]),
    ]
}

#[test]
fn depends_on_list_or_map_with_conditions() {
    table(&depends_cases(), |s| {
        let dep = |(k, d): (&String, &At<Dependency>)| {
            (
                k.clone(),
                d.value.condition,
                d.value.restart,
                d.value.required,
            )
        };
        s.depends_on.iter().map(dep).collect()
    });
}

type Res = (u32, Resources, Resources);

#[rustfmt::skip]
fn resource_cases() -> Vec<(&'static str, Res)> {
    let r = |cpus, memory, pids| Resources { cpus, memory, pids };
    let none = Resources::default;
    vec![
        ("deploy:\n  replicas: 3\n  resources:\n    limits: {cpus: '0.5', memory: 512m, pids: 100}\n    reservations: {cpus: 0.25, memory: 1.5G}",
            (3, r(Some(0.5), Some(512 << 20), Some(100)), r(Some(0.25), Some(3 << 29), None))),
        ("mem_limit: 1.5G\ncpus: 2\npids_limit: -1", (1, r(Some(2.0), Some(1_610_612_736), Some(-1)), none())),
        ("mem_limit: 512m", (1, r(None, Some(536_870_912), None), none())),
        ("mem_limit: 2048", (1, r(None, Some(2048), None), none())),
        ("scale: 4", (4, none(), none())),
        ("deploy: {replicas: 0}", (0, none(), none())),
    ]
}

#[test]
fn deploy_resources_and_legacy_limits() {
    table(&resource_cases(), |s| {
        (s.replicas, s.limits.clone(), s.reservations.clone())
    });
}

#[rustfmt::skip]
fn volume_cases() -> Vec<(&'static str, Vec<Mount>)> {
    use MountKind::*;
    let m = |kind, source: &str, host: Option<&str>, target: &str, read_only, tmpfs_size| Mount {
        kind, source: source.into(), host_path: host.map(Into::into), target: target.into(), read_only, tmpfs_size,
        tmpfs_mode: None,
    };
    vec![
        ("volumes:\n  - data:/var/lib/data\n  - ./conf/../conf:/etc/app:ro\n  - /var/log/app:/logs\n  - ~/cache:/cache:rw\n  - /anon", vec![
            m(Volume, "data", None, "/var/lib/data", false, None),
            m(Bind, "./conf/../conf", Some("/srv/Shop App/conf"), "/etc/app", true, None),
            m(Bind, "/var/log/app", Some("/var/log/app"), "/logs", false, None),
            m(Bind, "~/cache", Some("/home/dev/cache"), "/cache", false, None),
            m(Volume, "", None, "/anon", false, None),
        ]),
        ("volumes:\n  - type: volume\n    source: data\n    target: /data\n    read_only: true\n    volume: {nocopy: true}\n  - type: bind\n    source: ./src\n    target: /src\n  - type: tmpfs\n    target: /scratch\n    tmpfs:\n      size: 64m", vec![
            m(Volume, "data", None, "/data", true, None),
            m(Bind, "./src", Some("/srv/Shop App/src"), "/src", false, None),
            m(Tmpfs, "", None, "/scratch", false, Some(64 << 20)),
        ]),
        ("volumes:\n  - type: tmpfs\n    target: /a\n    read_only: true\n    tmpfs: {size: 1k, mode: 0o1777}\n  - type: tmpfs\n    target: /b\n    tmpfs: {mode: \"0700\"}", vec![
            Mount { tmpfs_mode: Some(0o1777), ..m(Tmpfs, "", None, "/a", true, Some(1024)) },
            Mount { tmpfs_mode: Some(0o700), ..m(Tmpfs, "", None, "/b", false, None) },
        ]),
    ]
}

#[test]
fn volumes_short_and_long() {
    table(&volume_cases(), |s| ats(&s.volumes));
}

#[rustfmt::skip]
fn restart_cases() -> Vec<(&'static str, Restart)> {
    vec![
        ("restart: no", Restart::No),
        ("restart: 'no'", Restart::No),
        ("restart: always", Restart::Always),
        ("restart: on-failure", Restart::OnFailure(None)),
        ("restart: on-failure:3", Restart::OnFailure(Some(3))),
        ("restart: unless-stopped", Restart::UnlessStopped),
    ]
}

#[test]
fn restart_policies() {
    table(&restart_cases(), |s| at(&s.restart).expect("restart"));
}

type Refs = (Vec<FileRef>, Vec<FileRef>);

#[rustfmt::skip]
fn file_ref_cases() -> Vec<(&'static str, Refs)> {
    let f = |source: &str, target: &str, uid: Option<&str>, gid: Option<&str>, mode| FileRef {
        source: source.into(), target: target.into(), uid: uid.map(Into::into), gid: gid.map(Into::into), mode,
    };
    let pw = |target: &str, mode| f("pw", target, None, None, mode);
    vec![
        ("secrets: [pw]\nconfigs: [cfg]", (vec![pw("/run/secrets/pw", None)], vec![f("cfg", "/cfg", None, None, None)])),
        ("secrets:\n  - source: pw\n    target: db_password\n    uid: '103'\n    gid: 104\n    mode: 0440",
            (vec![f("pw", "/run/secrets/db_password", Some("103"), Some("104"), Some(0o440))], vec![])),
        ("secrets: [{source: pw, mode: \"440\"}]", (vec![pw("/run/secrets/pw", Some(288))], vec![])),
        ("secrets: [{source: pw, mode: 288}]", (vec![pw("/run/secrets/pw", Some(288))], vec![])),
        ("secrets: [{source: pw, target: /etc/pw, mode: 0o400}]", (vec![pw("/etc/pw", Some(0o400))], vec![])),
        ("configs: [{source: cfg, target: /etc/app.conf, mode: 0644}]", (vec![], vec![f("cfg", "/etc/app.conf", None, None, Some(0o644))])),
    ]
}

#[test]
fn secrets_and_configs_short_and_long() {
    table(&file_ref_cases(), |s| (ats(&s.secrets), ats(&s.configs)));
}

#[rustfmt::skip]
fn network_cases() -> Vec<(&'static str, BTreeMap<String, ServiceNetwork>)> {
    let n = |name: &str, aliases: &[&str], ip: Option<&str>| {
        (name.to_string(), ServiceNetwork { aliases: strs(aliases), ipv4_address: ip.map(Into::into), ipv6_address: None })
    };
    vec![
        ("networks: [front, back]", BTreeMap::from([n("back", &[], None), n("front", &[], None)])),
        ("networks:\n  front:\n    aliases: [api, www]\n    ipv4_address: 172.16.238.10\n  back:\n  default:",
            BTreeMap::from([n("back", &[], None), n("default", &[], None), n("front", &["api", "www"], Some("172.16.238.10"))])),
    ]
}

#[test]
fn networks_list_or_map() {
    table(&network_cases(), |s| s.networks.clone());
}

#[rustfmt::skip]
fn ulimit_cases() -> Vec<(&'static str, BTreeMap<String, Ulimit>)> {
    let u = |name: &str, soft, hard| (name.to_string(), Ulimit { soft, hard });
    vec![("ulimits:\n  nproc: 65535\n  nofile:\n    soft: 20000\n    hard: 40000",
        BTreeMap::from([u("nofile", 20000, 40000), u("nproc", 65535, 65535)]))]
}

#[test]
fn ulimits_number_or_soft_hard() {
    table(&ulimit_cases(), |s| s.ulimits.clone());
}

type Render = fn(&Service) -> String;

/// Keys with a simple value: the body, how to read the field, and its expected `Debug` text.
#[rustfmt::skip]
fn simple_cases() -> Vec<(&'static str, Render, &'static str)> {
    vec![
        ("user: '1000:1000'", |s| format!("{:?}", at(&s.user)), r#"Some("1000:1000")"#),
        ("user: 1000", |s| format!("{:?}", at(&s.user)), r#"Some("1000")"#),
        ("working_dir: /app", |s| format!("{:?}", s.working_dir), r#"Some("/app")"#),
        ("read_only: true", |s| format!("{:?}", s.read_only), "Some(true)"),
        ("tmpfs: /run", |s| format!("{:?}", ats(&s.tmpfs)), r#"["/run"]"#),
        ("tmpfs: [/tmp:size=64m, /run]", |s| format!("{:?}", ats(&s.tmpfs)), r#"["/tmp:size=64m", "/run"]"#),
        ("cap_add: [NET_ADMIN]\ncap_drop: [ALL]", |s| format!("{:?}", (ats(&s.cap_add), ats(&s.cap_drop))), r#"(["NET_ADMIN"], ["ALL"])"#),
        ("privileged: true", |s| format!("{:?}", s.privileged.value), "true"),
        ("image: x", |s| format!("{:?}", (s.privileged.value, s.stdin_open, s.tty, s.replicas)), "(false, false, false, 1)"),
        ("security_opt: ['no-new-privileges:true']", |s| format!("{:?}", ats(&s.security_opt)), r#"["no-new-privileges:true"]"#),
        ("network_mode: host", |s| format!("{:?}", at(&s.network_mode)), r#"Some("host")"#),
        ("labels: {a.b: c, empty: }", |s| format!("{:?}", s.labels), r#"{"a.b": "c", "empty": ""}"#),
        ("labels: [a.b=c, empty]", |s| format!("{:?}", s.labels), r#"{"a.b": "c", "empty": ""}"#),
        ("label_file: []\nlabels: {a: b}", |s| format!("{:?}", s.labels), r#"{"a": "b"}"#),
        ("stop_signal: SIGINT", |s| format!("{:?}", s.stop_signal), r#"Some("SIGINT")"#),
        ("stop_grace_period: 1m30s", |s| format!("{:?}", s.stop_grace_period), "Some(90s)"),
        ("container_name: shop-web", |s| format!("{:?}", at(&s.container_name)), r#"Some("shop-web")"#),
        ("hostname: web1", |s| format!("{:?}", s.hostname), r#"Some("web1")"#),
        ("init: true", |s| format!("{:?}", s.init), "Some(true)"),
        ("sysctls: {net.core.somaxconn: 1024}", |s| format!("{:?}", s.sysctls), r#"{"net.core.somaxconn": "1024"}"#),
        ("sysctls: [net.ipv4.tcp_syncookies=0]", |s| format!("{:?}", s.sysctls), r#"{"net.ipv4.tcp_syncookies": "0"}"#),
        ("devices: ['/dev/fuse:/dev/fuse:rwm', {source: /dev/sda, target: /dev/xvda}]", |s| format!("{:?}", ats(&s.devices)), r#"["/dev/fuse:/dev/fuse:rwm", "/dev/sda"]"#),
        ("platform: linux/arm64", |s| format!("{:?}", s.platform), r#"Some("linux/arm64")"#),
        ("profiles: [debug]", |s| format!("{:?}", s.profiles), r#"["debug"]"#),
        ("pid: host\nipc: shareable\nuts: host", |s| format!("{:?}", (at(&s.pid), at(&s.ipc), at(&s.uts))), r#"(Some("host"), Some("shareable"), Some("host"))"#),
        ("userns_mode: host\nruntime: runsc", |s| format!("{:?}", (at(&s.userns_mode), at(&s.runtime))), r#"(Some("host"), Some("runsc"))"#),
        ("stdin_open: true\ntty: yes", |s| format!("{:?}", (s.stdin_open, s.tty)), "(true, true)"),
        ("post_start: [{command: 'touch /tmp/up'}]\npre_stop: [{command: [/bin/drain]}]", |s| format!("{:?}", (&s.post_start[0].command, &s.pre_stop[0].command)), r#"(["touch", "/tmp/up"], ["/bin/drain"])"#),
        ("image: nginx:1.27@sha256:abc", |s| format!("{:?}", at(&s.image)), r#"Some("nginx:1.27@sha256:abc")"#),
        ("mem_reservation: 32m\ncpu_shares: 512\ncpuset: 0-1,3", |s| format!("{:?}", (s.reservations.memory, s.engine.cpu_shares.as_ref().map(|c| c.value), &s.engine.cpuset)), r#"(Some(33554432), Some(512), Some("0-1,3"))"#),
        ("shm_size: 1g\noom_score_adj: 1000\ngroup_add: [44, '1001']", |s| format!("{:?}", (s.engine.shm_size, s.engine.oom_score_adj, ats(&s.engine.group_add))), "(Some(1073741824), Some(1000), [44, 1001])"),
        ("extra_hosts: ['a:10.0.0.1', 'b=::1', 'c:[fe80::1]']", |s| format!("{:?}", s.engine.extra_hosts), r#"[("a", "10.0.0.1"), ("b", "::1"), ("c", "fe80::1")]"#),
        ("extra_hosts: {a: 10.0.0.1, gw: host-gateway}", |s| format!("{:?}", s.engine.extra_hosts), r#"[("a", "10.0.0.1"), ("gw", "host-gateway")]"#),
        ("dns: 1.1.1.1\ndns_search: [a.example, .]\ndns_opt: ['ndots:3', rotate]\ndomainname: a.example", |s| format!("{:?}", (&s.engine.dns, &s.engine.dns_search, &s.engine.dns_opt, &s.engine.domainname)), r#"(["1.1.1.1"], ["a.example", "."], ["ndots:3", "rotate"], Some("a.example"))"#),
        ("logging: {driver: json-file, options: {max-size: 1m, max-file: 3}}", |s| format!("{:?}", s.engine.logging.as_ref().map(|l| &l.value)), r#"Some(Logging { driver: Some("json-file"), options: {"max-file": "3", "max-size": "1m"} })"#),
        ("pull_policy: if_not_present\nattach: false", |s| format!("{:?}", (s.engine.pull_policy, s.engine.attach)), "(Some(Missing), false)"),
        ("deploy: {labels: [a=b], restart_policy: {condition: any}}\nrestart: 'no'", |s| format!("{:?}", (&s.engine.deploy_labels, at(&s.restart))), r#"({"a": "b"}, Some(Always))"#),
        ("extends: db\nhostname: own", |s| format!("{:?}", (at(&s.image), &s.hostname)), r#"(Some("app"), Some("own"))"#),
        ("x-notes: {anything: [goes]}\nx-other: 1", |s| format!("{:?}", s.keys.keys().collect::<Vec<_>>()), r#"["image", "x-notes", "x-other"]"#),
    ]
}

#[test]
fn simple_keys() {
    for (body, render, want) in simple_cases() {
        let file = web_file(body);
        let setup = Setup {
            files: &[("compose.yaml", &file)],
            profiles: &["debug"],
            ..Setup::default()
        };
        let mut p = run(&setup).unwrap_or_else(|e| panic!("{body}: {e}"));
        let s = p.services.remove("web").expect("web");
        assert_eq!(render(&s), want, "{body}");
    }
}

#[rustfmt::skip]
fn bulkhead_cases() -> Vec<(&'static str, String)> {
    let no_waivers = Vec::<(&str, &str)>::new;
    vec![
        ("image: x", format!("{:?}", (Tier::Cost, false, None::<Vec<String>>, Egress::None, None::<(u32, u32, u8)>, no_waivers()))),
        ("x-bulkhead:\n  tier: speed\n  public: true\n  allow_from: [db]\n  egress: internet\n  autoscale: {min: 2, max: 6, cpu_percent: 60}\n  waivers:\n    - {rule: non-root, reason: the image needs root to bind}",
            format!("{:?}", (Tier::Speed, true, Some(strs(&["db"])), Egress::Internet, Some((2, 6, 60)), vec![("non-root", "the image needs root to bind")]))),
        ("x-bulkhead: {tier: safe, autoscale: {max: 3}}", format!("{:?}", (Tier::Safe, false, None::<Vec<String>>, Egress::None, Some((1, 3, 70)), no_waivers()))),
    ]
}

#[test]
fn x_bulkhead_service_fields() {
    for (body, want) in bulkhead_cases() {
        let b = web(body).bulkhead;
        let got = (
            b.tier,
            b.public,
            b.allow_from.as_deref().map(ats),
            b.egress,
            b.autoscale.map(|a| (a.min, a.max, a.cpu_percent)),
            b.waivers
                .iter()
                .map(|w| (w.rule.id(), w.reason.as_str()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(format!("{got:?}"), want, "{body}");
    }
}

fn bodies<T>(cases: Vec<(&'static str, T)>) -> Vec<&'static str> {
    cases.into_iter().map(|c| c.0).collect()
}

#[test]
fn every_supported_key_has_a_row() {
    let all = [
        bodies(build_cases()),
        bodies(argv_cases()),
        bodies(environment_cases()),
        bodies(env_file_cases()),
        bodies(port_cases()),
        bodies(expose_cases()),
        bodies(health_cases()),
        bodies(depends_cases()),
        bodies(resource_cases()),
        bodies(volume_cases()),
        bodies(restart_cases()),
        bodies(file_ref_cases()),
        bodies(network_cases()),
        bodies(ulimit_cases()),
        simple_cases().into_iter().map(|c| c.0).collect(),
        bodies(bulkhead_cases()),
    ]
    .concat();
    let mut seen = BTreeSet::new();
    for body in all {
        let file = web_file(body);
        let setup = Setup {
            files: &[("compose.yaml", &file)],
            profiles: &["*"],
            ..Setup::default()
        };
        let p = run(&setup).unwrap_or_else(|e| panic!("{body}: {e}"));
        seen.extend(p.services["web"].keys.keys().cloned());
    }
    let missing: Vec<&&str> = SERVICE_KEYS
        .iter()
        .chain(&["x-bulkhead"])
        .filter(|k| !seen.contains(**k))
        .collect();
    assert!(missing.is_empty(), "keys without a test row: {missing:?}");
}

type ReadProject = fn(&Project) -> String;

/// Top-level sections: a snippet appended to a one-service file, a reading of the project, and
/// the expected value's `Debug` text.
#[rustfmt::skip]
fn top_level_cases() -> Vec<(&'static str, ReadProject, String)> {
    let kv = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    let net = |driver: Option<&str>, external, internal, name: Option<&str>, subnets: &[&str], labels| NetworkDef {
        driver: driver.map(Into::into), external, internal, name: name.map(Into::into), subnets: strs(subnets), labels: kv(labels),
    };
    let vol = |driver: Option<&str>, external, name: Option<&str>, labels| VolumeDef {
        driver: driver.map(Into::into), external, name: name.map(Into::into), labels: kv(labels),
    };
    vec![
        ("networks:\n  front: {driver: bridge, internal: true, labels: [tier=front], ipam: {config: [{subnet: 172.28.0.0/16}]}}\n  corp: {external: true, name: corp-net}\n  plain:",
            |p| format!("{:?}", p.networks),
            format!("{:?}", BTreeMap::from([("corp", net(None, true, false, Some("corp-net"), &[], &[])),
                ("front", net(Some("bridge"), false, true, None, &["172.28.0.0/16"], &[("tier", "front")])), ("plain", NetworkDef::default())]))),
        ("volumes:\n  data: {driver: local, labels: {a: b}}\n  old: {external: true, name: legacy}\n  empty:",
            |p| format!("{:?}", p.volumes),
            format!("{:?}", BTreeMap::from([("data", vol(Some("local"), false, None, &[("a", "b")])), ("empty", VolumeDef::default()), ("old", vol(None, true, Some("legacy"), &[]))]))),
        ("secrets:\n  pw: {file: ./secrets/../pw.txt}\n  token: {environment: API_TOKEN}\n  ext: {external: true, name: prod_pw}\n  home: {file: ~/pw}",
            |p| format!("{:?}", p.secrets),
            format!("{:?}", BTreeMap::from([("ext", SecretDef::External(Some("prod_pw".into()))), ("home", SecretDef::File("/home/dev/pw".into())),
                ("pw", SecretDef::File("/srv/Shop App/pw.txt".into())), ("token", SecretDef::Environment("API_TOKEN".into()))]))),
        ("configs:\n  cfg: {file: /etc/app.conf}\n  inline: {content: \"a: 1\"}",
            |p| format!("{:?}", p.configs),
            format!("{:?}", BTreeMap::from([("cfg", SecretDef::File("/etc/app.conf".into())), ("inline", SecretDef::Content("a: 1".into()))]))),
        ("name: shop", |p| p.name.clone(), "shop".into()),
        ("version: '3.9'", |p| notes(p).join("\n"), "compose.yaml:4:1: `version` is obsolete and ignored, as in Docker Compose".into()),
        ("x-anything: {ports: nonsense, imgae: 1}\nx-list: [1, 2]", |p| format!("{:?}", (p.services.len(), p.notes.len(), p.networks.len())), "(1, 0, 0)".into()),
        ("x-bulkhead:\n  trust:\n    require_signatures: false\n    keys: [keys/cosign.pub]\n    block_severity: high\n    ignore: CVE-2024-0001",
            |p| { let t = &p.bulkhead.trust; format!("{:?}", (t.require_signatures, t.keys.iter().map(|k| k.value.clone()).collect::<Vec<_>>(), t.block_severity, &t.ignore)) },
            format!("{:?}", (false, strs(&["keys/cosign.pub"]), Severity::High, strs(&["CVE-2024-0001"])))),
        ("x-bulkhead:", |p| format!("{:?}", p.bulkhead.trust), format!("{:?}", Trust::default())),
    ]
}

fn notes(p: &Project) -> Vec<String> {
    p.notes
        .iter()
        .map(|n| format!("{}: {}", n.span, n.message))
        .collect()
}

#[test]
fn top_level_sections() {
    for (top, read, want) in top_level_cases() {
        let file = format!("services:\n  web:\n    image: app\n{top}\n");
        let p = load_one(&file).unwrap_or_else(|e| panic!("{top}: {e}"));
        assert_eq!(read(&p), want, "{top}");
    }
}

/// YAML anchors, aliases and merge keys at the service level: whole files.
#[rustfmt::skip]
fn anchor_cases() -> Vec<(&'static str, ReadProject, &'static str)> {
    vec![
        ("x-common: &common\n  restart: always\n  environment: {A: '1'}\nservices:\n  web:\n    <<: *common\n    image: app\n",
            |p| format!("{:?}", (at(&p.services["web"].restart), &p.services["web"].environment)),
            r#"(Some(Always), {"A": Some("1")})"#),
        ("x-a: &a {image: a, user: '1'}\nx-b: &b {image: b, hostname: hb, user: '2'}\nservices:\n  web:\n    <<: [*a, *b]\n    user: '3'\n",
            |p| { let w = &p.services["web"]; format!("{:?}", (at(&w.image), &w.hostname, at(&w.user))) },
            r#"(Some("a"), Some("hb"), Some("3"))"#),
        ("x-ports: &ports ['8080:80']\nx-cmd: &cmd run --fast\nservices:\n  web:\n    image: app\n    ports: *ports\n    command: *cmd\n",
            |p| { let w = &p.services["web"]; format!("{:?}", (w.ports.iter().map(|p| p.value.published).collect::<Vec<_>>(), &w.command)) },
            r#"([Some((8080, 8080))], Some(["run", "--fast"]))"#),
        ("services:\n  web: &svc\n    image: app\n    environment: {A: 1}\n  worker:\n    <<: *svc\n    command: work\n",
            |p| { let w = &p.services["worker"]; format!("{:?}", (at(&w.image), &w.environment, &w.command, &p.services["web"].command)) },
            r#"(Some("app"), {"A": Some("1")}, Some(["work"]), None)"#),
    ]
}

#[test]
fn anchors_aliases_and_merge_keys() {
    for (file, read, want) in anchor_cases() {
        let p = load_one(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(read(&p), want, "{file}");
    }
}

pub(super) type Vars = &'static [(&'static str, &'static str)];
/// A list of names: profiles, services, expected notes.
type Profiles = &'static [&'static str];

/// `environment.V: '<expression>'` with a process environment and a `.env` file: the value, and
/// the notes about unset variables.
#[rustfmt::skip]
const INTERPOLATION: &[(&str, Vars, Option<&str>, &str, Profiles)] = &[
    ("${A}", &[("A", "x")], None, "x", &[]),
    ("$A-suffix", &[("A", "x")], None, "x-suffix", &[]),
    ("${E:-d}", &[("E", "")], None, "d", &[]),
    ("${E-d}", &[("E", "")], None, "", &[]),
    ("${U-d}", &[], None, "d", &[]),
    ("${U:-d}", &[], None, "d", &[]),
    ("${A:+alt}|${E:+alt}", &[("A", "x"), ("E", "")], None, "alt|", &[]),
    ("$$A and $${A}", &[("A", "x")], None, "$A and ${A}", &[]),
    ("${U:-${A:-no}}", &[("A", "x")], None, "x", &[]),
    ("${U:-${U2:-deep}}", &[], None, "deep", &[]),
    ("${D}", &[], Some("D=from-dotenv\n"), "from-dotenv", &[]),
    ("${B}", &[("B", "process")], Some("B=dotenv\n"), "process", &[]),
    ("${X}", &[("A", "x")], Some("X=${A}-dot\n"), "x-dot", &[]),
    ("${E?unused}", &[("E", "")], None, "", &[]),
    ("a${NOPE}b$NOPE", &[], None, "ab", &["compose.yaml:5:10: variable NOPE is not set; it stands for an empty string"]),
];

#[test]
fn interpolation_through_load() {
    for (expr, env, dotenv, want, want_notes) in INTERPOLATION {
        let file =
            format!("services:\n  web:\n    image: app\n    environment:\n      V: '{expr}'\n");
        let p = run(&Setup {
            files: &[("compose.yaml", &file)],
            env,
            dotenv: *dotenv,
            ..Setup::default()
        })
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
        let v = p.services["web"].environment.get("V").cloned().flatten();
        assert_eq!(v.as_deref(), Some(*want), "{expr}");
        assert_eq!(notes(&p), *want_notes, "{expr}");
    }
}

#[test]
fn interpolation_feeds_typed_keys() {
    let file = "services:\n  web:\n    image: ${IMAGE:-app}:${TAG-latest}\n    \
        ports: ['${PORT:-8080}-8082:80']\n    deploy: {replicas: '${N}'}\n    read_only: $RO\n";
    let p = run(&Setup {
        files: &[("compose.yaml", file)],
        env: &[("N", "3"), ("RO", "true"), ("TAG", "")],
        ..Setup::default()
    })
    .expect("loads");
    let w = &p.services["web"];
    let got = (
        at(&w.image),
        w.ports[0].value.published,
        w.replicas,
        w.read_only,
    );
    let want = (Some("app:".to_string()), Some((8080, 8082)), 3, Some(true));
    assert_eq!(got, want);
}

/// Two files merged: `web_file(a)`, then `b` as the body of `web` in a second file.
#[rustfmt::skip]
fn merge_cases() -> Vec<(&'static str, &'static str, Render, &'static str)> {
    vec![
        ("image: a\nuser: '1'", "image: b", |s| format!("{:?}", (at(&s.image), at(&s.user))), r#"(Some("b"), Some("1"))"#),
        ("environment: [A=1, B=2]", "environment: {B: 3, C: }", |s| format!("{:?}", s.environment), r#"{"A": Some("1"), "B": Some("3"), "C": None}"#),
        ("ports: ['8080:80']", "ports: ['8443:443', '8080:80']", |s| format!("{:?}", s.ports.iter().map(|p| p.value.published).collect::<Vec<_>>()), "[Some((8080, 8080)), Some((8443, 8443))]"),
        ("volumes: ['data:/data', './x:/x']", "volumes: ['./y:/data']", |s| format!("{:?}", s.volumes.iter().map(|m| (&m.value.source, &m.value.target)).collect::<Vec<_>>()), r#"[("./y", "/data"), ("./x", "/x")]"#),
        ("ports: ['8080:80']\nuser: nobody", "ports: !reset []\nuser: !reset null", |s| format!("{:?}", (s.ports.len(), at(&s.user))), "(0, None)"),
        ("ports: ['8080:80']", "ports: !override ['9000:90']", |s| format!("{:?}", s.ports.iter().map(|p| p.value.published).collect::<Vec<_>>()), "[Some((9000, 9000))]"),
        ("build: ./app", "build: {dockerfile: Dockerfile.dev}", |s| format!("{:?}", s.build.as_ref().map(|b| (&b.context, &b.dockerfile))), r#"Some(("./app", Some("Dockerfile.dev")))"#),
        ("build: {context: ./a, target: t}", "build: ./b", |s| format!("{:?}", s.build.as_ref().map(|b| (&b.context, &b.target))), r#"Some(("./b", Some("t")))"#),
        ("command: [a, b]", "command: c d", |s| format!("{:?}", s.command), r#"Some(["c", "d"])"#),
        ("healthcheck: {test: [CMD, a], retries: 3}", "healthcheck: {test: [CMD, b, c]}", |s| format!("{:?}", s.healthcheck.as_ref().map(|h| (&h.test, h.retries))), r#"Some((Some(Cmd(["b", "c"])), Some(3)))"#),
        ("depends_on: [db]", "depends_on: {cache: {condition: service_healthy}}", |s| format!("{:?}", s.depends_on.iter().map(|(k, d)| (k, d.value.condition)).collect::<Vec<_>>()), r#"[("cache", ServiceHealthy), ("db", ServiceStarted)]"#),
        ("labels: [a=1]", "labels: {b: 2}", |s| format!("{:?}", s.labels), r#"{"a": "1", "b": "2"}"#),
        ("secrets: [pw]", "secrets: [{source: pw, target: pw, mode: 0400}]", |s| format!("{:?}", ats(&s.secrets).iter().map(|r| (&r.target, r.mode)).collect::<Vec<_>>()), r#"[("/run/secrets/pw", Some(256))]"#),
        ("cap_add: [A]\ncap_drop: [ALL]", "cap_add: [A, B]", |s| format!("{:?}", (ats(&s.cap_add), ats(&s.cap_drop))), r#"(["A", "B"], ["ALL"])"#),
    ]
}

#[test]
fn merging_files() {
    for (a, b, read, want) in merge_cases() {
        let (a_file, b_file) = (
            web_file(a),
            format!("services:\n  web:\n{}", indent(b, "    ")),
        );
        let p = run(&Setup {
            files: &[("a.yaml", &a_file), ("b.yaml", &b_file)],
            ..Setup::default()
        })
        .unwrap_or_else(|e| panic!("{a} + {b}: {e}"));
        assert_eq!(read(&p.services["web"]), want, "{a} + {b}");
        assert_eq!(p.files, ["a.yaml", "b.yaml"]);
    }
}

#[test]
fn three_files_apply_in_order() {
    let files = [
        (
            "a.yaml",
            "services:\n  web:\n    image: a\n    user: a\n    hostname: a\n",
        ),
        ("b.yaml", "services:\n  web:\n    image: b\n    user: b\n"),
        (
            "c.yaml",
            "services:\n  web:\n    image: c\n  extra:\n    image: e\n",
        ),
    ];
    let p = run(&Setup {
        files: &files,
        ..Setup::default()
    })
    .expect("loads");
    let w = &p.services["web"];
    let spans = |k: &str| w.key_span(k).to_string();
    let got = (
        at(&w.image),
        at(&w.user),
        w.hostname.clone(),
        p.services.len(),
    );
    let want = (Some("c".into()), Some("b".into()), Some("a".into()), 2);
    assert_eq!(got, want);
    let where_ = [spans("image"), spans("user"), spans("hostname")];
    assert_eq!(where_, ["c.yaml:3:5", "b.yaml:4:5", "a.yaml:5:5"]);
}

/// `--profile` values, COMPOSE_PROFILES from the environment or `.env`, and `*`: the active
/// services and the inactive ones.
#[rustfmt::skip]
const PROFILES: &[(Profiles, Vars, Option<&str>, Profiles, Profiles)] = &[
    (&[], &[], None, &["web"], &["debug", "tools"]),
    (&["debug"], &[], None, &["debug", "web"], &["tools"]),
    (&[], &[("COMPOSE_PROFILES", "ops, debug")], None, &["debug", "tools", "web"], &[]),
    (&["*"], &[], None, &["debug", "tools", "web"], &[]),
    (&[], &[], Some("COMPOSE_PROFILES=tools\n"), &["tools", "web"], &["debug"]),
];

#[test]
fn profiles_select_services() {
    let file = "services:\n  web: {image: app}\n  debug: {image: dbg, profiles: [debug]}\n  \
        tools: {image: t, profiles: [tools, ops]}\n";
    for (profiles, env, dotenv, active, inactive) in PROFILES {
        let p = run(&Setup {
            files: &[("compose.yaml", file)],
            profiles,
            env,
            dotenv: *dotenv,
            ..Setup::default()
        })
        .expect("loads");
        let names: Vec<&String> = p.services.keys().collect();
        assert_eq!(names, *active, "{profiles:?} {env:?}");
        assert_eq!(p.inactive, *inactive, "{profiles:?} {env:?}");
    }
}
