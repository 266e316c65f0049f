//! The waiver checks of the commands that create containers: a deploy whose spec carries
//! waivers, a rollback to a release that carries them, a scale of a service whose active
//! release carries them. Each needs the waiver-grant right on the project; a refusal (403,
//! audited as a denial) names the accounts that have it.

use std::collections::BTreeSet;

use bulkhead_core::auth::{
    Decision, ProjectName, WaiverUse, authorize_waiver_use, waiver_granters,
};
use bulkhead_core::hardening::Outcome as Finding;
use bulkhead_core::verdict::Verdict;
use bulkhead_ports::Store;

use super::dispatch::{Api, Authenticated};
use super::error::ApiError;

impl Api {
    /// A spec that carries waivers deploys only for a caller who may grant them — every waiver
    /// it declares, used at `check` or not: some are decided only at deploy (a user name
    /// resolved through the image's /etc/passwd), after this check.
    pub(super) async fn check_waivers(
        &self,
        who: &Authenticated,
        project: &ProjectName,
        verdict: &Verdict,
    ) -> Result<(), ApiError> {
        let used = verdict
            .services
            .iter()
            .flat_map(|s| s.findings.iter())
            .filter(|f| f.outcome == Finding::Waived)
            .map(|f| f.rule);
        let declared = verdict
            .services
            .iter()
            .flat_map(|s| s.waivers.iter())
            .map(|w| w.rule);
        let rules: BTreeSet<_> = used.chain(declared).collect();
        let rules: Vec<&str> = rules.into_iter().map(|r| r.id()).collect();
        self.check_use(who, project, &rules, WaiverUse::Deploy)
            .await
    }

    /// The release a rollback goes to (`to`, or the one before the active one), refused when
    /// it carries waivers the caller may not grant.
    pub(super) async fn check_rollback(
        &self,
        who: &Authenticated,
        project: &ProjectName,
        service: &str,
        to: Option<u64>,
    ) -> Result<u64, ApiError> {
        let (all, active) = self.deployer.releases(project.as_str(), service).await?;
        let release = crate::deploy::ops::rollback_target(service, &all, active, to)?;
        let target = release.number;
        let rules: Vec<&str> = release.waivers.iter().map(|(id, _)| id.as_str()).collect();
        let what = WaiverUse::Rollback {
            service,
            release: target,
        };
        self.check_use(who, project, &rules, what).await?;
        Ok(target)
    }

    /// The service's active release (`None`: it has none), refused when it carries waivers
    /// the caller may not grant: scaling out creates containers with them.
    pub(super) async fn check_scale(
        &self,
        who: &Authenticated,
        project: &ProjectName,
        service: &str,
    ) -> Result<Option<u64>, ApiError> {
        let active = self.deployer.store.active(project.as_str()).await?;
        let Some(release) = active.into_iter().find(|r| r.service == service) else {
            return Ok(None);
        };
        let rules: Vec<&str> = release.waivers.iter().map(|(id, _)| id.as_str()).collect();
        let what = WaiverUse::Scale {
            service,
            release: release.number,
        };
        self.check_use(who, project, &rules, what).await?;
        Ok(Some(release.number))
    }

    /// Setting `secret` rolls the services whose active release uses it; each that carries
    /// waivers needs the caller to hold `waiver.grant`. Returns whether the caller holds it,
    /// for the check made again under the project's lock.
    pub(super) async fn check_secret_roll(
        &self,
        who: &Authenticated,
        project: &ProjectName,
        secret: &str,
    ) -> Result<bool, ApiError> {
        let may_grant = bulkhead_core::auth::authorize(
            &who.subject,
            bulkhead_core::auth::Action::WaiverGrant,
            &bulkhead_core::auth::Resource::Project(project.clone()),
        )
        .is_allow();
        if may_grant {
            return Ok(true);
        }
        for (service, release, rules) in self
            .deployer
            .waived_users_of_secret(project.as_str(), secret)
            .await?
        {
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            let what = WaiverUse::SecretRoll {
                service: &service,
                release,
            };
            self.check_use(who, project, &rules, what).await?;
        }
        Ok(false)
    }

    async fn check_use(
        &self,
        who: &Authenticated,
        project: &ProjectName,
        rules: &[&str],
        what: WaiverUse<'_>,
    ) -> Result<(), ApiError> {
        if rules.is_empty() {
            return Ok(());
        }
        let bindings = self.enabled_bindings().await?;
        let granters = waiver_granters(&bindings, project);
        match authorize_waiver_use(&who.subject, project, rules, &granters, what) {
            Some(Decision::Deny { reason }) => Err(ApiError::forbidden(reason)),
            _ => Ok(()),
        }
    }
}
