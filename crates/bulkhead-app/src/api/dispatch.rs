//! The one dispatcher: every request, from HTTP or from the embedded CLI, is authenticated,
//! authorized, audited and only then executed. Deny by default; fail closed when the audit log
//! cannot take the entry.
//!
//! Entries: a request that is refused (no credentials, a bad token, a denial) gets one entry
//! with that outcome. A read gets one entry after it ran (`ok` or `failed`), written before
//! the reply leaves. A change gets an `ok`/`accepted` entry before it runs — if that entry
//! cannot be made durable nothing runs — and a second entry with its result (`ok`/`done` or
//! `failed`) before the reply.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bulkhead_core::audit::{Actor, Outcome, OutcomeKind, Record, Sha256Digest};
use bulkhead_core::auth::{
    Binding, Decision, Role, Scope, Subject, SubjectKind, TokenSecret, UserName, authenticate,
    authorize,
};
use bulkhead_ports::{AuditSink, ContainerInfo, Store};
use serde_json::Value;

use super::command::Command;
use super::error::ApiError;
use crate::clock::now_secs;
use crate::root::local::Local;

/// Who is calling, as the transport saw it.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// `Authorization: Bearer ...` as sent (parsed and checked here, never logged).
    Bearer(String),
    /// No credentials were sent.
    Missing,
    /// The embedded CLI: the local administrator of this host's state directory.
    Local,
}

/// One request's context.
#[derive(Clone, Debug)]
pub struct Caller {
    pub credentials: Credentials,
    /// The peer address (`127.0.0.1:50412`), or `local`.
    pub source: String,
    /// SHA-256 of the request body, when there was one (the body itself is never logged).
    pub body_sha256: Option<Sha256Digest>,
}

impl Caller {
    pub fn local() -> Caller {
        Caller {
            credentials: Credentials::Local,
            source: "local".into(),
            body_sha256: None,
        }
    }
}

/// What a command returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Json(Value),
    /// `application/x-ndjson` (the audit export).
    Lines(Vec<u8>),
}

/// Failed authentications answered `401` per source address within [`FAILURE_WINDOW`]; later
/// failures from it get `429` until the window ends. A valid token is never limited.
pub const MAX_FAILURES: u32 = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The client an address belongs to, for per-client limits: an IPv4 address (an IPv4-mapped
/// IPv6 one included) is one client; an IPv6 address counts as its /64, the block one host or
/// site is given, so that a host cannot multiply its budget by rotating addresses.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(s))
            }
        },
    }
}

/// The application behind the API.
pub struct Api {
    pub deployer: Arc<Local>,
    pub audit: Arc<dyn AuditSink>,
    pub state_dir: PathBuf,
    /// The containers each project had when the reconciler last looked.
    pub observed: RwLock<BTreeMap<String, Vec<ContainerInfo>>>,
    /// One change at a time per project (requests and the reconciler alike).
    locks: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<BTreeMap<IpAddr, (Instant, u32)>>,
    /// What the store said about recently presented token ids (record, owner, bindings):
    /// every request still verifies its secret against the record, in constant time. Emptied
    /// whenever an account, token or binding changes, and entries expire after [`TOKEN_TTL`].
    tokens: Mutex<HashMap<String, (bulkhead_ports::TokenLookup, Instant)>>,
    /// The desired services of recently read projects, dropped when the project changes.
    pub(super) desired: Mutex<HashMap<String, Arc<bulkhead_core::deploy::Desired>>>,
    /// Bumped by every change: a lookup that started before a change is not cached after it.
    pub(super) generation: std::sync::atomic::AtomicU64,
    /// The HTTPS listener's counters (connections, what it turned away), for `server.status`.
    pub listener: Arc<crate::server::listen::Stats>,
    /// Where this process unpacks uploads (opened on first use or at server start).
    pub(super) uploads: super::uploads::Slot,
}

/// How long a cached token lookup is trusted without asking the store again.
const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Most cached token lookups.
const TOKEN_CACHE: usize = 10_000;

/// The authenticated caller: the subject and how it appears in the audit log.
pub(super) struct Authenticated {
    pub subject: Subject,
    pub actor: Actor,
}

impl Api {
    pub fn new(deployer: Arc<Local>, audit: Arc<dyn AuditSink>, state_dir: PathBuf) -> Api {
        Api {
            deployer,
            audit,
            state_dir,
            observed: RwLock::new(BTreeMap::new()),
            locks: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            tokens: Mutex::new(HashMap::new()),
            desired: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            listener: Arc::default(),
            uploads: Default::default(),
        }
    }

    /// The lock serialising changes to `project`.
    pub fn project_lock(&self, project: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(project.to_string()).or_default())
    }

    /// Authenticate, authorize, audit, execute.
    pub async fn execute(
        self: &Arc<Self>,
        caller: Caller,
        command: Command,
    ) -> Result<Reply, ApiError> {
        let action = command.action();
        let base = |actor: Actor, outcome: Outcome| Record {
            actor,
            source: caller.source.clone(),
            action: action.name().to_string(),
            resource: command.audit_resource(),
            outcome,
            body_sha256: caller.body_sha256,
        };
        let who = match self.authenticate(&caller).await {
            Ok(who) => who,
            Err((actor, err)) => {
                let code = if err.status == 429 {
                    "rate_limited"
                } else {
                    "unauthenticated"
                };
                let outcome = Outcome::new(OutcomeKind::Unauthenticated, Some(code), None);
                self.append(base(actor, outcome)).await?;
                return Err(err);
            }
        };
        if let Decision::Deny { reason } = authorize(&who.subject, action, &command.resource()) {
            let outcome = Outcome::new(OutcomeKind::Denied, Some("forbidden"), Some(&reason));
            self.append(base(who.actor, outcome)).await?;
            return Err(ApiError::forbidden(reason));
        }
        // Work that must happen before the decision is final (a deploy's spec decides whether
        // it needs waivers): no side effects.
        let prepared = match self.prepare(&who, &command).await {
            Ok(p) => p,
            Err(e) => {
                let kind = if e.status == 403 {
                    OutcomeKind::Denied
                } else {
                    OutcomeKind::Failed
                };
                let outcome = Outcome::new(kind, Some(e.code), Some(&short(&e.message)));
                self.append(base(who.actor, outcome)).await?;
                return Err(e);
            }
        };
        if command.mutates() {
            let accepted = Outcome::new(OutcomeKind::Ok, Some("accepted"), None);
            self.append(base(who.actor.clone(), accepted)).await?;
        }
        let result = self.run(&who, command.clone(), prepared).await;
        if command.mutates() {
            self.forget(&command);
        }
        let outcome = match &result {
            Ok(_) if command.mutates() => Outcome::new(OutcomeKind::Ok, Some("done"), None),
            Ok(_) => Outcome::ok(),
            Err(e) => Outcome::new(OutcomeKind::Failed, Some(e.code), Some(&short(&e.message))),
        };
        self.append(base(who.actor, outcome)).await?;
        result
    }

    /// Record a request that never became a command (bad input, unknown route) and return
    /// its error: as `unauthenticated` when the caller is not, else as `failed`.
    pub async fn refuse(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        err: ApiError,
    ) -> Result<Reply, ApiError> {
        let resource: String = resource.chars().take(512).collect();
        let record = |actor: Actor, outcome: Outcome| Record {
            actor,
            source: caller.source.clone(),
            action: action.to_string(),
            resource: resource.clone(),
            outcome,
            body_sha256: caller.body_sha256,
        };
        match self.authenticate(caller).await {
            Err((actor, auth)) => {
                let outcome = Outcome::new(OutcomeKind::Unauthenticated, Some(auth.code), None);
                self.append(record(actor, outcome)).await?;
                Err(auth)
            }
            Ok(who) => {
                let outcome = Outcome::new(
                    OutcomeKind::Failed,
                    Some(err.code),
                    Some(&short(&err.message)),
                );
                self.append(record(who.actor, outcome)).await?;
                Err(err)
            }
        }
    }

    /// For a request whose body is large (an upload), before the body is read: when its
    /// credentials do not authenticate, record it and return the refusal — so that no
    /// unauthenticated client makes the server take in megabytes first. `None`: go on.
    pub async fn refuse_unauthenticated(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
    ) -> Option<Result<Reply, ApiError>> {
        let (actor, auth) = self.authenticate(caller).await.err()?;
        let outcome = Outcome::new(OutcomeKind::Unauthenticated, Some(auth.code), None);
        let record = Record {
            actor,
            source: caller.source.clone(),
            action: action.to_string(),
            resource: resource.chars().take(512).collect(),
            outcome,
            body_sha256: None,
        };
        Some(match self.append(record).await {
            Ok(()) => Err(auth),
            Err(e) => Err(e),
        })
    }

    /// Record a request the listener refused before the router (its head over the limit) and
    /// return its error: attributed to the caller when its token authenticates, else to
    /// nobody — either way the answer is `err` (the size is the problem, not the token).
    pub async fn reject_request(
        &self,
        caller: &Caller,
        resource: &str,
        err: ApiError,
    ) -> Result<Reply, ApiError> {
        let actor = match self.authenticate(caller).await {
            Ok(who) => who.actor,
            Err((actor, _)) => actor,
        };
        let outcome = Outcome::new(
            OutcomeKind::Failed,
            Some(err.code),
            Some(&short(&err.message)),
        );
        self.append(Record {
            actor,
            source: caller.source.clone(),
            action: "request.rejected".to_string(),
            resource: resource.chars().take(512).collect(),
            outcome,
            body_sha256: None,
        })
        .await?;
        Err(err)
    }

    /// Record an unauthenticated read of a public document (the OpenAPI description).
    pub async fn public(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        self.append(Record {
            actor: Actor::default(),
            source: caller.source.clone(),
            action: action.to_string(),
            resource: resource.to_string(),
            outcome: Outcome::ok(),
            body_sha256: caller.body_sha256,
        })
        .await
    }

    /// Record what the server decided on its own, with no caller (the reconciler holding a
    /// service): actor `system`, source `reconciler`.
    pub async fn record_system(
        &self,
        action: &str,
        resource: &str,
        kind: OutcomeKind,
        code: &str,
        reason: &str,
    ) -> Result<(), ApiError> {
        self.append(Record {
            actor: Actor {
                user: Some("system".into()),
                token_id: None,
            },
            source: "reconciler".into(),
            action: action.to_string(),
            resource: resource.to_string(),
            outcome: Outcome::new(kind, Some(code), Some(&short(reason))),
            body_sha256: None,
        })
        .await
    }

    async fn append(&self, mut record: Record) -> Result<(), ApiError> {
        record.resource = printable(&record.resource);
        self.audit
            .append(record)
            .await
            .map(|_| ())
            .map_err(ApiError::audit)
    }

    async fn authenticate(&self, caller: &Caller) -> Result<Authenticated, (Actor, ApiError)> {
        let anonymous = Actor::default();
        let token = match &caller.credentials {
            Credentials::Local => {
                let name = UserName::local();
                let admin = Binding {
                    user: name.clone(),
                    role: Role::Admin,
                    scope: Scope::All,
                };
                let subject = Subject::new(name.clone(), SubjectKind::User, vec![admin])
                    .map_err(|e| (anonymous.clone(), ApiError::internal(e.to_string())))?;
                return Ok(Authenticated {
                    subject,
                    actor: Actor {
                        user: Some(name.to_string()),
                        token_id: None,
                    },
                });
            }
            Credentials::Missing => return Err((anonymous, ApiError::unauthenticated())),
            Credentials::Bearer(token) => token,
        };
        let ip = caller
            .source
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| client_of(a.ip()));
        // The token is checked first, whatever the source did before: a valid token is never
        // refused by the brute-force limit. Only a failure is limited (see `refusal`).
        let Ok(secret) = TokenSecret::parse(token) else {
            return Err((anonymous, self.refusal(ip)));
        };
        let actor = Actor {
            user: None,
            token_id: Some(secret.id().to_string()),
        };
        let generation = self.generation();
        let found = match self.cached_token(secret.id().as_str()) {
            Some(found) => Some(found),
            None => match self.deployer.store.lookup_token(secret.id()).await {
                Ok(found) => {
                    if let Some(f) = &found {
                        self.cache_token(secret.id().as_str(), f.clone(), generation);
                    }
                    found
                }
                Err(e) => return Err((actor, ApiError::internal(e.to_string()))),
            },
        };
        let Some(found) = found else {
            return Err((actor, self.refusal(ip)));
        };
        match authenticate(
            &secret,
            &found.token,
            &found.user,
            found.bindings,
            now_secs(),
        ) {
            Ok(subject) => Ok(Authenticated {
                actor: Actor {
                    user: Some(subject.name().to_string()),
                    token_id: Some(secret.id().to_string()),
                },
                subject,
            }),
            Err(e) => {
                tracing::info!(token = %secret.id(), reason = %e, "authentication failed");
                Err((actor, self.refusal(ip)))
            }
        }
    }

    fn cached_token(&self, id: &str) -> Option<bulkhead_ports::TokenLookup> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(id)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(found, _)| found.clone())
    }

    /// The change counter, read before a lookup whose result may be cached.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cache `found` unless a change happened since `generation` was read.
    fn cache_token(&self, id: &str, found: bulkhead_ports::TokenLookup, generation: u64) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        if tokens.len() >= TOKEN_CACHE {
            tokens.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
            if tokens.len() >= TOKEN_CACHE {
                tokens.clear();
            }
        }
        tokens.insert(id.to_string(), (found, Instant::now()));
    }

    /// Drop what a change may have made stale: every cached token lookup after an account
    /// change, a project's desired services after a change to it.
    fn forget(&self, command: &Command) {
        use bulkhead_core::auth::Resource;
        // All under the caches' locks, so no lookup from before the change gets cached after.
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let mut desired = self.desired.lock().unwrap_or_else(|e| e.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match command.resource() {
            Resource::User(_) => tokens.clear(),
            Resource::Project(p) => {
                desired.remove(p.as_str());
            }
            Resource::Global => desired.clear(),
        }
    }

    /// Count a failed authentication from `ip` and answer it: `401`, or `429` once the source
    /// has failed more than [`MAX_FAILURES`] times in its current [`FAILURE_WINDOW`] (the same
    /// answer whichever part of the token was wrong).
    fn refusal(&self, ip: Option<IpAddr>) -> ApiError {
        let Some(ip) = ip else {
            return ApiError::unauthenticated();
        };
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > MAX_FAILURES {
            ApiError::too_many(format!(
                "too many failed authentications from {ip}; wait a minute (a valid token is still accepted)"
            ))
        } else {
            ApiError::unauthenticated()
        }
    }
}

/// An audit reason: one line, bounded, printable.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    printable(&line.chars().take(400).collect::<String>())
}

/// `text` with every control character escaped (`\r`, `\u{1b}`): what a tenant wrote must not
/// move an auditor's cursor, clear a line or forge one when the log is printed.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
