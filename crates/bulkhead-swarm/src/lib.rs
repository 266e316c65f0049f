//! The Docker Swarm adapter: what a Swarm service can express of a hardened container
//! template (`gaps`, pure), the mapping of a Compose service's release onto one Swarm service
//! (`mapping`, pure), and a thin client of a Swarm manager over bollard — services created or
//! updated only when their spec changed, overlay networks (encrypted when the kernel can),
//! versioned secrets, a project's services and tasks, removal by owner label. Bulkhead never
//! creates a cluster: the client refuses an engine that is not a Swarm manager.

mod client;
mod connect;
mod error;
pub mod gaps;
mod hash;
pub mod ipsec;
pub mod mapping;
pub mod names;
pub mod overlay;
mod remove;
mod secrets;
mod services;
mod tmpfs;

#[cfg(test)]
mod fixture;

pub use client::{Manager, SwarmClient};
pub use connect::{DEFAULT_HOST, MIN_API_VERSION};
pub use error::SwarmError;
pub use gaps::{Effect, Gap, gaps, refusals};
pub use hash::spec_hash;
pub use ipsec::IpsecSupport;
pub use mapping::{
    Attachment, ImageError, ImageRef, LABEL_SPEC, MappingError, Release, SecretMount, ServiceInput,
    service_spec,
};
pub use overlay::{Encryption, EncryptionError, OverlaySpec, encryption};
pub use remove::{REMOVE_DEADLINE, Removed};
pub use secrets::{LABEL_SECRET, LABEL_SECRET_VERSION, MAX_SECRET_BYTES, SwarmSecret};
pub use services::{Applied, ServiceState, TaskHealth, TaskInfo};
