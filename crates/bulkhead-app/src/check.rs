//! `check`: open a project and decide on it, touching nothing; on request, what a Swarm would
//! not enforce or could not carry of each service.

use std::collections::BTreeMap;

use bulkhead_core::deploy::template;
use bulkhead_core::hardening::Profile;
use bulkhead_core::spec::Project;
use bulkhead_core::verdict::{self, Verdict};

use crate::project::{OpenError, ProjectOptions, open};

pub use bulkhead_swarm::{Effect, Gap};

/// Open the project and return it with its verdict under the strict profile.
pub fn check(opts: &ProjectOptions) -> Result<(Project, Verdict), OpenError> {
    let project = open(opts)?;
    let verdict = verdict::check(&project, &Profile::default());
    Ok((project, verdict))
}

/// Each active service's gaps on a Swarm (Engine API 1.41): the hardening rules its tasks would
/// run without, and the settings Swarm cannot carry (refused), read off the container template
/// the deploy would make (the environment as written: it makes no gap). Services without a gap
/// are left out. Image `VOLUME`s are not read here (`up` refuses them on Swarm).
pub fn swarm_gaps(project: &Project, verdict: &Verdict) -> BTreeMap<String, Vec<Gap>> {
    let mut out = BTreeMap::new();
    for sv in &verdict.services {
        let Some(service) = project.services.get(&sv.name) else {
            continue;
        };
        let t = template(
            service,
            &sv.effective,
            BTreeMap::new(),
            verdict.topology.attachments_of(&sv.name),
            &format!("{}-", project.name),
        );
        let gaps = bulkhead_swarm::gaps(&t);
        if !gaps.is_empty() {
            out.insert(sv.name.clone(), gaps);
        }
    }
    out
}
