//! The one pure function of the profile: a service in, its effective container settings and one
//! finding per rule out. Waivers are applied here; nothing is deployed. The checks live beside
//! it, one file per area: `identity`, `filesystem`, `isolation` and `resources`.

mod filesystem;
mod identity;
mod isolation;
mod resources;

use serde::Serialize;

use super::profile::{Effective, Profile};
use super::rules::Rule;
use crate::spec::Span;
use crate::spec::extension::Waiver;
use crate::spec::model::Service;
use filesystem::{devices, mounts, rootfs};
use identity::{capabilities, group_add, privileged, user};
use isolation::{namespaces, network, runtime, security_opt, sysctls};
use resources::{cpu_shares, health, image, limits, logging, ports, restart, unused_waivers};

/// What happened to one rule for one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The spec already meets the rule; Bulkhead enforces it.
    Enforced,
    /// The spec was silent or asked for less; Bulkhead applies the rule's setting.
    Hardened,
    /// The spec asks for something the rule forbids, and no waiver covers it.
    Refused,
    /// The spec breaks the rule under a waiver, which is recorded.
    Waived,
    /// Worth a look; does not block (a missing health check, an image by tag).
    Flagged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub outcome: Outcome,
    pub message: String,
    /// Where in the spec the finding comes from, when it comes from the spec.
    pub at: Option<Span>,
    /// For waived findings: the reason given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver_reason: Option<String>,
}

/// The outcome for one service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hardened {
    pub effective: Effective,
    pub findings: Vec<Finding>,
}

impl Hardened {
    pub fn refused(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.outcome == Outcome::Refused)
    }

    pub fn deployable(&self) -> bool {
        self.refused().next().is_none()
    }
}

struct Ctx<'a> {
    service: &'a Service,
    project_dir: &'a str,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    fn note(
        &mut self,
        rule: Rule,
        outcome: Outcome,
        message: impl Into<String>,
        at: Option<&Span>,
    ) {
        self.findings.push(Finding {
            rule,
            outcome,
            message: message.into(),
            at: at.cloned(),
            waiver_reason: None,
        });
    }

    /// The spec breaks `rule`: refused, unless a waiver covers it. Returns whether it is waived.
    fn breach(&mut self, rule: Rule, message: String, at: &Span) -> bool {
        let waiver: Option<&Waiver> = self
            .service
            .bulkhead
            .waivers
            .iter()
            .find(|w| w.rule == rule);
        let (outcome, reason) = match waiver {
            Some(w) => (Outcome::Waived, Some(w.reason.clone())),
            None => (Outcome::Refused, None),
        };
        self.findings.push(Finding {
            rule,
            outcome,
            message,
            at: Some(at.clone()),
            waiver_reason: reason,
        });
        outcome == Outcome::Waived
    }
}

/// Harden one service under `profile`. `project_dir` bounds bind mounts.
pub fn harden(service: &Service, project_dir: &str, profile: &Profile) -> Hardened {
    let mut cx = Ctx {
        service,
        project_dir,
        findings: Vec::new(),
    };
    let user = user(&mut cx);
    let group_add = group_add(&mut cx);
    let (cap_drop, cap_add) = capabilities(&mut cx, profile);
    let privileged = privileged(&mut cx);
    mounts(&mut cx);
    let network_mode = network(&mut cx);
    let (read_only_rootfs, tmpfs) = rootfs(&mut cx, profile);
    let security_opt = security_opt(&mut cx);
    let [pid, ipc, uts, userns_mode] = namespaces(&mut cx);
    let devices = devices(&mut cx);
    let (memory, pids_limit, nano_cpus) = limits(&mut cx, profile);
    let restart = restart(&mut cx, profile);
    let health = health(&mut cx);
    let ports = ports(&mut cx);
    let sysctls = sysctls(&mut cx, profile);
    let runtime = runtime(&mut cx, profile);
    let logging = logging(&mut cx);
    let cpu_shares = cpu_shares(&cx, profile);
    image(&mut cx);
    unused_waivers(&mut cx);
    let effective = Effective {
        user,
        read_only_rootfs,
        tmpfs,
        cap_drop,
        cap_add,
        privileged,
        security_opt,
        network_mode,
        pid,
        ipc,
        uts,
        userns_mode,
        devices,
        memory,
        memory_swap: memory,
        pids_limit,
        cpu_shares,
        nano_cpus,
        restart,
        health,
        ports,
        init: service.init.unwrap_or(true),
        sysctls,
        runtime,
        group_add,
        logging,
    };
    Hardened {
        effective,
        findings: cx.findings,
    }
}

/// Whether a `user:` value names root (by name or uid 0), with or without a group. An empty
/// user name (`""`, `":1000"`, an unset `${UID}:${GID}`) is root too: the engine falls back to
/// uid 0 when only a group is given, and an image without USER runs as root.
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name.is_empty() || name == "root" || name.parse::<u32>() == Ok(0)
}

/// Whether a `user:` value names the root group (`1000:0`, `app:root`) on its face. A group
/// that is gid 0 under another name (`1000:wheel`) is found at deploy, in the image's
/// /etc/group (see `userdb`).
pub fn is_root_group(user: &str) -> bool {
    let Some((_, group)) = user.split_once(':') else {
        return false;
    };
    let group = group.trim();
    group == "root" || group.parse::<u32>() == Ok(0)
}
