//! Gaps of real templates (Compose text through the hardening): what every service has on
//! Swarm, and what each waived or engine-only setting adds.

use bulkhead_core::hardening::Rule;

use super::{Effect, gaps, refusals};
use crate::fixture::template_of;

use Effect::{Refused, Unenforced};

/// What every hardened service lacks on Swarm (API 1.41).
const BASELINE: &[(&str, Effect)] = &[
    ("no-new-privileges", Unenforced),
    ("memory-limit", Unenforced),
    ("cpu-shares", Unenforced),
];

fn ids(body: &str, waiver: Option<Rule>) -> Vec<(&'static str, Effect)> {
    gaps(&template_of(body, waiver))
        .iter()
        .map(|g| (g.id(), g.effect))
        .collect()
}

#[test]
fn a_hardened_service_lacks_only_no_new_privileges_swap_and_cpu_weight() {
    let t = template_of("user: \"10001:10001\"\ninit: true\nread_only: true", None);
    let got = gaps(&t);
    let got_ids: Vec<_> = got.iter().map(|g| (g.id(), g.effect)).collect();
    assert_eq!(got_ids, BASELINE);
    assert!(refusals(&t).is_empty());
    for g in &got {
        assert!(!g.reason.is_empty() && !g.reason.contains('\n'), "{g:?}");
    }
}

/// A service body, the waiver it carries, and the gaps it adds to the baseline.
type Case = (
    &'static str,
    Option<Rule>,
    &'static [(&'static str, Effect)],
);

#[test]
fn each_setting_swarm_cannot_carry_is_named_by_rule_or_key() {
    use Rule::*;
    let cases: &[Case] = &[
        (
            "privileged: true",
            Some(NoPrivileged),
            &[("no-privileged", Refused)],
        ),
        ("pid: host", Some(NoHostPid), &[("no-host-pid", Refused)]),
        ("ipc: host", Some(NoHostIpc), &[("no-host-ipc", Refused)]),
        ("ipc: shareable", None, &[("no-host-ipc", Refused)]),
        ("uts: host", Some(NoHostUts), &[("no-host-uts", Refused)]),
        (
            "userns_mode: host",
            Some(NoHostUserns),
            &[("no-host-userns", Refused)],
        ),
        (
            "devices: [\"/dev/fuse\"]",
            Some(NoDevices),
            &[("no-devices", Refused)],
        ),
        (
            "security_opt: [\"seccomp=unconfined\"]",
            Some(SeccompDefault),
            &[("seccomp-default", Refused)],
        ),
        (
            "security_opt: [\"apparmor=unconfined\"]",
            Some(ApparmorDefault),
            &[("apparmor-default", Refused)],
        ),
        (
            "security_opt: [\"systempaths=unconfined\"]",
            Some(MaskedPaths),
            &[("masked-paths", Refused)],
        ),
        ("oom_score_adj: 100", None, &[("oom_score_adj", Refused)]),
        ("shm_size: 64m", None, &[("shm_size", Refused)]),
        ("cpuset: \"0\"", None, &[("cpuset", Refused)]),
        ("domainname: example.org", None, &[("domainname", Refused)]),
        ("runtime: runc", None, &[("default-runtime", Unenforced)]),
        (
            "runtime: kata",
            Some(DefaultRuntime),
            &[("default-runtime", Refused)],
        ),
        (
            "volumes: [\"./data:/data\"]",
            None,
            &[("no-host-mounts", Refused)],
        ),
        ("volumes: [\"/data\"]", None, &[("volumes", Refused)]),
        (
            "tmpfs: [\"/run:uid=1000\"]",
            None,
            &[("noexec-tmpfs", Refused)],
        ),
        (
            "tmpfs: [\"/run:exec\"]",
            Some(NoexecTmpfs),
            &[("noexec-tmpfs", Refused)],
        ),
        (
            "ports: [\"8080:8080\"]",
            None,
            &[("ports-localhost", Refused)],
        ),
        (
            "ports: [\"8080\"]\nx-bulkhead: {public: true}",
            None,
            &[("ports", Refused)],
        ),
        ("network_mode: none", None, &[("network_mode", Unenforced)]),
    ];
    for (body, waiver, extra) in cases {
        let mut want: Vec<(&str, Effect)> = extra.to_vec();
        want.extend_from_slice(BASELINE);
        let mut got = ids(body, *waiver);
        got.sort_by_key(|(id, _)| *id);
        want.sort_by_key(|(id, _)| *id);
        assert_eq!(got, want, "{body}");
    }
}

#[test]
fn settings_swarm_carries_add_no_gap() {
    let cases: &[(&str, Option<Rule>)] = &[
        ("tmpfs: [\"/run:size=1m,mode=0700\"]", None),
        ("ports: [\"8080:8080\"]\nx-bulkhead: {public: true}", None),
        ("network_mode: host", Some(Rule::NoHostNetwork)),
        (
            "security_opt: [\"label=disable\"]",
            Some(Rule::ApparmorDefault),
        ),
        ("ipc: private", None),
        ("restart: always", None),
        (
            "sysctls: {net.ipv4.ip_unprivileged_port_start: \"0\", kernel.shm_rmid_forced: \"1\"}",
            None,
        ),
        ("extra_hosts: [\"db:10.0.0.5\"]\ndns: [10.0.0.2]", None),
        ("ulimits: {nofile: {soft: 1024, hard: 2048}}", None),
        ("cap_add: [NET_BIND_SERVICE]\ngroup_add: [\"10002\"]", None),
    ];
    for (body, waiver) in cases {
        assert_eq!(ids(body, *waiver), BASELINE, "{body}");
    }
}

#[test]
fn a_waived_no_new_privileges_leaves_nothing_to_enforce() {
    let got = ids(
        "security_opt: [\"no-new-privileges:false\"]",
        Some(Rule::NoNewPrivileges),
    );
    assert_eq!(got, &BASELINE[1..]);
}

#[test]
fn a_lowered_cpu_weight_is_said_to_be_lost() {
    let t = template_of("cpu_shares: 512", None);
    let gap = gaps(&t)
        .into_iter()
        .find(|g| g.rule == Some(Rule::CpuShares))
        .expect("a cpu-shares gap");
    assert!(
        gap.reason.contains("not the 512 asked for"),
        "{}",
        gap.reason
    );
}

#[test]
fn docs_gap_table_has_a_row_for_every_rule() {
    let doc = include_str!("../../../docs/swarm.md");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    for info in bulkhead_core::hardening::RULES {
        let id = format!("`{}`", info.id);
        assert!(
            rows.iter()
                .any(|row| row.split(" | ").next().is_some_and(|c| c.contains(&id))),
            "docs/swarm.md has no gap-table row for {id}"
        );
    }
}
