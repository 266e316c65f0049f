//! Image inspection: the id, registry digests, USER, HEALTHCHECK test, VOLUMEs, ENTRYPOINT,
//! CMD and WORKDIR Bulkhead's checks need.

use bollard::models::ImageInspect;
use bulkhead_ports::{ImageInfo, RuntimeError};

use crate::DockerRuntime;

impl DockerRuntime {
    pub(crate) async fn image_inspect(&self, reference: &str) -> Result<ImageInfo, RuntimeError> {
        let inspected = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(self.fail("inspect image", "image", reference))?;
        Ok(image_info(inspected))
    }
}

/// A missing, empty or `["NONE"]` health check test counts as none.
pub(crate) fn image_info(inspected: ImageInspect) -> ImageInfo {
    let config = inspected.config.unwrap_or_default();
    let healthcheck = config
        .healthcheck
        .and_then(|h| h.test)
        .filter(|test| !test.is_empty() && test.first().is_none_or(|t| t != "NONE"));
    ImageInfo {
        id: inspected.id.unwrap_or_default(),
        repo_digests: inspected.repo_digests.unwrap_or_default(),
        user: config.user.unwrap_or_default(),
        healthcheck,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        volumes: {
            let mut v: Vec<String> = config.volumes.unwrap_or_default();
            v.sort();
            v
        },
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        working_dir: config.working_dir.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{HealthConfig, ImageConfig};

    use super::*;

    fn with_test(test: Option<Vec<&str>>) -> ImageInspect {
        ImageInspect {
            id: Some("sha256:abc".into()),
            config: Some(ImageConfig {
                user: Some("10001".into()),
                healthcheck: test.map(|t| HealthConfig {
                    test: Some(t.into_iter().map(String::from).collect()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn healthcheck_none_forms() {
        assert_eq!(image_info(with_test(None)).healthcheck, None);
        assert_eq!(image_info(with_test(Some(vec!["NONE"]))).healthcheck, None);
        assert_eq!(image_info(with_test(Some(vec![]))).healthcheck, None);
        let info = image_info(with_test(Some(vec!["CMD", "/probe"])));
        assert_eq!(info.healthcheck, Some(vec!["CMD".into(), "/probe".into()]));
        assert_eq!(info.user, "10001");
        assert_eq!(info.id, "sha256:abc");
        assert!(info.repo_digests.is_empty());
    }
}
