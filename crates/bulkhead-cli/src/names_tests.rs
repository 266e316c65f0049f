//! One rule per kind of name: a table of names, and the same answer for each from the spec
//! loader, the API's route parser and the CLI's own parsing; and a service named `Web` taken
//! by all three, through `logs`, `scale`, `rollback` and `releases`.

use std::collections::HashMap;

use bulkhead_app::api::Command;
use bulkhead_app::server::routes::{Parts, ROUTES};
use bulkhead_core::auth::Action;
use bulkhead_core::spec::{LoadInput, Project, SourceFile, SpecErrors};

/// `(name, accepted)` per kind.
const SERVICES: &[(&str, bool)] = &[
    ("web", true),
    ("Web", true),
    ("API_v2.internal-1", true),
    ("1st", true),
    ("123", false),
    ("-web", false),
    (".web", false),
    ("we b", false),
    ("wéb", false),
    ("a:b", false),
];

const PROJECTS: &[(&str, bool)] = &[
    ("shop", true),
    ("shop_2-b", true),
    ("0", true),
    ("Shop", false),
    ("-shop", false),
    ("sh.op", false),
    ("sh op", false),
];

const SECRETS: &[(&str, bool)] = &[
    ("db", true),
    ("DB_PASSWORD", true),
    ("tls.key", true),
    (".env", false),
    ("a..b", false),
    ("-x", false),
    ("a:b", false),
];

const USERS: &[(&str, bool)] = &[
    ("alice", true),
    ("ci.bot_2", true),
    ("Alice", false),
    ("local", false),
    ("system", false),
    ("-x", false),
];

const TOKEN_NAMES: &[(&str, bool)] = &[
    ("laptop", true),
    ("ci deploys (prod)", true),
    ("   ", false),
    ("a\tb", false),
];

fn spec(text: &str, project: Option<&str>) -> Result<Project, SpecErrors> {
    bulkhead_core::spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text: text.into(),
        }],
        project_dir: "/srv/shop".into(),
        project_name: project.map(str::to_string),
        dotenv: None,
        env: Default::default(),
        profiles: Vec::new(),
        extra: Default::default(),
    })
}

/// The route of `action` parsing `path` parameters, `query` and `body`.
fn parse(
    action: Action,
    path: &[(&str, &str)],
    query: &[(&str, &str)],
    body: &str,
) -> Result<Command, String> {
    let route = ROUTES
        .iter()
        .find(|r| r.action == action)
        .unwrap_or_else(|| panic!("no route for {}", action.name()));
    let map = |kv: &[(&str, &str)]| -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (path, query) = (map(path), map(query));
    (route.parse)(&Parts {
        path: &path,
        query: &query,
        body: body.as_bytes(),
    })
    .map_err(|e| e.message)
}

#[test]
fn service_names_get_one_answer_from_spec_api_and_cli() {
    for (name, accepted) in SERVICES {
        let yaml = format!("services:\n  {name:?}:\n    image: app\n");
        let from_spec = spec(&yaml, None).is_ok();
        let project = [("project", "shop"), ("service", *name)];
        let from_api = [
            parse(Action::ServiceLogs, &project, &[], ""),
            parse(Action::ServiceScale, &project, &[], r#"{"replicas": 2}"#),
            parse(Action::ServiceRollback, &project, &[], ""),
            parse(Action::ReleaseList, &project, &[], ""),
        ];
        let from_cli = crate::deploy::service_of(name).is_ok();
        assert_eq!(from_spec, *accepted, "spec: {name:?}");
        assert_eq!(from_cli, *accepted, "cli: {name:?}");
        for reply in from_api {
            assert_eq!(reply.is_ok(), *accepted, "api: {name:?}: {reply:?}");
        }
    }
}

#[test]
fn project_names_get_one_answer_from_spec_api_and_cli() {
    for (name, accepted) in PROJECTS {
        let by_flag = spec("services:\n  web:\n    image: app\n", Some(name)).is_ok();
        let by_key = spec(
            &format!("name: {name:?}\nservices:\n  web:\n    image: app\n"),
            None,
        )
        .is_ok();
        let from_api = parse(Action::ProjectGet, &[("project", name)], &[], "").is_ok();
        let from_cli = crate::deploy::project_of(name).is_ok();
        assert_eq!(
            [by_flag, by_key, from_api, from_cli],
            [*accepted; 4],
            "{name:?}"
        );
    }
}

#[test]
fn secret_names_get_one_answer_from_spec_api_and_cli() {
    for (name, accepted) in SECRETS {
        let yaml = format!(
            "services:\n  web:\n    image: app\n    secrets: [{name:?}]\nsecrets:\n  {name:?}: {{external: true}}\n"
        );
        let from_spec = spec(&yaml, None).is_ok();
        let from_api = parse(
            Action::SecretVersions,
            &[("project", "shop"), ("name", name)],
            &[],
            "",
        )
        .is_ok();
        let from_cli = crate::secrets::secret_of(&format!("shop/{name}")).is_ok();
        assert_eq!([from_spec, from_api, from_cli], [*accepted; 3], "{name:?}");
    }
}

#[test]
fn account_and_token_names_get_one_answer_from_api_and_cli() {
    for (name, accepted) in USERS {
        let body = serde_json::json!({ "name": name }).to_string();
        let add = parse(Action::UserAdd, &[], &[], &body).is_ok();
        let tokens = parse(Action::TokenList, &[("user", name)], &[], "").is_ok();
        let from_cli = crate::accounts::user_of(name).is_ok();
        assert_eq!([add, tokens, from_cli], [*accepted; 3], "{name:?}");
    }
    for (name, accepted) in TOKEN_NAMES {
        let body = serde_json::json!({ "name": name }).to_string();
        let from_api = parse(Action::TokenCreate, &[("user", "alice")], &[], &body).is_ok();
        let from_cli = crate::accounts::token_name_of(name).is_ok();
        assert_eq!([from_api, from_cli], [*accepted; 2], "{name:?}");
    }
}

/// A service named `Web` is deployable by the spec, and `logs`, `scale`, `rollback` and
/// `releases` name it as written, on the API and on the command line.
#[test]
fn a_service_named_web_goes_from_the_spec_through_logs_scale_and_rollback() {
    let project = spec("services:\n  Web:\n    image: app\n", Some("shop"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let name = project.services.keys().next().cloned().unwrap_or_default();
    assert_eq!(name, "Web");
    let at = [("project", "shop"), ("service", name.as_str())];
    let web = |c: &Command| match c {
        Command::ServiceLogs { service, .. }
        | Command::ServiceScale { service, .. }
        | Command::ServiceRollback { service, .. }
        | Command::ReleaseList { service, .. } => service.as_str() == "Web",
        _ => false,
    };
    for (action, body) in [
        (Action::ServiceLogs, ""),
        (Action::ServiceScale, r#"{"replicas": 3}"#),
        (Action::ServiceRollback, r#"{"to": 1}"#),
        (Action::ReleaseList, ""),
    ] {
        let command = parse(action, &at, &[], body).unwrap_or_else(|e| panic!("{e}"));
        assert!(web(&command), "{}: {command:?}", action.name());
        assert_eq!(command.audit_resource(), "projects/shop/services/Web");
    }
    let cli = crate::deploy::service_of(&name).map(|s| s.to_string());
    assert_eq!(cli.ok().as_deref(), Some("Web"));
}
