//! A temporary state directory with the real store and key files; the canary search over every
//! file in it; and the raw store edit that swaps two versions' sealed values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use bulkhead_app::secrets::Secrets;
use bulkhead_app::state::STORE_FILE;
use bulkhead_core::auth::ProjectName;
use bulkhead_core::secrets::SecretName;
use bulkhead_keys::FileKeys;
use bulkhead_ports::KeyProvider;
use bulkhead_store::RedbStore;
use redb::{ReadableDatabase as _, TableDefinition};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type AnyError = Box<dyn std::error::Error>;

/// A value that must never be found on disk, in any encoding.
pub const CANARY: &[u8] = b"canary-5f1e9c-must-never-touch-a-disk-7a2b";

pub struct State {
    dir: tempfile::TempDir,
}

impl State {
    pub fn new() -> Result<State, AnyError> {
        Ok(State {
            dir: tempfile::tempdir()?,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join(STORE_FILE)
    }

    /// The store and the key files of the state directory (the first key made if none).
    pub fn secrets(&self) -> Result<Secrets<RedbStore>, AnyError> {
        let keys = FileKeys::open_or_create(self.path())?;
        self.secrets_with(Arc::new(keys))
    }

    pub fn secrets_with(&self, keys: Arc<dyn KeyProvider>) -> Result<Secrets<RedbStore>, AnyError> {
        let store = RedbStore::open(&self.store_path())?;
        Ok(Secrets::new(Arc::new(store), keys))
    }
}

pub fn project(text: &str) -> Result<ProjectName, AnyError> {
    Ok(ProjectName::new(text)?)
}

pub fn name(text: &str) -> Result<SecretName, AnyError> {
    Ok(SecretName::new(text)?)
}

/// Every encoding of `value` a careless write could leave: raw, hex (both cases), base64
/// (standard and URL-safe, at each of the three alignments it can take inside a longer
/// base64 text).
fn forms(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("raw".to_owned(), value.to_vec()),
        ("hex".to_owned(), hex::encode(value).into_bytes()),
        ("HEX".to_owned(), hex::encode_upper(value).into_bytes()),
    ];
    for skip in 0..3 {
        let tail = &value[skip..];
        // Drop the last partial group: it depends on what follows.
        let whole = tail.len() / 3 * 3;
        out.push((
            format!("base64+{skip}"),
            STANDARD.encode(&tail[..whole]).into_bytes(),
        ));
        out.push((
            format!("base64url+{skip}"),
            URL_SAFE.encode(&tail[..whole]).into_bytes(),
        ));
    }
    out
}

/// The files under `dir` (recursively, the store included) holding `value` in any of its
/// forms, with the form found.
pub fn files_containing(dir: &Path, value: &[u8]) -> Result<Vec<(PathBuf, String)>, AnyError> {
    let forms = forms(value);
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path)?;
            for (form, needle) in &forms {
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    found.push((path.clone(), form.clone()));
                }
            }
        }
    }
    if files < 3 {
        return Err(format!(
            "only {files} files under {}: nothing was written?",
            dir.display()
        )
        .into());
    }
    Ok(found)
}

type At<'a> = (&'a str, &'a str, u64);

/// Swaps the `sealed` part of two stored versions, keeping each record's own identity: what
/// an attacker with write access to the store file can do without a key.
pub fn swap_sealed(store: &Path, a: At<'_>, b: At<'_>) -> TestResult {
    let table: TableDefinition<&[u8], &[u8]> = TableDefinition::new("secrets");
    let key = |(project, name, version): At<'_>| format!("{project}\0{name}\0{version:020}");
    let db = redb::Database::create(store)?;
    let read = |at: At<'_>| -> Result<serde_json::Value, AnyError> {
        let txn = db.begin_read()?;
        let value = txn
            .open_table(table)?
            .get(key(at).as_bytes())?
            .ok_or("no such record")?
            .value()
            .to_vec();
        Ok(serde_json::from_slice(&value)?)
    };
    let (mut first, mut second) = (read(a)?, read(b)?);
    std::mem::swap(&mut first["sealed"], &mut second["sealed"]);
    let txn = db.begin_write()?;
    {
        let mut records = txn.open_table(table)?;
        records.insert(key(a).as_bytes(), serde_json::to_vec(&first)?.as_slice())?;
        records.insert(key(b).as_bytes(), serde_json::to_vec(&second)?.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}
