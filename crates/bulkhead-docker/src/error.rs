//! Translating bollard failures into the port's `RuntimeError`: status codes, transport failures,
//! and the context (operation, object kind and name) each call site supplies.

use std::error::Error as _;

use bollard::errors::Error as BollardError;
use bulkhead_ports::RuntimeError;

/// What a failed call was doing, for the error it turns into.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op<'a> {
    pub operation: &'static str,
    pub what: &'static str,
    pub name: &'a str,
    /// Whether the call gives `name` to a new object, so that a 409 means the name is taken.
    /// Elsewhere a 409 means "in use" or "not running", which the engine's message says.
    pub names: bool,
}

impl<'a> Op<'a> {
    pub(crate) const fn new(operation: &'static str, what: &'static str, name: &'a str) -> Self {
        Op {
            operation,
            what,
            name,
            names: false,
        }
    }

    /// An operation that names an object: a 409 is a `Conflict` over `name`.
    pub(crate) const fn naming(self) -> Self {
        Op {
            names: true,
            ..self
        }
    }
}

/// 404 → `NotFound`, 409 on a naming call → `Conflict`, no connection → `Unreachable`,
/// anything else → `Engine` with the engine's own message.
pub(crate) fn map(endpoint: &str, op: Op<'_>, err: BollardError) -> RuntimeError {
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => RuntimeError::NotFound {
            what: op.what,
            name: op.name.to_string(),
        },
        BollardError::DockerResponseServerError {
            status_code: 409, ..
        } if op.names => RuntimeError::Conflict {
            what: op.what,
            name: op.name.to_string(),
        },
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::Engine {
            operation: op.operation.to_string(),
            reason: message,
        },
        err if is_transport(&err) => RuntimeError::Unreachable {
            endpoint: endpoint.to_string(),
            reason: describe(&err),
        },
        err => RuntimeError::Engine {
            operation: op.operation.to_string(),
            reason: describe(&err),
        },
    }
}

/// The HTTP status the engine answered with, when it answered.
pub(crate) fn status(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's message, when it answered with an error status.
pub(crate) fn message(err: &BollardError) -> Option<&str> {
    match err {
        BollardError::DockerResponseServerError { message, .. } => Some(message),
        _ => None,
    }
}

/// A failure to talk to the engine at all (no socket, refused, reset), as opposed to an answer.
pub(crate) fn is_transport(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::HyperLegacyError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::IOError { .. }
            | BollardError::SocketNotFoundError(_)
    )
}

/// An error and its sources, `outer: inner: innermost` (hyper's own messages are terse).
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

    fn server(status_code: u16) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: format!("status {status_code}"),
        }
    }

    #[test]
    fn statuses_map_onto_port_errors() {
        let op = Op::new("remove network", "network", "n1");
        assert!(matches!(
            map("e", op, server(404)),
            RuntimeError::NotFound { what: "network", name } if name == "n1"
        ));
        let create = Op::new("create network", "network", "n1").naming();
        assert!(matches!(
            map("e", create, server(409)),
            RuntimeError::Conflict { what: "network", name } if name == "n1"
        ));
        assert!(matches!(
            map("e", op, server(409)),
            RuntimeError::Engine { reason, .. } if reason == "status 409"
        ));
        assert!(matches!(
            map("e", op, server(500)),
            RuntimeError::Engine { operation, reason }
                if operation == "remove network" && reason == "status 500"
        ));
        assert!(matches!(
            map("e", op, BollardError::SocketNotFoundError("/x".into())),
            RuntimeError::Unreachable { endpoint, .. } if endpoint == "e"
        ));
    }
}
