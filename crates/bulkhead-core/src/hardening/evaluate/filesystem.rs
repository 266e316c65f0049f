//! What the container sees of the host's files: bind mounts (and the Docker socket), the root
//! filesystem with its tmpfs (noexec, nosuid, nodev), and host devices.

use super::{Ctx, Outcome};
use crate::hardening::{Profile, Rule};
use crate::spec::Span;
use crate::spec::model::{Mount, MountKind};
use crate::spec::tmpfs as spec_tmpfs;
use crate::spec::volumes;

fn is_docker_socket(path: &str) -> bool {
    let p = volumes::normalize(path);
    p.ends_with("/docker.sock")
        || p.ends_with("/containerd.sock")
        || [
            "/var/run",
            "/run",
            "/var/run/docker",
            "/run/docker",
            "/var/lib/docker",
        ]
        .contains(&p.as_str())
}

/// Whether a host directory holds the Docker or containerd socket (`/`, `/var`, ...): mounting
/// it, even read-only, lets the container connect to the engine.
fn holds_docker_socket(path: &str) -> bool {
    let p = volumes::normalize(path);
    [
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/var/lib/docker",
    ]
    .iter()
    .any(|s| volumes::is_within(s, &p))
}

pub(super) fn mounts(cx: &mut Ctx<'_>) {
    let binds: Vec<(Mount, Span)> = cx
        .service
        .volumes
        .iter()
        .filter(|m| m.value.kind == MountKind::Bind)
        .map(|m| (m.value.clone(), m.span.clone()))
        .collect();
    for (m, span) in &binds {
        match &m.host_path {
            None => {
                cx.breach(Rule::NoHostMounts, format!("bind mount to {} has an empty host path (is the variable that should name it set?)", m.target), span);
            }
            Some(host) if is_docker_socket(host) => {
                cx.breach(
                    Rule::NoDockerSocket,
                    format!(
                        "mounts {host}, which gives control of the Docker Engine (root on the host)"
                    ),
                    span,
                );
            }
            Some(host) if !volumes::is_within(host, cx.project_dir) => {
                cx.breach(
                    Rule::NoHostMounts,
                    format!(
                        "bind-mounts {host}, outside the project directory {}",
                        cx.project_dir
                    ),
                    span,
                );
                // A waiver for host mounts must not hand over the engine along with `/`.
                if holds_docker_socket(host) {
                    cx.breach(
                        Rule::NoDockerSocket,
                        format!("mounts {host}, which holds the Docker socket (root on the host)"),
                        span,
                    );
                }
            }
            Some(_) => {}
        }
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::NoHostMounts) {
        let msg = if binds.is_empty() {
            "no bind mounts"
        } else {
            "bind mounts stay inside the project directory"
        };
        cx.note(Rule::NoHostMounts, Outcome::Enforced, msg, None);
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::NoDockerSocket) {
        cx.note(
            Rule::NoDockerSocket,
            Outcome::Enforced,
            "no Docker socket",
            None,
        );
    }
}

/// Options that undo a tmpfs's `noexec`, `nosuid` or `nodev`.
fn loosens(option: &str) -> bool {
    matches!(option, "exec" | "suid" | "dev")
}

/// The spec's `tmpfs:` entries as `(path, options)`, the options as the container gets them:
/// `noexec,nosuid,nodev` unless the entry names the flag or its opposite, then the entry's own
/// options in their normal form (sizes in bytes, modes in octal). `exec`, `suid` and `dev`
/// are refused (and dropped) unless waived. Long-syntax tmpfs volumes take only `size` and
/// `mode`, and get the same flags in the template.
fn tmpfs(cx: &mut Ctx<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in cx.service.tmpfs.clone() {
        let (path, opts) = t.value.split_once(':').unwrap_or((&t.value, ""));
        // Checked when the spec was read; an option that is not understood is not passed on.
        let opts = spec_tmpfs::normalize(opts).unwrap_or_default();
        let loose: Vec<&str> = opts
            .iter()
            .map(String::as_str)
            .filter(|o| loosens(o))
            .collect();
        let kept = if loose.is_empty()
            || cx.breach(
                Rule::NoexecTmpfs,
                format!("`tmpfs: {}` allows {} on it", t.value, loose.join(", ")),
                &t.span,
            ) {
            opts
        } else {
            opts.into_iter().filter(|o| !loosens(o)).collect()
        };
        let options = spec_tmpfs::with_secure_defaults(&kept).join(",");
        out.push((path.to_string(), options));
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::NoexecTmpfs) {
        cx.note(
            Rule::NoexecTmpfs,
            Outcome::Enforced,
            "tmpfs mounts noexec, nosuid, nodev",
            None,
        );
    }
    out
}

pub(super) fn rootfs(cx: &mut Ctx<'_>, profile: &Profile) -> (bool, Vec<(String, String)>) {
    let mut tmpfs = tmpfs(cx);
    let read_only = match cx.service.read_only {
        Some(false) => {
            let span = cx.service.key_span("read_only").clone();
            !cx.breach(
                Rule::ReadOnlyRootfs,
                "`read_only: false` makes the root filesystem writable".into(),
                &span,
            )
        }
        Some(true) => {
            cx.note(
                Rule::ReadOnlyRootfs,
                Outcome::Enforced,
                "read-only root filesystem",
                None,
            );
            true
        }
        None => {
            cx.note(
                Rule::ReadOnlyRootfs,
                Outcome::Hardened,
                "root filesystem made read-only, with a tmpfs at /tmp",
                None,
            );
            true
        }
    };
    let has_tmp = tmpfs.iter().any(|(p, _)| p == "/tmp")
        || cx
            .service
            .volumes
            .iter()
            .any(|m| m.value.target.trim_end_matches('/') == "/tmp");
    if read_only && !has_tmp {
        tmpfs.push((
            "/tmp".to_string(),
            format!("rw,noexec,nosuid,nodev,size={}", profile.tmp_size),
        ));
    }
    (read_only, tmpfs)
}

pub(super) fn devices(cx: &mut Ctx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for d in cx.service.devices.clone() {
        if cx.breach(
            Rule::NoDevices,
            format!("exposes host device {}", d.value),
            &d.span,
        ) {
            out.push(d.value.clone());
        }
    }
    if out.is_empty() && !cx.findings.iter().any(|f| f.rule == Rule::NoDevices) {
        cx.note(Rule::NoDevices, Outcome::Enforced, "no host devices", None);
    }
    out
}
