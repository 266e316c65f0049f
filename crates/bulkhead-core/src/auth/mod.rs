//! Identity and RBAC, pure: names, roles, bindings and subjects (`identity`), every API action
//! (`action`), the grant table and the one decision `authorize(subject, action, resource)`
//! (`policy`), waiver refusals (`waivers`), and API tokens (`token`). No clock, no randomness: callers pass "now" and random
//! bytes in. See docs/rbac.md.

mod action;
mod identity;
mod policy;
mod token;
mod waivers;

pub use action::{Action, ActionError, Resource, ResourceKind};
pub use identity::{
    Binding, IdentityError, MAX_NAME_LEN, ProjectName, RESERVED_NAMES, Role, Scope, Subject,
    SubjectKind, UserName, UserRecord,
};
pub use policy::{Decision, GRANTS, Grant, OwnAccount, Via, authorize, grant_of, markdown_table};
pub use token::{
    ID_BYTES, MAX_EXPIRES_IN, SECRET_BYTES, TOKEN_LEN, TOKEN_PREFIX, TokenError, TokenHash,
    TokenId, TokenName, TokenRecord, TokenSecret, authenticate,
};
pub use waivers::{WaiverUse, authorize_waiver_use, authorize_waivers, waiver_granters};

#[cfg(test)]
mod matrix_tests;
