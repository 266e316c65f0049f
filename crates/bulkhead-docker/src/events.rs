//! The engine's event feed (`/events`), narrowed to Bulkhead's objects by label.

use std::collections::HashMap;

use bollard::query_parameters::EventsOptions;
use bulkhead_ports::{EventStream, LabelFilter, RuntimeEvent};
use futures_util::StreamExt;

use crate::{DockerRuntime, label_filters};

impl DockerRuntime {
    /// Container and network events matching `filter`, from now on.
    pub(crate) fn event_stream(&self, filter: &LabelFilter) -> EventStream {
        let mut filters: HashMap<String, Vec<String>> = label_filters(filter).unwrap_or_default();
        filters.insert(
            "type".to_string(),
            vec!["container".to_string(), "network".to_string()],
        );
        let options = EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let runtime = self.clone();
        self.docker
            .events(Some(options))
            .map(move |msg| {
                let msg = msg.map_err(runtime.fail("watch events", "engine", "events"))?;
                let actor = msg.actor.unwrap_or_default();
                Ok(RuntimeEvent {
                    kind: msg.typ.map(|t| t.to_string()).unwrap_or_default(),
                    action: msg.action.unwrap_or_default(),
                    id: actor.id.unwrap_or_default(),
                    attributes: actor.attributes.unwrap_or_default().into_iter().collect(),
                    time_nanos: msg.time_nano.unwrap_or_default(),
                })
            })
            .boxed()
    }
}
