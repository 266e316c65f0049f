//! The tmpfs mode check, data-driven: which tmpfs mounts ask for a mode, and the verdict for
//! each thing the image may have at the mount point.

use super::*;

fn tmpfs(target: &str, options: &str) -> MountTemplate {
    MountTemplate::Tmpfs {
        target: target.into(),
        size: None,
        options: options.into(),
    }
}

fn dir(resolved: &str, mode: u32) -> Option<ImagePath> {
    Some(ImagePath {
        resolved: resolved.into(),
        mode: 0o040000 | mode,
    })
}

#[test]
fn only_a_tmpfs_with_a_readable_mode_asks_for_one() {
    let written = vec![
        "/var/cache:mode=1777".to_string(),
        "/a/:size=1m,mode=700,mode=0750".to_string(),
        "/b:mode=9".to_string(),
        "/tmp".to_string(),
    ];
    let mounts = vec![
        tmpfs("/var/cache", "mode=1777"),
        tmpfs("/a/", "size=1m,mode=700,mode=0750"),
        tmpfs("/b", "mode=9"),
        tmpfs("/tmp", "rw,noexec,nosuid,nodev,size=67108864"),
        // A long-syntax tmpfs volume: its mode arrives as an option.
        tmpfs("/data", "mode=700"),
        MountTemplate::Volume {
            name: "p_v".into(),
            target: "/v".into(),
            read_only: false,
        },
    ];
    let got = asked(&written, &mounts);
    let want = [
        ("`tmpfs: /var/cache:mode=1777`", "/var/cache", 0o1777),
        ("`tmpfs: /a/:size=1m,mode=700,mode=0750`", "/a", 0o750),
        (
            "the tmpfs volume at `/data` (`tmpfs.mode: 700`)",
            "/data",
            0o700,
        ),
    ];
    let got: Vec<(&str, &str, u32)> = got
        .iter()
        .map(|a| (a.key.as_str(), a.path.as_str(), a.mode))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_mode_holds_only_where_the_image_has_nothing_or_the_same_mode() {
    let written = vec!["/var/cache:mode=1777".to_string()];
    let ask = |options: &str, path: &str| {
        let mounts = vec![tmpfs(path, options)];
        asked(&[format!("{path}:{options}")], &mounts)
    };
    let none: &[MountTemplate] = &[];
    let plain = Mounts {
        mounts: none,
        image_volumes: &[],
    };
    let verdict = |asked: &[Asked], found: Option<ImagePath>| {
        let found = BTreeMap::from([(asked[0].path.clone(), found)]);
        refusal(&plain, asked, &found, "image `bookworm`")
    };
    // Nothing there, or the same mode: holds.
    assert_eq!(
        verdict(&asked(&written, &[tmpfs("/var/cache", "mode=1777")]), None),
        None
    );
    assert_eq!(
        verdict(&ask("mode=755", "/var/cache"), dir("/var/cache", 0o755)),
        None
    );
    assert_eq!(
        verdict(&ask("mode=2775", "/var/local"), dir("/var/local", 0o2775)),
        None
    );
    // Another mode, the special bits included: refused, with the fix.
    let (reason, hint) =
        verdict(&ask("mode=1777", "/var/cache"), dir("/var/cache", 0o755)).expect("refused");
    assert_eq!(
        reason,
        "`tmpfs: /var/cache:mode=1777` asks for mode 1777, but `/var/cache` is a directory \
         with mode 755 in image `bookworm`, and the engine gives a tmpfs mounted over a \
         directory of the image that directory's mode: 1777 would not be applied"
    );
    assert_eq!(
        hint,
        "mount the tmpfs at a path the image does not have, or give the directory that mode in \
         the image (`RUN chmod 1777 /var/cache`), or ask for mode 755"
    );
    for (options, path, found) in [
        ("mode=775", "/var/local", dir("/var/local", 0o2775)),
        ("mode=777", "/tmp", dir("/tmp", 0o1777)),
        ("mode=1777", "/t", dir("/t", 0o777)),
    ] {
        assert!(
            verdict(&ask(options, path), found).is_some(),
            "{path}:{options}"
        );
    }
    // Through a link: named with where it leads.
    let (reason, hint) =
        verdict(&ask("mode=700", "/var/lock"), dir("/run/lock", 0o1777)).expect("refused");
    assert!(
        reason.contains("`/var/lock` (a link to `/run/lock`) is a directory with mode 1777"),
        "{reason}"
    );
    assert!(hint.contains("`RUN chmod 700 /run/lock`"), "{hint}");
    // Not a directory: the tmpfs could not be mounted at all.
    let file = Some(ImagePath {
        resolved: "/etc/motd".into(),
        mode: 0o100644,
    });
    let (reason, _) = verdict(&ask("mode=700", "/etc/motd"), file).expect("refused");
    assert!(
        reason.contains("is not a directory in image `bookworm`"),
        "{reason}"
    );
}

#[test]
fn inside_another_mount_the_mode_cannot_be_known_unless_that_is_a_fresh_tmpfs() {
    let mounts = vec![
        MountTemplate::Bind {
            source: "/srv/app".into(),
            target: "/app".into(),
            read_only: false,
        },
        MountTemplate::Volume {
            name: "p_data".into(),
            target: "/data/".into(),
            read_only: false,
        },
        tmpfs("/run", ""),
        tmpfs("/app/tmp", "mode=1777"),
        tmpfs("/data", "mode=700"),
        tmpfs("/var/run/postgresql", "mode=2775"),
        tmpfs("/var/lib/pg/x", "mode=700"),
        tmpfs("/srv/link", "mode=700"),
    ];
    let image_volumes = vec!["/var/lib/pg".to_string()];
    let m = Mounts {
        mounts: &mounts,
        image_volumes: &image_volumes,
    };
    let all = asked(&[], &mounts);
    let by_path = |p: &str| all.iter().find(|a| a.path == p).expect("asked").clone();
    // Before reading the image: inside a bind, a volume or the image's own volume.
    let (reason, hint) = m
        .nested(&by_path("/app/tmp"), "/app/tmp")
        .expect("in a bind");
    assert!(
        reason.contains("`/app/tmp` is inside the bind mount at `/app`"),
        "{reason}"
    );
    assert_eq!(
        hint,
        "mount the tmpfs outside `/app`, or leave out its mode"
    );
    assert!(
        m.nested(&by_path("/var/lib/pg/x"), "/var/lib/pg/x")
            .is_some()
    );
    // At a volume's own target, not inside it.
    assert_eq!(m.nested(&by_path("/data"), "/data"), None);
    // After reading: a link into a bind; a link into a tmpfs mounted before it (fresh, so the
    // mode holds) even though the image has the directory there.
    let found = BTreeMap::from([
        ("/data".to_string(), dir("/data", 0o700)),
        (
            "/var/run/postgresql".to_string(),
            dir("/run/postgresql", 0o3777),
        ),
        ("/srv/link".to_string(), dir("/app/cache", 0o755)),
    ]);
    let one = |p: &str| vec![by_path(p)];
    assert_eq!(refusal(&m, &one("/data"), &found, "i"), None);
    assert_eq!(refusal(&m, &one("/var/run/postgresql"), &found, "i"), None);
    let (reason, _) = refusal(&m, &one("/srv/link"), &found, "i").expect("into a bind");
    assert!(
        reason.contains("`/app/cache` is inside the bind mount at `/app`"),
        "{reason}"
    );
}

#[test]
fn paths_are_cleaned_as_the_engine_cleans_mount_points() {
    for (path, want) in [
        ("/", "/"),
        ("/var/cache/", "/var/cache"),
        ("//var/./cache", "/var/cache"),
        ("/var/lock/../cache", "/var/cache"),
        ("/../x", "/x"),
    ] {
        assert_eq!(clean(path), want, "{path}");
    }
    assert!(within("/a/b", "/a") && within("/a", "/") && !within("/a", "/a"));
    assert!(!within("/ab", "/a"));
}
