//! bulkhead-demo binary: command-line parsing and dispatch to serve/probe/connect.
//!
//! ```text
//! bulkhead-demo web|api|store [--listen ADDR]   serve a tier (env LISTEN, API_URL, STORE_URL)
//! bulkhead-demo probe URL...                    GET URL(s); exit 0 if one is 2xx, else 1
//! bulkhead-demo connect HOST:PORT [--timeout-ms N]  TCP connect; exit 0 if it succeeds
//! bulkhead-demo loop URL                        GET URL until stdin closes; print the tally
//! ```
//!
//! Signals: std offers no signal handling without `unsafe` or dependencies,
//! so the server installs none. Run it under an init (`docker run --init`,
//! compose `init: true`): tini is PID 1 and forwards SIGTERM, and because this
//! process is then *not* PID 1 the kernel applies SIGTERM's default action and
//! terminates it immediately. (As PID 1 without `--init`, SIGTERM would be
//! ignored and Docker would fall back to SIGKILL after the stop timeout.)

use bulkhead_demo::{
    client,
    roles::Role,
    server::{error_line, log_line},
};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage:
  bulkhead-demo web|api|store [--listen ADDR]
  bulkhead-demo probe URL [URL...]
  bulkhead-demo connect HOST:PORT [--timeout-ms N]
  bulkhead-demo loop URL";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("probe") => probe(&args[1..]),
        Some("connect") => connect(&args[1..]),
        Some("loop") => request_loop(&args[1..]),
        Some("-h" | "--help" | "help") => {
            log_line(USAGE);
            return ExitCode::SUCCESS;
        }
        Some(cmd) => match Role::parse(cmd) {
            Some(role) => serve(role, &args[1..]),
            None => Err(Failure::Usage(format!("unknown command {cmd:?}"))),
        },
        None => Err(Failure::Usage("missing command".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            error_line(&format!("bulkhead-demo: {msg}\n{USAGE}"));
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            error_line(&format!("bulkhead-demo: {msg}"));
            ExitCode::FAILURE
        }
    }
}

/// Why a command did not succeed: bad invocation (exit 2) or failure (exit 1).
enum Failure {
    Usage(String),
    Failed(String),
}

/// Extracts `--name VALUE` (or `--name=VALUE`) and returns the remaining args.
fn take_flag(args: &[String], name: &str) -> Result<(Option<String>, Vec<String>), Failure> {
    let mut value = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == name {
            let v = it
                .next()
                .ok_or(Failure::Usage(format!("{name} needs a value")))?;
            value = Some(v.clone());
        } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            value = Some(v.to_string());
        } else {
            rest.push(a.clone());
        }
    }
    Ok((value, rest))
}

fn no_extra(rest: &[String]) -> Result<(), Failure> {
    match rest.first() {
        Some(a) => Err(Failure::Usage(format!("unexpected argument {a:?}"))),
        None => Ok(()),
    }
}

fn serve(role: Role, args: &[String]) -> Result<(), Failure> {
    let (listen, rest) = take_flag(args, "--listen")?;
    no_extra(&rest)?;
    let listen = listen
        .or_else(|| std::env::var("LISTEN").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| role.default_listen().to_string());
    let upstream = match role.upstream_env() {
        Some((var, default)) => std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string()),
        None => String::new(),
    };
    if !upstream.is_empty() {
        client::parse_url(&upstream).map_err(Failure::Usage)?;
    }
    let listener = TcpListener::bind(&listen)
        .map_err(|e| Failure::Failed(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_or(listen, |a| a.to_string());
    let via = if upstream.is_empty() {
        "none"
    } else {
        &upstream
    };
    log_line(&format!(
        "{} listening on {bound} (upstream: {via})",
        role.name()
    ));
    bulkhead_demo::run(role, listener, upstream);
    Ok(())
}

/// GETs each URL in turn; succeeds as soon as one answers 2xx. Several URLs
/// let one image-level `HEALTHCHECK` cover every role (each role listens on a
/// different port and a refused loopback connect fails instantly).
fn probe(urls: &[String]) -> Result<(), Failure> {
    if urls.is_empty() {
        return Err(Failure::Usage("probe needs a URL".into()));
    }
    let mut errors = Vec::new();
    for url in urls {
        match client::get(url, Duration::from_secs(2)) {
            Ok(resp) if (200..300).contains(&resp.status) => return Ok(()),
            Ok(resp) => errors.push(format!("GET {url}: status {}", resp.status)),
            Err(e) => errors.push(e),
        }
    }
    Err(Failure::Failed(errors.join("; ")))
}

/// GETs URL back to back until stdin closes; prints `started` after the first request and
/// the tally at the end (always exit 0 once running: the tally is the result).
fn request_loop(args: &[String]) -> Result<(), Failure> {
    let [url] = args else {
        return Err(Failure::Usage("loop takes exactly one URL".into()));
    };
    client::parse_url(url).map_err(Failure::Usage)?;
    let tally = bulkhead_demo::load::run(url);
    log_line(&tally.summary());
    Ok(())
}

fn connect(args: &[String]) -> Result<(), Failure> {
    let (timeout, rest) = take_flag(args, "--timeout-ms")?;
    let [target] = rest.as_slice() else {
        return Err(Failure::Usage("connect takes exactly one HOST:PORT".into()));
    };
    let ms: u64 = match timeout {
        Some(t) => t
            .parse()
            .ok()
            .filter(|&ms| ms > 0)
            .ok_or(Failure::Usage(format!("bad --timeout-ms {t:?}")))?,
        None => 2000,
    };
    let (host, port) = client::split_host_port(target).map_err(Failure::Usage)?;
    let port = port.ok_or(Failure::Usage(format!("{target:?} has no port")))?;
    client::connect(&host, port, Duration::from_millis(ms)).map_err(Failure::Failed)?;
    log_line(&format!("connected to {target}"));
    Ok(())
}
