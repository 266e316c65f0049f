//! What an interrupted image build leaves on the engine: the classic builder's temporary
//! container, labelled like the image it builds on. Images Bulkhead builds carry
//! `dev.bulkhead.built-by`, not the project's owner label; `up` and `down` remove such
//! containers (and older ones with the project label but no service label) as build leftovers,
//! never as a service "no longer in the spec"; another project's are left alone.

use std::process::Command;

use super::support::{Shop, docker, text};

const IMAGE: &str = "bulkhead-test/bookworm:base";

/// Containers created (never started) for the test; removed on drop.
struct Made(Vec<String>);

impl Made {
    fn create(&mut self, label: &str) -> String {
        let id = docker(&["create", "--label", label, IMAGE, "true"])
            .trim()
            .to_string();
        self.0.push(id.clone());
        id
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

fn exists(id: &str) -> bool {
    !docker(&["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
        .trim()
        .is_empty()
}

#[test]
fn up_and_down_remove_what_an_interrupted_build_left() {
    super::support::debian_images();
    let shop = Shop::new("left");
    let mut made = Made(Vec::new());
    let old_style = made.create(&format!("dev.bulkhead.project={}", shop.name));
    let new_style = made.create(&format!("dev.bulkhead.built-by={}", shop.name));
    let other = made.create(&format!("dev.bulkhead.built-by={}x", shop.name));

    let up = shop.bulkhead(&["up"]);
    let stderr = text(&up.stderr);
    assert_eq!(up.status.code(), Some(0), "{}{stderr}", text(&up.stdout));
    assert!(!stderr.contains("service ``"), "{stderr}");
    assert_eq!(
        stderr
            .matches("removed (left by an interrupted image build)")
            .count(),
        2,
        "{stderr}"
    );
    assert!(!exists(&old_style) && !exists(&new_style), "{stderr}");
    assert!(
        exists(&other),
        "another project's leftover is not ours to remove"
    );

    // The images it built say who built them, without the project's owner label.
    let containers = shop.containers();
    let image = containers[0]["Image"].as_str().expect("the image id");
    let labels = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", image]);
    let labels: serde_json::Value = serde_json::from_str(labels.trim()).expect("labels JSON");
    assert_eq!(
        labels["dev.bulkhead.built-by"],
        shop.name.as_str(),
        "{labels}"
    );
    assert!(labels.get("dev.bulkhead.project").is_none(), "{labels}");

    // The plan says the same before `up` removes it; `down` removes one too.
    let again = made.create(&format!("dev.bulkhead.built-by={}", shop.name));
    let plan = shop.bulkhead(&["plan"]);
    assert!(
        text(&plan.stdout).contains("(left by an interrupted image build)"),
        "{}{}",
        text(&plan.stdout),
        text(&plan.stderr)
    );
    let down = shop.bulkhead(&["down", "-q"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert!(!exists(&again));
    assert!(exists(&other));
}
