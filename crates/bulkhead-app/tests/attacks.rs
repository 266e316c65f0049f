//! The attack suite: the tenant boundary attacked as an adversary would, in process against the
//! real router, dispatcher, store, audit log and Docker Engine — one module per class of attack
//! listed in docs/threat-model.md.

#[allow(dead_code)]
#[path = "api/support.rs"]
mod support;

#[path = "attacks/common.rs"]
mod common;

#[path = "attacks/paths.rs"]
mod paths;

#[path = "attacks/reactivation.rs"]
mod reactivation;

#[path = "attacks/https.rs"]
mod https;

#[path = "attacks/availability.rs"]
mod availability;

#[path = "attacks/rejections.rs"]
mod rejections;

#[path = "attacks/user_alias.rs"]
mod user_alias;

#[path = "attacks/low_hardening.rs"]
mod low_hardening;

#[path = "attacks/outside.rs"]
mod outside;

#[path = "attacks/outside2.rs"]
mod outside2;

#[path = "attacks/outside3.rs"]
mod outside3;
