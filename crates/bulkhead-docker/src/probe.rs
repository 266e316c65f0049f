//! Reading an image without running it: a probe container created (never started) from it,
//! read through the archive API by its callers and always removed; and the cache of what was
//! read, by image id, since images are immutable.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use bulkhead_ports::RuntimeError;

use crate::DockerRuntime;

/// The label on the short-lived containers made to read an image's files.
pub const LABEL_PROBE: &str = "dev.bulkhead.probe";

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
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(self.fail(
                "create a container to read the image's files",
                "image",
                image,
            ))?;
        Ok(created.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
