//! What paths lead to in an image, read without running it, as runc resolves a mount point:
//! a directory's mode with its sticky and setgid bits, a link followed inside the image's root
//! (absolute, relative, or climbing above the root), a dangling link and a missing path as
//! nothing, a `VOLUME` as the engine fills it; and the probe container always removed. runc is
//! the judge: each directory answer is what a started container shows when a tmpfs with
//! another mode is mounted there (`--tmpfs P:mode=1700`: the image's mode wins where the image
//! has a directory, the asked one where it has nothing).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bulkhead_ports::{ContainerRuntime, ImagePath};

use super::support::{Cleanup, image_exists, runtime, unique};
use super::userfiles::probes_of;

const BASE: &str = "bulkhead-test/bookworm:base";

/// The test layout under /t, on the Debian base image (built by examples/debian/build.sh when
/// it is missing).
const DOCKERFILE: &str = "FROM bulkhead-test/bookworm:base
RUN mkdir -p /t/cache /t/shared /t/run/lock /t/data \\
 && chmod 755 /t/cache && chmod 2775 /t/shared && chmod 1777 /t/run/lock && chmod 700 /t/data \\
 && ln -s /t/run/lock /t/lock && ln -s run/lock /t/rel \\
 && ln -s ../../../../t/run/lock /t/escape && ln -s /nowhere/deeper /t/dangling \\
 && ln -s loop /t/loop && echo hi > /t/motd && chmod 644 /t/motd
VOLUME /t/data
";

fn build(tag: &str) -> String {
    if !image_exists(BASE) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/debian/build.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("build.sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new("docker")
        .args(["build", "-q", "--network", "none", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker build runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(DOCKERFILE.as_bytes())
        .expect("write Dockerfile");
    let out = child.wait_with_output().expect("docker build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The mode (`%a`) a tmpfs with `mode=1700` at `path` has in a container of `image`.
fn runc_mode(image: &str, path: &str) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--tmpfs"])
        .arg(format!("{path}:mode=1700"))
        .args([image, "stat", "-L", "-c", "%a", path])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn dir(resolved: &str, mode: u32) -> Option<ImagePath> {
    Some(ImagePath {
        resolved: resolved.to_string(),
        mode: 0o040000 | mode,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_what_a_mount_point_leads_to_in_an_image_as_runc_does() {
    let runtime = runtime().await;
    let tag = format!("{}:1", unique("paths"));
    let mut cleanup = Cleanup::default();
    cleanup.images.push(tag.clone());
    let id = build(&tag);
    let cases: Vec<(&str, Option<ImagePath>)> = vec![
        ("/t/cache", dir("/t/cache", 0o755)),
        ("/tmp", dir("/tmp", 0o1777)),
        ("/t/shared", dir("/t/shared", 0o2775)),
        ("/t/lock", dir("/t/run/lock", 0o1777)),
        ("/t/rel", dir("/t/run/lock", 0o1777)),
        ("/t/escape", dir("/t/run/lock", 0o1777)),
        // Links on the way, not only at the end (Debian's /var/lock -> /run/lock).
        ("/var/lock", dir("/run/lock", 0o1777)),
        ("/t/data", dir("/t/data", 0o700)),
        ("/t/dangling", None),
        ("/t/nowhere", None),
        ("/t/lock/sub", None),
        // Cleaned first, as runc cleans the mount point (`..` is lexical).
        ("/t/./cache/", dir("/t/cache", 0o755)),
        ("/t/lock/../cache", dir("/t/cache", 0o755)),
        (
            "/t/motd",
            Some(ImagePath {
                resolved: "/t/motd".into(),
                mode: 0o100644,
            }),
        ),
    ];
    let paths: Vec<String> = cases.iter().map(|(p, _)| p.to_string()).collect();
    let found = runtime
        .image_path_modes(&id, &paths)
        .await
        .expect("path modes");
    for (path, want) in &cases {
        assert_eq!(found.get(*path), Some(want), "{path}");
    }
    assert_eq!(found.len(), cases.len());
    assert_eq!(probes_of(&id), "", "the probe container was left behind");
    // Cached by id: asked again, the same answer (the image cannot have changed).
    let again = runtime
        .image_path_modes(&id, &paths)
        .await
        .expect("path modes again");
    assert_eq!(again, found);

    // The judge, for the clean paths a tmpfs can be mounted on.
    for (path, want) in &cases {
        if path.contains("/.") || path.ends_with('/') || path == &"/t/motd" {
            continue;
        }
        let expected = match want {
            Some(p) => format!("{:o}", p.permissions()),
            None => "1700".to_string(),
        };
        assert_eq!(runc_mode(&id, path), expected, "{path}");
    }

    // A link loop is an error (runc cannot mount there either); the probe goes all the same.
    let err = runtime
        .image_path_modes(&id, &["/t/loop/x".to_string()])
        .await
        .expect_err("a loop");
    assert!(err.to_string().contains("/t/loop/x"), "{err}");
    assert_eq!(probes_of(&id), "", "the probe container was left behind");
    let err = runtime
        .image_path_modes(&format!("{}-missing:1", unique("paths")), &paths)
        .await
        .expect_err("no such image");
    assert!(err.to_string().contains("not found"), "{err}");
}
