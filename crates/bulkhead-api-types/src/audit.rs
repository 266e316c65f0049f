//! The audit log's reply: a page of entries (`core::audit::Entry`, docs/audit.md).

use bulkhead_core::audit::Entry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/audit`: entries after the cursor, and where the next page starts (`null`: there
/// are no more).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    #[schema(schema_with = crate::schema::audit_entries)]
    pub entries: Vec<Entry>,
    #[serde(deserialize_with = "crate::required")]
    #[schema(required = true)]
    pub next_cursor: Option<u64>,
}
