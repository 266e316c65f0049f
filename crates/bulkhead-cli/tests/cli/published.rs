//! A published service with a fixed host port cannot run two replicas side by side (the engine
//! holds the port for one): a change to it is rolled stop-first, and later `up`s keep working.

use super::deploy::up;
use super::support::{Shop, ids_by_service};

#[test]
fn a_published_service_on_a_fixed_port_is_replaced_stop_first() {
    let shop = Shop::new("f");
    up(&shop);
    let before = ids_by_service(&shop.containers());
    shop.edit(
        "    command: [\"web\"]",
        "    command: [\"web\"]\n    labels:\n      revision: \"2\"",
    );
    let second = up(&shop);
    assert!(
        second.contains("1 container(s) started, 1 removed"),
        "{second}"
    );
    let after = ids_by_service(&shop.containers());
    assert_ne!(after["web"], before["web"], "web was replaced");
    assert_eq!(after["api"], before["api"], "api was left alone");
    let (status, body) = shop.get("/").expect("web answers on its fixed port");
    assert_eq!(status, 200, "{body}");
    // Nothing left behind: one web replica, and the next up is a no-op.
    assert_eq!(after["web"].len(), 1);
    let third = up(&shop);
    assert!(third.contains("up to date, nothing changed"), "{third}");
}
