//! Every action the API can be asked to do, each with its stable dotted name (audit log, HTTP
//! routes) and the kind of resource it acts on; and the resources themselves.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::identity::{ProjectName, UserName};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("unknown action `{given}`")]
    Unknown { given: String },
}

/// What an action acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// The platform as a whole (listings, users, the audit log).
    Global,
    /// One project.
    Project,
    /// One user or service account (its tokens, its bindings, the account itself).
    User,
}

impl ResourceKind {
    pub const fn name(self) -> &'static str {
        match self {
            ResourceKind::Global => "global",
            ResourceKind::Project => "project",
            ResourceKind::User => "user",
        }
    }
}

/// The thing an action is asked of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Global,
    Project(ProjectName),
    User(UserName),
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Global => ResourceKind::Global,
            Resource::Project(_) => ResourceKind::Project,
            Resource::User(_) => ResourceKind::User,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Global => f.write_str("the platform"),
            Resource::Project(project) => write!(f, "project {project}"),
            Resource::User(user) => write!(f, "user {user}"),
        }
    }
}

macro_rules! actions {
    ($( $variant:ident, $name:literal, $kind:ident, $summary:literal; )*) => {
        /// One API action. The dotted names are stable: the audit log and the HTTP routes use
        /// them. Adding a variant needs a row in `policy::GRANTS` and in the authorization
        /// matrix test (both fail without it) and in docs/rbac.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Action {
            $( $variant, )*
        }

        impl Action {
            /// Every action, in the order of the table in docs/rbac.md.
            pub const ALL: &'static [Action] = &[ $( Action::$variant, )* ];

            /// The stable dotted name, e.g. `service.scale`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Action::$variant => $name, )*
                }
            }

            /// The kind of resource the action takes; any other kind is denied.
            pub const fn resource_kind(self) -> ResourceKind {
                match self {
                    $( Action::$variant => ResourceKind::$kind, )*
                }
            }

            /// What the action does, in a few words.
            pub const fn summary(self) -> &'static str {
                match self {
                    $( Action::$variant => $summary, )*
                }
            }
        }
    };
}

actions! {
    ProjectList, "project.list", Global, "list projects (only those the caller may read)";
    ProjectGet, "project.get", Project, "read a project's state";
    ProjectUp, "project.up", Project, "deploy (up)";
    ProjectPlan, "project.plan", Project, "plan a deploy without running it";
    ProjectDown, "project.down", Project, "stop and remove a project's containers (down)";
    ServiceList, "service.list", Project, "list services and replicas (ps)";
    ServiceScale, "service.scale", Project, "scale a service";
    ServiceRollback, "service.rollback", Project, "roll a service back to an earlier release";
    ServiceLogs, "service.logs", Project, "read service logs";
    ReleaseList, "release.list", Project, "list releases";
    SecretSet, "secret.set", Project, "set or rotate a secret";
    SecretList, "secret.list", Project, "list secret names (never values)";
    SecretVersions, "secret.versions", Project, "list a secret's versions (never values)";
    SecretRemove, "secret.remove", Project, "remove a secret";
    KeyRotate, "key.rotate", Global, "rotate the key-encryption key";
    ServerStatus, "server.status", Global, "read the server's status (connections, rejections)";
    WaiverGrant, "waiver.grant", Project, "deploy a spec that carries hardening waivers";
    FindingsRead, "findings.read", Project, "read scan, audit-check and pentest findings";
    AuditRead, "audit.read", Global, "read the audit log";
    AuditExport, "audit.export", Global, "export the audit log";
    UserList, "user.list", Global, "list users and service accounts";
    UserAdd, "user.add", User, "add a user or service account";
    UserRemove, "user.remove", User, "remove a user with their tokens and bindings";
    TokenCreate, "token.create", User, "create a token for a user";
    TokenList, "token.list", User, "list a user's tokens (never the secrets)";
    TokenRevoke, "token.revoke", User, "revoke a user's token";
    BindingList, "binding.list", User, "list a user's role bindings";
    BindingBind, "binding.bind", User, "bind a role to a user";
    BindingUnbind, "binding.unbind", User, "unbind a role from a user";
}

impl FromStr for Action {
    type Err = ActionError;
    fn from_str(given: &str) -> Result<Action, ActionError> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.name() == given)
            .ok_or_else(|| ActionError::Unknown {
                given: given.to_owned(),
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_dotted_and_round_trip() {
        let mut seen = BTreeSet::new();
        for action in Action::ALL {
            let name = action.name();
            assert!(seen.insert(name), "duplicate action name {name}");
            let (noun, verb) = name.split_once('.').unwrap_or_default();
            let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
            assert!(word(noun) && word(verb), "{name} is not noun.verb");
            assert_eq!(name.parse::<Action>(), Ok(*action));
            let json = serde_json::to_string(action).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Action>(&json).ok(), Some(*action));
        }
        assert!("service.delete".parse::<Action>().is_err());
        assert!(serde_json::from_str::<Action>("\"Service.Scale\"").is_err());
    }

    #[test]
    fn the_actions_the_issues_name_exist() {
        for name in [
            "project.list",
            "project.get",
            "project.up",
            "project.plan",
            "project.down",
            "service.list",
            "service.scale",
            "service.rollback",
            "service.logs",
            "release.list",
            "user.list",
            "user.add",
            "user.remove",
            "token.create",
            "token.list",
            "token.revoke",
            "binding.list",
            "binding.bind",
            "binding.unbind",
            "audit.read",
            "audit.export",
            "findings.read",
            "secret.set",
            "secret.list",
            "secret.remove",
            "secret.versions",
            "key.rotate",
            "server.status",
            "waiver.grant",
        ] {
            assert!(name.parse::<Action>().is_ok(), "{name} missing");
        }
    }
}
