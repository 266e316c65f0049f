//! Paths a spec names (env_file, secrets, configs, build, bind mounts, include, extends.file,
//! label_file; `.env`, COMPOSE_FILE):
//! absolute, `../`, `~`, symlinked out or to the engine socket, or swapped after `check` —
//! refused for uploads always, and in a local project unless the local admin names the
//! directory; a canary file outside the project never shows in a reply or the audit log.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bulkhead_app::deploy::DeployError;
use bulkhead_app::deploy::ops::checked;
use bulkhead_app::project::{OpenError, Origin, ProjectOptions, discover};
use bulkhead_core::auth::{ProjectName, Role, Scope};
use bulkhead_ports::Store;
use serde_json::{Value, json};

use super::common::{demo_binary, docker};
use super::support::server;

/// One spec per path key, `{}` where the path goes.
const KEYS: &[(&str, &str)] = &[
    (
        "services.s.env_file",
        "services:\n  s:\n    image: x\n    env_file: {}\n",
    ),
    (
        "secrets.k.file",
        "services:\n  s:\n    image: x\n    secrets: [k]\nsecrets:\n  k:\n    file: {}\n",
    ),
    (
        "configs.c.file",
        "services:\n  s:\n    image: x\nconfigs:\n  c:\n    file: {}\n",
    ),
    (
        "services.s.build.context",
        "services:\n  s:\n    build:\n      context: {}\n",
    ),
    (
        "services.s.build.dockerfile",
        "services:\n  s:\n    build:\n      context: .\n      dockerfile: {}\n",
    ),
    (
        "x-bulkhead.trust.keys",
        "services:\n  s:\n    image: x\nx-bulkhead:\n  trust:\n    keys: [\"{}\"]\n",
    ),
    (
        "services.s.volumes",
        "services:\n  s:\n    image: x\n    volumes:\n      - \"{}:/mnt\"\n",
    ),
    (
        "include",
        "include:\n  - \"{}\"\nservices:\n  s:\n    image: x\n",
    ),
    (
        "services.s.extends.file",
        "services:\n  s:\n    extends:\n      file: \"{}\"\n      service: s\n",
    ),
    (
        "services.s.label_file",
        "services:\n  s:\n    image: x\n    label_file: \"{}\"\n",
    ),
];

/// A file outside every project, whose bytes must never come back.
struct Canary {
    dir: tempfile::TempDir,
    text: String,
}

impl Canary {
    fn new() -> Canary {
        let dir = tempfile::tempdir().expect("canary dir");
        let text = format!("/CANARY-{}-{:x}", std::process::id(), rand_u64());
        // Shaped to provoke a quoting parser: a `/` where a variable name should start.
        std::fs::write(dir.path().join("canary"), format!("{}\n", text)).expect("canary");
        std::fs::write(dir.path().join("ok.env"), "A=1\n").expect("env file");
        std::fs::write(
            dir.path().join("compose.yaml"),
            format!("services:\n  {}: {{image: x}}\n", &text[1..]),
        )
        .expect("canary compose");
        Canary { dir, text }
    }

    fn path(&self) -> PathBuf {
        self.dir
            .path()
            .canonicalize()
            .expect("canonical")
            .join("canary")
    }

    fn assert_absent(&self, what: &str, haystack: &str) {
        assert!(
            !haystack.contains(&self.text),
            "{what} carries the canary's bytes: {haystack}"
        );
    }
}

/// Everything the server logs while this test binary runs, at every level.
fn logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(std::sync::Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
    .clone()
}

struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    let logs = logs();
    let bytes = logs.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random");
    u64::from_le_bytes(b)
}

/// A bundle body from (name, text) files.
fn bundle(files: &[(&str, &str)], names: &[&str], env: &[(&str, &str)]) -> Value {
    let mut b = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, text.as_bytes())
            .expect("append");
    }
    let archive = b.into_inner().expect("tar");
    let env: BTreeMap<&str, &str> = env.iter().copied().collect();
    json!({
        "files": names,
        "env": env,
        "bundle": base64::engine::general_purpose::STANDARD.encode(archive),
    })
}

fn containers_of(project: &str) -> String {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dev.bulkhead.project={project}"),
    ])
}

/// Every byte the server wrote to its state directory (audit log, store), as lossy text.
fn state_bytes(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read state dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_naming_any_path_outside_is_refused_with_key_and_place() {
    logs();
    let canary = Canary::new();
    let srv = server().await;
    let project = format!("atkup{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let outside = canary.path().to_string_lossy().into_owned();
    let escapes = [
        outside.clone(),
        format!("../../../../../../../..{outside}"),
        "~/canary".to_string(),
    ];
    let home = canary.dir.path().to_string_lossy().into_owned();
    let uri = format!("/v1/projects/{project}/deploys");
    let mut replies = String::new();
    for (key, yaml) in KEYS {
        for path in &escapes {
            let spec = yaml.replace("{}", path);
            let body = bundle(
                &[("compose.yaml", &spec), ("Dockerfile", "FROM scratch\n")],
                &["compose.yaml"],
                &[("HOME", &home)],
            );
            let (status, reply) = srv.call("POST", &uri, Some(&dev), Some(&body)).await;
            let message = reply["error"]["message"].as_str().unwrap_or_default();
            assert_eq!(status, 400, "{key} = {path}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid_spec", "{key} = {path}");
            assert!(
                message.contains(key) && message.contains("compose.yaml:"),
                "{key} = {path}: the refusal names the key and the place: {message}"
            );
            // A Dockerfile is named inside its context, where `~` is just a name.
            let tilde_dockerfile = key.ends_with("dockerfile") && path.starts_with('~');
            assert!(
                message.contains("outside the project")
                    || message.contains("cannot bind-mount host paths")
                    || (tilde_dockerfile && message.contains("does not exist")),
                "{key} = {path}: {message}"
            );
            replies.push_str(&reply.to_string());
        }
    }
    canary.assert_absent("a reply", &replies);
    canary.assert_absent("the state directory", &state_bytes(srv.dir.path()));
    canary.assert_absent("the server's log", &logged());
    assert!(
        containers_of(&project).is_empty(),
        "a container was created"
    );
    assert!(
        srv.api
            .deployer
            .store
            .get_project(&project)
            .await
            .expect("store")
            .is_none(),
        "nothing was recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cannot_choose_its_files_with_compose_file_or_by_looking_above_itself() {
    let canary = Canary::new();
    let srv = server().await;
    let project = format!("atkcf{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let compose = canary.dir.path().join("compose.yaml");
    let body = bundle(
        &[("README", "no compose file here\n")],
        &[],
        &[("COMPOSE_FILE", &compose.to_string_lossy())],
    );
    let uri = format!("/v1/projects/{project}/plans");
    let (status, reply) = srv.call("POST", &uri, Some(&dev), Some(&body)).await;
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(status, 400, "{reply}");
    assert!(message.contains("no Compose file found"), "{message}");
    assert!(!message.contains("parents"), "{message}");
    canary.assert_absent("a reply", &reply.to_string());

    // Discovery for an upload stays in its directory even with a compose.yaml just above it.
    let parent = tempfile::tempdir().expect("dir");
    std::fs::write(parent.path().join("compose.yaml"), "services: {}\n").expect("write");
    let child = parent.path().join("upload");
    std::fs::create_dir(&child).expect("mkdir");
    let opts = |origin| ProjectOptions {
        cwd: child.clone(),
        origin,
        ..ProjectOptions::default()
    };
    assert!(matches!(
        discover(&opts(Origin::Upload)),
        Err(OpenError::NotFound { .. })
    ));
    assert!(
        discover(&opts(Origin::Local)).is_ok(),
        "local discovery looks up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_file_byte_comes_back_in_an_error() {
    let srv = server().await;
    let project = format!("atkby{}", std::process::id());
    let scope = Scope::Project(ProjectName::new(&project).expect("name"));
    let dev = srv.account("dev", &[(Role::Developer, scope)]).await;
    let secret_text = format!("/CANARY-{:x}", rand_u64());
    let cases = [
        (".env", format!("{secret_text}\n")),
        ("app.env", format!("{secret_text}=1\n")),
        ("app.env", format!("A=\"x\" {secret_text}\n")),
        ("app.env", format!("A=${{B:?{secret_text}}}\n")),
    ];
    for (name, text) in &cases {
        let spec = "services:\n  s:\n    image: x\n    env_file: app.env\n";
        let mut files = vec![("compose.yaml", spec), (*name, text.as_str())];
        if *name == ".env" {
            files.push(("app.env", "A=1\n"));
        }
        let body = bundle(&files, &["compose.yaml"], &[]);
        let uri = format!("/v1/projects/{project}/deploys");
        let (status, reply) = srv.call("POST", &uri, Some(&dev), Some(&body)).await;
        assert_eq!(status, 400, "{name}: {reply}");
        let message = reply.to_string();
        assert!(message.contains(name), "{name}: names the file: {message}");
        assert!(message.contains(":1"), "{name}: names the line: {message}");
        assert!(!message.contains(&secret_text[1..]), "{name}: {message}");
    }
    // The files a spec loads: a label file, an included project's .env.
    let included = "services:\n  t:\n    image: x\n";
    let loaded = [
        (
            "services:\n  s:\n    image: x\n    label_file: app.labels\n",
            "app.labels",
            format!("A=\"x\" {secret_text}\n"),
        ),
        (
            "include: [sub/compose.yaml]\n",
            "sub/.env",
            format!("{secret_text}\n"),
        ),
    ];
    for (spec, name, text) in &loaded {
        let files = [
            ("compose.yaml", *spec),
            (*name, text.as_str()),
            ("sub/compose.yaml", included),
        ];
        let body = bundle(&files, &["compose.yaml"], &[]);
        let uri = format!("/v1/projects/{project}/deploys");
        let (status, reply) = srv.call("POST", &uri, Some(&dev), Some(&body)).await;
        assert_eq!(status, 400, "{name}: {reply}");
        let message = reply.to_string();
        assert!(
            message.contains(&format!("{name}:1")),
            "{name}: names the file and line: {message}"
        );
        assert!(!message.contains(&secret_text[1..]), "{name}: {message}");
    }
    assert!(!state_bytes(srv.dir.path()).contains(&secret_text[1..]));
}

/// A local project directory beside the canary: `proj/` with a file, a directory, and links.
struct Local {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn local(canary: &Canary) -> Local {
    let tmp = tempfile::tempdir().expect("dir");
    let root = tmp.path().canonicalize().expect("canonical").join("proj");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    std::fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("write");
    symlink(canary.path(), root.join("link-file")).expect("link");
    symlink(canary.dir.path(), root.join("link-dir")).expect("link");
    symlink("/var/run/docker.sock", root.join("sock")).expect("link");
    symlink("/", root.join("rootlink")).expect("link");
    Local { _tmp: tmp, root }
}

fn open_local(l: &Local, yaml: &str, allow: Vec<PathBuf>) -> Result<(), DeployError> {
    std::fs::write(l.root.join("compose.yaml"), yaml).expect("write");
    let opts = ProjectOptions {
        files: vec![l.root.join("compose.yaml")],
        project_name: Some("atklocal".into()),
        cwd: l.root.clone(),
        allow_host_paths: allow,
        ..ProjectOptions::default()
    };
    checked(&opts).map(|_| ())
}

#[test]
fn a_local_project_naming_any_path_outside_is_refused_unless_the_admin_allows_it() {
    let canary = Canary::new();
    let l = local(&canary);
    let outside = canary.path().to_string_lossy().into_owned();
    let escapes = [
        outside.clone(),
        format!("../../../../../../../..{outside}"),
        "./link-file".to_string(),
        "./link-dir".to_string(),
        "./sock".to_string(),
        "./rootlink".to_string(),
    ];
    for (key, yaml) in KEYS {
        for path in &escapes {
            let err = open_local(&l, &yaml.replace("{}", path), Vec::new())
                .expect_err(&format!("{key} = {path}"));
            let text = err.to_string();
            assert!(
                matches!(err, DeployError::Open(OpenError::Spec(_))),
                "{key} = {path}: {text}"
            );
            assert!(
                text.contains(key) && text.contains("compose.yaml:"),
                "{text}"
            );
            canary.assert_absent("an error", &text);
        }
    }
    // Named by the local admin, the outside directory is admitted; a bind mount of it is
    // still a host mount, refused by policy without a waiver.
    let allowed = vec![canary.dir.path().to_path_buf()];
    let ok_env = canary.dir.path().join("ok.env");
    let yaml = KEYS[0].1.replace("{}", &ok_env.to_string_lossy());
    let got = open_local(&l, &yaml, allowed.clone());
    assert!(got.is_ok(), "{got:?}");
    let yaml = KEYS[6].1.replace("{}", "./link-dir");
    match open_local(&l, &yaml, allowed) {
        Err(DeployError::Refused { verdict, .. }) => {
            let rules: Vec<_> = verdict.refusals().map(|(_, f)| f.rule.id()).collect();
            assert!(rules.contains(&"no-host-mounts"), "{rules:?}");
        }
        other => panic!("a host mount needs a waiver: {other:?}"),
    }
}

#[test]
fn a_bind_source_inside_a_writable_one_is_refused() {
    let canary = Canary::new();
    let l = local(&canary);
    std::fs::create_dir(l.root.join("data/conf")).expect("mkdir");
    let yaml = "services:\n  a:\n    image: x\n    volumes: [\"./data:/data\"]\n  b:\n    image: x\n    volumes: [\"./data/conf:/conf:ro\"]\n";
    let err = open_local(&l, yaml, Vec::new()).expect_err("nested in a writable mount");
    assert!(err.to_string().contains("mounts writable"), "{err}");
}

/// The demo image's build context, copied into `root/image`.
fn demo_context(root: &Path) {
    demo_binary(); // built when missing
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop/image");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&image)
        .arg(root.join("image"))
        .status()
        .expect("cp");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_swapped_for_links_after_check_are_refused_before_use() {
    logs();
    let canary = Canary::new();
    let srv = server().await;
    let l = local(&canary);
    demo_context(&l.root);
    std::fs::write(l.root.join("app.env"), "A=1\n").expect("write");
    let project = format!("atksw{}", std::process::id());
    let spec = "services:\n  s:\n    build: ./image\n    command: [\"store\"]\n    user: \"10001:10001\"\n    read_only: true\n    env_file: ./app.env\n    volumes:\n      - ./data:/data:ro\n";
    std::fs::write(l.root.join("compose.yaml"), spec).expect("write");
    let opts = ProjectOptions {
        files: vec![l.root.join("compose.yaml")],
        project_name: Some(project.clone()),
        cwd: l.root.clone(),
        ..ProjectOptions::default()
    };
    let env = BTreeMap::new();

    // The env file becomes a link to the canary between check and deploy.
    let (opened, verdict) = checked(&opts).expect("deployable before the swap");
    std::fs::remove_file(l.root.join("app.env")).expect("rm");
    symlink(canary.path(), l.root.join("app.env")).expect("swap");
    let err = srv
        .api
        .deployer
        .up_checked(&opened, verdict, "test", &env)
        .await
        .expect_err("a swapped env file is refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    canary.assert_absent("an error", &err.to_string());
    std::fs::remove_file(l.root.join("app.env")).expect("rm");
    std::fs::write(l.root.join("app.env"), "A=1\n").expect("write");

    // The bind source becomes a link to the engine's socket directory, then to `/`.
    for target in ["/var/run", "/"] {
        let (opened, verdict) = checked(&opts).expect("deployable before the swap");
        std::fs::rename(l.root.join("data"), l.root.join("data.was")).expect("mv");
        symlink(target, l.root.join("data")).expect("swap");
        let err = srv
            .api
            .deployer
            .up_checked(&opened, verdict, "test", &env)
            .await
            .expect_err("a swapped bind source is refused");
        assert!(
            err.to_string().contains("bind mount refused")
                && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert!(
            containers_of(&project).is_empty(),
            "a container was created"
        );
        std::fs::remove_file(l.root.join("data")).expect("rm link");
        std::fs::rename(l.root.join("data.was"), l.root.join("data")).expect("mv back");
    }
    canary.assert_absent("the server's log", &logged());
    assert!(!logged().is_empty(), "the log was captured");
    let _ = srv.api.deployer.down(&project, true).await;
}
