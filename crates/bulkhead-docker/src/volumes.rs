//! Named volumes: create with labels (an existing volume that lacks them belongs to someone
//! else), list by labels, remove.

use std::collections::BTreeMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use bulkhead_ports::{LabelFilter, RuntimeError, VolumeInfo};

use crate::error::status;
use crate::{DockerRuntime, label_filters};

impl DockerRuntime {
    /// The engine answers "created" for a name that already exists (keeping the old labels), so
    /// an existing volume without all of `labels` is reported as a conflict.
    pub(crate) async fn volume_create(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let volume = self.docker.create_volume(request).await.map_err(self.fail(
            "create volume",
            "volume",
            name,
        ))?;
        let owned = labels
            .iter()
            .all(|(k, v)| volume.labels.get(k).is_some_and(|found| found == v));
        if !owned {
            return Err(RuntimeError::Conflict {
                what: "volume",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    pub(crate) async fn volume_list(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<VolumeInfo>, RuntimeError> {
        let options = ListVolumesOptions {
            filters: label_filters(filter),
        };
        let listed = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(self.fail("list volumes", "volume", ""))?;
        let mut infos: Vec<VolumeInfo> = listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// A missing volume is already removed; one in use is an engine error.
    pub(crate) async fn volume_remove(&self, name: &str) -> Result<(), RuntimeError> {
        let options = RemoveVolumeOptions { force: false };
        match self.docker.remove_volume(name, Some(options)).await {
            Err(err) if status(&err) == Some(404) => Ok(()),
            removed => removed.map_err(self.fail("remove volume", "volume", name)),
        }
    }
}
