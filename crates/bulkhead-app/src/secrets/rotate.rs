//! Key rotation, online and safe to kill: make a new key-encryption key current, re-wrap each
//! version's data key under it (one durable compare-and-set per version; ciphertexts are not
//! touched), then retire every old key nothing uses any more. A run that finds versions still
//! under an old key continues that rotation instead of starting another, so re-running after a
//! kill finishes the job.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use bulkhead_core::secrets::{KekId, SecretRef, WrappedVersion};
use bulkhead_ports::{KeyError, Rewrapped, Store};

use super::{Secrets, SecretsError};

/// What a rotation did, and the versions it could not re-wrap: the reply of
/// `POST /v1/keys/rotations` as it is.
pub use bulkhead_api_types::{RotationFailure, RotationReport};

/// A step of a rotation, as it happens (for progress, and for tests that stop midway).
#[derive(Clone, Copy, Debug)]
pub enum RotationStep<'a> {
    Created {
        kek: &'a KekId,
    },
    Rewrapped {
        target: &'a SecretRef,
        done: usize,
        total: usize,
    },
    Retired {
        kek: &'a KekId,
    },
}

/// The caller's view of each step; `Break` stops the rotation where it is, as a kill would.
/// It runs inside the rotation (some steps with every other secret operation held back), so
/// it must not call back into [`Secrets`].
pub type OnStep<'a> = dyn FnMut(RotationStep<'_>) -> ControlFlow<()> + Send + 'a;

impl<S: Store> Secrets<S> {
    /// Rotates the key-encryption key (or finishes an interrupted rotation).
    pub async fn rotate(&self) -> Result<RotationReport, SecretsError> {
        self.rotate_with(&mut |_| ControlFlow::Continue(())).await
    }

    /// [`Secrets::rotate`], telling `on_step` of each step; when it breaks, the rotation stops
    /// there and the report says `interrupted`.
    pub async fn rotate_with(
        &self,
        on_step: &mut OnStep<'_>,
    ) -> Result<RotationReport, SecretsError> {
        let _one = self.rotating.lock().await;
        let mut report = RotationReport::default();
        let mut current = self.keys.current().await?;
        let all = self.store.wrapped_secret_keys().await?;
        let mut stale: Vec<WrappedVersion> = all
            .iter()
            .filter(|w| w.dek.kek_id != current)
            .cloned()
            .collect();
        if stale.is_empty() {
            // Nothing left under an old key: first retire what an earlier run left unused,
            // then start a new rotation.
            if self.retire_unused(&current, &mut report, on_step).await? {
                return Ok(interrupted(report, current));
            }
            match self.keys.create().await {
                Ok(kek) => current = kek,
                // A key Bulkhead cannot make (the environment's) whose old key was just let go:
                // that rotation is finished.
                Err(KeyError::Unsupported { .. }) if !report.retired.is_empty() => {
                    report.kek = Some(current);
                    return Ok(report);
                }
                Err(err) => return Err(err.into()),
            }
            report.created = true;
            if on_step(RotationStep::Created { kek: &current }).is_break() {
                return Ok(interrupted(report, current));
            }
            stale = all;
        } else {
            report.already_current = (all.len() - stale.len()) as u64;
        }
        let mut failed = BTreeSet::new();
        let total = stale.len();
        for (done, version) in stale.iter().enumerate() {
            self.rewrap_one(version, &current, &mut report, &mut failed)
                .await?;
            let step = RotationStep::Rewrapped {
                target: &version.target,
                done: done + 1,
                total,
            };
            if on_step(step).is_break() {
                return Ok(interrupted(report, current));
            }
        }
        {
            // Versions set while the key changed may be under the old key: one more pass,
            // with nothing in flight, before any key goes.
            let _gate = self.gate.write().await;
            for version in self.store.wrapped_secret_keys().await? {
                if version.dek.kek_id != current && !failed.contains(&version.target) {
                    self.rewrap_one(&version, &current, &mut report, &mut failed)
                        .await?;
                }
            }
        }
        if self.retire_unused(&current, &mut report, on_step).await? {
            return Ok(interrupted(report, current));
        }
        report.kek = Some(current);
        Ok(report)
    }

    /// Re-wraps one version's data key under `current`, compare-and-set on its old key. A
    /// version that cannot be unwrapped is recorded as failed (its key is then kept).
    async fn rewrap_one(
        &self,
        version: &WrappedVersion,
        current: &KekId,
        report: &mut RotationReport,
        failed: &mut BTreeSet<SecretRef>,
    ) -> Result<(), SecretsError> {
        let target = &version.target;
        let rewrapped = match self.keys.unwrap(&version.dek, target).await {
            Ok(dek) => self.keys.wrap(current, &dek, target).await?,
            Err(err @ (KeyError::Secret(_) | KeyError::UnknownKek { .. })) => {
                report.failed.push(RotationFailure {
                    secret: target.to_string(),
                    reason: err.to_string(),
                });
                failed.insert(target.clone());
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        let outcome = self
            .store
            .rewrap_secret(target, &version.dek.kek_id, &rewrapped)
            .await?;
        match outcome {
            Rewrapped::Replaced => report.rewrapped += 1,
            Rewrapped::NotUnder { found } if &found == current => report.already_current += 1,
            Rewrapped::NotUnder { .. } | Rewrapped::Gone => report.vanished += 1,
        }
        Ok(())
    }

    /// Retires every key but `current` that no version uses, with nothing in flight; returns
    /// `true` when `on_step` stopped it.
    async fn retire_unused(
        &self,
        current: &KekId,
        report: &mut RotationReport,
        on_step: &mut OnStep<'_>,
    ) -> Result<bool, SecretsError> {
        let _gate = self.gate.write().await;
        let used: BTreeSet<KekId> = self
            .store
            .wrapped_secret_keys()
            .await?
            .into_iter()
            .map(|w| w.dek.kek_id)
            .collect();
        for kek in self.keys.list().await? {
            if &kek == current {
                continue;
            }
            if used.contains(&kek) {
                report.kept.push(kek);
                continue;
            }
            self.keys.retire(&kek).await?;
            let stop = on_step(RotationStep::Retired { kek: &kek }).is_break();
            report.retired.push(kek);
            if stop {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn interrupted(mut report: RotationReport, current: KekId) -> RotationReport {
    report.kek = Some(current);
    report.interrupted = true;
    report
}
