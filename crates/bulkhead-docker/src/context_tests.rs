//! Unit tests for the build context walk and its tar stream.

use std::os::unix::fs::symlink;

use futures_util::StreamExt;

use super::*;

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("write");
    fs::create_dir_all(root.join("app/sub")).expect("mkdir");
    fs::write(root.join("app/sub/data.txt"), "data").expect("write");
    fs::write(root.join("app/debug.log"), "noise").expect("write");
    dir
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn walks_sorted_with_parents_first() {
    let dir = context();
    let entries = collect(dir.path(), "Dockerfile").expect("collects");
    assert_eq!(
        names(&entries),
        [
            "Dockerfile",
            "app",
            "app/debug.log",
            "app/sub",
            "app/sub/data.txt"
        ]
    );
}

#[test]
fn honours_dockerignore_but_keeps_dockerfile() {
    let dir = context();
    fs::write(dir.path().join(".dockerignore"), "**/*.log\nDockerfile\n").expect("write");
    let entries = collect(dir.path(), "Dockerfile").expect("collects");
    assert_eq!(
        names(&entries),
        [
            ".dockerignore",
            "Dockerfile",
            "app",
            "app/sub",
            "app/sub/data.txt"
        ]
    );
}

#[test]
fn keeps_symlinks_inside_as_links() {
    let dir = context();
    symlink("sub/data.txt", dir.path().join("app/link")).expect("symlink");
    symlink("missing", dir.path().join("dangling")).expect("symlink");
    let entries = collect(dir.path(), "Dockerfile").expect("collects");
    let link = entries.iter().find(|e| e.name == "app/link").expect("link");
    assert_eq!(link.kind, Kind::Symlink(PathBuf::from("sub/data.txt")));
    assert!(entries.iter().any(|e| e.name == "dangling"));
}

#[test]
fn refuses_symlinks_leading_outside() {
    for target in ["../../outside", "/etc/passwd", "sub/../../.."] {
        let dir = context();
        symlink(target, dir.path().join("app/escape")).expect("symlink");
        let err = collect(dir.path(), "Dockerfile").expect_err(target);
        assert!(
            matches!(err, ContextError::SymlinkEscape { .. }),
            "{target}: {err}"
        );
    }
    // Inside as written, outside once `app/up` (the root) is followed: only resolving sees it.
    let dir = context();
    symlink("..", dir.path().join("app/up")).expect("symlink");
    symlink("app/up/..", dir.path().join("via")).expect("symlink");
    let err = collect(dir.path(), "Dockerfile").expect_err("escape via link");
    assert!(matches!(err, ContextError::SymlinkEscape { .. }), "{err}");
}

#[test]
fn a_dockerignore_that_is_a_link_is_not_followed() {
    let dir = context();
    let outside = tempfile::NamedTempFile::new().expect("outside file");
    std::fs::write(outside.path(), "CANARY\n").expect("write");
    symlink(outside.path(), dir.path().join(".dockerignore")).expect("symlink");
    let err = collect(dir.path(), "Dockerfile").expect_err("link refused");
    assert!(matches!(err, ContextError::NotAFile(_)), "{err}");
    assert!(!err.to_string().contains("CANARY"));
}

#[test]
fn refuses_dockerfiles_outside() {
    let dir = context();
    for dockerfile in ["../Dockerfile", "/Dockerfile", ""] {
        assert!(matches!(
            collect(dir.path(), dockerfile),
            Err(ContextError::Dockerfile(_))
        ));
    }
    assert!(collect(dir.path(), "./Dockerfile").is_ok());
}

#[tokio::test]
async fn streams_a_tar_of_the_entries() {
    let dir = context();
    let big = vec![7_u8; 3 * CHUNK + 5];
    fs::write(dir.path().join("big.bin"), &big).expect("write");
    symlink("app", dir.path().join("link")).expect("symlink");
    let entries = collect(dir.path(), "Dockerfile").expect("collects");
    let (chunks, writer) = stream(entries);
    let chunks: Vec<_> = chunks.collect().await;
    writer
        .await
        .expect("writer joins")
        .expect("writer succeeds");
    let bytes: Vec<u8> = chunks
        .into_iter()
        .flat_map(|c| c.expect("chunk").to_vec())
        .collect();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        assert_eq!(entry.header().uid().expect("uid"), 0);
        if name == "big.bin" {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("read");
            assert_eq!(content, big);
        }
        if name == "link" {
            let target = entry.link_name().expect("link name").expect("a link");
            assert_eq!(target.to_string_lossy(), "app");
        }
        seen.push(name);
    }
    assert_eq!(
        seen,
        [
            "Dockerfile",
            "app",
            "app/debug.log",
            "app/sub",
            "app/sub/data.txt",
            "big.bin",
            "link"
        ]
    );
}

#[test]
fn exact_reader_notices_a_shrunk_file() {
    let mut short = Exact::new(&b"abc"[..], 5);
    let mut out = Vec::new();
    let err = short.read_to_end(&mut out).expect_err("shrunk");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    let mut long = Exact::new(&b"abcdef"[..], 4);
    let mut out = Vec::new();
    long.read_to_end(&mut out).expect("cut");
    assert_eq!(out, b"abcd");
}
