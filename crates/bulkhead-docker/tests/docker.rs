//! The Docker adapter against the real local engine: connection and version, image builds,
//! networks, volumes, and a hardened container's whole life. Every object is uniquely named,
//! labelled, and removed by a guard even when an assertion fails.

#[path = "docker/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bulkhead_docker::DockerRuntime;
use bulkhead_ports::{
    BuildRequest, ContainerRuntime, ContainerSpec, HealthSpec, HealthState, MountSpec, NetworkSpec,
    PortSpec, Progress, RuntimeError,
};
use serde_json::json;
use support::{Cleanup, docker_inspect, image_exists, labels, project_filter, runtime, unique};

/// `assert!(matches!(..))` that shows the value when it does not match.
macro_rules! assert_err {
    ($value:expr, $pattern:pat $(if $guard:expr)?) => {{
        let value = $value;
        assert!(matches!(&value, $pattern $(if $guard)?), "{value}");
    }};
}

#[tokio::test(flavor = "multi_thread")]
async fn connects_and_negotiates_at_least_1_41() {
    let runtime = runtime().await;
    let (engine, api) = runtime.version().await.expect("version");
    assert!(!engine.is_empty());
    assert_eq!(api, runtime.api_version());
    let (major, minor) = api.split_once('.').expect("major.minor");
    let version = (
        major.parse::<usize>().expect("major"),
        minor.parse::<usize>().expect("minor"),
    );
    assert!(version >= bulkhead_docker::MIN_API_VERSION, "{api}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_hosts_are_unreachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A socket path that exists but where nothing answers.
    let socket = dir.path().join("not-docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let dead = format!("unix://{}", socket.display());
    let hosts = [
        "unix:///nonexistent/docker.sock",
        "ssh://someone@host",
        "https://h:1",
    ];
    for host in hosts.into_iter().chain([dead.as_str()]) {
        let err = DockerRuntime::connect_to(host).await.expect_err(host);
        assert_err!(err, RuntimeError::Unreachable { .. });
    }
}

/// An engine that answers each connection with `answer` once read the request.
fn fake_engine(socket: &std::path::Path, answer: &'static [u8]) {
    let listener = std::os::unix::net::UnixListener::bind(socket).expect("bind");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request);
            let _ = s.write_all(answer);
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_version_in_pings_header_is_agreed_and_an_old_one_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("old.sock");
    fake_engine(&old, b"HTTP/1.0 200 OK\r\nApi-Version: 1.40\r\n\r\nOK");
    let err = DockerRuntime::connect_to(&format!("unix://{}", old.display()))
        .await
        .expect_err("API 1.40");
    assert_err!(err, RuntimeError::TooOld { .. });
    // The real engine's version agrees with what its /version says.
    let runtime = runtime().await;
    let (_, api) = runtime.version().await.expect("version");
    assert_eq!(api, runtime.api_version());
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write context file");
}

fn build_request(context: &std::path::Path, tag: &str) -> BuildRequest {
    BuildRequest {
        context: context.to_path_buf(),
        dockerfile: None,
        tag: tag.to_string(),
        args: BTreeMap::new(),
        target: None,
        labels: BTreeMap::new(),
        network: false,
    }
}

/// A context exercising a named Dockerfile, a build arg, a target stage, a symlink and an
/// ignored file.
fn hello_context() -> tempfile::TempDir {
    let context = tempfile::tempdir().expect("temp dir");
    write(context.path(), "hello.txt", "hello\n");
    write(context.path(), "secret.txt", "ignored\n");
    write(context.path(), ".dockerignore", "secret.txt\n");
    std::os::unix::fs::symlink("hello.txt", context.path().join("hello.link")).expect("link");
    let dockerfile = "FROM scratch AS base\nARG FLAVOUR\nLABEL flavour=$FLAVOUR\n\
                      COPY hello.txt hello.link /\nUSER 10001\n\
                      HEALTHCHECK --interval=5s CMD [\"/hello\"]\n\
                      FROM base AS unused\nLABEL stage=unused\n";
    write(context.path(), "Dockerfile.test", dockerfile);
    context
}

#[tokio::test(flavor = "multi_thread")]
async fn builds_and_inspects_an_image() {
    let runtime = runtime().await;
    let project = unique("build");
    let tag = format!("{project}:1");
    let mut cleanup = Cleanup::default();
    cleanup.images.push(tag.clone());
    let context = hello_context();
    let mut request = build_request(context.path(), &tag);
    request.dockerfile = Some("Dockerfile.test".to_string());
    request.args = BTreeMap::from([("FLAVOUR".to_string(), "plain".to_string())]);
    request.target = Some("base".to_string());
    request.labels = labels(&project, "hello");

    let lines = Mutex::new(Vec::new());
    let record = |p: Progress| lines.lock().expect("lock").push(p);
    let id = runtime.build_image(&request, &record).await.expect("build");
    let lines = lines.into_inner().expect("lock");
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(lines.iter().all(|p| p.subject == tag && !p.line.is_empty()));
    assert!(
        lines.iter().any(|p| p.line.starts_with("Step 1/")),
        "{lines:?}"
    );

    let image = runtime.inspect_image(&tag).await.expect("inspect image");
    assert_eq!(
        (image.id.as_str(), image.user.as_str()),
        (id.as_str(), "10001")
    );
    let test = Some(vec!["CMD".to_string(), "/hello".to_string()]);
    assert_eq!(image.healthcheck, test);
    assert!(image.repo_digests.is_empty(), "built locally");
    let config = &docker_inspect("image", &tag)["Config"];
    assert_eq!(config["Labels"]["flavour"], "plain");
    assert_eq!(config["Labels"]["dev.bulkhead.project"], project.as_str());
    assert!(config["Labels"].get("stage").is_none(), "stopped at target");
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_build_failures() {
    let runtime = runtime().await;
    let project = unique("broken");
    let tag = format!("{project}:1");
    let mut cleanup = Cleanup::default();
    cleanup.images.push(tag.clone());
    let context = hello_context();

    // The .dockerignore kept secret.txt out, so copying it fails the build at its first step.
    write(
        context.path(),
        "Dockerfile",
        "FROM scratch\nCOPY secret.txt /\n",
    );
    let failing = build_request(context.path(), &tag);
    let err = runtime
        .build_image(&failing, &|_| {})
        .await
        .expect_err("ignored");
    assert_err!(err, RuntimeError::Build { reason, .. } if reason.contains("secret.txt"));
    assert!(!image_exists(&tag));

    // A symlink out of the context is refused before anything reaches the engine.
    std::os::unix::fs::symlink("../../etc/passwd", context.path().join("escape")).expect("link");
    let err = runtime
        .build_image(&failing, &|_| {})
        .await
        .expect_err("escape");
    assert_err!(err, RuntimeError::Build { reason, .. } if reason.contains("outside"));

    let err = runtime.inspect_image(&tag).await.expect_err("missing");
    assert_err!(err, RuntimeError::NotFound { what: "image", .. });
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_by_label() {
    let runtime = runtime().await;
    let project = unique("net");
    let mut cleanup = Cleanup::default();
    let names = [format!("{project}-a"), format!("{project}-b")];
    cleanup.networks.extend(names.iter().cloned());

    let mut created = Vec::new();
    for (name, internal) in [(&names[0], false), (&names[1], true)] {
        let spec = NetworkSpec {
            name: name.clone(),
            internal,
            labels: labels(&project, "net"),
            pin_subnet: false,
        };
        let info = runtime.create_network(&spec).await.expect("create network");
        assert_eq!(
            (info.name.as_str(), info.internal),
            (name.as_str(), internal)
        );
        assert_eq!(info.bridge, Some(format!("br-{}", &info.id[..12])));
        let interface = format!(
            "/sys/class/net/{}",
            info.bridge.as_deref().unwrap_or_default()
        );
        assert!(std::path::Path::new(&interface).exists(), "{interface}");
        assert!(!info.subnets.is_empty(), "{info:?}");
        assert_eq!(info.labels, spec.labels);
        created.push(info);
        let again = runtime.create_network(&spec).await.expect_err("duplicate");
        assert_err!(
            again,
            RuntimeError::Conflict {
                what: "network",
                ..
            }
        );
    }
    let filter = project_filter(&project);
    let listed = runtime.list_networks(&filter).await.expect("list");
    assert_eq!(listed, created, "exactly the two networks, once each");
    let inspected = docker_inspect("network", &names[1]);
    assert_eq!(
        (&inspected["Internal"], &inspected["Driver"]),
        (&json!(true), &json!("bridge"))
    );

    for name in &names {
        runtime.remove_network(name).await.expect("remove network");
        runtime.remove_network(name).await.expect("already gone");
    }
    assert!(
        runtime
            .list_networks(&filter)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_by_label() {
    let runtime = runtime().await;
    let project = unique("vol");
    let volume = format!("{project}-data");
    let mut cleanup = Cleanup::default();
    cleanup.volumes.push(volume.clone());

    let owned = labels(&project, "data");
    runtime
        .create_volume(&volume, &owned)
        .await
        .expect("create volume");
    runtime
        .create_volume(&volume, &owned)
        .await
        .expect("same owner again");
    let foreign = labels(&project, "other");
    let err = runtime
        .create_volume(&volume, &foreign)
        .await
        .expect_err("owned elsewhere");
    assert_err!(err, RuntimeError::Conflict { what: "volume", .. });
    let filter = project_filter(&project);
    let volumes = runtime.list_volumes(&filter).await.expect("list volumes");
    let listed: Vec<_> = volumes.iter().map(|v| (&v.name, &v.labels)).collect();
    assert_eq!(listed, [(&volume, &owned)]);

    runtime.remove_volume(&volume).await.expect("remove volume");
    runtime.remove_volume(&volume).await.expect("already gone");
    assert!(
        runtime
            .list_volumes(&filter)
            .await
            .expect("list")
            .is_empty()
    );
}

#[path = "docker/endpoints.rs"]
mod endpoints;
#[path = "docker/fixture.rs"]
mod fixture;
#[path = "docker/lifecycle.rs"]
mod lifecycle;
#[path = "docker/listing.rs"]
mod listing;
#[path = "docker/pathmodes.rs"]
mod pathmodes;
#[path = "docker/userfiles.rs"]
mod userfiles;
