//! The files a spec names for loading, against a real directory tree: included, extended and
//! label files found and read; every escape (`../`, absolute, a link out, /etc/passwd) refused
//! for each key, locally and in uploads, without a byte of the target in the error; allowed
//! directories for local deploys only; oversized, non-UTF-8 and missing files refused.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::super::{Origin, ProjectOptions, open};
use super::MAX_LOADED_BYTES;

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

/// `root/` (the project) beside `outside/` (canaries a spec must not reach).
fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().canonicalize().expect("canonical");
    let root = base.join("proj");
    let outside = base.join("outside");
    for d in [&root, &outside, &root.join("sub"), &root.join("lib")] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let canary = "services:\n  CANARY:\n    image: CANARY\n";
    std::fs::write(outside.join("canary.yaml"), canary).expect("write");
    std::fs::write(outside.join("canary.labels"), "CANARY=1\n").expect("write");
    symlink(outside.join("canary.yaml"), root.join("link.yaml")).expect("link");
    symlink(&outside, root.join("link-dir")).expect("link");
    Tree {
        _tmp: tmp,
        root,
        outside,
    }
}

fn write(root: &Path, path: &str, text: &str) {
    std::fs::write(root.join(path), text).expect("write");
}

fn options(t: &Tree, origin: Origin, allowed: Vec<PathBuf>) -> ProjectOptions {
    ProjectOptions {
        files: vec![t.root.join("compose.yaml")],
        cwd: t.root.clone(),
        project_name: Some("p".into()),
        origin,
        allow_host_paths: allowed,
        ..ProjectOptions::default()
    }
}

fn open_err(t: &Tree, origin: Origin, allowed: Vec<PathBuf>) -> String {
    match open(&options(t, origin, allowed)) {
        Ok(_) => panic!("opens"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn included_extended_and_label_files_are_read_from_the_project() {
    let t = tree();
    write(
        &t.root,
        "compose.yaml",
        "include: [sub/compose.yaml]\nservices:\n  web:\n    extends: {file: lib/base.yaml, service: base}\n    label_file: web.labels\n    depends_on: [db]\n",
    );
    write(
        &t.root,
        "sub/compose.yaml",
        "services:\n  db:\n    image: postgres:${TAG}\n    env_file: [db.env]\n",
    );
    write(&t.root, "sub/.env", "TAG=16\n");
    write(&t.root, "sub/db.env", "A=1\n");
    write(
        &t.root,
        "lib/base.yaml",
        "services:\n  base:\n    image: app\n    env_file: [base.env]\n",
    );
    write(&t.root, "lib/base.env", "B=1\n");
    write(&t.root, "web.labels", "team=shop\n");
    for origin in [Origin::Local, Origin::Upload] {
        let p = open(&options(&t, origin, Vec::new())).unwrap_or_else(|e| panic!("{e}"));
        let root = t.root.to_string_lossy();
        let db = &p.services["db"];
        assert_eq!(
            db.image.as_ref().map(|i| i.value.as_str()),
            Some("postgres:16")
        );
        assert_eq!(db.env_file[0].path, format!("{root}/sub/db.env"));
        let web = &p.services["web"];
        assert_eq!(web.env_file[0].path, format!("{root}/lib/base.env"));
        assert_eq!(web.labels.get("team").map(String::as_str), Some("shop"));
        let loaded: Vec<String> = [
            "sub/.env",
            "sub/compose.yaml",
            "lib/base.yaml",
            "web.labels",
        ]
        .iter()
        .map(|f| format!("{root}/{f}"))
        .collect();
        assert_eq!(p.loaded, loaded);
    }
}

/// One spec per key that names a file to load, with `{}` where the path goes.
const KEYS: &[(&str, &str)] = &[
    (
        "include",
        "include: [\"{}\"]\nservices:\n  web: {image: x}\n",
    ),
    (
        "include.env_file",
        "include:\n  - path: sub/compose.yaml\n    env_file: \"{}\"\nservices:\n  web: {image: x}\n",
    ),
    (
        "services.web.extends.file",
        "services:\n  web:\n    extends: {file: \"{}\", service: CANARY}\n",
    ),
    (
        "services.web.label_file",
        "services:\n  web:\n    image: x\n    label_file: \"{}\"\n",
    ),
];

#[test]
fn every_key_refuses_every_escape_locally_and_in_uploads() {
    let t = tree();
    write(&t.root, "sub/compose.yaml", "services:\n  db: {image: x}\n");
    let escapes = [
        t.outside.join("canary.yaml").to_string_lossy().into_owned(),
        "../outside/canary.yaml".to_string(),
        "./link.yaml".to_string(),
        "./link-dir/canary.labels".to_string(),
        "/etc/passwd".to_string(),
    ];
    for origin in [Origin::Local, Origin::Upload] {
        for (key, yaml) in KEYS {
            for path in &escapes {
                write(&t.root, "compose.yaml", &yaml.replace("{}", path));
                let got = open_err(&t, origin, Vec::new());
                assert!(got.contains(key), "{key} = {path} ({origin:?}): {got}");
                assert!(got.contains("outside the project"), "{key} = {path}: {got}");
                assert!(!got.contains("CANARY") && !got.contains("root:"), "{got}");
            }
        }
    }
}

#[test]
fn an_allowed_directory_admits_local_includes_only() {
    let t = tree();
    let yaml = format!(
        "include: [{}]\nservices:\n  web: {{image: x}}\n",
        t.outside.join("canary.yaml").display()
    );
    write(&t.root, "compose.yaml", &yaml);
    let p = open(&options(&t, Origin::Local, vec![t.outside.clone()]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.services.contains_key("CANARY"));
    let got = open_err(&t, Origin::Upload, vec![t.outside.clone()]);
    assert!(got.contains("outside the project"), "{got}");
}

#[test]
fn oversized_non_text_and_missing_files_are_refused_without_their_bytes() {
    let t = tree();
    let big = "x".repeat(bulkhead_core::spec::load::MAX_FILE_BYTES + 1);
    write(&t.root, "big.yaml", &big);
    std::fs::write(t.root.join("bin.labels"), b"A=\xff\xfeCANARY\n").expect("write");
    for (yaml, words) in [
        (
            "include: [big.yaml]\nservices:\n  web: {image: x}\n",
            "is larger than",
        ),
        (
            "services:\n  web:\n    image: x\n    label_file: bin.labels\n",
            "is not UTF-8 text",
        ),
        (
            "include: [nothere.yaml]\nservices:\n  web: {image: x}\n",
            "include: `nothere.yaml` does not exist",
        ),
        (
            "include: [sub]\nservices:\n  web: {image: x}\n",
            "is a directory, not a regular file",
        ),
    ] {
        write(&t.root, "compose.yaml", yaml);
        let got = open_err(&t, Origin::Upload, Vec::new());
        assert!(got.contains(words), "{yaml}: {got}");
        assert!(!got.contains("xxxx") && !got.contains("CANARY"), "{got}");
    }
}

#[test]
fn the_files_loaded_are_bounded_in_number_and_bytes() {
    let t = tree();
    let names: Vec<String> = (0..70).map(|i| format!("l{i}.labels")).collect();
    for n in &names {
        write(&t.root, n, "a=1\n");
    }
    write(
        &t.root,
        "compose.yaml",
        &format!(
            "services:\n  web:\n    image: x\n    label_file: [{}]\n",
            names.join(", ")
        ),
    );
    let got = open_err(&t, Origin::Local, Vec::new());
    assert!(got.contains("more than 64 other files"), "{got}");
    let chunk = format!("a={}\n", "y".repeat(3 << 20));
    for i in 0..6 {
        write(&t.root, &format!("big{i}.labels"), &chunk);
    }
    write(
        &t.root,
        "compose.yaml",
        "services:\n  web:\n    image: x\n    label_file: [big0.labels, big1.labels, big2.labels, big3.labels, big4.labels, big5.labels]\n",
    );
    let got = open_err(&t, Origin::Local, Vec::new());
    assert!(
        got.contains(&format!("more than {} MiB", MAX_LOADED_BYTES >> 20)),
        "{got}"
    );
}

#[test]
fn messages_about_an_included_file_s_paths_never_show_where_the_project_lies() {
    let t = tree();
    write(
        &t.root,
        "compose.yaml",
        "include: [sub/compose.yaml]\nservices:\n  web: {image: x}\n",
    );
    write(
        &t.root,
        "sub/compose.yaml",
        "services:\n  db:\n    image: x\n    env_file: [missing.env]\n    extends: {file: base.yaml, service: nothere}\n",
    );
    write(&t.root, "sub/base.yaml", "services:\n  base: {image: x}\n");
    let got = open_err(&t, Origin::Upload, Vec::new());
    assert!(
        got.contains("which is not a service of `./sub/base.yaml`"),
        "{got}"
    );
    write(
        &t.root,
        "sub/compose.yaml",
        "services:\n  db:\n    image: x\n    env_file: [missing.env]\n",
    );
    let got = open_err(&t, Origin::Upload, Vec::new());
    assert!(got.contains("`./sub/missing.env` does not exist"), "{got}");
    let root = t.root.to_string_lossy();
    assert!(!got.contains(root.as_ref()), "{got}");
}
