//! The on-disk layout: table definitions, key encoding, and the JSON codec of stored values.
//!
//! Keys and values are raw bytes (`&[u8]`), never `&str`: redb decodes `&str` with an
//! `unwrap()`, so a damaged byte would panic instead of being reported as corruption.

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

use bulkhead_core::auth::{Binding, Scope};
use bulkhead_ports::Release;

/// `schema_version` → u32.
pub(crate) const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
/// The key of the schema version in [`META`].
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
/// Project name → JSON of `ProjectRecord`.
pub(crate) const PROJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("projects");
/// `project\0service\0{number:020}` → JSON of `Release`; a range scan lists a service's
/// releases in number order.
pub(crate) const RELEASES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("releases");
/// (project, service) → number of the active release.
pub(crate) const ACTIVE: TableDefinition<(&[u8], &[u8]), u64> = TableDefinition::new("active");
/// (project, service) → the name of the account that made the active release active (schema
/// 4): written with every change of [`ACTIVE`], in the same transaction.
pub(crate) const ACTIVATED_BY: TableDefinition<(&[u8], &[u8]), &[u8]> =
    TableDefinition::new("activated_by");

/// User name → JSON of `UserRecord` (schema 2).
pub(crate) const USERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("users");
/// Token id → JSON of `TokenRecord`: the hash, never the secret (schema 2).
pub(crate) const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
/// (owner, token id) → nothing: the index of an account's tokens (schema 2).
pub(crate) const USER_TOKENS: TableDefinition<(&[u8], &[u8]), ()> =
    TableDefinition::new("user_tokens");
/// (user, [`binding_key`]) → JSON of `Binding` (schema 2).
pub(crate) const BINDINGS: TableDefinition<(&[u8], &[u8]), &[u8]> =
    TableDefinition::new("bindings");

/// `project\0name\0{version:020}` → JSON of `SecretVersion`: the sealed value, never a
/// plaintext (schema 3). A range scan lists a secret's versions in order.
pub(crate) const SECRETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("secrets");
/// (project, name) → the highest version ever recorded, kept after the secret is removed so
/// that numbers are never reused (schema 3).
pub(crate) const SECRET_HEADS: TableDefinition<(&[u8], &[u8]), u64> =
    TableDefinition::new("secret_heads");

/// Project → nothing: a run of the project may have left a replica without its names on a
/// network (a handover under way, or cut short); cleared when a run ends with every replica
/// lit (schema 5).
pub(crate) const HANDOVERS: TableDefinition<&[u8], ()> = TableDefinition::new("handovers");

/// Width of the zero-padded release number at the end of a release key.
const NUMBER_WIDTH: usize = 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("the {what} name {name:?} contains a NUL byte")]
    NulInName { what: &'static str, name: String },
    #[error("table {table}, key {key:?}: {reason}")]
    BadValue {
        table: &'static str,
        key: String,
        reason: String,
    },
    #[error("cannot encode the value for table {table}: {source}")]
    Encode {
        table: &'static str,
        source: serde_json::Error,
    },
}

/// Refuses names that would break the NUL-separated release keys.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), CodecError> {
    if name.as_bytes().contains(&0) {
        return Err(CodecError::NulInName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// `project\0service\0`: every release key of the service starts with it.
pub(crate) fn service_prefix(project: &str, service: &str) -> Result<Vec<u8>, CodecError> {
    check_name("project", project)?;
    check_name("service", service)?;
    Ok(format!("{project}\0{service}\0").into_bytes())
}

/// `project\0`: every release key of the project starts with it.
pub(crate) fn project_prefix(project: &str) -> Result<Vec<u8>, CodecError> {
    check_name("project", project)?;
    Ok(format!("{project}\0").into_bytes())
}

/// The first key after every key that starts with `prefix` (which ends in NUL).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = 1;
    }
    end
}

pub(crate) fn release_key(
    project: &str,
    service: &str,
    number: u64,
) -> Result<Vec<u8>, CodecError> {
    let mut key = service_prefix(project, service)?;
    key.extend_from_slice(format!("{number:0NUMBER_WIDTH$}").as_bytes());
    Ok(key)
}

/// The release number at the end of a release key.
pub(crate) fn number_of_key(key: &[u8]) -> Result<u64, CodecError> {
    let bad = |reason: &str| CodecError::BadValue {
        table: "releases",
        key: show_key(key),
        reason: reason.to_owned(),
    };
    let digits = key
        .len()
        .checked_sub(NUMBER_WIDTH)
        .and_then(|start| key.get(start..))
        .ok_or_else(|| bad("the key is too short for a release number"))?;
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| bad("the key does not end in a release number"))
}

/// `role\0scope` within a user's bindings, the scope `*` for all projects (no project name
/// can be `*`, nor hold a NUL).
pub(crate) fn binding_key(binding: &Binding) -> Vec<u8> {
    let scope = match &binding.scope {
        Scope::All => "*",
        Scope::Project(project) => project.as_str(),
    };
    format!("{}\0{scope}", binding.role).into_bytes()
}

/// A key as text for error messages (NUL shown as `/`).
pub(crate) fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

pub(crate) fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|source| CodecError::Encode { table, source })
}

pub(crate) fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, CodecError> {
    serde_json::from_slice(bytes).map_err(|err| CodecError::BadValue {
        table,
        key: show_key(key),
        reason: format!("invalid JSON: {err}"),
    })
}

/// Decodes a release and checks that it is the one its key names.
pub(crate) fn decode_release(key: &[u8], bytes: &[u8]) -> Result<Release, CodecError> {
    let release: Release = decode("releases", key, bytes)?;
    let expected = release_key(&release.project, &release.service, release.number).ok();
    if expected.as_deref() != Some(key) {
        return Err(CodecError::BadValue {
            table: "releases",
            key: show_key(key),
            reason: format!(
                "the value is release {} of {}/{}",
                release.number, release.project, release.service
            ),
        });
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_keys_sort_by_number_and_round_trip() -> Result<(), CodecError> {
        let nine = release_key("p", "web", 9)?;
        let ten = release_key("p", "web", 10)?;
        assert!(nine < ten);
        assert_eq!(number_of_key(&ten)?, 10);
        assert_eq!(
            number_of_key(&release_key("p", "web", u64::MAX)?)?,
            u64::MAX
        );
        Ok(())
    }

    #[test]
    fn prefixes_bound_their_keys() -> Result<(), CodecError> {
        let prefix = service_prefix("p", "web")?;
        let end = prefix_end(&prefix);
        let key = release_key("p", "web", 3)?;
        assert!(prefix <= key && key < end);
        let other = release_key("p", "web2", 1)?;
        assert!(!(prefix <= other && other < end));
        let project = project_prefix("p")?;
        assert!(project <= key && key < prefix_end(&project));
        assert!(release_key("p2", "web", 1)? >= prefix_end(&project));
        Ok(())
    }

    #[test]
    fn names_with_nul_are_refused() {
        assert!(matches!(
            service_prefix("p\0x", "web"),
            Err(CodecError::NulInName { .. })
        ));
        assert!(project_prefix("p\0").is_err());
    }

    #[test]
    fn bad_keys_and_json_are_errors() {
        assert!(number_of_key(b"short").is_err());
        assert!(number_of_key(b"p\0s\0xxxxxxxxxxxxxxxxxxxx").is_err());
        let err = decode::<Release>("releases", b"p\0s\0k", b"{not json")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("p/s/k")));
    }
}
