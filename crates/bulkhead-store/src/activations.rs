//! Who made each active release active: one row per active pointer, written in the same
//! transaction as the pointer (schema 4), read with it, removed with it.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::ops::OpError;
use crate::tables::{
    ACTIVATED_BY, ACTIVE, CodecError, RELEASES, check_name, decode_release, release_key, show_key,
};

/// Points (project, service) at release `number`, made active by `by`.
pub(crate) fn set_active(
    txn: &WriteTransaction,
    project: &str,
    service: &str,
    number: u64,
    by: &str,
) -> Result<(), OpError> {
    let key = (project.as_bytes(), service.as_bytes());
    txn.open_table(ACTIVE)?.insert(key, number)?;
    txn.open_table(ACTIVATED_BY)?.insert(key, by.as_bytes())?;
    Ok(())
}

/// Forgets who activated (project, service) (its pointer is being removed).
pub(crate) fn clear_active(
    txn: &WriteTransaction,
    project: &str,
    service: &str,
) -> Result<(), OpError> {
    let key = (project.as_bytes(), service.as_bytes());
    txn.open_table(ACTIVE)?.remove(key)?;
    txn.open_table(ACTIVATED_BY)?.remove(key)?;
    Ok(())
}

/// Who made each service's active release active, by service.
pub(crate) fn activated_by(
    db: &redb::Database,
    project: &str,
) -> Result<BTreeMap<String, String>, OpError> {
    check_name("project", project)?;
    let txn = db.begin_read()?;
    let table = txn.open_table(ACTIVATED_BY)?;
    let mut out = BTreeMap::new();
    for entry in table.range((project.as_bytes(), &[][..])..)? {
        let (key, by) = entry?;
        let (key_project, key_service) = key.value();
        if key_project != project.as_bytes() {
            break;
        }
        out.insert(utf8(key_service)?, utf8(by.value())?);
    }
    Ok(out)
}

/// Schema 3 → 4: every active pointer gets an activator, the author of the release it names
/// (the best a schema-3 store knows: before schema 4 a rollback was not recorded).
pub(crate) fn backfill(txn: &WriteTransaction) -> Result<(), OpError> {
    let mut rows = Vec::new();
    {
        let active = txn.open_table(ACTIVE)?;
        let releases = txn.open_table(RELEASES)?;
        for entry in active.iter()? {
            let (key, number) = entry?;
            let (project, service) = key.value();
            let (project, service) = (utf8(project)?, utf8(service)?);
            let key = release_key(&project, &service, number.value())?;
            let by = match releases.get(key.as_slice())? {
                Some(value) => decode_release(&key, value.value())?.created_by,
                // A dangling pointer stays dangling (reads report it); nobody activated it.
                None => String::new(),
            };
            rows.push((project, service, by));
        }
    }
    let mut table = txn.open_table(ACTIVATED_BY)?;
    for (project, service, by) in rows {
        table.insert((project.as_bytes(), service.as_bytes()), by.as_bytes())?;
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<String, OpError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        OpError::Codec(CodecError::BadValue {
            table: "activated_by",
            key: show_key(bytes),
            reason: "not UTF-8".to_owned(),
        })
    })
}
