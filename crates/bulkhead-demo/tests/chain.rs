//! End-to-end test: store, api and web on loopback ephemeral ports, fetched through all three tiers.

use bulkhead_demo::{catalog, client, roles::Role, spawn};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const T: Duration = Duration::from_secs(2);

fn start_chain() -> (SocketAddr, SocketAddr, SocketAddr) {
    let store = spawn(Role::Store, "127.0.0.1:0", "").expect("store");
    let api = spawn(Role::Api, "127.0.0.1:0", &format!("http://{store}")).expect("api");
    let web = spawn(Role::Web, "127.0.0.1:0", &format!("http://{api}/")).expect("web");
    (store, api, web)
}

/// Sends raw bytes and returns the raw response.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn page_is_served_through_all_three_tiers() {
    let (store, api, web) = start_chain();

    let page = client::get(&format!("http://{web}/"), T).expect("web answers");
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).expect("utf8");
    assert!(html.contains("<title>Bulkhead shop</title>"), "{html}");
    for item in catalog::builtin() {
        assert!(html.contains(&catalog::html_escape(&item.name)), "{html}");
    }

    let items = client::get(&format!("http://{api}/items"), T).expect("api answers");
    let text = String::from_utf8(items.body).expect("utf8");
    assert!(text.ends_with("\"served_by\":\"api\"}"), "{text}");
    assert_eq!(catalog::from_json(&text), Ok(catalog::builtin()));

    for addr in [store, api, web] {
        let health = client::get(&format!("http://{addr}/healthz"), T).expect("health");
        assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    }
}

#[test]
fn bad_requests_get_error_statuses() {
    let (store, _, _) = start_chain();
    let cases: [(&[u8], &str); 5] = [
        (b"GET /missing HTTP/1.1\r\n\r\n", "HTTP/1.1 404 "),
        (b"DELETE /items HTTP/1.1\r\n\r\n", "HTTP/1.1 405 "),
        (b"garbage\r\n\r\n", "HTTP/1.1 400 "),
        (b"\xff\xfe\r\n\r\n", "HTTP/1.1 400 "),
        (b"HEAD /items HTTP/1.0\r\n\r\n", "HTTP/1.1 200 "),
    ];
    for (req, want) in cases {
        let resp = raw(store, req);
        assert!(resp.starts_with(want), "{req:?} -> {resp}");
    }
    let head = raw(store, b"HEAD /items HTTP/1.1\r\n\r\n");
    assert!(
        head.ends_with("\r\n\r\n"),
        "HEAD must not carry a body: {head}"
    );

    let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 9000));
    huge.extend_from_slice(b"\r\n\r\n");
    assert!(raw(store, &huge).starts_with("HTTP/1.1 431 "));
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let store = spawn(Role::Store, "127.0.0.1:0", "").expect("store");
    // Idle connections each occupy a handler thread (blocked reading the head).
    let held: Vec<TcpStream> = (0..bulkhead_demo::server::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect_timeout(&store, T).expect("connect"))
        .collect();
    // Give the accept loop time to take all of them.
    let mut busy = String::new();
    for _ in 0..50 {
        busy = raw(store, b"GET /healthz HTTP/1.1\r\n\r\n");
        if busy.starts_with("HTTP/1.1 503 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(busy.starts_with("HTTP/1.1 503 "), "{busy}");
    drop(held);
    let mut ok = String::new();
    for _ in 0..50 {
        ok = raw(store, b"GET /healthz HTTP/1.1\r\n\r\n");
        if ok.starts_with("HTTP/1.1 200 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
}
