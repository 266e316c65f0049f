//! Confinement against a real directory tree: every kind of path × inside, absolute, `../`,
//! symlinked out, symlinked to a socket; uploads stricter than local; writable nesting refused.

use std::os::unix::fs::symlink;
use std::path::Path;

use bulkhead_core::spec::{LoadInput, Project, SourceFile, load};

use super::*;

fn project(dir: &Path, yaml: &str) -> Project {
    load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: yaml.into(),
        }],
        project_dir: dir.to_string_lossy().into_owned(),
        project_name: Some("p".into()),
        dotenv: None,
        env: Default::default(),
        profiles: Vec::new(),
        extra: Default::default(),
    })
    .expect("loads")
}

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

/// `root/` (the project: a file, a directory, links out) beside `outside/` (a canary).
fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().canonicalize().expect("canonical");
    let root = base.join("proj");
    let outside = base.join("outside");
    for d in [&root, &outside, &root.join("dir"), &root.join("data")] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(root.join("f.env"), "A=1\n").expect("write");
    std::fs::write(outside.join("canary"), "CANARY=1\n").expect("write");
    symlink(outside.join("canary"), root.join("link-file")).expect("link");
    symlink(&outside, root.join("link-dir")).expect("link");
    symlink("/", root.join("rootlink")).expect("link");
    symlink("dir", root.join("inner-link")).expect("link");
    Tree {
        _tmp: tmp,
        root,
        outside,
    }
}

fn bounds(t: &Tree, upload: bool, allowed: Vec<PathBuf>) -> Bounds {
    Bounds {
        root: t.root.clone(),
        allowed,
        upload,
    }
}

fn errors(t: &Tree, yaml: &str, b: &Bounds) -> Vec<String> {
    let mut p = project(&t.root, yaml);
    confine(&mut p, b, None)
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

/// One spec per path key, with `{}` where the path goes.
const KEYS: &[(&str, &str)] = &[
    (
        "services.s.env_file",
        "services:\n  s:\n    image: x\n    env_file: {}\n",
    ),
    (
        "secrets.k.file",
        "services:\n  s:\n    image: x\n    secrets: [k]\nsecrets:\n  k: {file: {}}\n",
    ),
    (
        "configs.c.file",
        "services:\n  s:\n    image: x\nconfigs:\n  c: {file: {}}\n",
    ),
    (
        "services.s.build.context",
        "services:\n  s:\n    build: {context: {}}\n",
    ),
    (
        "x-bulkhead.trust.keys",
        "services:\n  s:\n    image: x\nx-bulkhead:\n  trust:\n    keys: [\"{}\"]\n",
    ),
    (
        "services.s.volumes",
        "services:\n  s:\n    image: x\n    volumes: [\"{}:/mnt\"]\n",
    ),
];

#[test]
fn every_key_refuses_every_escape_locally_and_in_uploads() {
    let t = tree();
    let escapes = [
        t.outside.join("canary").to_string_lossy().into_owned(),
        "../outside/canary".to_string(),
        "./link-file".to_string(),
        "./link-dir".to_string(),
        "./rootlink/run/docker.sock".to_string(),
        "./rootlink".to_string(),
    ];
    for upload in [false, true] {
        let b = bounds(&t, upload, Vec::new());
        for (key, yaml) in KEYS {
            for path in &escapes {
                let got = errors(&t, &yaml.replace("{}", path), &b);
                assert_eq!(got.len(), 1, "{key} = {path} (upload {upload}): {got:?}");
                assert!(got[0].contains(key), "{key} = {path}: {got:?}");
                assert!(
                    got[0].contains("outside the project")
                        || (upload && got[0].contains("cannot bind-mount")),
                    "{key} = {path}: {got:?}"
                );
                assert!(!got[0].contains("CANARY"), "{got:?}");
            }
        }
    }
}

#[test]
fn paths_inside_resolve_to_symlink_free_paths() {
    let t = tree();
    let b = bounds(&t, false, Vec::new());
    let mut p = project(
        &t.root,
        "services:\n  s:\n    build: {context: ./inner-link, dockerfile: ../f.env}\n    env_file: [./f.env, {path: ./inner-link/none.env, required: false}]\n    volumes: [\"./data:/data:ro\", \"./inner-link:/d\"]\n",
    );
    // `../f.env` from the context is still inside the project, and a regular file.
    let errs = confine(&mut p, &b, None);
    assert!(errs.is_empty(), "{errs:?}");
    let s = &p.services["s"];
    let root = t.root.to_string_lossy();
    assert_eq!(
        s.build.as_ref().map(|b| b.context.clone()),
        Some(format!("{root}/dir"))
    );
    assert_eq!(s.env_file[0].path, format!("{root}/f.env"));
    assert_eq!(s.env_file[1].path, format!("{root}/dir/none.env"));
    assert_eq!(s.volumes[1].value.host_path, Some(format!("{root}/dir")));
}

#[test]
fn uploads_never_bind_mount_and_local_binds_need_the_path_to_exist() {
    let t = tree();
    let yaml = "services:\n  s:\n    image: x\n    volumes: [\"./data:/data\"]\n";
    assert!(errors(&t, yaml, &bounds(&t, false, Vec::new())).is_empty());
    let got = errors(&t, yaml, &bounds(&t, true, Vec::new()));
    assert!(got[0].contains("cannot bind-mount host paths"), "{got:?}");
    let missing = "services:\n  s:\n    image: x\n    volumes: [\"./nothing:/data\"]\n";
    let got = errors(&t, missing, &bounds(&t, false, Vec::new()));
    assert!(got[0].contains("does not exist"), "{got:?}");
}

#[test]
fn an_allowed_directory_admits_local_paths_only() {
    let t = tree();
    let yaml = format!(
        "services:\n  s:\n    image: x\n    env_file: {}\n",
        t.outside.join("canary").display()
    );
    assert!(errors(&t, &yaml, &bounds(&t, false, vec![t.outside.clone()])).is_empty());
    assert_eq!(
        errors(&t, &yaml, &bounds(&t, true, vec![t.outside.clone()])).len(),
        1,
        "an upload ignores allowed directories"
    );
}

#[test]
fn a_socket_or_fifo_is_not_a_file_to_read_or_mount() {
    let t = tree();
    let sock = t.root.join("engine.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
    for yaml in [
        "services:\n  s:\n    image: x\n    volumes: [\"./engine.sock:/var/run/docker.sock\"]\n",
        "services:\n  s:\n    image: x\n    env_file: ./engine.sock\n",
    ] {
        let got = errors(&t, yaml, &bounds(&t, false, Vec::new()));
        assert!(got[0].contains("is a socket"), "{got:?}");
    }
}

#[test]
fn a_bind_source_inside_a_writable_one_is_refused() {
    let t = tree();
    std::fs::create_dir(t.root.join("data/sub")).expect("mkdir");
    let nested = "services:\n  a:\n    image: x\n    volumes: [\"./data:/data\"]\n  b:\n    image: x\n    volumes: [\"./data/sub:/sub\"]\n";
    let got = errors(&t, nested, &bounds(&t, false, Vec::new()));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("lies inside `./data`, which services.a mounts writable"),
        "{got:?}"
    );
    let read_only = nested.replace("./data:/data", "./data:/data:ro");
    assert!(errors(&t, &read_only, &bounds(&t, false, Vec::new())).is_empty());
}
