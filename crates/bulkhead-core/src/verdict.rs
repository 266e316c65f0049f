//! The verdict on a whole project: every service hardened, refusals with the way to a waiver,
//! the security groups and networks. This is what `bulkhead check` prints and `up` obeys.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::hardening::NetworkMode;
use crate::hardening::{Effective, Finding, Outcome, Profile, harden};
use crate::secgroups::{self, Topology};
use crate::spec::Project;
use crate::spec::extension::{Tier, Waiver};
use crate::spec::model::Note;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceVerdict {
    pub name: String,
    pub tier: Tier,
    pub replicas: u32,
    /// The image reference, or `None` when it is built from source.
    pub image: Option<String>,
    pub deployable: bool,
    pub findings: Vec<Finding>,
    pub waivers: Vec<Waiver>,
    pub effective: Effective,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub project: String,
    pub deployable: bool,
    pub services: Vec<ServiceVerdict>,
    pub topology: Topology,
    pub notes: Vec<Note>,
    /// Services left out by profiles.
    pub inactive: Vec<String>,
}

impl Verdict {
    /// Every refused finding, with its service.
    pub fn refusals(&self) -> impl Iterator<Item = (&ServiceVerdict, &Finding)> {
        self.services.iter().flat_map(|s| {
            s.findings
                .iter()
                .filter(|f| f.outcome == Outcome::Refused)
                .map(move |f| (s, f))
        })
    }
}

/// How to get past a refusal, for messages.
pub fn waiver_hint(service: &ServiceVerdict, finding: &Finding) -> String {
    if service.tier == Tier::Safe {
        return format!(
            "service `{}` has tier `safe`, which accepts no waivers: remove what the rule forbids",
            service.name
        );
    }
    if !finding.rule.waivable() {
        return "this rule cannot be waived".to_string();
    }
    format!(
        "remove it, or ask an admin to grant a waiver on service `{}`: x-bulkhead: {{ waivers: [{{ rule: {}, reason: \"<why>\" }}] }}",
        service.name,
        finding.rule.id()
    )
}

/// Decide on a whole project under `profile`.
pub fn check(project: &Project, profile: &Profile) -> Verdict {
    let mut services = Vec::new();
    let mut on_networks = BTreeSet::new();
    for (name, s) in &project.services {
        let hardened = harden(s, &project.dir, profile);
        if hardened.effective.network_mode == NetworkMode::SecurityGroups {
            on_networks.insert(name.clone());
        }
        services.push(ServiceVerdict {
            name: name.clone(),
            tier: s.bulkhead.tier,
            replicas: s.replicas,
            image: s.image.as_ref().map(|i| i.value.clone()),
            deployable: hardened.deployable(),
            findings: hardened.findings,
            waivers: s.bulkhead.waivers.clone(),
            effective: hardened.effective,
        });
    }
    let topology = secgroups::topology(project, &on_networks);
    Verdict {
        project: project.name.clone(),
        deployable: services.iter().all(|s| s.deployable),
        services,
        topology,
        notes: project.notes.clone(),
        inactive: project.inactive.clone(),
    }
}
