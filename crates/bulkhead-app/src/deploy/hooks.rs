//! Lifecycle hooks through the engine's exec: `post_start` in a new replica once it started,
//! before it can count as ready (a failure fails the replica like a failed readiness check);
//! `pre_stop` in a running replica before it is stopped (bounded by its stop grace period; a
//! failure is reported and the stop goes on). Never privileged, always as the pinned non-root
//! user resolved at deploy; a hook's environment is never logged, its output is bounded.

use std::time::{Duration, Instant};

use bulkhead_core::spec::rollout::Hook;
use bulkhead_ports::runtime::{HookExec, LABEL_PROJECT, LABEL_RELEASE, LABEL_SERVICE};
use bulkhead_ports::{ContainerRuntime, Firewall, Store};

use super::{DeployError, Deployer, StoredSpec};

/// How long one `post_start` command may run.
pub const POST_START_LIMIT: Duration = Duration::from_secs(60);

/// The exec of `hook`: its pinned user, else the service's own (`service_user`, pinned).
fn exec_of(hook: &Hook, service_user: Option<&str>) -> HookExec {
    HookExec {
        cmd: hook.command.clone(),
        user: hook
            .user
            .as_deref()
            .or(service_user)
            .unwrap_or_default()
            .to_string(),
        working_dir: hook.working_dir.clone(),
        env: hook
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    }
}

/// What to call a hook in messages: its key, index and program (never its arguments or
/// environment).
fn label(key: &str, i: usize, hook: &Hook) -> String {
    let program = hook.command.first().map(String::as_str).unwrap_or_default();
    format!("{key}[{i}] (`{program}`)")
}

fn tail(output: &[String]) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!("; its last output lines:\n    {}", output.join("\n    "))
    }
}

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// Run the release's `post_start` commands in the started replica `id`, in order; the
    /// first that fails (exit code not 0, or still running after [`POST_START_LIMIT`]) fails
    /// the replica.
    pub(super) async fn post_start(
        &self,
        id: &str,
        name: &str,
        spec: &StoredSpec,
    ) -> Result<(), DeployError> {
        for (i, hook) in spec.post_start.iter().enumerate() {
            let what = label("post_start", i, hook);
            let out = self
                .runtime
                .exec_hook(
                    id,
                    &exec_of(hook, spec.template.user.as_deref()),
                    POST_START_LIMIT,
                )
                .await?;
            if out.exit_code != 0 {
                let how = if out.exit_code == -1 {
                    format!("did not finish within {} s", POST_START_LIMIT.as_secs())
                } else {
                    format!("exited with code {}", out.exit_code)
                };
                return Err(DeployError::NotReady {
                    what: "replica".into(),
                    name: name.to_string(),
                    reason: format!("{what} {how}{}", tail(&out.output)),
                });
            }
            self.say(name, format!("{what} done"));
        }
        Ok(())
    }

    /// Run the `pre_stop` commands of the release replica `id` runs, if it is running, within
    /// `grace` in all. Best effort: a failure is reported and the stop proceeds.
    pub(super) async fn pre_stop(&self, id: &str, name: &str, grace: Duration) {
        let Ok(info) = self.runtime.inspect_container(id).await else {
            return;
        };
        if info.state != "running" {
            return;
        }
        let (Some(project), Some(service), Some(number)) = (
            info.labels.get(LABEL_PROJECT),
            info.labels.get(LABEL_SERVICE),
            info.labels
                .get(LABEL_RELEASE)
                .and_then(|n| n.parse::<u64>().ok()),
        ) else {
            return;
        };
        let Ok(releases) = self.store.releases(project, service).await else {
            return;
        };
        let Some(spec) = releases
            .iter()
            .find(|r| r.number == number)
            .and_then(|r| serde_json::from_str::<StoredSpec>(&r.spec).ok())
        else {
            return;
        };
        let limit = grace.max(Duration::from_secs(1));
        let started = Instant::now();
        for (i, hook) in spec.pre_stop.iter().enumerate() {
            let what = label("pre_stop", i, hook);
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                self.say(
                    name,
                    format!("{what} not run: the stop grace period is spent; stopping"),
                );
                return;
            }
            match self
                .runtime
                .exec_hook(id, &exec_of(hook, spec.template.user.as_deref()), left)
                .await
            {
                Ok(out) if out.exit_code == 0 => self.say(name, format!("{what} done")),
                Ok(out) if out.exit_code == -1 => self.say(
                    name,
                    format!(
                        "{what} did not finish within {} s; stopping anyway{}",
                        left.as_secs_f64(),
                        tail(&out.output)
                    ),
                ),
                Ok(out) => self.say(
                    name,
                    format!(
                        "{what} exited with code {}; stopping anyway{}",
                        out.exit_code,
                        tail(&out.output)
                    ),
                ),
                Err(e) => self.say(name, format!("{what} could not run ({e}); stopping anyway")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_runs_as_its_pinned_user_and_is_named_without_its_arguments() {
        let hook = Hook {
            command: vec!["/bin/notify".into(), "--token=abc".into()],
            user: Some("10001:10001".into()),
            working_dir: Some("/srv".into()),
            environment: [("K".to_string(), "v".to_string())].into(),
        };
        let exec = exec_of(&hook, Some("20002:20002"));
        assert_eq!(exec.user, "10001:10001");
        let own = Hook {
            user: None,
            ..hook.clone()
        };
        assert_eq!(exec_of(&own, Some("20002:20002")).user, "20002:20002");
        assert_eq!(exec.env, ["K=v"]);
        assert!(!format!("{exec:?}").contains("=v"), "{exec:?}");
        assert_eq!(
            label("post_start", 0, &hook),
            "post_start[0] (`/bin/notify`)"
        );
    }
}
