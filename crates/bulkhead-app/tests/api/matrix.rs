//! The authorization matrix over HTTP: every route × every role × own / other project (or own
//! / other account). A route without a row here fails the test; a cell passes when the router
//! answers 401/403 exactly when `authorize` denies, and the denial is audited.

use std::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_app::server::routes::{Method, ROUTES};
use bulkhead_core::auth::{
    Action, Binding, ProjectName, Resource, Role, Scope, Subject, SubjectKind, UserName, authorize,
};
use serde_json::{Value, json};

use super::support::{Server, deploy_body, refused_spec, server};

const OWN: &str = "own";
const OTHER: &str = "other";

/// Which object a cell acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Global,
    OwnProject,
    OtherProject,
    SelfAccount,
    OtherAccount,
}

/// The request of one cell: URI and body, given the project and the account it targets (and a
/// token id of that account, for revocation).
type Build = fn(project: &str, user: &str, token_id: &str) -> (String, Option<Value>);

/// One row per route: (method, path pattern, request builder).
fn rows() -> Vec<(Method, &'static str, Build)> {
    vec![
        (Method::Get, "/v1/projects", |_, _, _| {
            ("/v1/projects".into(), None)
        }),
        (Method::Get, "/v1/projects/{project}", |p, _, _| {
            (format!("/v1/projects/{p}"), None)
        }),
        (Method::Post, "/v1/projects/{project}/deploys", |p, _, _| {
            (
                format!("/v1/projects/{p}/deploys"),
                Some(deploy_body(refused_spec())),
            )
        }),
        (Method::Post, "/v1/projects/{project}/plans", |p, _, _| {
            (
                format!("/v1/projects/{p}/plans"),
                Some(deploy_body(refused_spec())),
            )
        }),
        (Method::Delete, "/v1/projects/{project}", |p, _, _| {
            (format!("/v1/projects/{p}"), None)
        }),
        (Method::Get, "/v1/projects/{project}/services", |p, _, _| {
            (format!("/v1/projects/{p}/services"), None)
        }),
        (
            Method::Put,
            "/v1/projects/{project}/services/{service}/replicas",
            |p, _, _| {
                (
                    format!("/v1/projects/{p}/services/web/replicas"),
                    Some(json!({"replicas": 2})),
                )
            },
        ),
        (
            Method::Post,
            "/v1/projects/{project}/services/{service}/rollbacks",
            |p, _, _| {
                (
                    format!("/v1/projects/{p}/services/web/rollbacks"),
                    Some(json!({})),
                )
            },
        ),
        (
            Method::Get,
            "/v1/projects/{project}/services/{service}/logs",
            |p, _, _| (format!("/v1/projects/{p}/services/web/logs?tail=5"), None),
        ),
        (
            Method::Get,
            "/v1/projects/{project}/services/{service}/releases",
            |p, _, _| (format!("/v1/projects/{p}/services/web/releases"), None),
        ),
        (Method::Get, "/v1/audit", |_, _, _| {
            ("/v1/audit?limit=5".into(), None)
        }),
        (Method::Get, "/v1/audit/export", |_, _, _| {
            ("/v1/audit/export".into(), None)
        }),
        (Method::Get, "/v1/users", |_, _, _| {
            ("/v1/users".into(), None)
        }),
        (Method::Post, "/v1/users", |_, u, _| {
            (
                "/v1/users".into(),
                Some(json!({"name": format!("{u}-new"), "role": "viewer", "project": OWN})),
            )
        }),
        (Method::Delete, "/v1/users/{user}", |_, u, _| {
            (format!("/v1/users/{u}"), None)
        }),
        (Method::Get, "/v1/users/{user}/tokens", |_, u, _| {
            (format!("/v1/users/{u}/tokens"), None)
        }),
        (Method::Post, "/v1/users/{user}/tokens", |_, u, _| {
            (
                format!("/v1/users/{u}/tokens"),
                Some(json!({"name": "ci", "expires_in": 3600})),
            )
        }),
        (Method::Delete, "/v1/users/{user}/tokens/{id}", |_, u, t| {
            (format!("/v1/users/{u}/tokens/{t}"), None)
        }),
        (Method::Get, "/v1/users/{user}/bindings", |_, u, _| {
            (format!("/v1/users/{u}/bindings"), None)
        }),
        (Method::Post, "/v1/users/{user}/bindings", |_, u, _| {
            (
                format!("/v1/users/{u}/bindings"),
                Some(json!({"role": "viewer", "project": OWN})),
            )
        }),
        (Method::Delete, "/v1/users/{user}/bindings", |_, u, _| {
            (
                format!("/v1/users/{u}/bindings?role=viewer&project={OWN}"),
                None,
            )
        }),
        (Method::Get, "/v1/projects/{project}/secrets", |p, _, _| {
            (format!("/v1/projects/{p}/secrets"), None)
        }),
        (
            Method::Put,
            "/v1/projects/{project}/secrets/{name}",
            |p, _, _| {
                (
                    format!("/v1/projects/{p}/secrets/db"),
                    Some(json!({"value": "c2VjcmV0"})),
                )
            },
        ),
        (
            Method::Get,
            "/v1/projects/{project}/secrets/{name}/versions",
            |p, _, _| (format!("/v1/projects/{p}/secrets/db/versions"), None),
        ),
        (
            Method::Delete,
            "/v1/projects/{project}/secrets/{name}",
            |p, _, _| (format!("/v1/projects/{p}/secrets/nothing"), None),
        ),
        (Method::Post, "/v1/keys/rotations", |_, _, _| {
            ("/v1/keys/rotations".into(), None)
        }),
        (Method::Get, "/v1/status", |_, _, _| {
            ("/v1/status".into(), None)
        }),
    ]
}

/// The roles under test, each with the bindings its account gets (`None`: no binding at all).
fn roles() -> Vec<(&'static str, Option<(Role, Scope)>)> {
    let own = || Scope::Project(ProjectName::new(OWN).expect("project"));
    vec![
        ("admin", Some((Role::Admin, Scope::All))),
        ("operator", Some((Role::Operator, Scope::All))),
        ("developer", Some((Role::Developer, own()))),
        ("viewer", Some((Role::Viewer, own()))),
        ("auditor", Some((Role::Auditor, Scope::All))),
        ("nobody", None),
    ]
}

fn targets(action: Action) -> Vec<Target> {
    match action.resource_kind() {
        bulkhead_core::auth::ResourceKind::Global => vec![Target::Global],
        bulkhead_core::auth::ResourceKind::Project => {
            vec![Target::OwnProject, Target::OtherProject]
        }
        bulkhead_core::auth::ResourceKind::User => vec![Target::SelfAccount, Target::OtherAccount],
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Runs one cell; returns (allowed by `authorize`, HTTP status, body).
async fn cell(
    srv: &Server,
    action: Action,
    build: Build,
    role: &(&str, Option<(Role, Scope)>),
    target: Target,
) -> (bool, u16, Value) {
    let me = fresh(role.0);
    let bindings: Vec<(Role, Scope)> = role.1.iter().cloned().collect();
    let token = srv.account(&me, &bindings).await;
    let user = match target {
        Target::OtherAccount => {
            let victim = fresh("victim");
            srv.account(
                &victim,
                &[(
                    Role::Viewer,
                    Scope::Project(ProjectName::new(OWN).expect("p")),
                )],
            )
            .await;
            victim
        }
        _ => me.clone(),
    };
    // A token of the targeted account, to revoke.
    let target_name = UserName::new(&user).expect("user");
    let (_, extra) = bulkhead_app::api::new_token(
        &target_name,
        bulkhead_core::auth::TokenName::new("spare").expect("name"),
        None,
    )
    .expect("token");
    bulkhead_ports::Store::add_token(&*srv.api.deployer.store, &extra)
        .await
        .expect("add token");
    let project = if target == Target::OtherProject {
        OTHER
    } else {
        OWN
    };
    let (uri, body) = build(project, &user, extra.id.as_str());
    let method = ROUTES
        .iter()
        .find(|r| r.action == action)
        .map(|r| r.method.name())
        .expect("route");
    let (status, json) = srv.call(method, &uri, Some(&token), body.as_ref()).await;

    let name = UserName::new(&me).expect("name");
    let subject_bindings = bindings
        .into_iter()
        .map(|(role, scope)| Binding {
            user: name.clone(),
            role,
            scope,
        })
        .collect();
    let subject = Subject::new(name, SubjectKind::User, subject_bindings).expect("subject");
    let resource = match target {
        Target::Global => Resource::Global,
        Target::OwnProject | Target::OtherProject => {
            Resource::Project(ProjectName::new(project).expect("project"))
        }
        // `user.add` names the account it creates.
        Target::SelfAccount | Target::OtherAccount if action == Action::UserAdd => {
            Resource::User(UserName::new(&format!("{user}-new")).expect("name"))
        }
        Target::SelfAccount | Target::OtherAccount => Resource::User(target_name),
    };
    let allowed = authorize(&subject, action, &resource).is_allow();
    (allowed, status.as_u16(), json)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_every_role_own_and_other() {
    let srv = server().await;
    let rows = rows();
    // Every route has exactly one row, and every row is a route.
    for r in ROUTES {
        let n = rows
            .iter()
            .filter(|(m, p, _)| *m == r.method && *p == r.path)
            .count();
        assert_eq!(
            n,
            1,
            "route {} {} needs exactly one matrix row",
            r.method.name(),
            r.path
        );
    }
    assert_eq!(rows.len(), ROUTES.len(), "a matrix row names no route");

    let mut failures = Vec::new();
    let mut cells = 0;
    for (method, path, build) in rows {
        let route = ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path)
            .expect("route");
        for role in roles() {
            for target in targets(route.action) {
                cells += 1;
                let before = srv.entries().len();
                let (allowed, status, body) = cell(&srv, route.action, build, &role, target).await;
                let denied = status == 401 || status == 403;
                if allowed == denied {
                    failures.push(format!(
                        "{} {path} as {} on {target:?}: authorize says {}, got {status} {body}",
                        method.name(),
                        role.0,
                        if allowed { "allow" } else { "deny" },
                    ));
                }
                if !allowed && (status != 403 || body["error"]["code"] != "forbidden") {
                    failures.push(format!(
                        "{} {path} as {} on {target:?}: a denial must be 403 forbidden, got {status} {body}",
                        method.name(),
                        role.0
                    ));
                }
                let after = srv.entries();
                let logged = after[before..].iter().any(|e| {
                    e.action == route.action.name()
                        && (allowed || e.outcome.kind == bulkhead_core::audit::OutcomeKind::Denied)
                });
                if !logged {
                    failures.push(format!(
                        "{} {path} as {} on {target:?}: no audit entry",
                        method.name(),
                        role.0
                    ));
                }
            }
        }
    }
    assert!(cells > 200, "{cells} cells");
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
