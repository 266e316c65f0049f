//! Ports: the narrow traits through which the application reaches the outside world. Adapters
//! implement them; the application and its tests only see these types.

pub mod audit;
pub mod firewall;
pub mod keys;
pub mod runtime;
pub mod store;

pub use audit::{AppendFuture, AuditError, AuditSink, Receipt};
/// The image user database as the runtime reads it (parsed in `bulkhead_core`).
pub use bulkhead_core::hardening::userdb::{
    ImageFile, ImageUserFiles, MAX_FILE_BYTES as MAX_USER_FILE_BYTES,
};
pub use firewall::{Firewall, FirewallError, InstalledRules, NetworkRules};
pub use keys::{KeyError, KeyFuture, KeyProvider};
pub use runtime::{
    BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, FsChange,
    HealthSpec, HealthState, ImageEntry, ImageInfo, ImagePath, LabelFilter, MountSpec, NetworkInfo,
    NetworkSpec, PortSpec, Progress, RuntimeError, RuntimeEvent, VolumeInfo,
};
pub use store::{ProjectRecord, Release, Rewrapped, Store, StoreError, TokenLookup};
