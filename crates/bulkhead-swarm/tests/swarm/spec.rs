//! The demo store as a deploy makes it: Compose text loaded by `bulkhead_core::spec`, hardened
//! by the strict profile, templated — then mapped onto a Swarm service spec.

use std::collections::BTreeMap;

use bollard::models::ServiceSpec;
use bulkhead_core::deploy::{Template, template};
use bulkhead_core::hardening::{Profile, harden};
use bulkhead_core::spec::rollout::RolloutConfig;
use bulkhead_core::spec::{self, LoadInput, SourceFile};
use bulkhead_swarm::{
    Attachment, ImageRef, Release, SecretMount, ServiceInput, gaps, service_spec,
};

/// The shop's store (examples/shop/one.yaml) without its published port, with `step` in its
/// environment and explicit limits.
pub fn store_template(image: &str, step: u32) -> Template {
    let text = format!(
        "services:
  store:
    image: {image}
    command: [\"store\"]
    user: \"10001:10001\"
    read_only: true
    init: true
    environment:
      BULKHEAD_TEST_STEP: \"{step}\"
    deploy:
      resources:
        limits: {{memory: 64M, pids: 100}}
    healthcheck:
      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]
      interval: 1s
      timeout: 2s
      retries: 3
"
    );
    let project = spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text,
        }],
        project_dir: "/srv/shop".into(),
        project_name: Some("shop".into()),
        dotenv: None,
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: BTreeMap::new(),
    })
    .expect("the store's spec loads");
    let service = project.services.get("store").expect("the store");
    let hardened = harden(service, &project.dir, &Profile::default());
    assert_eq!(hardened.refused().count(), 0, "{:?}", hardened.findings);
    let env = service
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    let t = template(service, &hardened.effective, env, &[], "shop_");
    let refused: Vec<_> = gaps(&t)
        .into_iter()
        .filter(|g| g.effect == bulkhead_swarm::Effect::Refused)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    t
}

/// The store's Swarm service: 3 replicas on `network`, with `secret` as /run/secrets/token.
pub fn store_spec(
    project: &str,
    template: &Template,
    image: &str,
    network: &str,
    secret: &SecretMount,
) -> ServiceSpec {
    let release = Release {
        id: format!("r-{}", template.hash(image)),
        replicas: 3,
        update: RolloutConfig::default(),
        rollback: RolloutConfig::default(),
    };
    let image = ImageRef::node_local_unpinned_for_tests(image);
    service_spec(&ServiceInput {
        project,
        service: "store",
        release: &release,
        template,
        image: &image,
        networks: &[Attachment {
            network: network.to_string(),
            aliases: vec!["store".to_string()],
        }],
        secrets: std::slice::from_ref(secret),
    })
    .expect("the store maps onto a Swarm service")
}
