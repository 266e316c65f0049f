//! The names people give things — projects, services, secrets, accounts, tokens — each kind
//! checked by one rule: its pattern and length bound (constants the OpenAPI document states)
//! and the check that enforces exactly them. The spec loader, the API's routes, the commands
//! and the CLI all decide through these, so a name one accepts the others accept.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of name. `pattern` (with `max_len` and `reserved`) is what [`NameRule::check`]
/// accepts, written in the subset of regular expressions that ECMA-262 (JSON Schema), Python
/// and Rust's `regex` read alike; a test holds the two to each other.
#[derive(Clone, Copy)]
pub struct NameRule {
    /// What is named: `project`, `service`, ...
    pub kind: &'static str,
    /// Anchored (`^...$`).
    pub pattern: &'static str,
    /// Longest name, in characters (Unicode scalar values, as JSON Schema's `maxLength`).
    pub max_len: usize,
    /// Names the pattern allows that are taken all the same.
    pub reserved: &'static [&'static str],
    /// The rule in words (the OpenAPI document's description).
    pub about: &'static str,
    /// The reason `name` is refused, if it is.
    refuse: fn(&str) -> Option<&'static str>,
}

impl NameRule {
    /// `Err(reason)` when `name` breaks the rule; the reason is one clause ("it is empty").
    pub fn check(&self, name: &str) -> Result<(), &'static str> {
        match (self.refuse)(name) {
            Some(reason) => Err(reason),
            None if self.reserved.contains(&name) => {
                Err("it is reserved for Bulkhead's own actions")
            }
            None => Ok(()),
        }
    }

    /// [`check`](Self::check), refused as a [`NameError`].
    pub fn validate(&self, name: &str) -> Result<(), NameError> {
        self.check(name).map_err(|reason| NameError {
            kind: self.kind,
            name: name.to_owned(),
            reason,
        })
    }
}

impl fmt::Debug for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameRule")
            .field("kind", &self.kind)
            .field("pattern", &self.pattern)
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// A name refused by its rule. The name is shown escaped (a control character never reaches a
/// terminal raw).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} name `{}` is not valid: {reason}", name.escape_debug())]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
    pub reason: &'static str,
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn lower_or_digit(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Project names as Compose accepts them (`-p`, `name:`, `COMPOSE_PROJECT_NAME`): they prefix
/// every container, network and volume name on the engine.
pub const PROJECT: NameRule = NameRule {
    kind: "project",
    pattern: "^[a-z0-9][a-z0-9_-]*$",
    max_len: 63,
    reserved: &[],
    about: "lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most 63 characters",
    refuse: |name| {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(lower_or_digit)
            && name
                .chars()
                .all(|c| lower_or_digit(c) || matches!(c, '_' | '-'));
        // A name over 63 characters gets the same sentence (the one Compose users know).
        (!ok).then_some(
            "use lowercase letters, digits, `_` and `-`, starting with a letter or digit",
        )
    },
};

/// Service names as Docker Compose accepts them (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), at most 63 (a
/// DNS label), and not digits only (resolvers read `123` as an address; Compose refuses it too).
/// Upper case is kept as written in labels and container names
/// (`<project>-<service>-<replica>`); image and network names take [`ServiceName::engine_part`].
pub const SERVICE: NameRule = NameRule {
    kind: "service",
    pattern: "^(?:[a-zA-Z][a-zA-Z0-9_.-]*|[0-9]+[a-zA-Z_.-][a-zA-Z0-9_.-]*)$",
    max_len: 63,
    reserved: &[],
    about: "letters, digits, `_`, `.` and `-`, starting with a letter or digit, not digits only, at most 63 characters",
    refuse: |name| {
        let ok = name.len() <= 63
            && name.starts_with(alnum)
            && name
                .chars()
                .all(|c| alnum(c) || matches!(c, '_' | '.' | '-'));
        if ok && name.bytes().all(|b| b.is_ascii_digit()) {
            return Some("a name of digits only reads as an IP address; add a letter");
        }
        (!ok).then_some(
            "use letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters",
        )
    },
};

/// Secret names: a file name under `/run/secrets/`, so never empty, never `/`, `..` or NUL.
pub const SECRET: NameRule = NameRule {
    kind: "secret",
    pattern: "^[A-Za-z0-9](?:\\.?[A-Za-z0-9_-])*\\.?$",
    max_len: 63,
    reserved: &[],
    about: "letters, digits, `.`, `_` and `-`, starting with a letter or digit, never `..`, at most 63 characters",
    refuse: |name| {
        if name.is_empty() {
            return Some("it is empty");
        }
        if name.contains('\0') {
            return Some("it contains a NUL byte");
        }
        if name.contains('/') {
            return Some("it contains `/` (a secret name is not a path)");
        }
        if name.contains("..") {
            return Some("it contains `..` (a secret name is not a path)");
        }
        if name.len() > 63 {
            return Some("it is longer than 63 characters");
        }
        if !name.starts_with(alnum) {
            return Some("it must start with a letter or a digit");
        }
        if !name.chars().all(|c| alnum(c) || ".-_".contains(c)) {
            return Some("use only letters, digits, `.`, `_` and `-`");
        }
        None
    },
};

/// User and service-account names; `local` and `system` name Bulkhead's own actions in the
/// audit log, so no account may take them.
pub const USER: NameRule = NameRule {
    kind: "user",
    pattern: "^[a-z0-9][a-z0-9._-]*$",
    max_len: 63,
    reserved: &["local", "system"],
    about: "lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63 characters; not `local` or `system`",
    refuse: |name| {
        if name.is_empty() {
            return Some("it is empty");
        }
        if name.len() > 63 {
            return Some("it is longer than 63 characters");
        }
        if !name.starts_with(lower_or_digit) {
            return Some("it must start with a lowercase letter or a digit");
        }
        if !name.chars().all(|c| lower_or_digit(c) || ".-_".contains(c)) {
            return Some(
                "use only lowercase letters, digits, `.`, `_` and `-` (at most 63 characters)",
            );
        }
        None
    },
};

/// A token's label ("laptop", "ci deploys"): printed in listings, so no control character,
/// and not blank. The pattern spells out `char::is_control` and `char::is_whitespace`.
pub const TOKEN_NAME: NameRule = NameRule {
    kind: "token",
    pattern: concat!(
        "^[^\\u0000-\\u001f\\u007f-\\u009f]*",
        "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        "[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    ),
    max_len: 64,
    reserved: &[],
    about: "1 to 64 characters, not all spaces, no control characters",
    refuse: |name| {
        if name.trim().is_empty() {
            return Some("it is empty");
        }
        if name.chars().count() > 64 {
            return Some("it is longer than 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Some("it contains a control character");
        }
        None
    },
};

/// A token's public id: 16 lowercase hex characters.
pub const TOKEN_ID: NameRule = NameRule {
    kind: "token id",
    pattern: "^[0-9a-f]{16}$",
    max_len: 16,
    reserved: &[],
    about: "16 lowercase hex characters",
    refuse: |id| {
        let ok = id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (!ok).then_some("it must be 16 lowercase hex characters")
    },
};

/// Every rule, for the tests and the OpenAPI document.
pub const ALL: &[&NameRule] = &[&PROJECT, &SERVICE, &SECRET, &USER, &TOKEN_NAME, &TOKEN_ID];

/// A service's name, checked by [`SERVICE`]: what the API's service routes and the CLI's
/// `logs`, `scale`, `rollback` and `releases` take.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    pub fn new(name: &str) -> Result<ServiceName, NameError> {
        SERVICE.validate(name)?;
        Ok(ServiceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as part of the engine names Bulkhead derives in lower case: an image
    /// repository (Docker takes lower case only) and the security-group networks
    /// (`<project>-<service>-in`; the host firewall's rule tags are lower case). A spec never
    /// has two services whose names differ in case alone (see `spec::validate`), so this is as
    /// unique as the name.
    pub fn engine_part(name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

impl TryFrom<String> for ServiceName {
    type Error = NameError;
    fn try_from(name: String) -> Result<ServiceName, NameError> {
        SERVICE.validate(&name)?;
        Ok(ServiceName(name))
    }
}

impl From<ServiceName> for String {
    fn from(name: ServiceName) -> String {
        name.0
    }
}

impl FromStr for ServiceName {
    type Err = NameError;
    fn from_str(name: &str) -> Result<ServiceName, NameError> {
        ServiceName::new(name)
    }
}

impl AsRef<str> for ServiceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ServiceName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
