//! `bulkhead check`: the verdict as text or as one JSON document (shape in docs/check.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::json;

use bulkhead_app::check::{Effect, Gap};
use bulkhead_app::project::{OpenError, ProjectOptions};
use bulkhead_core::hardening::{Effective, Outcome};
use bulkhead_core::secgroups::Topology;
use bulkhead_core::spec::Project;
use bulkhead_core::verdict::{ServiceVerdict, Verdict, waiver_hint};

use crate::imagefit::{self, images};
use crate::output::{self, say};

pub use crate::imagefit::learn;

/// Run `check` (with `fix`, write the images' proposal; with `swarm`, judge it for a Swarm
/// too); returns the exit code (0 deployable, 1 refused — by the policy, or on a Swarm that
/// cannot carry a setting —, or an image that would run as root or could not write its data
/// without the proposal; 2 unreadable or invalid).
pub fn run(opts: &ProjectOptions, as_json: bool, fix: bool, swarm: bool) -> ExitCode {
    match bulkhead_app::check::check(opts) {
        Ok((project, verdict)) => {
            let gaps = swarm.then(|| bulkhead_app::check::swarm_gaps(&project, &verdict));
            let swarm_refused: Vec<String> = gaps
                .iter()
                .flatten()
                .filter(|(_, g)| g.iter().any(|g| g.effect == Effect::Refused))
                .map(|(s, _)| s.clone())
                .collect();
            let fits = images(opts, fix);
            // Services whose image, as the files stand, would be refused (root) or could not
            // write its own data: not deployable as it is, whatever the spec alone says. With
            // `--fix` the proposal is written, and the files now ask for it.
            let needs: Vec<String> = match &fits {
                Ok(f) if !fix => f
                    .fits
                    .iter()
                    .filter(|f| f.proposal.user.is_some())
                    .map(|f| f.service.clone())
                    .collect(),
                _ => Vec::new(),
            };
            let deployable = verdict.deployable && needs.is_empty() && swarm_refused.is_empty();
            if as_json {
                let written = fits.as_ref().ok().and_then(|f| f.written.clone());
                let (fits, note) = match &fits {
                    Ok(f) => (serde_json::to_value(&f.fits).unwrap_or_default(), None),
                    Err(e) => (json!([]), Some(e.clone())),
                };
                // The labels each service's containers get, wherever they were written
                // (`labels`, `label_file`, an extended service).
                let labels: serde_json::Map<String, serde_json::Value> = project
                    .services
                    .iter()
                    .map(|(name, s)| (name.clone(), json!(s.labels)))
                    .collect();
                let doc = json!({
                    "project": {
                        "name": project.name,
                        "dir": project.dir,
                        "files": project.files,
                        "loaded": project.loaded,
                        "labels": labels,
                    },
                    "deployable": deployable,
                    "verdict": verdict,
                    "images_need_changes": needs,
                    "backend": if swarm { "swarm" } else { "engine" },
                    "swarm_gaps": gaps,
                    "images": fits,
                    "images_unread": note,
                    "override_written": written,
                    "errors": [],
                });
                let _ = output::emit_json(&doc);
            } else {
                let mut text = render(&project, &verdict);
                if verdict.deployable && !needs.is_empty() {
                    text = not_as_it_is(&text, &needs);
                }
                if let Some(gaps) = &gaps {
                    if verdict.deployable && !swarm_refused.is_empty() {
                        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
                        let head = first.strip_suffix(": deployable").unwrap_or(first);
                        text = format!(
                            "{head}: NOT deployable on Swarm: it cannot carry settings of {} (below)\n{rest}",
                            swarm_refused.join(", ")
                        );
                    }
                    render_swarm(&mut text, gaps, &swarm_refused);
                }
                match &fits {
                    Ok(f) => imagefit::render_fits(&mut text, f),
                    Err(e) => {
                        let _ = writeln!(text, "\nimages not read: {e}");
                    }
                }
                let _ = output::emit(&text);
            }
            if deployable {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            report_error(&e, as_json);
            ExitCode::from(2)
        }
    }
}

/// The Swarm part of the report: per service, each rule its tasks would run without and each
/// setting a Swarm cannot carry (refused), with why.
fn render_swarm(text: &mut String, gaps: &BTreeMap<String, Vec<Gap>>, refused: &[String]) {
    if gaps.is_empty() {
        let _ = writeln!(
            text,
            "\non Swarm (Engine API 1.41): every rule is enforced as on the engine"
        );
        return;
    }
    let _ = writeln!(
        text,
        "\non Swarm (Engine API 1.41): {}",
        if refused.is_empty() {
            "deployable, with the gaps below (not enforced there)".to_string()
        } else {
            format!(
                "NOT deployable: a Swarm cannot carry settings of {}",
                refused.join(", ")
            )
        }
    );
    for (service, list) in gaps {
        let _ = writeln!(text, "  {service}:");
        for g in list {
            let what = match g.effect {
                Effect::Unenforced => "not enforced",
                Effect::Refused => "refused",
            };
            let _ = writeln!(text, "    {what:<12} {:<22} {}", g.id(), g.reason);
        }
    }
}

pub fn report_error(e: &OpenError, as_json: bool) {
    if as_json {
        let errors = match e {
            OpenError::Spec(list) => serde_json::to_value(&list.0).unwrap_or_default(),
            other => json!([{ "kind": "io", "message": other.to_string() }]),
        };
        let _ = output::emit_json(&json!({ "deployable": false, "errors": errors }));
        return;
    }
    match e {
        OpenError::Spec(list) => {
            for err in &list.0 {
                say!("error: {err}");
            }
            let n = list.0.len();
            say!(
                "{n} problem{} found; nothing was checked further",
                if n == 1 { "" } else { "s" }
            );
        }
        OpenError::NotFound { .. } => {
            say!("error: {e}");
            say!("  hint: run in the directory of your compose.yaml, or pass it with -f FILE");
        }
        OpenError::Escapes { .. } => {
            say!("error: {e}");
            say!(
                "  hint: a Compose or variables file must be a file of its own directory, not a link out of it"
            );
        }
        OpenError::Read { .. } | OpenError::AllowedPath { .. } => say!("error: {e}"),
    }
}

/// The report's first line, for a spec the hardening accepts whose images would not run as
/// it is (they would run as root, or could not write their data).
fn not_as_it_is(report: &str, needs: &[String]) -> String {
    let (first, rest) = report.split_once('\n').unwrap_or((report, ""));
    let head = first.strip_suffix(": deployable").unwrap_or(first);
    format!(
        "{head}: NOT deployable as it is: the image{} of {} would run as root or could not write {} data; `bulkhead check --fix` writes what {} (below)\n{rest}",
        if needs.len() == 1 { "" } else { "s" },
        needs.join(", "),
        if needs.len() == 1 { "its" } else { "their" },
        if needs.len() == 1 {
            "it needs"
        } else {
            "they need"
        },
    )
}

/// The human report.
pub fn render(project: &Project, verdict: &Verdict) -> String {
    let mut out = String::new();
    let state = if verdict.deployable {
        "deployable".to_string()
    } else {
        let n = verdict.refusals().count();
        format!(
            "REFUSED ({n} finding{} to fix or waive)",
            if n == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(
        out,
        "project {} ({}): {state}",
        project.name,
        project.files.join(", ")
    );
    for note in &verdict.notes {
        let _ = writeln!(out, "  note: {}: {}", note.span, note.message);
    }
    if !verdict.inactive.is_empty() {
        let _ = writeln!(
            out,
            "  note: not active (profiles): {}",
            verdict.inactive.join(", ")
        );
    }
    for s in &verdict.services {
        service(&mut out, s);
    }
    topology(&mut out, &verdict.topology);
    out
}

fn service(out: &mut String, s: &ServiceVerdict) {
    let image = s
        .image
        .clone()
        .unwrap_or_else(|| "built from source".to_string());
    let state = if s.deployable { "ok" } else { "REFUSED" };
    let replicas = if s.replicas == 1 {
        "1 replica".to_string()
    } else {
        format!("{} replicas", s.replicas)
    };
    let tier = serde_json::to_value(s.tier)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\nservice {} [{state}] tier {tier}, {replicas}, {image}",
        s.name
    );
    let order = [
        Outcome::Refused,
        Outcome::Waived,
        Outcome::Hardened,
        Outcome::Flagged,
    ];
    for outcome in order {
        for f in s.findings.iter().filter(|f| f.outcome == outcome) {
            let label = format!("{outcome:?}").to_lowercase();
            let at = f.at.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
            let _ = writeln!(out, "  {label:<9}{:<20}{}{at}", f.rule.id(), f.message);
            if let Some(reason) = &f.waiver_reason {
                let _ = writeln!(out, "  {:<29}reason: {reason}", "");
            }
            if outcome == Outcome::Refused {
                let _ = writeln!(out, "  {:<29}hint: {}", "", waiver_hint(s, f));
            }
        }
    }
    let enforced: Vec<&str> = s
        .findings
        .iter()
        .filter(|f| f.outcome == Outcome::Enforced)
        .map(|f| f.rule.id())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !enforced.is_empty() {
        let _ = writeln!(out, "  {:<9}{}", "enforced", enforced.join(", "));
    }
    effective(out, &s.effective);
}

fn effective(out: &mut String, e: &Effective) {
    let user = e
        .user
        .clone()
        .unwrap_or_else(|| "image's USER (checked at deploy)".to_string());
    let cpus = e
        .nano_cpus
        .map(|n| format!(", cpus {}", n as f64 / 1e9))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  limits   memory {} MiB, pids {}, cpu shares {}{cpus}; restart {}:{}; user {user}",
        e.memory >> 20,
        e.pids_limit,
        e.cpu_shares,
        e.restart.0,
        e.restart.1
    );
    for b in &e.ports {
        let host = match b.host_ports {
            Some((a, z)) if a == z => a.to_string(),
            Some((a, z)) => format!("{a}-{z}"),
            None => "(any)".to_string(),
        };
        let (c0, c1) = b.container_ports;
        let container = if c0 == c1 {
            c0.to_string()
        } else {
            format!("{c0}-{c1}")
        };
        let _ = writeln!(
            out,
            "  port     {}:{host} -> {container}/{}",
            b.host_ip,
            b.protocol.as_str()
        );
    }
}

fn topology(out: &mut String, t: &Topology) {
    let _ = writeln!(out, "\nsecurity groups (everything not listed is denied)");
    for g in &t.groups {
        let from = if g.allow_from.is_empty() {
            "nobody".to_string()
        } else {
            g.allow_from.join(", ")
        };
        let how = match (g.allow_from.is_empty(), g.derived) {
            (true, _) => "",
            (false, true) => " (from depends_on)",
            (false, false) => " (allow_from)",
        };
        let egress = serde_json::to_value(g.egress)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(out, "  {:<16} <- {from}{how}; egress {egress}", g.service);
    }
    if !t.networks.is_empty() {
        let _ = writeln!(out, "networks");
        for n in &t.networks {
            let kind = if n.internal {
                "internal"
            } else if n.drop_outbound {
                "publish, outbound dropped"
            } else {
                "egress"
            };
            let _ = writeln!(out, "  {:<28} {kind:<26} {}", n.name, n.members.join(", "));
        }
    }
    if !t.caveats.is_empty() {
        let _ = writeln!(out, "caveats");
        for c in &t.caveats {
            let _ = writeln!(out, "  - {c}");
        }
    }
}
