//! Tests of every hardening rule in `RULES`, from spec text to verdict: what is allowed, what is
//! refused (and stays strict in `Effective`), what a waiver relaxes, and which waivers are
//! errors at load.

use std::collections::BTreeMap;

use super::{Effective, Finding, Hardened, Health, NetworkMode, Outcome, Profile, RULES, Rule};
use crate::spec::model::HealthTest;
use crate::spec::{self, LoadInput, Project, SourceFile, SpecErrors};

const PROJECT_DIR: &str = "/srv/app";
const REASON: &str = "why";

/// A one-service project whose service body is `body` (YAML, unindented). The service gets a
/// tagged image unless the body names its own `image` or `build`.
fn load(body: &str) -> Result<Project, SpecErrors> {
    let mut text = String::from("services:\n  svc:\n");
    if !body
        .lines()
        .any(|l| l.starts_with("image:") || l.starts_with("build:"))
    {
        text.push_str("    image: example/svc:1.0\n");
    }
    for line in body.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text,
        }],
        project_dir: PROJECT_DIR.into(),
        project_name: None,
        dotenv: None,
        env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
        profiles: Vec::new(),
        extra: Default::default(),
    })
}

fn harden(body: &str) -> Hardened {
    let project = load(body).unwrap_or_else(|e| panic!("{body:?} should load:\n{e}"));
    let service = project.services.get("svc").expect("the service `svc`");
    super::harden(service, &project.dir, &Profile::default())
}

fn with_waiver(body: &str, rule: Rule) -> String {
    format!(
        "{body}\nx-bulkhead: {{waivers: [{{rule: {}, reason: \"{REASON}\"}}]}}",
        rule.id()
    )
}

fn load_error(body: &str) -> String {
    match load(body) {
        Ok(_) => panic!("{body:?} should not load"),
        Err(e) => e.to_string(),
    }
}

fn of_rule(h: &Hardened, rule: Rule) -> Vec<&Finding> {
    h.findings.iter().filter(|f| f.rule == rule).collect()
}

fn outcomes(h: &Hardened, rule: Rule) -> Vec<Outcome> {
    of_rule(h, rule).iter().map(|f| f.outcome).collect()
}

fn refused_rules(h: &Hardened) -> Vec<Rule> {
    h.refused().map(|f| f.rule).collect()
}

type Check = fn(&Effective);

/// A spec the rule accepts: it is met as written (Enforced) or tightened (Hardened).
struct Allowed {
    body: &'static str,
    outcome: Outcome,
    effective: Check,
}

/// A spec that asks for what the rule forbids.
enum Breach {
    /// Waivable rules: refused (and `refused` holds of `Effective`), or, under a waiver,
    /// waived with the reason recorded (and `waived` holds).
    Refused {
        body: &'static str,
        refused: Check,
        waived: Check,
    },
    /// Rules that are not waivable are always met by Bulkhead: the spec's weaker setting is
    /// tightened (Hardened) or, when there is nothing to tighten, reported (Flagged).
    Overridden {
        body: &'static str,
        outcome: Outcome,
        effective: Check,
    },
    /// The Compose key that would ask for less is rejected when the spec is loaded.
    Rejected {
        body: &'static str,
        error: &'static str,
    },
}

struct Case {
    rule: Rule,
    allowed: Vec<Allowed>,
    breaches: Vec<Breach>,
}

fn allowed(body: &'static str, outcome: Outcome, effective: Check) -> Allowed {
    Allowed {
        body,
        outcome,
        effective,
    }
}

fn refused(body: &'static str, refused: Check, waived: Check) -> Breach {
    Breach::Refused {
        body,
        refused,
        waived,
    }
}

fn overridden(body: &'static str, outcome: Outcome, effective: Check) -> Breach {
    Breach::Overridden {
        body,
        outcome,
        effective,
    }
}

fn nothing_to_check(_: &Effective) {
    // Mounts are not part of `Effective`: the deploy step mounts the spec's volumes, and only
    // when nothing is refused. The refusal itself is what these cases check.
}

const NNP: &str = "no-new-privileges:true";
const TMP_OPTIONS: &str = "rw,noexec,nosuid,nodev,size=67108864";

fn only_nnp(e: &Effective) {
    assert_eq!(e.security_opt, [NNP]);
}

fn tmpfs_of(path: &str, options: &str) -> (String, String) {
    (path.to_string(), options.to_string())
}

fn has_tmp(e: &Effective) -> bool {
    e.tmpfs.iter().any(|(p, o)| p == "/tmp" && o == TMP_OPTIONS)
}

fn cases() -> Vec<Case> {
    use Outcome::{Enforced, Flagged, Hardened};
    vec![
        Case {
            rule: Rule::NonRoot,
            allowed: vec![
                allowed("user: \"1000:1000\"", Enforced, |e| {
                    assert_eq!(e.user.as_deref(), Some("1000:1000"))
                }),
                allowed("user: app", Enforced, |e| {
                    assert_eq!(e.user.as_deref(), Some("app"))
                }),
            ],
            breaches: vec![
                refused(
                    "user: root",
                    |e| assert_eq!(e.user, None),
                    |e| assert_eq!(e.user.as_deref(), Some("root")),
                ),
                refused(
                    "user: \"0:0\"",
                    |e| assert_eq!(e.user, None),
                    |e| assert_eq!(e.user.as_deref(), Some("0:0")),
                ),
                refused(
                    "user: \"0\"",
                    |e| assert_eq!(e.user, None),
                    |e| assert_eq!(e.user.as_deref(), Some("0")),
                ),
                // Only a group: the engine runs uid 0.
                refused(
                    "user: \":1000\"",
                    |e| assert_eq!(e.user, None),
                    |e| assert_eq!(e.user.as_deref(), Some(":1000")),
                ),
            ],
        },
        Case {
            rule: Rule::CapDropAll,
            allowed: vec![
                allowed("", Enforced, |e| {
                    assert_eq!(e.cap_drop, ["ALL"]);
                    assert!(e.cap_add.is_empty());
                }),
                allowed("cap_add: [NET_BIND_SERVICE]", Enforced, |e| {
                    assert_eq!(e.cap_drop, ["ALL"]);
                    assert_eq!(e.cap_add, ["NET_BIND_SERVICE"]);
                }),
                allowed("cap_add: [cap_net_bind_service]", Enforced, |e| {
                    assert_eq!(e.cap_add, ["NET_BIND_SERVICE"])
                }),
                allowed("cap_drop: [NET_RAW]", Enforced, |e| {
                    assert_eq!(e.cap_drop, ["ALL"])
                }),
            ],
            breaches: vec![
                refused(
                    "cap_add: [SYS_ADMIN]",
                    |e| {
                        assert_eq!(e.cap_drop, ["ALL"]);
                        assert!(e.cap_add.is_empty());
                    },
                    |e| {
                        assert_eq!(e.cap_drop, ["ALL"]);
                        assert_eq!(e.cap_add, ["SYS_ADMIN"]);
                    },
                ),
                refused(
                    "cap_add: [CAP_SYS_ADMIN]",
                    |e| assert!(e.cap_add.is_empty()),
                    |e| assert_eq!(e.cap_add, ["SYS_ADMIN"]),
                ),
                refused(
                    "cap_add: [cap_sys_admin]",
                    |e| assert!(e.cap_add.is_empty()),
                    |e| assert_eq!(e.cap_add, ["SYS_ADMIN"]),
                ),
                refused(
                    "cap_add: [NET_BIND_SERVICE, NET_ADMIN]",
                    |e| assert_eq!(e.cap_add, ["NET_BIND_SERVICE"]),
                    |e| assert_eq!(e.cap_add, ["NET_BIND_SERVICE", "NET_ADMIN"]),
                ),
                refused(
                    "cap_add: [ALL]",
                    |e| assert!(e.cap_add.is_empty()),
                    |e| assert_eq!(e.cap_add, ["ALL"]),
                ),
            ],
        },
        Case {
            rule: Rule::NoPrivileged,
            allowed: vec![
                allowed("", Enforced, |e| assert!(!e.privileged)),
                allowed("privileged: false", Enforced, |e| assert!(!e.privileged)),
            ],
            breaches: vec![refused(
                "privileged: true",
                |e| assert!(!e.privileged),
                |e| assert!(e.privileged),
            )],
        },
        Case {
            rule: Rule::NoHostMounts,
            allowed: vec![
                allowed("", Enforced, nothing_to_check),
                allowed("volumes: [\"./data:/data\"]", Enforced, nothing_to_check),
                allowed("volumes: [\".:/code:ro\"]", Enforced, nothing_to_check),
                allowed(
                    "volumes: [{type: bind, source: ./conf, target: /conf, read_only: true}]",
                    Enforced,
                    nothing_to_check,
                ),
                allowed("volumes: [/cache]", Enforced, nothing_to_check),
            ],
            breaches: vec![
                refused(
                    "volumes: [\"/etc:/host-etc:ro\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"../../etc:/x\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"~/data:/data\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"/srv/application:/x\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused("volumes: [\":/media\"]", nothing_to_check, nothing_to_check),
                refused(
                    "volumes: [{type: bind, source: /etc, target: /etc}]",
                    nothing_to_check,
                    nothing_to_check,
                ),
            ],
        },
        Case {
            rule: Rule::NoDockerSocket,
            allowed: vec![allowed("", Enforced, nothing_to_check)],
            breaches: vec![
                refused(
                    "volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"/run/containerd/containerd.sock:/c.sock\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"/var/run:/var/run\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"/var/lib/docker/:/docker:ro\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
                refused(
                    "volumes: [\"./docker.sock:/var/run/docker.sock\"]",
                    nothing_to_check,
                    nothing_to_check,
                ),
            ],
        },
        Case {
            rule: Rule::NoHostNetwork,
            allowed: vec![
                allowed("", Enforced, |e| {
                    assert_eq!(e.network_mode, NetworkMode::SecurityGroups)
                }),
                allowed("network_mode: none", Enforced, |e| {
                    assert_eq!(e.network_mode, NetworkMode::None)
                }),
            ],
            breaches: vec![
                refused(
                    "network_mode: host",
                    |e| assert_eq!(e.network_mode, NetworkMode::SecurityGroups),
                    |e| assert_eq!(e.network_mode, NetworkMode::Waived("host".into())),
                ),
                refused(
                    "network_mode: \"container:other\"",
                    |e| assert_eq!(e.network_mode, NetworkMode::SecurityGroups),
                    |e| {
                        assert_eq!(
                            e.network_mode,
                            NetworkMode::Waived("container:other".into())
                        )
                    },
                ),
            ],
        },
        Case {
            rule: Rule::MemoryLimit,
            allowed: vec![
                allowed("", Hardened, |e| {
                    assert_eq!(e.memory, 512 << 20);
                    assert_eq!(e.memory_swap, e.memory);
                }),
                allowed("mem_limit: 256m", Enforced, |e| {
                    assert_eq!(e.memory, 256 << 20);
                    assert_eq!(e.memory_swap, e.memory);
                }),
                allowed(
                    "deploy: {resources: {limits: {memory: 1.5G}}}",
                    Enforced,
                    |e| assert_eq!(e.memory, 3 << 29),
                ),
            ],
            breaches: vec![
                // 0 is "unlimited" to the engine.
                overridden("mem_limit: 0", Hardened, |e| {
                    assert_eq!(e.memory, 512 << 20);
                    assert_eq!(e.memory_swap, e.memory);
                }),
                overridden(
                    "deploy: {resources: {limits: {memory: 0}}}",
                    Hardened,
                    |e| assert_eq!(e.memory, 512 << 20),
                ),
                Breach::Rejected {
                    body: "memswap_limit: 2g",
                    error: "key `memswap_limit` is refused",
                },
                Breach::Rejected {
                    body: "oom_kill_disable: true",
                    error: "key `oom_kill_disable` is refused",
                },
            ],
        },
        Case {
            rule: Rule::CpuShares,
            allowed: vec![
                allowed("", Enforced, |e| {
                    assert_eq!(e.cpu_shares, 1024);
                    assert_eq!(e.nano_cpus, None);
                }),
                allowed("cpus: 0.5", Enforced, |e| {
                    assert_eq!(e.cpu_shares, 1024);
                    assert_eq!(e.nano_cpus, Some(500_000_000));
                }),
                allowed("cpu_shares: 512\ncpuset: \"0-3\"", Enforced, |e| {
                    assert_eq!(e.cpu_shares, 512)
                }),
            ],
            breaches: vec![
                // A tenant may yield CPU, never weigh more than its neighbours.
                overridden("cpu_shares: 4096", Hardened, |e| {
                    assert_eq!(e.cpu_shares, 1024)
                }),
                Breach::Rejected {
                    body: "cpu_shares: 1",
                    error: "cpu_shares 1 is outside 2..=262144",
                },
            ],
        },
        Case {
            rule: Rule::ReadOnlyRootfs,
            allowed: vec![
                allowed("", Hardened, |e| {
                    assert!(e.read_only_rootfs);
                    assert!(has_tmp(e), "{:?}", e.tmpfs);
                }),
                allowed("read_only: true", Enforced, |e| {
                    assert!(e.read_only_rootfs);
                    assert!(has_tmp(e), "{:?}", e.tmpfs);
                }),
                // The spec's own /tmp is kept, not doubled.
                allowed("tmpfs: [\"/tmp:size=1m\"]", Hardened, |e| {
                    assert_eq!(
                        e.tmpfs,
                        [tmpfs_of("/tmp", "noexec,nosuid,nodev,size=1048576")]
                    )
                }),
            ],
            breaches: vec![refused(
                "read_only: false",
                |e| {
                    assert!(e.read_only_rootfs);
                    assert!(has_tmp(e), "{:?}", e.tmpfs);
                },
                |e| {
                    assert!(!e.read_only_rootfs);
                    assert!(e.tmpfs.is_empty(), "{:?}", e.tmpfs);
                },
            )],
        },
        Case {
            rule: Rule::NoexecTmpfs,
            allowed: vec![
                allowed("", Enforced, |e| assert!(has_tmp(e), "{:?}", e.tmpfs)),
                allowed("tmpfs: [\"/x:rw,noexec,size=1m\"]", Enforced, |e| {
                    assert!(
                        e.tmpfs
                            .contains(&tmpfs_of("/x", "nosuid,nodev,rw,noexec,size=1048576"))
                    )
                }),
            ],
            breaches: vec![
                refused(
                    "tmpfs: [\"/x:exec\"]",
                    |e| {
                        assert!(
                            e.tmpfs.contains(&tmpfs_of("/x", "noexec,nosuid,nodev")),
                            "{:?}",
                            e.tmpfs
                        )
                    },
                    |e| {
                        assert!(
                            e.tmpfs.contains(&tmpfs_of("/x", "nosuid,nodev,exec")),
                            "{:?}",
                            e.tmpfs
                        )
                    },
                ),
                refused(
                    "tmpfs: \"/x:rw,exec,size=1m\"",
                    |e| {
                        assert!(
                            e.tmpfs
                                .contains(&tmpfs_of("/x", "noexec,nosuid,nodev,rw,size=1048576"))
                        )
                    },
                    |e| {
                        assert!(
                            e.tmpfs
                                .contains(&tmpfs_of("/x", "nosuid,nodev,rw,exec,size=1048576"))
                        )
                    },
                ),
                refused(
                    "tmpfs: [\"/tmp:suid,dev\"]",
                    |e| assert_eq!(e.tmpfs, [tmpfs_of("/tmp", "noexec,nosuid,nodev")]),
                    |e| assert_eq!(e.tmpfs, [tmpfs_of("/tmp", "noexec,suid,dev")]),
                ),
            ],
        },
        Case {
            rule: Rule::PortsLocalhost,
            allowed: vec![
                allowed("", Enforced, |e| assert!(e.ports.is_empty())),
                allowed("ports: [\"8080:80\"]", Enforced, |e| {
                    assert_eq!(e.ports.len(), 1);
                    assert_eq!(e.ports[0].host_ip, "127.0.0.1");
                    assert_eq!(e.ports[0].host_ports, Some((8080, 8080)));
                    assert_eq!(e.ports[0].container_ports, (80, 80));
                }),
                allowed("ports: [\"127.0.0.2:8080:80\"]", Enforced, |e| {
                    assert_eq!(e.ports[0].host_ip, "127.0.0.2")
                }),
                allowed("ports: [\"80\"]", Enforced, |e| {
                    assert_eq!(e.ports[0].host_ip, "127.0.0.1");
                    assert_eq!(e.ports[0].host_ports, None);
                }),
            ],
            breaches: vec![
                overridden("ports: [\"0.0.0.0:8080:80\"]", Hardened, |e| {
                    assert_eq!(e.ports[0].host_ip, "127.0.0.1")
                }),
                overridden(
                    "ports: [{target: 80, published: \"8080\", host_ip: 192.0.2.1}]",
                    Hardened,
                    |e| assert_eq!(e.ports[0].host_ip, "127.0.0.1"),
                ),
                // Publishing is asked with x-bulkhead.public, not a waiver: shown, not refused.
                overridden(
                    "ports: [\"8080:80\"]\nx-bulkhead: {public: true}",
                    Flagged,
                    |e| assert_eq!(e.ports[0].host_ip, "0.0.0.0"),
                ),
                overridden(
                    "ports: [\"192.0.2.1:8080:80\"]\nx-bulkhead: {public: true}",
                    Flagged,
                    |e| assert_eq!(e.ports[0].host_ip, "192.0.2.1"),
                ),
            ],
        },
        Case {
            rule: Rule::RestartOnFailure,
            allowed: vec![
                allowed("", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                allowed("restart: \"on-failure:3\"", Enforced, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 3))
                }),
                allowed("restart: \"no\"", Enforced, |e| {
                    assert_eq!(e.restart, ("no".into(), 0))
                }),
            ],
            breaches: vec![
                overridden("restart: always", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                overridden("restart: unless-stopped", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                overridden("restart: on-failure", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                overridden("restart: \"on-failure:0\"", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                overridden("restart: \"on-failure:50\"", Hardened, |e| {
                    assert_eq!(e.restart, ("on-failure".into(), 5))
                }),
                // deploy.restart_policy is bounded like `restart`.
                overridden(
                    "deploy: {restart_policy: {condition: any}}",
                    Hardened,
                    |e| assert_eq!(e.restart, ("on-failure".into(), 5)),
                ),
                overridden(
                    "deploy: {restart_policy: {condition: on-failure, max_attempts: 9}}",
                    Hardened,
                    |e| assert_eq!(e.restart, ("on-failure".into(), 5)),
                ),
            ],
        },
        Case {
            rule: Rule::NoHostPid,
            allowed: vec![allowed("", Enforced, |e| assert_eq!(e.pid, None))],
            breaches: vec![
                refused(
                    "pid: host",
                    |e| assert_eq!(e.pid, None),
                    |e| assert_eq!(e.pid.as_deref(), Some("host")),
                ),
                refused(
                    "pid: \"container:other\"",
                    |e| assert_eq!(e.pid, None),
                    |e| assert_eq!(e.pid.as_deref(), Some("container:other")),
                ),
            ],
        },
        Case {
            rule: Rule::NoHostIpc,
            allowed: vec![
                allowed("", Enforced, |e| assert_eq!(e.ipc, None)),
                allowed("ipc: private", Enforced, |e| {
                    assert_eq!(e.ipc.as_deref(), Some("private"))
                }),
                allowed("ipc: shareable", Enforced, |e| {
                    assert_eq!(e.ipc.as_deref(), Some("shareable"))
                }),
            ],
            breaches: vec![refused(
                "ipc: host",
                |e| assert_eq!(e.ipc, None),
                |e| assert_eq!(e.ipc.as_deref(), Some("host")),
            )],
        },
        Case {
            rule: Rule::NoHostUts,
            allowed: vec![allowed("", Enforced, |e| assert_eq!(e.uts, None))],
            breaches: vec![refused(
                "uts: host",
                |e| assert_eq!(e.uts, None),
                |e| assert_eq!(e.uts.as_deref(), Some("host")),
            )],
        },
        Case {
            rule: Rule::NoHostUserns,
            allowed: vec![allowed("", Enforced, |e| assert_eq!(e.userns_mode, None))],
            breaches: vec![refused(
                "userns_mode: host",
                |e| assert_eq!(e.userns_mode, None),
                |e| assert_eq!(e.userns_mode.as_deref(), Some("host")),
            )],
        },
        Case {
            rule: Rule::NoDevices,
            allowed: vec![allowed("", Enforced, |e| assert!(e.devices.is_empty()))],
            breaches: vec![
                refused(
                    "devices: [/dev/sda]",
                    |e| assert!(e.devices.is_empty()),
                    |e| assert_eq!(e.devices, ["/dev/sda"]),
                ),
                refused(
                    "devices: [\"/dev/fuse:/dev/fuse:rwm\"]",
                    |e| assert!(e.devices.is_empty()),
                    |e| assert_eq!(e.devices, ["/dev/fuse:/dev/fuse:rwm"]),
                ),
            ],
        },
        Case {
            rule: Rule::SeccompDefault,
            allowed: vec![allowed("", Enforced, only_nnp)],
            breaches: vec![
                refused("security_opt: [seccomp=unconfined]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "seccomp=unconfined"])
                }),
                refused("security_opt: [\"seccomp:unconfined\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "seccomp:unconfined"])
                }),
                refused("security_opt: [seccomp=/etc/profile.json]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "seccomp=/etc/profile.json"])
                }),
                refused("security_opt: [seccomp=x.json]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "seccomp=x.json"])
                }),
                refused(
                    "security_opt: [\"seccomp:/srv/app/p.json\"]",
                    only_nnp,
                    |e| assert_eq!(e.security_opt, [NNP, "seccomp:/srv/app/p.json"]),
                ),
            ],
        },
        Case {
            rule: Rule::ApparmorDefault,
            allowed: vec![allowed("", Enforced, only_nnp)],
            breaches: vec![
                // A fixed level could share another container's categories: not tightening.
                refused(
                    "security_opt: [\"label=level:s0:c100,c200\"]",
                    only_nnp,
                    |e| assert_eq!(e.security_opt, [NNP, "label=level:s0:c100,c200"]),
                ),
                refused("security_opt: [\"label=type:spc_t\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label=type:spc_t"])
                }),
                refused("security_opt: [\"label:type:spc_t\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label:type:spc_t"])
                }),
                refused("security_opt: [\"label=user:system_u\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label=user:system_u"])
                }),
                refused("security_opt: [\"label=role:system_r\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label=role:system_r"])
                }),
                refused("security_opt: [apparmor=unconfined]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "apparmor=unconfined"])
                }),
                refused("security_opt: [\"apparmor:unconfined\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "apparmor:unconfined"])
                }),
                refused("security_opt: [apparmor=myprofile]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "apparmor=myprofile"])
                }),
                refused("security_opt: [\"label:disable\"]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label:disable"])
                }),
                refused("security_opt: [label=disable]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "label=disable"])
                }),
                // Docker reads a bare `disable` as label=disable.
                refused("security_opt: [disable]", only_nnp, |e| {
                    assert_eq!(e.security_opt, [NNP, "disable"])
                }),
            ],
        },
        Case {
            rule: Rule::MaskedPaths,
            allowed: vec![allowed("", Enforced, only_nnp)],
            breaches: vec![refused(
                "security_opt: [systempaths=unconfined]",
                only_nnp,
                |e| assert_eq!(e.security_opt, [NNP, "systempaths=unconfined"]),
            )],
        },
        Case {
            rule: Rule::NoNewPrivileges,
            allowed: vec![
                allowed("", Enforced, only_nnp),
                allowed(
                    "security_opt: [\"no-new-privileges:true\"]",
                    Enforced,
                    only_nnp,
                ),
                allowed("security_opt: [no-new-privileges]", Enforced, only_nnp),
            ],
            breaches: vec![
                refused("security_opt: [no-new-privileges=false]", only_nnp, |e| {
                    assert_eq!(e.security_opt, ["no-new-privileges=false"])
                }),
                refused(
                    "security_opt: [\"no-new-privileges:false\"]",
                    only_nnp,
                    |e| assert_eq!(e.security_opt, ["no-new-privileges:false"]),
                ),
            ],
        },
        Case {
            rule: Rule::Healthcheck,
            allowed: vec![allowed(
                "healthcheck: {test: [CMD, /probe], interval: 10s}",
                Enforced,
                |e| match &e.health {
                    Health::Spec { check } => assert_eq!(
                        check.test,
                        Some(HealthTest::Cmd(vec!["/probe".to_string()]))
                    ),
                    other => panic!("{other:?}"),
                },
            )],
            breaches: vec![
                overridden("", Flagged, |e| assert_eq!(e.health, Health::Image)),
                overridden("healthcheck: {disable: true}", Flagged, |e| {
                    assert_eq!(e.health, Health::Disabled)
                }),
                overridden("healthcheck: {test: [NONE]}", Flagged, |e| {
                    assert_eq!(e.health, Health::Disabled)
                }),
                overridden("healthcheck: {interval: 5s}", Flagged, |e| {
                    assert!(matches!(&e.health, Health::Spec { check } if check.test.is_none()))
                }),
            ],
        },
        Case {
            rule: Rule::PidsLimit,
            allowed: vec![
                allowed("", Hardened, |e| assert_eq!(e.pids_limit, 512)),
                allowed("pids_limit: 100", Enforced, |e| {
                    assert_eq!(e.pids_limit, 100)
                }),
                allowed("deploy: {resources: {limits: {pids: 64}}}", Enforced, |e| {
                    assert_eq!(e.pids_limit, 64)
                }),
            ],
            breaches: vec![
                overridden("pids_limit: -1", Hardened, |e| {
                    assert_eq!(e.pids_limit, 512)
                }),
                overridden("pids_limit: 0", Hardened, |e| assert_eq!(e.pids_limit, 512)),
            ],
        },
        Case {
            rule: Rule::NoDefaultBridge,
            allowed: vec![
                allowed("", Enforced, |e| {
                    assert_eq!(e.network_mode, NetworkMode::SecurityGroups)
                }),
                allowed("network_mode: none", Enforced, |e| {
                    assert_eq!(e.network_mode, NetworkMode::None)
                }),
            ],
            breaches: vec![
                overridden("network_mode: bridge", Hardened, |e| {
                    assert_eq!(e.network_mode, NetworkMode::SecurityGroups)
                }),
                overridden("network_mode: default", Hardened, |e| {
                    assert_eq!(e.network_mode, NetworkMode::SecurityGroups)
                }),
            ],
        },
        Case {
            rule: Rule::SafeSysctls,
            allowed: vec![
                allowed("", Enforced, |e| assert!(e.sysctls.is_empty())),
                allowed("sysctls: {net.ipv4.tcp_syncookies: 1}", Enforced, |e| {
                    assert_eq!(
                        e.sysctls,
                        [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())]
                    )
                }),
                allowed(
                    "sysctls: [\"net.ipv4.ip_unprivileged_port_start=80\"]",
                    Enforced,
                    |e| assert_eq!(e.sysctls.len(), 1),
                ),
            ],
            breaches: vec![
                refused(
                    "sysctls: {net.ipv4.ip_forward: 1}",
                    |e| assert!(e.sysctls.is_empty()),
                    |e| {
                        assert_eq!(
                            e.sysctls,
                            [("net.ipv4.ip_forward".to_string(), "1".to_string())]
                        )
                    },
                ),
                refused(
                    "sysctls: [net.ipv4.conf.all.src_valid_mark=1, net.ipv4.tcp_syncookies=1]",
                    |e| {
                        assert_eq!(
                            e.sysctls,
                            [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())]
                        )
                    },
                    |e| assert_eq!(e.sysctls.len(), 2),
                ),
            ],
        },
        Case {
            rule: Rule::DefaultRuntime,
            allowed: vec![
                allowed("", Enforced, |e| assert_eq!(e.runtime, None)),
                allowed("runtime: runsc", Enforced, |e| {
                    assert_eq!(e.runtime.as_deref(), Some("runsc"))
                }),
                allowed("runtime: runc", Enforced, |e| {
                    assert_eq!(e.runtime.as_deref(), Some("runc"))
                }),
            ],
            breaches: vec![refused(
                "runtime: io.containerd.wasmedge.v1",
                |e| assert_eq!(e.runtime, None),
                |e| assert_eq!(e.runtime.as_deref(), Some("io.containerd.wasmedge.v1")),
            )],
        },
        Case {
            rule: Rule::PinnedImage,
            allowed: vec![allowed(
                "image: example/svc@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                Enforced,
                |_| {},
            )],
            breaches: vec![
                overridden("image: example/svc:1.0", Flagged, |_| {}),
                overridden("image: example/svc", Flagged, |_| {}),
                overridden("build: .", Flagged, |_| {}),
            ],
        },
        Case {
            rule: Rule::LocalLogging,
            allowed: vec![
                allowed("", Enforced, |e| assert_eq!(e.logging, None)),
                allowed(
                    "logging: {driver: local, options: {max-size: 10m}}",
                    Enforced,
                    |e| {
                        assert_eq!(
                            e.logging.as_ref().and_then(|l| l.driver.as_deref()),
                            Some("local")
                        )
                    },
                ),
            ],
            breaches: vec![refused(
                "logging: {driver: syslog, options: {syslog-address: \"udp://10.0.0.1:514\"}}",
                |e| assert_eq!(e.logging, None),
                |e| {
                    assert_eq!(
                        e.logging.as_ref().and_then(|l| l.driver.as_deref()),
                        Some("syslog")
                    )
                },
            )],
        },
    ]
}

#[test]
fn the_table_covers_every_rule_once_and_matches_waivability() {
    let cases = cases();
    for info in RULES {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.rule == info.rule).collect();
        assert_eq!(mine.len(), 1, "rule {} needs exactly one case", info.id);
        let case = mine[0];
        assert!(!case.allowed.is_empty(), "{}: no allowed spec", info.id);
        assert!(!case.breaches.is_empty(), "{}: no breach", info.id);
        for b in &case.breaches {
            let refusable = matches!(b, Breach::Refused { .. });
            assert_eq!(
                refusable, info.waivable,
                "{}: a rule is refused (and waivable) exactly when the table says it is waivable",
                info.id
            );
        }
    }
    assert_eq!(cases.len(), RULES.len());
}

#[test]
fn allowed_specs_are_enforced_or_hardened() {
    for case in cases() {
        let id = case.rule.id();
        for a in &case.allowed {
            let h = harden(a.body);
            assert_eq!(
                outcomes(&h, case.rule),
                [a.outcome],
                "{id}: {:?}\n{:#?}",
                a.body,
                of_rule(&h, case.rule)
            );
            assert!(
                matches!(a.outcome, Outcome::Enforced | Outcome::Hardened),
                "{id}: an allowed case must be Enforced or Hardened"
            );
            assert!(
                h.deployable(),
                "{id}: {:?} refused by {:?}",
                a.body,
                refused_rules(&h)
            );
            (a.effective)(&h.effective);
        }
    }
}

#[test]
fn breaches_are_refused_without_a_waiver_and_effective_stays_strict() {
    for case in cases() {
        let id = case.rule.id();
        for b in &case.breaches {
            let Breach::Refused { body, refused, .. } = b else {
                continue;
            };
            let h = harden(body);
            let found = outcomes(&h, case.rule);
            assert!(
                !found.is_empty() && found.iter().all(|o| *o == Outcome::Refused),
                "{id}: {body:?} gave {:#?}",
                of_rule(&h, case.rule)
            );
            assert!(!h.deployable());
            let others: Vec<Rule> = refused_rules(&h)
                .into_iter()
                .filter(|r| *r != case.rule)
                .collect();
            assert!(
                others.is_empty(),
                "{id}: {body:?} also refused by {others:?}"
            );
            for f in of_rule(&h, case.rule) {
                assert!(f.at.is_some(), "{id}: a refusal names its place: {f:?}");
                assert_eq!(f.waiver_reason, None);
            }
            refused(&h.effective);
        }
    }
}

#[test]
fn breaches_under_a_waiver_are_waived_with_the_reason_and_relaxed() {
    for case in cases() {
        let id = case.rule.id();
        for b in &case.breaches {
            let Breach::Refused { body, waived, .. } = b else {
                continue;
            };
            let body = with_waiver(body, case.rule);
            let h = harden(&body);
            let found = of_rule(&h, case.rule);
            assert!(
                !found.is_empty()
                    && found.iter().all(|f| f.outcome == Outcome::Waived
                        && f.waiver_reason.as_deref() == Some(REASON)),
                "{id}: {body:?} gave {found:#?}"
            );
            assert!(
                h.deployable(),
                "{id}: {body:?} refused by {:?}",
                refused_rules(&h)
            );
            waived(&h.effective);
        }
    }
}

#[test]
fn rules_that_cannot_be_waived_are_met_whatever_the_spec_asks() {
    for case in cases() {
        let id = case.rule.id();
        for b in &case.breaches {
            match b {
                Breach::Overridden {
                    body,
                    outcome,
                    effective,
                } => {
                    let h = harden(body);
                    assert!(
                        outcomes(&h, case.rule).contains(outcome),
                        "{id}: {body:?} gave {:#?}",
                        of_rule(&h, case.rule)
                    );
                    assert!(
                        !outcomes(&h, case.rule).contains(&Outcome::Refused),
                        "{id}: a rule Bulkhead always meets never refuses"
                    );
                    assert!(h.deployable(), "{id}: {body:?}");
                    effective(&h.effective);
                }
                Breach::Rejected { body, error } => {
                    let err = load_error(body);
                    assert!(err.contains(error), "{id}: {body:?}: {err}");
                }
                Breach::Refused { .. } => {}
            }
        }
    }
}

#[test]
fn a_waiver_for_a_rule_that_cannot_be_waived_is_a_load_error() {
    let fixed: Vec<_> = RULES.iter().filter(|r| !r.waivable).collect();
    assert_eq!(fixed.len(), 8, "the table changed: review this test");
    for info in fixed {
        let err = load_error(&with_waiver("", info.rule));
        let want = format!("rule `{}` cannot be waived", info.id);
        assert!(err.contains(&want), "{}: {err}", info.id);
        assert!(err.starts_with("compose.yaml:"), "names the place: {err}");
    }
}

#[test]
fn every_rule_has_a_finding_for_every_service() {
    let mut bodies: Vec<String> = Vec::new();
    for case in cases() {
        bodies.extend(case.allowed.iter().map(|a| a.body.to_string()));
        for b in &case.breaches {
            match b {
                Breach::Refused { body, .. } => {
                    bodies.push(body.to_string());
                    bodies.push(with_waiver(body, case.rule));
                }
                Breach::Overridden { body, .. } => bodies.push(body.to_string()),
                Breach::Rejected { .. } => {}
            }
        }
    }
    for body in &bodies {
        let h = harden(body);
        for info in RULES {
            assert!(
                h.findings.iter().any(|f| f.rule == info.rule),
                "{body:?}: no finding for {}",
                info.id
            );
        }
    }
}

#[test]
fn a_waiver_nobody_needs_is_flagged() {
    let h = harden(&with_waiver("user: \"1000:1000\"", Rule::NonRoot));
    assert_eq!(
        outcomes(&h, Rule::NonRoot),
        [Outcome::Enforced, Outcome::Flagged]
    );
    let flagged = of_rule(&h, Rule::NonRoot)[1];
    assert!(flagged.message.contains("not needed"), "{flagged:?}");
    assert!(flagged.at.is_some());
    assert!(h.deployable());
    // A name, or a uid without its group, is only decided at deploy: the waiver may be needed.
    for body in ["user: \"1000\"", "user: toor", ""] {
        let h = harden(&with_waiver(body, Rule::NonRoot));
        let kept = of_rule(&h, Rule::NonRoot)
            .into_iter()
            .find(|f| f.outcome == Outcome::Flagged && f.at.is_some())
            .map(|f| f.message.clone())
            .unwrap_or_default();
        assert!(kept.contains("kept for the user"), "{body:?}: {kept}");
    }

    let h = harden(&with_waiver(
        "cap_add: [NET_BIND_SERVICE]",
        Rule::CapDropAll,
    ));
    assert_eq!(
        outcomes(&h, Rule::CapDropAll),
        [Outcome::Enforced, Outcome::Flagged]
    );
    assert_eq!(h.effective.cap_add, ["NET_BIND_SERVICE"]);
}

#[test]
fn a_waiver_covers_only_its_own_rule() {
    let h = harden(&with_waiver(
        "privileged: true\ncap_add: [SYS_ADMIN]",
        Rule::NoPrivileged,
    ));
    assert_eq!(outcomes(&h, Rule::NoPrivileged), [Outcome::Waived]);
    assert_eq!(outcomes(&h, Rule::CapDropAll), [Outcome::Refused]);
    assert!(h.effective.privileged);
    assert!(h.effective.cap_add.is_empty());
}

#[test]
fn tier_safe_accepts_no_waiver() {
    let body = "privileged: true\nx-bulkhead:\n  tier: safe\n  waivers: [{rule: no-privileged, reason: \"why\"}]";
    let err = load_error(body);
    assert!(
        err.contains("tier `safe` accepts no waivers, found one for `no-privileged`"),
        "{err}"
    );
    // Without the waiver it loads, and is refused like any tier.
    let h = harden("privileged: true\nx-bulkhead: {tier: safe}");
    assert_eq!(outcomes(&h, Rule::NoPrivileged), [Outcome::Refused]);
}

#[test]
fn waivers_must_name_a_rule_and_give_a_reason_once() {
    let cases = [
        (
            "x-bulkhead: {waivers: [{rule: no-such-rule, reason: x}]}",
            "no hardening rule is called `no-such-rule`",
        ),
        (
            "x-bulkhead: {waivers: [{rule: no-privileged}]}",
            "the waiver for `no-privileged` has no reason",
        ),
        (
            "x-bulkhead: {waivers: [{rule: no-privileged, reason: \"  \"}]}",
            "has no reason",
        ),
        (
            "x-bulkhead: {waivers: [{reason: x}]}",
            "a waiver needs `rule`",
        ),
        (
            "x-bulkhead: {waivers: [{rule: no-privileged, reason: a}, {rule: no-privileged, reason: b}]}",
            "a second waiver for rule `no-privileged`",
        ),
        (
            "x-bulkhead: {waivers: [{rule: no-privileged, reason: a, until: never}]}",
            "key `until` is not supported",
        ),
    ];
    for (body, want) in cases {
        let err = load_error(body);
        assert!(err.contains(want), "{body}: {err}");
    }
}

#[test]
fn net_bind_service_needs_no_waiver_in_any_spelling() {
    for spelling in [
        "NET_BIND_SERVICE",
        "net_bind_service",
        "CAP_NET_BIND_SERVICE",
        " Cap_Net_Bind_Service ",
    ] {
        let h = harden(&format!("cap_add: [\"{spelling}\"]"));
        assert_eq!(
            outcomes(&h, Rule::CapDropAll),
            [Outcome::Enforced],
            "{spelling}"
        );
        assert_eq!(h.effective.cap_add, ["NET_BIND_SERVICE"], "{spelling}");
        assert_eq!(h.effective.cap_drop, ["ALL"]);
    }
}

#[test]
fn capability_names_are_normalized_before_the_decision() {
    for spelling in [
        "CAP_SYS_ADMIN",
        "cap_sys_admin",
        "sys_admin",
        "Cap_Sys_Admin",
    ] {
        let h = harden(&format!("cap_add: [{spelling}]"));
        let refused: Vec<&Finding> = h.refused().collect();
        assert_eq!(refused.len(), 1, "{spelling}: {refused:?}");
        assert_eq!(refused[0].rule, Rule::CapDropAll);
        assert_eq!(refused[0].message, "cap_add SYS_ADMIN", "{spelling}");
        assert!(h.effective.cap_add.is_empty());
    }
}

#[test]
fn root_users_in_every_spelling_are_refused() {
    // uid 0, or (the root group) gid 0, whatever a name the image gives them is decided at
    // deploy through its /etc/passwd; these are decided on their face.
    for user in [
        "root",
        "root:root",
        "0",
        "0:0",
        "00",
        " 0 ",
        ":1000",
        ":",
        "1000:0",
        "app:root",
        "1000:00",
    ] {
        let h = harden(&format!("user: \"{user}\""));
        assert_eq!(outcomes(&h, Rule::NonRoot), [Outcome::Refused], "{user:?}");
        assert_eq!(h.effective.user, None, "{user:?}");
        let h = harden(&with_waiver(&format!("user: \"{user}\""), Rule::NonRoot));
        assert_eq!(outcomes(&h, Rule::NonRoot), [Outcome::Waived], "{user:?}");
        assert_eq!(h.effective.user.as_deref(), Some(user));
    }
    for user in [
        "1000",
        "1000:1000",
        "app",
        "nobody:nogroup",
        "rooter",
        "toor",
        "1000:wheel",
    ] {
        let h = harden(&format!("user: \"{user}\""));
        assert_eq!(outcomes(&h, Rule::NonRoot), [Outcome::Enforced], "{user:?}");
        assert_eq!(h.effective.user.as_deref(), Some(user));
    }
}

#[test]
fn an_empty_user_leaves_the_image_user_to_the_deploy_check() {
    // `user: ""` (typically an unset `${UID}`) is the image's USER to the engine: it must not
    // pass as a non-root user, it goes to the deploy-time check like no `user:` at all.
    for body in ["user: \"\"", "user: \"  \"", "user: \"${UID}\"", ""] {
        let h = harden(body);
        assert_eq!(outcomes(&h, Rule::NonRoot), [Outcome::Flagged], "{body:?}");
        assert_eq!(h.effective.user, None, "{body:?}");
    }
    // An unset `${UID}:${GID}` leaves only `:`: uid 0.
    let h = harden("user: \"${UID}:${GID}\"");
    assert_eq!(outcomes(&h, Rule::NonRoot), [Outcome::Refused]);
}

#[test]
fn a_directory_that_holds_the_docker_socket_needs_both_waivers() {
    for bind in ["/:/host:ro", "/var:/host-var:ro", "/run/containerd:/c"] {
        let body = format!("volumes: [\"{bind}\"]");
        let h = harden(&body);
        let mut rules = refused_rules(&h);
        rules.sort();
        assert_eq!(rules, [Rule::NoHostMounts, Rule::NoDockerSocket], "{bind}");
        let h = harden(&with_waiver(&body, Rule::NoHostMounts));
        assert_eq!(refused_rules(&h), [Rule::NoDockerSocket], "{bind}");
    }
    // A host directory beside the socket is only a host mount.
    let h = harden("volumes: [\"/var/log:/logs:ro\"]");
    assert_eq!(refused_rules(&h), [Rule::NoHostMounts]);
}

#[test]
fn refusals_name_the_line_of_the_spec() {
    let h = harden("privileged: true");
    let f = h.refused().next().expect("a refusal");
    let at = f.at.as_ref().expect("a place");
    assert_eq!((&*at.file, at.line, at.col), ("compose.yaml", 4, 17));
}

#[test]
fn the_strict_profile_defaults() {
    let p = Profile::default();
    assert_eq!(p.default_memory, 512 << 20);
    assert_eq!(p.default_pids, 512);
    assert_eq!(p.cpu_shares, 1024);
    assert_eq!(p.max_restarts, 5);
    assert_eq!(p.tmp_size, 64 << 20);
    assert_eq!(p.free_caps, ["NET_BIND_SERVICE"]);
    assert_eq!(p.runtimes, ["runc", "runsc"]);
    assert_eq!(p.safe_sysctls.len(), 10);
    // A plain service: everything strict, init on.
    let e = harden("").effective;
    assert!(e.init);
    assert!(e.read_only_rootfs && !e.privileged);
    assert_eq!(e.user, None);
    let e = harden("init: false").effective;
    assert!(!e.init);
}

#[test]
fn options_the_engine_does_not_know_are_load_errors() {
    for (body, error) in [
        (
            "security_opt: [\"SECCOMP=unconfined\"]",
            "security_opt `SECCOMP=unconfined` is not an option Docker knows",
        ),
        (
            "security_opt: [\"no-new-privileges=maybe\"]",
            "is not an option Docker knows",
        ),
        (
            "security_opt: [privileged]",
            "is not an option Docker knows",
        ),
        // The long syntax of a tmpfs volume has no exec option: only size and mode.
        (
            "volumes: [{type: tmpfs, target: /x, tmpfs: {exec: true}}]",
            "exec",
        ),
    ] {
        let err = load_error(body);
        assert!(err.contains(error), "{body}: {err}");
    }
}

#[test]
fn every_relaxing_security_opt_is_refused_without_a_waiver() {
    // Only no-new-privileges (true) is allowed as written; each of these is refused by its rule.
    let cases = [
        ("label=type:spc_t", Rule::ApparmorDefault),
        ("label:type:spc_t", Rule::ApparmorDefault),
        ("label=disable", Rule::ApparmorDefault),
        ("label:disable", Rule::ApparmorDefault),
        ("label=user:system_u", Rule::ApparmorDefault),
        ("apparmor=x", Rule::ApparmorDefault),
        ("apparmor:unconfined", Rule::ApparmorDefault),
        ("seccomp=x.json", Rule::SeccompDefault),
        ("seccomp:unconfined", Rule::SeccompDefault),
        ("systempaths=unconfined", Rule::MaskedPaths),
        ("no-new-privileges:false", Rule::NoNewPrivileges),
        ("no-new-privileges=0", Rule::NoNewPrivileges),
    ];
    for (opt, rule) in cases {
        let body = format!("security_opt: [\"{opt}\"]");
        let h = harden(&body);
        assert_eq!(refused_rules(&h), [rule], "{opt}");
        let message = &h.refused().next().expect("refused").message;
        assert!(message.contains(opt), "{opt}: {message}");
        // Tier safe takes no waiver for it.
        let safe = format!(
            "{body}\nx-bulkhead: {{tier: safe, waivers: [{{rule: {}, reason: \"{REASON}\"}}]}}",
            rule.id()
        );
        assert!(load_error(&safe).contains("safe"), "{opt}");
    }
    for opt in [
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=1",
    ] {
        let h = harden(&format!("security_opt: [\"{opt}\"]"));
        assert!(h.deployable(), "{opt}");
        assert_eq!(h.effective.security_opt, [NNP], "{opt}");
    }
}

#[test]
fn every_tmpfs_that_allows_exec_is_refused_without_a_waiver() {
    for tmpfs in [
        "/x:exec",
        "/x:rw,exec,size=1m",
        "/x:size=1m,exec",
        "/x:suid",
        "/x:dev",
        "/tmp:exec",
    ] {
        let h = harden(&format!("tmpfs: [\"{tmpfs}\"]"));
        assert_eq!(refused_rules(&h), [Rule::NoexecTmpfs], "{tmpfs}");
        let h = harden(&with_waiver(
            &format!("tmpfs: [\"{tmpfs}\"]"),
            Rule::NoexecTmpfs,
        ));
        assert_eq!(
            outcomes(&h, Rule::NoexecTmpfs),
            [Outcome::Waived],
            "{tmpfs}"
        );
    }
    for tmpfs in [
        "/x",
        "/x:size=1m",
        "/x:rw,noexec,nosuid,nodev",
        "/x:mode=1777",
    ] {
        let h = harden(&format!("tmpfs: [\"{tmpfs}\"]"));
        assert!(h.deployable(), "{tmpfs}");
    }
}

/// `group_add: [0]` is root's group: refused under `non-root` (and dropped), kept when waived;
/// other groups pass.
#[test]
fn group_add_of_root_group_breaches_non_root() {
    let h = harden("user: \"1000:1000\"\ngroup_add: [\"0\", \"44\"]");
    assert_eq!(h.effective.group_add, [44]);
    assert!(outcomes(&h, Rule::NonRoot).contains(&Outcome::Refused));
    assert!(!h.deployable());
    let body = with_waiver(
        "user: \"1000:1000\"\ngroup_add: [\"0\", \"44\"]",
        Rule::NonRoot,
    );
    let h = harden(&body);
    assert_eq!(h.effective.group_add, [0, 44]);
    assert!(h.deployable());
    let h = harden("user: \"1000:1000\"\ngroup_add: [\"44\"]");
    assert_eq!(h.effective.group_add, [44]);
    assert!(h.deployable());
}
