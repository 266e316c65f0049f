//! Running a command in a running container: health probes and checks (their exit code
//! within a deadline; output read and dropped), and lifecycle hooks (exit code and a bounded
//! tail of their output, their environment's values hidden).

use std::time::Duration;

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bulkhead_ports::RuntimeError;
use bulkhead_ports::runtime::{
    HOOK_OUTPUT_BYTES, HOOK_OUTPUT_LINE, HOOK_OUTPUT_LINES, HookExec, HookOutcome,
};
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

    /// Run a lifecycle hook: never privileged, as its pinned user, in its directory, with its
    /// environment. Exit code -1 when still running after `timeout` (the engine cannot kill
    /// an exec: it keeps running).
    pub(crate) async fn container_hook(
        &self,
        id: &str,
        hook: &HookExec,
        timeout: Duration,
    ) -> Result<HookOutcome, RuntimeError> {
        let config = ExecConfig {
            cmd: Some(hook.cmd.clone()),
            user: Some(hook.user.clone()),
            working_dir: hook.working_dir.clone(),
            env: Some(hook.env.clone()),
            privileged: Some(false),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(id, config)
            .await
            .map_err(self.fail("exec in container", "container", id))?;
        let mut tail = std::collections::VecDeque::new();
        let run = self.run_hook(&created.id, &mut tail);
        let exit_code = match tokio::time::timeout(timeout, run).await {
            Ok(result) => result?,
            Err(_elapsed) => -1,
        };
        let secrets: Vec<&str> = hook
            .env
            .iter()
            .filter_map(|e| e.split_once('=').map(|(_, v)| v))
            .filter(|v| !v.is_empty())
            .collect();
        Ok(HookOutcome {
            exit_code,
            output: hook_lines(tail.make_contiguous(), &secrets),
        })
    }

    /// As `run_exec`, keeping the last `HOOK_OUTPUT_BYTES` of the output in `tail`.
    async fn run_hook(
        &self,
        exec_id: &str,
        tail: &mut std::collections::VecDeque<u8>,
    ) -> Result<i64, RuntimeError> {
        let fail = || self.fail("exec in container", "exec", exec_id);
        let started = self
            .docker
            .start_exec(exec_id, None)
            .await
            .map_err(fail())?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                let bytes = chunk.map_err(fail())?.into_bytes();
                tail.extend(bytes.iter().copied());
                let over = tail.len().saturating_sub(HOOK_OUTPUT_BYTES);
                tail.drain(..over);
            }
        }
        self.exit_code(exec_id).await
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
        self.exit_code(exec_id).await
    }

    /// Wait for the engine to record an exec's exit code.
    async fn exit_code(&self, exec_id: &str) -> Result<i64, RuntimeError> {
        let fail = || self.fail("exec in container", "exec", exec_id);
        loop {
            let inspected = self.docker.inspect_exec(exec_id).await.map_err(fail())?;
            if inspected.running != Some(true) {
                return Ok(inspected.exit_code.unwrap_or(-1));
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
}

/// The last lines of a hook's output, each cut to `HOOK_OUTPUT_LINE` bytes, every value of
/// its environment (`secrets`) replaced by `(hidden)`.
fn hook_lines(bytes: &[u8], secrets: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let skip = lines.len().saturating_sub(HOOK_OUTPUT_LINES);
    lines[skip..]
        .iter()
        .map(|line| {
            let mut line = line.to_string();
            for s in secrets {
                line = line.replace(s, "(hidden)");
            }
            if line.len() > HOOK_OUTPUT_LINE {
                let mut end = HOOK_OUTPUT_LINE;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push('…');
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hooks_output_is_bounded_and_its_environment_hidden() {
        let mut out = String::new();
        for i in 0..30 {
            out.push_str(&format!("line {i} token=s3cret\n"));
        }
        out.push_str(&"x".repeat(1000));
        let lines = hook_lines(out.as_bytes(), &["s3cret"]);
        assert_eq!(lines.len(), HOOK_OUTPUT_LINES);
        assert_eq!(lines[0], "line 21 token=(hidden)");
        assert!(lines.iter().all(|l| !l.contains("s3cret")));
        let last = lines.last().map(String::len).unwrap_or(0);
        assert!(last <= HOOK_OUTPUT_LINE + '…'.len_utf8(), "{last}");
    }
}
