//! Data-driven tests of the exact text and place of spec errors through `load`: unknown and
//! unsupported keys, wrong shapes and values, references, YAML syntax, interpolation, merging of
//! several files and the project name. The first error's full `to_string()` is compared.

use super::spec_tests::{DIR, Setup, Vars, run, web_file};
use crate::hardening::Rule;

fn first_error(setup: &Setup<'_>) -> String {
    match run(setup) {
        Ok(p) => panic!("expected an error, loaded {:?}", p.services.keys()),
        Err(e) => {
            e.0.first()
                .map(ToString::to_string)
                .expect("at least one error")
        }
    }
}

/// The first error of loading `text` as `compose.yaml`.
fn first_error_of(text: &str) -> String {
    first_error(&Setup {
        files: &[("compose.yaml", text)],
        ..Setup::default()
    })
}

const DID_YOU_MEAN: &str = "(or prefix it with `x-` to keep it as an extension)";

/// Unknown, unsupported and misspelled keys. `{x}` in the expected text is [`DID_YOU_MEAN`].
#[rustfmt::skip]
const UNKNOWN_KEYS: &[(&str, &str)] = &[
    ("services:\n  web:\n    imgae: nginx\n", "compose.yaml:3:5: service `web`: key `imgae` is not supported\n  hint: did you mean `image`? {x}"),
    ("services:\n  web:\n    image: x\n    links: [db]\n", "compose.yaml:4:5: service `web`: key `links` is refused\n  hint: links are legacy Docker networking; services reach the services they may call by name: remove it and declare who may call whom with depends_on or x-bulkhead.allow_from"),
    ("services:\n  web:\n    image: x\n    deploy:\n      placement: {}\n", "compose.yaml:5:7: deploy: key `placement` is refused\n  hint: constraints and preferences choose Swarm nodes, and one engine is one node: use x-bulkhead.tier to choose how a service runs"),
    ("services:\n  web:\n    image: x\n    healthcheck: {tset: [NONE]}\n", "compose.yaml:4:19: healthcheck: key `tset` is not supported\n  hint: did you mean `test`? {x}"),
    ("servces:\n  web: {image: x}\n", "compose.yaml:1:1: top level: key `servces` is not supported\n  hint: did you mean `services`? {x}"),
    ("include: other.yaml\nservices: {web: {image: x}}\n", "compose.yaml:1:10: include must be a list, found a scalar"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      tierr: safe\n", "compose.yaml:5:7: x-bulkhead: key `tierr` is not supported\n  hint: did you mean `tier`?"),
    ("services:\n  web:\n    image: x\n    x-bulkhead: {x-note: 1}\n", "compose.yaml:4:18: x-bulkhead: key `x-note` is not supported\n  hint: supported keys: tier, public, allow_from, egress, autoscale, waivers, settle, share_volumes"),
    ("x-bulkhead:\n  trst: {}\nservices: {web: {image: x}}\n", "compose.yaml:2:3: x-bulkhead (top level): key `trst` is not supported\n  hint: did you mean `trust`?"),
    ("services: {web: {image: x}}\nvolumes:\n  d:\n    driver_opts: {type: none, o: bind, device: /etc}\n", "compose.yaml:4:5: volumes.d: key `driver_opts` is refused\n  hint: not supported: a named volume is a local volume with no options (for host files, use a bind mount inside the project)"),
    ("services:\n  web:\n    image: x\n    volumes: [{type: volume, source: d, target: /d, volume: {subpath: etc}}]\nvolumes: {d: }\n", "compose.yaml:4:62: volumes.volume: key `subpath` is refused\n  hint: not supported: mount the whole volume, or give the data its own volume"),
];

#[test]
fn unknown_and_unsupported_keys() {
    for (text, want) in UNKNOWN_KEYS {
        let want = want.replace("{x}", DID_YOU_MEAN);
        assert_eq!(first_error_of(text), want, "{text}");
    }
}

/// Values of the wrong shape or out of range, in service `web` of [`web_file`]: the body starts
/// on line 4 (after `image: app`) unless it sets the image, at column 5.
#[rustfmt::skip]
const BAD_VALUES: &[(&str, &str)] = &[
    ("ports:\n  http: 80", "compose.yaml:5:7: ports must be a list, found a mapping"),
    ("ports: {http: 80}", "compose.yaml:4:12: ports must be a list, found a mapping"),
    ("ports:\n  - published: 80", "compose.yaml:5:9: a long-syntax port needs `target`"),
    ("ports: ['70000']", "compose.yaml:4:13: ports: `70000`: port 70000 is out of range (1-65535)"),
    ("ports: [{target: 70000}]", "compose.yaml:4:22: ports.target `70000` is out of range"),
    ("environment: A=1", "compose.yaml:4:18: environment must be a mapping or a list of KEY=VALUE, found a scalar"),
    ("deploy:\n  resources:\n    limits:\n      memory: 12ZB", "compose.yaml:7:19: deploy.resources.limits.memory: `12ZB` has an unknown size unit `zb`; use b, k, m, g, t or p"),
    ("mem_limit: 12ZB", "compose.yaml:4:16: mem_limit: `12ZB` has an unknown size unit `zb`; use b, k, m, g, t or p"),
    ("cpus: lots", "compose.yaml:4:11: cpus: `lots` is not a CPU count; write e.g. 0.5 or 2"),
    ("deploy: {replicas: 101}", "compose.yaml:4:24: deploy.replicas 101 is more than 100"),
    ("read_only: maybe", "compose.yaml:4:16: read_only must be true or false, found `maybe`"),
    ("restart: sometimes", "compose.yaml:4:14: restart `sometimes` is unknown; use no, always, on-failure[:N] or unless-stopped"),
    ("restart: on-failure:x", "compose.yaml:4:14: restart: `on-failure:x`: the retry count must be a whole number"),
    ("healthcheck:\n  test: [CURL, x]", "compose.yaml:5:13: healthcheck.test: the list must start with CMD, CMD-SHELL or NONE, found `CURL`"),
    ("healthcheck: {test: []}", "compose.yaml:4:25: healthcheck.test: the list is empty"),
    ("healthcheck: {test: [CMD]}", "compose.yaml:4:25: healthcheck.test: CMD needs a command after it"),
    ("healthcheck: {test: [NONE, x]}", "compose.yaml:4:25: healthcheck.test: NONE takes no arguments"),
    ("healthcheck: {test: [CMD-SHELL, a, b]}", "compose.yaml:4:25: healthcheck.test: CMD-SHELL takes exactly one string"),
    ("healthcheck:\n  test: [CMD, x]\n  disable: true", "compose.yaml:5:7: healthcheck has both `disable: true` and a `test`; keep one"),
    ("healthcheck: {interval: soon}", "compose.yaml:4:29: healthcheck.interval: `soon` is not a duration; write e.g. 30s, 1m30s or 500ms"),
    ("depends_on: {db: {condition: service_ready}}", "compose.yaml:4:34: depends_on.db.condition `service_ready` is unknown; use service_started, service_healthy or service_completed_successfully"),
    ("volumes: ['data:data']", "compose.yaml:4:15: volumes: `data:data`: the container path `data` must be absolute"),
    ("volumes:\n  - target: /x", "compose.yaml:5:9: a long-syntax volume needs `type`"),
    ("tmpfs: ['/cache:size=64q']", "compose.yaml:4:13: service `web`: tmpfs: `/cache:size=64q`: `size=64q`: `64q` has an unknown size unit `q`; use b, k, m, g, t or p"),
    ("tmpfs: ['/cache:mode=888']", "compose.yaml:4:13: service `web`: tmpfs: `/cache:mode=888`: `mode=888`: `888` is not a file mode; write octal digits, at most 7777 (e.g. 1777)"),
    ("tmpfs: /cache:uid=nobody", "compose.yaml:4:12: service `web`: tmpfs: `/cache:uid=nobody`: `uid=nobody`: `nobody` is not a numeric uid"),
    ("tmpfs: ['/cache:noexec,nosiud']", "compose.yaml:4:13: service `web`: tmpfs: `/cache:noexec,nosiud`: unknown tmpfs option `nosiud`; use size=..., mode=..., uid=..., gid=..., nr_inodes=..., nr_blocks=..., or the flags rw, ro, exec, noexec, suid, nosuid, dev, nodev, atime, noatime, diratime, nodiratime, relatime, norelatime, strictatime, nostrictatime, sync, async, dirsync"),
    ("volumes: [{type: tmpfs, target: /x, tmpfs: {mode: 1777}}]", "compose.yaml:4:55: volumes.tmpfs.mode: `1777` is ambiguous (Compose reads it as a decimal number); write it in octal as 0o1777 or 01777"),
    ("volumes: [{type: tmpfs, target: /x, tmpfs: {mode: 0o17777}}]", "compose.yaml:4:55: volumes.tmpfs.mode: `17777` is not a file mode; write octal digits, at most 7777 (e.g. 1777)"),
    ("secrets: [{source: pw, mode: 0999}]", "compose.yaml:4:34: secrets.mode: `0999` is not a file mode; write e.g. 0440"),
    ("secrets: [{source: pw, mode: 01777}]", "compose.yaml:4:34: secrets.mode: mode `01777` is more than 0777"),
    ("ulimits: {nofile: {soft: 2, hard: 1}}", "compose.yaml:4:23: ulimits.nofile: soft limit 2 is above hard limit 1"),
    ("container_name: w\ndeploy: {replicas: 2}", "compose.yaml:4:21: service `web` sets container_name but asks for 2 replicas; names must be unique"),
    ("ports: ['8080:80']\nscale: 2", "compose.yaml:4:13: service `web` publishes host port 8080 but asks for 2 replicas; only one can bind it\n  hint: publish a range (8080-8083:80) or leave the host port out"),
    ("scale: 2\ndeploy: {replicas: 3}", "compose.yaml:4:12: scale: 2 and deploy.replicas: 3 disagree\n  hint: keep one of them (deploy.replicas is the Compose Specification's)"),
    ("image: !custom x", "compose.yaml:3:20: unknown YAML tag `!custom`\n  hint: Compose understands only !reset and !override"),
    ("x-bulkhead: {settle: 500ms}", "compose.yaml:4:26: x-bulkhead.settle must be between 1s and 600s\n  hint: a replica without a health check is ready once it ran this long without a restart"),
    ("x-bulkhead: {settle: soon}", "compose.yaml:4:26: x-bulkhead.settle: `soon` is not a duration; write e.g. 30s, 1m30s or 500ms"),
    ("x-bulkhead: {share_volumes: sometimes}", "compose.yaml:4:33: x-bulkhead.share_volumes must be true or false, found `sometimes`"),
];

/// Two replicas never write one volume, unless the service says its writers coordinate.
#[test]
fn replicas_sharing_a_writable_volume_are_refused_unless_declared() {
    let shared = "services:\n  db:\n    image: x\n    deploy: {replicas: 2}\n    volumes: ['data:/var/lib/db']\nvolumes: {data: }\n";
    assert_eq!(
        first_error_of(shared),
        "compose.yaml:5:15: service `db` asks for 2 replicas but writes volume `data` at /var/lib/db: they would all write it at once\n  hint: keep 1 replica, mount it read-only (`:ro`), or declare `x-bulkhead: { share_volumes: true }` if the application coordinates its writers"
    );
    for ok in [
        shared.replace("/var/lib/db'", "/var/lib/db:ro'"),
        shared.replace(
            "deploy: {replicas: 2}",
            "deploy: {replicas: 2}\n    x-bulkhead: {share_volumes: true}",
        ),
        shared.replace("'data:/var/lib/db'", "'/var/lib/db'"),
        shared.replace("replicas: 2", "replicas: 1"),
    ] {
        let setup = Setup {
            files: &[("compose.yaml", ok.as_str())],
            ..Setup::default()
        };
        assert!(run(&setup).is_ok(), "{ok}");
    }
}

#[test]
fn bad_values_name_key_and_place() {
    for (body, want) in BAD_VALUES {
        assert_eq!(first_error_of(&web_file(body)), *want, "{body}");
    }
}

/// References between services and to top-level resources, and `x-bulkhead` waivers.
#[rustfmt::skip]
const REFERENCES: &[(&str, &str)] = &[
    ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
        "compose.yaml:10:18: depends_on forms a cycle: a -> b -> c -> a"),
    ("services:\n  web:\n    image: x\n    depends_on: [web]\n", "compose.yaml:4:18: depends_on forms a cycle: web -> web"),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n", "compose.yaml:4:18: service `web` depends on `db`, which is not a service of this project\n  hint: services: web"),
    ("services:\n  web:\n    image: x\n    depends_on: [dbg]\n  dbg:\n    image: x\n    profiles: [debug]\n",
        "compose.yaml:4:18: service `web` depends on `dbg`, which is disabled by its profiles\n  hint: services: web"),
    ("services:\n  web:\n    image: x\n    volumes: ['data:/d']\n",
        "compose.yaml:4:15: service `web` mounts volume `data`, which is not declared under the top-level `volumes:`\n  hint: add `volumes: { data: }` at the top level, or write ./data for a directory of the project"),
    ("services:\n  web:\n    image: x\n    secrets: [pw]\n", "compose.yaml:4:15: service `web` uses secret `pw`, which is not declared under the top-level `secrets:`"),
    ("services:\n  web:\n    image: x\n    configs:\n      - source: cfg\n", "compose.yaml:5:9: service `web` uses config `cfg`, which is not declared under the top-level `configs:`"),
    ("services:\n  web:\n    image: x\n    networks: [front]\n", "compose.yaml:4:5: service `web` uses network `front`, which is not declared under the top-level `networks:`"),
    ("services:\n  web:\n    image: x\n    x-bulkhead: {allow_from: [ghost]}\n",
        "compose.yaml:4:31: service `web`: x-bulkhead.allow_from names `ghost`, which is not a service of this project\n  hint: services: web"),
    ("services:\n  a:\n    image: x\n    ports: ['8080:80']\n  b:\n    image: x\n    ports: ['8080:81']\n", "compose.yaml:7:13: host port 8080/tcp is published by both `a` and `b`"),
    ("services:\n  web:\n    user: x\n", "compose.yaml:2:3: service `web` has neither `image` nor `build`\n  hint: add `image: NAME` or `build: ./DIR`"),
    ("services:\n  -web:\n    image: x\n", "compose.yaml:2:3: service name `-web` is not valid: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters"),
    ("services:\n  Web:\n    image: x\n  web:\n    image: x\n",
        "compose.yaml:4:3: services `Web` and `web` differ in case alone: Docker's DNS and image names would not tell them apart\n  hint: rename one of them"),
    ("services:\n  web:\n    image: x\nsecrets:\n  .env:\n    file: ./pw\n", "compose.yaml:5:3: secrets: secret name `.env` is not valid: it must start with a letter or a digit"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      waivers:\n        - rule: non-root\n",
        "compose.yaml:6:11: the waiver for `non-root` has no reason\n  hint: write why the service needs it: { rule: non-root, reason: \"...\" }"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      waivers:\n        - {rule: nope, reason: r}\n", "compose.yaml:6:18: x-bulkhead.waivers: no hardening rule is called `nope`\n  hint: rule ids: {ids}"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      waivers:\n        - {rule: memory-limit, reason: r}\n", "compose.yaml:6:18: rule `memory-limit` cannot be waived"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      tier: safe\n      waivers:\n        - {rule: non-root, reason: r}\n",
        "compose.yaml:7:11: tier `safe` accepts no waivers, found one for `non-root`\n  hint: remove the waiver and meet the rule, or choose tier `cost` or `speed`"),
    ("services:\n  web:\n    image: x\n    x-bulkhead:\n      waivers:\n        - {rule: non-root, reason: a}\n        - {rule: non-root, reason: b}\n",
        "compose.yaml:7:11: a second waiver for rule `non-root`"),
];

#[test]
fn references_and_waivers() {
    let ids = Rule::ids().join(", ");
    assert!(ids.contains("non-root, cap-drop-all"), "{ids}");
    for (text, want) in REFERENCES {
        assert_eq!(first_error_of(text), want.replace("{ids}", &ids), "{text}");
    }
}

/// Whole files that are not valid YAML, or not a Compose file at all.
#[rustfmt::skip]
const DOCUMENTS: &[(&str, &str)] = &[
    ("services:\n  web:\n    image: x\n    image: y\n", "compose.yaml:4:5: duplicate key `image` in the same mapping\n  hint: remove one of them; YAML mappings cannot repeat a key"),
    ("services:\n  web:\n    image: [x\n", "compose.yaml:4:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"),
    ("services:\n\tweb:\n    image: x\n", "compose.yaml:2:2: invalid YAML: tabs disallowed within this context (block indentation)"),
    ("services:\n  web:\n    image: x\n   user: y\n", "compose.yaml:4:8: invalid YAML: while parsing a block mapping, did not find expected key"),
    ("services:\n  web:\n    image: *nope\n", "compose.yaml:3:12: invalid YAML: while parsing node, found unknown anchor"),
    ("services: {web: {image: x}}\n---\nservices: {}\n", "compose.yaml:2:1: a second YAML document (`---`) in one file is not supported\n  hint: put each Compose file in its own file and pass each with -f"),
    ("", "compose.yaml:1:1: the file is empty; a Compose file needs at least `services:`"),
    ("# nothing yet\n", "compose.yaml:1:1: the file is empty; a Compose file needs at least `services:`"),
    ("- web\n- db\n", "compose.yaml:1:1: a Compose file must be a mapping at the top, found a list"),
    ("just text\n", "compose.yaml:1:1: a Compose file must be a mapping at the top, found a scalar"),
    ("name: shop\nnetworks: {}\n", "compose.yaml:1:1: the project has no `services:`"),
    ("services: [web]\n", "compose.yaml:1:11: services must be a mapping, found a list"),
];

#[test]
fn documents_that_are_not_compose_files() {
    for (text, want) in DOCUMENTS {
        assert_eq!(first_error_of(text), *want, "{text:?}");
    }
}

/// Interpolation errors: the expression as the value of `image`, the environment, the error.
#[rustfmt::skip]
const INTERPOLATION: &[(&str, Vars, &str)] = &[
    ("${X:?need X}", &[], "compose.yaml:3:12: required variable X is missing a value: need X"),
    ("\"${X?need X}\"", &[], "compose.yaml:3:12: required variable X is missing a value: need X"),
    ("${E:?must not be empty}", &[("E", "")], "compose.yaml:3:12: required variable E is missing a value: must not be empty"),
    ("app:${X:?set ${WHAT:-the tag}}", &[], "compose.yaml:3:12: required variable X is missing a value: set the tag"),
    ("${X", &[], "compose.yaml:3:12: invalid interpolation format at byte 0: unterminated `${`: missing `}`; escape a literal dollar sign as $$"),
    ("'price: 5$'", &[], "compose.yaml:3:12: invalid interpolation format at byte 8: `$` at the end of the text; escape a literal dollar sign as $$"),
];

#[test]
fn interpolation_errors() {
    for (expr, env, want) in INTERPOLATION {
        let file = format!("services:\n  web:\n    image: {expr}\n");
        let got = first_error(&Setup {
            files: &[("compose.yaml", &file)],
            env,
            ..Setup::default()
        });
        assert_eq!(got, *want, "{expr}");
    }
}

/// Several files: the error points into the file that wrote the offending value.
#[rustfmt::skip]
const MERGED: &[(&str, &str, &str)] = &[
    ("services:\n  web:\n    image: a\n", "services:\n  web:\n    imgae: b\n", "b.yaml:3:5: service `web`: key `imgae` is not supported\n  hint: did you mean `image`? {x}"),
    ("services:\n  web:\n    image: a\n    ports: ['70000']\n", "services:\n  web:\n    image: b\n", "a.yaml:4:13: ports: `70000`: port 70000 is out of range (1-65535)"),
    ("services:\n  web:\n    image: a\n    healthcheck: {interval: soon}\n", "services:\n  web:\n    healthcheck: {retries: 3}\n", "a.yaml:4:29: healthcheck.interval: `soon` is not a duration; write e.g. 30s, 1m30s or 500ms"),
    ("services:\n  web:\n    image: a\n", "services:\n  web:\n    user: ${U:?who}\n", "b.yaml:3:11: required variable U is missing a value: who"),
    ("services:\n  web:\n    image: a\n", "services:\n  web:\n    depends_on: [db]\n", "b.yaml:3:18: service `web` depends on `db`, which is not a service of this project\n  hint: services: web"),
    ("services:\n  web:\n    image: a\n", "services:\n  web:\n    image: [b\n", "b.yaml:4:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"),
    ("services:\n  web:\n    image: a\n", "", "b.yaml:1:1: the file is empty; a Compose file needs at least `services:`"),
    ("services:\n  web:\n    image: a\n", "services:\n  web:\n    image: !rest b\n", "b.yaml:3:18: unknown YAML tag `!rest`\n  hint: Compose understands only !reset and !override"),
];

#[test]
fn merged_files_blame_the_right_file() {
    for (a, b, want) in MERGED {
        let got = first_error(&Setup {
            files: &[("a.yaml", a), ("b.yaml", b)],
            ..Setup::default()
        });
        assert_eq!(got, want.replace("{x}", DID_YOU_MEAN), "{a} + {b}");
    }
}

#[test]
fn inputs_outside_the_compose_files() {
    let file = "services:\n  web:\n    image: x\n";
    let cases: [(Setup<'_>, &str); 3] = [
        (Setup::default(), "/srv/Shop App: no Compose file given"),
        (
            Setup {
                files: &[("compose.yaml", file)],
                dotenv: Some("A=1\nBROKEN\n"),
                ..Setup::default()
            },
            ".env:2:1: expected NAME=value (no `=` on the line)",
        ),
        (
            Setup {
                files: &[("compose.yaml", file)],
                dotenv: Some("A=\"open\n"),
                ..Setup::default()
            },
            ".env:1:1: unterminated double-quoted value",
        ),
    ];
    for (setup, want) in cases {
        assert_eq!(first_error(&setup), want, "{:?}", setup.dotenv);
    }
}

const BAD_NAME: &str =
    "is not valid: use lowercase letters, digits, `_` and `-`, starting with a letter or digit";

type Name = Result<&'static str, &'static str>;
type NameRow = (
    Option<&'static str>,
    Vars,
    Option<&'static str>,
    &'static str,
    &'static str,
    Name,
);

/// `-p` > COMPOSE_PROJECT_NAME (environment, then `.env`) > `name:` > the directory's name:
/// the name, or the first error with `{}` for [`BAD_NAME`].
#[rustfmt::skip]
const PROJECT_NAMES: &[NameRow] = &[
    (Some("cli"), &[("COMPOSE_PROJECT_NAME", "env")], None, "name: top\n", DIR, Ok("cli")),
    (None, &[("COMPOSE_PROJECT_NAME", "env")], Some("COMPOSE_PROJECT_NAME=dot\n"), "name: top\n", DIR, Ok("env")),
    (None, &[], Some("COMPOSE_PROJECT_NAME=dot\n"), "name: top\n", DIR, Ok("dot")),
    (None, &[("COMPOSE_PROJECT_NAME", "")], None, "name: top\n", DIR, Ok("top")),
    (None, &[], None, "name: ${STACK:-stack_1}\n", DIR, Ok("stack_1")),
    (None, &[], None, "", DIR, Ok("shopapp")),
    (None, &[], None, "", "/srv/__My.Proj-1/", Ok("myproj-1")),
    (Some("Bad"), &[], None, "", DIR, Err("-p: project name `Bad` {}")),
    (None, &[("COMPOSE_PROJECT_NAME", "has space")], None, "", DIR, Err("COMPOSE_PROJECT_NAME: project name `has space` {}")),
    (None, &[], None, "name: -x\n", DIR, Err("compose.yaml:1:7: project name `-x` {}")),
    (None, &[], None, "", "/srv/___", Err("/srv/___: cannot derive a project name from the directory name\n  hint: set one with -p NAME or a top-level `name:`")),
];

#[test]
fn project_name_precedence_and_validation() {
    for (cli, env, dotenv, top, dir, want) in PROJECT_NAMES {
        let file = format!("{top}services:\n  web:\n    image: app\n");
        let got = run(&Setup {
            files: &[("compose.yaml", &file)],
            project_name: *cli,
            env,
            dotenv: *dotenv,
            dir,
            ..Setup::default()
        });
        let got = got
            .map(|p| p.name)
            .map_err(|e| e.0.first().map(ToString::to_string).unwrap_or_default());
        let want = want
            .map(str::to_string)
            .map_err(|e| e.replace("{}", BAD_NAME));
        assert_eq!(got, want, "{cli:?} {env:?} {top} {dir}");
    }
}
