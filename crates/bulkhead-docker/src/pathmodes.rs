//! What paths lead to in an image, read without running it: through the probe container, one
//! archive-API path stat (`HEAD /containers/{id}/archive`) per component, each link followed
//! inside the image's root the way runc resolves a mount's target (securejoin), so the answer
//! is the directory a mount point will be. Cached by image id and path.

use std::collections::BTreeMap;

use bollard::query_parameters::ContainerArchiveInfoOptions;
use bulkhead_ports::{ImagePath, RuntimeError};

use crate::DockerRuntime;
use crate::error::status;
use crate::probe::ImageCache;

/// How many (image, path) answers are kept; the cache starts over when it is full.
const CACHE_PATHS: usize = 4096;
/// The most components a path may have (a mount point is rarely deeper than a few).
const MAX_COMPONENTS: usize = 64;

/// (image id, path) → what the path leads to.
pub(crate) type PathCache = ImageCache<String, Option<ImagePath>>;

pub(crate) fn path_cache() -> PathCache {
    ImageCache::new(CACHE_PATHS)
}

/// `st_mode`'s file types and special bits.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFIFO: u32 = 0o010000;
const S_IFSOCK: u32 = 0o140000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFMT: u32 = 0o170000;

/// Go's `os.FileMode` (what the engine's path stat carries) as `st_mode`.
pub(crate) fn st_mode(go: u32) -> u32 {
    let bit = |n: u32| go & (1 << n) != 0;
    let kind = if bit(31) {
        S_IFDIR
    } else if bit(27) {
        S_IFLNK
    } else if bit(26) {
        if bit(21) { S_IFCHR } else { S_IFBLK }
    } else if bit(25) {
        S_IFIFO
    } else if bit(24) {
        S_IFSOCK
    } else {
        S_IFREG
    };
    let special = [(23, 0o4000), (22, 0o2000), (20, 0o1000)]
        .into_iter()
        .filter(|(n, _)| bit(*n))
        .fold(0, |acc, (_, b)| acc | b);
    kind | special | (go & 0o777)
}

impl DockerRuntime {
    pub(crate) async fn image_path_modes(
        &self,
        image: &str,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<ImagePath>>, RuntimeError> {
        let mut out = BTreeMap::new();
        let mut unknown = Vec::new();
        for path in paths {
            match self.path_modes.get(image, path) {
                Some(hit) => {
                    out.insert(path.clone(), hit);
                }
                None => unknown.push(path.clone()),
            }
        }
        if unknown.is_empty() {
            return Ok(out);
        }
        let probe = self.create_probe(image, "image-paths").await?;
        let mut read = Ok(Vec::new());
        for path in &unknown {
            match self.resolve_path(&probe, path).await {
                Ok(found) => {
                    if let Ok(v) = &mut read {
                        v.push((path.clone(), found));
                    }
                }
                Err(err) => {
                    read = Err(err);
                    break;
                }
            }
        }
        // Always removed, also when reading failed; a read error is the one worth reporting.
        let removed = self.container_remove(&probe).await;
        let read = read?;
        removed?;
        for (path, found) in read {
            self.path_modes.put(image, &path, &found);
            out.insert(path, found);
        }
        Ok(out)
    }

    /// Resolve `path` as runc resolves a mount's target: cleaned lexically (`/a/../b` is
    /// `/b`), then each component in turn, a link replaced by where the engine resolves it
    /// inside the root (fully, as securejoin does), a missing one kept as it is; then what the
    /// resolved path is, if anything.
    pub(crate) async fn resolve_path(
        &self,
        probe: &str,
        path: &str,
    ) -> Result<Option<ImagePath>, RuntimeError> {
        let refused = |reason: &str| RuntimeError::Engine {
            operation: format!("read `{path}` in the image"),
            reason: reason.to_string(),
        };
        if !path.starts_with('/') {
            return Err(refused("not an absolute path"));
        }
        let components = clean(path);
        if components.len() > MAX_COMPONENTS {
            return Err(refused(&format!("more than {MAX_COMPONENTS} components")));
        }
        let mut resolved: Vec<String> = Vec::new();
        // The mode of `resolved` when the last step read it (`Some(None)`: not there).
        let mut last: Option<Option<u32>> = None;
        for name in components {
            resolved.push(name.to_string());
            let at = joined(&resolved);
            match self.stat(probe, &at, path).await? {
                Some((mode, target)) if mode & S_IFMT == S_IFLNK => {
                    if !target.starts_with('/') {
                        return Err(refused(&format!(
                            "the engine did not say where the link `{at}` leads"
                        )));
                    }
                    resolved = clean(&target).into_iter().map(str::to_string).collect();
                    last = None;
                }
                found => last = Some(found.map(|(mode, _)| mode)),
            }
        }
        let at = joined(&resolved);
        let mode = match last {
            Some(known) => known,
            None => self.stat(probe, &at, path).await?.map(|(mode, _)| mode),
        };
        Ok(mode.map(|mode| ImagePath { resolved: at, mode }))
    }

    /// The `st_mode` of `at` (its last component not followed) and, for a link, where the
    /// engine resolves it inside the container's root; `None` when nothing is there.
    async fn stat(
        &self,
        probe: &str,
        at: &str,
        path: &str,
    ) -> Result<Option<(u32, String)>, RuntimeError> {
        let options = ContainerArchiveInfoOptions {
            path: at.to_string(),
        };
        match self
            .docker
            .get_container_archive_info(probe, Some(options))
            .await
        {
            Ok(stat) => Ok(Some((st_mode(stat.file_mode), stat.link_target))),
            Err(err) if status(&err) == Some(404) => Ok(None),
            // A HEAD answer has no body: say which path the engine refused, and how.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            }) => Err(RuntimeError::Engine {
                operation: format!("read `{path}` in the image"),
                reason: if message.trim().is_empty() {
                    format!("the engine answered {status_code} for `{at}`")
                } else {
                    format!("`{at}`: {message}")
                },
            }),
            Err(err) => Err(self.fail("read a path in the image", "path", path)(err)),
        }
    }
}

/// The components of an absolute path, cleaned lexically as Go's `filepath.Clean` does (`.`
/// and empty ones dropped, `..` takes one back, never above the root).
fn clean(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    out
}

fn joined(components: &[String]) -> String {
    format!("/{}", components.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_like_filepath_clean() {
        let cases: [(&str, &[&str]); 6] = [
            ("/", &[]),
            ("/var/cache/", &["var", "cache"]),
            ("//var/./cache", &["var", "cache"]),
            ("/var/lock/../cache", &["var", "cache"]),
            ("/../../etc", &["etc"]),
            ("/a/b/../../..", &[]),
        ];
        for (path, want) in cases {
            assert_eq!(clean(path), want, "{path}");
        }
    }

    #[test]
    fn go_file_modes_become_st_modes() {
        let cases = [
            // What Docker 20.10 answered for /var/cache, /tmp, /var/local, a 3777 directory,
            // the /var/lock link and /etc/passwd of a Debian image.
            (2147484141, 0o040755),
            (2148532735, 0o041777),
            (2151678461, 0o042775),
            (2152727039, 0o043777),
            (134218239, 0o120777),
            (420, 0o100644),
            // setuid on a file, a fifo, a socket, character and block devices.
            ((1 << 23) | 0o755, 0o104755),
            ((1 << 25) | 0o600, 0o010600),
            ((1 << 24) | 0o777, 0o140777),
            ((1 << 26) | (1 << 21) | 0o666, 0o020666),
            ((1 << 26) | 0o660, 0o060660),
        ];
        for (go, want) in cases {
            assert_eq!(st_mode(go), want, "{go:#x}");
        }
    }
}
