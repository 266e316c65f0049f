//! The tables of Compose service keys: which Bulkhead supports, which it refuses and why (each
//! reason says what the key would break or mean, and what to do instead), and the keys of a
//! `healthcheck`. Every service key of the Compose Specification is in exactly one of the two
//! tables: the test over `corpus/compose/compose-spec.json` fails on a key nobody classified.

/// The service keys Bulkhead supports.
pub const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "healthcheck",
    "depends_on",
    "deploy",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "cpu_shares",
    "cpuset",
    "pids_limit",
    "shm_size",
    "oom_score_adj",
    "user",
    "group_add",
    "working_dir",
    "read_only",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "network_mode",
    "networks",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "domainname",
    "volumes",
    "restart",
    "labels",
    "label_file",
    "secrets",
    "configs",
    "stop_signal",
    "stop_grace_period",
    "container_name",
    "hostname",
    "init",
    "ulimits",
    "sysctls",
    "devices",
    "platform",
    "profiles",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "runtime",
    "stdin_open",
    "tty",
    "scale",
    "logging",
    "pull_policy",
    "attach",
    "extends",
    "post_start",
    "pre_stop",
];

/// Compose service keys Bulkhead refuses: why, and what to do instead.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "links",
        "links are legacy Docker networking; services reach the services they may call by name: remove it and declare who may call whom with depends_on or x-bulkhead.allow_from",
    ),
    (
        "external_links",
        "it would connect the service to containers outside the project, around its security group: remove it (Bulkhead only connects services of the same project)",
    ),
    (
        "volumes_from",
        "it mounts every volume of another container, writable, whatever it holds: mount the named volume in both services instead",
    ),
    (
        "cgroup_parent",
        "it would place the container in a host cgroup of the tenant's choosing, outside the limits Bulkhead sets: remove it",
    ),
    (
        "cgroup",
        "`cgroup: host` shares the host's cgroup namespace and shows the host's hierarchy: remove it (containers always get a private cgroup namespace)",
    ),
    (
        "cpu_period",
        "a second way to write the CPU limit that `cpus` already sets (Bulkhead sets period and quota from it): use cpus",
    ),
    (
        "cpu_quota",
        "a second way to write the CPU limit that `cpus` already sets (Bulkhead sets period and quota from it): use cpus",
    ),
    (
        "cpu_count",
        "a Windows-only setting: the engine ignores it for Linux containers; use cpus",
    ),
    (
        "cpu_percent",
        "a Windows-only setting: the engine ignores it for Linux containers; use cpus",
    ),
    (
        "cpu_rt_period",
        "real-time scheduling lets a container starve the host's own processes and needs CAP_SYS_NICE: remove it",
    ),
    (
        "cpu_rt_runtime",
        "real-time scheduling lets a container starve the host's own processes and needs CAP_SYS_NICE: remove it",
    ),
    (
        "memswap_limit",
        "swap is never allowed above the memory limit (it would let a container page the host out): remove it; mem_limit is the whole budget",
    ),
    (
        "mem_swappiness",
        "containers get no swap (swap equals the memory limit), so swappiness means nothing: remove it",
    ),
    (
        "oom_kill_disable",
        "the OOM killer is what enforces the memory limit; without it a container at its limit hangs the host's memory: remove it",
    ),
    (
        "blkio_config",
        "block I/O limits name the host's block devices (/dev/sda...), which a tenant's spec must not name and which differ per host: remove it",
    ),
    (
        "device_cgroup_rules",
        "it grants access to host devices by major:minor number, around the no-devices rule: remove it, or name the device in `devices` under a waiver",
    ),
    (
        "gpus",
        "GPU access needs the NVIDIA runtime and the host's GPU devices, which the default runtime and the no-devices rule exclude: remove it",
    ),
    (
        "mac_address",
        "addresses are assigned on the security-group networks; a chosen MAC address can impersonate another container on the bridge: remove it",
    ),
    (
        "storage_opt",
        "a per-container root filesystem quota needs overlay2 on XFS with project quotas, which an engine may not have (it then refuses the container): remove it; the root filesystem is read-only anyway",
    ),
    (
        "isolation",
        "an isolation technology other than `default` exists only for Windows containers: remove it",
    ),
    (
        "credential_spec",
        "a Windows-only setting (gMSA credentials): remove it",
    ),
    (
        "annotations",
        "the engine (API 1.41, Docker 20.10) has no container annotations, so they would be dropped: use labels",
    ),
    (
        "pull_refresh_after",
        "Bulkhead pins every image by id at deploy and never re-pulls on a schedule: remove it",
    ),
    (
        "use_api_socket",
        "it hands the container the Docker API socket and credentials: whoever holds it is root on the host: remove it",
    ),
    (
        "provider",
        "a provider service runs a plugin binary on the host, outside any container: remove it",
    ),
    (
        "models",
        "models need Docker Model Runner, which Docker Engine 20.10 does not have: remove it",
    ),
    (
        "develop",
        "watch mode syncs host files into running containers, a development tool of Docker Compose; deployments are immutable: remove it",
    ),
];

pub(super) const HEALTH_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
