//! Waiver refusals: who may deploy a spec that carries hardening waivers, or (re)activate a
//! release that carries them (a rollback, a scale, the reconciler re-creating its containers),
//! and the refusal that names the rules and the accounts that can.

use std::fmt::Write as _;

use super::action::{Action, Resource};
use super::identity::{Binding, ProjectName, Subject, UserName};
use super::policy::{Decision, authorize, covers, grant_of, who};
use crate::hardening::Rule;

/// How many granters a waiver refusal names before "and N more".
const NAMED_GRANTERS: usize = 5;

/// What is done with waivers: each use needs `waiver.grant` on the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaiverUse<'a> {
    /// Deploying a spec that carries them.
    Deploy,
    /// Rolling `service` back to `release`, which carries them.
    Rollback { service: &'a str, release: u64 },
    /// Scaling `service`, whose active `release` carries them (scaling out creates containers).
    Scale { service: &'a str, release: u64 },
    /// Setting a secret that `service`'s active `release`, which carries them, uses: the new
    /// version rolls the service, creating containers with them.
    SecretRoll { service: &'a str, release: u64 },
    /// Creating containers of `service`'s active `release`, which carries them, on behalf of
    /// the account that activated it (the reconciler).
    Recreate { service: &'a str, release: u64 },
}

/// May `subject` deploy, to `project`, a spec that needs `waivers`? `None` when it needs none.
/// Otherwise the `waiver.grant` decision, and a refusal that names the rules and who can grant
/// them. `granters` are the enabled accounts that may (see [`waiver_granters`]).
pub fn authorize_waivers(
    subject: &Subject,
    project: &ProjectName,
    waivers: &[Rule],
    granters: &[UserName],
) -> Option<Decision> {
    let ids: Vec<&str> = waivers.iter().map(|r| r.id()).collect();
    authorize_waiver_use(subject, project, &ids, granters, WaiverUse::Deploy)
}

/// [`authorize_waivers`] for any [`WaiverUse`], with the waived rules as ids (as a release
/// stores them; an id this version does not know still counts as a waiver).
pub fn authorize_waiver_use(
    subject: &Subject,
    project: &ProjectName,
    waivers: &[&str],
    granters: &[UserName],
    what: WaiverUse<'_>,
) -> Option<Decision> {
    if waivers.is_empty() {
        return None;
    }
    let resource = Resource::Project(project.clone());
    let decision = authorize(subject, Action::WaiverGrant, &resource);
    if decision.is_allow() {
        return Some(decision);
    }
    let rules: Vec<String> = waivers.iter().map(|r| format!("`{r}`")).collect();
    let plural = if rules.len() == 1 { "" } else { "s" };
    let rules = rules.join(", ");
    let subject = who(subject);
    let (mut reason, verb, otherwise) = match what {
        WaiverUse::Deploy => (
            format!(
                "project {project} needs waivers for rule{plural} {rules}, and {subject} may not grant waivers: only an admin can grant them"
            ),
            "deploy it",
            "meet the rules and remove the waivers",
        ),
        WaiverUse::Rollback { service, release } => (
            format!(
                "release {release} of service `{service}` in project {project} carries waivers for rule{plural} {rules}, and {subject} may not grant waivers: only an admin can grant them, and rolling back activates them again"
            ),
            "roll it back",
            "roll back to a release without waivers",
        ),
        WaiverUse::Scale { service, release } => (
            format!(
                "release {release} of service `{service}` in project {project} carries waivers for rule{plural} {rules}, and {subject} may not grant waivers: only an admin can grant them, and scaling creates containers with them"
            ),
            "scale it",
            "deploy a release without waivers",
        ),
        WaiverUse::SecretRoll { service, release } => (
            format!(
                "release {release} of service `{service}` in project {project} carries waivers for rule{plural} {rules}, and {subject} may not grant waivers: only an admin can grant them, and a new version of this secret rolls the service, creating containers with them"
            ),
            "set the secret",
            "deploy a release without waivers",
        ),
        WaiverUse::Recreate { service, release } => (
            format!(
                "release {release} of service `{service}` in project {project} carries waivers for rule{plural} {rules}, and {subject}, who activated it, may no longer grant waivers: its containers are not created or re-created"
            ),
            "deploy it or roll it back",
            "deploy a release without waivers",
        ),
    };
    let _ = if granters.is_empty() {
        write!(
            reason,
            " and no account is an admin for project {project} yet — one is made with `bulkhead user add NAME --role admin`"
        )
    } else {
        let named: Vec<&str> = granters
            .iter()
            .take(NAMED_GRANTERS)
            .map(UserName::as_str)
            .collect();
        let more = granters.len().saturating_sub(NAMED_GRANTERS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        write!(
            reason,
            " — ask an admin ({}{more}) to {verb}",
            named.join(", ")
        )
    };
    let _ = write!(reason, ", or {otherwise}");
    Some(Decision::Deny { reason })
}

/// The accounts, sorted and without repeats, whose bindings allow `waiver.grant` in
/// `project`. The caller passes the bindings of enabled accounts only.
pub fn waiver_granters(bindings: &[Binding], project: &ProjectName) -> Vec<UserName> {
    let resource = Resource::Project(project.clone());
    let roles = grant_of(Action::WaiverGrant).map_or(&[][..], |g| g.roles);
    let mut out: Vec<UserName> = bindings
        .iter()
        .filter(|b| roles.contains(&b.role) && covers(&b.scope, &resource, false))
        .map(|b| b.user.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}
