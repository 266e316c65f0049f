//! Removing a project from the Swarm by its owner label: services first, then — once no task
//! of them is live any more — its overlay networks and its secrets, which Swarm refuses to
//! remove while a task uses them. The nodes remove the tasks' containers on their own, shortly
//! after (Swarm has no call for it).

use std::collections::BTreeSet;
use std::time::Duration;

use bollard::models::{Task, TaskState};
use bollard::query_parameters::{
    ListNetworksOptions, ListSecretsOptions, ListServicesOptions, ListTasksOptions,
};

use crate::client::SwarmClient;
use crate::error::SwarmError;
use crate::services::project_filter;

/// How long removal waits for tasks to go and for networks and secrets to be free.
pub const REMOVE_DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);

/// Whether a task's container may still run: its state is not past `running`. (Its desired
/// state turns `remove` the moment its service is removed, long before the node stops it.)
fn live(t: &Task) -> bool {
    !matches!(
        t.status.as_ref().and_then(|s| s.state),
        Some(
            TaskState::COMPLETE
                | TaskState::SHUTDOWN
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::REMOVE
                | TaskState::ORPHANED
        )
    )
}

/// What a removal removed, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub services: Vec<String>,
    pub networks: Vec<String>,
    pub secrets: Vec<String>,
}

impl SwarmClient {
    /// Remove every service, overlay network and secret labelled as `project`'s. Idempotent:
    /// what is gone already is skipped. Fails naming what is still there after
    /// [`REMOVE_DEADLINE`].
    pub async fn remove_project(&self, project: &str) -> Result<Removed, SwarmError> {
        let filters = Some(project_filter(project));
        let services = self
            .docker
            .list_services(Some(ListServicesOptions {
                filters: filters.clone(),
                ..Default::default()
            }))
            .await
            .map_err(self.fail("list", "services of project", project))?;
        let mut removed = Removed::default();
        let mut ids = BTreeSet::new();
        for s in services {
            let id = s.id.unwrap_or_default();
            let name = s.spec.and_then(|s| s.name).unwrap_or_else(|| id.clone());
            match self.docker.delete_service(&id).await {
                Ok(()) => removed.services.push(name),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.fail("remove", "service", &name)(e)),
            }
            ids.insert(id);
        }
        self.wait_tasks_gone(&ids).await?;

        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: filters.clone(),
            }))
            .await
            .map_err(self.fail("list", "networks of project", project))?;
        for n in networks
            .into_iter()
            .filter(|n| n.scope.as_deref() == Some("swarm"))
        {
            let name = n.name.unwrap_or_default();
            let id = n.id.unwrap_or_else(|| name.clone());
            self.until_free("network", &name, || self.docker.remove_network(&id))
                .await?;
            removed.networks.push(name);
        }

        let secrets = self
            .docker
            .list_secrets(Some(ListSecretsOptions { filters }))
            .await
            .map_err(self.fail("list", "secrets of project", project))?;
        for s in secrets {
            let id = s.id.unwrap_or_default();
            let name = s.spec.and_then(|s| s.name).unwrap_or_else(|| id.clone());
            self.until_free("secret", &name, || self.docker.delete_secret(&id))
                .await?;
            removed.secrets.push(name);
        }
        Ok(removed)
    }

    /// Poll the manager's task list until no task of the services `ids` may still run: each
    /// is gone or its node reported it past `running`. Not "gone": Swarm never deletes the
    /// tasks of a removed job-mode service (moby/moby#42789). A removed service cannot be named
    /// in a task filter, so the whole list is read.
    async fn wait_tasks_gone(&self, ids: &BTreeSet<String>) -> Result<(), SwarmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let started = tokio::time::Instant::now();
        loop {
            let tasks = self
                .docker
                .list_tasks(None::<ListTasksOptions>)
                .await
                .map_err(self.fail("list", "tasks", "of removed services"))?;
            let left: BTreeSet<String> = tasks
                .into_iter()
                .filter(|t| t.service_id.as_ref().is_some_and(|s| ids.contains(s)))
                .filter(live)
                .filter_map(|t| t.id)
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if started.elapsed() > REMOVE_DEADLINE {
                return Err(SwarmError::Lingering {
                    what: "live tasks of removed services",
                    secs: REMOVE_DEADLINE.as_secs(),
                    names: left.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Run `remove` until it succeeds or finds the object gone; the manager refuses while a
    /// task still uses it, so that answer is tried again until [`REMOVE_DEADLINE`].
    async fn until_free<F, Fut>(
        &self,
        what: &'static str,
        name: &str,
        remove: F,
    ) -> Result<(), SwarmError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), bollard::errors::Error>>,
    {
        let started = tokio::time::Instant::now();
        loop {
            match remove().await {
                Ok(()) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("in use") && started.elapsed() < REMOVE_DEADLINE =>
                {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(self.fail("remove", what, name)(e)),
            }
        }
    }
}
