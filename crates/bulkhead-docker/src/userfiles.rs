//! The image's user database, read without running the image: a container created (never
//! started) from it, `/etc/passwd` and `/etc/group` fetched through the archive API as tar —
//! bounded, regular files only, never echoed — and the container always removed. Cached by
//! image id, since images are immutable.

use std::io::Read;

use bollard::query_parameters::DownloadFromContainerOptions;
use bulkhead_ports::{ImageFile, ImageUserFiles, MAX_USER_FILE_BYTES, RuntimeError};
use futures_util::StreamExt;

use crate::DockerRuntime;
use crate::error::status;
use crate::probe::ImageCache;

/// How many images' files are kept; the cache starts over when it is full.
const CACHE_IMAGES: usize = 256;
/// The archive's own overhead on top of the file: headers, PAX records, padding, trailer.
const TAR_SLACK: usize = 64 << 10;

/// Image id → its user files.
pub(crate) type UserFilesCache = ImageCache<(), ImageUserFiles>;

pub(crate) fn user_files_cache() -> UserFilesCache {
    ImageCache::new(CACHE_IMAGES)
}

impl DockerRuntime {
    pub(crate) async fn image_user_files(
        &self,
        image: &str,
    ) -> Result<ImageUserFiles, RuntimeError> {
        if let Some(hit) = self.user_files.get(image, &()) {
            return Ok(hit);
        }
        let probe = self.create_probe(image, "image-users").await?;
        let read = self.read_user_files(&probe).await;
        // Always removed, also when reading failed; a read error is the one worth reporting.
        let removed = self.container_remove(&probe).await;
        let files = read?;
        removed?;
        self.user_files.put(image, &(), &files);
        Ok(files)
    }

    async fn read_user_files(&self, probe: &str) -> Result<ImageUserFiles, RuntimeError> {
        Ok(ImageUserFiles {
            passwd: self.read_file(probe, "/etc/passwd").await?,
            group: self.read_file(probe, "/etc/group").await?,
        })
    }

    /// One file through the archive API. The engine archives a symlink as a symlink (it does
    /// not follow the last component), which is refused here, never followed.
    async fn read_file(&self, probe: &str, path: &str) -> Result<ImageFile, RuntimeError> {
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let mut chunks = self.docker.download_from_container(probe, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(err) if status(&err) == Some(404) => return Ok(ImageFile::Missing),
                Err(err) => {
                    return Err(self.fail("read the image's user database", "file", path)(
                        err,
                    ));
                }
            };
            archive.extend_from_slice(&chunk);
            if archive.len() > MAX_USER_FILE_BYTES + TAR_SLACK {
                return Ok(too_large());
            }
        }
        from_archive(&archive).map_err(|reason| RuntimeError::Engine {
            operation: format!("read {path} from the image"),
            reason,
        })
    }
}

fn too_large() -> ImageFile {
    ImageFile::Refused {
        reason: format!("is over {} KiB", MAX_USER_FILE_BYTES >> 10),
    }
}

/// The one file in an archive the engine sent: its bytes if it is a regular file within the
/// bound, else why not. Errors describe the archive, never its contents.
pub(crate) fn from_archive(archive: &[u8]) -> Result<ImageFile, String> {
    let mut tar = tar::Archive::new(archive);
    let mut entries = tar
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    let Some(entry) = entries.next() else {
        return Ok(ImageFile::Missing);
    };
    let entry = entry.map_err(|e| format!("damaged archive: {e}"))?;
    let kind = entry.header().entry_type();
    let refused = |reason: &str| {
        Ok(ImageFile::Refused {
            reason: reason.to_string(),
        })
    };
    if kind.is_symlink() || kind.is_hard_link() {
        return refused("is a link, which is not followed");
    }
    if kind.is_dir() {
        return refused("is a directory");
    }
    if !kind.is_file() {
        return refused("is not a regular file");
    }
    let size = entry
        .header()
        .size()
        .map_err(|e| format!("damaged archive: {e}"))?;
    if size > MAX_USER_FILE_BYTES as u64 {
        return Ok(too_large());
    }
    let mut bytes = Vec::new();
    entry
        .take(MAX_USER_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("damaged archive: {e}"))?;
    if bytes.len() > MAX_USER_FILE_BYTES {
        return Ok(too_large());
    }
    Ok(ImageFile::Regular(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(kind: tar::EntryType, data: &[u8], link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(target) = link {
            h.set_link_name(target).expect("link name");
        }
        h.set_cksum();
        b.append_data(&mut h, "passwd", data).expect("append");
        b.into_inner().expect("tar")
    }

    #[test]
    fn only_a_regular_file_within_the_bound_is_read() {
        let ok = archive(tar::EntryType::Regular, b"app:x:1:1\n", None);
        assert_eq!(
            from_archive(&ok),
            Ok(ImageFile::Regular(b"app:x:1:1\n".to_vec()))
        );
        let cases = [
            (
                archive(tar::EntryType::Symlink, b"", Some("/proc/self/environ")),
                "is a link, which is not followed",
            ),
            (
                archive(tar::EntryType::Symlink, b"", Some("../../etc/shadow")),
                "is a link, which is not followed",
            ),
            (
                archive(tar::EntryType::Link, b"", Some("etc/shadow")),
                "is a link, which is not followed",
            ),
            (
                archive(tar::EntryType::Directory, b"", None),
                "is a directory",
            ),
            (
                archive(tar::EntryType::Fifo, b"", None),
                "is not a regular file",
            ),
            (
                archive(tar::EntryType::Char, b"", None),
                "is not a regular file",
            ),
        ];
        for (bytes, reason) in cases {
            assert_eq!(
                from_archive(&bytes),
                Ok(ImageFile::Refused {
                    reason: reason.to_string()
                })
            );
        }
        let big = archive(
            tar::EntryType::Regular,
            &vec![b'a'; MAX_USER_FILE_BYTES + 1],
            None,
        );
        assert_eq!(from_archive(&big), Ok(too_large()));
        assert_eq!(from_archive(&[]), Ok(ImageFile::Missing));
    }

    #[test]
    fn a_damaged_archive_is_an_error_that_does_not_echo_it() {
        let mut bytes = archive(tar::EntryType::Regular, b"secret-canary:x:1:1\n", None);
        bytes[148] ^= 0xff; // the header checksum
        let err = from_archive(&bytes).expect_err("damaged");
        assert!(!err.contains("secret-canary"), "{err}");
    }
}
