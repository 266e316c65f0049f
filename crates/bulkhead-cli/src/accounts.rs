//! Accounts: `init` (the first admin of a state directory), `user`, `token` and `role`. A new
//! token is printed alone on stdout, once; everything else about it goes to stderr.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use bulkhead_api_types::{
    BindingAdded, BindingList, BindingRemoved, TokenCreated, TokenList, TokenRevoked, TokenText,
    UserAdded, UserList, UserRemoved,
};
use bulkhead_app::api::Command;
use bulkhead_client::Method;
use bulkhead_core::auth::{
    Binding, ProjectName, Role, Scope, SubjectKind, TokenId, TokenName, UserName,
};

use crate::backend::{Backend, Request, encode, query};
use crate::failure::Failure;
use crate::output::{emit, say};
use crate::replies::{print_json, read};

pub(crate) fn user_of(name: &str) -> anyhow::Result<UserName> {
    UserName::new(name).map_err(|e| Failure::usage(e.to_string()).into())
}

/// A token's name as the API takes it.
pub(crate) fn token_name_of(name: &str) -> anyhow::Result<TokenName> {
    TokenName::new(name).map_err(|e| Failure::usage(e.to_string()).into())
}

fn role_of(name: &str) -> anyhow::Result<Role> {
    name.parse()
        .map_err(|e: bulkhead_core::auth::IdentityError| Failure::usage(e.to_string()).into())
}

fn scope_of(project: Option<&str>) -> anyhow::Result<Scope> {
    match project {
        None => Ok(Scope::All),
        Some(p) => ProjectName::new(p)
            .map(Scope::Project)
            .map_err(|e| Failure::usage(e.to_string()).into()),
    }
}

/// Where account commands run, and how they print.
pub struct Target<'a> {
    pub state_dir: Option<&'a Path>,
    pub json: bool,
}

/// Run `request` and read its reply as `T` (`what` names it in an error).
async fn call<T: DeserializeOwned>(
    t: &Target<'_>,
    what: &'static str,
    request: Request,
) -> anyhow::Result<T> {
    let env = crate::args::environment();
    let b = Backend::open(t.state_dir, &env, true).await?;
    let result = b.call(request).await;
    b.close().await;
    read(what, result?)
}

/// Print a new token alone on stdout (or the whole reply with `--json`), and the note.
fn show_token<T: Serialize>(token: &TokenText, reply: &T, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(reply)?;
    } else {
        emit(&format!("{}\n", token.expose()))?;
    }
    say!("note: the token is shown once; keep it secret (it is stored only as a hash)");
    Ok(ExitCode::SUCCESS)
}

/// `bulkhead init`: the first administrator of a state directory, with its first token.
pub async fn init(state_dir: Option<&Path>, admin: &str) -> anyhow::Result<ExitCode> {
    let admin = user_of(admin)?;
    let env = crate::args::environment();
    let root = crate::backend::open_root(
        state_dir,
        &env,
        std::sync::Arc::new(|_| {}),
        "init runs once, before the server starts; stop the other process and run it again",
    )
    .await?;
    let dir = root.state_dir.clone();
    let result = root.api.init(&admin).await;
    let key_id = bulkhead_core::audit::KeyId::of(&root.audit.public_key());
    let closed = root.close().await;
    let secret = match result {
        Ok(s) => s,
        Err(e) if e.status == 409 => {
            return Err(Failure::refused(format!(
                "{} already has accounts, so it has its first admin",
                dir.display()
            ))
            .hint("ask an admin for an account: `bulkhead user add NAME --role ROLE`")
            .into());
        }
        Err(e) => return Err(Failure::refused(e.message).into()),
    };
    if let Err(e) = closed {
        say!("warning: {e}");
    }
    // Straight from the zeroizing buffer: no other copy of the secret is made.
    emit(secret.expose().as_str())?;
    emit("\n")?;
    say!(
        "made {admin} the first admin of {}; its token (on stdout) is shown once: keep it secret",
        dir.display()
    );
    say!(
        "audit signing key: key-id {key_id}; write it down away from this host, with a copy of the public key (`bulkhead audit pubkey --output FILE`): `bulkhead audit verify --pubkey FILE` then checks the log against the key you kept, not the one beside the log"
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn user_add(
    t: &Target<'_>,
    name: &str,
    role: &str,
    project: Option<&str>,
    service_account: bool,
) -> anyhow::Result<ExitCode> {
    let user = user_of(name)?;
    let role = role_of(role)?;
    let scope = scope_of(project)?;
    let kind = if service_account {
        SubjectKind::ServiceAccount
    } else {
        SubjectKind::User
    };
    let body = json!({
        "name": user.as_str(),
        "kind": kind.name(),
        "role": role.name(),
        "project": project,
    });
    let command = Command::UserAdd {
        user,
        kind,
        role: Some((role, scope)),
    };
    let reply: UserAdded = call(
        t,
        "account reply",
        Request::new(Method::POST, "/v1/users", command).body(body),
    )
    .await?;
    show_token(&reply.token, &reply, t.json)
}

pub async fn user_list(t: &Target<'_>) -> anyhow::Result<ExitCode> {
    let reply: UserList = call(
        t,
        "account listing",
        Request::new(Method::GET, "/v1/users", Command::UserList),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<24} {:<16} {:<22} {:<9} BINDINGS\n",
        "NAME", "KIND", "CREATED", "DISABLED"
    );
    for u in &reply.users {
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:<22} {:<9} {}",
            u.name,
            u.kind.name(),
            u.created_at,
            if u.disabled { "yes" } else { "no" },
            bindings(&u.bindings)
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `admin in all projects, viewer in project shop`.
fn bindings(list: &[Binding]) -> String {
    let shown: Vec<String> = list.iter().map(Binding::to_string).collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(", ")
    }
}

pub async fn user_remove(t: &Target<'_>, name: &str) -> anyhow::Result<ExitCode> {
    let user = user_of(name)?;
    let path = format!("/v1/users/{}", encode(user.as_str()));
    let reply: UserRemoved = call(
        t,
        "account removal reply",
        Request::new(
            Method::DELETE,
            path,
            Command::UserRemove { user: user.clone() },
        ),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
    } else {
        emit(&format!("removed {user} with its tokens and bindings\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn token_create(
    t: &Target<'_>,
    user: &str,
    name: Option<&str>,
    expires_in: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let user = user_of(user)?;
    let name = token_name_of(name.unwrap_or("cli"))?;
    let path = format!("/v1/users/{}/tokens", encode(user.as_str()));
    let body = json!({ "name": name.as_str(), "expires_in": expires_in });
    let command = Command::TokenCreate {
        user,
        name,
        expires_in,
    };
    let reply: TokenCreated = call(
        t,
        "token reply",
        Request::new(Method::POST, path, command).body(body),
    )
    .await?;
    show_token(&reply.token, &reply, t.json)
}

pub async fn token_list(t: &Target<'_>, user: &str) -> anyhow::Result<ExitCode> {
    let user = user_of(user)?;
    let path = format!("/v1/users/{}/tokens", encode(user.as_str()));
    let reply: TokenList = call(
        t,
        "token listing",
        Request::new(Method::GET, path, Command::TokenList { user }),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<18} {:<20} {:<22} {:<22} REVOKED\n",
        "ID", "NAME", "CREATED", "EXPIRES"
    );
    for tok in &reply.tokens {
        let or_dash = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
        let _ = writeln!(
            out,
            "{:<18} {:<20} {:<22} {:<22} {}",
            tok.id,
            tok.name,
            tok.created_at,
            or_dash(&tok.expires_at),
            or_dash(&tok.revoked_at)
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn token_revoke(t: &Target<'_>, id: &str, user: &str) -> anyhow::Result<ExitCode> {
    let user = user_of(user)?;
    let id = TokenId::parse(id).map_err(|e| Failure::usage(e.to_string()))?;
    let path = format!(
        "/v1/users/{}/tokens/{}",
        encode(user.as_str()),
        encode(id.as_str())
    );
    let command = Command::TokenRevoke {
        user: user.clone(),
        id: id.clone(),
    };
    let reply: TokenRevoked = call(
        t,
        "token revocation reply",
        Request::new(Method::DELETE, path, command),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
    } else {
        emit(&format!("revoked token {id} of {user}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `role bind` (`bind` true) or `role unbind`.
pub async fn role(
    t: &Target<'_>,
    bind: bool,
    user: &str,
    role: &str,
    project: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let binding = Binding {
        user: user_of(user)?,
        role: role_of(role)?,
        scope: scope_of(project)?,
    };
    let base = format!("/v1/users/{}/bindings", encode(binding.user.as_str()));
    let request = if bind {
        let body = json!({ "role": binding.role.name(), "project": project });
        Request::new(
            Method::POST,
            base,
            Command::BindingBind {
                binding: binding.clone(),
            },
        )
        .body(body)
    } else {
        let q = query(&[
            ("role", Some(binding.role.name().to_string())),
            ("project", project.map(str::to_string)),
        ]);
        Request::new(
            Method::DELETE,
            format!("{base}{q}"),
            Command::BindingUnbind {
                binding: binding.clone(),
            },
        )
    };
    let unchanged = if bind {
        let reply: BindingAdded = call(t, "binding reply", request).await?;
        if t.json {
            print_json(&reply)?;
        }
        !reply.added
    } else {
        let reply: BindingRemoved = call(t, "binding reply", request).await?;
        if t.json {
            print_json(&reply)?;
        }
        !reply.removed
    };
    if t.json {
        return Ok(ExitCode::SUCCESS);
    }
    if bind && unchanged {
        emit(&format!(
            "{} already has {binding}; nothing changed\n",
            binding.user
        ))?;
    } else {
        let verb = if bind { "now has" } else { "no longer has" };
        emit(&format!("{} {verb} {binding}\n", binding.user))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn role_list(t: &Target<'_>, user: &str) -> anyhow::Result<ExitCode> {
    let user = user_of(user)?;
    let path = format!("/v1/users/{}/bindings", encode(user.as_str()));
    let reply: BindingList = call(
        t,
        "binding listing",
        Request::new(
            Method::GET,
            path,
            Command::BindingList { user: user.clone() },
        ),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
    } else {
        emit(&format!("{user}: {}\n", bindings(&reply.bindings)))?;
    }
    Ok(ExitCode::SUCCESS)
}
