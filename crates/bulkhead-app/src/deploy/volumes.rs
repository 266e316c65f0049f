//! Which engine volume each named-volume mount is, and whose: a project's own volumes are
//! `<project>-<name>` (or their `name:`), created with its owner labels; an `external` one is
//! mounted by its own name, as in Compose — and only when it carries this project's owner
//! label, so that no spec mounts another project's data (names such as `p` + `db-data` and
//! `p-db` + `data` meet on the engine) or any other volume on the host.

use bulkhead_core::deploy::MountTemplate;
use bulkhead_core::spec::Project;
use bulkhead_ports::{ContainerRuntime, LabelFilter};

use super::DeployError;

/// The engine name of the project's volume `key`.
pub fn engine_name(project: &Project, key: &str) -> String {
    match project.volumes.get(key) {
        Some(def) if def.external => def.name.clone().unwrap_or_else(|| key.to_string()),
        Some(def) => def
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{key}", project.name)),
        None => format!("{}-{key}", project.name),
    }
}

/// Rename the template's volume mounts (named `<project>-<key>` by the template) to their
/// engine names.
pub fn name_mounts(project: &Project, mounts: &mut [MountTemplate]) {
    let prefix = format!("{}-", project.name);
    for m in mounts {
        if let MountTemplate::Volume { name, .. } = m
            && let Some(key) = name.strip_prefix(&prefix)
        {
            *name = engine_name(project, key);
        }
    }
}

/// Every external volume a service of `project` mounts must exist and carry the project's
/// owner label.
pub async fn check_external<R: ContainerRuntime>(
    runtime: &R,
    project: &Project,
) -> Result<(), DeployError> {
    let mut wanted = Vec::new();
    for s in project.services.values() {
        for m in &s.volumes {
            let key = &m.value.source;
            if project.volumes.get(key).is_some_and(|d| d.external) {
                wanted.push((s.name.clone(), key.clone(), engine_name(project, key)));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let owned: Vec<String> = runtime
        .list_volumes(&LabelFilter::project(&project.name))
        .await?
        .into_iter()
        .map(|v| v.name)
        .collect();
    for (service, key, name) in wanted {
        if !owned.contains(&name) {
            return Err(DeployError::Policy {
                service,
                reason: format!(
                    "external volume `{key}` is the engine volume `{name}`, which does not exist or does not belong to project {}",
                    project.name
                ),
                hint: format!(
                    "an external volume must carry the project's owner label: docker volume create --label dev.bulkhead.project={} {name}",
                    project.name
                ),
            });
        }
    }
    Ok(())
}
