//! The authorization matrix, written out as data and independent of the grant table: every
//! action × every role × (own, other, global), deny by default. An action without a row fails.
//! Then the cases the matrix cannot show: scopes other than the usual ones, service accounts,
//! the refusal sentences, and the waiver refusal.

use std::collections::BTreeSet;

use super::*;
use crate::hardening::Rule;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The caller in every matrix cell; the other user is `bob`.
const ME: &str = "alice";
/// Developers and viewers are bound to `shop`; the other project is `blog`.
const OWN: &str = "shop";
const OTHER: &str = "blog";

/// The columns: each role with its usual binding (admin, operator and auditor to all
/// projects; developer and viewer to `shop`), then a user with no binding at all.
const COLUMNS: [(&str, Option<(Role, bool)>); 6] = [
    ("admin", Some((Role::Admin, true))),
    ("operator", Some((Role::Operator, true))),
    ("developer", Some((Role::Developer, false))),
    ("viewer", Some((Role::Viewer, false))),
    ("auditor", Some((Role::Auditor, true))),
    ("nobody", None),
];

/// Each cell is three marks, for the resources (own, other, global): `A` allowed, `.` denied.
/// Project and global actions: own = project shop, other = project blog, global = the
/// platform. User actions: own = the caller's own account, other = user bob, global = the
/// platform. A resource of the wrong kind is always denied.
#[rustfmt::skip]
const MATRIX: &[(Action, [&str; 6])] = &[
    //                           admin  operator developer viewer auditor nobody
    (Action::ProjectList,       ["..A", "..A",   "..A",    "..A", "...",  "..."]),
    (Action::ProjectGet,        ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::ProjectUp,         ["AA.", "AA.",   "A..",    "...", "...",  "..."]),
    (Action::ProjectPlan,       ["AA.", "AA.",   "A..",    "...", "...",  "..."]),
    (Action::ProjectDown,       ["AA.", "AA.",   "A..",    "...", "...",  "..."]),
    (Action::ServiceList,       ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::ServiceScale,      ["AA.", "AA.",   "A..",    "...", "...",  "..."]),
    (Action::ServiceRollback,   ["AA.", "AA.",   "A..",    "...", "...",  "..."]),
    (Action::ServiceLogs,       ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::ReleaseList,       ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::SecretSet,         ["AA.", "...",   "A..",    "...", "...",  "..."]),
    (Action::SecretList,        ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::SecretVersions,    ["AA.", "AA.",   "A..",    "A..", "...",  "..."]),
    (Action::SecretRemove,      ["AA.", "...",   "A..",    "...", "...",  "..."]),
    (Action::KeyRotate,         ["..A", "...",   "...",    "...", "...",  "..."]),
    (Action::ServerStatus,      ["..A", "..A",   "...",    "...", "..A",  "..."]),
    (Action::WaiverGrant,       ["AA.", "...",   "...",    "...", "...",  "..."]),
    (Action::FindingsRead,      ["AA.", "AA.",   "A..",    "A..", "AA.",  "..."]),
    (Action::AuditRead,         ["..A", "...",   "...",    "...", "..A",  "..."]),
    (Action::AuditExport,       ["..A", "...",   "...",    "...", "..A",  "..."]),
    (Action::UserList,          ["..A", "...",   "...",    "...", "...",  "..."]),
    (Action::UserAdd,           ["AA.", "...",   "...",    "...", "...",  "..."]),
    (Action::UserRemove,        ["AA.", "...",   "...",    "...", "...",  "..."]),
    (Action::TokenCreate,       ["AA.", "A..",   "A..",    "A..", "A..",  "A.."]),
    (Action::TokenList,         ["AA.", "A..",   "A..",    "A..", "A..",  "A.."]),
    (Action::TokenRevoke,       ["AA.", "A..",   "A..",    "A..", "A..",  "A.."]),
    (Action::BindingList,       ["AA.", "A..",   "A..",    "A..", "A..",  "A.."]),
    (Action::BindingBind,       ["AA.", "...",   "...",    "...", "...",  "..."]),
    (Action::BindingUnbind,     ["AA.", "...",   "...",    "...", "...",  "..."]),
];

fn name(text: &str) -> UserName {
    UserName::new(text).unwrap_or_else(|e| panic!("{e}"))
}

fn project(text: &str) -> ProjectName {
    ProjectName::new(text).unwrap_or_else(|e| panic!("{e}"))
}

fn binding(user: &str, role: Role, scope: Scope) -> Binding {
    Binding {
        user: name(user),
        role,
        scope,
    }
}

fn subject(user: &str, kind: SubjectKind, bindings: &[(Role, Scope)]) -> Subject {
    let bindings = bindings
        .iter()
        .map(|(role, scope)| binding(user, *role, scope.clone()))
        .collect();
    Subject::new(name(user), kind, bindings).unwrap_or_else(|e| panic!("{e}"))
}

fn column_subject(column: Option<(Role, bool)>) -> Subject {
    let bindings: Vec<(Role, Scope)> = column
        .map(|(role, all)| {
            let scope = if all {
                Scope::All
            } else {
                Scope::Project(project(OWN))
            };
            (role, scope)
        })
        .into_iter()
        .collect();
    subject(ME, SubjectKind::User, &bindings)
}

/// (own, other, global) for the action's kind.
fn resources(action: Action) -> [Resource; 3] {
    match action.resource_kind() {
        ResourceKind::User => [
            Resource::User(name(ME)),
            Resource::User(name("bob")),
            Resource::Global,
        ],
        ResourceKind::Project | ResourceKind::Global => [
            Resource::Project(project(OWN)),
            Resource::Project(project(OTHER)),
            Resource::Global,
        ],
    }
}

#[test]
fn every_action_has_exactly_one_matrix_row() {
    let rows: Vec<Action> = MATRIX.iter().map(|(action, _)| *action).collect();
    let unique: BTreeSet<Action> = rows.iter().copied().collect();
    assert_eq!(unique.len(), rows.len(), "an action has two matrix rows");
    for action in Action::ALL {
        assert!(
            rows.contains(action),
            "`{action}` has no row in the authorization matrix: decide who may do it and add one"
        );
    }
}

#[test]
fn the_authorization_matrix_holds() {
    let mut wrong = Vec::new();
    for (action, cells) in MATRIX {
        for ((label, column), cell) in COLUMNS.iter().zip(cells) {
            let who = column_subject(*column);
            for (resource, mark) in resources(*action).iter().zip(cell.chars()) {
                let decision = authorize(&who, *action, resource);
                let expected = mark == 'A';
                if decision.is_allow() != expected {
                    wrong.push(format!(
                        "{action} by {label} on {resource}: expected {}, got {decision:?}",
                        if expected { "allow" } else { "deny" }
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_denial_says_why_in_one_sentence() {
    for (action, _) in MATRIX {
        for (_, column) in COLUMNS {
            let who = column_subject(column);
            for resource in resources(*action) {
                if let Decision::Deny { reason } = authorize(&who, *action, &resource) {
                    assert!(reason.starts_with("user alice may not"), "{reason}");
                    assert!(reason.contains(action.name()), "{reason}");
                    assert!(!reason.contains('\n'), "{reason}");
                }
            }
        }
    }
}

#[test]
fn an_allow_names_the_binding_that_granted_it() {
    let dev = subject(
        ME,
        SubjectKind::User,
        &[
            (Role::Viewer, Scope::Project(project("blog"))),
            (Role::Developer, Scope::Project(project("shop"))),
        ],
    );
    let shop = Resource::Project(project("shop"));
    assert_eq!(
        authorize(&dev, Action::ServiceScale, &shop),
        Decision::Allow {
            via: Via::Binding(binding(
                ME,
                Role::Developer,
                Scope::Project(project("shop"))
            ))
        }
    );
    let own = Resource::User(name(ME));
    assert_eq!(
        authorize(&dev, Action::TokenList, &own),
        Decision::Allow {
            via: Via::OwnAccount
        }
    );
}

#[test]
fn a_binding_covers_its_scope_only() {
    let operator = subject(
        ME,
        SubjectKind::User,
        &[(Role::Operator, Scope::Project(project("shop")))],
    );
    let shop = Resource::Project(project("shop"));
    let blog = Resource::Project(project("blog"));
    assert!(authorize(&operator, Action::ProjectUp, &shop).is_allow());
    assert!(!authorize(&operator, Action::ProjectUp, &blog).is_allow());
    // A listing is granted by a project binding (the server filters it per project).
    assert!(authorize(&operator, Action::ProjectList, &Resource::Global).is_allow());

    // An admin of one project grants waivers there, and manages nobody.
    let project_admin = subject(
        ME,
        SubjectKind::User,
        &[(Role::Admin, Scope::Project(project("shop")))],
    );
    assert!(authorize(&project_admin, Action::WaiverGrant, &shop).is_allow());
    assert!(!authorize(&project_admin, Action::WaiverGrant, &blog).is_allow());
    for action in [Action::UserAdd, Action::BindingBind, Action::TokenRevoke] {
        assert!(!authorize(&project_admin, action, &Resource::User(name("bob"))).is_allow());
    }
    assert!(!authorize(&project_admin, Action::UserList, &Resource::Global).is_allow());
    assert!(!authorize(&project_admin, Action::AuditRead, &Resource::Global).is_allow());

    // An auditor of one project reads its findings, not the (global) audit log.
    let auditor = subject(
        ME,
        SubjectKind::User,
        &[(Role::Auditor, Scope::Project(project("shop")))],
    );
    assert!(authorize(&auditor, Action::FindingsRead, &shop).is_allow());
    assert!(!authorize(&auditor, Action::FindingsRead, &blog).is_allow());
    assert!(!authorize(&auditor, Action::AuditRead, &Resource::Global).is_allow());
}

#[test]
fn a_service_account_cannot_mint_its_own_tokens() {
    let ci = subject(
        "ci",
        SubjectKind::ServiceAccount,
        &[(Role::Developer, Scope::Project(project("shop")))],
    );
    let own = Resource::User(name("ci"));
    let decision = authorize(&ci, Action::TokenCreate, &own);
    let Decision::Deny { reason } = decision else {
        panic!("a service account created its own token: {decision:?}");
    };
    assert!(reason.contains("an admin creates its tokens"), "{reason}");
    assert!(reason.starts_with("service-account ci may not"), "{reason}");
    for action in [Action::TokenList, Action::TokenRevoke, Action::BindingList] {
        assert!(authorize(&ci, action, &own).is_allow(), "{action}");
    }
    assert!(authorize(&ci, Action::ProjectUp, &Resource::Project(project("shop"))).is_allow());
}

#[test]
fn refusals_read_as_sentences() {
    let viewer = subject(
        ME,
        SubjectKind::User,
        &[(Role::Viewer, Scope::Project(project("shop")))],
    );
    let shop = Resource::Project(project("shop"));
    let cases = [
        (
            Action::ServiceScale,
            shop.clone(),
            "user alice may not `service.scale` in project shop: that needs the roles admin, operator or developer for project shop or all projects; alice has viewer in project shop",
        ),
        (
            Action::AuditRead,
            Resource::Global,
            "user alice may not `audit.read`: that needs the roles admin or auditor for all projects; alice has viewer in project shop",
        ),
        (
            Action::TokenList,
            Resource::User(name("bob")),
            "user alice may not `token.list` for user bob: that needs the role admin for all projects (anyone may do it for their own account); alice has viewer in project shop",
        ),
        (
            Action::ServiceScale,
            Resource::User(name("bob")),
            "user alice may not `service.scale` on user bob: `service.scale` acts on a project",
        ),
    ];
    for (action, resource, expected) in cases {
        assert_eq!(
            authorize(&viewer, action, &resource),
            Decision::Deny {
                reason: expected.to_owned()
            }
        );
    }
    let nobody = subject(ME, SubjectKind::User, &[]);
    assert_eq!(
        authorize(&nobody, Action::ProjectList, &Resource::Global),
        Decision::Deny {
            reason: "user alice may not `project.list`: that needs the roles admin, operator, developer or viewer (for any project); alice has no role bindings".to_owned()
        }
    );
}

#[test]
fn a_deploy_needing_waivers_is_refused_with_who_can_grant_them() {
    let dev = subject(
        "dev",
        SubjectKind::User,
        &[(Role::Developer, Scope::Project(project("shop")))],
    );
    let shop = project("shop");
    assert_eq!(authorize_waivers(&dev, &shop, &[], &[]), None);

    let granters = [name("alice"), name("root2")];
    let refused = authorize_waivers(&dev, &shop, &[Rule::NonRoot, Rule::NoPrivileged], &granters);
    assert_eq!(
        refused,
        Some(Decision::Deny {
            reason: "project shop needs waivers for rules `non-root`, `no-privileged`, and user dev may not grant waivers: only an admin can grant them — ask an admin (alice, root2) to deploy it, or meet the rules and remove the waivers".to_owned()
        })
    );

    let none = authorize_waivers(&dev, &shop, &[Rule::NonRoot], &[]);
    let Some(Decision::Deny { reason }) = none else {
        panic!("allowed: {none:?}");
    };
    assert!(reason.contains("rule `non-root`,"), "{reason}");
    assert!(
        reason.contains("no account is an admin for project shop yet"),
        "{reason}"
    );
    assert!(
        reason.contains("bulkhead user add NAME --role admin"),
        "{reason}"
    );

    let many: Vec<UserName> = (0..8).map(|i| name(&format!("admin{i}"))).collect();
    let crowd = authorize_waivers(&dev, &shop, &[Rule::NonRoot], &many);
    let Some(Decision::Deny { reason }) = crowd else {
        panic!("allowed: {crowd:?}");
    };
    assert!(
        reason.contains("(admin0, admin1, admin2, admin3, admin4 and 3 more)"),
        "{reason}"
    );

    let admin = subject("alice", SubjectKind::User, &[(Role::Admin, Scope::All)]);
    assert_eq!(
        authorize_waivers(&admin, &shop, &[Rule::NonRoot], &granters),
        Some(Decision::Allow {
            via: Via::Binding(binding("alice", Role::Admin, Scope::All))
        })
    );
}

#[test]
fn reactivating_a_waived_release_is_refused_with_who_can_do_it() {
    let dev = subject(
        "dev",
        SubjectKind::User,
        &[(Role::Developer, Scope::Project(project("shop")))],
    );
    let shop = project("shop");
    let granters = [name("alice")];
    let uses = [
        (
            WaiverUse::Rollback {
                service: "web",
                release: 1,
            },
            "rolling back activates them again — ask an admin (alice) to roll it back, or roll back to a release without waivers",
        ),
        (
            WaiverUse::Scale {
                service: "web",
                release: 1,
            },
            "scaling creates containers with them — ask an admin (alice) to scale it, or deploy a release without waivers",
        ),
        (
            WaiverUse::Recreate {
                service: "web",
                release: 1,
            },
            "user dev, who activated it, may no longer grant waivers",
        ),
    ];
    for (what, expected) in uses {
        let decision = authorize_waiver_use(&dev, &shop, &["cap-add"], &granters, what);
        let Some(Decision::Deny { reason }) = decision else {
            panic!("allowed: {decision:?}");
        };
        assert!(
            reason.starts_with(
                "release 1 of service `web` in project shop carries waivers for rule `cap-add`"
            ),
            "{reason}"
        );
        assert!(reason.contains(expected), "{reason}");
    }
    // An id this version does not know is still a waiver; none at all needs nothing.
    let unknown = authorize_waiver_use(
        &dev,
        &shop,
        &["from-the-future"],
        &granters,
        WaiverUse::Deploy,
    );
    assert!(
        matches!(unknown, Some(Decision::Deny { .. })),
        "{unknown:?}"
    );
    assert_eq!(
        authorize_waiver_use(&dev, &shop, &[], &granters, WaiverUse::Deploy),
        None
    );
    let admin = subject("alice", SubjectKind::User, &[(Role::Admin, Scope::All)]);
    let allowed = authorize_waiver_use(
        &admin,
        &shop,
        &["cap-add"],
        &granters,
        WaiverUse::Scale {
            service: "web",
            release: 1,
        },
    );
    assert!(allowed.is_some_and(|d| d.is_allow()));
}

#[test]
fn waiver_granters_are_the_admins_covering_the_project() {
    let bindings = [
        binding("zed", Role::Admin, Scope::All),
        binding("amy", Role::Admin, Scope::Project(project("shop"))),
        binding("bo", Role::Admin, Scope::Project(project("blog"))),
        binding("cy", Role::Operator, Scope::All),
        binding("zed", Role::Admin, Scope::Project(project("shop"))),
    ];
    assert_eq!(
        waiver_granters(&bindings, &project("shop")),
        [name("amy"), name("zed")]
    );
    assert_eq!(
        waiver_granters(&bindings, &project("blog")),
        [name("bo"), name("zed")]
    );
}

#[test]
fn decisions_serialize_for_the_audit_log() -> TestResult {
    let allow = Decision::Allow {
        via: Via::Binding(binding("alice", Role::Admin, Scope::All)),
    };
    assert_eq!(
        serde_json::to_string(&allow)?,
        r#"{"allow":{"via":{"binding":{"user":"alice","role":"admin","scope":"all"}}}}"#
    );
    let own = Decision::Allow {
        via: Via::OwnAccount,
    };
    assert_eq!(
        serde_json::to_string(&own)?,
        r#"{"allow":{"via":"own_account"}}"#
    );
    Ok(())
}
