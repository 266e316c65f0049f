//! Sealed secret versions as redb transactions, one per operation: the `secrets` table (one
//! record per version, the value sealed) and `secret_heads` (the highest number each secret ever
//! had, so numbers are never reused). Listings read a light view of each record that skips the
//! ciphertext. Errors are `ops::OpError`.

use std::borrow::Cow;

use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::{
    KekId, SecretName, SecretRef, SecretSummary, SecretVersion, SecretVersionInfo, TAG_BYTES,
    WrappedDek, WrappedVersion,
};
use bulkhead_ports::Rewrapped;
use redb::{Database, ReadableDatabase, ReadableTable};
use serde::Deserialize;

use crate::ops::OpError;
use crate::tables::{CodecError, SECRET_HEADS, SECRETS, decode, encode, prefix_end, show_key};

/// Width of the zero-padded version number at the end of a secret key.
const VERSION_WIDTH: usize = 20;

/// `project\0name\0`: every key of the secret's versions starts with it. Both names are
/// validated types, so neither holds a NUL.
fn secret_prefix(project: &ProjectName, name: &SecretName) -> Vec<u8> {
    format!("{project}\0{name}\0").into_bytes()
}

fn secret_key(project: &ProjectName, name: &SecretName, version: u64) -> Vec<u8> {
    let mut key = secret_prefix(project, name);
    key.extend_from_slice(format!("{version:0VERSION_WIDTH$}").as_bytes());
    key
}

fn shown(project: &ProjectName, name: &SecretName) -> String {
    format!("{project}/{name}")
}

fn bad_value(key: &[u8], reason: String) -> OpError {
    OpError::Codec(CodecError::BadValue {
        table: "secrets",
        key: show_key(key),
        reason,
    })
}

/// What listings read of a record: everything but the ciphertext's bytes (borrowed, and only
/// measured).
#[derive(Deserialize)]
struct View<'a> {
    project: ProjectName,
    name: SecretName,
    version: u64,
    created_at: u64,
    created_by: String,
    #[serde(borrow)]
    sealed: SealedView<'a>,
}

#[derive(Deserialize)]
struct SealedView<'a> {
    dek: WrappedDek,
    #[serde(borrow)]
    ciphertext: Cow<'a, str>,
}

impl View<'_> {
    fn decode<'a>(key: &[u8], bytes: &'a [u8]) -> Result<View<'a>, OpError> {
        let view: View<'a> = serde_json::from_slice(bytes)
            .map_err(|err| bad_value(key, format!("invalid JSON: {err}")))?;
        check_key(key, &view.project, &view.name, view.version)?;
        Ok(view)
    }

    fn info(self) -> SecretVersionInfo {
        // Standard base64 with padding: 4 characters per 3 bytes.
        let text = self.sealed.ciphertext.as_bytes();
        let padding = text.iter().rev().take_while(|b| **b == b'=').count();
        let bytes = (text.len() / 4 * 3).saturating_sub(padding);
        SecretVersionInfo {
            version: self.version,
            created_at: self.created_at,
            created_by: self.created_by,
            size: bytes.saturating_sub(TAG_BYTES) as u64,
            kek_id: self.sealed.dek.kek_id,
        }
    }
}

/// Refuses a record stored under another secret's key (a moved or swapped record).
fn check_key(
    key: &[u8],
    project: &ProjectName,
    name: &SecretName,
    version: u64,
) -> Result<(), OpError> {
    if secret_key(project, name, version) != key {
        return Err(bad_value(
            key,
            format!("the value is version {version} of {project}/{name}"),
        ));
    }
    Ok(())
}

fn decode_secret(key: &[u8], bytes: &[u8]) -> Result<SecretVersion, OpError> {
    let secret: SecretVersion = decode("secrets", key, bytes)?;
    check_key(key, &secret.project, &secret.name, secret.version)?;
    Ok(secret)
}

pub(crate) fn put_secret(db: &Database, secret: &SecretVersion) -> Result<(), OpError> {
    let key = secret_key(&secret.project, &secret.name, secret.version);
    let value = encode("secrets", secret)?;
    let head_key = (
        secret.project.as_str().as_bytes(),
        secret.name.as_str().as_bytes(),
    );
    let txn = db.begin_write()?;
    let highest = txn
        .open_table(SECRET_HEADS)?
        .get(head_key)?
        .map_or(0, |v| v.value());
    let next = highest.checked_add(1);
    if next != Some(secret.version) {
        txn.abort()?;
        let reason = match next {
            Some(next) => format!(
                "version {} was to be recorded, but the next version is {next}",
                secret.version
            ),
            None => "its version numbers are exhausted".to_owned(),
        };
        return Err(OpError::Conflict {
            what: "secret",
            name: shown(&secret.project, &secret.name),
            reason,
        });
    }
    txn.open_table(SECRET_HEADS)?
        .insert(head_key, secret.version)?;
    txn.open_table(SECRETS)?
        .insert(key.as_slice(), value.as_slice())?;
    txn.commit()?;
    Ok(())
}

pub(crate) fn next_secret_version(
    db: &Database,
    project: &ProjectName,
    name: &SecretName,
) -> Result<u64, OpError> {
    let txn = db.begin_read()?;
    let heads = txn.open_table(SECRET_HEADS)?;
    let highest = heads
        .get((project.as_str().as_bytes(), name.as_str().as_bytes()))?
        .map_or(0, |v| v.value());
    highest.checked_add(1).ok_or_else(|| OpError::Conflict {
        what: "secret",
        name: shown(project, name),
        reason: "its version numbers are exhausted".to_owned(),
    })
}

pub(crate) fn secret(
    db: &Database,
    project: &ProjectName,
    name: &SecretName,
    version: u64,
) -> Result<Option<SecretVersion>, OpError> {
    let key = secret_key(project, name, version);
    let txn = db.begin_read()?;
    let secrets = txn.open_table(SECRETS)?;
    match secrets.get(key.as_slice())? {
        Some(value) => Ok(Some(decode_secret(&key, value.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn latest_secret(
    db: &Database,
    project: &ProjectName,
    name: &SecretName,
) -> Result<Option<SecretVersion>, OpError> {
    let prefix = secret_prefix(project, name);
    let end = prefix_end(&prefix);
    let txn = db.begin_read()?;
    let secrets = txn.open_table(SECRETS)?;
    match secrets
        .range(prefix.as_slice()..end.as_slice())?
        .next_back()
    {
        Some(entry) => {
            let (key, value) = entry?;
            Ok(Some(decode_secret(key.value(), value.value())?))
        }
        None => Ok(None),
    }
}

pub(crate) fn secret_versions(
    db: &Database,
    project: &ProjectName,
    name: &SecretName,
) -> Result<Vec<SecretVersionInfo>, OpError> {
    let prefix = secret_prefix(project, name);
    let end = prefix_end(&prefix);
    let txn = db.begin_read()?;
    let secrets = txn.open_table(SECRETS)?;
    let mut out = Vec::new();
    for entry in secrets.range(prefix.as_slice()..end.as_slice())? {
        let (key, value) = entry?;
        out.push(View::decode(key.value(), value.value())?.info());
    }
    Ok(out)
}

pub(crate) fn list_secrets(
    db: &Database,
    project: &ProjectName,
) -> Result<Vec<SecretSummary>, OpError> {
    let prefix = format!("{project}\0").into_bytes();
    let end = prefix_end(&prefix);
    let txn = db.begin_read()?;
    let secrets = txn.open_table(SECRETS)?;
    let mut out: Vec<SecretSummary> = Vec::new();
    for entry in secrets.range(prefix.as_slice()..end.as_slice())? {
        let (key, value) = entry?;
        let view = View::decode(key.value(), value.value())?;
        // Keys sort by name, then version: a secret's versions are adjacent and ascending.
        match out.last_mut() {
            Some(last) if last.name == view.name => {
                last.versions.push(view.version);
                last.latest = view.version;
                last.created_at = view.created_at;
                last.created_by = view.created_by;
            }
            _ => out.push(SecretSummary {
                name: view.name,
                versions: vec![view.version],
                latest: view.version,
                created_at: view.created_at,
                created_by: view.created_by,
            }),
        }
    }
    Ok(out)
}

/// Removes every version; the head stays, so the next `set` continues the numbering.
pub(crate) fn remove_secret(
    db: &Database,
    project: &ProjectName,
    name: &SecretName,
) -> Result<u64, OpError> {
    let prefix = secret_prefix(project, name);
    let end = prefix_end(&prefix);
    let txn = db.begin_write()?;
    let mut removed = 0u64;
    txn.open_table(SECRETS)?
        .retain_in(prefix.as_slice()..end.as_slice(), |_, _| {
            removed += 1;
            false
        })?;
    if removed == 0 {
        txn.abort()?;
        return Ok(0);
    }
    txn.commit()?;
    Ok(removed)
}

pub(crate) fn wrapped_secret_keys(db: &Database) -> Result<Vec<WrappedVersion>, OpError> {
    let txn = db.begin_read()?;
    let secrets = txn.open_table(SECRETS)?;
    let mut out = Vec::new();
    for entry in secrets.iter()? {
        let (key, value) = entry?;
        let view = View::decode(key.value(), value.value())?;
        out.push(WrappedVersion {
            target: SecretRef {
                project: view.project,
                name: view.name,
                version: view.version,
            },
            dek: view.sealed.dek,
        });
    }
    Ok(out)
}

/// Compare and set on the key-encryption key id; the ciphertext is kept as it is.
pub(crate) fn rewrap_secret(
    db: &Database,
    target: &SecretRef,
    expected: &KekId,
    dek: &WrappedDek,
) -> Result<Rewrapped, OpError> {
    let key = secret_key(&target.project, &target.name, target.version);
    let txn = db.begin_write()?;
    let current = {
        let secrets = txn.open_table(SECRETS)?;
        let found = secrets.get(key.as_slice())?;
        found
            .map(|value| decode_secret(&key, value.value()))
            .transpose()?
    };
    let Some(mut secret) = current else {
        txn.abort()?;
        return Ok(Rewrapped::Gone);
    };
    if &secret.sealed.dek.kek_id != expected {
        txn.abort()?;
        return Ok(Rewrapped::NotUnder {
            found: secret.sealed.dek.kek_id,
        });
    }
    secret.sealed.dek = dek.clone();
    let value = encode("secrets", &secret)?;
    txn.open_table(SECRETS)?
        .insert(key.as_slice(), value.as_slice())?;
    txn.commit()?;
    Ok(Rewrapped::Replaced)
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
