//! The API's routes as data: method, path, the RBAC action each one executes, its summary, and
//! how a request becomes a typed `Command`. The router, the OpenAPI document and the route
//! matrix test are all built from this one table.

use std::collections::HashMap;

use base64::Engine as _;
use bulkhead_core::auth::{
    Action, Binding, ProjectName, Role, Scope, SubjectKind, TokenId, TokenName, UserName,
};
use bulkhead_core::names::ServiceName;
use serde::de::DeserializeOwned;

use super::bodies::{
    BindingBody, DeployBody, RollbackBody, ScaleBody, SecretBody, TokenBody, UserBody,
};
use crate::api::{ApiError, AuditQuery, Bundle, Command, Source};

/// What a handler has to parse.
pub struct Parts<'a> {
    pub path: &'a HashMap<String, String>,
    pub query: &'a HashMap<String, String>,
    pub body: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What a query parameter holds (its OpenAPI schema follows from it, and so does its parsing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `true` or `false`.
    Boolean,
    /// A count or a sequence number: 0 to 2^64 - 1.
    Count,
    /// A page size: 1 to [`MAX_AUDIT_PAGE`].
    Limit,
    /// An RFC 3339 time.
    Time,
    /// Free text.
    Text,
    /// A role's name.
    Role,
    /// A project's name.
    Project,
}

/// A query parameter of a route.
pub struct QueryParam {
    pub name: &'static str,
    pub kind: Param,
    pub required: bool,
    pub about: &'static str,
}

const fn optional(name: &'static str, kind: Param, about: &'static str) -> QueryParam {
    QueryParam {
        name,
        kind,
        required: false,
        about,
    }
}

/// The most audit entries one page holds.
pub const MAX_AUDIT_PAGE: u64 = 1000;

/// One route of the API.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub action: Action,
    /// The JSON body's schema name (components/schemas), if the route takes one.
    pub body: Option<&'static str>,
    /// Query parameters.
    pub query: &'static [QueryParam],
    /// Largest body accepted (bytes).
    pub max_body: usize,
    /// Whether the audit entry keeps the body's SHA-256. Not for bodies that carry a secret:
    /// a low-entropy value could be confirmed by hashing guesses.
    pub hash_body: bool,
    pub parse: fn(&Parts<'_>) -> Result<Command, ApiError>,
}

/// Ordinary requests.
pub const SMALL_BODY: usize = 1 << 20;
/// Deploys and plans carry the project's files.
pub const UPLOAD_BODY: usize = 64 << 20;

fn body<T: DeserializeOwned>(p: &Parts<'_>) -> Result<T, ApiError> {
    if p.body.is_empty() {
        return Err(ApiError::bad_request("this request needs a JSON body"));
    }
    serde_json::from_slice(p.body)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not valid: {e}")))
}

fn optional_body<T: DeserializeOwned + Default>(p: &Parts<'_>) -> Result<T, ApiError> {
    if p.body.is_empty() {
        return Ok(T::default());
    }
    body(p)
}

fn segment<'a>(p: &'a Parts<'_>, name: &str) -> Result<&'a str, ApiError> {
    p.path
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("the path lacks {name}")))
}

fn project(p: &Parts<'_>) -> Result<ProjectName, ApiError> {
    ProjectName::new(segment(p, "project")?).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn user(p: &Parts<'_>) -> Result<UserName, ApiError> {
    UserName::new(segment(p, "user")?).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn secret_name(p: &Parts<'_>) -> Result<bulkhead_core::secrets::SecretName, ApiError> {
    bulkhead_core::secrets::SecretName::new(segment(p, "name")?)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn secret_value(p: &Parts<'_>) -> Result<crate::api::SecretValue, ApiError> {
    let b: SecretBody = body(p)?;
    let value = zeroize::Zeroizing::new(b.value.into_bytes());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.as_slice())
        .map_err(|_| ApiError::bad_request("value is not base64"))?;
    let decoded = zeroize::Zeroizing::new(decoded);
    bulkhead_core::secrets::check_value(&decoded)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(crate::api::SecretValue(decoded))
}

fn service(p: &Parts<'_>) -> Result<ServiceName, ApiError> {
    ServiceName::new(segment(p, "service")?).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn query<T: std::str::FromStr>(p: &Parts<'_>, name: &str) -> Result<Option<T>, ApiError> {
    match p.query.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!("query parameter {name}={v:?} is not valid"))
        }),
    }
}

/// `limit`: 1 to [`MAX_AUDIT_PAGE`] (what the OpenAPI document says; nothing is clamped).
fn limit(p: &Parts<'_>) -> Result<Option<usize>, ApiError> {
    match query::<u64>(p, "limit")? {
        Some(n @ 1..=MAX_AUDIT_PAGE) => Ok(usize::try_from(n).ok()),
        Some(n) => Err(ApiError::bad_request(format!(
            "query parameter limit={n} is not between 1 and {MAX_AUDIT_PAGE}"
        ))),
        None => Ok(None),
    }
}

fn scope(project: Option<&str>) -> Result<Scope, ApiError> {
    match project {
        None => Ok(Scope::All),
        Some(p) => ProjectName::new(p)
            .map(Scope::Project)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

fn role(name: &str) -> Result<Role, ApiError> {
    name.parse()
        .map_err(|e: bulkhead_core::auth::IdentityError| ApiError::bad_request(e.to_string()))
}

fn deploy_source(p: &Parts<'_>) -> Result<Source, ApiError> {
    let b: DeployBody = body(p)?;
    let archive = base64::engine::general_purpose::STANDARD
        .decode(b.bundle.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("bundle is not base64: {e}")))?;
    Ok(Source::Bundle(Bundle {
        files: b.files,
        env: b.env,
        archive,
    }))
}

/// True when `path` (a request path) matches the route pattern (`{name}` is one segment).
pub fn matches(pattern: &str, path: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
}

/// Every route. A new route needs its row here and in the route test of `server::http`.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::Get,
        path: "/v1/projects",
        action: Action::ProjectList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |_| Ok(Command::ProjectList),
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}",
        action: Action::ProjectGet,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ProjectGet {
                project: project(p)?,
            })
        },
    },
    Route {
        method: Method::Post,
        path: "/v1/projects/{project}/deploys",
        action: Action::ProjectUp,
        body: Some("DeployBody"),
        query: &[],
        max_body: UPLOAD_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ProjectUp {
                project: project(p)?,
                source: deploy_source(p)?,
            })
        },
    },
    Route {
        method: Method::Post,
        path: "/v1/projects/{project}/plans",
        action: Action::ProjectPlan,
        body: Some("DeployBody"),
        query: &[],
        max_body: UPLOAD_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ProjectPlan {
                project: project(p)?,
                source: deploy_source(p)?,
            })
        },
    },
    Route {
        method: Method::Delete,
        path: "/v1/projects/{project}",
        action: Action::ProjectDown,
        body: None,
        query: &[optional(
            "volumes",
            Param::Boolean,
            "also remove the project's volumes",
        )],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ProjectDown {
                project: project(p)?,
                volumes: query(p, "volumes")?.unwrap_or(false),
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}/services",
        action: Action::ServiceList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ServiceList {
                project: project(p)?,
            })
        },
    },
    Route {
        method: Method::Put,
        path: "/v1/projects/{project}/services/{service}/replicas",
        action: Action::ServiceScale,
        body: Some("ScaleBody"),
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let b: ScaleBody = body(p)?;
            if b.replicas > bulkhead_core::spec::MAX_REPLICAS {
                return Err(ApiError::bad_request(format!(
                    "replicas must be between 0 and {}",
                    bulkhead_core::spec::MAX_REPLICAS
                )));
            }
            Ok(Command::ServiceScale {
                project: project(p)?,
                service: service(p)?,
                replicas: b.replicas,
            })
        },
    },
    Route {
        method: Method::Post,
        path: "/v1/projects/{project}/services/{service}/rollbacks",
        action: Action::ServiceRollback,
        body: Some("RollbackBody"),
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let b: RollbackBody = optional_body(p)?;
            Ok(Command::ServiceRollback {
                project: project(p)?,
                service: service(p)?,
                to: b.to,
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}/services/{service}/logs",
        action: Action::ServiceLogs,
        body: None,
        query: &[optional(
            "tail",
            Param::Count,
            "only the last N lines of each replica",
        )],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ServiceLogs {
                project: project(p)?,
                service: service(p)?,
                tail: query(p, "tail")?,
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}/services/{service}/releases",
        action: Action::ReleaseList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::ReleaseList {
                project: project(p)?,
                service: service(p)?,
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/audit",
        action: Action::AuditRead,
        body: None,
        query: &[
            optional(
                "since",
                Param::Time,
                "entries at or after this RFC 3339 time",
            ),
            optional("actor", Param::Text, "entries of this user or token id"),
            optional(
                "action",
                Param::Text,
                "entries of this action (or its prefix)",
            ),
            optional(
                "limit",
                Param::Limit,
                "at most this many entries (default 100, at most 1000)",
            ),
            optional("cursor", Param::Count, "entries after this sequence number"),
        ],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::AuditRead {
                query: AuditQuery {
                    since: p.query.get("since").cloned(),
                    actor: p.query.get("actor").cloned(),
                    action: p.query.get("action").cloned(),
                    limit: limit(p)?,
                    cursor: query(p, "cursor")?,
                },
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/audit/export",
        action: Action::AuditExport,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |_| Ok(Command::AuditExport),
    },
    Route {
        method: Method::Get,
        path: "/v1/users",
        action: Action::UserList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |_| Ok(Command::UserList),
    },
    Route {
        method: Method::Post,
        path: "/v1/users",
        action: Action::UserAdd,
        body: Some("UserBody"),
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let b: UserBody = body(p)?;
            let user = UserName::new(&b.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let kind = match b.kind.as_deref() {
                None => SubjectKind::User,
                Some(k) => k.parse().map_err(|e: bulkhead_core::auth::IdentityError| {
                    ApiError::bad_request(e.to_string())
                })?,
            };
            let role = match b.role.as_deref() {
                None if b.project.is_some() => {
                    return Err(ApiError::bad_request("project needs a role"));
                }
                None => None,
                Some(r) => Some((role(r)?, scope(b.project.as_deref())?)),
            };
            Ok(Command::UserAdd { user, kind, role })
        },
    },
    Route {
        method: Method::Delete,
        path: "/v1/users/{user}",
        action: Action::UserRemove,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| Ok(Command::UserRemove { user: user(p)? }),
    },
    Route {
        method: Method::Get,
        path: "/v1/users/{user}/tokens",
        action: Action::TokenList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| Ok(Command::TokenList { user: user(p)? }),
    },
    Route {
        method: Method::Post,
        path: "/v1/users/{user}/tokens",
        action: Action::TokenCreate,
        body: Some("TokenBody"),
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let b: TokenBody = body(p)?;
            Ok(Command::TokenCreate {
                user: user(p)?,
                name: TokenName::new(&b.name).map_err(|e| ApiError::bad_request(e.to_string()))?,
                expires_in: b.expires_in,
            })
        },
    },
    Route {
        method: Method::Delete,
        path: "/v1/users/{user}/tokens/{id}",
        action: Action::TokenRevoke,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::TokenRevoke {
                user: user(p)?,
                id: TokenId::parse(segment(p, "id")?)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/users/{user}/bindings",
        action: Action::BindingList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| Ok(Command::BindingList { user: user(p)? }),
    },
    Route {
        method: Method::Post,
        path: "/v1/users/{user}/bindings",
        action: Action::BindingBind,
        body: Some("BindingBody"),
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let b: BindingBody = body(p)?;
            Ok(Command::BindingBind {
                binding: Binding {
                    user: user(p)?,
                    role: role(&b.role)?,
                    scope: scope(b.project.as_deref())?,
                },
            })
        },
    },
    Route {
        method: Method::Delete,
        path: "/v1/users/{user}/bindings",
        action: Action::BindingUnbind,
        body: None,
        query: &[
            QueryParam {
                name: "role",
                kind: Param::Role,
                required: true,
                about: "the role to unbind",
            },
            optional(
                "project",
                Param::Project,
                "the binding's project (default: all projects)",
            ),
        ],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            let r = p
                .query
                .get("role")
                .ok_or_else(|| ApiError::bad_request("query parameter role is required"))?;
            Ok(Command::BindingUnbind {
                binding: Binding {
                    user: user(p)?,
                    role: role(r)?,
                    scope: scope(p.query.get("project").map(String::as_str))?,
                },
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}/secrets",
        action: Action::SecretList,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::SecretList {
                project: project(p)?,
            })
        },
    },
    Route {
        method: Method::Put,
        path: "/v1/projects/{project}/secrets/{name}",
        action: Action::SecretSet,
        body: Some("SecretBody"),
        query: &[],
        max_body: 2 * bulkhead_core::secrets::MAX_SECRET_BYTES,
        hash_body: false,
        parse: |p| {
            Ok(Command::SecretSet {
                project: project(p)?,
                name: secret_name(p)?,
                value: secret_value(p)?,
            })
        },
    },
    Route {
        method: Method::Get,
        path: "/v1/projects/{project}/secrets/{name}/versions",
        action: Action::SecretVersions,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::SecretVersions {
                project: project(p)?,
                name: secret_name(p)?,
            })
        },
    },
    Route {
        method: Method::Delete,
        path: "/v1/projects/{project}/secrets/{name}",
        action: Action::SecretRemove,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |p| {
            Ok(Command::SecretRemove {
                project: project(p)?,
                name: secret_name(p)?,
            })
        },
    },
    Route {
        method: Method::Post,
        path: "/v1/keys/rotations",
        action: Action::KeyRotate,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |_| Ok(Command::KeyRotate),
    },
    Route {
        method: Method::Get,
        path: "/v1/status",
        action: Action::ServerStatus,
        body: None,
        query: &[],
        max_body: SMALL_BODY,
        hash_body: true,
        parse: |_| Ok(Command::ServerStatus),
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn audit_with(query: &[(&str, &str)]) -> Result<Command, ApiError> {
        let route = ROUTES
            .iter()
            .find(|r| r.action == Action::AuditRead)
            .unwrap_or_else(|| panic!("no audit route"));
        let query: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (route.parse)(&Parts {
            path: &HashMap::new(),
            query: &query,
            body: b"",
        })
    }

    #[test]
    fn an_audit_page_size_outside_its_bounds_is_refused_not_clamped() {
        for ok in ["1", "100", "1000"] {
            assert!(audit_with(&[("limit", ok)]).is_ok(), "{ok}");
        }
        for bad in ["0", "1001", "-1", "x"] {
            assert!(audit_with(&[("limit", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn docs_api_md_lists_every_route() {
        let doc = include_str!("../../../../docs/api.md");
        let table: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains("`/v1"))
            .collect();
        assert_eq!(table.len(), ROUTES.len(), "docs/api.md has a row per route");
        for r in ROUTES {
            let row = format!(
                "| {} | `{}` | `{}` | {} |",
                r.method.name(),
                r.path,
                r.action.name(),
                r.action.summary()
            );
            assert!(table.contains(&row.as_str()), "docs/api.md lacks {row}");
        }
    }

    #[test]
    fn every_route_is_unique_and_its_path_parameters_parse() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(r.path.starts_with("/v1/"), "{}", r.path);
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|o| o.method == r.method && o.path == r.path),
                "{} {} twice",
                r.method.name(),
                r.path
            );
        }
        assert!(matches("/v1/users/{user}", "/v1/users/ana"));
        assert!(!matches("/v1/users/{user}", "/v1/users/"));
        assert!(!matches("/v1/users/{user}", "/v1/users/ana/tokens"));
    }
}
