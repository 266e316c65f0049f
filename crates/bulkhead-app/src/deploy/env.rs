//! A service's container environment, as Compose builds it: its `env_file`s in order, then its
//! `environment` (a key without a value is passed through from the deploying process, or left
//! out when the process has none). `.env` only feeds interpolation, never containers. The env
//! files were confined when the project was opened; they are read with no link followed.

use std::collections::BTreeMap;
use std::path::Path;

use bulkhead_core::spec::dotenv;
use bulkhead_core::spec::model::Service;

use bulkhead_core::spec::load::MAX_FILE_BYTES;

use crate::project::files::{FileError, read_text_nofollow};

pub fn resolve(
    service: &Service,
    process: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    let lookup = |k: &str| process.get(k).cloned();
    for f in &service.env_file {
        let path = Path::new(&f.path);
        let text = match read_text_nofollow(path, MAX_FILE_BYTES) {
            Ok(text) => text,
            Err(FileError::NotFound { .. }) if !f.required => continue,
            Err(e) => return Err(e.to_string()),
        };
        let pairs =
            dotenv::parse(&text, &lookup).map_err(|e| format!("{}: {e}", path.display()))?;
        env.extend(pairs);
    }
    for (k, v) in &service.environment {
        match v {
            Some(v) => {
                env.insert(k.clone(), v.clone());
            }
            None => {
                if let Some(v) = process.get(k) {
                    env.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(env)
}
