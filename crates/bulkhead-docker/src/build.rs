//! Image builds with the engine's classic builder: the context streamed as tar, the JSON
//! progress messages turned into `Progress` lines, an `errorDetail` into `RuntimeError::Build`.

use std::collections::HashMap;

use bollard::body_try_stream;
use bollard::errors::Error as BollardError;
use bollard::models::BuildInfo;
use bollard::query_parameters::BuildImageOptions;
use bulkhead_ports::{BuildRequest, Progress, RuntimeError};
use futures_util::StreamExt;

use crate::DockerRuntime;
use crate::context::{self, ContextError};

impl DockerRuntime {
    /// Build `request.tag` and return the id the tag names afterwards.
    pub(crate) async fn image_build(
        &self,
        request: &BuildRequest,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, RuntimeError> {
        let failed = |reason: String| RuntimeError::Build {
            tag: request.tag.clone(),
            reason,
        };
        if request.tag.is_empty() {
            return Err(failed("the image needs a tag".to_string()));
        }
        let dockerfile = request.dockerfile.as_deref().unwrap_or("Dockerfile");
        let root = request.context.clone();
        let name = dockerfile.to_string();
        let entries = tokio::task::spawn_blocking(move || context::collect(&root, &name))
            .await
            .map_err(|e| failed(format!("reading the build context stopped: {e}")))?
            .map_err(|e| failed(e.to_string()))?;
        let (chunks, writer) = context::stream(entries);
        let built = self
            .run_build(options(request, dockerfile), chunks, request, progress)
            .await;
        // A context read error explains an aborted upload better than the engine's view of it.
        if built.is_ok() || writer.is_finished() {
            match writer.await {
                Ok(Ok(()) | Err(ContextError::Closed)) => {}
                Ok(Err(err)) => return Err(failed(err.to_string())),
                Err(err) => {
                    return Err(failed(format!("sending the build context stopped: {err}")));
                }
            }
        }
        built?;
        match self.image_inspect(&request.tag).await {
            Ok(image) => Ok(image.id),
            Err(RuntimeError::NotFound { .. }) => Err(failed(
                "the engine finished without an image under this tag".to_string(),
            )),
            Err(err) => Err(err),
        }
    }

    async fn run_build(
        &self,
        options: BuildImageOptions,
        chunks: impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
        request: &BuildRequest,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        let mut messages = self
            .docker
            .build_image(options, None, Some(body_try_stream(chunks)));
        while let Some(message) = messages.next().await {
            match message {
                Ok(info) => report(&info, &request.tag, progress),
                Err(err) => return Err(self.build_error(&request.tag, err)),
            }
        }
        Ok(())
    }

    /// The engine's own failures (a stream `errorDetail`, an error status) are build failures;
    /// losing the engine is not.
    fn build_error(&self, tag: &str, err: BollardError) -> RuntimeError {
        match err {
            BollardError::DockerStreamError { error } => RuntimeError::Build {
                tag: tag.to_string(),
                reason: error,
            },
            BollardError::DockerResponseServerError { message, .. } => RuntimeError::Build {
                tag: tag.to_string(),
                reason: message,
            },
            err => self.fail("build image", "image", tag)(err),
        }
    }
}

/// Classic builder, intermediate containers removed even on failure; nothing pulled; `RUN`
/// steps with no network unless the request asks for one.
fn options(request: &BuildRequest, dockerfile: &str) -> BuildImageOptions {
    let map = |m: &std::collections::BTreeMap<String, String>| -> Option<HashMap<String, String>> {
        (!m.is_empty()).then(|| m.clone().into_iter().collect())
    };
    BuildImageOptions {
        dockerfile: dockerfile.trim_start_matches("./").to_string(),
        t: Some(request.tag.clone()),
        buildargs: map(&request.args),
        target: request.target.clone().unwrap_or_default(),
        labels: map(&request.labels),
        // A build runs the tenant's code: with no network unless the service declares egress.
        networkmode: Some(if request.network { "default" } else { "none" }.to_string()),
        rm: true,
        forcerm: true,
        ..Default::default()
    }
}

/// Each non-empty line of a `stream` message, trimmed.
fn report(info: &BuildInfo, tag: &str, progress: &(dyn Fn(Progress) + Send + Sync)) {
    let Some(text) = &info.stream else {
        return;
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        progress(Progress {
            subject: tag.to_string(),
            line: line.to_string(),
        });
    }
}
