//! Who owns paths of an image, read without running it: each path resolved inside the image's
//! root as a mount target is (`pathmodes`), then the first tar header of the archive API's
//! answer for the link-free path read — the entry of the path itself, bounded, its contents
//! never read — and the stream dropped. And what a container changed (`docker diff`).

use std::collections::BTreeMap;

use bollard::query_parameters::DownloadFromContainerOptions;
use bulkhead_ports::{FsChange, ImageEntry, RuntimeError};
use futures_util::StreamExt;

use crate::DockerRuntime;
use crate::error::status;

/// The most paths read in one call.
const MAX_PATHS: usize = 64;
/// How much of an archive is read to find its first header (PAX records included).
const MAX_HEAD: usize = 64 << 10;
/// The most changes kept from `docker diff`.
const MAX_CHANGES: usize = 10_000;

impl DockerRuntime {
    pub(crate) async fn image_path_owners(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImageEntry>>, RuntimeError> {
        let paths = &paths[..paths.len().min(MAX_PATHS)];
        let probe = self.create_probe(image, "image-owners").await?;
        let mut out = BTreeMap::new();
        let mut read = Ok(());
        for path in paths {
            match self.owner_of(&probe, path).await {
                Ok(found) => {
                    out.insert(path.clone(), found);
                }
                Err(e) => {
                    read = Err(e);
                    break;
                }
            }
        }
        // Always removed, also when reading failed; a read error is the one worth reporting.
        let removed = self.container_remove(&probe).await;
        read?;
        removed?;
        Ok(out)
    }

    async fn owner_of(&self, probe: &str, path: &str) -> Result<Option<ImageEntry>, RuntimeError> {
        let Some(found) = self.resolve_path(probe, path).await? else {
            return Ok(None);
        };
        let options = DownloadFromContainerOptions {
            path: found.resolved.clone(),
        };
        let mut chunks = self.docker.download_from_container(probe, Some(options));
        let mut head = Vec::new();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(c) => head.extend_from_slice(&c),
                Err(err) if status(&err) == Some(404) => return Ok(None),
                Err(err) => return Err(self.fail("read an owner in the image", "path", path)(err)),
            }
            if head.len() >= MAX_HEAD || first_owner(&head).is_some() {
                break;
            }
        }
        drop(chunks);
        let (uid, gid) = first_owner(&head).ok_or_else(|| RuntimeError::Engine {
            operation: format!("read the owner of `{path}` in the image"),
            reason: "the engine's archive has no readable first entry".into(),
        })?;
        Ok(Some(ImageEntry {
            resolved: found.resolved,
            mode: found.mode,
            uid,
            gid,
        }))
    }

    pub(crate) async fn changes(&self, id: &str) -> Result<Vec<FsChange>, RuntimeError> {
        let list = self.docker.container_changes(id).await.map_err(self.fail(
            "list what a container changed",
            "container",
            id,
        ))?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .take(MAX_CHANGES)
            .map(|c| FsChange {
                path: c.path,
                kind: c.kind as u8,
            })
            .collect())
    }
}

/// The uid and gid of an archive's first entry, once its header (and any PAX or GNU records
/// before it) is complete in `head`.
pub(crate) fn first_owner(head: &[u8]) -> Option<(u32, u32)> {
    let mut tar = tar::Archive::new(head);
    let mut entries = tar.entries().ok()?;
    let entry = entries.next()?.ok()?;
    let h = entry.header();
    let uid = u32::try_from(h.uid().ok()?).ok()?;
    let gid = u32::try_from(h.gid().ok()?).ok()?;
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_header_gives_the_owner_and_a_truncated_one_gives_none() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_uid(999);
        h.set_gid(998);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "data/", std::io::empty())
            .expect("append");
        let bytes = b.into_inner().expect("tar");
        assert_eq!(first_owner(&bytes), Some((999, 998)));
        assert_eq!(first_owner(&bytes[..100]), None);
        assert_eq!(first_owner(&[]), None);
    }
}
