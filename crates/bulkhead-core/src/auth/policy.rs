//! Role-based access control: the grant table (data: which roles may do each action, and what
//! anyone may do on their own account) and `authorize` (the one decision, deny by default).
//! Waiver refusals are in `waivers`.

use std::fmt::Write as _;

use serde::Serialize;

use super::action::{Action, Resource, ResourceKind};
use super::identity::{Binding, Role, Scope, Subject, SubjectKind};

/// What a subject may do on its own account (tokens, bindings), whatever its roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnAccount {
    /// Nothing beyond what the roles grant.
    No,
    /// Every authenticated subject, users and service accounts.
    Anyone,
    /// Users only: a service account's tokens are made by an admin.
    UsersOnly,
}

/// One row of the grant table.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    pub action: Action,
    /// The roles that grant the action within their binding's scope.
    pub roles: &'static [Role],
    /// A listing over projects: a binding to one project grants it too, and the caller keeps
    /// only the items the subject may `project.get`.
    pub listing: bool,
    pub own: OwnAccount,
}

const EVERY_READER: &[Role] = &[Role::Admin, Role::Operator, Role::Developer, Role::Viewer];
const DEPLOYERS: &[Role] = &[Role::Admin, Role::Operator, Role::Developer];
const SECRET_WRITERS: &[Role] = &[Role::Admin, Role::Developer];
const FINDINGS_READERS: &[Role] = &[
    Role::Admin,
    Role::Operator,
    Role::Developer,
    Role::Viewer,
    Role::Auditor,
];
const AUDITORS: &[Role] = &[Role::Admin, Role::Auditor];
const PLATFORM_READERS: &[Role] = &[Role::Admin, Role::Operator, Role::Auditor];
const ADMIN: &[Role] = &[Role::Admin];

const fn row(action: Action, roles: &'static [Role], own: OwnAccount) -> Grant {
    Grant {
        action,
        roles,
        listing: false,
        own,
    }
}

/// The grant table, in the order of [`Action::ALL`]. An action without a row is denied to
/// everyone (`grant_table_is_complete` makes that a test failure, not a silent lock-out).
pub const GRANTS: &[Grant] = &[
    Grant {
        action: Action::ProjectList,
        roles: EVERY_READER,
        listing: true,
        own: OwnAccount::No,
    },
    row(Action::ProjectGet, EVERY_READER, OwnAccount::No),
    row(Action::ProjectUp, DEPLOYERS, OwnAccount::No),
    row(Action::ProjectPlan, DEPLOYERS, OwnAccount::No),
    row(Action::ProjectDown, DEPLOYERS, OwnAccount::No),
    row(Action::ServiceList, EVERY_READER, OwnAccount::No),
    row(Action::ServiceScale, DEPLOYERS, OwnAccount::No),
    row(Action::ServiceRollback, DEPLOYERS, OwnAccount::No),
    row(Action::ServiceLogs, EVERY_READER, OwnAccount::No),
    row(Action::ReleaseList, EVERY_READER, OwnAccount::No),
    row(Action::SecretSet, SECRET_WRITERS, OwnAccount::No),
    row(Action::SecretList, EVERY_READER, OwnAccount::No),
    row(Action::SecretVersions, EVERY_READER, OwnAccount::No),
    row(Action::SecretRemove, SECRET_WRITERS, OwnAccount::No),
    row(Action::KeyRotate, ADMIN, OwnAccount::No),
    row(Action::ServerStatus, PLATFORM_READERS, OwnAccount::No),
    row(Action::WaiverGrant, ADMIN, OwnAccount::No),
    row(Action::FindingsRead, FINDINGS_READERS, OwnAccount::No),
    row(Action::AuditRead, AUDITORS, OwnAccount::No),
    row(Action::AuditExport, AUDITORS, OwnAccount::No),
    row(Action::UserList, ADMIN, OwnAccount::No),
    row(Action::UserAdd, ADMIN, OwnAccount::No),
    row(Action::UserRemove, ADMIN, OwnAccount::No),
    row(Action::TokenCreate, ADMIN, OwnAccount::UsersOnly),
    row(Action::TokenList, ADMIN, OwnAccount::Anyone),
    row(Action::TokenRevoke, ADMIN, OwnAccount::Anyone),
    row(Action::BindingList, ADMIN, OwnAccount::Anyone),
    row(Action::BindingBind, ADMIN, OwnAccount::No),
    row(Action::BindingUnbind, ADMIN, OwnAccount::No),
];

/// The row of `action`, if it has one.
pub fn grant_of(action: Action) -> Option<&'static Grant> {
    GRANTS.iter().find(|grant| grant.action == action)
}

/// Why an action was allowed: recorded in the audit log beside the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A role binding of the subject.
    Binding(Binding),
    /// The subject acted on its own account (its tokens, its bindings).
    OwnAccount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow {
        via: Via,
    },
    /// `reason` is one sentence for the caller: what was refused, what would allow it.
    Deny {
        reason: String,
    },
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// May `subject` do `action` on `resource`? Deny by default: only a row of [`GRANTS`] allows,
/// through a binding whose role it lists and whose scope covers the resource, or through the
/// row's own-account rule. A resource of the wrong kind for the action is denied.
///
/// Scopes: a binding to all projects covers every resource; a binding to one project covers
/// that project only (and the project listings, which the caller filters per project).
pub fn authorize(subject: &Subject, action: Action, resource: &Resource) -> Decision {
    let kind = action.resource_kind();
    if resource.kind() != kind {
        return Decision::Deny {
            reason: format!(
                "{} may not `{action}` on {resource}: `{action}` acts on {}",
                who(subject),
                kind_phrase(kind)
            ),
        };
    }
    let Some(grant) = grant_of(action) else {
        return Decision::Deny {
            reason: format!("{} may not `{action}`: no role grants it", who(subject)),
        };
    };
    if let Resource::User(user) = resource
        && user == subject.name()
        && own_account_allows(grant.own, subject.kind())
    {
        return Decision::Allow {
            via: Via::OwnAccount,
        };
    }
    let granting = subject
        .bindings()
        .iter()
        .find(|b| grant.roles.contains(&b.role) && covers(&b.scope, resource, grant.listing));
    match granting {
        Some(binding) => Decision::Allow {
            via: Via::Binding(binding.clone()),
        },
        None => Decision::Deny {
            reason: refusal(subject, grant, resource),
        },
    }
}

fn own_account_allows(own: OwnAccount, kind: SubjectKind) -> bool {
    match own {
        OwnAccount::No => false,
        OwnAccount::Anyone => true,
        OwnAccount::UsersOnly => kind == SubjectKind::User,
    }
}

pub(super) fn covers(scope: &Scope, resource: &Resource, listing: bool) -> bool {
    match (scope, resource) {
        (Scope::All, _) => true,
        (Scope::Project(bound), Resource::Project(asked)) => bound == asked,
        (Scope::Project(_), Resource::Global) => listing,
        (Scope::Project(_), Resource::User(_)) => false,
    }
}

pub(super) fn who(subject: &Subject) -> String {
    format!("{} {}", subject.kind(), subject.name())
}

fn kind_phrase(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Global => "the platform as a whole",
        ResourceKind::Project => "a project",
        ResourceKind::User => "a user",
    }
}

/// "user bob may not `service.scale` in project shop: that needs the role admin, operator or
/// developer for project shop or for all projects; bob has viewer in project shop."
fn refusal(subject: &Subject, grant: &Grant, resource: &Resource) -> String {
    let action = grant.action;
    let mut out = who(subject);
    let _ = match resource {
        Resource::Global => write!(out, " may not `{action}`"),
        Resource::Project(project) => write!(out, " may not `{action}` in project {project}"),
        Resource::User(user) => write!(out, " may not `{action}` for user {user}"),
    };
    if grant.roles.is_empty() {
        out.push_str(": no role grants it");
    } else {
        let roles = or_list(grant.roles.iter().map(|r| r.name().to_owned()).collect());
        let plural = if grant.roles.len() == 1 { "" } else { "s" };
        let _ = write!(out, ": that needs the role{plural} {roles}");
        let _ = match resource {
            Resource::Global if grant.listing => write!(out, " (for any project)"),
            Resource::Project(project) => write!(out, " for project {project} or all projects"),
            Resource::Global | Resource::User(_) => write!(out, " for all projects"),
        };
    }
    match grant.own {
        OwnAccount::No => {}
        OwnAccount::Anyone => out.push_str(" (anyone may do it for their own account)"),
        OwnAccount::UsersOnly if subject.kind() == SubjectKind::User => {
            out.push_str(" (users may do it for their own account)");
        }
        OwnAccount::UsersOnly => out
            .push_str(" (a service account cannot do it for itself: an admin creates its tokens)"),
    }
    let _ = if subject.bindings().is_empty() {
        write!(out, "; {} has no role bindings", subject.name())
    } else {
        let held: Vec<String> = subject.bindings().iter().map(|b| b.to_string()).collect();
        write!(out, "; {} has {}", subject.name(), held.join(", "))
    };
    out
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: Vec<String>) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The roles × actions table of docs/rbac.md, rendered from [`GRANTS`].
pub fn markdown_table() -> String {
    let mut out = String::from("| action | what | acts on |");
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str(" own account |\n|---|---|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for action in Action::ALL {
        let grant = grant_of(*action);
        let acts_on = match (action.resource_kind(), grant.is_some_and(|g| g.listing)) {
            (ResourceKind::Global, true) => "platform, filtered by project",
            (kind, _) => kind.name(),
        };
        let _ = write!(out, "| `{action}` | {} | {acts_on} |", action.summary());
        for role in Role::ALL {
            let yes = grant.is_some_and(|g| g.roles.contains(role));
            out.push_str(if yes { " yes |" } else { " - |" });
        }
        let own = match grant.map_or(OwnAccount::No, |g| g.own) {
            OwnAccount::No => "-",
            OwnAccount::Anyone => "yes",
            OwnAccount::UsersOnly => "users only",
        };
        let _ = writeln!(out, " {own} |");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_table_is_complete_and_in_order() {
        let table: Vec<Action> = GRANTS.iter().map(|g| g.action).collect();
        assert_eq!(
            table,
            Action::ALL,
            "GRANTS must have one row per action, in order"
        );
    }

    #[test]
    fn own_account_rules_only_on_user_actions() {
        for grant in GRANTS {
            if grant.own != OwnAccount::No {
                assert_eq!(
                    grant.action.resource_kind(),
                    ResourceKind::User,
                    "{:?}",
                    grant.action
                );
            }
            if grant.listing {
                assert_eq!(
                    grant.action.resource_kind(),
                    ResourceKind::Global,
                    "{:?}",
                    grant.action
                );
            }
        }
    }

    #[test]
    fn only_admin_grants_waivers_and_manages_users() {
        for action in [
            Action::WaiverGrant,
            Action::UserAdd,
            Action::UserRemove,
            Action::UserList,
            Action::BindingBind,
            Action::BindingUnbind,
            Action::KeyRotate,
        ] {
            assert_eq!(grant_of(action).map(|g| g.roles), Some(ADMIN), "{action}");
        }
    }

    #[test]
    fn docs_table_matches_the_grants() {
        let doc = include_str!("../../../../docs/rbac.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/rbac.md lacks the current table; replace it with:\n{table}"
        );
    }

    #[test]
    fn or_lists_read_as_english() {
        let list = |items: &[&str]| or_list(items.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["admin"]), "admin");
        assert_eq!(list(&["admin", "auditor"]), "admin or auditor");
        assert_eq!(list(&["a", "b", "c"]), "a, b or c");
    }
}
