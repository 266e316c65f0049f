//! The container template of a service: every setting its containers are created with, derived
//! from the spec and its hardened `Effective` settings, and the hash that identifies it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hardening::{Effective, Health, NetworkMode};
use crate::spec::model::{HealthTest, Mount, MountKind, Service};
use crate::spec::tmpfs as spec_tmpfs;
use crate::spec::units::format_duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MountTemplate {
    Bind {
        source: String,
        target: String,
        read_only: bool,
    },
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
        options: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthTemplate {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub start_period: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortTemplate {
    pub host_ip: String,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

/// Everything a service's containers are created with, but their name and owner labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE`, sorted.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub mounts: Vec<MountTemplate>,
    /// Networks with the aliases the service answers to on each.
    pub networks: Vec<(String, Vec<String>)>,
    /// Set when the container joins no security-group network (`none`, a waived `host`).
    pub network_mode: Option<String>,
    pub health: Option<HealthTemplate>,
    pub ports: Vec<PortTemplate>,
    pub ulimits: Vec<(String, i64, i64)>,
    pub stop_signal: Option<String>,
    pub stop_grace_secs: u64,
    pub tty: bool,
    pub stdin_open: bool,
    /// From here on: the hardened settings (`Effective`), flattened for the runtime.
    /// At deploy, the numeric `uid:gid` the image's user database resolved the user to.
    pub user: Option<String>,
    /// Supplementary groups of that user in the image's /etc/group, pinned with it (the
    /// engine adds none to a `uid:gid` user).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<u32>,
    pub read_only_rootfs: bool,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub userns_mode: Option<String>,
    pub devices: Vec<String>,
    pub memory: u64,
    pub memory_swap: u64,
    pub pids_limit: i64,
    pub cpu_shares: i64,
    pub nano_cpus: Option<i64>,
    pub restart: (String, u32),
    pub init: bool,
    pub sysctls: Vec<(String, String)>,
    pub runtime: Option<String>,
    /// The image's own `VOLUME` paths that no mount of the spec covers: each replica keeps
    /// its data there in a volume of its own that outlives its containers (set at deploy,
    /// when the image is known).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_volumes: Vec<String>,
    /// The plain engine settings of the spec's `engine_opts` keys (empty: none, and the
    /// template's hash is what it was before they existed).
    #[serde(default, skip_serializing_if = "EngineTemplate::is_empty")]
    pub engine: EngineTemplate,
}

/// `extra_hosts`, DNS, /dev/shm, cpuset, OOM score, memory reservation, log driver, and the
/// labels of `deploy.labels`: as the engine takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineTemplate {
    /// `name:address`, as `HostConfig.ExtraHosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u64>,
    /// The log driver and its options (a local one, or a waived other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_options: BTreeMap<String, String>,
}

impl EngineTemplate {
    pub fn is_empty(&self) -> bool {
        *self == EngineTemplate::default()
    }
}

impl Template {
    /// Why two replicas of one slot must never run at once (the old one stops before the new
    /// one starts), if so: a writable volume or bind mount — unless `share_volumes` declares
    /// that the application coordinates writers to the shared ones —, a volume of the
    /// replica's own (an anonymous or image volume), or a fixed host port.
    pub fn stop_first(&self, share_volumes: bool) -> Option<String> {
        for m in &self.mounts {
            match m {
                MountTemplate::Volume {
                    name,
                    target,
                    read_only: false,
                } if name.is_empty() => {
                    return Some(format!("writes its own volume at {target}"));
                }
                MountTemplate::Volume {
                    name,
                    target,
                    read_only: false,
                } if !share_volumes => {
                    return Some(format!("writes volume `{name}` at {target}"));
                }
                MountTemplate::Bind {
                    target,
                    read_only: false,
                    ..
                } if !share_volumes => {
                    return Some(format!("writes a bind mount at {target}"));
                }
                _ => {}
            }
        }
        if let Some(path) = self.image_volumes.first() {
            return Some(format!("writes its image's volume {path}"));
        }
        self.ports
            .iter()
            .find_map(|p| p.host_port.filter(|port| *port > 0))
            .map(|port| format!("binds fixed host port {port}"))
    }

    /// A writable volume or bind mount every replica would share (what a scale above 1 needs
    /// `share_volumes` for), as `volume `name` at /target`.
    pub fn shared_writable(&self) -> Option<String> {
        self.mounts.iter().find_map(|m| match m {
            MountTemplate::Volume {
                name,
                target,
                read_only: false,
            } if !name.is_empty() => Some(format!("volume `{name}` at {target}")),
            MountTemplate::Bind {
                target,
                read_only: false,
                ..
            } => Some(format!("a bind mount at {target}")),
            _ => None,
        })
    }

    /// SHA-256 (hex) over the template and the pinned image: equal hashes, identical containers.
    pub fn hash(&self, image: &str) -> String {
        let json = serde_json::to_string(&(self, image)).unwrap_or_default();
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Build the template. `env` is the resolved environment (env_file and pass-through applied);
/// `networks` the security-group networks the service joins; `volume_prefix` names volumes.
pub fn template(
    service: &Service,
    effective: &Effective,
    env: BTreeMap<String, String>,
    networks: &[String],
    volume_prefix: &str,
) -> Template {
    let network_mode = match &effective.network_mode {
        NetworkMode::SecurityGroups if networks.is_empty() => Some("none".to_string()),
        NetworkMode::SecurityGroups => None,
        NetworkMode::None => Some("none".to_string()),
        NetworkMode::Waived(mode) => Some(mode.clone()),
    };
    let aliases = vec![service.name.clone()];
    Template {
        command: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels: labels(service),
        working_dir: service.working_dir.clone(),
        hostname: service.hostname.clone(),
        mounts: mounts(service, effective, volume_prefix),
        networks: if network_mode.is_some() {
            Vec::new()
        } else {
            networks
                .iter()
                .map(|n| (n.clone(), aliases.clone()))
                .collect()
        },
        network_mode,
        health: health(&effective.health),
        ports: ports(effective),
        ulimits: service
            .ulimits
            .iter()
            .map(|(k, u)| (k.clone(), u.soft, u.hard))
            .collect(),
        stop_signal: service.stop_signal.clone(),
        stop_grace_secs: service
            .stop_grace_period
            .map(|d| d.as_secs().max(1))
            .unwrap_or(10),
        tty: service.tty,
        stdin_open: service.stdin_open,
        user: effective.user.clone(),
        // The spec's `group_add` (checked); the user's own groups join them at deploy.
        groups: effective.group_add.clone(),
        read_only_rootfs: effective.read_only_rootfs,
        cap_drop: effective.cap_drop.clone(),
        cap_add: effective.cap_add.clone(),
        privileged: effective.privileged,
        security_opt: effective.security_opt.clone(),
        pid: effective.pid.clone(),
        ipc: effective.ipc.clone(),
        uts: effective.uts.clone(),
        userns_mode: effective.userns_mode.clone(),
        devices: effective.devices.clone(),
        memory: effective.memory,
        memory_swap: effective.memory_swap,
        pids_limit: effective.pids_limit,
        cpu_shares: effective.cpu_shares,
        nano_cpus: effective.nano_cpus,
        restart: effective.restart.clone(),
        init: effective.init,
        sysctls: effective.sysctls.clone(),
        runtime: effective.runtime.clone(),
        image_volumes: Vec::new(),
        engine: engine(service, effective),
    }
}

/// The service's `labels` over its `deploy.labels`.
fn labels(service: &Service) -> BTreeMap<String, String> {
    let mut out = service.engine.deploy_labels.clone();
    out.extend(service.labels.clone());
    out
}

fn engine(service: &Service, effective: &Effective) -> EngineTemplate {
    let o = &service.engine;
    let logging = effective.logging.clone();
    EngineTemplate {
        extra_hosts: o
            .extra_hosts
            .iter()
            .map(|(name, addr)| format!("{name}:{addr}"))
            .collect(),
        dns: o.dns.clone(),
        dns_search: o.dns_search.clone(),
        dns_opt: o.dns_opt.clone(),
        domainname: o.domainname.clone(),
        shm_size: o.shm_size,
        cpuset: o.cpuset.clone(),
        oom_score_adj: o.oom_score_adj,
        // Never above the limit: the engine refuses that (the verdict flags it).
        memory_reservation: service
            .reservations
            .memory
            .filter(|m| *m > 0)
            .map(|m| m.min(effective.memory)),
        log_driver: logging.as_ref().and_then(|l| l.driver.clone()),
        log_options: logging.map(|l| l.options).unwrap_or_default(),
    }
}

fn mounts(service: &Service, effective: &Effective, volume_prefix: &str) -> Vec<MountTemplate> {
    let mut out = Vec::new();
    for m in &service.volumes {
        let m = &m.value;
        out.push(match m.kind {
            MountKind::Bind => MountTemplate::Bind {
                source: m.host_path.clone().unwrap_or_default(),
                target: m.target.clone(),
                read_only: m.read_only,
            },
            MountKind::Volume => MountTemplate::Volume {
                name: if m.source.is_empty() {
                    String::new()
                } else {
                    format!("{volume_prefix}{}", m.source)
                },
                target: m.target.clone(),
                read_only: m.read_only,
            },
            MountKind::Tmpfs => MountTemplate::Tmpfs {
                target: m.target.clone(),
                size: m.tmpfs_size,
                options: long_tmpfs_options(m),
            },
        });
    }
    for (target, options) in &effective.tmpfs {
        out.push(MountTemplate::Tmpfs {
            target: target.clone(),
            size: None,
            options: options.clone(),
        });
    }
    out
}

/// A long-syntax tmpfs volume's options: the hardening's `noexec,nosuid,nodev`, `ro` when
/// it is read-only, and its `tmpfs.mode` (its size travels on its own).
fn long_tmpfs_options(m: &Mount) -> String {
    let own: Vec<String> = m
        .read_only
        .then(|| "ro".to_string())
        .into_iter()
        .chain(m.tmpfs_mode.map(|mode| format!("mode={mode:o}")))
        .collect();
    spec_tmpfs::with_secure_defaults(&own).join(",")
}

fn health(h: &Health) -> Option<HealthTemplate> {
    let check = match h {
        Health::Image => return None,
        Health::Disabled => {
            return Some(HealthTemplate {
                test: vec!["NONE".into()],
                interval: None,
                timeout: None,
                retries: None,
                start_period: None,
            });
        }
        Health::Spec { check } => check,
    };
    let test = match &check.test {
        Some(HealthTest::Cmd(argv)) => std::iter::once("CMD".to_string())
            .chain(argv.iter().cloned())
            .collect(),
        Some(HealthTest::Shell(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
        Some(HealthTest::Disabled) => vec!["NONE".to_string()],
        None => Vec::new(),
    };
    Some(HealthTemplate {
        test,
        interval: check.interval.map(format_duration),
        timeout: check.timeout.map(format_duration),
        retries: check.retries,
        start_period: check.start_period.map(format_duration),
    })
}

fn ports(effective: &Effective) -> Vec<PortTemplate> {
    let mut out = Vec::new();
    for b in &effective.ports {
        let (c0, c1) = b.container_ports;
        for (i, container_port) in (c0..=c1).enumerate() {
            let host_port = b.host_ports.map(|(h0, h1)| {
                if c0 == c1 {
                    h0
                } else {
                    h0.saturating_add(i as u16).min(h1)
                }
            });
            out.push(PortTemplate {
                host_ip: b.host_ip.clone(),
                host_port,
                container_port,
                protocol: b.protocol.as_str().to_string(),
            });
        }
    }
    out
}
