//! Running a command in a running container (health probes, checks): its exit code within a
//! deadline; its output is read and dropped.

use std::time::Duration;

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bulkhead_ports::RuntimeError;
use futures_util::StreamExt;

use crate::DockerRuntime;

/// How often to ask whether an exec whose output has ended has also exited.
const EXIT_POLL: Duration = Duration::from_millis(50);

impl DockerRuntime {
    /// Exit code of `cmd` (exec form, the container's user); -1 when still running after
    /// `timeout`. The engine cannot kill an exec, so a timed-out command keeps running.
    pub(crate) async fn container_exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<i64, RuntimeError> {
        let config = ExecConfig {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(id, config)
            .await
            .map_err(self.fail("exec in container", "container", id))?;
        match tokio::time::timeout(timeout, self.run_exec(&created.id)).await {
            Ok(result) => result,
            Err(_elapsed) => Ok(-1),
        }
    }

    /// Start attached, drain the output, then wait for the engine to record the exit code.
    async fn run_exec(&self, exec_id: &str) -> Result<i64, RuntimeError> {
        let fail = || self.fail("exec in container", "exec", exec_id);
        let started = self
            .docker
            .start_exec(exec_id, None)
            .await
            .map_err(fail())?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                chunk.map_err(fail())?;
            }
        }
        loop {
            let inspected = self.docker.inspect_exec(exec_id).await.map_err(fail())?;
            if inspected.running != Some(true) {
                return Ok(inspected.exit_code.unwrap_or(-1));
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
}
