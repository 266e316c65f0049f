//! Images for a deploy: build from `build:` (skipped when the context is unchanged and the
//! image is still there), or use a local image by reference; then pin it by id and read the
//! user and health check the policy needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use bulkhead_core::spec::model::{Build, Service};
use bulkhead_ports::{BuildRequest, ContainerRuntime, ImageInfo, Progress, RuntimeError};

use super::DeployError;

/// Largest build context hashed for change detection.
const MAX_CONTEXT_BYTES: u64 = 512 << 20;

/// A service's image, pinned.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The image id (`sha256:...`): the release pins this.
    pub image: String,
    pub info: ImageInfo,
    /// For built images: the hash of the build inputs.
    pub build_key: Option<String>,
}

/// A hash over everything a build reads: the context's files (paths, modes, contents) and the
/// build settings. Equal keys, equal builds.
pub fn build_key(project_dir: &Path, build: &Build) -> Result<String, DeployError> {
    let context = project_dir.join(&build.context);
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_string(build).unwrap_or_default().as_bytes());
    let mut files = Vec::new();
    walk(&context, &context, &mut files).map_err(|e| DeployError::Build {
        service: String::new(),
        reason: format!("cannot read build context {}: {e}", context.display()),
    })?;
    files.sort();
    let mut total = 0u64;
    for (rel, path) in files {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| DeployError::Build {
            service: String::new(),
            reason: format!("{}: {e}", path.display()),
        })?;
        total += meta.len();
        if total > MAX_CONTEXT_BYTES {
            return Err(DeployError::Build {
                service: String::new(),
                reason: format!(
                    "build context {} is larger than {} MiB",
                    context.display(),
                    MAX_CONTEXT_BYTES >> 20
                ),
            });
        }
        use std::os::unix::fs::PermissionsExt;
        hasher.update(rel.as_bytes());
        hasher.update(meta.permissions().mode().to_le_bytes());
        if meta.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| DeployError::Build {
                service: String::new(),
                reason: format!("{}: {e}", path.display()),
            })?;
            hasher.update(Sha256::digest(&bytes));
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            hasher.update(target.as_bytes());
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else {
            out.push((rel, path));
        }
    }
    Ok(())
}

/// What one deploy has learnt about builds: the key of each set of build inputs (services
/// sharing a context hash it once), and the image of each key (built or reused once).
#[derive(Debug, Default)]
pub struct BuildCache {
    keys: BTreeMap<String, String>,
    images: BTreeMap<String, String>,
    /// What the engine said of each reference or id this run (services often share an
    /// image: one look, not one per service).
    inspected: BTreeMap<String, ImageInfo>,
}

impl BuildCache {
    async fn inspect<R: ContainerRuntime>(
        &mut self,
        runtime: &R,
        reference: &str,
    ) -> Result<ImageInfo, RuntimeError> {
        if let Some(info) = self.inspected.get(reference) {
            return Ok(info.clone());
        }
        let info = runtime.inspect_image(reference).await?;
        self.inspected.insert(reference.to_string(), info.clone());
        Ok(info)
    }
}

/// The project an image was built for: its built-by label, else (an image built before that
/// label existed) its project label.
pub fn built_by(labels: &BTreeMap<String, String>) -> Option<&String> {
    use bulkhead_ports::runtime::{LABEL_BUILT_BY, LABEL_PROJECT};
    labels
        .get(LABEL_BUILT_BY)
        .or_else(|| labels.get(LABEL_PROJECT))
}

/// The tag a built image gets: `<project>-<service>`, as Docker Compose names it.
pub fn tag(project: &str, service: &str) -> String {
    // Not `<project>-<service>`: `p` + `db-store` and `p-db` + `store` would share it, and a
    // build of one project would move another's tag. Service and project sit in fields of
    // their own: `bulkhead/store:shop`. A repository is lower case only.
    format!(
        "bulkhead/{}:{project}",
        bulkhead_core::names::ServiceName::engine_part(service)
    )
}

/// Resolve one service's image. `reuse` is the previous release's (build key, image id): when
/// the key is unchanged and the image still exists, no build happens.
pub async fn resolve<R: ContainerRuntime>(
    runtime: &R,
    project_name: &str,
    project_dir: &Path,
    service: &Service,
    reuse: Option<(&str, &str)>,
    built: &mut BuildCache,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Resolved, DeployError> {
    let Some(build) = &service.build else {
        let reference = service
            .image
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let info = built
            .inspect(runtime, &reference)
            .await
            .map_err(|e| match e {
                RuntimeError::NotFound { .. } => DeployError::ImageMissing {
                    service: service.name.clone(),
                    image: reference.clone(),
                },
                other => DeployError::Runtime(other),
            })?;
        // An image another project built is that project's (its code, whatever its build
        // baked in): not for this one to run.
        if built_by(&info.labels).is_some_and(|owner| owner != project_name) {
            return Err(DeployError::Policy {
                service: service.name.clone(),
                reason: format!("image `{reference}` was built by another project"),
                hint: "build it from this project's own files (`build:`), or use an image no project built".into(),
            });
        }
        return Ok(Resolved {
            image: info.id.clone(),
            info,
            build_key: None,
        });
    };
    let inputs = format!(
        "{}\0{}",
        project_dir.join(&build.context).display(),
        serde_json::to_string(build).unwrap_or_default()
    );
    let key = match built.keys.get(&inputs) {
        Some(k) => k.clone(),
        None => {
            let k = build_key(project_dir, build).map_err(|e| e.for_service(&service.name))?;
            built.keys.insert(inputs, k.clone());
            k
        }
    };
    if let Some(id) = built.images.get(&key).cloned() {
        let info = built.inspect(runtime, &id).await?;
        return Ok(Resolved {
            image: id,
            info,
            build_key: Some(key),
        });
    }
    if let Some((old_key, old_image)) = reuse
        && old_key == key
        && let Ok(info) = runtime.inspect_image(old_image).await
    {
        built.images.insert(key.clone(), old_image.to_string());
        return Ok(Resolved {
            image: old_image.to_string(),
            info,
            build_key: Some(key),
        });
    }
    let request = BuildRequest {
        context: project_dir.join(&build.context),
        dockerfile: build.dockerfile.clone(),
        tag: tag(project_name, &service.name),
        args: build
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect(),
        target: build.target.clone(),
        labels: BTreeMap::from([(
            bulkhead_ports::runtime::LABEL_BUILT_BY.to_string(),
            project_name.to_string(),
        )]),
        // The build's `RUN` steps reach the network only for a service that declares egress
        // (and then through the engine's default bridge, see docs/threat-model.md).
        network: service.bulkhead.egress == bulkhead_core::spec::extension::Egress::Internet,
    };
    progress(Progress {
        subject: service.name.clone(),
        line: format!("building {}", request.context.display()),
    });
    let id = runtime
        .build_image(&request, progress)
        .await
        .map_err(|e| DeployError::Build {
            service: service.name.clone(),
            reason: e.to_string(),
        })?;
    let info = runtime.inspect_image(&id).await?;
    built.images.insert(key.clone(), id.clone());
    Ok(Resolved {
        image: id,
        info,
        build_key: Some(key),
    })
}
