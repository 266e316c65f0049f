//! A tmpfs's mode is applied as written, or `up` refuses before anything is created: runc gives
//! a tmpfs mounted over a directory of the image that directory's mode, so
//! `/var/cache:mode=1777` on the Debian base image (where /var/cache is 755) would run with 755.
//! The same mode as the image's, and a path the image does not have, deploy with the mode
//! asked, as `docker exec stat` shows.

use super::{Project, exec};
use crate::support::{docker, text};

const SPEC: &str = r#"services:
  box:
    image: bulkhead-test/bookworm:base
    user: "65534:65534"
    command: ["sleep", "infinity"]
    tmpfs: ["/var/cache:mode=1777"]
    x-bulkhead:
      settle: 1s
"#;

#[test]
fn up_refuses_a_tmpfs_mode_the_image_overrides_and_creates_nothing() {
    // An image of its own (the base plus a label): other tests read the base image at the
    // same time, and a probe of theirs is not one this test left.
    let tag = format!("bulkhead-test/tmpfs-{}:1", std::process::id());
    let mut build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    {
        use std::io::Write as _;
        let mut stdin = build.stdin.take().expect("stdin");
        stdin
            .write_all(b"FROM bulkhead-test/bookworm:base\nLABEL dev.bulkhead.test=tmpfs\n")
            .expect("write Dockerfile");
    }
    assert!(build.wait().expect("docker build").success());
    let _image_gone = ImageGone(tag.clone());
    let p = Project::new("tm", &SPEC.replace("bulkhead-test/bookworm:base", &tag));
    let image = docker(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    let err = p.fails(&["up", "-q"]);
    let first = format!(
        "service `box`: `tmpfs: /var/cache:mode=1777` asks for mode 1777, but `/var/cache` is a \
         directory with mode 755 in image `{tag}`"
    );
    for part in [
        first.as_str(),
        "1777 would not be applied",
        "a path the image does not have",
        "`RUN chmod 1777 /var/cache`",
        "ask for mode 755",
    ] {
        assert!(err.contains(part), "{part:?} not in:\n{err}");
    }
    assert!(p.containers().is_empty(), "a container was created");
    assert!(p.volumes().is_empty(), "a volume was created");
    let networks = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=dev.bulkhead.project={}", p.name),
    ]);
    assert_eq!(networks.trim(), "", "a network was created");
    let probes = docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=dev.bulkhead.probe",
        "--filter",
        &format!("ancestor={}", image.trim()),
    ]);
    assert_eq!(probes.trim(), "", "the probe container was left behind");

    // The image's own mode, and a path the image lacks (/srv is empty), are applied.
    p.edit(
        "\"/var/cache:mode=1777\"",
        "\"/var/cache:mode=755\", \"/srv/scratch:mode=1777\"",
    );
    p.up();
    let c = p.only("box");
    let out = exec(&c, &["stat", "-c", "%a %n", "/var/cache", "/srv/scratch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "755 /var/cache\n1777 /srv/scratch\n");
}

/// Removes the test's own image when dropped.
struct ImageGone(String);

impl Drop for ImageGone {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .output();
    }
}
