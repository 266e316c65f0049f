//! The hardening profile (its `Default` is the strict one) and the effective container settings
//! it produces for a service: what the runtime adapter applies, field by field.

use serde::Serialize;

use crate::spec::model::{HealthTest, Healthcheck, Logging, Protocol};

/// The knobs of the profile. `Profile::default()` is the strict profile every service gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Memory limit when the spec sets none.
    pub default_memory: u64,
    /// PIDs limit when the spec sets none.
    pub default_pids: i64,
    /// CPU shares (relative weight) of every container.
    pub cpu_shares: i64,
    /// Most restarts after failures.
    pub max_restarts: u32,
    /// Size of the tmpfs mounted at /tmp on the read-only root filesystem.
    pub tmp_size: u64,
    /// Capabilities that may be added back without a waiver.
    pub free_caps: Vec<String>,
    /// Sysctls allowed without a waiver (the Kubernetes "safe" set).
    pub safe_sysctls: Vec<String>,
    /// OCI runtimes allowed without a waiver.
    pub runtimes: Vec<String>,
}

impl Default for Profile {
    fn default() -> Profile {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Profile {
            default_memory: 512 << 20,
            default_pids: 512,
            cpu_shares: 1024,
            max_restarts: 5,
            tmp_size: 64 << 20,
            free_caps: strings(&["NET_BIND_SERVICE"]),
            safe_sysctls: strings(&[
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            ]),
            runtimes: strings(&["runc", "runsc"]),
        }
    }
}

/// A published port as it will be bound on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub host_ip: String,
    /// `None`: the engine picks a free port.
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub protocol: Protocol,
}

/// Where the health check comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum Health {
    /// The spec's own check (possibly only timings over the image's test).
    Spec { check: Healthcheck },
    /// The spec says nothing: the image's HEALTHCHECK, if it has one (checked at deploy).
    Image,
    /// Explicitly disabled.
    Disabled,
}

impl Health {
    pub fn from_spec(h: Option<&Healthcheck>) -> Health {
        match h {
            None => Health::Image,
            Some(h) if h.test == Some(HealthTest::Disabled) => Health::Disabled,
            Some(h) => Health::Spec { check: h.clone() },
        }
    }
}

/// How the container joins networks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The project's security-group networks (the only mode without a waiver, besides none).
    SecurityGroups,
    /// No network at all.
    None,
    /// Waived: the mode the spec asked for (`host`, `container:x`).
    Waived(String),
}

/// Every security-relevant setting of a service's containers after hardening.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Effective {
    /// `None`: the image's user, which must not be root (checked at deploy).
    pub user: Option<String>,
    pub read_only_rootfs: bool,
    /// tmpfs mounts as `(target, options)`.
    pub tmpfs: Vec<(String, String)>,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub network_mode: NetworkMode,
    /// Namespace modes kept only when waived (`host`, ...); `None` is private.
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub userns_mode: Option<String>,
    pub devices: Vec<String>,
    pub memory: u64,
    /// Memory plus swap: equal to `memory`, so no swap.
    pub memory_swap: u64,
    pub pids_limit: i64,
    pub cpu_shares: i64,
    /// CPU limit in billionths of a CPU, from `cpus`.
    pub nano_cpus: Option<i64>,
    pub restart: (String, u32),
    pub health: Health,
    pub ports: Vec<Binding>,
    pub init: bool,
    pub sysctls: Vec<(String, String)>,
    pub runtime: Option<String>,
    /// `group_add` by number, gid 0 only when waived.
    pub group_add: Vec<u32>,
    /// The log driver and options: a local driver, or a waived other one.
    pub logging: Option<Logging>,
}
