//! The other files a spec names that loading reads — included Compose files and their
//! variables files, `extends.file`, `label_file` — asked for by the loader pass by pass
//! (`load_step`), each confined like every path of the spec (symbolic links resolved; inside
//! the project, or for a local deploy an allowed directory; never outside an upload), read with
//! no link followed, and bounded in size, count and total bytes. Errors name the key, the place
//! and the path, never a byte of the file.

use std::path::Path;

use bulkhead_core::spec::load::MAX_FILE_BYTES;
use bulkhead_core::spec::paths::{NamedPath, PathUse, Slot};
use bulkhead_core::spec::sources::MAX_LOADED_FILES;
use bulkhead_core::spec::{
    ErrorKind, LoadInput, Project, SourceFile, SpecError, SpecErrors, Step, Wanted, load_step,
};

use super::confine::{self, Bounds};
use super::files::{self, FileError};
use super::{OpenError, display};

/// Most bytes all the other files of one project may hold together.
pub const MAX_LOADED_BYTES: usize = 16 << 20;

/// Load `input`, reading the other files its spec names as the loader asks for them.
pub(super) fn load_all(
    mut input: LoadInput,
    bounds: &Bounds,
    cwd: &Path,
) -> Result<Project, OpenError> {
    let mut total = 0usize;
    loop {
        let wanted = match load_step(&input) {
            Step::Done(r) => return Ok((*r)?),
            Step::Needs(wanted) => wanted,
        };
        let first = wanted.first().map(|w| w.span.clone());
        let too_much = |what: String| {
            let span = first
                .clone()
                .unwrap_or_else(|| bulkhead_core::spec::Span::synthetic(&input.project_dir));
            OpenError::Spec(SpecErrors(vec![SpecError::value(&span, what).with_hint(
                "keep a project's Compose files, and the files they include or extend, fewer and smaller",
            )]))
        };
        if input.extra.len() + wanted.len() > MAX_LOADED_FILES {
            return Err(too_much(format!(
                "the project names more than {MAX_LOADED_FILES} other files to load (include, extends.file, label_file)"
            )));
        }
        let mut errors = Vec::new();
        for w in wanted {
            match read(&w, bounds, cwd) {
                Ok(file) => {
                    total += file.as_ref().map_or(0, |f| f.text.len());
                    input.extra.insert(w.path, file);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(OpenError::Spec(SpecErrors(errors)));
        }
        if total > MAX_LOADED_BYTES {
            return Err(too_much(format!(
                "the files the project includes, extends and reads labels from hold more than {} MiB together",
                MAX_LOADED_BYTES >> 20
            )));
        }
    }
}

/// The file `w` asks for, confined and read; `None` for an optional one that is not there.
fn read(w: &Wanted, bounds: &Bounds, cwd: &Path) -> Result<Option<SourceFile>, SpecError> {
    let named = NamedPath {
        key: w.key.clone(),
        written: w.written.clone(),
        lexical: w.path.clone(),
        span: w.span.clone(),
        usage: PathUse::File,
        required: w.required,
        slot: Slot::Loaded,
    };
    let Some(real) = confine::resolve(&named, bounds)? else {
        return Ok(None);
    };
    match files::read_text_nofollow(&real, MAX_FILE_BYTES) {
        Ok(text) => Ok(Some(SourceFile {
            name: display(cwd, Path::new(&w.path)),
            text,
        })),
        Err(FileError::NotFound { .. }) if !w.required => Ok(None),
        Err(e) => Err(SpecError::new(
            ErrorKind::Io,
            &w.span,
            format!("{}: `{}`: {e}", w.key, w.written),
        )),
    }
}

#[cfg(test)]
#[path = "named_tests.rs"]
mod tests;
