//! Availability under abuse, over the real HTTPS listener on loopback: a brute-force flood of
//! bad tokens from one address does not lock a valid token out from that address, and one
//! client holding every connection it can does not starve another.

use std::time::Duration;

use bulkhead_app::api::dispatch::MAX_FAILURES;
use bulkhead_app::server::listen::Limits;
use bulkhead_core::auth::{Role, Scope};

use super::https::{ME, OTHER, body, https, status};
use super::support::server;

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_is_served_during_a_brute_force_flood_from_the_same_address() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let api = https(&srv, Limits::default()).await;
    let mut statuses = Vec::new();
    for i in 0..MAX_FAILURES + 5 {
        let guess = format!("bhk_{i:016x}_{}", "0".repeat(64));
        statuses.push(status(&api.get(ME, "/v1/projects", Some(&guess), "").await));
    }
    let limit = MAX_FAILURES as usize;
    assert!(statuses[..limit].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[limit..].iter().all(|s| *s == 429), "{statuses:?}");
    let response = api.get(ME, "/v1/projects", Some(&admin), "").await;
    assert_eq!(status(&response), 200, "{response}");
    // Bad tokens from there are still limited, with the error shape.
    let forged = format!("{}0000", &admin[..admin.len() - 4]);
    let response = api.get(ME, "/v1/projects", Some(&forged), "").await;
    assert_eq!(status(&response), 429, "{response}");
    assert_eq!(body(&response)["error"]["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_is_served_while_another_client_holds_its_connection_maximum() {
    let srv = server().await;
    let admin = srv.account("root", &[(Role::Admin, Scope::All)]).await;
    let per_client = 64;
    let extra = 8;
    // A global cap the flood could fill on its own without the per-client limit.
    let limits = Limits {
        max_connections: per_client + extra,
        max_connections_per_client: per_client,
        handshake_timeout: Duration::from_secs(600),
        header_read_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let api = https(&srv, limits).await;
    let mut held = Vec::new();
    for _ in 0..per_client {
        held.push(
            api.connect(OTHER)
                .await
                .expect("within the per-client limit"),
        );
    }
    // Every connection over the limit is closed as soon as it is accepted: no handshake.
    for i in 0..extra {
        let refused = api.connect(OTHER).await;
        assert!(
            refused.is_err(),
            "connection {} over the limit was served",
            i + 1
        );
    }
    let stats = &srv.api.listener;
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.connections_open, per_client as u64, "{snapshot:?}");
    assert_eq!(
        snapshot.rejected.over_client_limit, extra as u64,
        "{snapshot:?}"
    );
    // The admin, from another address, is served while the flood still holds its slots.
    let response = api.get(ME, "/v1/status", Some(&admin), "").await;
    assert_eq!(status(&response), 200, "{response}");
    let listener = &body(&response)["listener"];
    assert_eq!(
        listener["rejected"]["over_client_limit"], extra,
        "{response}"
    );
    assert_eq!(held.len(), per_client);
}
