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
    let p = Project::new("tm", SPEC);
    let image = docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "bulkhead-test/bookworm:base",
    ]);
    let err = p.fails(&["up", "-q"]);
    for part in [
        "service `box`: `tmpfs: /var/cache:mode=1777` asks for mode 1777, but `/var/cache` is a \
         directory with mode 755 in image `bulkhead-test/bookworm:base`",
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
