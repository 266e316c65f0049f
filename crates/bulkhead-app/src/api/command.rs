//! Every request the API executes, typed: what HTTP handlers parse a request into and what the
//! embedded CLI builds directly. Each command names its RBAC action and its resource, so the
//! dispatcher can authorize and audit it before anything runs.

use std::collections::BTreeMap;

use bulkhead_core::auth::{
    Action, Binding, ProjectName, Resource, Role, Scope, SubjectKind, TokenId, TokenName, UserName,
};
use serde::Deserialize;

use bulkhead_core::names::ServiceName;
use bulkhead_core::secrets::SecretName;
use zeroize::Zeroizing;

use crate::project::ProjectOptions;

/// A secret's value on its way in: zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct SecretValue(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes, redacted>)", self.0.len())
    }
}

/// Where the files of a deploy come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Files on this host (embedded mode only: no HTTP request can name a host path).
    Local(ProjectOptions),
    /// An uploaded project directory (a tar archive) with the Compose files in it and the
    /// variables the files interpolate.
    Bundle(Bundle),
}

/// A project directory uploaded with a deploy request.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The Compose files, relative to the archive's root, in `-f` order (empty: discovery).
    pub files: Vec<String>,
    /// Variables for interpolation (the client's environment, narrowed to what the files use).
    pub env: BTreeMap<String, String>,
    /// The archive (ustar), already decoded.
    pub archive: Vec<u8>,
}

/// Which audit entries to read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// RFC 3339.
    pub since: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// At most this many entries (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Continue after this sequence number.
    pub cursor: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum Command {
    ProjectList,
    ProjectGet {
        project: ProjectName,
    },
    ProjectUp {
        project: ProjectName,
        source: Source,
    },
    ProjectPlan {
        project: ProjectName,
        source: Source,
    },
    ProjectDown {
        project: ProjectName,
        volumes: bool,
    },
    ServiceList {
        project: ProjectName,
    },
    ServiceScale {
        project: ProjectName,
        service: ServiceName,
        replicas: u32,
    },
    ServiceRollback {
        project: ProjectName,
        service: ServiceName,
        to: Option<u64>,
    },
    ServiceLogs {
        project: ProjectName,
        service: ServiceName,
        tail: Option<usize>,
    },
    ReleaseList {
        project: ProjectName,
        service: ServiceName,
    },
    AuditRead {
        query: AuditQuery,
    },
    AuditExport,
    UserList,
    UserAdd {
        user: UserName,
        kind: SubjectKind,
        /// A first binding, made in the same request.
        role: Option<(Role, Scope)>,
    },
    UserRemove {
        user: UserName,
    },
    TokenCreate {
        user: UserName,
        name: TokenName,
        /// Seconds from now.
        expires_in: Option<u64>,
    },
    TokenList {
        user: UserName,
    },
    TokenRevoke {
        user: UserName,
        id: TokenId,
    },
    BindingList {
        user: UserName,
    },
    BindingBind {
        binding: Binding,
    },
    BindingUnbind {
        binding: Binding,
    },
    SecretSet {
        project: ProjectName,
        name: SecretName,
        value: SecretValue,
    },
    SecretList {
        project: ProjectName,
    },
    SecretVersions {
        project: ProjectName,
        name: SecretName,
    },
    SecretRemove {
        project: ProjectName,
        name: SecretName,
    },
    KeyRotate,
    ServerStatus,
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::ProjectList => Action::ProjectList,
            Command::ProjectGet { .. } => Action::ProjectGet,
            Command::ProjectUp { .. } => Action::ProjectUp,
            Command::ProjectPlan { .. } => Action::ProjectPlan,
            Command::ProjectDown { .. } => Action::ProjectDown,
            Command::ServiceList { .. } => Action::ServiceList,
            Command::ServiceScale { .. } => Action::ServiceScale,
            Command::ServiceRollback { .. } => Action::ServiceRollback,
            Command::ServiceLogs { .. } => Action::ServiceLogs,
            Command::ReleaseList { .. } => Action::ReleaseList,
            Command::AuditRead { .. } => Action::AuditRead,
            Command::AuditExport => Action::AuditExport,
            Command::UserList => Action::UserList,
            Command::UserAdd { .. } => Action::UserAdd,
            Command::UserRemove { .. } => Action::UserRemove,
            Command::TokenCreate { .. } => Action::TokenCreate,
            Command::TokenList { .. } => Action::TokenList,
            Command::TokenRevoke { .. } => Action::TokenRevoke,
            Command::BindingList { .. } => Action::BindingList,
            Command::BindingBind { .. } => Action::BindingBind,
            Command::BindingUnbind { .. } => Action::BindingUnbind,
            Command::SecretSet { .. } => Action::SecretSet,
            Command::SecretList { .. } => Action::SecretList,
            Command::SecretVersions { .. } => Action::SecretVersions,
            Command::SecretRemove { .. } => Action::SecretRemove,
            Command::KeyRotate => Action::KeyRotate,
            Command::ServerStatus => Action::ServerStatus,
        }
    }

    pub fn resource(&self) -> Resource {
        match self {
            Command::ProjectList
            | Command::AuditRead { .. }
            | Command::AuditExport
            | Command::UserList
            | Command::KeyRotate
            | Command::ServerStatus => Resource::Global,
            Command::ProjectGet { project }
            | Command::ProjectUp { project, .. }
            | Command::ProjectPlan { project, .. }
            | Command::ProjectDown { project, .. }
            | Command::ServiceList { project }
            | Command::ServiceScale { project, .. }
            | Command::ServiceRollback { project, .. }
            | Command::ServiceLogs { project, .. }
            | Command::ReleaseList { project, .. }
            | Command::SecretSet { project, .. }
            | Command::SecretList { project }
            | Command::SecretVersions { project, .. }
            | Command::SecretRemove { project, .. } => Resource::Project(project.clone()),
            Command::UserAdd { user, .. }
            | Command::UserRemove { user }
            | Command::TokenCreate { user, .. }
            | Command::TokenList { user }
            | Command::TokenRevoke { user, .. }
            | Command::BindingList { user } => Resource::User(user.clone()),
            Command::BindingBind { binding } | Command::BindingUnbind { binding } => {
                Resource::User(binding.user.clone())
            }
        }
    }

    /// The resource as the audit log names it: `projects/shop/services/web`, `users/ana`, ...
    pub fn audit_resource(&self) -> String {
        match self {
            Command::ProjectList => "projects".into(),
            Command::AuditRead { .. } | Command::AuditExport => "audit".into(),
            Command::UserList => "users".into(),
            Command::KeyRotate => "keys".into(),
            Command::ServerStatus => "status".into(),
            Command::SecretList { project } => format!("projects/{project}/secrets"),
            Command::SecretSet { project, name, .. }
            | Command::SecretVersions { project, name }
            | Command::SecretRemove { project, name } => {
                format!("projects/{project}/secrets/{name}")
            }
            Command::ProjectGet { project }
            | Command::ProjectUp { project, .. }
            | Command::ProjectPlan { project, .. }
            | Command::ProjectDown { project, .. } => format!("projects/{project}"),
            Command::ServiceList { project } => format!("projects/{project}/services"),
            Command::ServiceScale {
                project, service, ..
            }
            | Command::ServiceRollback {
                project, service, ..
            }
            | Command::ServiceLogs {
                project, service, ..
            }
            | Command::ReleaseList { project, service } => {
                format!("projects/{project}/services/{service}")
            }
            Command::UserAdd { user, .. }
            | Command::UserRemove { user }
            | Command::BindingList { user } => format!("users/{user}"),
            Command::TokenCreate { user, .. } | Command::TokenList { user } => {
                format!("users/{user}/tokens")
            }
            Command::TokenRevoke { user, id } => format!("users/{user}/tokens/{id}"),
            Command::BindingBind { binding } | Command::BindingUnbind { binding } => {
                format!("users/{}/bindings/{}", binding.user, binding.role)
            }
        }
    }

    /// True for commands that need the container engine whatever their project holds: they
    /// connect to it before anything else (a secret set may too, when it rolls services).
    pub fn needs_engine(&self) -> bool {
        matches!(
            self,
            Command::ProjectUp { .. }
                | Command::ProjectPlan { .. }
                | Command::ProjectDown { .. }
                | Command::ServiceList { .. }
                | Command::ServiceScale { .. }
                | Command::ServiceRollback { .. }
                | Command::ServiceLogs { .. }
        )
    }

    /// True for commands that change something: their entry is written before they run.
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            Command::ProjectList
                | Command::ProjectGet { .. }
                | Command::ProjectPlan { .. }
                | Command::ServiceList { .. }
                | Command::ServiceLogs { .. }
                | Command::ReleaseList { .. }
                | Command::AuditRead { .. }
                | Command::AuditExport
                | Command::UserList
                | Command::TokenList { .. }
                | Command::BindingList { .. }
                | Command::SecretList { .. }
                | Command::SecretVersions { .. }
                | Command::ServerStatus
        )
    }
}
