//! Reading an image without running it: a probe container created (never started) from it,
//! read through the archive API by its callers and always removed (one a killed process left
//! is swept by the next one that probes); and the cache of what was read, by image id, since
//! images are immutable.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions};
use bulkhead_ports::RuntimeError;

use crate::DockerRuntime;

/// The label on the short-lived containers made to read an image's files.
pub const LABEL_PROBE: &str = "dev.bulkhead.probe";

/// A probe lives for the second or so one read of an image takes; one older than this was left
/// by a process killed mid-read (another process's probe in use is never this old).
const STALE_PROBE: Duration = Duration::from_secs(600);

/// What was read from images, by image id and a key of the reader's; the cache starts over
/// when it holds `capacity` entries. Only ids are kept: a tag may move.
#[derive(Debug)]
pub(crate) struct ImageCache<K, V> {
    map: Arc<Mutex<HashMap<(String, K), V>>>,
    capacity: usize,
}

impl<K, V> Clone for ImageCache<K, V> {
    fn clone(&self) -> Self {
        ImageCache {
            map: Arc::clone(&self.map),
            capacity: self.capacity,
        }
    }
}

impl<K: Clone + Eq + Hash, V: Clone> ImageCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        ImageCache {
            map: Arc::default(),
            capacity,
        }
    }

    pub(crate) fn get(&self, image: &str, key: &K) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(image.to_string(), key.clone())).cloned()
    }

    pub(crate) fn put(&self, image: &str, key: &K, value: &V) {
        if !image.starts_with("sha256:") {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert((image.to_string(), key.clone()), value.clone());
    }
}

impl DockerRuntime {
    /// A container that is never started: no network, no capabilities, nobody as its user,
    /// and an entrypoint that does not exist, so starting it by mistake runs nothing. `purpose`
    /// is the value of its [`LABEL_PROBE`] label.
    pub(crate) async fn create_probe(
        &self,
        image: &str,
        purpose: &str,
    ) -> Result<String, RuntimeError> {
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/.bulkhead-probe-never-started".to_string()]),
            cmd: Some(Vec::new()),
            user: Some("65534:65534".to_string()),
            network_disabled: Some(true),
            labels: Some(HashMap::from([(
                LABEL_PROBE.to_string(),
                purpose.to_string(),
            )])),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                cap_drop: Some(vec!["ALL".to_string()]),
                security_opt: Some(vec!["no-new-privileges:true".to_string()]),
                readonly_rootfs: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let create = self
            .docker
            .create_container(None::<CreateContainerOptions>, body);
        let (created, ()) = tokio::join!(create, self.sweep_stale_probes());
        let created = created.map_err(self.fail(
            "create a container to read the image's files",
            "image",
            image,
        ))?;
        Ok(created.id)
    }

    /// Once per connection, at its first probe: remove the never-started probes a killed
    /// process left (they hold their image). Best effort: a failure here only leaves them.
    async fn sweep_stale_probes(&self) {
        if self.probes_swept.swap(true, Ordering::SeqCst) {
            return;
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([
                ("label".to_string(), vec![LABEL_PROBE.to_string()]),
                ("status".to_string(), vec!["created".to_string()]),
            ])),
            ..Default::default()
        };
        let Ok(list) = self.docker.list_containers(Some(options)).await else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for id in stale_probes(&list, now) {
            let _ = self.container_remove(&id).await;
        }
    }
}

/// The probes of `list` created more than [`STALE_PROBE`] before `now` (seconds since the
/// epoch) and never started.
fn stale_probes(list: &[ContainerSummary], now: u64) -> Vec<String> {
    list.iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(LABEL_PROBE))
        })
        .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "created"))
        .filter(|c| {
            c.created
                .and_then(|t| u64::try_from(t).ok())
                .is_some_and(|t| now.saturating_sub(t) > STALE_PROBE.as_secs())
        })
        .filter_map(|c| c.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(label: bool, state: &str, created: i64) -> ContainerSummary {
        let labels =
            label.then(|| HashMap::from([(LABEL_PROBE.to_string(), "image-users".into())]));
        ContainerSummary {
            id: Some(format!("{state}-{created}-{label}")),
            labels,
            state: state.parse().ok(),
            created: Some(created),
            ..Default::default()
        }
    }

    #[test]
    fn only_old_never_started_probes_are_stale() {
        let now = 1_000_000;
        let list = [
            summary(true, "created", 1_000_000 - 601),
            summary(true, "created", 1_000_000 - 5),
            summary(true, "running", 1_000_000 - 5_000),
            summary(false, "created", 1_000_000 - 5_000),
            summary(true, "created", 1_000_000 + 30),
        ];
        assert_eq!(stale_probes(&list, now), ["created-999399-true"]);
    }

    #[test]
    fn the_cache_keeps_only_image_ids_and_starts_over_when_full() {
        let cache: ImageCache<String, u32> = ImageCache::new(2);
        let key = "/etc".to_string();
        cache.put("example:latest", &key, &1);
        assert_eq!(cache.get("example:latest", &key), None);
        cache.put("sha256:abc", &key, &1);
        cache.put("sha256:def", &key, &2);
        assert_eq!(cache.get("sha256:abc", &key), Some(1));
        assert_eq!(cache.get("sha256:def", &key), Some(2));
        cache.put("sha256:123", &key, &3);
        assert_eq!(cache.get("sha256:abc", &key), None, "cleared when full");
        assert_eq!(cache.get("sha256:123", &key), Some(3));
    }
}
