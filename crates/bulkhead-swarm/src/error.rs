//! The Swarm adapter's errors, and bollard's failures turned into them with what the call was
//! doing. Messages never carry a secret's value (the secret calls do not go through bollard).

use std::error::Error as _;

use bollard::errors::Error as BollardError;

use crate::names::NameError;
use crate::overlay::EncryptionError;

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("cannot reach the Docker Engine at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("the Docker Engine at {endpoint} speaks API {found}; at least {needed} is needed")]
    TooOld {
        endpoint: String,
        found: String,
        needed: String,
    },
    #[error(
        "the Docker Engine at {endpoint} is not a Swarm manager; Bulkhead never creates a cluster ({state}): point DOCKER_HOST at a manager of an existing Swarm"
    )]
    NotManager { endpoint: String, state: String },
    #[error("{what} `{name}` was not found")]
    NotFound { what: &'static str, name: String },
    #[error(
        "{what} `{name}` exists but is not project `{project}`'s (its owner label says {owner:?})"
    )]
    NotOwned {
        what: &'static str,
        name: String,
        project: String,
        owner: Option<String>,
    },
    #[error(
        "{what} `{name}` exists with other settings ({differs}); a {what} cannot change: remove it or give the new one another name"
    )]
    Changed {
        what: &'static str,
        name: String,
        differs: String,
    },
    #[error("service spec is missing its {0}")]
    Incomplete(&'static str),
    #[error("secret `{name}` is {size} bytes; a Swarm secret holds 1 byte to 500 KiB")]
    SecretSize { name: String, size: usize },
    #[error("{what} still present after {secs} s: {names}")]
    Lingering {
        what: &'static str,
        secs: u64,
        names: String,
    },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Encryption(#[from] EncryptionError),
    #[error("{operation} failed: {reason}")]
    Engine { operation: String, reason: String },
}

/// What a failed call was doing, for the error it turns into.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op<'a> {
    pub operation: &'static str,
    pub what: &'static str,
    pub name: &'a str,
}

/// 404 → `NotFound`; no connection → `Unreachable`; anything else → `Engine` with the
/// engine's own message.
pub(crate) fn map(endpoint: &str, op: Op<'_>, err: BollardError) -> SwarmError {
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => SwarmError::NotFound {
            what: op.what,
            name: op.name.to_string(),
        },
        BollardError::DockerResponseServerError { message, .. } => SwarmError::Engine {
            operation: format!("{} {} `{}`", op.operation, op.what, op.name),
            reason: message,
        },
        err if is_transport(&err) => SwarmError::Unreachable {
            endpoint: endpoint.to_string(),
            reason: describe(&err),
        },
        err => SwarmError::Engine {
            operation: format!("{} {} `{}`", op.operation, op.what, op.name),
            reason: describe(&err),
        },
    }
}

/// A failure to talk to the engine at all, as opposed to an answer.
fn is_transport(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::HyperLegacyError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::IOError { .. }
            | BollardError::SocketNotFoundError(_)
            | BollardError::RequestTimeoutError
    )
}

/// An error and its sources, `outer: inner: innermost`.
pub(crate) fn describe(err: &BollardError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_errors_with_context() {
        let op = Op {
            operation: "inspect",
            what: "service",
            name: "shop-web",
        };
        let server = |status_code: u16| BollardError::DockerResponseServerError {
            status_code,
            message: format!("status {status_code}"),
        };
        assert!(matches!(
            map("e", op, server(404)),
            SwarmError::NotFound { what: "service", name } if name == "shop-web"
        ));
        let err = map("e", op, server(503));
        assert_eq!(
            err.to_string(),
            "inspect service `shop-web` failed: status 503"
        );
        assert!(matches!(
            map("e", op, BollardError::SocketNotFoundError("/x".into())),
            SwarmError::Unreachable { endpoint, .. } if endpoint == "e"
        ));
    }

    #[test]
    fn the_refusal_to_build_a_cluster_is_said_plainly() {
        let err = SwarmError::NotManager {
            endpoint: "unix:///run/docker.sock".into(),
            state: "Swarm inactive".into(),
        };
        assert!(
            err.to_string().contains(
                "is not a Swarm manager; Bulkhead never creates a cluster (Swarm inactive)"
            ),
            "{err}"
        );
    }
}
