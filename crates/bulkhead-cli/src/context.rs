//! The login context: the server the CLI talks to when the environment names none.
//! `bulkhead login` writes it to `$XDG_CONFIG_HOME/bulkhead/context.json` (else
//! `~/.config/bulkhead/context.json`; file 0600, directory 0700), `bulkhead logout` removes it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use bulkhead_client::{Client, ClientError, Method};
use bulkhead_core::auth::TokenSecret;

use crate::failure::{Failure, client_failure};
use crate::output::say;

/// The file's name inside the configuration directory.
const FILE: &str = "context.json";
/// Longest token input accepted on stdin.
const MAX_INPUT: u64 = 4096;

/// Where `bulkhead login` pointed the CLI. No `Debug`: it holds the token.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub url: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// `$XDG_CONFIG_HOME/bulkhead/context.json`, else `~/.config/bulkhead/context.json`.
pub fn path(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    if let Some(dir) = get("XDG_CONFIG_HOME") {
        return Some(Path::new(dir).join("bulkhead").join(FILE));
    }
    get("HOME").map(|home| Path::new(home).join(".config/bulkhead").join(FILE))
}

/// The saved context, if there is one. A file others may read is refused: it holds a token.
pub fn load(env: &BTreeMap<String, String>) -> anyhow::Result<Option<Context>> {
    let Some(file) = path(env) else {
        return Ok(None);
    };
    let meta = match std::fs::metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "the login context {} can be read by other users, so its token is not used",
            file.display()
        ))
        .hint(format!(
            "chmod 600 {}, or `bulkhead logout` and log in again",
            file.display()
        ))
        .into());
    }
    let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let context: Context = serde_json::from_slice(&text).map_err(|e| {
        Failure::usage(format!(
            "the login context {} is not valid: {e}",
            file.display()
        ))
        .hint("`bulkhead logout`, then `bulkhead login URL --token-stdin` again")
    })?;
    Ok(Some(context))
}

/// Write `context` atomically: a private temporary file, then a rename.
fn save(file: &Path, context: &Context) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .with_context(|| format!("{} has no directory", file.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let text = serde_json::to_vec_pretty(context).context("encoding the login context")?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    out.write_all(&text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

/// `bulkhead login URL --token-stdin [--ca FILE]`: check the token against the server, then
/// save the context.
pub async fn login(url: &str, token_stdin: bool, ca: Option<&Path>) -> anyhow::Result<ExitCode> {
    if !token_stdin {
        return Err(Failure::usage(
            "login reads the token from stdin, never from the command line",
        )
        .hint("echo \"$TOKEN\" | bulkhead login URL --token-stdin")
        .into());
    }
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut input)
        .context("cannot read the token from stdin")?;
    let token = input.trim().to_string();
    if let Err(e) = TokenSecret::parse(&token) {
        return Err(Failure::usage(format!("stdin does not hold a Bulkhead token: {e}")).into());
    }
    let ca = match ca {
        Some(p) => Some(
            std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))?,
        ),
        None => None,
    };
    let client = Client::new(url, &token, ca.clone()).map_err(client_failure)?;
    // Any authenticated answer proves the token, a 403 too (an auditor may not list projects).
    match client.request(Method::GET, "/v1/projects", None).await {
        Ok(_) | Err(ClientError::Api { status: 403, .. }) => {}
        Err(e) => return Err(client_failure(e)),
    }
    let env = crate::args::environment();
    let file = path(&env).ok_or_else(|| {
        Failure::usage("no place for the login context: neither XDG_CONFIG_HOME nor HOME is set")
    })?;
    let context = Context {
        url: client.base_url(),
        token,
        ca,
    };
    save(&file, &context)?;
    say!(
        "logged in to {}; the token is saved in {} (mode 0600)",
        context.url,
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `bulkhead logout`: forget the saved context.
pub fn logout() -> anyhow::Result<ExitCode> {
    let env = crate::args::environment();
    let Some(file) = path(&env) else {
        say!("not logged in");
        return Ok(ExitCode::SUCCESS);
    };
    match std::fs::remove_file(&file) {
        Ok(()) => say!("logged out: removed {}", file.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => say!("not logged in"),
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file.display())),
    }
    Ok(ExitCode::SUCCESS)
}
