//! F7: ordinary images fitted to the profile with no hand edits. `check` reads each image and
//! explains what it needs, `check --fix` writes compose.bulkhead.yaml, and `up` merges it: redis
//! persists past its first save, postgres answers a query, nginx serves — each non-root, on a
//! read-only root, without a waiver. `learn` finds nginx's writable paths; a uid-0 alias is
//! refused by name and by number; hostile image content is reported, never followed or echoed.

use super::{Project, exec, host_port};
use crate::support::{docker, http_get, text};

/// `check --fix`, which must succeed; its stdout and the override file it wrote.
fn fix(p: &Project) -> (String, String) {
    let out = p.ok(&["check", "--fix"]);
    let path = p.dir.path().join("compose.bulkhead.yaml");
    let written = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no override written ({e}):\n{out}"));
    (out, written)
}

/// The container runs hardened: a non-root numeric user, a read-only root, no capability.
fn hardened(c: &serde_json::Value, user: &str) {
    assert_eq!(c["Config"]["User"], user, "{:#}", c["Config"]);
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(c["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]));
}

#[test]
fn redis_runs_hardened_from_the_proposal_and_persists_past_its_first_save() {
    let p = Project::new(
        "fr",
        "services:\n  cache:\n    image: bulkhead-test/redis:7\n",
    );
    let (out, file) = fix(&p);
    assert!(out.contains("user: \"999:999\""), "{out}");
    assert!(
        file.contains("user: \"999:999\"") && file.contains("\"cache-data:/data\""),
        "{file}"
    );
    assert!(file.contains("# "), "a comment per entry: {file}");
    let again = p.ok(&["check"]);
    assert!(again.contains("compose.bulkhead.yaml"), "{again}");
    p.up();
    let cache = p.only("cache");
    hardened(&cache, "999:999");
    let set = exec(&cache, &["redis-cli", "SET", "k", "kept"]);
    assert_eq!(text(&set.stdout).trim(), "OK", "{}", text(&set.stderr));
    let save = exec(&cache, &["redis-cli", "SAVE"]);
    assert_eq!(text(&save.stdout).trim(), "OK", "{}", text(&save.stderr));
    let saved = exec(&cache, &["test", "-s", "/data/dump.rdb"]);
    assert!(saved.status.success(), "no dump.rdb after SAVE");
    let bg = exec(&cache, &["redis-cli", "BGSAVE"]);
    assert!(
        text(&bg.stdout).contains("Background saving started"),
        "{}",
        text(&bg.stdout)
    );
}

#[test]
fn postgres_runs_hardened_from_the_proposal_and_answers_a_query() {
    let spec = "services:\n  db:\n    image: bulkhead-test/postgres:15\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pgpass\n    secrets: [pgpass]\n    healthcheck:\n      test: [\"CMD\", \"pg_isready\", \"-h\", \"/run/postgresql\"]\n      interval: 1s\n      timeout: 2s\n      retries: 20\nsecrets:\n  pgpass:\n    external: true\n";
    let p = Project::new("fp", spec);
    p.secret_set("pgpass", "a password");
    let (out, file) = fix(&p);
    assert!(file.contains("user: \"999:999\""), "{out}\n{file}");
    assert!(file.contains("\"/run/postgresql\""), "{file}");
    assert!(
        file.contains("\"db-data:/var/lib/postgresql/data\""),
        "{file}"
    );
    p.up();
    let db = p.only("db");
    hardened(&db, "999:999");
    let q = exec(
        &db,
        &[
            "psql",
            "-U",
            "postgres",
            "-h",
            "/run/postgresql",
            "-tAc",
            "SELECT 40 + 2",
        ],
    );
    let answered = text(&q.stdout).trim().to_string();
    assert_eq!(answered, "42", "{}", text(&q.stderr));
}

#[test]
fn nginx_runs_hardened_from_the_proposal_and_learn_finds_its_writable_paths() {
    let spec = "services:\n  web:\n    image: bulkhead-test/nginx:1\n    ports:\n      - \"127.0.0.1::80\"\n";
    let p = Project::new("fn", spec);
    let learned = p.ok(&["learn", "web", "--seconds", "3"]);
    assert!(learned.contains("/var/cache/nginx"), "{learned}");
    assert!(learned.contains("/run/nginx"), "{learned}");
    let (out, file) = fix(&p);
    assert!(file.contains("user: \"101:101\""), "{out}\n{file}");
    assert!(
        file.contains("\"/var/cache/nginx\"") && file.contains("\"/run/nginx\""),
        "{file}"
    );
    p.up();
    let web = p.only("web");
    hardened(&web, "101:101");
    let page = http_get(host_port(&web, 80), "/").map(|(s, _)| s);
    assert!(
        matches!(page, Some(200 | 403 | 404)),
        "nginx answers: {page:?}"
    );
}

#[test]
fn a_uid_0_alias_is_refused_by_name_and_by_number() {
    let p = Project::new(
        "fa",
        "services:\n  app:\n    build: ./img\n    user: toor\n    command: [\"sleep\", \"60\"]\n",
    );
    p.write(
        "img/Dockerfile",
        "FROM bulkhead-test/bookworm:base\nRUN echo 'toor:x:0:0::/root:/bin/sh' >> /etc/passwd\n",
    );
    let err = p.fails(&["up", "-q"]);
    assert!(err.contains("uid 0"), "{err}");
    p.edit("user: toor", "user: \"0\"");
    let err = p.fails(&["up", "-q"]);
    assert!(
        err.contains("rule non-root") && err.contains("runs as root"),
        "{err}"
    );
}

#[test]
fn hostile_image_content_is_reported_and_never_followed_or_echoed() {
    let tag = format!("bulkhead-test/hostile:{}", std::process::id());
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM bulkhead-test/bookworm:base\n\
         RUN rm /etc/passwd && ln -s /proc/self/environ /etc/passwd && mkdir /real && ln -s /real /data\n\
         VOLUME /data\nVOLUME /x/../etc\n",
    )
    .expect("write");
    docker(&["build", "-q", "-t", &tag, &dir.path().to_string_lossy()]);
    let p = Project::new("fh", &format!("services:\n  app:\n    image: {tag}\n"));
    let out = p.run(&["check"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let _ = docker(&["rmi", "-f", &tag]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{all}");
    assert!(
        all.contains("/etc/passwd is a link") || all.contains("symbolic link"),
        "{all}"
    );
    assert!(!all.contains("PATH="), "environment echoed: {all}");
}

#[test]
fn writing_the_proposal_again_keeps_what_an_earlier_learn_or_an_edit_added() {
    let spec = "services:\n  web:\n    image: bulkhead-test/nginx:1\n  other:\n    image: bulkhead-test/redis:7\n";
    let p = Project::new("fk", spec);
    // What `learn web --fix` (or a person) left in the file, beside check's own proposal.
    p.write(
        "compose.bulkhead.yaml",
        "services:\n  web:\n    tmpfs: [\"/srv/scratch:uid=101,gid=101\"]\n    volumes: [\"web-extra:/srv/keep\"]\nvolumes:\n  web-extra: {}\n",
    );
    let (_, file) = fix(&p);
    assert!(file.contains("\"/srv/scratch:uid=101,gid=101\""), "{file}");
    assert!(file.contains("\"web-extra:/srv/keep\""), "{file}");
    assert!(file.contains("\"web-extra\": {}"), "{file}");
    assert!(file.contains("kept from the earlier"), "{file}");
    // And the new proposal for both services is there too, once.
    assert_eq!(file.matches("user: \"101:101\"").count(), 1, "{file}");
    assert_eq!(file.matches("user: \"999:999\"").count(), 1, "{file}");
    assert_eq!(file.matches("\"/var/cache/nginx\"").count(), 1, "{file}");
    // A second --fix changes nothing.
    let (_, again) = fix(&p);
    assert_eq!(again, file);
    // learn --fix of the other service keeps them as well.
    p.ok(&["learn", "other", "--seconds", "1", "--fix"]);
    let after = std::fs::read_to_string(p.dir.path().join("compose.bulkhead.yaml")).expect("read");
    assert!(
        after.contains("\"web-extra:/srv/keep\"") && after.contains("/srv/scratch"),
        "{after}"
    );
}
