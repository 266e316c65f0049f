//! The hardening rule table: every rule's id, what Bulkhead sets, the CIS Docker Benchmark 1.6
//! check and the Kubernetes Pod Security "restricted" control it answers to. Data only.

use serde::{Serialize, Serializer};

/// One hardening rule. The ids are stable: waivers and audit entries name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    NonRoot,
    CapDropAll,
    NoPrivileged,
    NoHostMounts,
    NoDockerSocket,
    NoHostNetwork,
    MemoryLimit,
    CpuShares,
    ReadOnlyRootfs,
    NoexecTmpfs,
    PortsLocalhost,
    RestartOnFailure,
    NoHostPid,
    NoHostIpc,
    NoHostUts,
    NoHostUserns,
    NoDevices,
    SeccompDefault,
    ApparmorDefault,
    MaskedPaths,
    NoNewPrivileges,
    Healthcheck,
    PidsLimit,
    NoDefaultBridge,
    SafeSysctls,
    DefaultRuntime,
    PinnedImage,
    LocalLogging,
}

/// A rule as data.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RuleInfo {
    pub rule: Rule,
    pub id: &'static str,
    pub title: &'static str,
    /// What Bulkhead sets on every container.
    pub sets: &'static str,
    /// CIS Docker Benchmark v1.6.0 recommendation.
    pub cis: &'static str,
    /// Kubernetes Pod Security Standards control ("restricted" profile, or baseline which it includes).
    pub pss: &'static str,
    /// Whether a spec may relax it with a waiver. Rules that Bulkhead can always satisfy
    /// itself are not waivable: there is nothing to relax.
    pub waivable: bool,
}

macro_rules! rules {
    ($( $rule:ident, $id:literal, $title:literal, $sets:literal, $cis:literal, $pss:literal, $waivable:literal; )*) => {
        /// Every rule, in the order of the table in docs/hardening.md.
        pub const RULES: &[RuleInfo] = &[
            $( RuleInfo { rule: Rule::$rule, id: $id, title: $title, sets: $sets, cis: $cis, pss: $pss, waivable: $waivable }, )*
        ];
    };
}

rules! {
    NonRoot, "non-root", "run as a non-root user",
        "the spec's `user:`, else the image's USER, resolved through the image's /etc/passwd and /etc/group at deploy and pinned as `uid:gid`; uid 0 or gid 0 refused",
        "4.1", "Running as Non-root (runAsNonRoot, runAsUser != 0)", true;
    CapDropAll, "cap-drop-all", "drop every capability",
        "cap_drop ALL; cap_add only NET_BIND_SERVICE", "5.4", "Capabilities (drop ALL, add only NET_BIND_SERVICE)", true;
    NoPrivileged, "no-privileged", "never privileged",
        "privileged false", "5.5", "Privileged Containers (baseline)", true;
    NoHostMounts, "no-host-mounts", "bind only paths inside the project",
        "bind mounts only of paths inside the project directory", "5.6", "Volume Types / HostPath Volumes", true;
    NoDockerSocket, "no-docker-socket", "never the Docker socket",
        "no mount of docker.sock or /var/run, /run", "5.32", "HostPath Volumes (baseline)", true;
    NoHostNetwork, "no-host-network", "own network namespace",
        "network_mode: the project's security-group networks", "5.10", "Host Namespaces (hostNetwork)", true;
    MemoryLimit, "memory-limit", "a memory limit",
        "memory limit: the spec's, else 512 MiB; swap not above it", "5.11", "- (LimitRange / resources.limits.memory)", false;
    CpuShares, "cpu-shares", "CPU shares set",
        "cpu shares: the spec's cpu_shares up to 1024, else 1024 (cpus limit from the spec when given)", "5.12", "- (resources.limits.cpu)", false;
    ReadOnlyRootfs, "read-only-rootfs", "read-only root filesystem",
        "read_only true, tmpfs at /tmp (64 MiB, noexec, nosuid)", "5.13", "- (readOnlyRootFilesystem, recommended)", true;
    NoexecTmpfs, "noexec-tmpfs", "tmpfs mounts without exec",
        "tmpfs mounts noexec, nosuid, nodev; a tmpfs option exec, suid or dev refused", "-", "-", true;
    PortsLocalhost, "ports-localhost", "ports bound to loopback",
        "published ports bound to 127.0.0.1 unless x-bulkhead.public: true", "5.14", "HostPorts (baseline)", false;
    RestartOnFailure, "restart-on-failure", "bounded restarts",
        "restart on-failure, at most 5 retries", "5.15", "- (restartPolicy)", false;
    NoHostPid, "no-host-pid", "own PID namespace",
        "pid: private", "5.16", "Host Namespaces (hostPID)", true;
    NoHostIpc, "no-host-ipc", "own IPC namespace",
        "ipc: private", "5.17", "Host Namespaces (hostIPC)", true;
    NoHostUts, "no-host-uts", "own UTS namespace",
        "uts: private", "5.21", "Host Namespaces (hostNetwork shares UTS)", true;
    NoHostUserns, "no-host-userns", "no host user namespace",
        "userns_mode unset (never host)", "5.31", "Host Namespaces (hostUsers)", true;
    NoDevices, "no-devices", "no host devices",
        "no devices", "5.18", "Privileged Containers / HostPath (baseline)", true;
    SeccompDefault, "seccomp-default", "default seccomp profile",
        "Docker's default seccomp profile; seccomp=unconfined and custom profiles refused (a profile file is never read)", "5.22", "Seccomp (RuntimeDefault)", true;
    ApparmorDefault, "apparmor-default", "default AppArmor and SELinux confinement",
        "Docker's default AppArmor profile and SELinux label; any apparmor= or label= option (unconfined, another profile, label=disable, label=type:spc_t) refused", "5.2, 5.3", "AppArmor / SELinux (baseline)", true;
    MaskedPaths, "masked-paths", "kernel paths stay masked",
        "/proc and /sys paths masked and read-only (Docker's default); systempaths=unconfined refused", "-", "/proc Mount Type (procMount: Default, baseline)", true;
    NoNewPrivileges, "no-new-privileges", "no privilege escalation",
        "security_opt no-new-privileges:true", "5.26", "Privilege Escalation (allowPrivilegeEscalation: false)", true;
    Healthcheck, "healthcheck", "a health check",
        "the spec's health check, else the image's; a service with none is flagged", "5.27", "- (readiness/liveness probes)", false;
    PidsLimit, "pids-limit", "a PIDs limit",
        "pids limit: the spec's, else 512", "5.29", "- (pid limits)", false;
    NoDefaultBridge, "no-default-bridge", "never the default bridge",
        "only the project's security-group networks", "5.30", "- (NetworkPolicy default deny)", false;
    SafeSysctls, "safe-sysctls", "only safe sysctls",
        "sysctls only from the Kubernetes safe set", "-", "Sysctls (baseline safe set)", true;
    DefaultRuntime, "default-runtime", "the default OCI runtime",
        "runtime runc (or runsc); any other runtime refused", "-", "- (RuntimeClass)", true;
    PinnedImage, "pinned-image", "images pinned by digest",
        "images referenced by tag are resolved to a digest at deploy", "5.28", "- (image digests)", false;
    LocalLogging, "local-logging", "logs kept on the host",
        "the engine's default log driver, or json-file, local or none; a driver that ships logs elsewhere (syslog, gelf, fluentd, awslogs...) refused", "-", "-", true;
}

impl Rule {
    pub fn info(self) -> &'static RuleInfo {
        // Every variant has exactly one row: `rule_table_is_complete` checks it.
        RULES.iter().find(|r| r.rule == self).unwrap_or(&RULES[0])
    }

    pub fn id(self) -> &'static str {
        self.info().id
    }

    pub fn waivable(self) -> bool {
        self.info().waivable
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        RULES.iter().find(|r| r.id == id).map(|r| r.rule)
    }

    pub fn ids() -> Vec<&'static str> {
        RULES.iter().map(|r| r.id).collect()
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_table_is_complete() {
        for info in RULES {
            assert_eq!(
                info.rule.info().id,
                info.id,
                "{:?} maps to the wrong row",
                info.rule
            );
            assert_eq!(Rule::from_id(info.id), Some(info.rule));
        }
        let mut ids = Rule::ids();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len(), "duplicate rule ids");
    }

    #[test]
    fn the_issue_cis_checks_are_all_covered() {
        let wanted = [
            "4.1", "5.4", "5.5", "5.6", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15", "5.16",
            "5.17", "5.18", "5.21", "5.22", "5.26", "5.27", "5.29", "5.30", "5.31", "5.32",
        ];
        for cis in wanted {
            assert!(
                RULES.iter().any(|r| r.cis.split(", ").any(|c| c == cis)),
                "no rule answers CIS {cis}"
            );
        }
    }

    #[test]
    fn docs_table_matches_the_rules() {
        let doc = include_str!("../../../../docs/hardening.md");
        for r in RULES {
            let waivable = if r.waivable { "yes" } else { "no" };
            let row = format!(
                "| `{}` | {} | {} | {} | {waivable} |",
                r.id, r.sets, r.cis, r.pss
            );
            assert!(
                doc.contains(&row),
                "docs/hardening.md lacks the row:\n{row}"
            );
        }
    }
}
