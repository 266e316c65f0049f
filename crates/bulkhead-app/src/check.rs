//! `check`: open a project and decide on it, touching nothing.

use bulkhead_core::hardening::Profile;
use bulkhead_core::spec::Project;
use bulkhead_core::verdict::{self, Verdict};

use crate::project::{OpenError, ProjectOptions, open};

/// Open the project and return it with its verdict under the strict profile.
pub fn check(opts: &ProjectOptions) -> Result<(Project, Verdict), OpenError> {
    let project = open(opts)?;
    let verdict = verdict::check(&project, &Profile::default());
    Ok((project, verdict))
}
