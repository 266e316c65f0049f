//! The tables of Compose service keys: which Bulkhead supports, which it refuses (and what to do
//! instead), and the keys of a `healthcheck`.

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
    "cpus",
    "pids_limit",
    "user",
    "working_dir",
    "read_only",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "privileged",
    "security_opt",
    "network_mode",
    "networks",
    "volumes",
    "restart",
    "labels",
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
];

/// Compose keys Bulkhead knows but does not support, and what to do instead.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "links",
        "remove it: services reach the services they may call by name; declare who may call whom with depends_on or x-bulkhead.allow_from",
    ),
    (
        "external_links",
        "remove it: Bulkhead only connects services of the same project",
    ),
    (
        "volumes_from",
        "remove it and mount the named volume in both services",
    ),
    (
        "extends",
        "not supported yet: copy the shared keys with a YAML anchor and merge key (<<: *base)",
    ),
    (
        "cgroup_parent",
        "remove it: Bulkhead places every container in its own cgroup",
    ),
    (
        "cgroup",
        "remove it: containers always get a private cgroup namespace",
    ),
    (
        "cpu_shares",
        "remove it: Bulkhead sets CPU shares from the tier; use cpus for a limit",
    ),
    (
        "cpuset",
        "remove it: give the service x-bulkhead.tier: speed to get dedicated cores",
    ),
    (
        "mem_reservation",
        "use deploy.resources.reservations.memory",
    ),
    (
        "memswap_limit",
        "remove it: swap is never allowed above the memory limit",
    ),
    (
        "oom_kill_disable",
        "remove it: the OOM killer is what enforces the memory limit",
    ),
    (
        "logging",
        "remove it: Bulkhead collects logs itself (bulkhead logs)",
    ),
    ("gpus", "not supported yet"),
    (
        "group_add",
        "remove it, or grant the group through the image's user",
    ),
    (
        "extra_hosts",
        "not supported yet: services find each other by name",
    ),
    ("dns", "not supported yet"),
    ("dns_search", "not supported yet"),
    ("dns_opt", "not supported yet"),
    ("domainname", "not supported yet"),
    (
        "mac_address",
        "remove it: addresses are assigned by the security-group networks",
    ),
    (
        "pull_policy",
        "remove it: Bulkhead resolves every image to a digest at deploy",
    ),
    ("shm_size", "not supported yet"),
    ("storage_opt", "not supported yet"),
    (
        "develop",
        "remove it: watch mode is a development tool of Docker Compose",
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
