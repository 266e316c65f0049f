//! The API's one error: a stable machine code, one sentence for the caller, and the HTTP
//! status it maps to. Messages never carry a secret, a token or a request body.

use serde::Serialize;

use crate::deploy::DeployError;

/// What went wrong, as the caller sees it (`{"error": {"code", "message"}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// Stable, lowercase, snake_case: `unauthenticated`, `forbidden`, `not_found`, ...
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// Control characters in `message` (a tenant's file or entry name, a container's log
    /// line) are escaped, line breaks aside: a client prints it to a terminal.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        let message: String = message.into();
        let message = if message.chars().any(|c| c.is_control() && c != '\n') {
            message
                .split('\n')
                .map(super::dispatch::printable)
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            message
        };
        ApiError {
            status,
            code,
            message,
        }
    }

    /// No credentials, or credentials that do not verify. Always the same sentence: the
    /// caller learns nothing about which part was wrong.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            401,
            "unauthenticated",
            "a valid bearer token is required (Authorization: Bearer bhk_...)",
        )
    }

    pub fn forbidden(reason: impl Into<String>) -> ApiError {
        ApiError::new(403, "forbidden", reason)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "conflict", message)
    }

    pub fn too_many(message: impl Into<String>) -> ApiError {
        ApiError::new(429, "rate_limited", message)
    }

    /// The audit log could not take the entry: nothing was executed (fail closed).
    pub fn audit(reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            503,
            "audit_unavailable",
            format!("the request was not executed: {reason}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> ApiError {
        let message = match &e {
            DeployError::Unsupported { hint, .. } | DeployError::Policy { hint, .. } => {
                format!("{e} (hint: {hint})")
            }
            DeployError::Refused { verdict, .. } => {
                let rules: Vec<String> = verdict
                    .refusals()
                    .map(|(s, f)| {
                        format!("service `{}`: rule {}: {}", s.name, f.rule.id(), f.message)
                    })
                    .collect();
                format!("{e}: {}", rules.join("; "))
            }
            _ => e.to_string(),
        };
        let (status, code) = match &e {
            DeployError::Open(_) => (400, "invalid_spec"),
            DeployError::Refused { .. } | DeployError::Policy { .. } => (422, "refused"),
            DeployError::Unsupported { .. } => (422, "unsupported"),
            DeployError::UnknownProject(_)
            | DeployError::UnknownService { .. }
            | DeployError::NoRelease { .. } => (404, "not_found"),
            DeployError::NameTaken { .. } | DeployError::NoRollback { .. } => (409, "conflict"),
            DeployError::Runtime(
                bulkhead_ports::RuntimeError::Unreachable { .. }
                | bulkhead_ports::RuntimeError::TooOld { .. },
            ) => (503, "engine_unavailable"),
            _ => (500, "deploy_failed"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<bulkhead_ports::StoreError> for ApiError {
    fn from(e: bulkhead_ports::StoreError) -> ApiError {
        use bulkhead_ports::StoreError;
        match e {
            StoreError::Exists { .. } | StoreError::Conflict { .. } => {
                ApiError::conflict(e.to_string())
            }
            StoreError::NotFound { .. } | StoreError::NoSuchRelease { .. } => {
                ApiError::not_found(e.to_string())
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}
