//! Who the container runs as and what it may do: `user`, capabilities and `privileged`.

use super::{Ctx, Outcome, is_root_group, is_root_user};
use crate::hardening::{Profile, Rule};

pub(super) fn user(cx: &mut Ctx<'_>) -> Option<String> {
    // `user: ""` (typically an unset variable) is no user at all: the engine takes the image's.
    let spec_user = cx
        .service
        .user
        .as_ref()
        .filter(|u| !u.value.trim().is_empty());
    match spec_user {
        Some(u) if is_root_user(&u.value) => {
            let waived = cx.breach(
                Rule::NonRoot,
                format!("`user: {}` runs as root", u.value),
                &u.span.clone(),
            );
            waived.then(|| u.value.clone())
        }
        Some(u) if is_root_group(&u.value) => {
            let waived = cx.breach(
                Rule::NonRoot,
                format!("`user: {}` runs with the root group (gid 0)", u.value),
                &u.span.clone(),
            );
            waived.then(|| u.value.clone())
        }
        Some(u) => {
            cx.note(
                Rule::NonRoot,
                Outcome::Enforced,
                format!(
                    "runs as `{}` (resolved to uid:gid through the image's /etc/passwd at deploy)",
                    u.value
                ),
                Some(&u.span),
            );
            Some(u.value.clone())
        }
        None => {
            let msg = "no `user:`; the image's USER is resolved through its /etc/passwd at deploy and refused if it is uid 0 or gid 0";
            cx.note(Rule::NonRoot, Outcome::Flagged, msg, None);
            None
        }
    }
}

/// `group_add` by number: gid 0 is root's group (files the image or a bind gives to group root
/// become writable), a breach of the non-root rule; it is dropped unless waived.
pub(super) fn group_add(cx: &mut Ctx<'_>) -> Vec<u32> {
    let mut out = Vec::new();
    for g in cx.service.engine.group_add.clone() {
        if g.value == 0 {
            let msg = "`group_add: 0` adds the root group (gid 0)".to_string();
            if !cx.breach(Rule::NonRoot, msg, &g.span) {
                continue;
            }
        }
        if !out.contains(&g.value) {
            out.push(g.value);
        }
    }
    out
}

fn cap_name(c: &str) -> String {
    let upper = c.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

pub(super) fn capabilities(cx: &mut Ctx<'_>, profile: &Profile) -> (Vec<String>, Vec<String>) {
    let mut add = Vec::new();
    for c in cx.service.cap_add.clone() {
        let name = cap_name(&c.value);
        let free = profile.free_caps.contains(&name);
        if free || cx.breach(Rule::CapDropAll, format!("cap_add {name}"), &c.span) {
            add.push(name);
        }
    }
    if !cx.findings.iter().any(|f| f.rule == Rule::CapDropAll) {
        let msg = if add.is_empty() {
            "all capabilities dropped".to_string()
        } else {
            format!("all capabilities dropped, {} added back", add.join(", "))
        };
        cx.note(Rule::CapDropAll, Outcome::Enforced, msg, None);
    }
    (vec!["ALL".to_string()], add)
}

pub(super) fn privileged(cx: &mut Ctx<'_>) -> bool {
    let p = cx.service.privileged.clone();
    if p.value {
        cx.breach(
            Rule::NoPrivileged,
            "`privileged: true` gives the container every device and capability".into(),
            &p.span,
        )
    } else {
        cx.note(
            Rule::NoPrivileged,
            Outcome::Enforced,
            "not privileged",
            None,
        );
        false
    }
}
