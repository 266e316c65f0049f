//! Reading an image's /etc/passwd and /etc/group without running it: regular files are read,
//! a symlink is reported and never followed, a missing or oversized file is said to be so, and
//! the short-lived container used to read them is always removed.

use std::process::Command;

use bulkhead_docker::LABEL_PROBE;
use bulkhead_ports::{ContainerRuntime, ImageFile, MAX_USER_FILE_BYTES};

use super::support::{Cleanup, runtime, unique};

enum Item<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

/// `docker import` of a tar made of `items`: an image with exactly those files and no shell.
fn import(tag: &str, items: &[Item<'_>]) -> String {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match item {
            Item::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).expect("append");
            }
            Item::Link(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, target).expect("append link");
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rootfs.tar");
    std::fs::write(&file, b.into_inner().expect("tar")).expect("write tar");
    let out = Command::new("docker")
        .args(["import", &file.to_string_lossy(), tag])
        .output()
        .expect("docker import runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(super) fn probes_of(image: &str) -> String {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label={LABEL_PROBE}"),
            "--filter",
            &format!("ancestor={image}"),
        ])
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_the_user_database_of_an_image_without_running_it() {
    let runtime = runtime().await;
    let base = unique("userdb");
    let mut cleanup = Cleanup::default();
    let passwd = b"toor:x:0:0::/root:/bin/sh\napp:x:10001:10001::/:/sbin/nologin\n";
    let group = b"wheel:x:0:\napp:x:10001:\n";
    let big = vec![b'#'; MAX_USER_FILE_BYTES + 1];
    let link = || ImageFile::Refused {
        reason: "is a link, which is not followed".to_string(),
    };
    let cases: Vec<(&str, Vec<Item<'_>>, ImageFile, ImageFile)> = vec![
        (
            "plain",
            vec![
                Item::File("etc/passwd", passwd),
                Item::File("etc/group", group),
            ],
            ImageFile::Regular(passwd.to_vec()),
            ImageFile::Regular(group.to_vec()),
        ),
        (
            "linked",
            vec![
                Item::File("real", passwd),
                Item::Link("etc/passwd", "/proc/self/environ"),
                Item::Link("etc/group", "../../../real"),
            ],
            link(),
            link(),
        ),
        (
            "empty",
            vec![Item::File("hello", b"hi\n")],
            ImageFile::Missing,
            ImageFile::Missing,
        ),
        (
            "big",
            vec![
                Item::File("etc/passwd", &big),
                Item::File("etc/group", group),
            ],
            ImageFile::Refused {
                reason: "is over 1024 KiB".to_string(),
            },
            ImageFile::Regular(group.to_vec()),
        ),
    ];
    for (name, items, want_passwd, want_group) in cases {
        let tag = format!("{base}-{name}:1");
        cleanup.images.push(tag.clone());
        let id = import(&tag, &items);
        let files = runtime.image_user_files(&id).await.expect(name);
        assert_eq!(files.passwd, want_passwd, "{name}");
        assert_eq!(files.group, want_group, "{name}");
        assert_eq!(
            probes_of(&id),
            "",
            "{name}: the probe container was left behind"
        );
        // Cached by id: asked again, the same answer (the image cannot have changed).
        let again = runtime.image_user_files(&id).await.expect(name);
        assert_eq!(again, files, "{name}");
    }
    let err = runtime
        .image_user_files(&format!("{base}-missing:1"))
        .await
        .expect_err("no such image");
    assert!(err.to_string().contains("not found"), "{err}");
}
