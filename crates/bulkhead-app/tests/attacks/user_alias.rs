//! Root by another name: an image whose /etc/passwd gives uid 0 (or gid 0) to a user not called
//! `root` — named by the image's USER or by the spec's `user:` — is refused over the API for a
//! developer, with nothing created; a symlinked /etc/passwd is not followed; a real non-root
//! user deploys, pinned as the numbers that were checked.

use bulkhead_core::auth::{ProjectName, Role, Scope};
use bulkhead_ports::Store;
use serde_json::Value;

use super::common::{Cleanup, Item, by_label, demo_binary, docker, import};
use super::support::{Server, deploy_body, server};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      toor:x:0:0::/root:/bin/sh\n\
                      app:x:10001:10001::/:/sbin/nologin\n\
                      staff:x:10002:0::/:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nwheel:x:0:\napp:x:10001:\n";

struct Fixture {
    srv: Server,
    dev: String,
    project: String,
    /// Images: `USER toor`; no USER; a symlinked /etc/passwd; all runnable (the demo binary).
    toor: String,
    plain: String,
    linked: String,
    _cleanup: Cleanup,
}

async fn fixture(name: &str) -> Fixture {
    let srv = server().await;
    let project = format!("{name}{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("project name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let demo = demo_binary();
    let base = format!("bulkhead-attack-{project}");
    let (toor, plain, linked) = (
        format!("{base}-toor:1"),
        format!("{base}-plain:1"),
        format!("{base}-linked:1"),
    );
    let cleanup = Cleanup {
        projects: vec![project.clone()],
        images: vec![toor.clone(), plain.clone(), linked.clone()],
        volumes: Vec::new(),
    };
    let entry = "ENTRYPOINT [\"/bulkhead-demo\"]";
    let files = |passwd: Item<'static>| -> Vec<Item<'_>> {
        vec![
            passwd,
            Item::File("etc/group", GROUP.as_bytes(), 0o644),
            Item::File("bulkhead-demo", &demo, 0o755),
        ]
    };
    let passwd = || Item::File("etc/passwd", PASSWD.as_bytes(), 0o644);
    import(&toor, &files(passwd()), &["USER toor", entry]);
    import(&plain, &files(passwd()), &[entry]);
    let mut with_link = files(Item::Link("etc/passwd", "/proc/self/environ"));
    with_link.push(Item::File("real-passwd", PASSWD.as_bytes(), 0o644));
    import(&linked, &with_link, &[entry]);
    Fixture {
        srv,
        dev,
        project,
        toor,
        plain,
        linked,
        _cleanup: cleanup,
    }
}

/// A one-service spec running the demo's store role, with its health probe.
fn spec(image: &str, user: Option<&str>) -> String {
    let user = user
        .map(|u| format!("    user: \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        "services:\n  app:\n    image: {image}\n{user}    command: [\"store\"]\n    \
         healthcheck:\n      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]\n      \
         interval: 1s\n      timeout: 2s\n      retries: 30\n"
    )
}

impl Fixture {
    async fn deploy(&self, spec: &str) -> (u16, Value) {
        let (status, body) = self
            .srv
            .call(
                "POST",
                &format!("/v1/projects/{}/deploys", self.project),
                Some(&self.dev),
                Some(&deploy_body(spec)),
            )
            .await;
        (status.as_u16(), body)
    }

    /// The deploy is refused (422, `refused`) with every one of `needles` in its message, and
    /// nothing exists afterwards: no project in the store, no container with its label.
    async fn refused(&self, spec: &str, needles: &[&str]) {
        let (status, body) = self.deploy(spec).await;
        assert_eq!(status, 422, "{spec}\n{body}");
        assert_eq!(body["error"]["code"], "refused", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        for needle in needles {
            assert!(message.contains(needle), "{needle:?} not in: {message}");
        }
        self.nothing_created().await;
    }

    async fn nothing_created(&self) {
        let store = &self.srv.api.deployer.store;
        assert!(
            store
                .get_project(&self.project)
                .await
                .expect("store")
                .is_none(),
            "the project was recorded"
        );
        let label = format!("label=dev.bulkhead.project={}", self.project);
        assert_eq!(by_label(&["ps", "-a"], &label), Vec::<String>::new());
        for image in [&self.toor, &self.plain, &self.linked] {
            let probes = by_label(&["ps", "-a"], &format!("ancestor={image}"));
            assert_eq!(
                probes,
                Vec::<String>::new(),
                "a container of {image} was left"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uid_0_under_another_name_is_refused_both_ways() {
    let f = fixture("ualias").await;
    // (a) The image says `USER toor`; the spec says nothing.
    f.refused(
        &spec(&f.toor, None),
        &[
            "service `app`",
            "rule non-root",
            "the image's USER is `toor`",
            "uid 0 in the image's /etc/passwd",
            "hint:",
        ],
    )
    .await;
    // (b) The spec names the alias, in every form that means uid 0 or gid 0 in this image.
    for (user, what) in [
        ("toor", "uid 0"),
        ("toor:app", "uid 0"),
        (
            "toor:somegroup",
            "group `somegroup` is not in the image's /etc/group",
        ),
        ("app:wheel", "root group (gid 0)"),
        ("10001:wheel", "root group (gid 0)"),
        ("staff", "root group (gid 0)"),
        (
            "4242",
            "uid 4242 with the root group (gid 0) (the uid has no entry",
        ),
        ("ghost", "user `ghost` is not in the image's /etc/passwd"),
    ] {
        f.refused(
            &spec(&f.plain, Some(user)),
            &[
                "service `app`",
                "rule non-root",
                &format!("`user` is `{user}`"),
                what,
            ],
        )
        .await;
    }
    // Root on its face is refused by `check` itself, before any image is looked at.
    for user in ["0", "00", "0:0", "root", "1000:0"] {
        f.refused(&spec(&f.plain, Some(user)), &["rule non-root"])
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_passwd_is_not_followed_and_names_do_not_resolve() {
    let f = fixture("ulink").await;
    f.refused(
        &spec(&f.linked, Some("toor")),
        &[
            "user `toor` cannot be looked up",
            "the image's /etc/passwd is a link, which is not followed",
        ],
    )
    .await;
    f.refused(
        &spec(&f.linked, Some("app")),
        &["the image's /etc/passwd is a link"],
    )
    .await;
    // Nothing of what the link points at reaches the reply (the server's environment).
    let (_, body) = f.deploy(&spec(&f.linked, Some("app"))).await;
    let text = body.to_string();
    assert!(!text.contains("PATH=") && !text.contains("HOME="), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_non_root_user_deploys_pinned_as_numbers() {
    let f = fixture("uctl").await;
    let two = format!(
        "{}  num:\n    image: {}\n    user: \"10001:10001\"\n    command: [\"store\"]\n",
        spec(&f.plain, Some("app")),
        f.linked
    );
    let (status, body) = f.deploy(&two).await;
    assert_eq!(status, 200, "{body}");
    let label = format!("label=dev.bulkhead.project={}", f.project);
    let ids = by_label(&["ps"], &label);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mut users: Vec<String> = ids
        .iter()
        .map(|id| docker(&["inspect", "-f", "{{.Config.User}}", id]))
        .collect();
    users.sort();
    // `app` was resolved through the image's /etc/passwd and pinned as numbers; the numeric
    // user needed no database (the linked one is never read).
    assert_eq!(users, ["10001:10001", "10001:10001"]);
}
