//! Users, service accounts, their tokens and role bindings; and `init`, which makes the first
//! administrator. A token's secret is shown once, in the reply that created it, and stored
//! only as a hash.

use bulkhead_api_types::{
    BindingAdded, BindingList, BindingRemoved, TokenCreated, TokenList, TokenRevoked, TokenText,
    UserAdded, UserList, UserRemoved,
};
use bulkhead_core::audit::{Actor, Outcome, Record};
use bulkhead_core::auth::{
    Binding, Role, Scope, SubjectKind, TokenName, TokenRecord, TokenSecret, UserName, UserRecord,
};
use bulkhead_ports::Store;

use super::command::Command;
use super::dispatch::{Api, Authenticated, Reply};
use super::error::ApiError;
use super::render::{self, json};
use crate::clock::now_secs;

/// A new token: random id and secret from the operating system.
pub fn new_token(
    owner: &UserName,
    name: TokenName,
    expires_in: Option<u64>,
) -> Result<(TokenSecret, TokenRecord), ApiError> {
    if let Some(s) = expires_in.filter(|s| *s == 0 || *s > bulkhead_core::auth::MAX_EXPIRES_IN) {
        return Err(ApiError::bad_request(format!(
            "expires_in {s} is not between 1 and {} seconds (100 years); leave it out for a token that does not expire",
            bulkhead_core::auth::MAX_EXPIRES_IN
        )));
    }
    let mut id = [0u8; bulkhead_core::auth::ID_BYTES];
    let mut secret = [0u8; bulkhead_core::auth::SECRET_BYTES];
    getrandom::fill(&mut id).map_err(|e| ApiError::internal(e.to_string()))?;
    getrandom::fill(&mut secret).map_err(|e| ApiError::internal(e.to_string()))?;
    let token = TokenSecret::from_random(id, secret);
    let now = now_secs();
    let record = TokenRecord::new(
        &token,
        owner.clone(),
        name,
        now,
        expires_in.map(|s| now.saturating_add(s)),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((token, record))
}

impl Api {
    pub(super) async fn accounts(
        &self,
        who: &Authenticated,
        command: Command,
    ) -> Result<Reply, ApiError> {
        let store = &self.deployer.store;
        let document = match command {
            Command::UserList => {
                let bindings = store.list_bindings(None).await?;
                let users = store
                    .list_users()
                    .await?
                    .iter()
                    .map(|u| render::user(u, &bindings))
                    .collect();
                json(&UserList { users })?
            }
            Command::UserAdd { user, kind, role } => {
                let record = UserRecord {
                    name: user.clone(),
                    kind,
                    created_at: now_secs(),
                    disabled: false,
                };
                let (secret, token) = new_token(&user, first_token_name()?, None)?;
                store.add_user(&record).await?;
                if let Some((role, scope)) = role {
                    store
                        .add_binding(&Binding {
                            user: user.clone(),
                            role,
                            scope,
                        })
                        .await?;
                }
                store.add_token(&token).await?;
                let bindings = store.list_bindings(Some(&user)).await?;
                json(&UserAdded {
                    user: render::user(&record, &bindings),
                    token: TokenText::new(secret.expose().as_str().to_string()),
                    token_id: token.id.to_string(),
                })?
            }
            Command::UserRemove { user } => {
                if store.get_user(&user).await?.is_none() {
                    return Err(ApiError::not_found(format!("there is no account {user}")));
                }
                self.keep_an_admin(&user, None).await?;
                store.delete_user(&user).await?;
                json(&UserRemoved {
                    removed: user.to_string(),
                })?
            }
            Command::TokenCreate {
                user,
                name,
                expires_in,
            } => {
                if store.get_user(&user).await?.is_none() {
                    return Err(ApiError::not_found(format!("there is no account {user}")));
                }
                let (secret, token) = new_token(&user, name, expires_in)?;
                store.add_token(&token).await?;
                json(&TokenCreated {
                    token: TokenText::new(secret.expose().as_str().to_string()),
                    record: render::token(&token),
                })?
            }
            Command::TokenList { user } => {
                let tokens = store
                    .list_tokens(Some(&user))
                    .await?
                    .iter()
                    .map(render::token)
                    .collect();
                json(&TokenList {
                    user: user.to_string(),
                    tokens,
                })?
            }
            Command::TokenRevoke { user, id } => {
                match store.get_token(&id).await? {
                    Some(t) if t.owner == user => {}
                    _ => {
                        return Err(ApiError::not_found(format!(
                            "account {user} has no token {id}"
                        )));
                    }
                }
                let token = store.revoke_token(&id, now_secs()).await?;
                json(&TokenRevoked {
                    revoked: render::token(&token),
                })?
            }
            Command::BindingList { user } => {
                let bindings = store.list_bindings(Some(&user)).await?;
                json(&BindingList {
                    user: user.to_string(),
                    bindings,
                })?
            }
            Command::BindingBind { binding } => {
                if store.get_user(&binding.user).await?.is_none() {
                    return Err(ApiError::not_found(format!(
                        "there is no account {}",
                        binding.user
                    )));
                }
                let added = store.add_binding(&binding).await?;
                json(&BindingAdded { binding, added })?
            }
            Command::BindingUnbind { binding } => {
                self.keep_an_admin(&binding.user, Some(&binding)).await?;
                let removed = store.remove_binding(&binding).await?;
                if !removed {
                    return Err(ApiError::not_found(format!(
                        "{} has no binding {binding}",
                        binding.user
                    )));
                }
                json(&BindingRemoved { binding, removed })?
            }
            _ => return Err(ApiError::internal("not an account command")),
        };
        let _ = who;
        Ok(Reply::Json(document))
    }

    /// Every binding of an enabled account.
    pub(super) async fn enabled_bindings(&self) -> Result<Vec<Binding>, ApiError> {
        Ok(self.deployer.enabled_bindings().await?)
    }

    /// Refuses to remove the last enabled administrator of every project (the account, or its
    /// `binding`): nobody could manage users or grant waivers after it.
    async fn keep_an_admin(
        &self,
        user: &UserName,
        binding: Option<&Binding>,
    ) -> Result<(), ApiError> {
        let admins: Vec<Binding> = self
            .enabled_bindings()
            .await?
            .into_iter()
            .filter(|b| b.role == Role::Admin && b.scope == Scope::All)
            .collect();
        let left = admins
            .iter()
            .filter(|b| match binding {
                Some(gone) => *b != gone,
                None => &b.user != user,
            })
            .count();
        if left == 0 && admins.iter().any(|b| &b.user == user) {
            return Err(ApiError::conflict(format!(
                "{user} is the last administrator of all projects; add another admin first"
            )));
        }
        Ok(())
    }
}

/// The name of the token an account is made with.
fn first_token_name() -> Result<TokenName, ApiError> {
    TokenName::new("first").map_err(|e| ApiError::internal(e.to_string()))
}

impl Api {
    /// [`init`] on this API's store and audit log (the embedded CLI's way in: it never opens
    /// the store itself).
    pub async fn init(&self, admin: &UserName) -> Result<TokenSecret, ApiError> {
        init(&*self.deployer.store, &*self.audit, admin).await
    }
}

/// `bulkhead init`: make `admin` the first administrator (all projects) with a first token,
/// audited as `system`. Refused when any account exists.
pub async fn init<S: Store>(
    store: &S,
    audit: &dyn bulkhead_ports::AuditSink,
    admin: &UserName,
) -> Result<TokenSecret, ApiError> {
    if !store.list_users().await?.is_empty() {
        return Err(ApiError::conflict(
            "this state directory already has accounts; ask an admin for `bulkhead user add`",
        ));
    }
    let record = Record {
        actor: Actor {
            user: Some("system".into()),
            token_id: None,
        },
        source: "local".into(),
        action: "user.add".into(),
        resource: format!("users/{admin}"),
        outcome: Outcome::new(bulkhead_core::audit::OutcomeKind::Ok, Some("init"), None),
        body_sha256: None,
    };
    audit.append(record).await.map_err(ApiError::audit)?;
    let user = UserRecord {
        name: admin.clone(),
        kind: SubjectKind::User,
        created_at: now_secs(),
        disabled: false,
    };
    let (secret, token) = new_token(admin, first_token_name()?, None)?;
    store.add_user(&user).await?;
    store
        .add_binding(&Binding {
            user: admin.clone(),
            role: Role::Admin,
            scope: Scope::All,
        })
        .await?;
    store.add_token(&token).await?;
    Ok(secret)
}
