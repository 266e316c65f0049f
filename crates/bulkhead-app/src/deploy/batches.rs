//! One service's rollout: its replicas replaced in batches as `update_config` (or a rollback's
//! `rollback_config`) asks — `parallelism` at once, `delay` between batches — and its failures
//! judged by `max_failure_ratio` and `failure_action`.

use std::time::Duration;

use bulkhead_core::deploy::{Op, Rollout};
use bulkhead_core::spec::rollout::{FailureAction, RolloutConfig};
use bulkhead_ports::{ContainerRuntime, Firewall, Store};

use super::runner::{Outcome, Releases};
use super::{DeployError, Deployer, ProjectState};

/// Read-modify-write of a project's state by paused rollouts, one at a time in this process.
static STATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl<R: ContainerRuntime + 'static, S: Store + 'static, F: Firewall + 'static> Deployer<R, S, F> {
    /// Record that `service`'s rollout to `release` is paused (see `ProjectState::paused`).
    async fn mark_paused(
        &self,
        project: &str,
        service: &str,
        release: u64,
    ) -> Result<(), DeployError> {
        let _turn = STATE.lock().await;
        let Some(mut record) = self.store.get_project(project).await? else {
            return Ok(());
        };
        let mut state: ProjectState = serde_json::from_str(&record.state).unwrap_or_default();
        state.paused.insert(service.to_string(), release);
        record.state = serde_json::to_string(&state).unwrap_or_default();
        self.store.put_project(&record).await?;
        Ok(())
    }

    /// The services of `releases` (the active ones) whose rollout to that release is paused.
    pub(super) async fn paused(
        &self,
        project: &str,
        releases: &std::collections::BTreeMap<String, (bulkhead_ports::Release, super::StoredSpec)>,
    ) -> Result<Vec<String>, DeployError> {
        let Some(record) = self.store.get_project(project).await? else {
            return Ok(Vec::new());
        };
        let state: ProjectState = serde_json::from_str(&record.state).unwrap_or_default();
        Ok(state
            .paused
            .into_iter()
            .filter(|(s, n)| releases.get(s).is_some_and(|(r, _)| r.number == *n))
            .map(|(s, _)| s)
            .collect())
    }

    /// One service's ops in order, its replicas replaced in batches of `parallelism` (each
    /// batch concurrently, `delay` between batches). Failures up to `max_failure_ratio` of
    /// the replicas replaced are tolerated; past it, `failure_action` decides: `rollback` and
    /// `pause` stop (the failed replicas' predecessors keep serving), `continue` goes on and
    /// fails the run at the end.
    pub(super) async fn rollout(
        &self,
        project: &str,
        rollout: &Rollout,
        releases: &Releases,
    ) -> Result<Outcome, DeployError> {
        let service = rollout.service.as_str();
        let config = releases.config(service);
        let is_deploy = |op: &&Op| matches!(op, Op::Deploy { .. });
        let total = rollout.ops.iter().filter(is_deploy).count();
        let size = config.batch(total);
        if total > 1 && !config.is_default() {
            self.say(
                service,
                format!("rolling out {total} replicas: {}", config.describe()),
            );
        }
        let mut outcome = Outcome::default();
        let mut failed: Vec<DeployError> = Vec::new();
        let mut batches = 0usize;
        let mut i = 0;
        while let Some(op) = rollout.ops.get(i) {
            if !is_deploy(&op) {
                self.apply(project, op, releases, &mut outcome).await?;
                i += 1;
                continue;
            }
            let batch: Vec<&Op> = rollout.ops[i..]
                .iter()
                .take_while(is_deploy)
                .take(size)
                .collect();
            i += batch.len();
            if batches > 0 && config.delay_ms > 0 {
                let delay = Duration::from_millis(config.delay_ms);
                self.say(
                    service,
                    format!("next batch in {} s (delay)", delay.as_secs_f64()),
                );
                tokio::time::sleep(delay).await;
            }
            batches += 1;
            if batch.len() > 1 {
                let replicas: Vec<String> = batch
                    .iter()
                    .filter_map(|op| match op {
                        Op::Deploy { replica, .. } => Some(replica.to_string()),
                        _ => None,
                    })
                    .collect();
                self.say(
                    service,
                    format!(
                        "batch {batches}: replacing replicas {} at once",
                        replicas.join(", ")
                    ),
                );
            }
            let results = futures_util::future::join_all(batch.iter().map(|op| async move {
                let mut part = Outcome::default();
                self.apply(project, op, releases, &mut part)
                    .await
                    .map(|()| part)
            }))
            .await;
            for r in results {
                match r {
                    Ok(part) => {
                        outcome.created.extend(part.created);
                        outcome.removed.extend(part.removed);
                    }
                    Err(e) => failed.push(e),
                }
            }
            if failed.is_empty() || !config.exceeded(failed.len(), total) {
                continue;
            }
            match config.failure_action {
                FailureAction::Continue => self.say(
                    service,
                    format!(
                        "{} of {total} replicas failed; going on (failure_action: continue)",
                        failed.len()
                    ),
                ),
                FailureAction::Rollback => {
                    return Err(stopped(service, &config, failed, total, &outcome));
                }
                FailureAction::Pause => {
                    if let Some((rel, _)) = releases.releases.get(service) {
                        self.mark_paused(project, service, rel.number).await?;
                    }
                    return Err(stopped(service, &config, failed, total, &outcome));
                }
            }
        }
        if failed.is_empty() {
            return Ok(outcome);
        }
        if !config.exceeded(failed.len(), total) {
            for e in &failed {
                self.say(service, format!("tolerated (max_failure_ratio): {e}"));
            }
            return Ok(outcome);
        }
        Err(stopped(service, &config, failed, total, &outcome))
    }
}

/// The error of a rollout that failed past its `max_failure_ratio`: with Bulkhead's own
/// shape and one failure, that failure as it always was; otherwise what the failure action
/// did, how many failed and the first failure.
fn stopped(
    service: &str,
    config: &RolloutConfig,
    mut failed: Vec<DeployError>,
    total: usize,
    outcome: &Outcome,
) -> DeployError {
    let count = failed.len();
    let first = failed.remove(0);
    if config.is_default() && count == 1 {
        return first;
    }
    let done = outcome.created.len();
    let what = match config.failure_action {
        FailureAction::Rollback => format!(
            "rollout stopped (failure_action: rollback): the failed replicas were removed and the ones they were to replace keep serving; {done} replaced"
        ),
        FailureAction::Pause => format!(
            "rollout paused (failure_action: pause): {done} replaced, the failed ones' predecessors and the rest left as they are until the next `up` or `rollback` (the reconciler holds the service)"
        ),
        FailureAction::Continue => {
            format!("rollout went on past its failures (failure_action: continue): {done} replaced")
        }
    };
    DeployError::Rollout {
        service: service.to_string(),
        reason: format!("{count} of {total} replicas failed; {what}; the first: {first}"),
    }
}

#[cfg(test)]
#[path = "batches_tests.rs"]
mod tests;
