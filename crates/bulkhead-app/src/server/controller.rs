//! The reconciler as a background loop, level-triggered: every few seconds, and soon after
//! any engine event about a Bulkhead container or network, each project with active releases
//! is observed and planned again; what differs is put right (a container removed or killed by
//! hand comes back; a network removed by hand comes back with its firewall rules). One
//! reconcile per project at a time (the project's lock); failures back off.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_core::auth::ProjectName;
use bulkhead_ports::runtime::LABEL_PROJECT;
use bulkhead_ports::{ContainerRuntime, LabelFilter, RuntimeEvent, Store};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::api::Api;
use crate::deploy::Held;

/// Events are gathered this long before the projects they name are reconciled.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// Longest wait after a failed reconcile of one project.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub async fn run(api: Arc<Api>, every: Duration, mut stop: watch::Receiver<bool>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let watcher = tokio::spawn(watch_events(Arc::clone(&api), tx));
    let mut backoff: BTreeMap<String, (Instant, Duration)> = BTreeMap::new();
    let mut held: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    let mut next_full = Instant::now();
    // Projects whose turn came while they were backing off: taken up when the backoff ends,
    // not left to the next full pass.
    let mut deferred: BTreeSet<String> = BTreeSet::new();
    loop {
        let mut due: BTreeSet<String> = BTreeSet::new();
        let retry_at = deferred
            .iter()
            .filter_map(|p| backoff.get(p).map(|(at, _)| *at))
            .min()
            .unwrap_or(next_full);
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep_until(retry_at.into()), if !deferred.is_empty() => {
                due.append(&mut deferred);
            }
            _ = tokio::time::sleep_until(next_full.into()) => {
                next_full = Instant::now() + every;
                match api.deployer.store.list_projects().await {
                    Ok(all) => due.extend(all.into_iter().map(|p| p.name)),
                    Err(e) => tracing::warn!("reconciler: cannot list projects: {e}"),
                }
            }
            Some(project) = rx.recv() => {
                due.insert(project);
                tokio::time::sleep(DEBOUNCE).await;
                while let Ok(p) = rx.try_recv() {
                    due.insert(p);
                }
            }
        }
        for project in due {
            if *stop.borrow() {
                break;
            }
            if let Some((at, _)) = backoff.get(&project)
                && Instant::now() < *at
            {
                deferred.insert(project);
                continue;
            }
            match reconcile(&api, &project, &mut held).await {
                Ok(()) => {
                    backoff.remove(&project);
                }
                Err(e) => {
                    let wait = backoff
                        .get(&project)
                        .map_or(Duration::from_secs(1), |(_, w)| (*w * 2).min(MAX_BACKOFF));
                    tracing::warn!(project = %project, "reconcile failed (retry in {} s): {e}", wait.as_secs());
                    backoff.insert(project, (Instant::now() + wait, wait));
                }
            }
        }
    }
    watcher.abort();
}

/// One pass over one project, under its lock. A project without active releases (never
/// deployed, or down) is left alone. A service held back (its release carries waivers its
/// activator may no longer grant) is logged and audited once, when it becomes held; `reported`
/// remembers what was.
pub async fn reconcile(
    api: &Arc<Api>,
    project: &str,
    reported: &mut BTreeMap<String, Vec<Held>>,
) -> Result<(), String> {
    let d = &api.deployer;
    // Lock first, then look: a `down` that held the lock has deactivated everything by now.
    let lock = api.project_lock(project);
    let _locked = lock.lock().await;
    let active = d.store.active(project).await.map_err(|e| e.to_string())?;
    if active.is_empty() {
        reported.remove(project);
        return Ok(());
    }
    let (plan, outcome) = d.reconcile(project).await.map_err(|e| e.to_string())?;
    let before = reported.remove(project).unwrap_or_default();
    for h in outcome.held.iter().filter(|h| !before.contains(h)) {
        tracing::warn!(project = %project, service = %h.service, "reconciler holds a service: {}", h.reason);
        let resource = format!("projects/{project}/services/{}", h.service);
        let denied = bulkhead_core::audit::OutcomeKind::Denied;
        if let Err(e) = api
            .record_system(
                "reconcile.hold",
                &resource,
                denied,
                "waiver_not_granted",
                &h.reason,
            )
            .await
        {
            tracing::warn!(project = %project, "cannot audit a held service: {e}");
        }
    }
    if !outcome.held.is_empty() {
        reported.insert(project.to_string(), outcome.held.clone());
    }
    if !plan.is_empty() {
        tracing::info!(
            project = %project,
            created = outcome.created.len(),
            removed = outcome.removed.len(),
            "reconciled drift"
        );
    }
    if let Ok(name) = ProjectName::new(project) {
        api.refresh(&name).await;
    }
    Ok(())
}

/// Feed the names of projects whose containers the engine reports on; re-subscribe when the
/// feed ends.
async fn watch_events(api: Arc<Api>, tx: tokio::sync::mpsc::UnboundedSender<String>) {
    loop {
        let mut feed = api.deployer.runtime.events(&LabelFilter::default());
        while let Some(event) = feed.next().await {
            match event {
                Ok(e) => {
                    let projects = projects_of(&api, &e).await;
                    for p in projects {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("engine events: {e}");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The projects an engine event is about: a container's by its owner label; a network's (the
/// engine's network events carry no labels, only the name) by the names of the projects.
async fn projects_of(api: &Api, e: &RuntimeEvent) -> Vec<String> {
    if let Some(p) = e.attributes.get(LABEL_PROJECT) {
        return vec![p.clone()];
    }
    let Some(network) = e.attributes.get("name").filter(|_| e.kind == "network") else {
        return Vec::new();
    };
    match api.deployer.store.list_projects().await {
        Ok(all) => owners_of_network(network, all.iter().map(|p| p.name.as_str())),
        Err(err) => {
            tracing::warn!("reconciler: cannot list projects: {err}");
            Vec::new()
        }
    }
}

/// The projects a network named `network` may belong to: a project's networks are named
/// `<project>-<service>-<kind>`. A name that also fits another project (`p` and `p-db`) costs
/// that one a pass that finds nothing to do.
fn owners_of_network<'a>(
    network: &str,
    projects: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    projects
        .into_iter()
        .filter(|p| {
            network
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::owners_of_network;

    #[test]
    fn network_events_name_the_projects_that_may_own_them() {
        let projects = ["shop", "shop-db", "blog", "sho"];
        assert_eq!(
            owners_of_network("shop-web-pub", projects),
            ["shop"],
            "`sho` is not a prefix followed by a dash"
        );
        assert_eq!(
            owners_of_network("shop-db-api-in", projects),
            ["shop", "shop-db"]
        );
        assert!(owners_of_network("bridge", projects).is_empty());
        assert!(owners_of_network("shop", projects).is_empty());
    }
}
