//! Locations in spec files and the one error type every spec problem is reported with.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A place in a spec file: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Span {
        Span {
            file: Arc::clone(file),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// A span for something that has no place in a file (a command-line flag, a default).
    pub fn synthetic(what: &str) -> Span {
        Span {
            file: Arc::from(what),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// What kind of problem a [`SpecError`] is, for callers that branch on it (exit codes, tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The YAML itself is malformed.
    Yaml,
    /// A key Bulkhead does not know or does not support.
    UnknownKey,
    /// A value of the wrong shape (a list where a map is expected, text where a number is).
    Shape,
    /// A value of the right shape that is wrong (memory "12ZB", port 70000, a cycle).
    Value,
    /// Interpolation failed (a required variable is missing, a stray `$`).
    Interpolation,
    /// A file could not be found or read.
    Io,
}

/// One problem in a spec, with where it is and, when there is one, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct SpecError {
    pub kind: ErrorKind,
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

impl SpecError {
    pub fn new(kind: ErrorKind, span: &Span, message: impl Into<String>) -> SpecError {
        SpecError {
            kind,
            span: span.clone(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn shape(span: &Span, message: impl Into<String>) -> SpecError {
        SpecError::new(ErrorKind::Shape, span, message)
    }

    pub fn value(span: &Span, message: impl Into<String>) -> SpecError {
        SpecError::new(ErrorKind::Value, span, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> SpecError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a spec, in file order. A spec with any error is not loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> SpecErrors {
        SpecErrors(vec![e])
    }
}
