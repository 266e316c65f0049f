//! The proposal for images shaped like the test images (redis, postgres, nginx) and hostile
//! ones, from facts as the engine reported them.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::hardening::userdb::{ImageFile, ImageUserFiles};
use crate::imagefit::render_override;
use crate::spec::{self, LoadInput, SourceFile};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nredis:x:999:999::/var/lib/redis:/usr/sbin/nologin\nnginx:x:101:101:nginx user:/nonexistent:/bin/false\n";

fn db() -> UserDb {
    UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Regular(PASSWD.as_bytes().to_vec()),
        group: ImageFile::Regular(b"root:x:0:\nredis:x:999:\nnginx:x:101:\n".to_vec()),
    })
}

fn service(body: &str) -> Service {
    let text = format!("services:\n  svc:\n    image: example/svc:1\n{body}");
    let project = spec::load(&LoadInput {
        files: vec![SourceFile {
            name: "compose.yaml".into(),
            text,
        }],
        project_dir: "/p".into(),
        project_name: Some("p".into()),
        dotenv: None,
        env: BTreeMap::new(),
        profiles: Vec::new(),
        extra: Default::default(),
    })
    .unwrap_or_else(|e| panic!("{body}: {e}"));
    project.services["svc"].clone()
}

fn dir(path: &str, mode: u32, uid: u32) -> (String, Option<PathFact>) {
    (
        path.to_string(),
        Some(PathFact {
            resolved: path.to_string(),
            dir: true,
            mode,
            uid,
            gid: uid,
        }),
    )
}

fn redis() -> (ImageConfig, PathFacts) {
    let config = ImageConfig {
        volumes: vec!["/data".into()],
        working_dir: "/data".into(),
        entrypoint: vec!["docker-entrypoint.sh".into()],
        cmd: vec!["redis-server".into()],
        ..ImageConfig::default()
    };
    let facts = BTreeMap::from([
        dir("/data", 0o755, 999),
        dir("/run", 0o755, 0),
        dir("/tmp", 0o1777, 0),
        dir("/var/log/redis", 0o2750, 999),
        (
            "/var/run".into(),
            Some(PathFact {
                resolved: "/run".into(),
                dir: true,
                mode: 0o755,
                uid: 0,
                gid: 0,
            }),
        ),
    ]);
    (config, facts)
}

#[test]
fn redis_runs_as_the_owner_of_its_data_volume_never_a_made_up_uid() {
    let (config, facts) = redis();
    for body in [
        "",
        "    user: \"10001:10001\"\n",
        "    user: root\n",
        "    user: toor\n",
    ] {
        let p = propose(&service(body), &config, &db(), &facts, &BTreeSet::new());
        let u = p.user.as_ref().unwrap_or_else(|| panic!("{body}: {p:?}"));
        assert_eq!((u.uid, u.gid), (999, 999), "{body}");
        assert!(u.why.contains("/data"), "{}", u.why);
        assert_eq!(p.volumes.len(), 1);
        assert_eq!(p.volumes[0].name, "svc-data");
        let entries: Vec<String> = p.tmpfs.iter().map(ProposedTmpfs::entry).collect();
        assert_eq!(
            entries,
            ["/tmp", "/var/log/redis:uid=999,gid=999"],
            "{body}"
        );
    }
    // A user that can write the data is kept; a mounted volume is not proposed again.
    let p = propose(
        &service(
            "    user: redis\n    volumes: [\"d:/data\"]\n    tmpfs: [/tmp]\nvolumes:\n  d: {}\n",
        ),
        &config,
        &db(),
        &facts,
        &BTreeSet::new(),
    );
    assert_eq!(p.user, None);
    assert!(p.volumes.is_empty());
    assert_eq!(p.tmpfs.len(), 1, "{p:?}");
}

#[test]
fn nginx_runs_as_the_account_named_after_its_program() {
    let config = ImageConfig {
        cmd: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        ..ImageConfig::default()
    };
    let facts = BTreeMap::from([
        dir("/tmp", 0o1777, 0),
        dir("/var/cache/nginx", 0o1777, 0),
        dir("/var/log/nginx", 0o755, 0),
        (
            "/var/run/nginx".into(),
            Some(PathFact {
                resolved: "/run/nginx".into(),
                dir: true,
                mode: 0o1777,
                uid: 0,
                gid: 0,
            }),
        ),
    ]);
    let p = propose(&service(""), &config, &db(), &facts, &BTreeSet::new());
    let u = p.user.clone().expect("a user");
    assert_eq!((u.uid, u.gid, u.name.as_deref()), (101, 101, Some("nginx")));
    let paths: Vec<&str> = p.tmpfs.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["/tmp", "/run/nginx", "/var/cache/nginx"]);
    let file = render_override("compose.yaml", &BTreeMap::from([("web".to_string(), p)]));
    assert!(file.contains("    user: \"101:101\"\n"), "{file}");
    assert!(file.contains("      - \"/run/nginx\"\n"), "{file}");
    assert_eq!(
        file.lines()
            .filter(|l| l.trim_start().starts_with("# "))
            .count(),
        5 + 1 + 4,
        "{file}"
    );
}

#[test]
fn hostile_volumes_and_databases_give_notes_and_no_proposal() {
    let config = ImageConfig {
        volumes: vec!["/x/../etc".into(), "/data".into(), "/v\n".into()],
        ..ImageConfig::default()
    };
    let facts = BTreeMap::from([(
        "/data".to_string(),
        Some(PathFact {
            resolved: "/real".into(),
            dir: true,
            mode: 0o777,
            uid: 999,
            gid: 999,
        }),
    )]);
    let unreadable = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Refused {
            reason: "is a link, which is not followed".into(),
        },
        group: ImageFile::Missing,
    });
    let p = propose(&service(""), &config, &unreadable, &facts, &BTreeSet::new());
    assert!(p.is_empty(), "{p:?}");
    let notes = p.notes.join("\n");
    assert!(notes.contains("not a clean absolute path"), "{notes}");
    assert!(notes.contains("VOLUME /data is a symbolic link"), "{notes}");
    assert!(
        !notes.contains("/real") && !notes.contains("/etc"),
        "{notes}"
    );
    assert!(
        paths_to_read(&config, &unreadable)
            .iter()
            .all(|p| !p.contains(".."))
    );
}

#[test]
fn a_runtime_image_with_no_account_of_its_own_runs_as_nobody() {
    // Shaped like python:3 with an app copied to /code: root, WORKDIR /code, no account.
    let config = ImageConfig {
        working_dir: "/code".into(),
        cmd: vec!["flask".into(), "run".into()],
        ..ImageConfig::default()
    };
    let facts = BTreeMap::from([dir("/code", 0o755, 0), dir("/tmp", 0o1777, 0)]);
    let p = propose(&service(""), &config, &db(), &facts, &BTreeSet::new());
    let u = p.user.clone().unwrap_or_else(|| panic!("{p:?}"));
    assert_eq!(
        (u.uid, u.gid, u.name.as_deref()),
        (65534, 65534, Some("nobody"))
    );
    assert!(u.why.contains("no account of its own"), "{}", u.why);
    assert_eq!(
        p.tmpfs.iter().map(|t| t.entry()).collect::<Vec<_>>(),
        ["/tmp"]
    );
    // A spec that already names a non-root user keeps it.
    let kept = propose(
        &service("    user: \"1000:1000\"\n"),
        &config,
        &db(),
        &facts,
        &BTreeSet::new(),
    );
    assert_eq!(kept.user, None);

    // A data VOLUME owned by root: nobody could not write it, so a person decides.
    let config = ImageConfig {
        volumes: vec!["/srv".into()],
        ..config
    };
    let facts = BTreeMap::from([dir("/srv", 0o755, 0)]);
    let p = propose(&service(""), &config, &db(), &facts, &BTreeSet::new());
    assert_eq!(p.user, None, "{p:?}");
    assert!(p.notes.join("\n").contains("set `user:`"), "{:?}", p.notes);
    // A world-writable one is fine.
    let facts = BTreeMap::from([dir("/srv", 0o1777, 0)]);
    let p = propose(&service(""), &config, &db(), &facts, &BTreeSet::new());
    assert_eq!(p.user.map(|u| u.uid), Some(65534));
}
