//! Third outside round, what it found and is now refused: an unauthenticated upload answered
//! from its head (its body never buffered); a tenant's control characters escaped in error
//! messages and audit entries; a spec's replicas capped as the scale API's; an operator
//! cannot set a secret's value through a deploy's `file:`/`environment:` source.

use base64::Engine as _;
use bulkhead_app::server::listen::Limits;
use bulkhead_core::auth::{Role, Scope};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::https::{ME, https, status};
use super::support::server;

/// Removes the secret directories the projects' containers left on the secret tmpfs (the
/// engine-side cleanup of `outside2::Cleanup` does not reach them).
struct SecretDirs(Vec<String>);

impl Drop for SecretDirs {
    fn drop(&mut self) {
        let root = std::path::Path::new(bulkhead_app::deploy::secret_files::SECRETS_ROOT);
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.0.iter().any(|p| name.starts_with(&format!("{p}."))) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 100_000)
}

/// A deploy body whose tar carries a symlink entry named `name` (written raw into the header,
/// as a hostile client would) next to a valid compose file.
fn bundle_with_link_named(name: &[u8]) -> serde_json::Value {
    let compose = "services:\n  app:\n    image: scratch-none:1\n";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(compose.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "compose.yaml", compose.as_bytes())
        .expect("append");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    let raw = &mut h.as_old_mut().name;
    raw[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &b""[..]).expect("append link");
    let archive = b.into_inner().expect("tar");
    json!({
        "files": ["compose.yaml"],
        "env": {},
        "bundle": base64::engine::general_purpose::STANDARD.encode(archive),
    })
}

/// `POST .../deploys` with no token and `Content-Length` of 60 MB: the server should answer
/// 401 from the head alone. It reads the body first (up to the 64 MiB upload limit, in memory,
/// then hashes it), so the answer only comes once all of it has arrived.
#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_client_cannot_make_the_server_buffer_an_upload_body() {
    let srv = server().await;
    let api = https(&srv, Limits::default()).await;
    let mut tls = api.connect(ME).await.expect("connect");
    let declared = 60_000_000usize;
    let head = format!(
        "POST /v1/projects/victim/deploys HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    // No body at all: a server that waited for it would never answer. (Sending part of it
    // would race the server closing the connection once it has answered.)
    tls.flush().await.expect("flush");
    // The answer comes from the head alone; the rest of the body never has to arrive.
    let mut response = vec![0u8; 4096];
    let n = tls.read(&mut response).await.expect("an answer");
    let text = String::from_utf8_lossy(&response[..n]).into_owned();
    assert_eq!(
        status(&text),
        401,
        "an unauthenticated upload must be refused before its body is read; got: {text}"
    );
    let unauth = srv
        .entries()
        .into_iter()
        .filter(|e| e.action == "project.up")
        .count();
    assert_eq!(unauth, 1, "and audited as it is refused");
}

/// A developer's refused upload names a tar entry `x\r\x1b[2K...`: the name comes back raw in
/// the error message, and the audit entry's reason keeps it — carriage return, escape and all.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_cannot_put_control_characters_into_an_audit_entry() {
    let srv = server().await;
    let project = unique("atk3ctl");
    let dev = srv
        .account(
            "dev",
            &[(
                Role::Developer,
                Scope::Project(bulkhead_core::auth::ProjectName::new(&project).expect("name")),
            )],
        )
        .await;
    // Return to the line start, clear it, draw a fake entry; then hide the rest.
    let forged =
        b"x\r\x1b[2K     7  2026-12-02T12:00:00Z    root   user.add  users/mallory  ok\x1b[8m";
    let body = bundle_with_link_named(forged);
    let (code, reply) = srv
        .call(
            "POST",
            &format!("/v1/projects/{project}/deploys"),
            Some(&dev),
            Some(&body),
        )
        .await;
    assert_eq!(code, 400, "{reply}");
    let entry = srv
        .entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "project.up")
        .expect("an audit entry of the refused deploy");
    let fields = [
        entry.resource.clone(),
        entry.outcome.reason.clone().unwrap_or_default(),
        entry.outcome.code.clone().unwrap_or_default(),
    ];
    for f in &fields {
        assert!(
            !f.chars().any(char::is_control),
            "an audit field holds control characters a tenant chose (`bulkhead audit log` \
             prints it raw to the auditor's terminal): {f:?}"
        );
    }
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.chars().any(char::is_control),
        "the error message echoes the tenant's control characters: {message:?}"
    );
}

fn check_spec(
    name: &str,
    yaml: &str,
) -> Result<bulkhead_core::verdict::Verdict, bulkhead_app::project::OpenError> {
    use bulkhead_app::project::{Origin, ProjectOptions};
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
    let opts = ProjectOptions {
        files: vec![dir.path().join("compose.yaml")],
        project_name: Some(name.into()),
        cwd: dir.path().to_path_buf(),
        origin: Origin::Upload,
        ..ProjectOptions::default()
    };
    bulkhead_app::check::check(&opts).map(|(_, verdict)| verdict)
}

/// `PUT .../replicas` refuses more than 100 (`replicas must be between 0 and 100`); the spec
/// took 1000 per service (20 × 1000 = 20,000 containers from one developer's deploy). Both
/// now share one cap.
#[test]
fn a_spec_cannot_ask_for_more_replicas_than_the_scale_api_allows() {
    let mut yaml = String::from("services:\n");
    for i in 0..20 {
        yaml.push_str(&format!(
            "  s{i}:\n    image: scratch-none:1\n    deploy:\n      replicas: 1000\n"
        ));
    }
    let err = check_spec("atk3many", &yaml).expect_err("1000 replicas refused");
    assert!(err.to_string().contains("more than 100"), "{err}");
    let ok = yaml.replace("replicas: 1000", "replicas: 100");
    assert!(check_spec("atk3many", &ok).is_ok(), "100 is within the cap");
}

/// An operator may deploy any project but may not set or remove secrets (docs/rbac.md: "no
/// secret changes"; `PUT .../secrets/tok` is 403). A deploy whose spec gives the secret an
/// `environment:` source, with the variable in the request's `env`, imports the operator's
/// value as the project's newest version, and every service that uses it gets it: the
/// operator chose the project's token (a JWT key, a database password) after all.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_cannot_set_a_secret_through_a_deploy() {
    use super::common::Cleanup;
    use super::outside2::{import_base, service};
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let srv = server().await;
    let project = unique("atk3op");
    let base = format!("bulkhead-attack3-{project}-base:1");
    let _secret_dirs = SecretDirs(vec![project.clone()]);
    let _cleanup = Cleanup {
        projects: vec![project.clone()],
        images: vec![base.clone()],
        volumes: Vec::new(),
    };
    import_base(&base);
    let own = Scope::Project(bulkhead_core::auth::ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, own)]).await;
    let op = srv.account("op", &[(Role::Operator, Scope::All)]).await;
    let secret_uri = format!("/v1/projects/{project}/secrets/tok");
    let (status, body) = srv
        .call(
            "PUT",
            &secret_uri,
            Some(&dev),
            Some(&json!({"value": b64("the team's")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The operator may not set it directly.
    let (status, body) = srv
        .call(
            "PUT",
            &secret_uri,
            Some(&op),
            Some(&json!({"value": b64("mine")})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Through a deploy, it does.
    let compose = format!(
        "services:\n{}    secrets: [tok]\nsecrets:\n  tok:\n    environment: TOK\n",
        service("app", &format!("image: {base}"))
    );
    let mut deploy = super::outside2::bundle_of(&[("compose.yaml", &compose)]);
    deploy["env"] = json!({"TOK": "mine"});
    let (status, body) = srv
        .call(
            "POST",
            &format!("/v1/projects/{project}/deploys"),
            Some(&op),
            Some(&deploy),
        )
        .await;
    let (_, versions) = srv
        .call("GET", &format!("{secret_uri}/versions"), Some(&dev), None)
        .await;
    let by_op: Vec<_> = versions["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.to_string().contains("\"op\""))
        .collect();
    assert!(
        by_op.is_empty(),
        "the operator's deploy ({status}: {body}) wrote secret versions {by_op:?}; all: {versions}"
    );
}
