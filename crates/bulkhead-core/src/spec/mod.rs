//! The Compose spec: YAML with locations, interpolation, `.env`, merging of several files, and
//! the typed, validated service model.

mod connections;
pub mod decode;
mod deploy_keys;
mod engine_opts;
mod extends;
pub use deploy_keys::MAX_REPLICAS;
pub use engine_opts::LOCAL_LOG_DRIVERS;
pub mod dotenv;
pub mod error;
pub mod extension;
mod health;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod paths;
pub mod ports;
mod refs;
pub mod rollout;
pub mod security_opt;
pub mod service;
mod service_keys;
pub mod tmpfs;
mod toplevel;
pub mod units;
pub mod validate;
pub mod volumes;
pub mod yaml;

pub use error::{ErrorKind, Span, SpecError, SpecErrors};
pub use load::{LoadInput, SourceFile, load};
pub use model::Project;

#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod spec_tests_errors;
