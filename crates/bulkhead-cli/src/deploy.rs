//! The deploying commands: up, plan, ps, logs, releases, rollback, down — argument handling
//! and what they print; the work is in `bulkhead_app::deploy`.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use bulkhead_app::deploy::{DeployError, UpReport};
use bulkhead_app::project::ProjectOptions;
use bulkhead_app::root::{self, Local};
use bulkhead_core::deploy::{Op, Plan};
use bulkhead_core::hardening::Outcome as Finding;
use bulkhead_core::verdict::{Verdict, waiver_hint};

use crate::output::{emit, emit_json};
use crate::progress;

/// Shared flags of the deploying commands.
pub struct Common<'a> {
    pub project: ProjectOptions,
    pub state_dir: Option<&'a std::path::Path>,
    pub quiet: bool,
    pub json: bool,
}

async fn deployer(c: &Common<'_>) -> anyhow::Result<(Arc<Local>, Option<indicatif::ProgressBar>)> {
    deployer_with(c, c.quiet || c.json).await
}

async fn deployer_with(
    c: &Common<'_>,
    quiet: bool,
) -> anyhow::Result<(Arc<Local>, Option<indicatif::ProgressBar>)> {
    let (report, bar) = progress::reporter(quiet);
    let d = root::local(c.state_dir, &c.project.env, report).await?;
    Ok((d, bar))
}

/// The project name: `-p`, else the spec's.
pub fn project_name(c: &Common<'_>) -> anyhow::Result<String> {
    if let Some(p) = &c.project.project_name {
        return Ok(p.clone());
    }
    let project = bulkhead_app::project::open(&c.project)
        .context("cannot tell which project; pass -p NAME or run beside its compose.yaml")?;
    Ok(project.name)
}

/// Map a deploy error to its exit code, printing it (policy refusals get the full story).
pub fn fail(e: &DeployError) -> ExitCode {
    match e {
        DeployError::Refused { verdict, .. } => {
            eprintln!("error: {e}");
            print_refusals(verdict);
            ExitCode::from(1)
        }
        DeployError::Unsupported { hint, .. } => {
            eprintln!("error: {e}\n  hint: {hint}");
            ExitCode::from(1)
        }
        DeployError::Policy { hint, .. } => {
            eprintln!("error: {e}\n  hint: {hint}");
            ExitCode::from(1)
        }
        DeployError::Open(inner) => {
            eprintln!("error: {inner}");
            ExitCode::from(2)
        }
        other => {
            eprintln!("error: {other}");
            ExitCode::from(1)
        }
    }
}

fn print_refusals(v: &Verdict) {
    for (s, f) in v.refusals() {
        let at = f.at.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
        eprintln!(
            "  service `{}`: rule {}: {}{at}\n    hint: {}",
            s.name,
            f.rule.id(),
            f.message,
            waiver_hint(s, f)
        );
    }
}

pub async fn up(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let (d, bar) = deployer(c).await?;
    let result = d.up(&c.project).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok(report) => {
            if c.json {
                emit_json(&up_json(&report))?;
            } else {
                emit(&up_summary(&report))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}

fn up_json(r: &UpReport) -> serde_json::Value {
    json!({
        "project": r.verdict.project,
        "changed": !r.plan.is_empty(),
        "releases": r.releases.iter().map(|(s, n, new)| json!({"service": s, "release": n, "new": new})).collect::<Vec<_>>(),
        "plan": r.plan,
        "created": r.outcome.created,
        "removed": r.outcome.removed,
        "verdict": r.verdict,
    })
}

fn up_summary(r: &UpReport) -> String {
    let mut out = String::new();
    if r.plan.is_empty() {
        let _ = writeln!(
            out,
            "project {}: up to date, nothing changed",
            r.verdict.project
        );
    } else {
        let _ = writeln!(
            out,
            "project {}: {} container(s) started, {} removed",
            r.verdict.project,
            r.outcome.created.len(),
            r.outcome.removed.len()
        );
    }
    for s in &r.verdict.services {
        let (n, new) = r
            .releases
            .iter()
            .find(|(name, _, _)| name == &s.name)
            .map(|(_, n, new)| (*n, *new))
            .unwrap_or((0, false));
        let hardened = s
            .findings
            .iter()
            .filter(|f| matches!(f.outcome, Finding::Hardened | Finding::Enforced))
            .count();
        let waived: Vec<&str> = s
            .findings
            .iter()
            .filter(|f| f.outcome == Finding::Waived)
            .map(|f| f.rule.id())
            .collect();
        let waivers = if waived.is_empty() {
            String::new()
        } else {
            format!(", waived: {}", waived.join(", "))
        };
        let release = if new {
            format!("release {n} (new)")
        } else {
            format!("release {n}")
        };
        let _ = writeln!(
            out,
            "  {:<14} {release}, {} replica(s), {hardened} hardening rules in force{waivers}",
            s.name, s.replicas
        );
        for p in &s.effective.ports {
            if let Some((h, _)) = p.host_ports {
                let _ = writeln!(out, "  {:<14} http://{}:{h}/", "", p.host_ip);
            }
        }
    }
    let _ = writeln!(out, "security groups:");
    for g in &r.verdict.topology.groups {
        let from = if g.allow_from.is_empty() {
            "nobody".to_string()
        } else {
            g.allow_from.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<14} <- {from}; egress {}",
            g.service,
            if g.egress == bulkhead_core::spec::extension::Egress::Internet {
                "internet"
            } else {
                "none"
            }
        );
    }
    if !r.verdict.topology.caveats.is_empty() {
        let _ = writeln!(out, "not closed by the security groups:");
        for c in &r.verdict.topology.caveats {
            let _ = writeln!(out, "  - {c}");
        }
    }
    out
}

pub async fn plan(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let (d, bar) = deployer(c).await?;
    let result = d.plan_only(&c.project).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok((_, plan)) if c.json => {
            emit_json(&json!({ "plan": plan, "empty": plan.is_empty() }))?;
            Ok(ExitCode::SUCCESS)
        }
        Ok((v, plan)) => {
            emit(&render_plan(&v.project, &plan))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}

pub fn render_plan(project: &str, plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("project {project}: nothing to do\n");
    }
    let mut out = format!("project {project}: plan\n");
    for op in plan.ops() {
        let line = match op {
            Op::CreateNetwork { name, internal } => format!(
                "create network {name}{}",
                if *internal { " (internal)" } else { "" }
            ),
            Op::BlockEgress { network } => format!("drop outbound connections from {network}"),
            Op::RestrictIngress { network, owner } => {
                format!("allow connections inside {network} only to {owner}")
            }
            Op::CreateVolume { name } => format!("create volume {name}"),
            Op::Deploy {
                service,
                release,
                replica,
                replaces,
            } => {
                let then = replaces
                    .as_ref()
                    .map(|(_, n)| format!(", then remove {n}"))
                    .unwrap_or_default();
                format!(
                    "start {service} replica {replica} at release {release}, wait until ready{then}"
                )
            }
            Op::Remove { name, why, .. } => format!("remove {name} ({why})"),
            Op::RemoveNetwork { name } => format!("remove network {name}"),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

pub async fn ps(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let name = project_name(c)?;
    let (d, _) = deployer_with(c, true).await?;
    let list = match d.ps(&name).await {
        Ok(l) => l,
        Err(e) => return Ok(fail(&e)),
    };
    if c.json {
        let rows: Vec<_> = list
            .iter()
            .map(|c| json!({"name": c.name, "id": c.id, "labels": c.labels, "state": c.state, "health": c.health, "published": c.published}))
            .collect();
        emit_json(&json!({ "project": name, "containers": rows }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<28} {:<12} {:<8} {:<10} {:<10} PORTS\n",
        "NAME", "SERVICE", "RELEASE", "STATE", "HEALTH"
    );
    for c in &list {
        let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
        let ports: Vec<String> = c
            .published
            .iter()
            .map(|(cp, ip, hp)| format!("{ip}:{hp}->{cp}"))
            .collect();
        let health = serde_json::to_value(c.health)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<28} {:<12} {:<8} {:<10} {:<10} {}",
            c.name,
            label(bulkhead_ports::runtime::LABEL_SERVICE),
            label(bulkhead_ports::runtime::LABEL_RELEASE),
            c.state,
            health,
            ports.join(", ")
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(
    c: &Common<'_>,
    service: &str,
    follow: bool,
    tail: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let name = project_name(c)?;
    let (d, _) = deployer_with(c, true).await?;
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut tail = tail;
    loop {
        let batches = match d.logs(&name, service, tail).await {
            Ok(b) => b,
            Err(e) => return Ok(fail(&e)),
        };
        let mut out = String::new();
        for (container, lines) in batches {
            let skip = seen.get(&container).copied().unwrap_or(0).min(lines.len());
            for l in &lines[skip..] {
                let _ = writeln!(out, "{container} | {l}");
            }
            seen.insert(container, lines.len());
        }
        emit(&out)?;
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        tail = None;
        tokio::time::sleep(bulkhead_app::deploy::ops::FOLLOW_EVERY).await;
    }
}

pub async fn releases(c: &Common<'_>, service: &str) -> anyhow::Result<ExitCode> {
    let name = project_name(c)?;
    let (d, _) = deployer_with(c, true).await?;
    let (all, active) = match d.releases(&name, service).await {
        Ok(r) => r,
        Err(e) => return Ok(fail(&e)),
    };
    if all.is_empty() {
        eprintln!(
            "error: service `{service}` of project {name} has no releases\n  hint: run `bulkhead up` first"
        );
        return Ok(ExitCode::from(1));
    }
    if c.json {
        let rows: Vec<_> = all
            .iter()
            .map(|r| json!({"release": r.number, "active": Some(r.number) == active, "image": r.image, "spec_hash": r.spec_hash, "waivers": r.waivers, "created_at": r.created_at, "created_by": r.created_by}))
            .collect();
        emit_json(&json!({ "project": name, "service": service, "releases": rows }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<3} {:<8} {:<22} {:<12} {:<16} IMAGE\n",
        "", "RELEASE", "CREATED", "BY", "SPEC"
    );
    for r in &all {
        let mark = if Some(r.number) == active { "*" } else { "" };
        let spec: String = r.spec_hash.chars().take(12).collect();
        let image: String = r.image.chars().take(19).collect();
        let _ = writeln!(
            out,
            "{mark:<3} {:<8} {:<22} {:<12} {spec:<16} {image}",
            r.number, r.created_at, r.created_by
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn rollback(c: &Common<'_>, service: &str, to: Option<u64>) -> anyhow::Result<ExitCode> {
    let name = project_name(c)?;
    let (d, bar) = deployer(c).await?;
    let result = d.rollback(&name, service, to).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok((n, plan, _)) => {
            emit(&format!(
                "service {service} rolled back to release {n}\n{}",
                render_plan(&name, &plan)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}

pub async fn down(c: &Common<'_>, volumes: bool) -> anyhow::Result<ExitCode> {
    let name = project_name(c)?;
    let (d, bar) = deployer(c).await?;
    let result = d.down(&name, volumes).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok(o) => {
            emit(&format!(
                "project {name}: {} container(s) and {} network(s) removed\n",
                o.removed.len(),
                o.networks_removed.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}
