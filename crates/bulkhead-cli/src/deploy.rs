//! The deploying commands: up, plan, ps, logs, releases, rollback, down, scale — each one
//! request to a server or to the embedded dispatcher (`backend`), printed from its JSON reply.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bulkhead_api_types::{
    DownReply, LogsReply, PlanReply, ReleasesReply, RollbackReply, ScaleReply, ServicesReply,
    UpReply,
};
use serde_json::{Value, json};

use bulkhead_app::api::{Command, Source};
use bulkhead_app::project::ProjectOptions;
use bulkhead_client::Method;
use bulkhead_core::auth::ProjectName;
use bulkhead_core::names::ServiceName;
use bulkhead_core::spec::Project;
use bulkhead_core::verdict::{Verdict, waiver_hint};

use crate::backend::{Backend, Request, encode, query};
use crate::failure::{ApiFailure, Failure};
use crate::output::{emit, emit_json, say};
use crate::render;
use crate::replies::{print_json, read};

/// Shared flags of the deploying commands.
pub struct Common<'a> {
    pub project: ProjectOptions,
    pub state_dir: Option<&'a Path>,
    pub quiet: bool,
    pub json: bool,
}

/// How often `logs -f` asks again.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

async fn backend(c: &Common<'_>, quiet: bool) -> anyhow::Result<Backend> {
    Backend::open(c.state_dir, &c.project.env, quiet).await
}

/// A project name as the API takes it.
pub(crate) fn project_of(name: &str) -> anyhow::Result<ProjectName> {
    ProjectName::new(name).map_err(|e| Failure::usage(e.to_string()).into())
}

/// The project name: `-p`, else the spec's.
fn project_name(c: &Common<'_>) -> anyhow::Result<ProjectName> {
    if let Some(p) = &c.project.project_name {
        return project_of(p);
    }
    let project = bulkhead_app::project::open(&c.project)
        .context("cannot tell which project; pass -p NAME or run beside its compose.yaml")?;
    project_of(&project.name)
}

/// A service name as the API takes it (the rule the spec checks it by).
pub(crate) fn service_of(s: &str) -> anyhow::Result<ServiceName> {
    ServiceName::new(s).map_err(|e| Failure::usage(e.to_string()).into())
}

/// Open and check the project locally: its name, the loaded spec, and the verdict that
/// explains a refusal. A spec that cannot be read stops here (exit 2), as `check` reports it.
fn open_checked(c: &Common<'_>) -> Result<(ProjectName, Project, Verdict), ExitCode> {
    match bulkhead_app::check::check(&c.project) {
        Ok((project, verdict)) => match project_of(&project.name) {
            Ok(name) if !c.quiet && !c.json && uses_override(&project) => {
                say!(
                    "using {} (Bulkhead's proposal from `check --fix`; BULKHEAD_OVERRIDE=off leaves it out)",
                    bulkhead_core::imagefit::OVERRIDE_FILE
                );
                Ok((name, project, verdict))
            }
            Ok(name) => Ok((name, project, verdict)),
            Err(e) => Err(crate::failure::report(&e, c.json)),
        },
        Err(e) => {
            crate::check::report_error(&e, c.json);
            Err(ExitCode::from(2))
        }
    }
}

/// Whether the project merged compose.bulkhead.yaml.
fn uses_override(project: &Project) -> bool {
    project.files.iter().any(|f| {
        std::path::Path::new(f).file_name()
            == Some(std::ffi::OsStr::new(bulkhead_core::imagefit::OVERRIDE_FILE))
    })
}

/// A deploy or plan request: the local files for the dispatcher, the packed project for a
/// server.
fn deploy_request(
    b: &Backend,
    c: &Common<'_>,
    project: ProjectName,
    spec: &Project,
    plan: bool,
) -> anyhow::Result<Request> {
    let source = Source::Local(c.project.clone());
    let (route, command) = if plan {
        (
            "plans",
            Command::ProjectPlan {
                project: project.clone(),
                source,
            },
        )
    } else {
        (
            "deploys",
            Command::ProjectUp {
                project: project.clone(),
                source,
            },
        )
    };
    let path = format!("/v1/projects/{}/{route}", encode(project.as_str()));
    let mut request = Request::new(Method::POST, path, command).slow();
    if let Backend::Remote(remote) = b {
        let state = bulkhead_app::state::resolve(None, &c.project.env).ok();
        let packed = crate::bundle::pack(&c.project, state.as_deref(), spec)?;
        if !c.quiet {
            // Names only, never contents; on stderr, so `--json` output stays one document.
            for line in packed.left_out_lines() {
                say!("{line}");
            }
        }
        if !(c.quiet || c.json) {
            say!(
                "uploading {} ({} KiB) to {}",
                packed.dir.display(),
                packed.archive.len().div_ceil(1024),
                remote.url
            );
        }
        request = request.body(packed.body());
    }
    Ok(request)
}

/// A refused spec gets the full story from the local verdict: each rule, where, the way out
/// (with `--json`, the error document carries the API's message, which names each rule).
fn explain(e: anyhow::Error, verdict: &Verdict, json: bool) -> anyhow::Result<ExitCode> {
    let refused = e
        .downcast_ref::<ApiFailure>()
        .filter(|f| f.code == "refused" && !verdict.deployable && !json);
    let Some(f) = refused else {
        return Err(e);
    };
    let head = f
        .message
        .split_once(": service `")
        .map_or(f.message.as_str(), |(head, _)| head);
    say!("error: {head}");
    for (s, finding) in verdict.refusals() {
        let at = finding
            .at
            .as_ref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        say!(
            "  service `{}`: rule {}: {}{at}\n    hint: {}",
            s.name,
            finding.rule.id(),
            finding.message,
            waiver_hint(s, finding)
        );
    }
    Ok(ExitCode::from(1))
}

/// Run one request and close the backend, whatever the outcome.
async fn once(b: Backend, request: Request) -> anyhow::Result<Value> {
    let result = b.call(request).await;
    b.close().await;
    result
}

pub async fn up(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let (project, spec, verdict) = match open_checked(c) {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let b = backend(c, c.quiet || c.json).await?;
    let request = deploy_request(&b, c, project, &spec, false)?;
    let reply: UpReply = match once(b, request).await {
        Ok(reply) => read("deploy reply", reply)?,
        Err(e) => return explain(e, &verdict, c.json),
    };
    if c.json {
        print_json(&reply)?;
    } else {
        emit(&render::up(&reply))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn plan(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let (project, spec, verdict) = match open_checked(c) {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let b = backend(c, c.quiet || c.json).await?;
    let request = deploy_request(&b, c, project, &spec, true)?;
    let reply: PlanReply = match once(b, request).await {
        Ok(r) => read("plan reply", r)?,
        Err(e) => return explain(e, &verdict, c.json),
    };
    if c.json {
        emit_json(&json!({
            "project": reply.project,
            "plan": reply.plan,
            "empty": reply.plan.is_empty(),
        }))?;
    } else {
        emit(&render::plan(&reply.project, &reply.plan))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ps(c: &Common<'_>) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let path = format!("/v1/projects/{}/services", encode(project.as_str()));
    let command = Command::ServiceList {
        project: project.clone(),
    };
    let services = match once(
        backend(c, true).await?,
        Request::new(Method::GET, path, command),
    )
    .await
    {
        Ok(reply) => read::<ServicesReply>("service listing", reply)?.services,
        // Nothing deployed under that name: an empty listing, as `docker compose ps` gives.
        Err(e)
            if e.downcast_ref::<ApiFailure>()
                .is_some_and(|f| f.status == 404) =>
        {
            if !(c.quiet || c.json) {
                say!("project {project}: nothing deployed");
            }
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let containers = render::containers(&services);
    if c.json {
        emit_json(&json!({
            "project": project.as_str(),
            "services": services,
            "containers": containers,
        }))?;
    } else {
        emit(&render::ps(&containers))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(
    c: &Common<'_>,
    service: &str,
    follow: bool,
    tail: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let service = service_of(service)?;
    if follow && c.json {
        return Err(
            Failure::usage("--json prints one document, so it does not go with --follow")
                .hint("drop one of them")
                .into(),
        );
    }
    let b = backend(c, true).await?;
    let result = print_logs(&b, &project, &service, follow, tail, c.json).await;
    b.close().await;
    result
}

/// Print the logs; with `follow`, ask again every second and print the lines not seen yet
/// (best effort: lines are counted per container).
async fn print_logs(
    b: &Backend,
    project: &ProjectName,
    service: &ServiceName,
    follow: bool,
    tail: Option<usize>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut first = true;
    loop {
        // Following counts every line, so it asks for all of them; the first batch is cut to
        // `tail` here.
        let ask = if follow { None } else { tail };
        let path = format!(
            "/v1/projects/{}/services/{}/logs{}",
            encode(project.as_str()),
            encode(service.as_str()),
            query(&[("tail", ask.map(|n| n.to_string()))])
        );
        let command = Command::ServiceLogs {
            project: project.clone(),
            service: service.clone(),
            tail: ask,
        };
        let reply: LogsReply = read(
            "logs reply",
            b.call(Request::new(Method::GET, path, command)).await?,
        )?;
        if json {
            print_json(&reply)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = String::new();
        for batch in reply.containers {
            let lines = &batch.lines;
            let mut skip = seen
                .get(&batch.container)
                .copied()
                .unwrap_or(0)
                .min(lines.len());
            if first && let Some(n) = tail {
                skip = skip.max(lines.len().saturating_sub(n));
            }
            for l in &lines[skip..] {
                let _ = writeln!(out, "{} | {l}", batch.container);
            }
            seen.insert(batch.container, lines.len());
        }
        emit(&out)?;
        if !follow || crate::output::stdout_closed() {
            return Ok(ExitCode::SUCCESS);
        }
        first = false;
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

pub async fn releases(c: &Common<'_>, service: &str) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let service = service_of(service)?;
    let path = format!(
        "/v1/projects/{}/services/{}/releases",
        encode(project.as_str()),
        encode(service.as_str())
    );
    let command = Command::ReleaseList {
        project: project.clone(),
        service: service.clone(),
    };
    let reply: ReleasesReply = read(
        "release listing",
        once(
            backend(c, true).await?,
            Request::new(Method::GET, path, command),
        )
        .await?,
    )?;
    if reply.releases.is_empty() {
        return Err(Failure::refused(format!(
            "service `{service}` of project {project} has no releases"
        ))
        .hint("run `bulkhead up` first")
        .into());
    }
    if c.json {
        print_json(&reply)?;
    } else {
        emit(&render::releases(&reply))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rollback(c: &Common<'_>, service: &str, to: Option<u64>) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let service = service_of(service)?;
    let path = format!(
        "/v1/projects/{}/services/{}/rollbacks",
        encode(project.as_str()),
        encode(service.as_str())
    );
    let command = Command::ServiceRollback {
        project: project.clone(),
        service: service.clone(),
        to,
    };
    let request = Request::new(Method::POST, path, command)
        .body(json!({ "to": to }))
        .slow();
    let reply: RollbackReply = read(
        "rollback reply",
        once(backend(c, c.quiet || c.json).await?, request).await?,
    )?;
    if c.json {
        print_json(&reply)?;
    } else {
        emit(&format!(
            "service {service} rolled back to release {}\n{}",
            reply.release,
            render::plan(project.as_str(), &reply.plan)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn down(c: &Common<'_>, volumes: bool) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let path = format!(
        "/v1/projects/{}{}",
        encode(project.as_str()),
        query(&[("volumes", volumes.then(|| "true".to_string()))])
    );
    let command = Command::ProjectDown {
        project: project.clone(),
        volumes,
    };
    let request = Request::new(Method::DELETE, path, command).slow();
    let reply: DownReply = read(
        "down reply",
        once(backend(c, c.quiet || c.json).await?, request).await?,
    )?;
    if c.json {
        print_json(&reply)?;
    } else {
        emit(&format!(
            "project {project}: {} container(s) and {} network(s) removed\n",
            reply.removed.len(),
            reply.networks_removed.len()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The most replicas one service may have (the API's bound).
const MAX_REPLICAS: u32 = bulkhead_core::spec::MAX_REPLICAS;

pub async fn scale(c: &Common<'_>, service: &str, replicas: u32) -> anyhow::Result<ExitCode> {
    let project = project_name(c)?;
    let service = service_of(service)?;
    if replicas > MAX_REPLICAS {
        return Err(Failure::usage(format!(
            "replicas must be between 0 and {MAX_REPLICAS} (got {replicas})"
        ))
        .into());
    }
    let path = format!(
        "/v1/projects/{}/services/{}/replicas",
        encode(project.as_str()),
        encode(service.as_str())
    );
    let command = Command::ServiceScale {
        project: project.clone(),
        service: service.clone(),
        replicas,
    };
    let request = Request::new(Method::PUT, path, command)
        .body(json!({ "replicas": replicas }))
        .slow();
    let reply: ScaleReply = read(
        "scale reply",
        once(backend(c, c.quiet || c.json).await?, request).await?,
    )?;
    if c.json {
        print_json(&reply)?;
    } else if reply.changed {
        emit(&format!(
            "service {service} of project {project}: scaled to {replicas} replica(s)\n"
        ))?;
    } else {
        emit(&format!(
            "service {service} of project {project}: already {replicas} replica(s), nothing changed\n"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
