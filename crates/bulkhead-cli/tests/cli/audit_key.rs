//! The audit signing key as a user meets it: `init` prints its key-id for safekeeping, and
//! `audit verify` says plainly which key it trusted — the one beside the log (proves nothing
//! against whoever can rewrite the log) or one kept elsewhere (`--pubkey`).

use super::server_process::{init, token_of};
use super::support::{bulkhead, text};

/// The 32 hex digits after `key-id` in `text`.
fn key_id(text: &str) -> String {
    let at = text.find("key-id").expect("a key-id") + "key-id".len();
    text[at..]
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[test]
fn init_prints_the_key_id_and_verify_names_the_key_it_trusted() {
    let state = tempfile::tempdir().expect("state dir");
    let out = init(state.path());
    token_of(&out);
    let printed = key_id(&text(&out.stderr));
    assert_eq!(printed.len(), 32, "{}", text(&out.stderr));

    let elsewhere = tempfile::tempdir().expect("a directory off the state dir");
    let pubkey = elsewhere.path().join("audit.pub");
    let out = bulkhead()
        .args(["audit", "pubkey", "--state-dir"])
        .arg(state.path())
        .arg("--output")
        .arg(&pubkey)
        .output()
        .expect("bulkhead runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported = std::fs::read_to_string(&pubkey).expect("the exported key");
    assert_eq!(
        key_id(&exported),
        printed,
        "init printed the key-id --pubkey checks"
    );

    let out = bulkhead()
        .args(["audit", "verify", "--state-dir"])
        .arg(state.path())
        .output()
        .expect("bulkhead runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(
        note.contains("the same state directory as the log")
            && note.contains("re-sign")
            && note.contains("--pubkey"),
        "{note}"
    );
    assert_eq!(key_id(&note), printed);

    let out = bulkhead()
        .args(["audit", "verify", "--json", "--state-dir"])
        .arg(state.path())
        .output()
        .expect("bulkhead runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["key"]["source"], "state-dir", "{doc}");
    assert_eq!(doc["key"]["independent"], false, "{doc}");

    let out = bulkhead()
        .args(["audit", "verify", "--state-dir"])
        .arg(state.path())
        .arg("--pubkey")
        .arg(&pubkey)
        .output()
        .expect("bulkhead runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(note.contains("checked against the key in"), "{note}");
    assert!(!note.contains("same state directory"), "{note}");
}
