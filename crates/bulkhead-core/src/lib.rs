//! Bulkhead's pure core: the names of things (`names`), the spec model and its validation, the
//! hardening profile, policy, security groups, secrets at rest (the envelope), and which files
//! an upload or a build context leaves out. No I/O, no async: every function here is a decision over values.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod deploy;
pub mod hardening;
pub mod ignore;
pub mod imagefit;
pub mod keylike;
pub mod names;
pub mod secgroups;
pub mod secrets;
pub mod spec;
pub mod verdict;
