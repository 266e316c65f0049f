//! Identity and RBAC, pure: names, roles, bindings and subjects (`identity`), every API action
//! (`action`), the grant table and the one decision `authorize(subject, action, resource)`
//! (`policy`), and API tokens (`token`). No clock, no randomness: callers pass "now" and random
//! bytes in. See docs/rbac.md.

mod action;
mod identity;
mod policy;
mod token;

pub use action::{Action, ActionError, Resource, ResourceKind};
pub use identity::{
    Binding, IdentityError, MAX_NAME_LEN, ProjectName, RESERVED_NAMES, Role, Scope, Subject,
    SubjectKind, UserName, UserRecord,
};
pub use policy::{
    Decision, GRANTS, Grant, OwnAccount, Via, authorize, authorize_waivers, grant_of,
    markdown_table, waiver_granters,
};
pub use token::{
    ID_BYTES, SECRET_BYTES, TOKEN_LEN, TOKEN_PREFIX, TokenError, TokenHash, TokenId, TokenName,
    TokenRecord, TokenSecret, authenticate,
};

#[cfg(test)]
mod matrix_tests;
