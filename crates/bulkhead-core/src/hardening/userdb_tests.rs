//! Unit tests of the image user database: hostile files (huge, truncated, non-numeric, NUL,
//! CRLF, duplicates, uid 0 aliases) and `user` strings resolved as the engine resolves them.

use proptest::prelude::*;

use super::*;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
# a comment
toor:x:0:0::/root:/bin/sh

app:x:10001:10001::/:/sbin/nologin
postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/bash
rooty:x:1000:0::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

const GROUP: &str = "\
root:x:0:
wheel:x:0:
app:x:10001:
postgres:x:999:
ssl-cert:x:110:postgres
adm:x:4:app,nobody
nogroup:x:65534:
";

fn db(passwd: &str, group: &str) -> UserDb {
    UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Regular(passwd.as_bytes().to_vec()),
        group: ImageFile::Regular(group.as_bytes().to_vec()),
    })
}

fn id(uid: u32, gid: u32, groups: &[u32], name: Option<&str>) -> Identity {
    Identity {
        uid,
        gid,
        groups: groups.to_vec(),
        name: name.map(str::to_string),
    }
}

#[test]
fn user_strings_resolve_as_the_engine_resolves_them() {
    let db = db(PASSWD, GROUP);
    let cases: &[(&str, Identity)] = &[
        ("root", id(0, 0, &[], Some("root"))),
        ("toor", id(0, 0, &[], Some("toor"))),
        ("0", id(0, 0, &[], Some("root"))),
        ("00", id(0, 0, &[], Some("root"))),
        ("0:0", id(0, 0, &[], Some("root"))),
        ("", id(0, 0, &[], Some("root"))),
        (":10001", id(0, 10001, &[], Some("root"))),
        ("app", id(10001, 10001, &[4], Some("app"))),
        ("10001", id(10001, 10001, &[4], Some("app"))),
        ("app:", id(10001, 10001, &[4], Some("app"))),
        ("app:app", id(10001, 10001, &[], Some("app"))),
        ("1000:wheel", id(1000, 0, &[], Some("rooty"))),
        ("app:wheel", id(10001, 0, &[], Some("app"))),
        ("app:0", id(10001, 0, &[], Some("app"))),
        ("rooty", id(1000, 0, &[], Some("rooty"))),
        ("postgres", id(999, 999, &[110], Some("postgres"))),
        ("4242", id(4242, 0, &[], None)),
        ("4242:4242", id(4242, 4242, &[], None)),
        ("nobody:nogroup", id(65534, 65534, &[], Some("nobody"))),
    ];
    for (user, want) in cases {
        assert_eq!(db.resolve(user).as_ref(), Ok(want), "{user:?}");
    }
}

#[test]
fn root_is_decided_by_number_and_the_root_group_too() {
    let db = db(PASSWD, GROUP);
    for user in [
        "root", "toor", "0", "00", "0:0", "", ":1", "toor:app", "0:10001",
    ] {
        let id = db.resolve(user).expect(user);
        assert!(id.is_root(), "{user:?} is uid {}", id.uid);
    }
    for user in [
        "app:wheel",
        "1000:wheel",
        "app:0",
        "rooty",
        "4242",
        "app:root",
    ] {
        let id = db.resolve(user).expect(user);
        assert!(!id.is_root() && id.has_root_group(), "{user:?}: {id:?}");
    }
    for user in [
        "app",
        "app:app",
        "10001:10001",
        "postgres",
        "nobody:nogroup",
    ] {
        let id = db.resolve(user).expect(user);
        assert!(!id.is_root() && !id.has_root_group(), "{user:?}: {id:?}");
    }
    // A member of gid 0 in /etc/group gets it as a supplementary group.
    let db = self::db("m:x:5:5::/:/bin/sh\n", "root:x:0:m\nm:x:5:\n");
    let id = db.resolve("m").expect("m");
    assert_eq!(id.groups, [0]);
    assert!(id.has_root_group());
    assert_eq!(id.pinned(), "5:5");
}

#[test]
fn names_that_are_not_in_the_files_are_errors() {
    let db = db(PASSWD, GROUP);
    let unknown_user = |u: &str| UserDbError::UnknownUser { user: u.into() };
    let unknown_group = |g: &str| UserDbError::UnknownGroup { group: g.into() };
    let cases: &[(&str, UserDbError)] = &[
        ("ghost", unknown_user("ghost")),
        ("Root", unknown_user("Root")),
        (" 0", unknown_user(" 0")),
        ("+0", unknown_user("+0")),
        ("-0", unknown_user("-0")),
        ("ghost:0", unknown_user("ghost")),
        ("app:ghosts", unknown_group("ghosts")),
        ("app:a:b", unknown_group("a:b")),
    ];
    for (user, want) in cases {
        assert_eq!(db.resolve(user).as_ref(), Err(want), "{user:?}");
    }
    let err = db.resolve("toor2").expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "user `toor2` is not in the image's /etc/passwd"
    );
}

#[test]
fn ids_beyond_the_engine_range_are_refused() {
    let db = UserDb::empty();
    for user in [
        "2147483648",
        "4294967295",
        "99999999999999999999",
        "1:2147483648",
    ] {
        assert!(
            matches!(db.resolve(user), Err(UserDbError::OutOfRange { .. })),
            "{user:?}"
        );
    }
    assert_eq!(
        db.resolve("2147483647:2147483647").map(|i| i.pinned()),
        Ok("2147483647:2147483647".to_string())
    );
}

#[test]
fn numeric_users_need_no_database() {
    let none = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Missing,
        group: ImageFile::Missing,
    });
    assert_eq!(none.resolve("10001:10001"), Ok(id(10001, 10001, &[], None)));
    // No entry for the uid: the engine's gid is 0.
    assert_eq!(none.resolve("10001"), Ok(id(10001, 0, &[], None)));
    assert_eq!(none.resolve(""), Ok(id(0, 0, &[], None)));
}

#[test]
fn an_unreadable_database_resolves_no_names_and_says_why() {
    let refused = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Refused {
            reason: "is a symlink, which is not followed".into(),
        },
        group: ImageFile::Missing,
    });
    let err = refused.resolve("toor").expect_err("no database");
    assert_eq!(
        err.to_string(),
        "user `toor` cannot be looked up: the image's /etc/passwd is a symlink, which is not followed"
    );
    let err = refused.resolve("10001:wheel").expect_err("no group file");
    assert_eq!(
        err.to_string(),
        "group `wheel` cannot be looked up: the image's /etc/group is missing"
    );
    let big = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Regular(vec![b'a'; MAX_FILE_BYTES + 1]),
        group: ImageFile::Missing,
    });
    assert!(big.users().is_empty());
    assert!(
        matches!(big.resolve("a"), Err(UserDbError::NoDatabase { reason, .. }) if reason == "is over 1024 KiB")
    );
}

#[test]
fn malformed_lines_are_skipped_and_the_first_good_match_wins() {
    type Case = (&'static str, &'static str, Option<(u32, u32)>);
    let cases: &[Case] = &[
        ("missing fields", "toor:x:0\ntoor:x:5:5\n", Some((5, 5))),
        ("name only", "toor\n", None),
        ("empty name", ":x:0:0::/:/bin/sh\n", None),
        ("non-numeric uid", "toor:x:abc:0::/:/bin/sh\n", None),
        (
            "signed uid",
            "toor:x:+0:0::/:/bin/sh\ntoor:x:-0:0::/:/bin/sh\n",
            None,
        ),
        ("uid too big", "toor:x:4294967296:0::/:/bin/sh\n", None),
        ("hex uid", "toor:x:0x0:0::/:/bin/sh\n", None),
        (
            "duplicate names",
            "toor:x:0:0::/:/bin/sh\ntoor:x:7:7::/:/bin/sh\n",
            Some((0, 0)),
        ),
        (
            "duplicate, second",
            "toor:x:7:7::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\n",
            Some((7, 7)),
        ),
        ("CRLF", "toor:x:7:8::/:/bin/sh\r\n", Some((7, 8))),
        (
            "no trailing newline",
            "a:x:1:1::/:/bin/sh\ntoor:x:7:8::/:/bin/sh",
            Some((7, 8)),
        ),
        ("four fields are enough", "toor:x:7:8", Some((7, 8))),
        (
            "extra fields",
            "toor:x:7:8:g:/h:/s:extra:more",
            Some((7, 8)),
        ),
        ("NUL in the name", "to\0or:x:0:0::/:/bin/sh\n", None),
        ("NUL in the line", "toor:x:7:8::/:/bin/sh\0\n", None),
        ("comment", "#toor:x:0:0::/:/bin/sh\n", None),
        ("blank lines", "\n\n   \ntoor:x:7:8\n", Some((7, 8))),
        ("leading space", "  toor:x:7:8\n", Some((7, 8))),
        ("not UTF-8", "to\u{fffd}or:x:0:0\n", None),
    ];
    for (what, passwd, want) in cases {
        let db = db(passwd, "");
        let got = db.user_by_name("toor").map(|e| (e.uid, e.gid));
        assert_eq!(got, *want, "{what}");
    }
    let invalid_utf8 = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Regular(b"to\xffor:x:0:0\ntoor:x:7:7\n".to_vec()),
        group: ImageFile::Missing,
    });
    assert_eq!(invalid_utf8.users().len(), 1);
}

#[test]
fn group_lines_are_parsed_as_hostile_too() {
    let group = "g0:x:0:a, b ,,c\nbad:x:zero:\nshort:x\nnomembers:x:7\nwheel:x:10:\nwheel:x:0:\n";
    let db = db("", group);
    let names: Vec<(&str, u32)> = db.groups().iter().map(|g| (&*g.name, g.gid)).collect();
    assert_eq!(
        names,
        [("g0", 0), ("nomembers", 7), ("wheel", 10), ("wheel", 0)]
    );
    assert_eq!(db.groups()[0].members, ["a", "b", "c"]);
    assert_eq!(db.group_by_name("wheel").map(|g| g.gid), Some(10));
}

#[test]
fn huge_inputs_are_bounded() {
    // One very long line, then a good one: the long line is skipped, the good one found.
    let mut passwd = "x".repeat(MAX_FILE_BYTES - 100);
    passwd.push_str("\ntoor:x:7:7\n");
    let db = db(&passwd, "");
    assert_eq!(db.user_by_name("toor").map(|e| e.uid), Some(7));
    // More lines than MAX_ENTRIES: the rest is ignored.
    let many: String = (0..MAX_ENTRIES + 10)
        .map(|i| format!("u{i}:x:1:1\n"))
        .collect();
    let db = UserDb::parse(&ImageUserFiles {
        passwd: ImageFile::Regular(many.into_bytes()),
        group: ImageFile::Missing,
    });
    assert_eq!(db.users().len(), MAX_ENTRIES);
    assert!(db.user_by_name(&format!("u{}", MAX_ENTRIES + 5)).is_none());
}

proptest! {
    #[test]
    fn parsing_and_resolving_never_panic(
        passwd in proptest::collection::vec(any::<u8>(), 0..2048),
        group in proptest::collection::vec(any::<u8>(), 0..2048),
        user in "\\PC{0,40}",
    ) {
        let db = UserDb::parse(&ImageUserFiles {
            passwd: ImageFile::Regular(passwd),
            group: ImageFile::Regular(group),
        });
        if let Ok(id) = db.resolve(&user) {
            prop_assert!(id.uid <= MAX_ID && id.gid <= MAX_ID);
        }
    }

    #[test]
    fn passwd_shaped_lines_never_panic(
        lines in proptest::collection::vec("[a-z0:+\\-\r\0 ]{0,8}:[x]?:[0-9a-z+\\-]{0,12}:[0-9]{0,12}(:[^\n]{0,10}){0,5}", 0..20),
        user in "[a-z0-9:]{0,10}",
    ) {
        let db = db(&lines.join("\n"), &lines.join("\n"));
        let _ = db.resolve(&user);
    }
}
