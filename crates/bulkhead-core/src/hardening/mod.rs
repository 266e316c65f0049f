//! The hardening profile: what every container gets unless a waiver relaxes it. The rules are
//! data (`rules`), the profile's knobs have a strict `Default` (`profile`), and one pure function
//! applies them (`evaluate::harden`).

mod evaluate;
mod profile;
mod rules;
pub mod userdb;

pub use evaluate::{Finding, Hardened, Outcome, harden, is_root_group, is_root_user};
pub use profile::{Binding, Effective, Health, NetworkMode, Profile};
pub use rules::{RULES, Rule, RuleInfo};

#[cfg(test)]
mod rule_tests;
