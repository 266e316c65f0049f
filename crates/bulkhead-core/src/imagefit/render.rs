//! The proposal as a Compose override file: plain Compose that Docker Compose reads too, one
//! comment per entry saying why, merged by Bulkhead after the project's own files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Proposal;

/// The override file's name, beside the (first) Compose file.
pub const OVERRIDE_FILE: &str = "compose.bulkhead.yaml";

/// A YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment line (control characters dropped), indented by `indent`.
fn comment(out: &mut String, indent: &str, text: &str) {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let _ = writeln!(out, "{indent}# {clean}");
}

/// The override file for `proposals` (services without entries are left out); `source` names
/// the Compose file(s) it completes.
pub fn render_override(source: &str, proposals: &BTreeMap<String, Proposal>) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "",
        &format!("{OVERRIDE_FILE}: written by `bulkhead check --fix` for {source}."),
    );
    for line in [
        "What the images need to run under Bulkhead's hardening profile (a non-root user, a",
        "read-only root filesystem), read from the images themselves; each entry says why.",
        "Bulkhead merges this file after the Compose files whenever it is present beside them;",
        "it is plain Compose: `docker compose -f compose.yaml -f compose.bulkhead.yaml` reads it too.",
        "Edit it or delete it freely; `bulkhead check --fix` writes it again, keeping what you added.",
    ] {
        comment(&mut out, "", line);
    }
    let mut volumes = Vec::new();
    let mut services = String::new();
    for (name, p) in proposals.iter().filter(|(_, p)| !p.is_empty()) {
        let _ = writeln!(services, "  {}:", quoted(name));
        if let Some(u) = &p.user {
            comment(&mut services, "    ", &u.why);
            let _ = writeln!(
                services,
                "    user: {}",
                quoted(&format!("{}:{}", u.uid, u.gid))
            );
        }
        if !p.tmpfs.is_empty() {
            let _ = writeln!(services, "    tmpfs:");
            for t in &p.tmpfs {
                comment(&mut services, "      ", &t.why);
                let _ = writeln!(services, "      - {}", quoted(&t.entry()));
            }
        }
        if !p.volumes.is_empty() {
            let _ = writeln!(services, "    volumes:");
            for v in &p.volumes {
                comment(&mut services, "      ", &v.why);
                let _ = writeln!(
                    services,
                    "      - {}",
                    quoted(&format!("{}:{}", v.name, v.target))
                );
                volumes.push(v.name.clone());
            }
        }
    }
    if services.is_empty() {
        comment(
            &mut out,
            "",
            "Nothing to add: every service runs hardened as it is.",
        );
        let _ = writeln!(out, "services: {{}}");
        return out;
    }
    let _ = writeln!(out, "services:");
    out.push_str(&services);
    if !volumes.is_empty() {
        let _ = writeln!(out, "volumes:");
        for v in volumes {
            let _ = writeln!(out, "  {}: {{}}", quoted(&v));
        }
    }
    out
}
