//! Holes found in a second round of attacks on the tenant boundary from outside, as a developer
//! of one project: each test states what must hold and fails while the hole is open.
//!
//! - a built image is tagged `<project>-<service>`, and `image:` takes any image on the engine:
//!   project `p` runs the image project `q` built (its code, whatever its build baked in) by
//!   naming its tag;
//! - the tags of two projects meet like their volumes and containers (`p` + `db-store` and
//!   `p-db` + `store`): project `p`'s build moves project `p-db`'s tag onto its own image, and
//!   `p-db`'s next deploy of a service that names that tag runs `p`'s code inside `p-db`;
//! - a tenant's `build:` runs its `RUN` steps on the engine's default bridge, with the network
//!   and none of the hardening: a step reaches the host (and beyond) although the tenant's
//!   services have no egress;
//! - a developer's `secret set` rolls every service delivering that secret, waived releases
//!   included: new containers with an admin's waivers are created at a developer's request,
//!   which a scale of the same release refuses (403) for want of `waiver.grant`.

use bulkhead_core::auth::{ProjectName, Role, Scope};
use serde_json::Value;

use std::process::Command;

use super::common::{Cleanup, Item, by_label, demo_binary, docker, import};
use super::support::server;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\napp:x:10001:\n";

/// `docker import` of the demo binary with a user database, running as 10001.
pub(super) fn import_base(tag: &str) {
    let demo = demo_binary();
    import(
        tag,
        &[
            Item::File("etc/passwd", PASSWD.as_bytes(), 0o644),
            Item::File("etc/group", GROUP.as_bytes(), 0o644),
            Item::File("bulkhead-demo", &demo, 0o755),
        ],
        &["ENTRYPOINT [\"/bulkhead-demo\"]", "USER 10001:10001"],
    );
}

/// A project directory of several files, as a deploy body (base64 tar bundle).
pub(super) fn bundle_of(files: &[(&str, &str)]) -> Value {
    bundle(files)
}

fn bundle(files: &[(&str, &str)]) -> Value {
    use base64::Engine as _;
    let mut b = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, text.as_bytes())
            .expect("append");
    }
    let archive = b.into_inner().expect("tar");
    serde_json::json!({
        "files": ["compose.yaml"],
        "env": {},
        "bundle": base64::engine::general_purpose::STANDARD.encode(archive),
    })
}

/// One service of the demo's store role: `source` is `image: X` or `build: ./app`.
pub(super) fn service(name: &str, source: &str) -> String {
    format!(
        "  {name}:\n    {source}\n    command: [\"store\"]\n    \
         healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      \
         interval: 1s\n      timeout: 2s\n      retries: 30\n"
    )
}

/// The image ids the project's containers run.
fn images_run(project: &str) -> Vec<String> {
    let label = format!("label=dev.bulkhead.project={project}");
    by_label(&["ps", "-a"], &label)
        .iter()
        .map(|id| docker(&["inspect", "-f", "{{.Image}}", id]))
        .collect()
}

/// Project `q` (an admin's) builds its service `store` from a context holding a file only `q`
/// should have; the engine tags it `q-store`. A developer of project `p` alone deploys
/// `image: q-store`: the image of another project, with its files, runs in `p`.
#[tokio::test(flavor = "multi_thread")]
async fn a_project_cannot_run_the_image_another_project_built() {
    let srv = server().await;
    let attacker = format!("atkimg{}", std::process::id());
    let victim = format!("vicimg{}", std::process::id());
    let base = format!("bulkhead-attack2-{attacker}-base:1");
    let victim_tag = bulkhead_app::deploy::images::tag(&victim, "store");
    let _cleanup = Cleanup {
        projects: vec![attacker.clone(), victim.clone()],
        images: vec![base.clone(), victim_tag.clone()],
        volumes: Vec::new(),
    };
    import_base(&base);
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(&attacker).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;

    let victim_files = [
        (
            "compose.yaml",
            format!("services:\n{}", service("store", "build: ./app")),
        ),
        (
            "app/Dockerfile",
            format!("FROM {base}\nCOPY license.key /license.key\n"),
        ),
        ("app/license.key", "victim-only-license-key\n".to_string()),
    ];
    let files: Vec<(&str, &str)> = victim_files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{victim}/deploys"),
            Some(&ana),
            Some(&bundle(&files)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let victims_image = docker(&["image", "inspect", "-f", "{{.Id}}", &victim_tag]);
    assert!(victims_image.starts_with("sha256:"), "{victims_image}");

    let thief = format!(
        "services:\n{}",
        service("thief", &format!("image: {victim_tag}"))
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&bundle(&[("compose.yaml", &thief)])),
        )
        .await;
    let run = images_run(&attacker);
    assert!(
        !run.contains(&victims_image),
        "project {attacker} ({status}) runs the image project {victim} built ({victims_image}), \
         license.key and all: {run:?} {body}"
    );
    assert_ne!(status, 200, "{body}");
}

/// Project `p-db` (an admin's) builds `store` (tag `p-db-store`). A developer of project `p`
/// alone builds a service `db-store`: its tag is `p-db-store` too, so the engine moves the tag
/// onto `p`'s image (the deploy then stops at the container-name clash, 409, but the tag has
/// moved). When `p-db` next deploys a service that runs the store's image by its tag (`aworker:
/// image: p-db-store`, resolved before `store` is rebuilt), it pins and runs `p`'s image inside
/// `p-db`, with `p-db`'s networks, volumes and secrets.
#[tokio::test(flavor = "multi_thread")]
async fn a_project_cannot_move_another_projects_image_tag_onto_its_own_build() {
    let srv = server().await;
    let attacker = format!("atktag{}", std::process::id());
    let victim = format!("{attacker}-db");
    let tag = bulkhead_app::deploy::images::tag(&victim, "store");
    let base = format!("bulkhead-attack2-{attacker}-base:1");
    let _cleanup = Cleanup {
        projects: vec![attacker.clone(), victim.clone()],
        images: vec![base.clone(), tag.clone()],
        volumes: Vec::new(),
    };
    import_base(&base);
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(&attacker).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;

    let victim_dockerfile = format!("FROM {base}\nLABEL made-by=victim\n");
    let first = format!("services:\n{}", service("store", "build: ./app"));
    // Later the victim adds a worker running the store's image (sorted first, as `aworker`).
    let second = format!(
        "services:\n{}{}",
        service("store", "build: ./app"),
        service("aworker", &format!("image: {tag}"))
    );
    let uri = format!("/v1/projects/{victim}/deploys");
    let (status, body) = srv
        .call(
            "POST",
            &uri,
            Some(&ana),
            Some(&bundle(&[
                ("compose.yaml", &first),
                ("app/Dockerfile", &victim_dockerfile),
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let victims_image = docker(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    assert!(victims_image.starts_with("sha256:"), "{victims_image}");

    let attacker_compose = format!("services:\n{}", service("db-store", "build: ./app"));
    let attacker_dockerfile = format!("FROM {base}\nLABEL made-by=attacker\n");
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&bundle(&[
                ("compose.yaml", &attacker_compose),
                ("app/Dockerfile", &attacker_dockerfile),
            ])),
        )
        .await;
    let now = docker(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    let made_by = docker(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"made-by\"}}",
        &tag,
    ]);

    // The victim deploys again, with the worker.
    let (again, again_body) = srv
        .call(
            "POST",
            &uri,
            Some(&ana),
            Some(&bundle(&[
                ("compose.yaml", &second),
                ("app/Dockerfile", &victim_dockerfile),
            ])),
        )
        .await;
    let label = format!("label=dev.bulkhead.project={victim}");
    let worker_made_by: Vec<String> = by_label(&["ps"], &label)
        .iter()
        .filter(|id| {
            docker(&[
                "inspect",
                "-f",
                "{{index .Config.Labels \"dev.bulkhead.service\"}}",
                id,
            ]) == "aworker"
        })
        .map(|id| docker(&["inspect", "-f", "{{index .Config.Labels \"made-by\"}}", id]))
        .collect();
    assert!(
        !worker_made_by.is_empty() && worker_made_by.iter().all(|m| m == "victim"),
        "project {victim}'s worker now runs project {attacker}'s build: {worker_made_by:?} \
         (victim's redeploy: {again} {again_body})"
    );
    assert_eq!(
        now, victims_image,
        "project {attacker}'s deploy ({status}) moved project {victim}'s tag {tag} onto its own \
         image (made by {made_by}): {body}"
    );
}

/// The host's address on the engine's default bridge (`docker0`).
fn docker0_address() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let cidr = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .expect("docker0 has an IPv4 address");
    cidr.split('/').next().unwrap_or_default().to_string()
}

/// A developer's project declares no egress, and its build is a tenant's code like its image.
/// A `RUN` step of the build connects to a listener on the host's bridge address: it must not
/// get through (a build step should have no network, as the services it builds have none).
#[tokio::test(flavor = "multi_thread")]
async fn a_build_step_cannot_reach_the_host_network() {
    let srv = server().await;
    let attacker = format!("atkbuild{}", std::process::id());
    let base = format!("bulkhead-attack2-{attacker}-base:1");
    let _cleanup = Cleanup {
        projects: vec![attacker.clone()],
        images: vec![base.clone(), format!("{attacker}-s")],
        volumes: Vec::new(),
    };
    import_base(&base);
    let own = Scope::Project(ProjectName::new(&attacker).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;

    let host = docker0_address();
    let listener = std::net::TcpListener::bind((host.as_str(), 0)).expect("listen on docker0");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (reached, stop) = (reached.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        reached.store(true, std::sync::atomic::Ordering::SeqCst);
                        let _ = conn.set_nonblocking(false);
                        let mut buf = [0u8; 1024];
                        let _ = conn.read(&mut buf);
                        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        })
    };

    let compose = format!("services:\n{}", service("s", "build: ./app"));
    let dockerfile = format!(
        "FROM {base}\nRUN [\"/bulkhead-demo\", \"probe\", \"http://{host}:{port}/exfiltrate\"]\n"
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&bundle(&[
                ("compose.yaml", &compose),
                ("app/Dockerfile", &dockerfile),
            ])),
        )
        .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watcher.join();
    assert!(
        !reached.load(std::sync::atomic::Ordering::SeqCst),
        "a RUN step of project {attacker}'s build ({status}) connected to {host}:{port} on the host: {body}"
    );
}

/// An admin deploys `app` with `cap_add: [SYS_PTRACE]` (waived) and secret `tok`. A developer
/// may not scale that release (403: it carries a waiver), nor roll back to it; but setting the
/// secret rolls it, and the roll creates a new container with the waiver, at the developer's
/// request. Creating containers of a waived release must need `waiver.grant` whichever way.
#[tokio::test(flavor = "multi_thread")]
async fn a_developer_cannot_recreate_a_waived_release_by_setting_its_secret() {
    use base64::Engine as _;
    let srv = server().await;
    let project = format!("atkroll{}", std::process::id());
    let base = format!("bulkhead-attack2-{project}-base:1");
    let _cleanup = Cleanup {
        projects: vec![project.clone()],
        images: vec![base.clone()],
        volumes: Vec::new(),
    };
    import_base(&base);
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(&project).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let secret_uri = format!("/v1/projects/{project}/secrets/tok");
    let value =
        |v: &str| serde_json::json!({"value": base64::engine::general_purpose::STANDARD.encode(v)});
    let (status, body) = srv
        .call("PUT", &secret_uri, Some(&ana), Some(&value("first")))
        .await;
    assert_eq!(status, 200, "{body}");
    let compose = format!(
        "services:\n{}    cap_add: [SYS_PTRACE]\n    secrets: [tok]\n    x-bulkhead:\n      \
         waivers:\n        - rule: cap-drop-all\n          reason: the profiler attaches\n\
         secrets:\n  tok:\n    external: true\n",
        service("app", &format!("image: {base}"))
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{project}/deploys"),
            Some(&ana),
            Some(&bundle(&[("compose.yaml", &compose)])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let label = format!("label=dev.bulkhead.project={project}");
    let waived = || -> Vec<String> {
        by_label(&["ps", "-a"], &label)
            .into_iter()
            .filter(|id| {
                docker(&["inspect", "-f", "{{json .HostConfig.CapAdd}}", id]).contains("SYS_PTRACE")
            })
            .collect()
    };
    let before = waived();
    assert_eq!(before.len(), 1, "{before:?}");

    // The same developer may not scale it...
    let (status, body) = srv
        .call(
            "PUT",
            &format!("/v1/projects/{project}/services/app/replicas"),
            Some(&dev),
            Some(&serde_json::json!({"replicas": 2})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // ...but may set the secret, which rolls it.
    let (status, body) = srv
        .call("PUT", &secret_uri, Some(&dev), Some(&value("second")))
        .await;
    let after = waived();
    assert!(
        after.iter().all(|id| before.contains(id)),
        "the developer's secret set ({status}) created waived containers {after:?} (before: \
         {before:?}): {body}"
    );
}
