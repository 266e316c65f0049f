//! How a command fails: one sentence on stderr, a `hint:` line when there is a way out (with
//! `--json`: one `{"error": ...}` document on stdout instead), and the exit code (1 refused or
//! failed, 2 bad usage or unreadable input, 3 the environment cannot be used).

use std::fmt;
use std::process::ExitCode;

use bulkhead_app::api::ApiError;
use bulkhead_client::ClientError;
use bulkhead_ports::RuntimeError;
use serde_json::json;

use crate::output::{emit_json, say};

/// Refused or failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad usage or unreadable input.
pub const EXIT_USAGE: u8 = 2;
/// The environment cannot be used: no Docker Engine (or server) answers, or it is too old.
pub const EXIT_ENVIRONMENT: u8 = 3;

/// A failure that knows its exit code and, maybe, the fix. Carried inside `anyhow::Error`
/// (with or without context on top); `report` finds it.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// Refused or failed: exit 1.
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILED,
            message: message.into(),
            hint: None,
        }
    }

    /// Bad usage or unreadable input: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }

    /// The environment cannot be used (no engine or server answers): exit 3.
    pub fn environment(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_ENVIRONMENT,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

/// The API said no (a server's `{"error": {...}}`, or the embedded dispatcher's `ApiError`).
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// From a server (every refusal is exit 1) rather than the embedded dispatcher.
    pub remote: bool,
}

impl ApiFailure {
    /// The message without an inline `(hint: ...)`, which becomes the hint line.
    fn split(&self) -> (&str, Option<&str>) {
        match self.message.rsplit_once(" (hint: ") {
            Some((head, hint)) if hint.ends_with(')') => (head, hint.strip_suffix(')')),
            _ => (&self.message, None),
        }
    }

    pub fn hint(&self) -> Option<String> {
        if let (_, Some(hint)) = self.split() {
            return Some(hint.to_string());
        }
        if self.status == 401 {
            return Some(
                "the token is unknown, revoked or expired: ask an admin for a new one \
                 (`bulkhead token create`), then set BULKHEAD_TOKEN or `bulkhead login` again"
                    .into(),
            );
        }
        match self.code.as_str() {
            "audit_unavailable" => {
                Some("the audit log cannot be written; see the server's log".into())
            }
            "engine_unavailable" if self.remote => Some(
                "the server's Docker Engine does not answer: ask its operator to start dockerd"
                    .into(),
            ),
            "engine_unavailable" => Some(
                "is dockerd running (`systemctl status docker`), and is DOCKER_HOST (default \
                 unix:///var/run/docker.sock) its socket?"
                    .into(),
            ),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.code.as_str() {
            "invalid_spec" if !self.remote => EXIT_USAGE,
            "engine_unavailable" => EXIT_ENVIRONMENT,
            _ => EXIT_FAILED,
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (message, _) = self.split();
        match self.code.as_str() {
            "forbidden" | "unauthenticated" => write!(f, "{}: {message}", self.code),
            _ => f.write_str(message),
        }
    }
}

impl std::error::Error for ApiFailure {}

/// The dispatcher's error as the CLI reports it.
pub fn api_failure(e: ApiError) -> ApiFailure {
    ApiFailure {
        status: e.status,
        code: e.code.to_string(),
        message: e.message,
        remote: false,
    }
}

/// A client error as the CLI reports it: the server's refusals are `ApiFailure`s (exit 1);
/// a bad URL, token or CA file is bad input (exit 2); no server answering at the address is
/// the environment (3); any other failure on the way is a failure (1).
pub fn client_failure(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Api {
            status,
            code,
            message,
        } => ApiFailure {
            status,
            code,
            message,
            remote: true,
        }
        .into(),
        ClientError::NotHttps { .. }
        | ClientError::Url { .. }
        | ClientError::Env { .. }
        | ClientError::Token
        | ClientError::CaFile { .. } => Failure::usage(e.to_string()).into(),
        ClientError::Connect { ref server, .. } => {
            let hint = format!(
                "is `bulkhead server` running at {server}? Check BULKHEAD_URL (or `bulkhead login`); unset it to run embedded"
            );
            Failure::environment(e.to_string()).hint(hint).into()
        }
        other => Failure::refused(other.to_string()).into(),
    }
}

/// Print `e` (with its causes, each said once) and its hint — or, for `--json`, one
/// `{"error": {"code", "message", "hint"}}` document on stdout — and return the exit code.
/// An engine that cannot be reached is exit 3; other errors that are neither a `Failure` nor
/// an `ApiFailure` are unreadable input: 2.
pub fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let (code, kind, hint) = classify(e);
    let message = sentence(e);
    if json {
        let mut error = json!({ "code": kind, "message": message });
        if let (Some(hint), Some(map)) = (&hint, error.as_object_mut()) {
            map.insert("hint".into(), hint.clone().into());
        }
        let _ = emit_json(&json!({ "error": error }));
    } else {
        say!("error: {message}");
        if let Some(hint) = hint {
            say!("  hint: {hint}");
        }
    }
    ExitCode::from(code)
}

/// The exit code, an error code for JSON, and the hint.
fn classify(e: &anyhow::Error) -> (u8, String, Option<String>) {
    if let Some(f) = e.downcast_ref::<ApiFailure>() {
        return (f.exit_code(), f.code.clone(), f.hint());
    }
    if let Some(r) = e.chain().find_map(|c| c.downcast_ref::<RuntimeError>())
        && let Some(hint) = engine_hint(r)
    {
        return (EXIT_ENVIRONMENT, "engine_unavailable".into(), Some(hint));
    }
    let (code, hint) = match e.downcast_ref::<Failure>() {
        Some(f) => (f.code, f.hint.clone()),
        None => (EXIT_USAGE, None),
    };
    let kind = match code {
        EXIT_FAILED => "failed",
        EXIT_ENVIRONMENT => "environment",
        _ => "usage",
    };
    (code, kind.into(), hint)
}

/// What to do when the engine does not answer or is too old (`None`: another engine error).
pub fn engine_hint(e: &RuntimeError) -> Option<String> {
    match e {
        RuntimeError::Unreachable { endpoint, .. } => Some(format!(
            "is dockerd (the Docker Engine, 20.10 or newer) running (`systemctl status docker`), \
             and is {endpoint} its socket? Bulkhead uses DOCKER_HOST, else \
             unix:///var/run/docker.sock; the socket needs root (or the docker group)"
        )),
        RuntimeError::TooOld { .. } => {
            Some("Bulkhead needs Docker Engine 20.10 or newer (API 1.41 or newer)".into())
        }
        _ => None,
    }
}

/// `e` and its causes as one sentence, `outer: inner`, leaving out a cause whose text an outer
/// message already carries (errors that quote their source would otherwise say it twice).
pub fn sentence(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that quotes its source in its message (as many `thiserror` ones do).
    #[derive(Debug)]
    struct Quoting {
        source: std::io::Error,
    }

    impl fmt::Display for Quoting {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "cannot run iptables: {}", self.source)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_an_outer_message_quotes_is_said_once() {
        let inner = std::io::Error::other("no such file");
        let e = anyhow::Error::new(Quoting { source: inner }).context("opening the firewall");
        assert_eq!(
            sentence(&e),
            "opening the firewall: cannot run iptables: no such file"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(sentence(&plain), "outer: inner");
    }

    #[test]
    fn an_unreachable_engine_is_exit_3_with_what_to_do() {
        let e: anyhow::Error = RuntimeError::Unreachable {
            endpoint: "unix:///nonexistent.sock".into(),
            reason: "No such file or directory".into(),
        }
        .into();
        let (code, kind, hint) = classify(&e.context("opening the engine"));
        assert_eq!(
            (code, kind.as_str()),
            (EXIT_ENVIRONMENT, "engine_unavailable")
        );
        assert!(hint.is_some_and(|h| h.contains("unix:///nonexistent.sock")));
        let usage: anyhow::Error = Failure::usage("bad").into();
        assert_eq!(classify(&usage).0, EXIT_USAGE);
    }

    #[test]
    fn inline_hints_become_hint_lines() {
        let f = ApiFailure {
            status: 422,
            code: "unsupported".into(),
            message: "service `a`: no (hint: do this)".into(),
            remote: true,
        };
        assert_eq!(f.to_string(), "service `a`: no");
        assert_eq!(f.hint().as_deref(), Some("do this"));
        let denied = ApiFailure {
            status: 403,
            code: "forbidden".into(),
            message: "user dev may not".into(),
            remote: true,
        };
        assert_eq!(denied.to_string(), "forbidden: user dev may not");
        assert_eq!(denied.exit_code(), 1);
    }
}
