//! Replicas and a writable named volume: more than one is refused — by `up` before anything is
//! created, and by `scale` — unless the service declares `x-bulkhead: { share_volumes: true }`;
//! a read-only mount of the volume may be shared.

use super::Project;

const SPEC: &str = r#"services:
  web:
    image: bulkhead-test/nginx:1
    user: nginx
    tmpfs: [/var/cache/nginx, /var/run/nginx]
    volumes:
      - static:/usr/share/nginx/html/static
    deploy:
      replicas: 2
    healthcheck:
      test: ["CMD", "test", "-s", "/var/run/nginx/nginx.pid"]
      interval: 1s
      timeout: 2s
      retries: 5
volumes:
  static: {}
"#;

const MOUNT: &str = "      - static:/usr/share/nginx/html/static\n";

#[test]
fn replicas_of_a_service_with_a_writable_volume_are_refused_unless_it_shares_volumes() {
    let p = Project::new("sc", SPEC);
    // In the spec, it is an error of the spec (file:line:column, exit 2).
    let err = p.fails_with(&["up", "-q"], 2);
    assert!(
        err.contains("share_volumes"),
        "the refusal names the fix: {err}"
    );
    assert!(p.containers().is_empty(), "a refused up created containers");

    // Read-only, the volume may be shared.
    p.edit(MOUNT, "      - static:/usr/share/nginx/html/static:ro\n");
    p.up();
    assert_eq!(p.running("web").len(), 2);

    // Writable with one replica: fine; `scale` to two is refused and changes nothing.
    p.edit(":ro\n", "\n");
    p.edit("replicas: 2", "replicas: 1");
    p.up();
    let one = p.only("web");
    let err = p.fails(&["scale", "web", "2"]);
    assert!(
        err.contains("share_volumes"),
        "the refusal names the fix: {err}"
    );
    assert_eq!(
        p.only("web")["Id"],
        one["Id"],
        "a refused scale changed web"
    );

    // Declared: two replicas on one volume.
    p.edit(
        "replicas: 1\n",
        "replicas: 2\n    x-bulkhead:\n      share_volumes: true\n",
    );
    p.up();
    let web = p.running("web");
    assert_eq!(web.len(), 2);
    for c in &web {
        let static_mount = c["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["Destination"] == "/usr/share/nginx/html/static")
            .unwrap_or_else(|| panic!("{}: {:#}", c["Name"], c["Mounts"]));
        assert_eq!(static_mount["Name"], format!("{}-static", p.name));
        assert_eq!(static_mount["RW"], true);
    }
}
