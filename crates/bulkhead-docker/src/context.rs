//! The build context: which entries go (a sorted walk honouring `.dockerignore`, symlinks kept
//! as links and refused when they lead outside), and the tar stream of them the engine reads.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tar::{Builder, Header, HeaderMode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use bulkhead_core::ignore::Ignore;

/// Tar bytes are sent in chunks of this size.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the engine reading them.
const CHUNKS_AHEAD: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("symlink {} points outside the build context (to {})", link.display(), target.display())]
    SymlinkEscape { link: PathBuf, target: PathBuf },
    #[error("the Dockerfile `{0}` must be a relative path inside the build context")]
    Dockerfile(String),
    #[error("{} must be a regular file of the build context (not a link)", .0.display())]
    NotAFile(PathBuf),
    #[error("the engine stopped reading the build context")]
    Closed,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// One archive entry: its `/`-separated path in the context, and where it is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub kind: Kind,
}

/// The entries of `root`, parents before children, sorted. `.dockerignore` applies, except to
/// the Dockerfile and the `.dockerignore` itself (the engine needs them). Sockets, FIFOs and
/// devices are left out.
pub(crate) fn collect(root: &Path, dockerfile: &str) -> Result<Vec<Entry>, ContextError> {
    check_dockerfile(dockerfile)?;
    let real_root = fs::canonicalize(root).map_err(io_error(root))?;
    let ignore_path = real_root.join(".dockerignore");
    // Read only as a regular file of the context: a link (or a FIFO) is not followed.
    let ignore = match fs::symlink_metadata(&ignore_path) {
        Ok(meta) if meta.is_file() => {
            Ignore::parse(&fs::read_to_string(&ignore_path).map_err(io_error(&ignore_path))?)
        }
        Ok(_) => return Err(ContextError::NotAFile(ignore_path)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ignore::default(),
        Err(err) => return Err(io_error(&ignore_path)(err)),
    };
    let walk = Walk {
        root: &real_root,
        ignore: &ignore,
        keep: [dockerfile.trim_start_matches("./"), ".dockerignore"],
    };
    let mut entries = Vec::new();
    walk.dir(&real_root, "", &mut entries)?;
    Ok(entries)
}

fn check_dockerfile(dockerfile: &str) -> Result<(), ContextError> {
    let path = Path::new(dockerfile);
    let inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if dockerfile.is_empty() || !inside {
        return Err(ContextError::Dockerfile(dockerfile.to_string()));
    }
    Ok(())
}

struct Walk<'a> {
    root: &'a Path,
    ignore: &'a Ignore,
    keep: [&'a str; 2],
}

impl Walk<'_> {
    fn dir(&self, dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), ContextError> {
        let mut children: Vec<_> = fs::read_dir(dir)
            .map_err(io_error(dir))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_error(dir))?;
        children.sort();
        for file_name in children {
            let name = format!("{prefix}{}", file_name.to_string_lossy());
            self.entry(dir.join(&file_name), name, out)?;
        }
        Ok(())
    }

    fn entry(&self, path: PathBuf, name: String, out: &mut Vec<Entry>) -> Result<(), ContextError> {
        let excluded = self.ignore.excludes(&name) && !self.keep.contains(&name.as_str());
        let meta = fs::symlink_metadata(&path).map_err(io_error(&path))?;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            if !excluded {
                out.push(Entry {
                    name: name.clone(),
                    path: path.clone(),
                    kind: Kind::Dir,
                });
            }
            let holds_kept = self.keep.iter().any(|k| k.starts_with(&format!("{name}/")));
            if !excluded || holds_kept || self.ignore.has_exceptions() {
                self.dir(&path, &format!("{name}/"), out)?;
            }
            return Ok(());
        }
        if excluded {
            return Ok(());
        }
        let kind = if file_type.is_symlink() {
            Kind::Symlink(link_target(self.root, &path, &name)?)
        } else if file_type.is_file() {
            Kind::File
        } else {
            return Ok(());
        };
        out.push(Entry { name, path, kind });
        Ok(())
    }
}

/// The link's target, if it stays inside the context both as written (relative, never climbing
/// above the root) and as resolved on disk (when it resolves).
fn link_target(root: &Path, link: &Path, name: &str) -> Result<PathBuf, ContextError> {
    let target = fs::read_link(link).map_err(io_error(link))?;
    let escape = || ContextError::SymlinkEscape {
        link: link.to_path_buf(),
        target: target.clone(),
    };
    let mut depth = name.matches('/').count();
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escape)?,
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    if let Ok(resolved) = fs::canonicalize(link)
        && !resolved.starts_with(root)
    {
        return Err(escape());
    }
    Ok(target)
}

/// Stream `entries` as a tar archive, written on a blocking thread. The handle yields the
/// writer's failure: a read error (also sent down the stream so the upload fails), or `Closed`
/// when the engine stopped reading.
pub(crate) fn stream(
    entries: Vec<Entry>,
) -> (
    impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    JoinHandle<Result<(), ContextError>>,
) {
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    let writer = tokio::task::spawn_blocking(move || write_all(entries, tx));
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (chunks, writer)
}

type Sender = mpsc::Sender<Result<Bytes, io::Error>>;

fn write_all(entries: Vec<Entry>, tx: Sender) -> Result<(), ContextError> {
    let mut builder = Builder::new(ChunkWriter::new(tx.clone()));
    let written = entries
        .iter()
        .try_for_each(|entry| append(&mut builder, entry).map_err(io_error(&entry.path)))
        .and_then(|()| {
            let mut writer = builder.into_inner().map_err(io_error(Path::new("tar")))?;
            writer.flush().map_err(io_error(Path::new("tar")))
        });
    match written {
        Ok(()) => Ok(()),
        Err(_) if tx.is_closed() => Err(ContextError::Closed),
        Err(err) => {
            // Fail the upload so the engine does not build from a truncated context.
            let _ = tx.blocking_send(Err(io::Error::other(err.to_string())));
            Err(err)
        }
    }
}

/// One entry, owned by root (as the docker CLI sends it), mode and mtime kept.
fn append(builder: &mut Builder<ChunkWriter>, entry: &Entry) -> io::Result<()> {
    let meta = fs::symlink_metadata(&entry.path)?;
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(&meta, HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("")?;
    header.set_groupname("")?;
    match &entry.kind {
        Kind::Dir => builder.append_data(&mut header, &entry.name, io::empty()),
        Kind::Symlink(target) => builder.append_link(&mut header, &entry.name, target),
        Kind::File => {
            let file = File::open(&entry.path)?;
            let size = meta.len();
            builder.append_data(&mut header, &entry.name, Exact::new(file, size))
        }
    }
}

/// Reads exactly `size` bytes: a file that shrank since its header was written is an error,
/// and one that grew is cut, so the archive never goes out of step.
struct Exact<R> {
    inner: io::Take<R>,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64) -> Self {
        Exact {
            inner: inner.take(size),
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.inner.limit() > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            ));
        }
        Ok(n)
    }
}

/// Collects tar bytes and hands them to the upload in `CHUNK`s, blocking while it is behind.
struct ChunkWriter {
    tx: Sender,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn new(tx: Sender) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
