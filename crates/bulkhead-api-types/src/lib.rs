//! The API's replies as serde types: the server builds and serializes them, the CLI (in
//! process or through `bulkhead-client`) deserializes them strictly with [`decode`] — a field
//! missing from a reply is an error that names it, never a default — and the OpenAPI document
//! takes their schemas from the same types (`schema` holds what the derives cannot say: names
//! by their rule, RFC 3339 times, core's enums and documents).
//!
//! A field that is always sent but may be `null` is an `Option` read with [`required`], so that
//! its absence is an error too; a field the server leaves out when empty says so with
//! `#[serde(default)]`. Unknown fields are ignored, so a newer server's additions do not break
//! an older CLI.

pub mod accounts;
pub mod audit;
pub mod projects;
pub mod schema;
pub mod secrets;
pub mod status;
pub mod verdict;

pub use accounts::{
    BindingAdded, BindingList, BindingRemoved, TokenCreated, TokenList, TokenReply, TokenRevoked,
    TokenText, UserAdded, UserList, UserRemoved, UserReply,
};
pub use audit::AuditPage;
pub use projects::{
    ActiveRelease, ContainerLogs, ContainerRow, DownReply, HeldService, LogsReply, PlanReply,
    ProjectGet, ProjectList, ProjectRow, ReleaseRow, ReleasesReply, RollbackReply, ScaleReply,
    ServiceRow, ServicesReply, UpRelease, UpReply,
};
pub use secrets::{
    RotationFailure, RotationReport, SecretList, SecretRemoved, SecretRow, SecretSetReply,
    SecretVersionRow, SecretVersions,
};
pub use status::{ListenerStats, Rejected, StatusReply};
pub use verdict::VerdictDoc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// A reply that does not have the shape of its type: the field or value it lacks, named.
#[derive(Debug, thiserror::Error)]
#[error("the reply is not a valid {what}: {cause}")]
pub struct ReplyError {
    pub what: &'static str,
    /// Said in the message (not a `source`, so that it is said once).
    pub cause: serde_json::Error,
}

/// Read a reply strictly as `T` (`what` names it in the error: "project listing").
pub fn decode<T: DeserializeOwned>(
    what: &'static str,
    value: serde_json::Value,
) -> Result<T, ReplyError> {
    serde_json::from_value(value).map_err(|cause| ReplyError { what, cause })
}

/// For `#[serde(deserialize_with = "required")]` on an `Option` the server always sends: `null`
/// is `None`, a missing field is an error (serde would read it as `None`).
pub fn required<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Replies as the server sends them; each reads as its type and writes back the same.
    #[test]
    fn replies_round_trip_unchanged() {
        fn same<T: serde::Serialize + DeserializeOwned>(what: &'static str, v: serde_json::Value) {
            let typed: T = decode(what, v.clone()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(serde_json::to_value(&typed).ok(), Some(v), "{what}");
        }
        same::<ProjectList>("projects", json!({"projects": [{"name": "shop"}]}));
        same::<ScaleReply>(
            "scale",
            json!({"project": "shop", "service": "Web", "replicas": 2, "changed": true}),
        );
        same::<RollbackReply>(
            "rollback",
            json!({"project": "shop", "service": "web", "release": 1, "held": [],
                "plan": {"prepare": [{"op": "create_network", "name": "shop-web-in", "internal": true}],
                    "waves": [[{"service": "web", "ops": [{"op": "deploy", "service": "web", "release": 1,
                        "replica": 1, "replaces": ["abc", "shop-web-1"], "stop_first": "writes"}],
                        "config": {"parallelism": 2, "failure_action": "pause"}}]],
                    "cleanup": [{"op": "remove", "id": "abc", "name": "shop-web-1", "service": "web", "why": "old"}]}}),
        );
        same::<ServicesReply>(
            "services",
            json!({"project": "shop", "services": [{"service": "web", "release": 2, "replicas": 1,
                "containers": [{"name": "shop-web-1", "id": "abc", "release": null, "state": "running",
                    "health": "healthy", "published": [["8080/tcp", "127.0.0.1", 8080]]}]}]}),
        );
        same::<UserAdded>(
            "user",
            json!({"user": {"name": "ana", "kind": "service-account", "created_at": "2026-01-01T00:00:00Z",
                "disabled": false, "bindings": [{"user": "ana", "role": "viewer", "scope": {"project": "shop"}}]},
                "token": "bhk_x", "token_id": "0123456789abcdef"}),
        );
        same::<AuditPage>(
            "audit",
            json!({"entries": [{"seq": 1, "time": "2026-01-01T00:00:00.000Z",
                "actor": {"user": null, "token_id": null}, "source": "local", "action": "user.add",
                "resource": "users/ana", "outcome": {"kind": "ok", "code": null, "reason": null},
                "body_sha256": null, "prev": "0".repeat(64), "hash": "1".repeat(64)}], "next_cursor": null}),
        );
        same::<RotationReport>(
            "rotation",
            json!({"kek": null, "created": false, "rewrapped": 0, "already_current": 0, "vanished": 0,
                "retired": [], "kept": [], "failed": [], "interrupted": false}),
        );
        same::<StatusReply>(
            "status",
            json!({"listener": {"connections_open": 1, "connections_accepted": 2, "clients": 1,
                "rejected": {"over_client_limit": 0, "tls_handshake": 0, "malformed_http": 0, "head_too_large": 0}}}),
        );
    }

    #[test]
    fn a_token_text_never_shows_in_debug() {
        let t = TokenText::new("bhk_secret".into());
        assert!(!format!("{t:?}").contains("secret"));
    }
}
