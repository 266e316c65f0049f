//! The server's status reply: its listener's counters of open and turned-away connections.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusReply {
    pub listener: ListenerStats,
}

/// The listener's counters at one moment (they start at zero when the server starts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListenerStats {
    /// Connections being served now.
    pub connections_open: u64,
    /// Connections accepted since the server started (those closed at once included).
    pub connections_accepted: u64,
    /// Client addresses with at least one connection open.
    pub clients: u64,
    /// Connections and requests turned away before a handler, by reason.
    pub rejected: Rejected,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rejected {
    pub over_client_limit: u64,
    pub tls_handshake: u64,
    pub malformed_http: u64,
    pub head_too_large: u64,
}
