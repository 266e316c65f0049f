//! Redis with no volume in its spec: the image's `VOLUME /data` is state too. It is kept in a
//! labelled volume of the replica (`<project>-<service>-<replica>-...`) that the next release
//! mounts again — a counter goes on from where it was after a rollout, which `plan` announces as
//! stop-first — and that `down --volumes` removes.

use super::{Project, exec, id_of};
use crate::support::text;

const SPEC: &str = r#"services:
  cache:
    image: bulkhead-test/redis:7
    user: redis
    environment:
      ROUND: "1"
    healthcheck:
      test: ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
      interval: 1s
      timeout: 2s
      retries: 5
"#;

fn incr(cache: &serde_json::Value) -> String {
    let out = exec(cache, &["redis-cli", "INCR", "counter"]);
    assert!(out.status.success(), "redis-cli: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The name of the volume mounted at /data.
fn data_volume(cache: &serde_json::Value) -> String {
    cache["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["Destination"] == "/data")
        .and_then(|m| m["Name"].as_str())
        .unwrap_or_else(|| panic!("nothing mounted at /data: {:#}", cache["Mounts"]))
        .to_string()
}

#[test]
fn an_image_volume_is_carried_over_to_the_next_release_and_removed_by_down_volumes() {
    let p = Project::new("rd", SPEC);
    p.up();
    let first = p.only("cache");
    assert_eq!(incr(&first), "1");
    let volume = data_volume(&first);
    assert!(
        volume.starts_with(&format!("{}-cache-1-", p.name)),
        "the image's VOLUME /data is kept in the replica's own volume, not an anonymous one: {volume}"
    );
    assert_eq!(
        p.volumes(),
        std::slice::from_ref(&volume),
        "the volume carries the labels"
    );

    p.edit("ROUND: \"1\"", "ROUND: \"2\"");
    let deploys = p.planned_replacements("cache");
    assert_eq!(deploys.len(), 1, "{deploys:#?}");
    let why = deploys[0]["stop_first"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "no stop_first reason: {:#}", deploys[0]);
    p.up();
    let second = p.only("cache");
    assert_ne!(id_of(&second), id_of(&first), "cache was rolled");
    assert_eq!(
        data_volume(&second),
        volume,
        "the same volume, mounted again"
    );
    assert_eq!(incr(&second), "2", "the counter went on");

    p.ok(&["down", "--volumes", "-q"]);
    assert!(p.volumes().is_empty(), "volumes left after down --volumes");
    let gone = std::process::Command::new("docker")
        .args(["volume", "inspect", &volume])
        .output()
        .expect("docker runs");
    assert!(!gone.status.success(), "{volume} outlived down --volumes");
}
