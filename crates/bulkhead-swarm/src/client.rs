//! `SwarmClient`: a connection to the engine of a Swarm manager. It exists only for a
//! manager: connecting checks the engine's Swarm state and refuses anything else, since
//! Bulkhead never creates or joins a cluster.

use bollard::Docker;
use bollard::models::LocalNodeState;

use crate::connect::{self, Endpoint};
use crate::error::{self, Op, SwarmError};

/// A connection to a Swarm manager's engine. Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct SwarmClient {
    pub(crate) docker: Docker,
    pub(crate) endpoint: Endpoint,
}

/// What the manager says of its Swarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    pub node_id: String,
    pub cluster_id: String,
    pub nodes: u64,
    pub managers: u64,
}

impl SwarmClient {
    /// Connect to the engine `DOCKER_HOST` names (`unix:///var/run/docker.sock` when unset)
    /// and check that it is a Swarm manager.
    pub async fn connect() -> Result<(SwarmClient, Manager), SwarmError> {
        SwarmClient::connect_to(&std::env::var("DOCKER_HOST").unwrap_or_default()).await
    }

    /// Like [`SwarmClient::connect`], to an explicit address in `DOCKER_HOST` form.
    pub async fn connect_to(host: &str) -> Result<(SwarmClient, Manager), SwarmError> {
        let endpoint = Endpoint::parse(host)?;
        let docker = connect::open(&endpoint).await?;
        let client = SwarmClient { docker, endpoint };
        let manager = client.manager().await?;
        Ok((client, manager))
    }

    /// The engine address, as errors show it.
    pub fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    /// The API version agreed with the engine, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The engine's Swarm state (`GET /info`), or `NotManager` saying what it is instead.
    pub async fn manager(&self) -> Result<Manager, SwarmError> {
        let endpoint = self.endpoint();
        let info = self.docker.info().await.map_err(|e| {
            error::map(
                &endpoint,
                Op {
                    operation: "read",
                    what: "engine",
                    name: &endpoint,
                },
                e,
            )
        })?;
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY);
        let not_manager = |state: String| SwarmError::NotManager {
            endpoint: endpoint.clone(),
            state,
        };
        if state != LocalNodeState::ACTIVE {
            let shown = match state {
                LocalNodeState::EMPTY => "no Swarm state".to_string(),
                other => format!("Swarm {other}"),
            };
            return Err(not_manager(shown));
        }
        if swarm.control_available != Some(true) {
            return Err(not_manager("a Swarm worker".to_string()));
        }
        Ok(Manager {
            node_id: swarm.node_id.unwrap_or_default(),
            cluster_id: swarm.cluster.and_then(|c| c.id).unwrap_or_default(),
            nodes: swarm.nodes.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            managers: swarm
                .managers
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        })
    }

    /// A closure turning a bollard failure of `operation` on `what` `name` into a `SwarmError`.
    pub(crate) fn fail<'a>(
        &'a self,
        operation: &'static str,
        what: &'static str,
        name: &'a str,
    ) -> impl FnOnce(bollard::errors::Error) -> SwarmError + 'a {
        move |err| {
            error::map(
                &self.endpoint.to_string(),
                Op {
                    operation,
                    what,
                    name,
                },
                err,
            )
        }
    }
}
