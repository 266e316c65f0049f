//! `bulkhead secret` (set, ls, versions, rm) and `bulkhead keys rotate`, through a server or
//! the embedded dispatcher. A value comes from a file or stdin, never the command line, into a
//! buffer that zeroes itself; it is sent once and never printed — no reply carries one.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read};
use std::os::fd::AsFd as _;
use std::path::Path;
use std::process::ExitCode;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use bulkhead_api_types::{
    RotationReport, SecretList, SecretRemoved, SecretSetReply, SecretVersions,
};
use bulkhead_app::api::{Command, SecretValue};
use bulkhead_client::Method;
use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::{KekId, MAX_SECRET_BYTES, SecretName};

use crate::accounts::Target;
use crate::backend::{Backend, Request, encode};
use crate::failure::Failure;
use crate::output::{emit, say};
use crate::replies::{print_json, read};

fn project_of(name: &str) -> anyhow::Result<ProjectName> {
    ProjectName::new(name).map_err(|e| Failure::usage(e.to_string()).into())
}

/// `PROJECT/NAME`, split at the first `/`, each part checked: a bad one is bad usage (exit 2)
/// with the rule it breaks. The text is not echoed when it has no `/` (it might be a value
/// typed in the wrong place).
pub fn secret_of(given: &str) -> anyhow::Result<(ProjectName, SecretName)> {
    let Some((project, name)) = given.split_once('/') else {
        return Err(
            Failure::usage("a secret is named PROJECT/NAME, with its project")
                .hint("e.g. `bulkhead secret set shop/db-password --from-file ./pw.txt`")
                .into(),
        );
    };
    let project = project_of(project)?;
    let name = SecretName::new(name).map_err(|e| {
        Failure::usage(e.to_string()).hint(
            "a name is 1 to 63 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        )
    })?;
    Ok((project, name))
}

/// The secret's path on the API.
fn path_of(project: &ProjectName, name: &SecretName) -> String {
    format!(
        "/v1/projects/{}/secrets/{}",
        encode(project.as_str()),
        encode(name.as_str())
    )
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

/// Fill `buf` from `from` until it is full or the input ends; the number of bytes read.
fn fill(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match from.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The value, byte for byte, from `file` or stdin. At most one byte over the limit is read
/// (so a larger input is refused by the API, naming the limit, without reading all of it),
/// into one buffer allocated once: no copy is left behind by a reallocation. Stdin is read
/// without a buffer of its own for the same reason.
fn read_value(file: Option<&Path>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_SECRET_BYTES + 1]);
    let n = match file {
        Some(path) => std::fs::File::open(path)
            .and_then(|mut f| fill(&mut f, &mut buf))
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                say!(
                    "reading the value from stdin (it is echoed; end with Ctrl-D, or use --from-file FILE)"
                );
            }
            stdin
                .as_fd()
                .try_clone_to_owned()
                .map(std::fs::File::from)
                .and_then(|mut f| fill(&mut f, &mut buf))
                .map_err(|e| Failure::usage(format!("cannot read the value from stdin: {e}")))?
        }
    };
    buf.truncate(n);
    if buf.is_empty() {
        let from = file.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
        return Err(Failure::usage(format!(
            "the secret value from {from} is empty; a value is 1 byte to 1 MiB"
        ))
        .hint("pipe the value in (`bulkhead secret set P/NAME < FILE`) or use --from-file FILE")
        .into());
    }
    Ok(buf)
}

/// `secret set PROJECT/NAME [--from-file F]`. `stray`: how many extra arguments were given.
pub async fn set(
    t: &Target<'_>,
    secret: &str,
    from_file: Option<&Path>,
    stray: usize,
) -> anyhow::Result<ExitCode> {
    if stray > 0 {
        return Err(Failure::usage(
            "`secret set` takes the value from --from-file FILE or stdin, never from the command line",
        )
        .hint("a value typed as an argument is kept in the shell history and shown by `ps`: change it if it was real")
        .into());
    }
    let (project, name) = secret_of(secret)?;
    let value = read_value(from_file)?;
    // Moved, not copied, into the body (`json!` would serialize a copy), which the backend
    // wipes once the call is over.
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_slice());
    let mut fields = serde_json::Map::new();
    fields.insert("value".into(), Value::String(encoded));
    let body = Value::Object(fields);
    let command = Command::SecretSet {
        project: project.clone(),
        name: name.clone(),
        value: SecretValue(value),
    };
    let request = Request::new(Method::PUT, path_of(&project, &name), command)
        .body(body)
        .sensitive()
        .slow();
    let reply: SecretSetReply = call(t, "secret reply", request).await?;
    if t.json {
        print_json(&reply)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (version, rolled) = (reply.version, &reply.rolled);
    let mut out = format!("secret {project}/{name}: version {version} set\n");
    if rolled.is_empty() {
        out.push_str("no deployed service delivers it yet\n");
    } else {
        let _ = writeln!(out, "rolled to version {version}: {}", rolled.join(", "));
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `secret ls PROJECT`.
pub async fn list_secrets(t: &Target<'_>, project: &str) -> anyhow::Result<ExitCode> {
    let project = project_of(project)?;
    let path = format!("/v1/projects/{}/secrets", encode(project.as_str()));
    let reply: SecretList = call(
        t,
        "secret listing",
        Request::new(Method::GET, path, Command::SecretList { project }),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{:<32} {:<9} {:<7} {:<22} BY\n",
        "NAME", "VERSIONS", "LATEST", "SET"
    );
    for s in &reply.secrets {
        let _ = writeln!(
            out,
            "{:<32} {:<9} {:<7} {:<22} {}",
            s.name,
            s.versions.len(),
            s.latest,
            s.created_at,
            s.created_by
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `secret versions PROJECT/NAME`.
pub async fn versions(t: &Target<'_>, secret: &str) -> anyhow::Result<ExitCode> {
    let (project, name) = secret_of(secret)?;
    let path = format!("{}/versions", path_of(&project, &name));
    let reply: SecretVersions = call(
        t,
        "secret version listing",
        Request::new(Method::GET, path, Command::SecretVersions { project, name }),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!("{:<8} {:<10} {:<22} BY\n", "VERSION", "BYTES", "CREATED");
    for v in &reply.versions {
        let _ = writeln!(
            out,
            "{:<8} {:<10} {:<22} {}",
            v.version, v.size, v.created_at, v.created_by
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `secret rm PROJECT/NAME`.
pub async fn remove(t: &Target<'_>, secret: &str) -> anyhow::Result<ExitCode> {
    let (project, name) = secret_of(secret)?;
    let path = path_of(&project, &name);
    let command = Command::SecretRemove {
        project: project.clone(),
        name: name.clone(),
    };
    let reply: SecretRemoved = call(
        t,
        "secret removal reply",
        Request::new(Method::DELETE, path, command),
    )
    .await?;
    if t.json {
        print_json(&reply)?;
    } else {
        emit(&format!(
            "removed secret {project}/{name} ({} version(s))\n",
            reply.removed_versions
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys rotate`: the report; exit 1 when a version could not be re-wrapped.
pub async fn rotate(t: &Target<'_>) -> anyhow::Result<ExitCode> {
    let request = Request::new(Method::POST, "/v1/keys/rotations", Command::KeyRotate).slow();
    let reply: RotationReport = call(t, "rotation report", request).await?;
    if t.json {
        print_json(&reply)?;
    } else {
        emit(&rotation(&reply))?;
    }
    let failed = &reply.failed;
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = failed.iter().map(|f| f.secret.as_str()).collect();
    Err(Failure::refused(format!(
        "{} version(s) could not be re-wrapped ({}); the keys they use were kept",
        failed.len(),
        names.join(", ")
    ))
    .hint("see the reasons above; a damaged version can be replaced with `bulkhead secret set`, then run `bulkhead keys rotate` again")
    .into())
}

/// A rotation report as text.
fn rotation(r: &RotationReport) -> String {
    let mut out = String::new();
    let kek = r.kek.as_ref().map_or("-", |k| k.as_str());
    let how = if r.created { "new" } else { "continued" };
    let _ = writeln!(
        out,
        "key-encryption key {kek} ({how}): {} version(s) re-wrapped, {} already current, {} removed meanwhile",
        r.rewrapped, r.already_current, r.vanished
    );
    let keys = |ids: &[KekId]| -> String {
        if ids.is_empty() {
            "none".into()
        } else {
            ids.iter().map(KekId::as_str).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(out, "retired: {}", keys(&r.retired));
    if !r.kept.is_empty() {
        let _ = writeln!(out, "kept (still in use): {}", keys(&r.kept));
    }
    for f in &r.failed {
        let _ = writeln!(out, "failed: {}: {}", f.secret, f.reason);
    }
    if r.interrupted {
        let _ = writeln!(
            out,
            "interrupted: run `bulkhead keys rotate` again to finish"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage_message(given: &str) -> String {
        match secret_of(given) {
            Ok(_) => panic!("{given:?} was accepted"),
            Err(e) => {
                let f = e.downcast_ref::<Failure>().expect("a Failure");
                assert_eq!(f.code, 2, "{given:?}");
                f.message.clone()
            }
        }
    }

    #[test]
    fn secret_names_are_checked_before_anything_runs() {
        let (p, n) = secret_of("shop/db-password").expect("valid");
        assert_eq!((p.as_str(), n.as_str()), ("shop", "db-password"));
        assert!(usage_message("shop/a/b").contains("contains `/`"));
        assert!(usage_message("shop/..").contains("contains `..`"));
        assert!(usage_message("shop/a\0b").contains("NUL"));
        assert!(usage_message("shop/").contains("it is empty"));
        let no_slash = usage_message("hunter2");
        assert!(no_slash.contains("PROJECT/NAME"), "{no_slash}");
        assert!(!no_slash.contains("hunter2"), "not echoed: {no_slash}");
    }

    #[test]
    fn a_value_is_read_up_to_one_byte_over_the_limit() {
        let mut big = std::io::repeat(b'x').take(10 << 20);
        let mut buf = vec![0u8; MAX_SECRET_BYTES + 1];
        assert_eq!(fill(&mut big, &mut buf).ok(), Some(MAX_SECRET_BYTES + 1));
        let mut small: &[u8] = b"abc\n";
        assert_eq!(fill(&mut small, &mut buf).ok(), Some(4));
    }

    #[test]
    fn the_rotation_report_reads_as_text() {
        let r = json!({
            "kek": "66687aadf862bd77", "created": true, "rewrapped": 3, "already_current": 0,
            "vanished": 0, "retired": ["0123456789abcdef"], "kept": [],
            "failed": [{"secret": "shop/db v2", "reason": "does not open"}], "interrupted": false
        });
        let r: RotationReport = read("rotation report", r).unwrap_or_else(|e| panic!("{e:#}"));
        let text = rotation(&r);
        assert!(
            text.starts_with("key-encryption key 66687aadf862bd77 (new): 3 version(s) re-wrapped"),
            "{text}"
        );
        assert!(text.contains("retired: 0123456789abcdef\n"), "{text}");
        assert!(
            text.contains("failed: shop/db v2: does not open\n"),
            "{text}"
        );
    }
}
