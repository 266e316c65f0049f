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
mod include;
pub mod interpolate;
mod label_file;
pub mod load;
pub mod merge;
pub mod model;
pub mod paths;
pub mod ports;
mod rebase;
mod refs;
pub mod rollout;
pub mod security_opt;
pub mod service;
mod service_keys;
pub mod sources;
pub mod tmpfs;
mod toplevel;
pub mod units;
pub mod validate;
pub mod volumes;
pub mod yaml;

pub use error::{ErrorKind, Span, SpecError, SpecErrors};
pub use load::{LoadInput, SourceFile, load, load_step};
pub use model::Project;
pub use sources::{Step, Wanted};

#[cfg(test)]
mod include_tests;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod spec_tests_errors;
