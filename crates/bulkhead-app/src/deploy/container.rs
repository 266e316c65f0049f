//! From a stored release to the engine's container spec: names, owner labels, and every field
//! of the template, one to one.

use std::collections::BTreeMap;
use std::time::Duration;

use bulkhead_core::deploy::{HealthTemplate, MountTemplate, Template};
use bulkhead_core::spec::units::parse_duration;
use bulkhead_ports::runtime::{LABEL_PROJECT, LABEL_RELEASE, LABEL_REPLICA, LABEL_SERVICE};
use bulkhead_ports::{ContainerSpec, HealthSpec, MountSpec, PortSpec};

/// The label holding a container's template hash, so a plan can tell current from stale.
pub const LABEL_SPEC: &str = "dev.bulkhead.spec";

/// `<project>-<service>-<replica>`, as in `docker ps`.
pub fn container_name(project: &str, service: &str, replica: u32) -> String {
    format!("{project}-{service}-{replica}")
}

/// Owner labels for anything Bulkhead creates.
pub fn owner_labels(project: &str, service: &str, release: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_PROJECT.to_string(), project.to_string()),
        (LABEL_SERVICE.to_string(), service.to_string()),
        (LABEL_RELEASE.to_string(), release.to_string()),
    ])
}

pub struct Identity<'a> {
    pub project: &'a str,
    pub service: &'a str,
    pub release: u64,
    pub replica: u32,
    pub spec_hash: &'a str,
    pub image: &'a str,
}

/// The engine spec for one replica of a release.
pub fn container_spec(id: &Identity<'_>, t: &Template) -> ContainerSpec {
    let mut labels = t.labels.clone();
    labels.retain(|k, _| !k.starts_with("dev.bulkhead."));
    labels.extend(owner_labels(id.project, id.service, id.release));
    labels.insert(LABEL_REPLICA.to_string(), id.replica.to_string());
    labels.insert(LABEL_SPEC.to_string(), id.spec_hash.to_string());
    ContainerSpec {
        name: container_name(id.project, id.service, id.replica),
        image: id.image.to_string(),
        command: t.command.clone(),
        entrypoint: t.entrypoint.clone(),
        env: t.env.clone(),
        labels,
        user: t.user.clone(),
        group_add: t.groups.iter().map(u32::to_string).collect(),
        working_dir: t.working_dir.clone(),
        hostname: t.hostname.clone(),
        read_only_rootfs: t.read_only_rootfs,
        mounts: mounts(id, t),
        cap_drop: t.cap_drop.clone(),
        cap_add: t.cap_add.clone(),
        privileged: t.privileged,
        security_opt: t.security_opt.clone(),
        networks: t.networks.clone(),
        // Given per replica by the runner (`address`), on networks with a pinned subnet.
        fixed_addresses: BTreeMap::new(),
        network_mode: t.network_mode.clone(),
        pid_mode: t.pid.clone(),
        ipc_mode: t.ipc.clone(),
        uts_mode: t.uts.clone(),
        userns_mode: t.userns_mode.clone(),
        devices: t.devices.clone(),
        memory: i64::try_from(t.memory).unwrap_or(i64::MAX),
        memory_swap: i64::try_from(t.memory_swap).unwrap_or(i64::MAX),
        pids_limit: t.pids_limit,
        cpu_shares: t.cpu_shares,
        nano_cpus: t.nano_cpus,
        restart: t.restart.clone(),
        healthcheck: t.health.as_ref().map(health),
        ports: t
            .ports
            .iter()
            .map(|p| PortSpec {
                container_port: p.container_port,
                protocol: p.protocol.clone(),
                host_ip: p.host_ip.clone(),
                host_port: p.host_port,
            })
            .collect(),
        init: t.init,
        sysctls: t.sysctls.iter().cloned().collect(),
        ulimits: t.ulimits.clone(),
        runtime: t.runtime.clone(),
        stop_signal: t.stop_signal.clone(),
        stop_timeout: Some(Duration::from_secs(t.stop_grace_secs)),
        tty: t.tty,
        stdin_open: t.stdin_open,
        extra_hosts: t.engine.extra_hosts.clone(),
        dns: t.engine.dns.clone(),
        dns_search: t.engine.dns_search.clone(),
        dns_opt: t.engine.dns_opt.clone(),
        domainname: t.engine.domainname.clone(),
        shm_size: t.engine.shm_size,
        cpuset: t.engine.cpuset.clone(),
        oom_score_adj: t.engine.oom_score_adj,
        memory_reservation: t.engine.memory_reservation,
        log: t
            .engine
            .log_driver
            .clone()
            .map(|d| (d, t.engine.log_options.clone())),
    }
}

/// The template's mounts, with each anonymous volume (in the spec, or the image's own
/// `VOLUME`) made the replica's own named volume, so its data outlives the container.
fn mounts(id: &Identity<'_>, t: &Template) -> Vec<MountSpec> {
    let mut out: Vec<MountSpec> = t
        .mounts
        .iter()
        .map(|m| match m {
            MountTemplate::Volume {
                name,
                target,
                read_only,
            } if name.is_empty() => MountSpec::Volume {
                name: replica_volume(id.project, id.service, id.replica, target),
                target: target.clone(),
                read_only: *read_only,
            },
            other => mount(other),
        })
        .collect();
    out.extend(t.image_volumes.iter().map(|target| MountSpec::Volume {
        name: replica_volume(id.project, id.service, id.replica, target),
        target: target.clone(),
        read_only: false,
    }));
    out
}

/// The replica's own volumes (name, target): what `mounts` names for anonymous and image
/// volumes; created with owner labels before the container.
pub fn replica_volumes(id: &Identity<'_>, t: &Template) -> Vec<(String, String)> {
    let anonymous = t.mounts.iter().filter_map(|m| match m {
        MountTemplate::Volume { name, target, .. } if name.is_empty() => Some(target),
        _ => None,
    });
    anonymous
        .chain(t.image_volumes.iter())
        .map(|target| {
            (
                replica_volume(id.project, id.service, id.replica, target),
                target.clone(),
            )
        })
        .collect()
}

/// `<project>-<service>-<replica>-<last path part>-<6 hex of the path's hash>`: readable in
/// `docker volume ls`, one per replica and path.
pub fn replica_volume(project: &str, service: &str, replica: u32, target: &str) -> String {
    use sha2::Digest as _;
    let tail: String = target
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let hash = hex::encode(sha2::Sha256::digest(target.as_bytes()));
    let tail = if tail.is_empty() {
        "root".to_string()
    } else {
        tail
    };
    format!("{project}-{service}-{replica}-{tail}-{}", &hash[..6])
}

fn mount(m: &MountTemplate) -> MountSpec {
    match m {
        MountTemplate::Bind {
            source,
            target,
            read_only,
        } => MountSpec::Bind {
            source: source.clone(),
            target: target.clone(),
            read_only: *read_only,
        },
        MountTemplate::Volume {
            name,
            target,
            read_only,
        } => MountSpec::Volume {
            name: name.clone(),
            target: target.clone(),
            read_only: *read_only,
        },
        MountTemplate::Tmpfs {
            target,
            size,
            options,
        } => {
            // `size=` and `mode=` (octal, as mount(8) reads it) are typed; the last one
            // written counts, as in mount(8). Everything else goes on as written.
            let mut size = *size;
            let mut mode = None;
            let mut rest = Vec::new();
            for option in options.split(',').filter(|o| !o.is_empty()) {
                if let Some(s) = option.strip_prefix("size=") {
                    size = s.parse().ok().or(size);
                } else if let Some(m) = option.strip_prefix("mode=") {
                    mode = u32::from_str_radix(m, 8).ok().filter(|m| *m <= 0o7777);
                } else {
                    rest.push(option.to_string());
                }
            }
            MountSpec::Tmpfs {
                target: target.clone(),
                size,
                mode,
                options: rest,
            }
        }
    }
}

fn health(h: &HealthTemplate) -> HealthSpec {
    let d = |s: &Option<String>| s.as_deref().and_then(|s| parse_duration(s).ok());
    HealthSpec {
        test: h.test.clone(),
        interval: d(&h.interval),
        timeout: d(&h.timeout),
        retries: h.retries,
        start_period: d(&h.start_period),
    }
}

#[cfg(test)]
mod tmpfs_tests {
    use super::*;

    #[test]
    fn anonymous_and_image_volumes_are_the_replicas_own() {
        assert_eq!(
            replica_volume("shop", "db", 2, "/var/lib/postgresql/data"),
            format!(
                "shop-db-2-data-{}",
                &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    b"/var/lib/postgresql/data"
                ))[..6]
            )
        );
        assert_ne!(
            replica_volume("p", "s", 1, "/a/data"),
            replica_volume("p", "s", 1, "/b/data")
        );
        assert!(replica_volume("p", "s", 1, "/").starts_with("p-s-1-root-"));
        assert!(replica_volume("p", "s", 1, "/x y:z").starts_with("p-s-1-x_y_z-"));
    }

    #[test]
    fn a_tmpfs_keeps_its_size_and_mode() {
        let t = MountTemplate::Tmpfs {
            target: "/scratch".into(),
            size: None,
            options: "rw,noexec,nosuid,nodev,mode=1777,size=1048576,uid=1000,gid=1000".into(),
        };
        assert_eq!(
            mount(&t),
            MountSpec::Tmpfs {
                target: "/scratch".into(),
                size: Some(1_048_576),
                mode: Some(0o1777),
                options: ["rw", "noexec", "nosuid", "nodev", "uid=1000", "gid=1000"]
                    .map(String::from)
                    .to_vec(),
            }
        );
        // A long-syntax tmpfs volume: its size is a field of its own.
        let t = MountTemplate::Tmpfs {
            target: "/data".into(),
            size: Some(1024),
            options: "noexec,nosuid,nodev,ro,mode=700".into(),
        };
        assert_eq!(
            mount(&t),
            MountSpec::Tmpfs {
                target: "/data".into(),
                size: Some(1024),
                mode: Some(0o700),
                options: ["noexec", "nosuid", "nodev", "ro"]
                    .map(String::from)
                    .to_vec(),
            }
        );
    }
}
