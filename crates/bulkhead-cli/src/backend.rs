//! Where a command runs: against a server (BULKHEAD_URL and BULKHEAD_TOKEN, else the login
//! context) or embedded — the same dispatcher in-process over the local state directory, so
//! that both authenticate, authorize and audit alike. A request carries both halves: the route
//! (method, path, JSON body) for a server and the typed `Command` for the dispatcher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use zeroize::Zeroize as _;

use bulkhead_app::api::{Caller, Command, Reply};
use bulkhead_app::root::{Root, RootError};
use bulkhead_audit::OpenError;
use bulkhead_client::{Client, ClientOptions, Method};
use bulkhead_ports::Progress;

use crate::failure::{Failure, api_failure, client_failure};
use crate::output::say;
use crate::progress;

/// Deploys build images and wait for health checks: a long deadline.
const SLOW_REQUEST: Duration = Duration::from_secs(30 * 60);
/// Largest reply of a slow request (the audit export, long logs).
const SLOW_REPLY: usize = 512 << 20;

/// A server to talk to, and where that came from (for messages).
pub struct RemoteConfig {
    pub url: String,
    token: String,
    pub ca: Option<PathBuf>,
    pub origin: &'static str,
}

/// Environment > login context > embedded (`None`). An explicit `--state-dir` with a server
/// configured is ambiguous and refused.
pub fn select(
    state_dir: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Option<RemoteConfig>> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let remote = match (get("BULKHEAD_URL"), get("BULKHEAD_TOKEN")) {
        (Some(url), Some(token)) => Some(RemoteConfig {
            url,
            token,
            ca: get("BULKHEAD_CA").map(PathBuf::from),
            origin: "BULKHEAD_URL",
        }),
        (Some(_), None) | (None, Some(_)) => {
            let (set, missing) = if get("BULKHEAD_URL").is_some() {
                ("BULKHEAD_URL", "BULKHEAD_TOKEN")
            } else {
                ("BULKHEAD_TOKEN", "BULKHEAD_URL")
            };
            return Err(Failure::usage(format!("{set} is set but {missing} is not"))
                .hint("set both to talk to a server, or neither to run embedded")
                .into());
        }
        (None, None) => crate::context::load(env)?.map(|c| RemoteConfig {
            url: c.url,
            token: c.token,
            ca: c.ca,
            origin: "the login context",
        }),
    };
    if let (Some(r), Some(dir)) = (&remote, state_dir) {
        return Err(Failure::usage(format!(
            "--state-dir {} is for running without a server, but {} points at {}",
            dir.display(),
            r.origin,
            r.url
        ))
        .hint("drop --state-dir to use the server, or unset BULKHEAD_URL and BULKHEAD_TOKEN (or `bulkhead logout`) to use the state directory")
        .into());
    }
    Ok(remote)
}

/// One request, in both forms.
pub struct Request {
    pub method: Method,
    /// Path and query, percent-encoded.
    pub path: String,
    pub body: Option<Value>,
    pub command: Command,
    /// Deploys, rollbacks, exports: the long deadline.
    pub slow: bool,
    /// The body carries a secret value: its strings are zeroed once the call is over.
    pub sensitive: bool,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>, command: Command) -> Request {
        Request {
            method,
            path: path.into(),
            body: None,
            command,
            slow: false,
            sensitive: false,
        }
    }

    pub fn body(mut self, body: Value) -> Request {
        self.body = Some(body);
        self
    }

    pub fn slow(mut self) -> Request {
        self.slow = true;
        self
    }

    pub fn sensitive(mut self) -> Request {
        self.sensitive = true;
        self
    }
}

/// Zero every string of `v` in place (a secret's base64 in a request body).
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

pub struct Remote {
    quick: Client,
    slow: Client,
    pub url: String,
}

pub struct Embedded {
    root: Root,
    /// The progress spinner (terminal only), cleared when the command is done.
    bar: Option<indicatif::ProgressBar>,
}

/// What a command talks to.
pub enum Backend {
    Remote(Remote),
    Embedded(Embedded),
}

impl Backend {
    /// Connect to the configured server, or open the state directory. `quiet` silences the
    /// embedded deploy progress.
    pub async fn open(
        state_dir: Option<&Path>,
        env: &BTreeMap<String, String>,
        quiet: bool,
    ) -> anyhow::Result<Backend> {
        match select(state_dir, env)? {
            Some(config) => Ok(Backend::Remote(Remote::new(&config)?)),
            None => Ok(Backend::Embedded(
                Embedded::open(state_dir, env, quiet).await?,
            )),
        }
    }

    /// Execute `request`; its JSON reply, or why not (`ApiFailure`, `Failure`).
    pub async fn call(&self, request: Request) -> anyhow::Result<Value> {
        let Request {
            method,
            path,
            mut body,
            command,
            slow,
            sensitive,
        } = request;
        let result = match self {
            Backend::Remote(r) => {
                drop(command);
                let client = if slow { &r.slow } else { &r.quick };
                client
                    .request(method, &path, body.as_ref())
                    .await
                    .map_err(client_failure)
            }
            Backend::Embedded(e) => match e.execute(command).await {
                Ok(Reply::Json(v)) => Ok(v),
                Ok(Reply::Lines(_)) => Err(anyhow::anyhow!("the reply is not a JSON document")),
                Err(err) => Err(err),
            },
        };
        if sensitive && let Some(b) = body.as_mut() {
            wipe(b);
        }
        result
    }

    /// Execute `request`, whose reply is JSON lines (the audit export).
    pub async fn lines(&self, request: Request) -> anyhow::Result<Vec<u8>> {
        match self {
            Backend::Remote(r) => {
                let mut connection = r.slow.connect().await.map_err(client_failure)?;
                let reply = connection
                    .send(request.method.clone(), &request.path, None)
                    .await
                    .map_err(client_failure)?;
                if (200..300).contains(&reply.status) {
                    return Ok(reply.body.to_vec());
                }
                match reply.into_json(&request.method, &request.path) {
                    Ok(_) => Err(anyhow::anyhow!("unexpected reply")),
                    Err(e) => Err(client_failure(e)),
                }
            }
            Backend::Embedded(e) => match e.execute(request.command).await? {
                Reply::Lines(bytes) => Ok(bytes),
                Reply::Json(v) => Ok(format!("{v}\n").into_bytes()),
            },
        }
    }

    /// Clear the progress spinner and close the audit log with a final checkpoint.
    pub async fn close(self) {
        if let Backend::Embedded(e) = self {
            if let Some(bar) = &e.bar {
                bar.finish_and_clear();
            }
            if let Err(err) = e.root.close().await {
                say!("warning: {err}");
            }
        }
    }
}

impl Remote {
    fn new(config: &RemoteConfig) -> anyhow::Result<Remote> {
        let quick = Client::new(&config.url, &config.token, config.ca.clone())
            .map_err(client_failure)
            .with_context(|| format!("talking to the server from {}", config.origin))?;
        let options = ClientOptions {
            request_timeout: SLOW_REQUEST,
            max_response_bytes: SLOW_REPLY,
            ..ClientOptions::default()
        };
        let slow = Client::with_options(&config.url, &config.token, config.ca.clone(), options)
            .map_err(client_failure)?;
        Ok(Remote {
            url: quick.base_url(),
            quick,
            slow,
        })
    }
}

impl Embedded {
    /// Open the state directory through the composition root. The engine is connected by
    /// the first command that needs it.
    pub async fn open(
        state_dir: Option<&Path>,
        env: &BTreeMap<String, String>,
        quiet: bool,
    ) -> anyhow::Result<Embedded> {
        let (report, bar) = progress::reporter(quiet);
        let root = open_root(state_dir, env, report, SERVER_HINT).await?;
        Ok(Embedded { root, bar })
    }

    async fn execute(&self, command: Command) -> anyhow::Result<Reply> {
        self.root
            .api
            .execute(Caller::local(), command)
            .await
            .map_err(|e| api_failure(e).into())
    }
}

/// What to do when the state directory is held by another process.
pub const SERVER_HINT: &str = "wait for the other command to finish; if a `bulkhead server` runs \
     there, talk to it instead: set BULKHEAD_URL and BULKHEAD_TOKEN (and BULKHEAD_CA), or \
     `bulkhead login URL --token-stdin`";

/// Open the state directory through the composition root; `hint` says what to do when
/// another process holds it.
pub async fn open_root(
    state_dir: Option<&Path>,
    env: &BTreeMap<String, String>,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
    hint: &str,
) -> anyhow::Result<Root> {
    match bulkhead_app::root::open(state_dir, env, progress).await {
        Ok(root) => Ok(root),
        Err(RootError::Audit(OpenError::Locked { dir })) => Err(Failure::refused(format!(
            "the state directory {} is in use by another Bulkhead process (a running server, or another command)",
            dir.parent().unwrap_or(&dir).display()
        ))
        .hint(hint)
        .into()),
        Err(e @ (RootError::Audit(_) | RootError::Task { .. })) => {
            Err(Failure::refused(e.to_string()).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Percent-encode one path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=2` from the pairs that have a value (empty when none has).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_environment_wins_and_needs_both_variables() {
        let e = env(&[
            ("BULKHEAD_URL", "https://127.0.0.1:7443"),
            ("BULKHEAD_TOKEN", "t"),
            ("HOME", "/nonexistent"),
        ]);
        let r = select(None, &e).ok().flatten().map(|r| r.url);
        assert_eq!(r.as_deref(), Some("https://127.0.0.1:7443"));
        assert!(select(None, &env(&[("BULKHEAD_URL", "https://x")])).is_err());
        assert!(select(Some(Path::new("/s")), &e).is_err(), "ambiguous");
        let none = select(None, &env(&[("HOME", "/nonexistent")]));
        assert!(matches!(none, Ok(None)));
    }

    #[test]
    fn a_sensitive_body_is_wiped_in_place() {
        let mut body =
            serde_json::json!({"value": "c2VjcmV0", "nested": ["x", {"y": "zz"}], "n": 1});
        wipe(&mut body);
        assert_eq!(
            body,
            serde_json::json!({"value": "", "nested": ["", {"y": ""}], "n": 1})
        );
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            query(&[
                ("since", Some("2026-01-01T00:00:00Z".into())),
                ("actor", None),
                ("action", Some("a b&c".into())),
            ]),
            "?since=2026-01-01T00%3A00%3A00Z&action=a%20b%26c"
        );
        assert_eq!(query(&[("x", None)]), "");
    }
}
