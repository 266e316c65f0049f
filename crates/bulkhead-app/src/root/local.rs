//! The adapters one host runs with, as one type: the deployer the `Api` holds (the engine
//! connected on first use, the redb store, the iptables firewall).

use bulkhead_docker::LazyRuntime;
use bulkhead_firewall::HostFirewall;
use bulkhead_store::RedbStore;

use crate::deploy::Deployer;

/// The deployer Bulkhead runs with on one host.
pub type Local = Deployer<LazyRuntime, RedbStore, HostFirewall>;
