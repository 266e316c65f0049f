//! The API's application layer, shared by `bulkhead server` (HTTP) and the embedded CLI:
//! typed commands, the dispatcher that authenticates, authorizes, audits and then executes
//! them, and the JSON documents they reply with.

mod accounts;
pub mod bundle;
pub mod command;
pub mod dispatch;
pub mod error;
mod exec;
pub mod render;
mod secrets;
pub mod uploads;
mod waivers;

pub use accounts::{init, new_token};
pub use command::{AuditQuery, Bundle, Command, SecretValue, Source};
pub use dispatch::{Api, Caller, Credentials, Reply, client_of};
pub use error::ApiError;
