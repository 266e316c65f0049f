//! Opening the store file: private directories and file, redb's single-process lock, the tables,
//! and the schema version (with the migration path to it).

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bulkhead_ports::StoreError;
use redb::{Database, ReadableTable, WriteTransaction};

use crate::tables::{
    ACTIVATED_BY, ACTIVE, BINDINGS, HANDOVERS, META, PROJECTS, RELEASES, SCHEMA_VERSION_KEY,
    SECRET_HEADS, SECRETS, TOKENS, USER_TOKENS, USERS,
};

/// The schema this code reads and writes. Bump it together with a new migration step (see
/// `migrate` in this module).
///
/// 1: projects, releases, active pointers. 2: and accounts (users, tokens, their owner index,
/// bindings). 3: and sealed secrets (their versions, the highest number of each). 4: and who
/// made each active release active (backfilled from the releases' authors). 5: and the
/// projects whose last run may have left a replica without its names (a handover).
pub const SCHEMA_VERSION: u32 = 5;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("cannot create the directory {dir}: {source}")]
    Dir { dir: PathBuf, source: io::Error },
    #[error("cannot create the file: {0}")]
    File(io::Error),
    #[error("cannot restrict the permissions of {path}: {source}")]
    Permissions { path: PathBuf, source: io::Error },
    #[error(
        "it is already open: another bulkhead process holds it (only one process may use the store at a time)"
    )]
    Locked,
    #[error("{0}")]
    Redb(redb::Error),
    #[error("schema version {found} is newer than this bulkhead's")]
    TooNew { found: u32 },
    #[error("schema version {from} has no migration (no bulkhead ever wrote it)")]
    NoMigration { from: u32 },
    #[error("migrating to schema {to}: {reason}")]
    Migration { to: u32, reason: String },
}

crate::from_redb_errors!(OpenError, |err| match err {
    redb::Error::DatabaseAlreadyOpen => OpenError::Locked,
    other => OpenError::Redb(other),
});

impl OpenError {
    pub(crate) fn into_store(self, path: &Path) -> StoreError {
        let path = path.display().to_string();
        match self {
            OpenError::TooNew { found } => StoreError::Schema {
                path,
                found,
                known: SCHEMA_VERSION,
            },
            OpenError::Redb(redb::Error::Corrupted(reason)) => StoreError::Corrupt {
                reason: format!("{path}: {reason}"),
            },
            OpenError::NoMigration { .. } => StoreError::Corrupt {
                reason: format!("{path}: {self}"),
            },
            other => StoreError::Open {
                path,
                reason: other.to_string(),
            },
        }
    }
}

/// Opens (creating if needed) the database at `path`, at [`SCHEMA_VERSION`].
pub(crate) fn open_database(path: &Path) -> Result<Database, OpenError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dirs(parent)?;
    }
    create_private_file(path)?;
    // Default builder: `ConcurrencyMode::ExclusiveWriter`, so redb locks the file and a second
    // open, from any process, fails with `DatabaseAlreadyOpen`.
    let db = Database::create(path)?;
    prepare_schema(&db)?;
    Ok(db)
}

/// Creates the missing directories of `dir` with mode 0700; existing ones are left alone.
fn create_private_dirs(dir: &Path) -> Result<(), OpenError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| OpenError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
    // The umask may have narrowed the mode; set it explicitly.
    for created in missing {
        restrict(created, DIR_MODE)?;
    }
    Ok(())
}

/// Creates the store file with mode 0600 if it does not exist yet; an existing file keeps its mode.
fn create_private_file(path: &Path) -> Result<(), OpenError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path);
    match created {
        Ok(_) => restrict(path, FILE_MODE),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(OpenError::File(err)),
    }
}

fn restrict(path: &Path, mode: u32) -> Result<(), OpenError> {
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(|source| {
        OpenError::Permissions {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Brings the schema to [`SCHEMA_VERSION`] in one write transaction: a new store gets its tables
/// and version, an older one is migrated, a newer one is refused (nothing written).
fn prepare_schema(db: &Database) -> Result<(), OpenError> {
    let txn = db.begin_write()?;
    let found = {
        let meta = txn.open_table(META)?;
        meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value())
    };
    match found {
        Some(found) if found > SCHEMA_VERSION => return Err(OpenError::TooNew { found }),
        Some(found) if found < SCHEMA_VERSION => migrate(&txn, found)?,
        Some(_) => {
            // Current already: nothing to write.
            txn.abort()?;
            return Ok(());
        }
        None => create_tables(&txn)?,
    }
    txn.open_table(META)?
        .insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
    // Durability::Immediate (redb's default): durable once commit returns.
    txn.commit()?;
    Ok(())
}

/// Creates the tables of the current schema (opening a table in a write transaction creates it),
/// so that read transactions always find them.
fn create_tables(txn: &WriteTransaction) -> Result<(), OpenError> {
    txn.open_table(PROJECTS)?;
    txn.open_table(RELEASES)?;
    txn.open_table(ACTIVE)?;
    txn.open_table(ACTIVATED_BY)?;
    create_account_tables(txn)?;
    create_secret_tables(txn)?;
    txn.open_table(HANDOVERS)?;
    Ok(())
}

/// The tables schema 2 added.
fn create_account_tables(txn: &WriteTransaction) -> Result<(), OpenError> {
    txn.open_table(USERS)?;
    txn.open_table(TOKENS)?;
    txn.open_table(USER_TOKENS)?;
    txn.open_table(BINDINGS)?;
    Ok(())
}

/// The tables schema 3 added.
fn create_secret_tables(txn: &WriteTransaction) -> Result<(), OpenError> {
    txn.open_table(SECRETS)?;
    txn.open_table(SECRET_HEADS)?;
    Ok(())
}

/// One migration step, from schema N to N + 1, run inside the open's write transaction.
type Step = fn(&WriteTransaction) -> Result<(), OpenError>;

/// `STEPS[n - 1]` migrates schema n to n + 1. To change the schema: write `migrate_1_to_2`, add
/// it here, and bump [`SCHEMA_VERSION`] (the assertion below keeps the two in step).
const STEPS: &[Step] = &[
    migrate_1_to_2,
    migrate_2_to_3,
    migrate_3_to_4,
    migrate_4_to_5,
];
const _: () = assert!(STEPS.len() + 1 == SCHEMA_VERSION as usize);

/// Schema 2 adds the account tables, empty: a store that had no accounts has none after it.
fn migrate_1_to_2(txn: &WriteTransaction) -> Result<(), OpenError> {
    create_account_tables(txn)
}

/// Schema 3 adds the secret tables, empty.
fn migrate_2_to_3(txn: &WriteTransaction) -> Result<(), OpenError> {
    create_secret_tables(txn)
}

/// Schema 4 records who activated each active release: the author of the release it names.
fn migrate_3_to_4(txn: &WriteTransaction) -> Result<(), OpenError> {
    crate::activations::backfill(txn).map_err(|e| OpenError::Migration {
        to: 4,
        reason: e.to_string(),
    })
}

/// Schema 5 adds the handover marks, one for every project: a run before it left no mark when
/// it was cut short, so the first run of each project after it looks at every replica it could
/// have left without names (as every run did before).
fn migrate_4_to_5(txn: &WriteTransaction) -> Result<(), OpenError> {
    let mut names = Vec::new();
    for entry in txn.open_table(PROJECTS)?.iter()? {
        names.push(entry?.0.value().to_vec());
    }
    let mut marks = txn.open_table(HANDOVERS)?;
    for name in names {
        marks.insert(name.as_slice(), ())?;
    }
    Ok(())
}

/// Migrates a store written at schema `from` to [`SCHEMA_VERSION`], one step at a time, inside
/// the open's write transaction: a failed migration leaves the store as it was.
fn migrate(txn: &WriteTransaction, from: u32) -> Result<(), OpenError> {
    for version in from..SCHEMA_VERSION {
        let step = version
            .checked_sub(1)
            .and_then(|index| STEPS.get(usize::try_from(index).ok()?))
            .ok_or(OpenError::NoMigration { from: version })?;
        step(txn)?;
    }
    create_tables(txn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::DatabaseError;

    fn write_version(path: &Path, version: u32) -> Result<(), redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert(SCHEMA_VERSION_KEY, version)?;
        txn.commit()?;
        Ok(())
    }

    fn read_version(path: &Path) -> Result<Option<u32>, redb::Error> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value()))
    }

    #[test]
    fn a_new_store_gets_the_current_version() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        drop(open_database(&path)?);
        assert_eq!(read_version(&path)?, Some(SCHEMA_VERSION));
        drop(open_database(&path)?);
        assert_eq!(read_version(&path)?, Some(SCHEMA_VERSION));
        Ok(())
    }

    #[test]
    fn a_version_1_store_gets_the_account_and_secret_tables()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        {
            let db = Database::create(&path)?;
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert(SCHEMA_VERSION_KEY, 1)?;
            txn.open_table(PROJECTS)?;
            txn.open_table(RELEASES)?;
            txn.open_table(ACTIVE)?;
            txn.commit()?;
        }
        let db = open_database(&path)?;
        {
            use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
            let txn = db.begin_read()?;
            assert!(txn.open_table(USERS)?.is_empty()?);
            assert!(txn.open_table(TOKENS)?.is_empty()?);
            assert!(txn.open_table(USER_TOKENS)?.is_empty()?);
            assert!(txn.open_table(BINDINGS)?.is_empty()?);
            assert!(txn.open_table(SECRETS)?.is_empty()?);
            assert!(txn.open_table(SECRET_HEADS)?.is_empty()?);
        }
        drop(db);
        assert_eq!(read_version(&path)?, Some(SCHEMA_VERSION));
        Ok(())
    }

    #[test]
    fn a_version_4_store_marks_every_project_for_a_handover_look()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        {
            let db = Database::create(&path)?;
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert(SCHEMA_VERSION_KEY, 4)?;
            create_tables(&txn)?;
            txn.delete_table(HANDOVERS)?;
            {
                let mut projects = txn.open_table(PROJECTS)?;
                projects.insert(b"shop".as_slice(), b"{}".as_slice())?;
                projects.insert(b"blog".as_slice(), b"{}".as_slice())?;
            }
            txn.commit()?;
        }
        let db = open_database(&path)?;
        {
            use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
            let txn = db.begin_read()?;
            let marks = txn.open_table(HANDOVERS)?;
            assert_eq!(marks.len()?, 2);
            assert!(marks.get(b"shop".as_slice())?.is_some());
            assert!(marks.get(b"blog".as_slice())?.is_some());
        }
        drop(db);
        assert_eq!(read_version(&path)?, Some(SCHEMA_VERSION));
        Ok(())
    }

    #[test]
    fn a_newer_version_is_refused_and_left_alone() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        write_version(&path, SCHEMA_VERSION + 1)?;
        let err = open_database(&path).err().map(|e| e.into_store(&path));
        assert!(
            matches!(err, Some(StoreError::Schema { found, known, .. })
                if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
            "{err:?}"
        );
        assert_eq!(read_version(&path)?, Some(SCHEMA_VERSION + 1));
        Ok(())
    }

    #[test]
    fn a_version_without_migration_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        write_version(&path, 0)?;
        let err = open_database(&path).err();
        assert!(
            matches!(err, Some(OpenError::NoMigration { from: 0 })),
            "{err:?}"
        );
        assert_eq!(read_version(&path)?, Some(0));
        Ok(())
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.redb");
        fs::write(&path, b"definitely not redb")?;
        let err = open_database(&path).err().map(|e| e.into_store(&path));
        assert!(err.is_some(), "garbage opened as a store");
        Ok(())
    }

    #[test]
    fn raw_redb_refuses_a_second_handle_in_the_same_process()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("raw.redb");
        let first = Database::create(&path)?;
        let second = Database::create(&path);
        assert!(
            matches!(second, Err(DatabaseError::DatabaseAlreadyOpen)),
            "{:?}",
            second.err()
        );
        drop(first);
        drop(Database::create(&path)?);
        Ok(())
    }
}
