//! The re-activation rule: a release that carries waivers gets containers created (by a deploy,
//! a rollback, a scale, a secret roll or the reconciler) only while the account that activated
//! it (recorded in the store with its active pointer) may still grant those waivers. A held
//! service is left as it is: nothing of it is created, replaced or removed.

use std::collections::BTreeSet;

use bulkhead_core::auth::{
    Binding, Decision, ProjectName, Subject, SubjectKind, UserName, WaiverUse,
    authorize_waiver_use, waiver_granters,
};
use bulkhead_core::deploy::{Op, Plan};
use bulkhead_ports::{ContainerRuntime, Firewall, Release, Store};
use serde::Serialize;

use super::{DeployError, Deployer};

/// A service whose active release carries waivers its activator may no longer grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Held {
    pub service: String,
    pub release: u64,
    /// Who activated the release (empty when the store does not say).
    pub activated_by: String,
    /// Why, and who can lift it (the refusal sentence of a waiver use).
    pub reason: String,
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// The role bindings of the accounts that are enabled: who may act (and grant) now.
    pub async fn enabled_bindings(&self) -> Result<Vec<Binding>, DeployError> {
        let enabled: BTreeSet<UserName> = self
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| u.name)
            .collect();
        Ok(self
            .store
            .list_bindings(None)
            .await?
            .into_iter()
            .filter(|b| enabled.contains(&b.user))
            .collect())
    }

    /// The services of `active` (a project's active releases) that are held.
    pub async fn held<'a>(
        &self,
        project: &str,
        active: impl IntoIterator<Item = &'a Release>,
    ) -> Result<Vec<Held>, DeployError> {
        let waived: Vec<&Release> = active
            .into_iter()
            .filter(|r| !r.waivers.is_empty())
            .collect();
        if waived.is_empty() {
            return Ok(Vec::new());
        }
        let activators = self.store.activated_by(project).await?;
        let bindings = self.enabled_bindings().await?;
        let users = self.store.list_users().await?;
        let name = ProjectName::new(project).ok();
        let mut held = Vec::new();
        for r in waived {
            let by = activators.get(&r.service).cloned().unwrap_or_default();
            // The local administrator of this host (embedded mode) may grant anything.
            if by == UserName::local().as_str() {
                continue;
            }
            let user = UserName::new(&by).ok();
            let reason = match (&name, user) {
                (Some(project), Some(user)) => {
                    let kind = users
                        .iter()
                        .find(|u| u.name == user)
                        .map_or(SubjectKind::User, |u| u.kind);
                    // A disabled account has no binding among the enabled ones: it grants nothing.
                    let own = bindings
                        .iter()
                        .filter(|b| b.user == user)
                        .cloned()
                        .collect();
                    let subject = Subject::new(user, kind, own).map_err(|e| {
                        bulkhead_ports::StoreError::Corrupt {
                            reason: e.to_string(),
                        }
                    })?;
                    let ids: Vec<&str> = r.waivers.iter().map(|(id, _)| id.as_str()).collect();
                    let what = WaiverUse::Recreate {
                        service: &r.service,
                        release: r.number,
                    };
                    let granters = waiver_granters(&bindings, project);
                    match authorize_waiver_use(&subject, project, &ids, &granters, what) {
                        Some(Decision::Deny { reason }) => reason,
                        _ => continue,
                    }
                }
                _ => format!(
                    "release {} of service `{}` in project {project} carries waivers and the store names no account that activated it: its containers are not created or re-created — ask an admin to deploy it or roll it back",
                    r.number, r.service
                ),
            };
            held.push(Held {
                service: r.service.clone(),
                release: r.number,
                activated_by: by,
                reason,
            });
        }
        Ok(held)
    }
}

/// Take the held services out of `plan`: their rollouts, and any op that removes one of their
/// containers.
pub(super) fn hold_back(plan: &mut Plan, held: &[Held]) {
    let names: Vec<&str> = held.iter().map(|h| h.service.as_str()).collect();
    hold_back_services(plan, &names);
}

/// Take `services` out of `plan` (see [`hold_back`]).
pub(super) fn hold_back_services(plan: &mut Plan, services: &[&str]) {
    if services.is_empty() {
        return;
    }
    let is_held = |service: &str| services.contains(&service);
    for wave in &mut plan.waves {
        wave.retain(|rollout| !is_held(&rollout.service));
    }
    plan.waves.retain(|wave| !wave.is_empty());
    let keep = |op: &Op| !matches!(op, Op::Remove { service, .. } if is_held(service));
    plan.prepare.retain(keep);
    plan.cleanup.retain(keep);
}
