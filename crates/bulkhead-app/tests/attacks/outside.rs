//! Holes found attacking the F5 fixes from outside, as a developer of one project: each test
//! states what must hold and fails while the hole is open.
//!
//! - a `non-root` waiver that `check` cannot judge (the user is a name, or the image's USER) is
//!   only "flagged" there, so a developer's deploy carrying it is not asked for `waiver.grant`,
//!   and the deploy step then honours it: the container runs as uid 0;
//! - a project's named volumes are `<project>-<name>` on the engine, and an `external: true`
//!   volume is mounted by that name without being created or checked: project `p` declaring
//!   `db-data` external mounts project `p-db`'s volume `data`.

use bulkhead_core::auth::{ProjectName, Role, Scope};

use super::common::{Cleanup, Item, by_label, demo_binary, docker, import};
use super::support::{deploy_body, server};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      toor:x:0:0::/root:/bin/sh\n\
                      app:x:10001:10001::/:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\napp:x:10001:\n";

/// The demo's store role with its health probe; `user` and `extra` (service keys) as given,
/// and `top` appended at the top level.
fn spec(service: &str, image: &str, user: Option<&str>, extra: &str, top: &str) -> String {
    let user = user
        .map(|u| format!("    user: \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        "services:\n  {service}:\n    image: {image}\n{user}    command: [\"store\"]\n    \
         healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      \
         interval: 1s\n      timeout: 2s\n      retries: 30\n{extra}{top}"
    )
}

const NON_ROOT_WAIVER: &str = "    x-bulkhead:\n      waivers:\n        - rule: non-root\n          reason: the developer says so\n";

/// A developer (no `waiver.grant`) sends a `non-root` waiver with a user that `check` cannot
/// judge by its face — a name (`user: toor`) or none at all (the image's USER). `check` only
/// flags the waiver ("kept for the user, resolved at deploy"), so the API's waiver check sees
/// no waived rule and lets the deploy through; the deploy step then honours the waiver for
/// uid 0. Nothing in the release records the waiver either, so rollback, scale and the
/// reconciler never ask for it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_developer_cannot_run_as_root_through_a_waiver_check_could_not_judge() {
    let srv = server().await;
    let project = format!("atkroot{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let demo = demo_binary();
    let (named, bare) = (
        format!("bulkhead-attack-{project}-toor:1"),
        format!("bulkhead-attack-{project}-bare:1"),
    );
    let _cleanup = Cleanup {
        projects: vec![project.clone()],
        images: vec![named.clone(), bare.clone()],
        volumes: Vec::new(),
    };
    let files = [
        Item::File("etc/passwd", PASSWD.as_bytes(), 0o644),
        Item::File("etc/group", GROUP.as_bytes(), 0o644),
        Item::File("bulkhead-demo", &demo, 0o755),
    ];
    let entry = "ENTRYPOINT [\"/bulkhead-demo\"]";
    import(&named, &files, &[entry]);
    import(&bare, &files, &[entry]);
    let uri = format!("/v1/projects/{project}/deploys");
    let label = format!("label=dev.bulkhead.project={project}");
    for (image, user) in [(&named, Some("toor")), (&bare, None)] {
        let body = deploy_body(&spec("app", image, user, NON_ROOT_WAIVER, ""));
        let (status, reply) = srv.call("POST", &uri, Some(&dev), Some(&body)).await;
        let users: Vec<String> = by_label(&["ps", "-a"], &label)
            .iter()
            .map(|id| docker(&["inspect", "-f", "{{.Config.User}}", id]))
            .collect();
        assert!(
            users.iter().all(|u| !u.starts_with("0:")),
            "user {user:?} in {image}: a developer's deploy ({status}) created containers running as {users:?}: {reply}"
        );
        assert_eq!(
            status.as_u16(),
            403,
            "user {user:?}: a `non-root` waiver needs waiver.grant: {reply}"
        );
    }
}

/// A project's named volume `v` is `<project>-v` on the engine, so project `p` and project
/// `p-db` share a namespace: `p`'s volume `db-data` is `p-db`'s volume `data`. Creating it is
/// refused (the existing volume carries the other project's labels), but an `external: true`
/// volume is neither created nor checked: it is mounted by that name. A developer of `p`
/// alone then reads and writes the data of `p-db`.
#[tokio::test(flavor = "multi_thread")]
async fn a_project_cannot_mount_another_projects_volume_by_declaring_it_external() {
    let srv = server().await;
    let attacker = format!("atkvol{}", std::process::id());
    let victim = format!("{attacker}-db");
    let stolen = format!("{victim}-data");
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(&attacker).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let demo = demo_binary();
    let image = format!("bulkhead-attack-{attacker}:1");
    let _cleanup = Cleanup {
        projects: vec![attacker.clone(), victim.clone()],
        images: vec![image.clone()],
        volumes: vec![stolen.clone(), format!("{attacker}-ext")],
    };
    import(
        &image,
        &[
            Item::File("etc/passwd", PASSWD.as_bytes(), 0o644),
            Item::File("etc/group", GROUP.as_bytes(), 0o644),
            Item::File("bulkhead-demo", &demo, 0o755),
        ],
        &["ENTRYPOINT [\"/bulkhead-demo\"]", "USER 10001:10001"],
    );

    // The victim project, deployed by an admin: one service with its named volume `data`.
    let victim_spec = spec(
        "store",
        &image,
        None,
        "    volumes: [\"data:/data\"]\n",
        "volumes:\n  data:\n",
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{victim}/deploys"),
            Some(&ana),
            Some(&deploy_body(&victim_spec)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let owner = docker(&[
        "volume",
        "inspect",
        "-f",
        "{{index .Labels \"dev.bulkhead.project\"}}",
        &stolen,
    ]);
    assert_eq!(owner, victim, "the victim's volume is {stolen}");

    // The attacker's project, by its developer: "its" external volume `db-data`.
    let thief = spec(
        "thief",
        &image,
        None,
        "    volumes: [\"db-data:/loot\"]\n",
        "volumes:\n  db-data:\n    external: true\n",
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&deploy_body(&thief)),
        )
        .await;
    let label = format!("label=dev.bulkhead.project={attacker}");
    let mounted: Vec<String> = by_label(&["ps", "-a"], &label)
        .iter()
        .map(|id| docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", id]))
        .collect();
    assert!(
        mounted
            .iter()
            .all(|m| !m.split_whitespace().any(|n| n == stolen)),
        "project {attacker} ({status}) mounted project {victim}'s volume {stolen}: {mounted:?} {body}"
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("does not belong to project"),
        "{body}"
    );

    // An external volume the admin labelled for the project is mounted by its own name.
    let own_volume = format!("{attacker}-ext");
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("dev.bulkhead.project={attacker}"),
        &own_volume,
    ]);
    let allowed = spec(
        "keeper",
        &image,
        None,
        "    volumes: [\"shared:/shared\"]\n",
        &format!("volumes:\n  shared:\n    external: true\n    name: {own_volume}\n"),
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&deploy_body(&allowed)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mounted: Vec<String> = by_label(&["ps", "-a"], &label)
        .iter()
        .map(|id| docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", id]))
        .collect();
    assert!(
        mounted
            .iter()
            .any(|m| m.split_whitespace().any(|n| n == own_volume)),
        "{mounted:?}"
    );
}

/// Container names meet the same way: project `p` service `db-x` and project `p-db` service
/// `x` are both `p-db-x-1`. The second deploy must not move the first project's container aside
/// (as it would its own, being replaced): it is refused, and the other container is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_project_cannot_move_another_projects_container_by_its_name() {
    let srv = server().await;
    let attacker = format!("atkname{}", std::process::id());
    let victim = format!("{attacker}-db");
    let ana = srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new(&attacker).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let demo = demo_binary();
    let image = format!("bulkhead-attack-{attacker}:1");
    let _cleanup = Cleanup {
        projects: vec![attacker.clone(), victim.clone()],
        images: vec![image.clone()],
        volumes: Vec::new(),
    };
    import(
        &image,
        &[
            Item::File("etc/passwd", PASSWD.as_bytes(), 0o644),
            Item::File("etc/group", GROUP.as_bytes(), 0o644),
            Item::File("bulkhead-demo", &demo, 0o755),
        ],
        &["ENTRYPOINT [\"/bulkhead-demo\"]", "USER 10001:10001"],
    );
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{victim}/deploys"),
            Some(&ana),
            Some(&deploy_body(&spec("x", &image, None, "", ""))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let name = format!("{victim}-x-1");
    let before = docker(&["inspect", "-f", "{{.Id}} {{.Name}}", &name]);
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{attacker}/deploys"),
            Some(&dev),
            Some(&deploy_body(&spec("db-x", &image, None, "", ""))),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "a container named {name} exists but does not belong"
        )),
        "{message}"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.Id}} {{.Name}}", &name]),
        before,
        "the other project's container keeps its name"
    );
}
