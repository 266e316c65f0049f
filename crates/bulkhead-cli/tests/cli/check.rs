//! `bulkhead check`: exit codes, messages with locations, JSON, file discovery and merging.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bulkhead(dir: &Path, args: &[&str]) -> Output {
    bulkhead_env(dir, args, &[])
}

/// `bulkhead ARGS` in `dir` with no Compose variable of ours, and `env` set.
fn bulkhead_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PATH_SEPARATOR")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .envs(env.iter().copied())
        .output()
        .expect("bulkhead runs")
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bh-cli")
        .tempdir()
        .expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const GOOD: &str = "services:
  web:
    image: example/web:1.0
    user: \"10001\"
    ports: [\"8080:80\"]
    depends_on: [api]
    healthcheck:
      test: [CMD, /probe]
  api:
    image: example/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    user: \"10001\"
";

#[test]
fn a_deployable_spec_exits_0_and_says_what_is_hardened() {
    let dir = project(&[("compose.yaml", GOOD)]);
    let out = bulkhead(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(": deployable"), "{stdout}");
    assert!(stdout.contains("hardened read-only-rootfs"), "{stdout}");
    assert!(
        stdout.contains("port     127.0.0.1:8080 -> 80/tcp"),
        "{stdout}"
    );
    assert!(
        stdout.contains("api              <- web (from depends_on); egress none"),
        "{stdout}"
    );
    assert!(stdout.contains("-api-in"), "{stdout}");
}

#[test]
fn a_refused_spec_exits_1_with_rule_location_and_the_way_to_a_waiver() {
    let spec = "services:\n  web:\n    image: x/y:1\n    privileged: true\n";
    let dir = project(&[("compose.yaml", spec)]);
    let out = bulkhead(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REFUSED (1 finding to fix or waive)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused  no-privileged       `privileged: true` gives the container every device and capability (compose.yaml:4:17)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("x-bulkhead: { waivers: [{ rule: no-privileged, reason: \"<why>\" }] }"),
        "{stdout}"
    );
}

#[test]
fn a_waived_refusal_is_deployable_and_shows_the_reason() {
    let spec = "services:\n  web:\n    image: x/y:1\n    privileged: true\n    x-bulkhead:\n      waivers: [{rule: no-privileged, reason: \"needs /dev/kvm\"}]\n";
    let dir = project(&[("compose.yaml", spec)]);
    let out = bulkhead(dir.path(), &["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("waived   no-privileged"), "{stdout}");
    assert!(stdout.contains("reason: needs /dev/kvm"), "{stdout}");
}

#[test]
fn an_invalid_spec_exits_2_naming_file_line_column() {
    let spec = "services:\n  web:\n    imgae: x\n    ports: [\"70000:80\"]\n";
    let dir = project(&[("compose.yaml", spec)]);
    let out = bulkhead(dir.path(), &["check"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("error: compose.yaml:3:5: service `web`: key `imgae` is not supported"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `image`?"), "{stderr}");
    assert!(
        stderr.contains("error: compose.yaml:4:13: ports: `70000:80`: port 70000 is out of range"),
        "{stderr}"
    );
    assert!(stderr.contains("problems found"), "{stderr}");
}

#[test]
fn json_output_is_one_document_in_every_case() {
    let dir = project(&[("compose.yaml", GOOD), ("bad.yaml", "services: [\n")]);
    let ok = bulkhead(dir.path(), &["check", "--json"]);
    let doc: Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(doc["deployable"], Value::Bool(true));
    let services = doc["verdict"]["services"].as_array().expect("services");
    assert_eq!(services.len(), 2);
    assert_eq!(services[1]["effective"]["ports"][0]["host_ip"], "127.0.0.1");
    let bad = bulkhead(dir.path(), &["check", "--json", "-f", "bad.yaml"]);
    assert_eq!(bad.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&bad.stdout).expect("json on error");
    assert_eq!(doc["errors"][0]["kind"], "yaml");
    assert_eq!(doc["errors"][0]["span"]["file"], "bad.yaml");
}

#[test]
fn discovery_walks_up_and_merges_the_override_file() {
    let over = "services:\n  web:\n    image: example/web:2.0\n";
    let dir = project(&[
        ("compose.yaml", GOOD),
        ("compose.override.yaml", over),
        ("sub/deeper/.keep", ""),
    ]);
    let out = bulkhead(&dir.path().join("sub/deeper"), &["check", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let files = doc["project"]["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{doc}");
    let web = &doc["verdict"]["services"][1];
    assert_eq!(web["image"], "example/web:2.0");
}

#[test]
fn several_files_merge_in_order_and_project_name_follows_compose() {
    let a = "name: fromfile\nservices:\n  web:\n    image: a:1\n    user: \"1\"\n    environment: [A=1]\n";
    let b = "services:\n  web:\n    image: ${TAG:-b:2}\n";
    let dir = project(&[("a.yaml", a), ("b.yaml", b), (".env", "TAG=c:3\n")]);
    let out = bulkhead(
        dir.path(),
        &["check", "--json", "-f", "a.yaml", "-f", "b.yaml"],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["project"]["name"], "fromfile");
    assert_eq!(doc["verdict"]["services"][0]["image"], "c:3");
    let named = bulkhead(
        dir.path(),
        &["check", "--json", "-f", "a.yaml", "-p", "cli-name"],
    );
    let doc: Value = serde_json::from_slice(&named.stdout).expect("json");
    assert_eq!(doc["project"]["name"], "cli-name");
    let bad = bulkhead(dir.path(), &["check", "-f", "a.yaml", "-p", "Bad Name"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("project name `Bad Name` is not valid"));
}

#[test]
fn compose_file_and_its_separator_are_read_from_the_env_file_as_compose_does() {
    let a = "services:\n  web:\n    image: a:1\n    user: \"1:1\"\n";
    let b = "services:\n  web:\n    image: b:2\n";
    // A compose.yaml that discovery would pick is there too: COMPOSE_FILE wins over it.
    let other = "services:\n  nope:\n    image: n:1\n";
    let dir = project(&[
        ("a.yaml", a),
        ("b.yaml", b),
        ("compose.yaml", other),
        (
            ".env",
            "COMPOSE_FILE=a.yaml;b.yaml\nCOMPOSE_PATH_SEPARATOR=;\n",
        ),
    ]);
    let out = bulkhead(dir.path(), &["check", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        doc["project"]["files"].as_array().map(Vec::len),
        Some(2),
        "{doc}"
    );
    assert_eq!(doc["verdict"]["services"][0]["name"], "web", "{doc}");
    assert_eq!(doc["verdict"]["services"][0]["image"], "b:2", "{doc}");
    // The process environment wins over .env.
    let out = bulkhead_env(
        dir.path(),
        &["check", "--json"],
        &[("COMPOSE_FILE", "a.yaml")],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["verdict"]["services"][0]["image"], "a:1", "{doc}");
}

#[test]
fn included_extended_and_label_files_make_one_project() {
    let main = "include: [db/compose.yaml]\nservices:\n  web:\n    extends: {file: lib/base.yaml, service: base}\n    label_file: web.labels\n    labels: {tier: front}\n    depends_on: [db]\n";
    let dir = project(&[
        ("compose.yaml", main),
        (
            "db/compose.yaml",
            "services:\n  db:\n    image: example/db:${DB_TAG}\n    user: \"10001\"\n",
        ),
        ("db/.env", "DB_TAG=16\n"),
        (
            "lib/base.yaml",
            "services:\n  base:\n    image: example/web:1.0\n    user: \"10001\"\n",
        ),
        ("web.labels", "team=shop\ntier=back\n"),
    ]);
    let out = bulkhead(dir.path(), &["check", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let services = doc["verdict"]["services"].as_array().expect("services");
    let images: Vec<&str> = services
        .iter()
        .filter_map(|s| s["image"].as_str())
        .collect();
    assert_eq!(images, ["example/db:16", "example/web:1.0"], "{doc}");
    assert_eq!(doc["project"]["labels"]["web"]["team"], "shop", "{doc}");
    assert_eq!(
        doc["project"]["labels"]["web"]["tier"], "front",
        "the spec's labels win"
    );
    let loaded: Vec<&str> = doc["project"]["loaded"]
        .as_array()
        .expect("loaded")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(loaded.len(), 4, "{loaded:?}");
    assert!(loaded[1].ends_with("/db/compose.yaml"), "{loaded:?}");
    let topology = doc["verdict"]["topology"].to_string();
    assert!(topology.contains("\"db\""), "{topology}");
    // An include out of the project is refused, its bytes not quoted.
    let outside = project(&[("canary.yaml", "services:\n  CANARY: {image: x}\n")]);
    let escape = format!(
        "include: [{}]\nservices:\n  web: {{image: a:1}}\n",
        outside.path().join("canary.yaml").display()
    );
    std::fs::write(dir.path().join("compose.yaml"), escape).expect("write");
    let out = bulkhead(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("compose.yaml:1:11: include:"), "{stderr}");
    assert!(
        stderr.contains("is outside the project directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("CANARY"), "{stderr}");
}

#[test]
fn missing_files_are_exit_2_with_a_hint() {
    let dir = project(&[("README", "no compose here")]);
    let out = bulkhead(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no Compose file found"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    let out = bulkhead(dir.path(), &["check", "-f", "nope.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
    let env_file = "services:\n  web:\n    image: a:1\n    env_file: missing.env\n";
    let dir = project(&[("compose.yaml", env_file)]);
    let out = bulkhead(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("env_file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_usage_is_exit_2() {
    let dir = project(&[]);
    let out = bulkhead(dir.path(), &["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_untrusted_checkout_cannot_point_check_at_host_files() {
    let outside = project(&[("secret.key", "/CANARY-KEY-BYTES\n")]);
    let key = outside.path().join("secret.key");
    let dir = project(&[("app.env", "A=1\n")]);
    // The Compose file itself a link out of the checkout: not read, so not quoted.
    std::os::unix::fs::symlink(&key, dir.path().join("compose.yaml")).expect("link");
    let out = bulkhead(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("leads outside"), "{stderr}");
    assert!(!stderr.contains("CANARY"), "{stderr}");
    std::fs::remove_file(dir.path().join("compose.yaml")).expect("rm");
    // An env file that is a link out: refused with the key and place, no bytes.
    std::os::unix::fs::symlink(&key, dir.path().join("linked.env")).expect("link");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: a:1\n    user: \"10001\"\n    env_file: linked.env\n",
    )
    .expect("write");
    let out = bulkhead(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("compose.yaml:5:5: services.web.env_file: `linked.env` leads outside"),
        "{stderr}"
    );
    assert!(!stderr.contains("CANARY"), "{stderr}");
    // The local admin may allow the directory; the file is then read, and a parse error
    // names the line, not the bytes.
    let allow = outside.path().to_string_lossy().into_owned();
    let out = bulkhead(dir.path(), &["check", "--allow-host-path", &allow]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("secret.key:1:1"), "{stderr}");
    assert!(!stderr.contains("CANARY"), "{stderr}");
}

#[test]
fn check_for_swarm_names_each_rule_it_would_not_enforce_and_refuses_what_it_cannot_carry() {
    // GOOD publishes web's port on 127.0.0.1 (the default): a Swarm publishes on every address.
    let dir = project(&[("compose.yaml", GOOD)]);
    let out = bulkhead(dir.path(), &["check", "--backend", "swarm"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("project ")
            && stdout
                .lines()
                .next()
                .is_some_and(|l| l.contains("NOT deployable on Swarm") && l.contains("web")),
        "{stdout}"
    );
    let swarm = stdout
        .split("\non Swarm (Engine API 1.41)")
        .nth(1)
        .expect("a Swarm section");
    assert!(swarm.contains("refused      ports-localhost"), "{swarm}");
    assert!(swarm.contains("not enforced no-new-privileges"), "{swarm}");
    // The engine's verdict on the same file is unchanged.
    let engine = bulkhead(dir.path(), &["check"]);
    assert_eq!(engine.status.code(), Some(0), "{}", text(&engine.stdout));
    assert!(!text(&engine.stdout).contains("on Swarm"));

    let json = bulkhead(dir.path(), &["check", "--backend", "swarm", "--json"]);
    let doc: Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["backend"], "swarm");
    assert_eq!(doc["deployable"], false);
    let web = doc["swarm_gaps"]["web"].as_array().expect("web's gaps");
    assert!(
        web.iter()
            .any(|g| g["rule"] == "ports-localhost" && g["effect"] == "refused"),
        "{web:?}"
    );
    let api = doc["swarm_gaps"]["api"].as_array().expect("api's gaps");
    assert!(
        api.iter()
            .all(|g| g["effect"] == "unenforced"
                && g["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{api:?}"
    );

    // Without the published port it deploys on a Swarm, its gaps shown.
    let quiet = GOOD.replace("    ports: [\"8080:80\"]\n", "");
    let dir = project(&[("compose.yaml", &quiet)]);
    let out = bulkhead(dir.path(), &["check", "--backend", "swarm"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("on Swarm (Engine API 1.41): deployable, with the gaps below"),
        "{stdout}"
    );
}
