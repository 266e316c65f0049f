//! The walk that packs a project directory into a ustar archive in memory: sorted, `.git` and
//! the local state directory skipped, what [`Select`] leaves out recorded instead of packed,
//! symbolic links followed only when they stay inside, under the upload cap.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::MAX_ARCHIVE;
use super::select::{Select, Why};
use crate::failure::Failure;

pub(super) struct Packer<'a> {
    pub root: PathBuf,
    pub skip: Option<PathBuf>,
    pub select: &'a Select,
    pub builder: tar::Builder<Vec<u8>>,
    /// The directories being walked (symbolic link loops).
    pub stack: Vec<PathBuf>,
    /// What stayed behind: archive path (a directory with a trailing `/`) and why.
    pub left: Vec<(String, Why)>,
}

fn too_large(dir: &Path) -> anyhow::Error {
    Failure::usage(format!(
        "the project directory {} is over {} MiB packed, the most a server accepts",
        dir.display(),
        (MAX_ARCHIVE >> 20) + 1
    ))
    .hint(
        "move build outputs and data out of the project directory, or list them in .bulkheadignore",
    )
    .into()
}

impl Packer<'_> {
    /// Add the entries of `path` (the real directory) under `rel` in the archive.
    pub fn dir(&mut self, path: &Path, rel: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let at = entry.path();
            if self.skip.as_deref() == Some(at.as_path()) {
                continue;
            }
            self.entry(&at, &rel.join(&name))?;
        }
        Ok(())
    }

    /// Where `at` leads: itself, or the target of a link that stays inside.
    fn real(&self, at: &Path) -> anyhow::Result<(PathBuf, std::fs::Metadata)> {
        let meta = std::fs::symlink_metadata(at)
            .with_context(|| format!("cannot read {}", at.display()))?;
        if !meta.file_type().is_symlink() {
            return Ok((at.to_path_buf(), meta));
        }
        let real = at.canonicalize().map_err(|_| {
            Failure::usage(format!(
                "{} is a symbolic link that points nowhere",
                at.display()
            ))
        })?;
        if !real.starts_with(&self.root) {
            return Err(Failure::usage(format!(
                "{} is a symbolic link to {}, outside the project directory {}; files outside it are not uploaded",
                at.display(),
                real.display(),
                self.root.display()
            ))
            .hint("copy what it points to into the project directory, or remove the link")
            .into());
        }
        let meta =
            std::fs::metadata(&real).with_context(|| format!("cannot read {}", real.display()))?;
        Ok((real, meta))
    }

    fn entry(&mut self, at: &Path, rel: &Path) -> anyhow::Result<()> {
        let (real, meta) = self.real(at)?;
        let name = rel.to_string_lossy().into_owned();
        let left = self.select.left_out(&name, &real);
        if meta.is_dir() {
            if self.stack.contains(&real) {
                return Err(Failure::usage(format!(
                    "{} is a symbolic link into one of its own parents",
                    at.display()
                ))
                .into());
            }
            match left {
                None => self.header(rel, tar::EntryType::Directory, 0o755, &[])?,
                Some(why) if !self.select.walk_anyway(why, &real) => {
                    self.left.push((format!("{name}/"), why));
                    return Ok(());
                }
                // Walked for what may be carried under it; its own entry is not needed (the
                // server makes the parents of what it unpacks).
                Some(_) => {}
            }
            self.stack.push(real.clone());
            self.dir(&real, rel)?;
            self.stack.pop();
            return Ok(());
        }
        if let Some(why) = left {
            self.left.push((name, why));
            return Ok(());
        }
        if !meta.is_file() {
            return Err(Failure::usage(format!(
                "{} is neither a file nor a directory (a socket, a pipe or a device), so it cannot be uploaded",
                at.display()
            ))
            .hint("list it in .bulkheadignore")
            .into());
        }
        let size = meta.len();
        if self.builder.get_ref().len() as u64 + size + 1024 > MAX_ARCHIVE as u64 {
            return Err(too_large(&self.root));
        }
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        // Read first: a file that changes meanwhile is packed as read, never torn.
        let mut data = Vec::new();
        std::fs::File::open(&real)
            .and_then(|f| f.take(size).read_to_end(&mut data))
            .with_context(|| format!("cannot read {}", at.display()))?;
        self.header(rel, tar::EntryType::Regular, mode, &data)
    }

    fn header(
        &mut self,
        rel: &Path,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        self.builder
            .append_data(&mut header, rel, data)
            .with_context(|| format!("cannot pack {}", rel.display()))?;
        if self.builder.get_ref().len() > MAX_ARCHIVE {
            return Err(too_large(&self.root));
        }
        Ok(())
    }
}
