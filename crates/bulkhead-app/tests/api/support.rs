//! A server's application in a temporary state directory, driven through its router with a
//! mock peer address; accounts and tokens made directly in its store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use bulkhead_app::api::{Api, new_token};
use bulkhead_app::server::http::router;
use bulkhead_audit::AuditLog;
use bulkhead_core::auth::{Binding, Role, Scope, SubjectKind, TokenName, UserName, UserRecord};
use bulkhead_ports::Store;
use serde_json::Value;
use tower::ServiceExt;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub api: Arc<Api>,
    pub audit: Arc<AuditLog>,
    pub peer: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.audit.close();
    }
}

pub async fn server() -> Server {
    server_in(tempfile::tempdir().expect("state dir"), |_| {}).await
}

/// A server whose state directory was prepared by `before` (called before anything opens).
pub async fn server_in(dir: tempfile::TempDir, before: impl FnOnce(&std::path::Path)) -> Server {
    before(dir.path());
    let env: BTreeMap<String, String> = BTreeMap::new();
    let progress: Arc<dyn Fn(bulkhead_ports::Progress) + Send + Sync> = Arc::new(|_| {});
    let root = bulkhead_app::root::open(Some(dir.path()), &env, progress)
        .await
        .expect("the state directory opens");
    Server {
        dir,
        api: root.api,
        audit: root.audit,
        peer: "127.0.0.1:40000".parse().expect("addr"),
    }
}

impl Server {
    /// An account with `bindings` and a token for it.
    pub async fn account(&self, name: &str, bindings: &[(Role, Scope)]) -> String {
        let store = &self.api.deployer.store;
        let user = UserName::new(name).expect("name");
        store
            .add_user(&UserRecord {
                name: user.clone(),
                kind: SubjectKind::User,
                created_at: 1,
                disabled: false,
            })
            .await
            .expect("add user");
        for (role, scope) in bindings {
            store
                .add_binding(&Binding {
                    user: user.clone(),
                    role: *role,
                    scope: scope.clone(),
                })
                .await
                .expect("bind");
        }
        let (secret, record) =
            new_token(&user, TokenName::new("t").expect("token name"), None).expect("token");
        store.add_token(&record).await.expect("add token");
        secret.expose().to_string()
    }

    /// One request through the router: (status, JSON body or Null).
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.call_from(self.peer, method, uri, token, body).await
    }

    pub async fn call_from(
        &self,
        peer: SocketAddr,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(serde_json::to_vec(v).expect("json"))
            }
            None => Body::empty(),
        };
        let app = router(Arc::clone(&self.api)).layer(MockConnectInfo(peer));
        let resp = app
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// Every audit entry so far.
    pub fn entries(&self) -> Vec<bulkhead_core::audit::Entry> {
        let mut out = Vec::new();
        bulkhead_audit::entries(self.dir.path(), &bulkhead_audit::Filter::default(), |e| {
            out.push(e)
        })
        .expect("read audit log");
        out
    }
}

/// A project directory with one Compose file, as a base64 tar bundle body.
pub fn deploy_body(compose: &str) -> Value {
    use base64::Engine as _;
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(compose.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "compose.yaml", compose.as_bytes())
        .expect("append");
    let archive = b.into_inner().expect("tar");
    serde_json::json!({
        "files": ["compose.yaml"],
        "env": {},
        "bundle": base64::engine::general_purpose::STANDARD.encode(archive),
    })
}

/// A spec refused by policy (so an allowed deploy stops at 422 without touching the engine).
pub fn refused_spec() -> &'static str {
    "services:\n  app:\n    image: scratch-none:1\n    privileged: true\n"
}
