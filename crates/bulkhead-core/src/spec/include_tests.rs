//! Files named by the spec: `include` (short and long forms, own directory and variables,
//! conflicts, nesting, cycles, depth), `extends.file` and `label_file`, loaded through
//! `load_step` as the app does — each pass asks for what it lacks.

use std::collections::BTreeMap;

use super::model::{MountKind, Project, SecretDef};
use super::sources::{MAX_INCLUDE_DEPTH, Step};
use super::{LoadInput, SourceFile, SpecErrors, load_step};

/// Load `/p/compose.yaml` = `main`, with `disk` (absolute path, text) as the files there are;
/// every pass's asks are answered from `disk` (absent: `None`). Returns the project and the
/// paths asked for, in order.
fn load(main: &str, disk: &[(&str, &str)]) -> (Result<Project, SpecErrors>, Vec<String>) {
    load_env(main, disk, &[])
}

fn load_env(
    main: &str,
    disk: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (Result<Project, SpecErrors>, Vec<String>) {
    let mut input = LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: main.into(),
        }],
        project_dir: "/p".into(),
        project_name: Some("p".into()),
        dotenv: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        profiles: Vec::new(),
        extra: BTreeMap::new(),
    };
    let mut asked = Vec::new();
    for _ in 0..100 {
        match load_step(&input) {
            Step::Done(r) => return (*r, asked),
            Step::Needs(wanted) => {
                for w in wanted {
                    let text = disk
                        .iter()
                        .find(|(p, _)| *p == w.path)
                        .map(|(p, t)| SourceFile {
                            name: p.trim_start_matches("/p/").to_string(),
                            text: t.to_string(),
                        });
                    asked.push(w.path.clone());
                    input.extra.insert(w.path, text);
                }
            }
        }
    }
    panic!("loading never settles: {asked:?}");
}

fn ok(main: &str, disk: &[(&str, &str)]) -> Project {
    load(main, disk).0.unwrap_or_else(|e| panic!("{e}"))
}

fn err(main: &str, disk: &[(&str, &str)]) -> String {
    match load(main, disk).0 {
        Ok(_) => panic!("loads: {main}"),
        Err(e) => e.to_string(),
    }
}

const SUB: &str = "services:\n  db:\n    image: postgres\n    env_file: db.env\n    volumes: [./data:/data, state:/state]\n    secrets: [pw]\nvolumes: {state: }\nsecrets:\n  pw: {file: ./pw.txt}\n";

#[test]
fn an_included_project_joins_with_its_own_directory() {
    for main in [
        "include: [sub/compose.yaml]\nservices:\n  web:\n    image: x\n    depends_on: [db]\n",
        "include:\n  - path: ./sub/compose.yaml\nservices:\n  web:\n    image: x\n    depends_on: [db]\n",
        "include:\n  - path: [sub/compose.yaml]\n    project_directory: sub\nservices:\n  web:\n    image: x\n    depends_on: [db]\n",
    ] {
        let (p, asked) = load(main, &[("/p/sub/compose.yaml", SUB)]);
        let p = p.unwrap_or_else(|e| panic!("{main}: {e}"));
        assert_eq!(asked, ["/p/sub/.env", "/p/sub/compose.yaml"], "{main}");
        let db = &p.services["db"];
        assert_eq!(db.env_file[0].path, "./sub/db.env");
        assert_eq!(db.volumes[0].value.kind, MountKind::Bind);
        assert_eq!(
            db.volumes[0].value.host_path.as_deref(),
            Some("/p/sub/data")
        );
        assert_eq!(p.secrets["pw"], SecretDef::File("/p/sub/pw.txt".into()));
        assert!(p.volumes.contains_key("state"));
        assert!(p.services["web"].depends_on.contains_key("db"));
        assert_eq!(p.loaded, ["/p/sub/compose.yaml"]);
    }
}

#[test]
fn a_project_directory_moves_where_relative_paths_start() {
    let p = ok(
        "include:\n  - path: sub/compose.yaml\n    project_directory: other\nservices:\n  web: {image: x}\n",
        &[("/p/sub/compose.yaml", SUB)],
    );
    assert_eq!(p.services["db"].env_file[0].path, "./other/db.env");
}

#[test]
fn several_paths_merge_as_overrides_of_the_first() {
    let p = ok(
        "include:\n  - path: [sub/compose.yaml, sub/override.yaml]\nservices:\n  web: {image: x}\n",
        &[
            ("/p/sub/compose.yaml", SUB),
            (
                "/p/sub/override.yaml",
                "services:\n  db:\n    image: postgres:16\n",
            ),
        ],
    );
    assert_eq!(
        p.services["db"].image.as_ref().map(|i| i.value.as_str()),
        Some("postgres:16")
    );
}

#[test]
fn an_included_project_reads_its_own_variables_under_the_including_ones() {
    let sub = "services:\n  db:\n    image: postgres:${TAG}\n    hostname: ${HOST:-none}\n";
    let main = "include: [sub/compose.yaml]\nservices:\n  web: {image: x}\n";
    let disk = [
        ("/p/sub/compose.yaml", sub),
        ("/p/sub/.env", "TAG=15\nHOST=db\n"),
    ];
    let p = load(main, &disk).0.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.services["db"].image.as_ref().map(|i| i.value.as_str()),
        Some("postgres:15")
    );
    assert_eq!(p.services["db"].hostname.as_deref(), Some("db"));
    // The process environment wins over the included project's .env.
    let p = load_env(main, &disk, &[("TAG", "16")])
        .0
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.services["db"].image.as_ref().map(|i| i.value.as_str()),
        Some("postgres:16")
    );
    // An explicit env_file replaces the default .env; it is relative to the including file.
    let long = "include:\n  - path: sub/compose.yaml\n    env_file: [vars/a.env]\nservices:\n  web: {image: x}\n";
    let disk = [("/p/sub/compose.yaml", sub), ("/p/vars/a.env", "TAG=14\n")];
    let (p, asked) = load(long, &disk);
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.services["db"].image.as_ref().map(|i| i.value.as_str()),
        Some("postgres:14")
    );
    assert!(!asked.contains(&"/p/sub/.env".to_string()), "{asked:?}");
    // A named env_file must be there.
    let got = err(long, &[("/p/sub/compose.yaml", sub)]);
    assert!(
        got.contains("include.env_file: `vars/a.env` does not exist"),
        "{got}"
    );
}

#[test]
fn a_name_defined_on_both_sides_is_an_error_naming_both_places() {
    let main = "include: [sub/compose.yaml]\nservices:\n  db:\n    image: mine\n";
    let got = err(main, &[("/p/sub/compose.yaml", SUB)]);
    assert!(got.contains("sub/compose.yaml:2:3"), "{got}");
    assert!(
        got.contains("services.db is defined both here (an included file) and at compose.yaml:3:3"),
        "{got}"
    );
    // Two included projects defining the same volume differently.
    let two = "include: [a/compose.yaml, b/compose.yaml]\nservices:\n  web: {image: x}\n";
    let got = err(
        two,
        &[
            (
                "/p/a/compose.yaml",
                "services:\n  a: {image: x}\nvolumes:\n  data: {}\n",
            ),
            (
                "/p/b/compose.yaml",
                "services:\n  b: {image: x}\nvolumes:\n  data: {name: other}\n",
            ),
        ],
    );
    assert!(got.contains("b/compose.yaml:4:3: volumes.data is defined both here (an included file) and at a/compose.yaml:4:3"), "{got}");
    // Both including one file: the same definition twice is one.
    let shared = "include: [../common/compose.yaml]\nservices:\n  {}: {{image: x}}\n";
    let p = ok(
        two,
        &[
            (
                "/p/a/compose.yaml",
                &shared
                    .replace("{}", "a")
                    .replace("{{", "{")
                    .replace("}}", "}"),
            ),
            (
                "/p/b/compose.yaml",
                &shared
                    .replace("{}", "b")
                    .replace("{{", "{")
                    .replace("}}", "}"),
            ),
            (
                "/p/common/compose.yaml",
                "services:\n  cache: {image: redis}\n",
            ),
        ],
    );
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["a", "b", "cache", "web"]
    );
}

#[test]
fn nested_includes_resolve_against_each_directory_and_cycles_are_refused() {
    let p = ok(
        "include: [a/compose.yaml]\nservices:\n  web: {image: x}\n",
        &[
            (
                "/p/a/compose.yaml",
                "include: [b/compose.yaml]\nservices:\n  a: {image: x, env_file: a.env}\n",
            ),
            (
                "/p/a/b/compose.yaml",
                "services:\n  b: {image: x, env_file: b.env}\n",
            ),
        ],
    );
    assert_eq!(p.services["a"].env_file[0].path, "./a/a.env");
    assert_eq!(p.services["b"].env_file[0].path, "./a/b/b.env");
    let got = err(
        "include: [a/compose.yaml]\nservices:\n  web: {image: x}\n",
        &[
            (
                "/p/a/compose.yaml",
                "include: [../b/compose.yaml]\nservices:\n  a: {image: x}\n",
            ),
            (
                "/p/b/compose.yaml",
                "include: [../a/compose.yaml]\nservices:\n  b: {image: x}\n",
            ),
        ],
    );
    assert!(
        got.contains("include: a cycle: ./a/compose.yaml -> ./b/compose.yaml -> ./a/compose.yaml"),
        "{got}"
    );
}

#[test]
fn includes_nest_only_so_deep() {
    let mut disk: Vec<(String, String)> = Vec::new();
    for i in 0..=MAX_INCLUDE_DEPTH {
        disk.push((
            format!("/p/d{i}.yaml"),
            format!(
                "include: [d{}.yaml]\nservices:\n  s{i}: {{image: x}}\n",
                i + 1
            ),
        ));
    }
    disk.push((
        format!("/p/d{}.yaml", MAX_INCLUDE_DEPTH + 1),
        "services: {}\n".into(),
    ));
    let disk: Vec<(&str, &str)> = disk.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let got = err("include: [d0.yaml]\nservices:\n  web: {image: x}\n", &disk);
    assert!(
        got.contains(&format!(
            "include: nested more than {MAX_INCLUDE_DEPTH} deep"
        )),
        "{got}"
    );
}

#[test]
fn an_included_file_cannot_set_the_project_s_own_settings_or_name_remote_files() {
    let got = err(
        "include: [sub.yaml]\nservices:\n  web: {image: x}\n",
        &[(
            "/p/sub.yaml",
            "services:\n  a: {image: x}\nx-bulkhead:\n  egress: any\n",
        )],
    );
    assert!(
        got.contains("x-bulkhead at the top of an included file"),
        "{got}"
    );
    let got = err(
        "include: [https://example.com/c.yaml]\nservices:\n  web: {image: x}\n",
        &[],
    );
    assert!(got.contains("is a remote resource"), "{got}");
    let got = err("include: sub.yaml\nservices:\n  web: {image: x}\n", &[]);
    assert!(got.contains("include must be a list"), "{got}");
}

#[test]
fn extends_file_takes_a_service_of_another_file_with_its_paths() {
    let base = "services:\n  base:\n    image: app\n    env_file: [base.env]\n    build: ctx\n    labels: {tier: base}\n  chained:\n    extends: base\n    hostname: chained\n";
    let p = ok(
        "services:\n  web:\n    extends: {file: lib/base.yaml, service: chained}\n    env_file: [web.env]\n    labels: {own: '1'}\n",
        &[("/p/lib/base.yaml", base)],
    );
    let web = &p.services["web"];
    assert_eq!(web.hostname.as_deref(), Some("chained"));
    let envs: Vec<&str> = web.env_file.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(envs, ["./lib/base.env", "web.env"]);
    assert_eq!(
        web.build.as_ref().map(|b| b.context.as_str()),
        Some("./lib/ctx")
    );
    assert_eq!(web.labels.get("tier").map(String::as_str), Some("base"));
    assert_eq!(web.labels.get("own").map(String::as_str), Some("1"));
    assert_eq!(p.loaded, ["/p/lib/base.yaml"]);
    let got = err(
        "services:\n  web:\n    extends: {file: lib/base.yaml, service: nothere}\n",
        &[("/p/lib/base.yaml", base)],
    );
    assert!(
        got.contains("extends `nothere`, which is not a service of `lib/base.yaml`"),
        "{got}"
    );
    let got = err(
        "services:\n  web:\n    extends: {file: a.yaml, service: a}\n",
        &[
            (
                "/p/a.yaml",
                "services:\n  a: {extends: {file: b.yaml, service: b}}\n",
            ),
            (
                "/p/b.yaml",
                "services:\n  b: {extends: {file: a.yaml, service: a}}\n",
            ),
        ],
    );
    assert!(got.contains("extends: a cycle"), "{got}");
    let got = err(
        "services:\n  web:\n    extends: {file: gone.yaml, service: a}\n",
        &[],
    );
    assert!(
        got.contains("services.web.extends.file: `gone.yaml` does not exist"),
        "{got}"
    );
}

#[test]
fn label_files_give_labels_and_the_spec_s_labels_win() {
    let p = ok(
        "services:\n  web:\n    image: x\n    label_file: [a.labels, ./b.labels]\n    labels: [team=own]\n",
        &[
            ("/p/a.labels", "# team labels\nteam=a\ntier=web\ncost=1\n"),
            ("/p/b.labels", "cost=2\n"),
        ],
    );
    let labels = &p.services["web"].labels;
    assert_eq!(labels.get("team").map(String::as_str), Some("own"));
    assert_eq!(labels.get("tier").map(String::as_str), Some("web"));
    assert_eq!(
        labels.get("cost").map(String::as_str),
        Some("2"),
        "a later file wins"
    );
    assert_eq!(p.loaded, ["/p/a.labels", "/p/b.labels"]);
    let got = err(
        "services:\n  web:\n    image: x\n    label_file: a.labels\n",
        &[("/p/a.labels", "ok=1\nSECRET VALUE no equals\n")],
    );
    assert!(
        got.contains("a.labels:2:1: services.web.label_file"),
        "{got}"
    );
    assert!(
        !got.contains("SECRET"),
        "the file's bytes are not quoted: {got}"
    );
}

#[test]
fn a_label_file_of_an_included_service_is_relative_to_its_project() {
    let p = ok(
        "include: [sub/compose.yaml]\nservices:\n  web: {image: x}\n",
        &[
            (
                "/p/sub/compose.yaml",
                "services:\n  db: {image: x, label_file: db.labels}\n",
            ),
            ("/p/sub/db.labels", "role=db\n"),
        ],
    );
    assert_eq!(
        p.services["db"].labels.get("role").map(String::as_str),
        Some("db")
    );
}

#[test]
fn a_file_not_given_is_an_error_from_load() {
    let got = super::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: "include: [sub.yaml]\nservices:\n  web: {image: x}\n".into(),
        }],
        project_dir: "/p".into(),
        project_name: Some("p".into()),
        dotenv: None,
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: BTreeMap::new(),
    });
    let got = got.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(got.contains("include: `sub.yaml` was not read"), "{got}");
}

#[test]
fn included_services_may_be_the_whole_project_or_a_base_to_extend() {
    let sub = "name: ignored\nservices:\n  db:\n    image: postgres\n    hostname: db\n";
    let p = ok(
        "include: [sub/compose.yaml]\n",
        &[("/p/sub/compose.yaml", sub)],
    );
    assert_eq!(p.name, "p");
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["db"]);
    let p = ok(
        "include: [sub/compose.yaml]\nservices:\n  replica:\n    extends: db\n    hostname: replica\n",
        &[("/p/sub/compose.yaml", sub)],
    );
    let replica = &p.services["replica"];
    assert_eq!(
        replica.image.as_ref().map(|i| i.value.as_str()),
        Some("postgres")
    );
    assert_eq!(replica.hostname.as_deref(), Some("replica"));
}

#[test]
fn the_including_project_s_dotenv_wins_over_the_included_one() {
    let mut input = LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: "include: [sub/compose.yaml]\n".into(),
        }],
        project_dir: "/p".into(),
        project_name: Some("p".into()),
        dotenv: Some(SourceFile {
            name: ".env".into(),
            text: "TAG=outer\n".into(),
        }),
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: BTreeMap::new(),
    };
    let file = |name: &str, text: &str| {
        Some(SourceFile {
            name: name.into(),
            text: text.into(),
        })
    };
    input.extra.insert(
        "/p/sub/compose.yaml".into(),
        file(
            "sub/compose.yaml",
            "services:\n  db: {image: \"db:${TAG}-${OWN}\"}\n",
        ),
    );
    input
        .extra
        .insert("/p/sub/.env".into(), file("sub/.env", "TAG=inner\nOWN=x\n"));
    let p = super::load(&input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.services["db"].image.as_ref().map(|i| i.value.as_str()),
        Some("db:outer-x"),
        "as in Docker Compose: the included .env only fills what the including side leaves unset"
    );
}
