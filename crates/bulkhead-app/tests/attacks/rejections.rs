//! Requests turned away before the router, over the real HTTPS listener: a head over the
//! documented 64 KiB is 431 in the error shape and audited; a path that does not decode to
//! UTF-8 is 400 in the error shape and audited; a connection that does not speak HTTP cannot
//! be attributed to a path and is counted instead.

use bulkhead_app::server::listen::Limits;
use bulkhead_core::audit::OutcomeKind;
use bulkhead_core::auth::{Role, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::https::{ME, body, https, status};
use super::support::server;

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_over_64_kib_is_431_in_the_error_shape_and_audited() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let api = https(&srv, Limits::default()).await;
    let pad = |n: usize| format!("X-Pad: {}\r\n", "a".repeat(n));
    let response = api
        .get(ME, "/v1/projects", Some(&admin), &pad(60 * 1024))
        .await;
    assert_eq!(status(&response), 200, "60 KiB passes: {response}");
    let response = api
        .get(ME, "/v1/projects", Some(&admin), &pad(80_000))
        .await;
    assert_eq!(status(&response), 431, "{response}");
    assert_eq!(body(&response)["error"]["code"], "headers_too_large");
    let entry = srv
        .entries()
        .into_iter()
        .rev()
        .find(|e| e.action == "request.rejected")
        .expect("an audit entry");
    assert_eq!(entry.outcome.kind, OutcomeKind::Failed);
    assert_eq!(entry.outcome.code.as_deref(), Some("headers_too_large"));
    assert_eq!(entry.actor.user.as_deref(), Some("root"));
    assert_eq!(entry.resource, "/v1/projects");
    // Without a token too: the size is the answer.
    let response = api.get(ME, "/v1/projects", None, &pad(80_000)).await;
    assert_eq!(status(&response), 431, "{response}");
    // Past the parser's buffer hyper answers by itself: still the error shape, and counted.
    let before = srv.api.listener.snapshot().rejected.head_too_large;
    let response = api.get(ME, "/v1/projects", None, &pad(300_000)).await;
    assert_eq!(status(&response), 431, "{response}");
    assert_eq!(
        body(&response)["error"]["code"],
        "headers_too_large",
        "{response}"
    );
    srv.api
        .listener
        .wait_until(|s| s.rejected.head_too_large > before)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_is_not_utf8_gets_the_error_shape_and_an_audit_entry() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let api = https(&srv, Limits::default()).await;
    let response = api.get(ME, "/v1/projects/%FF%FE", Some(&admin), "").await;
    assert_eq!(status(&response), 400, "{response}");
    assert_eq!(
        body(&response)["error"]["code"],
        "bad_request",
        "{response}"
    );
    let entry = srv.entries().pop().expect("an audit entry");
    assert_eq!(entry.action, "project.get");
    assert_eq!(entry.outcome.kind, OutcomeKind::Failed);
    assert_eq!(entry.actor.user.as_deref(), Some("root"));
    assert!(entry.source.starts_with("127.0.0.1:"), "{entry:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_does_not_speak_http_gets_the_error_shape_and_is_counted() {
    let srv = server().await;
    let api = https(&srv, Limits::default()).await;
    let stats = &srv.api.listener;
    let before = stats.snapshot().rejected.malformed_http;
    let mut tls = api.connect(ME).await.expect("connect");
    tls.write_all(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    assert_eq!(status(&response), 400, "{response}");
    assert_eq!(
        body(&response)["error"]["code"],
        "bad_request",
        "{response}"
    );
    // The connection's end is counted before its slot is freed: wait for either event.
    stats
        .wait_until(|s| s.rejected.malformed_http > before && s.connections_open == 0)
        .await;
    assert_eq!(stats.snapshot().rejected.malformed_http, before + 1);
    // Not HTTP over TLS either: no handshake at all.
    let tls_before = stats.snapshot().rejected.tls_handshake;
    let mut plain = tokio::net::TcpStream::connect(api.addr).await.expect("tcp");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink).await;
    stats
        .wait_until(|s| s.rejected.tls_handshake > tls_before)
        .await;
}
