//! The shop split across files as Compose allows — `include` (the back end, its own directory),
//! `extends.file` (the common settings) and `label_file` — deploys on the real engine and
//! serves like the one-file shop; the included services' relative build contexts resolve
//! against their own directory, and the file's labels reach the container under the spec's.
//! The same through a server: the bundle carries the included, extended and label files.

use super::deploy::up;
use super::server_process::{Server, init, token_of};
use super::support::{Shop, text};

const MAIN: &str = "include: [backend/compose.yaml]
services:
  web:
    extends: {file: lib/common.yaml, service: demo}
    command: [\"web\"]
    environment:
      API_URL: http://api:8081
    ports:
      - \"${SHOP_PORT:-8080}:8080\"
    depends_on:
      api:
        condition: service_healthy
    label_file: web.labels
    labels: {shop.tier: front}
    healthcheck:
      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8080/healthz\"]
      interval: 1s
      timeout: 2s
      retries: 3
";

const BACKEND: &str = "services:
  api:
    extends: {file: ../lib/common.yaml, service: demo}
    command: [\"api\"]
    environment:
      STORE_URL: http://store:8082
    depends_on:
      store:
        condition: service_healthy
    healthcheck:
      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8081/healthz\"]
      interval: 1s
      timeout: 2s
      retries: 3
  store:
    build: ../image
    command: [\"store\"]
    user: \"10001:10001\"
    read_only: true
    init: true
    healthcheck:
      test: [\"CMD\", \"/bulkhead-demo\", \"probe\", \"http://127.0.0.1:8082/healthz\"]
      interval: 1s
      timeout: 2s
      retries: 3
";

const COMMON: &str = "services:
  demo:
    build: ../image
    user: \"10001:10001\"
    read_only: true
    init: true
";

/// A shop whose compose.yaml includes, extends and reads labels from files.
fn split_shop(tag: &str) -> Shop {
    let shop = Shop::new(tag);
    let dir = shop.dir.path();
    for (path, text) in [
        ("compose.yaml", MAIN),
        ("backend/compose.yaml", BACKEND),
        ("lib/common.yaml", COMMON),
        ("web.labels", "shop.team=storefront\nshop.tier=back\n"),
    ] {
        let at = dir.join(path);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        std::fs::write(at, text).expect("write");
    }
    shop
}

/// The shop serves through all three services, and web carries the file's labels.
fn assert_served_and_labelled(shop: &Shop) {
    let (status, body) = shop.get("/").expect("web answers");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Bilge pump"),
        "the whole chain serves: {body}"
    );
    let containers = shop.containers();
    let services: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["Config"]["Labels"]["dev.bulkhead.service"].as_str())
        .collect();
    for s in ["web", "api", "store"] {
        assert!(services.contains(&s), "{s} runs: {services:?}");
    }
    let web = containers
        .iter()
        .find(|c| c["Config"]["Labels"]["dev.bulkhead.service"] == "web")
        .expect("web");
    let labels = &web["Config"]["Labels"];
    assert_eq!(labels["shop.team"], "storefront", "from the label file");
    assert_eq!(labels["shop.tier"], "front", "the spec's labels win");
    assert_eq!(
        web["Config"]["User"], "10001:10001",
        "from the extended file"
    );
}

#[test]
fn a_shop_split_with_include_extends_file_and_label_file_deploys_and_serves() {
    let shop = split_shop("f");
    up(&shop);
    assert_served_and_labelled(&shop);
}

#[test]
fn a_split_shop_deploys_through_a_server_upload() {
    let shop = split_shop("g");
    // Ignored files the spec loads still travel.
    std::fs::write(
        shop.dir.path().join(".bulkheadignore"),
        "lib/\nweb.labels\n",
    )
    .expect("write");
    let state = tempfile::tempdir().expect("state");
    let admin = token_of(&init(state.path()));
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut server = Server::start(state.path(), log.path().to_path_buf());
    let client = |args: &[&str]| {
        let mut cmd = server.client(&admin);
        cmd.args(args)
            .arg("-f")
            .arg(shop.compose())
            .arg("-p")
            .arg(&shop.name)
            .env("SHOP_PORT", shop.port.to_string())
            .current_dir(shop.dir.path());
        cmd.output().expect("bulkhead runs")
    };
    let out = client(&["up", "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    assert_served_and_labelled(&shop);
    let down = client(&["down", "-q"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    server.stop();
}
