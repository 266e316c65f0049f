//! The store's operations as synchronous redb transactions, one transaction per operation.
//!
//! Every write commits with redb's default `Durability::Immediate`: when `commit()` returns the
//! data is on disk (fsync'd), which is what the `Store` port promises. Do not lower it.

use bulkhead_ports::{ProjectRecord, Release, StoreError};
use redb::{Database, ReadableDatabase, ReadableTable, Table, WriteTransaction};

use crate::activations::{clear_active, set_active};
use crate::tables::{
    ACTIVE, CodecError, HANDOVERS, PROJECTS, RELEASES, check_name, decode, decode_release, encode,
    number_of_key, prefix_end, project_prefix, release_key, service_prefix, show_key,
};

#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    #[error("{0}")]
    Redb(redb::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("release {number} of {project}/{service} does not exist")]
    NoSuchRelease {
        project: String,
        service: String,
        number: u64,
    },
    #[error("the active pointer of {project}/{service} names release {number}, which is missing")]
    DanglingActive {
        project: String,
        service: String,
        number: u64,
    },
    #[error("release numbers of {project}/{service} are exhausted")]
    NumbersExhausted { project: String, service: String },
    #[error("{what} {name} already exists")]
    Exists { what: &'static str, name: String },
    #[error("{what} {name} does not exist")]
    NotFound { what: &'static str, name: String },
    /// A compare-and-set lost (a secret version recorded meanwhile).
    #[error("{what} {name} changed meanwhile: {reason}")]
    Conflict {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// Two tables disagree (an index entry without its record, a token without its owner).
    #[error("{reason}")]
    Inconsistent { reason: String },
}

crate::from_redb_errors!(OpError, |err| OpError::Redb(err));

impl OpError {
    pub(crate) fn into_store(self, operation: &'static str) -> StoreError {
        match self {
            OpError::NoSuchRelease {
                project,
                service,
                number,
            } => StoreError::NoSuchRelease {
                project,
                service,
                number,
            },
            OpError::Exists { what, name } => StoreError::Exists { what, name },
            OpError::NotFound { what, name } => StoreError::NotFound { what, name },
            OpError::Conflict { what, name, reason } => StoreError::Conflict { what, name, reason },
            OpError::Codec(CodecError::BadValue { .. })
            | OpError::DanglingActive { .. }
            | OpError::Inconsistent { .. }
            | OpError::Redb(
                redb::Error::Corrupted(_)
                | redb::Error::TableTypeMismatch { .. }
                | redb::Error::TableIsMultimap(_)
                | redb::Error::TableDoesNotExist(_),
            ) => StoreError::Corrupt {
                reason: self.to_string(),
            },
            other => StoreError::Io {
                operation,
                reason: other.to_string(),
            },
        }
    }
}

type Releases<'t> = Table<'t, &'static [u8], &'static [u8]>;
type ActiveKey = (&'static [u8], &'static [u8]);

pub(crate) fn put_project(db: &Database, project: &ProjectRecord) -> Result<(), OpError> {
    let value = encode("projects", project)?;
    let txn = db.begin_write()?;
    txn.open_table(PROJECTS)?
        .insert(project.name.as_bytes(), value.as_slice())?;
    txn.commit()?;
    Ok(())
}

pub(crate) fn get_project(db: &Database, name: &str) -> Result<Option<ProjectRecord>, OpError> {
    let txn = db.begin_read()?;
    let projects = txn.open_table(PROJECTS)?;
    let Some(value) = projects.get(name.as_bytes())? else {
        return Ok(None);
    };
    Ok(Some(decode("projects", name.as_bytes(), value.value())?))
}

pub(crate) fn list_projects(db: &Database) -> Result<Vec<ProjectRecord>, OpError> {
    let txn = db.begin_read()?;
    let projects = txn.open_table(PROJECTS)?;
    let mut out = Vec::new();
    for entry in projects.iter()? {
        let (key, value) = entry?;
        out.push(decode("projects", key.value(), value.value())?);
    }
    Ok(out)
}

/// Removes the project, its releases and its active pointers in one transaction.
pub(crate) fn delete_project(db: &Database, name: &str) -> Result<(), OpError> {
    let prefix = project_prefix(name)?;
    let end = prefix_end(&prefix);
    let txn = db.begin_write()?;
    txn.open_table(PROJECTS)?.remove(name.as_bytes())?;
    txn.open_table(HANDOVERS)?.remove(name.as_bytes())?;
    txn.open_table(RELEASES)?
        .retain_in(prefix.as_slice()..end.as_slice(), |_, _| false)?;
    let services = active_services(&txn.open_table(ACTIVE)?, name)?;
    for (service, _) in services {
        clear_active(&txn, name, &service_name(&service)?)?;
    }
    txn.commit()?;
    Ok(())
}

/// Marks `project` as possibly holding a replica without its names (`true`) or not.
pub(crate) fn set_handover(db: &Database, project: &str, under_way: bool) -> Result<(), OpError> {
    check_name("project", project)?;
    let txn = db.begin_write()?;
    {
        let mut marks = txn.open_table(HANDOVERS)?;
        if under_way {
            marks.insert(project.as_bytes(), ())?;
        } else {
            marks.remove(project.as_bytes())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Whether `project` is marked (see [`set_handover`]).
pub(crate) fn handover(db: &Database, project: &str) -> Result<bool, OpError> {
    check_name("project", project)?;
    let txn = db.begin_read()?;
    Ok(txn
        .open_table(HANDOVERS)?
        .get(project.as_bytes())?
        .is_some())
}

/// Records `release` under the next number and makes it active (activated by `by`), unless
/// the active release already has its spec hash (then nothing is written). See
/// `Store::record_release`.
pub(crate) fn record_release(
    db: &Database,
    release: Release,
    by: &str,
) -> Result<(Release, bool), OpError> {
    let prefix = service_prefix(&release.project, &release.service)?;
    let txn = db.begin_write()?;
    if let Some(current) = active_release(&txn, &release.project, &release.service)?
        && current.spec_hash == release.spec_hash
    {
        txn.abort()?;
        return Ok((current, false));
    }
    let stored = {
        let mut releases = txn.open_table(RELEASES)?;
        let number = next_number(&releases, &prefix, &release)?;
        let stored = Release { number, ..release };
        let key = release_key(&stored.project, &stored.service, number)?;
        releases.insert(key.as_slice(), encode("releases", &stored)?.as_slice())?;
        stored
    };
    set_active(&txn, &stored.project, &stored.service, stored.number, by)?;
    txn.commit()?;
    Ok((stored, true))
}

/// A deploy's writes in one transaction (one sync): the project record, then per release:
/// unchanged when the active release has its hash; the latest release re-activated when the
/// service has none active (after `down`) and the latest has its hash; else a new release with
/// the next number, made active. Every service of the deploy is then recorded as activated by
/// its release's author (the deployer), unchanged ones included: the deployer was allowed to
/// deploy it as it is.
pub(crate) fn record_deploy(
    db: &Database,
    project: &ProjectRecord,
    releases: Vec<Release>,
) -> Result<Vec<(Release, bool)>, OpError> {
    let value = encode("projects", project)?;
    let txn = db.begin_write()?;
    txn.open_table(PROJECTS)?
        .insert(project.name.as_bytes(), value.as_slice())?;
    let mut out = Vec::with_capacity(releases.len());
    for release in releases {
        let prefix = service_prefix(&release.project, &release.service)?;
        let current = active_release(&txn, &release.project, &release.service)?;
        if let Some(current) = &current
            && current.spec_hash == release.spec_hash
        {
            set_active(
                &txn,
                &current.project,
                &current.service,
                current.number,
                &release.created_by,
            )?;
            out.push((current.clone(), false));
            continue;
        }
        let mut table = txn.open_table(RELEASES)?;
        if current.is_none() {
            let end = prefix_end(&prefix);
            let latest = match table.range(prefix.as_slice()..end.as_slice())?.next_back() {
                Some(entry) => {
                    let (key, value) = entry?;
                    Some(decode::<Release>("releases", key.value(), value.value())?)
                }
                None => None,
            };
            if let Some(latest) = latest.filter(|l| l.spec_hash == release.spec_hash) {
                drop(table);
                set_active(
                    &txn,
                    &latest.project,
                    &latest.service,
                    latest.number,
                    &release.created_by,
                )?;
                out.push((latest, false));
                continue;
            }
        }
        let number = next_number(&table, &prefix, &release)?;
        let stored = Release { number, ..release };
        let key = release_key(&stored.project, &stored.service, number)?;
        table.insert(key.as_slice(), encode("releases", &stored)?.as_slice())?;
        drop(table);
        let by = stored.created_by.clone();
        set_active(&txn, &stored.project, &stored.service, number, &by)?;
        out.push((stored, true));
    }
    txn.commit()?;
    Ok(out)
}

/// Last number over all releases of the service (not the active one) plus one.
fn next_number(releases: &Releases<'_>, prefix: &[u8], release: &Release) -> Result<u64, OpError> {
    let end = prefix_end(prefix);
    let last = match releases.range(prefix..end.as_slice())?.next_back() {
        Some(entry) => number_of_key(entry?.0.value())?,
        None => 0,
    };
    last.checked_add(1)
        .ok_or_else(|| OpError::NumbersExhausted {
            project: release.project.clone(),
            service: release.service.clone(),
        })
}

/// The active release of one service, read inside a write transaction.
fn active_release(
    txn: &WriteTransaction,
    project: &str,
    service: &str,
) -> Result<Option<Release>, OpError> {
    let active = txn.open_table(ACTIVE)?;
    let Some(number) = active.get((project.as_bytes(), service.as_bytes()))? else {
        return Ok(None);
    };
    let releases = txn.open_table(RELEASES)?;
    let found = read_release(&releases, project, service, number.value())?;
    found.map(Some).ok_or_else(|| OpError::DanglingActive {
        project: project.to_owned(),
        service: service.to_owned(),
        number: number.value(),
    })
}

fn read_release(
    releases: &impl ReadableTable<&'static [u8], &'static [u8]>,
    project: &str,
    service: &str,
    number: u64,
) -> Result<Option<Release>, OpError> {
    let key = release_key(project, service, number)?;
    match releases.get(key.as_slice())? {
        Some(value) => Ok(Some(decode_release(&key, value.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn releases(
    db: &Database,
    project: &str,
    service: &str,
) -> Result<Vec<Release>, OpError> {
    let prefix = service_prefix(project, service)?;
    let end = prefix_end(&prefix);
    let txn = db.begin_read()?;
    let releases = txn.open_table(RELEASES)?;
    let mut out = Vec::new();
    for entry in releases.range(prefix.as_slice()..end.as_slice())? {
        let (key, value) = entry?;
        out.push(decode_release(key.value(), value.value())?);
    }
    Ok(out)
}

pub(crate) fn release(
    db: &Database,
    project: &str,
    service: &str,
    number: u64,
) -> Result<Option<Release>, OpError> {
    let txn = db.begin_read()?;
    let releases = txn.open_table(RELEASES)?;
    read_release(&releases, project, service, number)
}

/// The active release of every service of the project, sorted by service.
pub(crate) fn active(db: &Database, project: &str) -> Result<Vec<Release>, OpError> {
    check_name("project", project)?;
    let txn = db.begin_read()?;
    let active = txn.open_table(ACTIVE)?;
    let releases = txn.open_table(RELEASES)?;
    let mut out = Vec::new();
    for (service, number) in active_services(&active, project)? {
        let service = service_name(&service)?;
        let found = read_release(&releases, project, &service, number)?;
        out.push(found.ok_or_else(|| OpError::DanglingActive {
            project: project.to_owned(),
            service,
            number,
        })?);
    }
    Ok(out)
}

/// Makes an existing release active, activated by `by`.
pub(crate) fn activate(
    db: &Database,
    project: &str,
    service: &str,
    number: u64,
    by: &str,
) -> Result<Release, OpError> {
    let txn = db.begin_write()?;
    let found = read_release(&txn.open_table(RELEASES)?, project, service, number)?;
    let Some(release) = found else {
        txn.abort()?;
        return Err(OpError::NoSuchRelease {
            project: project.to_owned(),
            service: service.to_owned(),
            number,
        });
    };
    set_active(&txn, project, service, number, by)?;
    txn.commit()?;
    Ok(release)
}

/// Forgets the active pointers of `services` in one transaction; the releases stay.
pub(crate) fn deactivate(db: &Database, project: &str, services: &[String]) -> Result<(), OpError> {
    let txn = db.begin_write()?;
    for service in services {
        clear_active(&txn, project, service)?;
    }
    txn.commit()?;
    Ok(())
}

/// The services of the project that have an active pointer, with its number, in the order of
/// the (project, service) keys: by service bytes, which is the order of `String`.
fn active_services(
    active: &impl ReadableTable<ActiveKey, u64>,
    project: &str,
) -> Result<Vec<(Vec<u8>, u64)>, OpError> {
    let mut services = Vec::new();
    for entry in active.range((project.as_bytes(), &[][..])..)? {
        let (key, number) = entry?;
        let (key_project, key_service) = key.value();
        if key_project != project.as_bytes() {
            break;
        }
        services.push((key_service.to_vec(), number.value()));
    }
    Ok(services)
}

fn service_name(bytes: &[u8]) -> Result<String, OpError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        OpError::Codec(CodecError::BadValue {
            table: "active",
            key: show_key(bytes),
            reason: "the service name is not UTF-8".to_owned(),
        })
    })
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
