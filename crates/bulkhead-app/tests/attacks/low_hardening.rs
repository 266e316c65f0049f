//! Loosening the kernel's confinement one option at a time: SELinux labels (`type:spc_t`,
//! `disable`), AppArmor and seccomp profiles (custom or unconfined), unmasked /proc paths, an
//! executable tmpfs — each posted to the API by a developer and refused with the rule named,
//! nothing created; the file a seccomp profile names never reaches a reply or the audit log
//! (nothing in Bulkhead opens it); a waiver needs an admin.

use bulkhead_core::auth::{ProjectName, Role, Scope};
use bulkhead_ports::Store;

use super::support::{Server, deploy_body, server};

fn spec(body: &str) -> String {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("services:\n  app:\n    image: scratch-none:1\n    user: \"10001:10001\"\n{indented}")
}

async fn nothing_created(srv: &Server, project: &str) {
    let store = &srv.api.deployer.store;
    assert!(
        store.get_project(project).await.expect("store").is_none(),
        "the project was recorded"
    );
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.bulkhead.project={project}"),
        ])
        .output()
        .expect("docker runs");
    assert!(out.stdout.is_empty(), "a container was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_loosening_option_is_refused_for_a_developer_with_its_rule() {
    let srv = server().await;
    let project = format!("lowh{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let uri = format!("/v1/projects/{project}/deploys");
    let cases = [
        ("security_opt: [\"label=type:spc_t\"]", "apparmor-default"),
        ("security_opt: [\"label:type:spc_t\"]", "apparmor-default"),
        ("security_opt: [\"label=disable\"]", "apparmor-default"),
        ("security_opt: [\"label:disable\"]", "apparmor-default"),
        (
            "security_opt: [\"label=user:system_u\"]",
            "apparmor-default",
        ),
        ("security_opt: [\"apparmor=myprofile\"]", "apparmor-default"),
        (
            "security_opt: [\"apparmor:unconfined\"]",
            "apparmor-default",
        ),
        ("security_opt: [\"seccomp=x.json\"]", "seccomp-default"),
        ("security_opt: [\"seccomp:unconfined\"]", "seccomp-default"),
        ("security_opt: [\"systempaths=unconfined\"]", "masked-paths"),
        ("tmpfs: [\"/x:exec\"]", "noexec-tmpfs"),
        ("tmpfs: [\"/x:rw,exec,size=1m\"]", "noexec-tmpfs"),
    ];
    for (body, rule) in cases {
        let (status, reply) = srv
            .call("POST", &uri, Some(&dev), Some(&deploy_body(&spec(body))))
            .await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], "refused", "{body}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("rule {rule}")),
            "{body}: {message}"
        );
        nothing_created(&srv, &project).await;
    }
    // An option the engine does not know is not a policy question: the spec is invalid.
    let (status, reply) = srv
        .call(
            "POST",
            &uri,
            Some(&dev),
            Some(&deploy_body(&spec(
                "security_opt: [\"SECCOMP=unconfined\"]",
            ))),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is not an option Docker knows"),
        "{reply}"
    );
    // A waiver would relax it, but only an admin may grant one.
    srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let waived = spec(
        "security_opt: [\"label=type:spc_t\"]\nx-bulkhead:\n  waivers:\n    - rule: apparmor-default\n      reason: needs it\n",
    );
    let (status, reply) = srv
        .call("POST", &uri, Some(&dev), Some(&deploy_body(&waived)))
        .await;
    assert_eq!(status, 403, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("apparmor-default"), "{message}");
    nothing_created(&srv, &project).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seccomp_profile_path_is_refused_and_its_file_never_echoed() {
    let srv = server().await;
    let project = format!("lows{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    // A file of the server's own, with a canary in it, named by the tenant's spec.
    let dir = tempfile::tempdir().expect("temp dir");
    let canary = format!("canary-{}-seccomp", std::process::id());
    let profile = dir.path().join("profile.json");
    std::fs::write(&profile, format!("{{\"defaultAction\":\"{canary}\"}}")).expect("write");
    let body = format!("security_opt: [\"seccomp={}\"]", profile.display());
    let (status, reply) = srv
        .call(
            "POST",
            &format!("/v1/projects/{project}/deploys"),
            Some(&dev),
            Some(&deploy_body(&spec(&body))),
        )
        .await;
    assert_eq!(status, 422, "{reply}");
    assert!(!reply.to_string().contains(&canary), "{reply}");
    let audit = serde_json::to_string(&srv.entries()).expect("json");
    assert!(
        !audit.contains(&canary),
        "the profile reached the audit log"
    );
    nothing_created(&srv, &project).await;
}
