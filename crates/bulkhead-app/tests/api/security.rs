//! The security suite: no token, a forged token, a revoked token, brute force, a deploy that
//! needs a waiver its caller may not grant, an oversized body, failing closed when the audit
//! log cannot be written, and an audit chain that verifies afterwards.

use bulkhead_app::server::routes::ROUTES;
use bulkhead_core::auth::{ProjectName, Role, Scope};
use bulkhead_ports::Store;
use serde_json::json;

use super::support::{deploy_body, server, server_in};

#[tokio::test(flavor = "multi_thread")]
async fn no_token_and_forged_tokens_get_401_on_every_route_and_are_audited() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let forged = format!("{}{}", &admin[..admin.len() - 4], "0000");
    for (i, r) in ROUTES.iter().enumerate() {
        // One source per route: brute-force limiting is per source (tested below).
        let peer = format!("127.0.{i}.1:4000").parse().expect("addr");
        let uri = r
            .path
            .replace("{project}", "own")
            .replace("{service}", "web")
            .replace("{user}", "root")
            .replace("{id}", "0123456789abcdef")
            .replace("{name}", "db");
        for token in [None, Some("not-a-token"), Some(forged.as_str())] {
            let (status, body) = srv
                .call_from(peer, r.method.name(), &uri, token, None)
                .await;
            assert_eq!(
                status,
                401,
                "{} {uri} with {token:?}: {body}",
                r.method.name()
            );
            assert_eq!(body["error"]["code"], "unauthenticated");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains(&admin[4..]),
                "the token is echoed: {message}"
            );
        }
    }
    let entries = srv.entries();
    let unauth = entries
        .iter()
        .filter(|e| e.outcome.kind == bulkhead_core::audit::OutcomeKind::Unauthenticated)
        .count();
    assert!(
        unauth >= ROUTES.len() * 3,
        "{unauth} unauthenticated entries"
    );
    assert!(
        entries.iter().all(|e| !serde_json::to_string(e)
            .unwrap_or_default()
            .contains(&admin[4..])),
        "a token reached the audit log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_rate_limited_per_source() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let attacker = "127.0.0.9:5000".parse().expect("addr");
    let mut limited = None;
    for i in 0..40 {
        let guess = format!("bhk_{:016x}_{}", i, "0".repeat(64));
        let (status, _) = srv
            .call_from(attacker, "GET", "/v1/projects", Some(&guess), None)
            .await;
        if status == 429 {
            limited = Some(i);
            break;
        }
        assert_eq!(status, 401);
    }
    let at = limited.expect("never rate limited");
    assert_eq!(at, bulkhead_app::api::dispatch::MAX_FAILURES as usize);
    // A valid token is still served from that source (the flood cannot lock its owner out);
    // further bad ones keep getting 429; other sources are not affected.
    let (status, _) = srv
        .call_from(attacker, "GET", "/v1/projects", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    let forged = format!("{}{}", &admin[..admin.len() - 4], "0000");
    let (status, body) = srv
        .call_from(attacker, "GET", "/v1/projects", Some(&forged), None)
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, _) = srv.call("GET", "/v1/projects", Some(&forged), None).await;
    assert_eq!(status, 401);
    let (status, _) = srv.call("GET", "/v1/projects", Some(&admin), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_or_expired_token_is_refused() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let (status, body) = srv
        .call(
            "POST",
            "/v1/users/root/tokens",
            Some(&admin),
            Some(&json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = body["token"].as_str().expect("token").to_string();
    let id = body["record"]["id"].as_str().expect("id").to_string();
    let (status, _) = srv.call("GET", "/v1/users", Some(&second), None).await;
    assert_eq!(status, 200);
    let (status, body) = srv
        .call(
            "DELETE",
            &format!("/v1/users/root/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = srv.call("GET", "/v1/users", Some(&second), None).await;
    assert_eq!(status, 401);
    // Listing shows the revocation, never a secret.
    let (_, body) = srv
        .call("GET", "/v1/users/root/tokens", Some(&admin), None)
        .await;
    let text = body.to_string();
    assert!(
        text.contains("revoked_at") && !text.contains(&second[4..]),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiver_needs_an_admin_and_the_refusal_says_who() {
    let srv = server().await;
    srv.account("ana", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new("own").expect("p"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let spec = "services:\n  app:\n    image: scratch-none:1\n    privileged: true\n    x-bulkhead:\n      waivers:\n        - rule: no-privileged\n          reason: needs the device\n";
    let (status, body) = srv
        .call(
            "POST",
            "/v1/projects/own/deploys",
            Some(&dev),
            Some(&deploy_body(spec)),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no-privileged") && message.contains("ana"),
        "{message}"
    );
    let denied = srv
        .entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "project.up")
        .expect("entry");
    assert_eq!(
        denied.outcome.kind,
        bulkhead_core::audit::OutcomeKind::Denied
    );
    assert!(
        denied.body_sha256.is_some(),
        "the body is hashed, not stored"
    );
    assert!(
        srv.api
            .deployer
            .store
            .get_project("own")
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_requests_are_refused_and_audited() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let big = json!({"replicas": 1, "pad": "x".repeat(2 << 20)});
    let (status, body) = srv
        .call(
            "PUT",
            "/v1/projects/own/services/web/replicas",
            Some(&admin),
            Some(&big),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    let (status, body) = srv
        .call(
            "POST",
            "/v1/users",
            Some(&admin),
            Some(&json!({"name": "../etc"})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, body) = srv
        .call(
            "POST",
            "/v1/projects/own/deploys",
            Some(&admin),
            Some(&json!({"bundle": "!!"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = srv
        .call("GET", "/v1/nothing-here", Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = srv.call("PATCH", "/v1/users", Some(&admin), None).await;
    assert_eq!(status, 405);
    let failed = srv
        .entries()
        .iter()
        .filter(|e| e.outcome.kind == bulkhead_core::audit::OutcomeKind::Failed)
        .count();
    assert!(failed >= 5, "{failed} failed entries");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_every_route() {
    let srv = server().await;
    let (status, doc) = srv.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.name().to_lowercase()];
        assert_eq!(
            op["operationId"],
            r.action.name().replace('.', "_"),
            "{} {}",
            r.method.name(),
            r.path
        );
        if let Some(body) = r.body {
            assert!(doc["components"]["schemas"][body].is_object(), "{body}");
        }
    }
}

/// Root can write anywhere, so "unwritable" is a full file system: the audit directory is a
/// 1 MiB tmpfs, filled up once the log is open.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_audit_log_full_a_deploy_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let audit_dir = dir.path().join("audit");
    std::fs::create_dir_all(&audit_dir).expect("audit dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&audit_dir)
        .status()
        .expect("mount runs");
    assert!(mounted.success(), "mounting a tmpfs needs root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(audit_dir.clone());
    let srv = server_in(dir, |_| {}).await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let (status, _) = srv.call("GET", "/v1/users", Some(&admin), None).await;
    assert_eq!(status, 200, "the log works before it is full");
    // Fill the file system; the segment's last page may still take a few entries.
    let filler = audit_dir.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 2 << 20]);
    let mut refused = false;
    for _ in 0..2000 {
        let (status, body) = srv.call("GET", "/v1/users", Some(&admin), None).await;
        if status == 503 {
            assert_eq!(body["error"]["code"], "audit_unavailable");
            refused = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert!(refused, "reads fail closed once the log is full");

    let spec = "services:\n  app:\n    image: scratch-none:1\n";
    let (status, body) = srv
        .call(
            "POST",
            "/v1/projects/closed/deploys",
            Some(&admin),
            Some(&deploy_body(spec)),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    let (status, _) = srv
        .call(
            "PUT",
            "/v1/projects/closed/services/app/replicas",
            Some(&admin),
            Some(&json!({"replicas": 3})),
        )
        .await;
    assert_eq!(status, 503);
    assert!(
        srv.api
            .deployer
            .store
            .get_project("closed")
            .await
            .expect("store")
            .is_none(),
        "nothing was recorded"
    );
    let images = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=dev.bulkhead.project=closed"])
        .output()
        .expect("docker ps");
    assert!(images.stdout.is_empty(), "a container was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chain_verifies_after_a_busy_session() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let mut tasks = Vec::new();
    let srv = std::sync::Arc::new(srv);
    for _ in 0..16 {
        let (s, t) = (std::sync::Arc::clone(&srv), admin.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let (status, _) = s.call("GET", "/v1/projects", Some(&t), None).await;
                assert_eq!(status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    srv.audit.close().expect("close");
    let summary =
        bulkhead_audit::verify(srv.dir.path(), Some(&srv.audit.public_key())).expect("verify");
    assert!(summary.entries >= 320, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_write_only_bounded_and_their_bodies_are_not_hashed() {
    use base64::Engine as _;
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let own = Scope::Project(ProjectName::new("own").expect("p"));
    let viewer = srv.account("eve", &[(Role::Viewer, own)]).await;
    let canary = format!("canary-{}", std::process::id());
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let (status, body) = srv
        .call(
            "PUT",
            "/v1/projects/own/secrets/db",
            Some(&admin),
            Some(&json!({"value": b64(canary.as_bytes())})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    // A viewer sees names and versions, never a value; nobody can read one back.
    for (token, uri) in [
        (&viewer, "/v1/projects/own/secrets"),
        (&viewer, "/v1/projects/own/secrets/db/versions"),
        (&admin, "/v1/projects/own/secrets/db/versions"),
    ] {
        let (status, body) = srv.call("GET", uri, Some(token), None).await;
        assert_eq!(status, 200, "{uri}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains(&canary) && !text.contains(&b64(canary.as_bytes())),
            "{text}"
        );
    }
    let (status, _) = srv
        .call(
            "PUT",
            "/v1/projects/own/secrets/db",
            Some(&viewer),
            Some(&json!({"value": "eA=="})),
        )
        .await;
    assert_eq!(status, 403);
    // Bad input: empty, over 1 MiB, names that are paths.
    let (status, body) = srv
        .call(
            "PUT",
            "/v1/projects/own/secrets/db",
            Some(&admin),
            Some(&json!({"value": ""})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let big = b64(&vec![b'x'; (1 << 20) + 1]);
    let (status, body) = srv
        .call(
            "PUT",
            "/v1/projects/own/secrets/db",
            Some(&admin),
            Some(&json!({"value": big})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1 MiB"),
        "{body}"
    );
    let ten = b64(&vec![b'x'; 10 << 20]);
    let (status, body) = srv
        .call(
            "PUT",
            "/v1/projects/own/secrets/db",
            Some(&admin),
            Some(&json!({"value": ten})),
        )
        .await;
    assert_eq!(
        status, 413,
        "10 MiB is refused before it is decoded: {body}"
    );
    for name in ["..", "a%2Fb", "a%00b", "%2E%2E"] {
        let (status, body) = srv
            .call(
                "PUT",
                &format!("/v1/projects/own/secrets/{name}"),
                Some(&admin),
                Some(&json!({"value": "eA=="})),
            )
            .await;
        assert!(status == 400 || status == 404, "{name}: {status} {body}");
    }
    // The audit log names who set which secret, but keeps no hash of the value's body.
    let set = srv
        .entries()
        .into_iter()
        .filter(|e| e.action == "secret.set")
        .collect::<Vec<_>>();
    assert!(!set.is_empty());
    assert!(set.iter().all(|e| e.body_sha256.is_none()), "{set:?}");
    let log = serde_json::to_string(&srv.entries()).unwrap_or_default();
    assert!(!log.contains(&canary) && !log.contains(&b64(canary.as_bytes())));
    // The store file holds no trace of the value either.
    for entry in std::fs::read_dir(srv.dir.path())
        .expect("state dir")
        .flatten()
    {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).expect("read");
            let hay = String::from_utf8_lossy(&bytes);
            assert!(
                !hay.contains(&canary),
                "{} holds the canary",
                entry.path().display()
            );
        }
    }
}
