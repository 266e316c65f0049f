//! Re-activating a waived release without the right to grant its waivers: a developer rolling
//! back to, or scaling, a release an admin deployed with `cap_add: [SYS_PTRACE]` and a waiver;
//! and the reconciler re-creating such a container after its activator lost the right. Real
//! containers on the real engine; each test has its own project and removes it.

use std::sync::Arc;

use bulkhead_core::audit::OutcomeKind;
use bulkhead_core::auth::{ProjectName, Role, Scope};
use serde_json::json;

use super::common::{demo_binary, docker};
use super::support::{Server, deploy_body, server};

const IMAGE: &str = "bulkhead-attacks-demo:1";

/// The demo image, built once from examples/shop (its binary built first when missing).
fn demo_image() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    demo_binary(); // built when missing
    let built = std::process::Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(root.join("examples/shop/image"))
        .output()
        .expect("docker build runs");
    assert!(built.status.success(), "{built:?}");
}

/// One service `app` of the demo image; with `ptrace`, `cap_add: [SYS_PTRACE]` and its waiver.
fn spec(ptrace: bool) -> String {
    let extra = if ptrace {
        "    cap_add: [SYS_PTRACE]\n    x-bulkhead:\n      waivers:\n        - rule: cap-drop-all\n          reason: the profiler attaches to the store\n"
    } else {
        ""
    };
    format!(
        "services:\n  app:\n    image: {IMAGE}\n    command: [\"store\"]\n    user: \"10001:10001\"\n    read_only: true\n    init: true\n    healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      interval: 1s\n      timeout: 2s\n      retries: 3\n{extra}"
    )
}

/// Removes everything of the project from the engine and the host firewall when dropped.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let label = format!("label=dev.bulkhead.project={}", self.0);
        for id in docker(&["ps", "-aq", "--filter", &label]).lines() {
            docker(&["rm", "-f", id]);
        }
        for n in docker(&["network", "ls", "-q", "--filter", &label]).lines() {
            docker(&["network", "rm", n]);
        }
        use bulkhead_ports::Firewall as _;
        let _ = bulkhead_firewall::HostFirewall::new().unblock_project(&self.0);
    }
}

/// The running containers of the project, each with its added capabilities.
fn running(project: &str) -> Vec<(String, String)> {
    let label = format!("label=dev.bulkhead.project={project}");
    docker(&["ps", "-q", "--filter", &label, "--filter", "status=running"])
        .lines()
        .map(|id| {
            let caps = docker(&["inspect", "-f", "{{json .HostConfig.CapAdd}}", id]);
            (id.to_string(), caps)
        })
        .collect()
}

/// A server with admin `ana` (all projects), admin `root` (all projects) and developer `dev`
/// (bound to `project`), and the project deployed by `ana` with the waived SYS_PTRACE.
async fn waived_by_ana(project: &str) -> (Server, String, String, String) {
    demo_image();
    let srv = server().await;
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let root = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let uri = format!("/v1/projects/{project}/deploys");
    let (status, body) = srv
        .call("POST", &uri, Some(&ana), Some(&deploy_body(&spec(true))))
        .await;
    assert_eq!(status, 200, "{body}");
    let now = running(project);
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(now[0].1.contains("SYS_PTRACE"), "{now:?}");
    (srv, ana, root, dev)
}

fn last_entry(srv: &Server, action: &str) -> bulkhead_core::audit::Entry {
    srv.entries()
        .into_iter()
        .rev()
        .find(|e| e.action == action)
        .expect("an audit entry")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_developer_cannot_roll_back_to_a_waived_release() {
    let project = format!("bhrb{}", std::process::id());
    let _down = Down(project.clone());
    let (srv, ana, _root, dev) = waived_by_ana(&project).await;
    // Release 2, by the developer: no capability, no waiver.
    let uri = format!("/v1/projects/{project}/deploys");
    let (status, body) = srv
        .call("POST", &uri, Some(&dev), Some(&deploy_body(&spec(false))))
        .await;
    assert_eq!(status, 200, "{body}");
    let plain = running(&project);
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(!plain[0].1.contains("SYS_PTRACE"), "{plain:?}");

    let rollback = format!("/v1/projects/{project}/services/app/rollbacks");
    let (status, body) = srv
        .call("POST", &rollback, Some(&dev), Some(&json!({"to": 1})))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cap-drop-all") && message.contains("ana") && message.contains("roll"),
        "{message}"
    );
    let denied = last_entry(&srv, "service.rollback");
    assert_eq!(denied.outcome.kind, OutcomeKind::Denied);
    assert_eq!(denied.actor.user.as_deref(), Some("dev"));
    // Without `to` (the one before the active one) too.
    let (status, _) = srv
        .call("POST", &rollback, Some(&dev), Some(&json!({})))
        .await;
    assert_eq!(status, 403);
    // Nothing changed: the same plain container, release 2 still active.
    assert_eq!(running(&project), plain);
    let (_, state) = srv
        .call("GET", &format!("/v1/projects/{project}"), Some(&dev), None)
        .await;
    assert_eq!(state["services"][0]["release"], 2, "{state}");

    // The admin may: the check is about the right, not the rollback.
    let (status, body) = srv
        .call("POST", &rollback, Some(&ana), Some(&json!({"to": 1})))
        .await;
    assert_eq!(status, 200, "{body}");
    let back = running(&project);
    assert!(
        back.len() == 1 && back[0].1.contains("SYS_PTRACE"),
        "{back:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_developer_cannot_scale_a_waived_release() {
    let project = format!("bhsc{}", std::process::id());
    let _down = Down(project.clone());
    let (srv, _ana, _root, dev) = waived_by_ana(&project).await;
    let before = running(&project);
    let uri = format!("/v1/projects/{project}/services/app/replicas");
    let (status, body) = srv
        .call("PUT", &uri, Some(&dev), Some(&json!({"replicas": 3})))
        .await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cap-drop-all") && message.contains("ana") && message.contains("scal"),
        "{message}"
    );
    let denied = last_entry(&srv, "service.scale");
    assert_eq!(denied.outcome.kind, OutcomeKind::Denied);
    assert_eq!(running(&project), before, "no container was added");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_does_not_recreate_a_waived_container_whose_activator_lost_the_right() {
    let project = format!("bhrc{}", std::process::id());
    let _down = Down(project.clone());
    let (srv, _ana, root, _dev) = waived_by_ana(&project).await;
    let srv = Arc::new(srv);
    // ana is no longer an admin; then the container goes away behind the server's back.
    let (status, body) = srv
        .call(
            "DELETE",
            "/v1/users/ana/bindings?role=admin",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = running(&project);
    docker(&["rm", "-f", &before[0].0]);

    // One pass of the reconciler loop over the project (the loop runs exactly this).
    let mut reported = std::collections::BTreeMap::new();
    bulkhead_app::server::controller::reconcile(&srv.api, &project, &mut reported)
        .await
        .expect("the pass runs");
    assert!(
        running(&project).is_empty(),
        "the waived container came back"
    );
    let held = last_entry(&srv, "reconcile.hold");
    // A second pass holds it still, and does not audit it again.
    bulkhead_app::server::controller::reconcile(&srv.api, &project, &mut reported)
        .await
        .expect("the pass runs");
    let holds = srv
        .entries()
        .iter()
        .filter(|e| e.action == "reconcile.hold")
        .count();
    assert_eq!(holds, 1);
    assert_eq!(held.outcome.kind, OutcomeKind::Denied);
    assert_eq!(held.actor.user.as_deref(), Some("system"));
    assert_eq!(held.resource, format!("projects/{project}/services/app"));
    assert!(
        running(&project).is_empty(),
        "the waived container came back"
    );
    let (status, state) = srv
        .call("GET", &format!("/v1/projects/{project}"), Some(&root), None)
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["held"][0]["service"], "app", "{state}");
    assert_eq!(state["held"][0]["activated_by"], "ana", "{state}");
    let reason = state["held"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("root"), "names who can lift it: {reason}");

    // An admin who may grant it deploys it again: it is activated by root and runs.
    let uri = format!("/v1/projects/{project}/deploys");
    let (status, body) = srv
        .call("POST", &uri, Some(&root), Some(&deploy_body(&spec(true))))
        .await;
    assert_eq!(status, 200, "{body}");
    let back = running(&project);
    assert!(
        back.len() == 1 && back[0].1.contains("SYS_PTRACE"),
        "{back:?}"
    );
}
