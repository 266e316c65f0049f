//! The state directory: where it is (flag > BULKHEAD_STATE_DIR > $XDG_STATE_HOME/bulkhead >
//! ~/.local/state/bulkhead), created 0700, with a README naming each file.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The store file inside the state directory.
pub const STORE_FILE: &str = "bulkhead.redb";

const README: &str = "This is Bulkhead's state directory. Keep it private (mode 0700).\n\n\
bulkhead.redb   the embedded store: projects, immutable releases, the active release of each\n\
                service, accounts (tokens only as hashes), role bindings, sealed secrets\n\
audit/          the tamper-evident audit log: audit-NNNNNN.jsonl segments, head.json (the latest\n\
                signed checkpoint), writer.lock\n\
keys/           audit-ed25519.key signs audit checkpoints (0600; export the .pub and keep it\n\
                elsewhere); kek-*.key encrypt secrets' data keys (0600)\n\
tls/            the server's TLS identity: ca.pem (the local CA clients trust), ca.key, server.pem,\n\
                server.key (keys 0600)\n\
README          this file\n";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no state directory: set --state-dir or BULKHEAD_STATE_DIR (HOME is not set either)")]
    NoHome,
    #[error("cannot prepare the state directory {path}: {reason}")]
    Prepare { path: PathBuf, reason: String },
}

/// Resolve the state directory from the flag and the environment.
pub fn resolve(flag: Option<&Path>, env: &BTreeMap<String, String>) -> Result<PathBuf, StateError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    if let Some(p) = get("BULKHEAD_STATE_DIR") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = get("XDG_STATE_HOME") {
        return Ok(Path::new(p).join("bulkhead"));
    }
    let home = get("HOME").ok_or(StateError::NoHome)?;
    Ok(Path::new(home).join(".local/state/bulkhead"))
}

/// Create the directory (0700) and its README if missing.
pub fn prepare(dir: &Path) -> Result<(), StateError> {
    let fail = |e: std::io::Error| StateError::Prepare {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    let readme = dir.join("README");
    if !readme.exists() {
        std::fs::write(&readme, README).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let all = env(&[
            ("BULKHEAD_STATE_DIR", "/a"),
            ("XDG_STATE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            resolve(Some(Path::new("/f")), &all).ok(),
            Some(PathBuf::from("/f"))
        );
        assert_eq!(resolve(None, &all).ok(), Some(PathBuf::from("/a")));
        assert_eq!(
            resolve(None, &env(&[("XDG_STATE_HOME", "/x"), ("HOME", "/h")])).ok(),
            Some(PathBuf::from("/x/bulkhead"))
        );
        assert_eq!(
            resolve(None, &env(&[("HOME", "/h")])).ok(),
            Some(PathBuf::from("/h/.local/state/bulkhead"))
        );
        assert!(resolve(None, &env(&[])).is_err());
    }
}
