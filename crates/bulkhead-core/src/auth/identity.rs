//! Who is asking: user and service-account names, roles, scopes, role bindings, the stored user
//! record, and the authenticated `Subject` that `authorize` decides for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::names;

/// Longest user or service-account name.
pub const MAX_NAME_LEN: usize = names::USER.max_len;

/// Names that Bulkhead itself writes as the actor of an action (embedded mode, controllers); no
/// account may take them, so the audit log cannot be made to blame one on the other.
pub const RESERVED_NAMES: &[&str] = names::USER.reserved;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("user name {name:?} is not valid: {reason}")]
    BadUserName { name: String, reason: &'static str },
    #[error(transparent)]
    BadProjectName(names::NameError),
    #[error("unknown role `{given}`: the roles are admin, operator, developer, viewer, auditor")]
    UnknownRole { given: String },
    #[error("unknown account kind `{given}`: the kinds are user, service-account")]
    UnknownKind { given: String },
    #[error("a binding of user {binding_user} was given to the subject {subject}")]
    ForeignBinding {
        subject: String,
        binding_user: String,
    },
}

/// A user or service-account name, checked by [`names::USER`]: `[a-z0-9][a-z0-9._-]{0,62}`,
/// not reserved.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    pub fn new(name: &str) -> Result<UserName, IdentityError> {
        names::USER
            .check(name)
            .map_err(|reason| IdentityError::BadUserName {
                name: name.to_owned(),
                reason,
            })?;
        Ok(UserName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `local`: the actor of the embedded CLI (the administrator of this host's state
    /// directory). Reserved, so no account or request can take the name.
    pub fn local() -> UserName {
        UserName("local".to_owned())
    }
}

impl TryFrom<String> for UserName {
    type Error = IdentityError;
    fn try_from(name: String) -> Result<UserName, IdentityError> {
        UserName::new(&name)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.0
    }
}

impl FromStr for UserName {
    type Err = IdentityError;
    fn from_str(name: &str) -> Result<UserName, IdentityError> {
        UserName::new(name)
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A project name, checked by [`names::PROJECT`] (as Compose accepts it: lowercase letters,
/// digits, `_`, `-`; at most 63).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    pub fn new(name: &str) -> Result<ProjectName, IdentityError> {
        names::PROJECT
            .validate(name)
            .map_err(IdentityError::BadProjectName)?;
        Ok(ProjectName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectName {
    type Error = IdentityError;
    fn try_from(name: String) -> Result<ProjectName, IdentityError> {
        ProjectName::new(&name)
    }
}

impl From<ProjectName> for String {
    fn from(name: ProjectName) -> String {
        name.0
    }
}

impl FromStr for ProjectName {
    type Err = IdentityError;
    fn from_str(name: &str) -> Result<ProjectName, IdentityError> {
        ProjectName::new(name)
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A person, or a service account (for CI): the same rules, except that a service account
/// cannot mint its own tokens (see `policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    User,
    ServiceAccount,
}

impl SubjectKind {
    pub const fn name(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::ServiceAccount => "service-account",
        }
    }
}

impl FromStr for SubjectKind {
    type Err = IdentityError;
    fn from_str(given: &str) -> Result<SubjectKind, IdentityError> {
        match given {
            "user" => Ok(SubjectKind::User),
            "service-account" => Ok(SubjectKind::ServiceAccount),
            _ => Err(IdentityError::UnknownKind {
                given: given.to_owned(),
            }),
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role: a fixed set of actions (the table in `policy`), granted within a binding's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Developer,
    Viewer,
    Auditor,
}

impl Role {
    /// Every role, in the order of the columns of docs/rbac.md.
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::Operator,
        Role::Developer,
        Role::Viewer,
        Role::Auditor,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(given: &str) -> Result<Role, IdentityError> {
        Role::ALL
            .iter()
            .copied()
            .find(|role| role.name() == given)
            .ok_or_else(|| IdentityError::UnknownRole {
                given: given.to_owned(),
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a binding applies. JSON: `"all"` or `{"project": "shop"}` (a project may be called
/// `all`, so a bare string would be ambiguous).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every project, and the platform itself (users, the audit log).
    All,
    /// One project only.
    Project(ProjectName),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all projects"),
            Scope::Project(project) => write!(f, "project {project}"),
        }
    }
}

/// A role granted to a user within a scope: `(user, role, project or all)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Binding {
    pub user: UserName,
    pub role: Role,
    pub scope: Scope,
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.role, self.scope)
    }
}

/// A user or service account as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: UserName,
    pub kind: SubjectKind,
    /// Unix seconds.
    pub created_at: u64,
    /// A disabled account cannot authenticate; its tokens and bindings are kept.
    pub disabled: bool,
}

/// An authenticated caller with every binding it holds: what `authorize` decides for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    name: UserName,
    kind: SubjectKind,
    bindings: Vec<Binding>,
}

impl Subject {
    /// Refuses a binding of another user: a subject holds only its own.
    pub fn new(
        name: UserName,
        kind: SubjectKind,
        bindings: Vec<Binding>,
    ) -> Result<Subject, IdentityError> {
        if let Some(foreign) = bindings.iter().find(|b| b.user != name) {
            return Err(IdentityError::ForeignBinding {
                subject: name.to_string(),
                binding_user: foreign.user.to_string(),
            });
        }
        Ok(Subject {
            name,
            kind,
            bindings,
        })
    }

    pub fn name(&self) -> &UserName {
        &self.name
    }

    pub fn kind(&self) -> SubjectKind {
        self.kind
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_the_rule() {
        for good in ["a", "alice", "ci.deploy-bot_2", "0", &"a".repeat(63)] {
            assert!(UserName::new(good).is_ok(), "{good}");
        }
        let cases = [
            ("", "empty"),
            ("Alice", "start with"),
            ("-x", "start with"),
            (".x", "start with"),
            ("al ice", "only lowercase"),
            ("alice@corp", "only lowercase"),
            ("ünicode", "start with"),
            ("a\0b", "only lowercase"),
            ("local", "reserved"),
            ("system", "reserved"),
        ];
        for (bad, why) in cases {
            let err = UserName::new(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(why)),
                "{bad}: {err:?}"
            );
        }
        let long = "a".repeat(64);
        assert!(UserName::new(&long).is_err());
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        let name: Result<UserName, _> = serde_json::from_str("\"alice\"");
        assert_eq!(name.ok().map(String::from).as_deref(), Some("alice"));
        assert!(serde_json::from_str::<UserName>("\"Alice\"").is_err());
        assert!(serde_json::from_str::<ProjectName>("\"sh op\"").is_err());
    }

    #[test]
    fn roles_parse_and_print_their_names() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>(), Ok(*role));
            assert_eq!(role.to_string(), role.name());
            let json = serde_json::to_string(role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.name()));
        }
        let err = "root".parse::<Role>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown role `root`: the roles are admin, operator, developer, viewer, auditor")
        );
        assert!("Admin".parse::<Role>().is_err());
    }

    #[test]
    fn the_unknown_role_message_lists_every_role() {
        let message = "x".parse::<Role>().err().map(|e| e.to_string());
        for role in Role::ALL {
            assert!(
                message.as_deref().is_some_and(|m| m.contains(role.name())),
                "{role} missing from {message:?}"
            );
        }
    }

    #[test]
    fn kinds_parse_and_print() {
        for kind in [SubjectKind::User, SubjectKind::ServiceAccount] {
            assert_eq!(kind.name().parse::<SubjectKind>(), Ok(kind));
        }
        assert!("robot".parse::<SubjectKind>().is_err());
        let json = serde_json::to_string(&SubjectKind::ServiceAccount).unwrap_or_default();
        assert_eq!(json, "\"service-account\"");
    }

    #[test]
    fn scopes_are_unambiguous_in_json() -> Result<(), Box<dyn std::error::Error>> {
        let all = serde_json::to_string(&Scope::All)?;
        let named_all = serde_json::to_string(&Scope::Project(ProjectName::new("all")?))?;
        assert_eq!(all, "\"all\"");
        assert_eq!(named_all, "{\"project\":\"all\"}");
        assert_eq!(
            serde_json::from_str::<Scope>(&named_all)?,
            Scope::Project(ProjectName::new("all")?)
        );
        assert!(serde_json::from_str::<Scope>("{\"project\":\"Bad\"}").is_err());
        Ok(())
    }

    #[test]
    fn a_subject_holds_only_its_own_bindings() -> Result<(), IdentityError> {
        let alice = UserName::new("alice")?;
        let bob = UserName::new("bob")?;
        let own = Binding {
            user: alice.clone(),
            role: Role::Viewer,
            scope: Scope::All,
        };
        let foreign = Binding {
            user: bob,
            ..own.clone()
        };
        assert!(Subject::new(alice.clone(), SubjectKind::User, vec![own.clone()]).is_ok());
        let err = Subject::new(alice, SubjectKind::User, vec![own, foreign]);
        assert!(
            matches!(&err, Err(IdentityError::ForeignBinding { binding_user, .. }) if binding_user == "bob"),
            "{err:?}"
        );
        Ok(())
    }
}
