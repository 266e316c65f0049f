//! Test fixture: a service's container template made the way a deploy makes it — Compose
//! text loaded, hardened by the strict profile, templated — so the tests judge real templates.

use std::collections::BTreeMap;

use bulkhead_core::deploy::{Template, template};
use bulkhead_core::hardening::{Profile, Rule, harden};
use bulkhead_core::spec::{self, LoadInput, SourceFile};

pub(crate) const PROJECT_DIR: &str = "/srv/shop";

/// The template of the one service `svc` whose body is `body` (YAML, unindented), with a
/// waiver for `waiver` when given; an image is added unless the body names one. The service
/// joins `shop-svc-in`, unless its network mode says otherwise.
pub(crate) fn template_of(body: &str, waiver: Option<Rule>) -> Template {
    let mut text = String::from("services:\n  svc:\n");
    if !body.lines().any(|l| l.starts_with("image:")) {
        text.push_str("    image: example/svc:1.0\n");
    }
    for line in body.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    if let Some(rule) = waiver {
        text.push_str(&format!(
            "    x-bulkhead: {{waivers: [{{rule: {}, reason: test}}]}}\n",
            rule.id()
        ));
    }
    let project = spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text,
        }],
        project_dir: PROJECT_DIR.into(),
        project_name: Some("shop".into()),
        dotenv: None,
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: BTreeMap::new(),
    })
    .unwrap_or_else(|e| panic!("{body:?} should load:\n{e}"));
    let service = project.services.get("svc").expect("the service `svc`");
    let hardened = harden(service, &project.dir, &Profile::default());
    let refused: Vec<_> = hardened.refused().collect();
    assert!(refused.is_empty(), "{body:?} is refused: {refused:?}");
    let env = service
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    template(
        service,
        &hardened.effective,
        env,
        &["shop-svc-in".to_string()],
        "shop_",
    )
}
