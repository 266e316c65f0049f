//! A project's Swarm services: created, or updated only when the spec Bulkhead made changed
//! (its hash label compared first: an update with nothing changed still replaces tasks), and
//! read back with their tasks — state, node, health.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ServiceSpec, Task, TaskState};
use bollard::query_parameters::{
    InspectServiceOptions, ListNodesOptions, ListServicesOptions, ListTasksOptions,
    UpdateServiceOptions,
};
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_RELEASE, LABEL_SERVICE};

use crate::client::SwarmClient;
use crate::error::SwarmError;
use crate::hash::spec_hash;
use crate::mapping::LABEL_SPEC;

/// What [`SwarmClient::apply_service`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    Created {
        id: String,
    },
    /// Updated from the service's version `version` (its index before the update).
    Updated {
        id: String,
        version: u64,
    },
    /// The service already runs this spec: nothing was sent.
    Unchanged {
        id: String,
        version: u64,
    },
}

/// A project's service as the manager reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub id: String,
    /// The Swarm service's name (`<project>-<service>`).
    pub name: String,
    /// The Compose service's name (its owner label).
    pub service: String,
    pub release: Option<String>,
    pub spec_hash: Option<String>,
    /// The object's version index: it changes with every update.
    pub version: u64,
    pub replicas: Option<u64>,
    /// The state of the last update or rollback (`updating`, `completed`, `rollback_completed`...).
    pub update_state: Option<String>,
    pub update_message: Option<String>,
    pub tasks: Vec<TaskInfo>,
}

/// One task: a slot's container on a node, current or past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    pub id: String,
    pub slot: Option<i64>,
    pub node_id: Option<String>,
    /// The node's host name, when the manager knows the node.
    pub node: Option<String>,
    /// `new`, `pending`, `assigned`, `preparing`, `starting`, `running`, `complete`,
    /// `shutdown`, `failed`, `rejected`, `orphaned`...
    pub state: String,
    pub desired_state: String,
    pub health: TaskHealth,
    pub message: Option<String>,
    pub error: Option<String>,
    pub container_id: Option<String>,
}

/// What the task's state says of its container's health check. Swarm reports a task
/// `running` only once its health check (the spec's or the image's) passed, keeps it
/// `starting` until then, and fails it when the check fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskHealth {
    /// Running: any health check the container has passed.
    Ready,
    /// Started, health check not passed yet.
    Starting,
    /// Not running (yet, or any more).
    Down,
}

impl SwarmClient {
    /// Create the service `spec` names, or update it when its [`LABEL_SPEC`] differs from the
    /// running one's. A service of that name owned by another project is refused.
    pub async fn apply_service(&self, spec: &ServiceSpec) -> Result<Applied, SwarmError> {
        let name = spec.name.clone().ok_or(SwarmError::Incomplete("name"))?;
        let labels = spec.labels.clone().unwrap_or_default();
        let project = labels
            .get(LABEL_PROJECT)
            .cloned()
            .ok_or(SwarmError::Incomplete("project label"))?;
        let mut spec = spec.clone();
        let hash = labels
            .get(LABEL_SPEC)
            .cloned()
            .unwrap_or_else(|| spec_hash(&spec));
        spec.labels
            .get_or_insert_default()
            .insert(LABEL_SPEC.to_string(), hash.clone());
        let found = self
            .docker
            .inspect_service(&name, None::<InspectServiceOptions>)
            .await;
        let current = match found {
            Ok(current) => current,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                let created = self
                    .docker
                    .create_service(spec, None)
                    .await
                    .map_err(self.fail("create", "service", &name))?;
                return Ok(Applied::Created {
                    id: created.id.unwrap_or_default(),
                });
            }
            Err(e) => return Err(self.fail("inspect", "service", &name)(e)),
        };
        let id = current.id.clone().unwrap_or_default();
        let version = current.version.and_then(|v| v.index).unwrap_or(0);
        let current_labels = current.spec.and_then(|s| s.labels).unwrap_or_default();
        let owner = current_labels.get(LABEL_PROJECT).cloned();
        if owner.as_deref() != Some(project.as_str()) {
            return Err(SwarmError::NotOwned {
                what: "service",
                name,
                project,
                owner,
            });
        }
        if current_labels.get(LABEL_SPEC) == Some(&hash) {
            return Ok(Applied::Unchanged { id, version });
        }
        let options = UpdateServiceOptions {
            version: i32::try_from(version).map_err(|_| SwarmError::Engine {
                operation: format!("update service `{name}`"),
                reason: format!("version index {version} does not fit the API's int32"),
            })?,
            ..Default::default()
        };
        self.docker
            .update_service(&id, spec, options, None)
            .await
            .map_err(self.fail("update", "service", &name))?;
        Ok(Applied::Updated { id, version })
    }

    /// Every service of `project` (by owner label), sorted by name, with its tasks.
    pub async fn project_services(&self, project: &str) -> Result<Vec<ServiceState>, SwarmError> {
        let services = self
            .docker
            .list_services(Some(ListServicesOptions {
                filters: Some(project_filter(project)),
                ..Default::default()
            }))
            .await
            .map_err(self.fail("list", "services of project", project))?;
        let nodes = self.node_names().await?;
        let mut out = Vec::new();
        for s in services {
            let id = s.id.clone().unwrap_or_default();
            let spec = s.spec.clone().unwrap_or_default();
            let labels = spec.labels.clone().unwrap_or_default();
            let tasks = self
                .docker
                .list_tasks(Some(ListTasksOptions {
                    filters: Some(HashMap::from([("service".to_string(), vec![id.clone()])])),
                }))
                .await
                .map_err(self.fail("list", "tasks of service", &id))?;
            let mut tasks: Vec<TaskInfo> =
                tasks.into_iter().map(|t| task_info(t, &nodes)).collect();
            tasks.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
            let update = s.update_status.clone().unwrap_or_default();
            out.push(ServiceState {
                id,
                name: spec.name.clone().unwrap_or_default(),
                service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                release: labels.get(LABEL_RELEASE).cloned(),
                spec_hash: labels.get(LABEL_SPEC).cloned(),
                version: s.version.and_then(|v| v.index).unwrap_or(0),
                replicas: spec
                    .mode
                    .and_then(|m| m.replicated)
                    .and_then(|r| r.replicas)
                    .and_then(|n| u64::try_from(n).ok()),
                update_state: update.state.map(|s| s.to_string()),
                update_message: update.message,
                tasks,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Node id → host name, for every node the manager knows.
    pub(crate) async fn node_names(&self) -> Result<BTreeMap<String, String>, SwarmError> {
        let nodes = self
            .docker
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(self.fail("list", "nodes", "of the Swarm"))?;
        Ok(nodes
            .into_iter()
            .filter_map(|n| Some((n.id?, n.description?.hostname?)))
            .collect())
    }
}

/// The engine's `filters` for "owner label project=`project`".
pub(crate) fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    )])
}

fn task_info(t: Task, nodes: &BTreeMap<String, String>) -> TaskInfo {
    let status = t.status.unwrap_or_default();
    let state = status.state;
    let health = match state {
        Some(TaskState::RUNNING) => TaskHealth::Ready,
        Some(TaskState::STARTING) => TaskHealth::Starting,
        _ => TaskHealth::Down,
    };
    TaskInfo {
        id: t.id.unwrap_or_default(),
        slot: t.slot,
        node: t.node_id.as_ref().and_then(|n| nodes.get(n).cloned()),
        node_id: t.node_id,
        state: state.map(|s| s.to_string()).unwrap_or_default(),
        desired_state: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
        health,
        message: status.message,
        error: status.err,
        container_id: status.container_status.and_then(|c| c.container_id),
    }
}
