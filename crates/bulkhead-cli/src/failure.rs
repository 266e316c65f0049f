//! How a command fails: one sentence on stderr, a `hint:` line when there is a way out, and
//! the exit code (1 refused or failed, 2 bad usage or unreadable input).

use std::fmt;
use std::process::ExitCode;

use crate::output::say;

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
            code: 1,
            message: message.into(),
            hint: None,
        }
    }

    /// Bad usage or unreadable input: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
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
        (self.code == "audit_unavailable")
            .then(|| "the audit log cannot be written; see the server's log".into())
    }

    pub fn exit_code(&self) -> u8 {
        if !self.remote && self.code == "invalid_spec" {
            2
        } else {
            1
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

/// Print `e` (with its causes, `{:#}`) and its hint; return the exit code. Errors that are
/// neither a `Failure` nor an `ApiFailure` are unreadable input or a broken environment: 2.
pub fn report(e: &anyhow::Error) -> ExitCode {
    say!("error: {e:#}");
    let (code, hint) = if let Some(f) = e.downcast_ref::<Failure>() {
        (f.code, f.hint.clone())
    } else if let Some(f) = e.downcast_ref::<ApiFailure>() {
        (f.exit_code(), f.hint())
    } else {
        (2, None)
    };
    if let Some(hint) = hint {
        say!("  hint: {hint}");
    }
    ExitCode::from(code)
}
