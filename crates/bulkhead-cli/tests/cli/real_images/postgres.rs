//! PostgreSQL on a named volume, started as the official image starts it (its password from a
//! secret file): a row survives ten rollouts (a changed environment and a new secret version,
//! in turn), a `down` and `up`, and is gone only after `down --volumes`; `plan` states the
//! stop-first gap; and the engine's events show that no database container ever started while
//! another one of the project was running.

use std::collections::BTreeSet;
use std::time::Duration;

use super::events::Events;
use super::{Project, exec, id_of};
use crate::support::text;

const SPEC: &str = r#"services:
  db:
    image: bulkhead-test/postgres:15
    user: postgres
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/pgpass
      ROUND: "0"
    secrets: [pgpass]
    tmpfs: [/var/run/postgresql]
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
      interval: 1s
      timeout: 2s
      retries: 10
volumes:
  pgdata: {}
secrets:
  pgpass:
    external: true
"#;

/// `psql -tA -c SQL` in the database container; its output, trimmed.
fn psql(db: &serde_json::Value, sql: &str) -> String {
    let out = exec(
        db,
        &[
            "psql",
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
        ],
    );
    assert!(
        out.status.success(),
        "psql {sql:?} in {}: {}",
        db["Name"],
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

const ROW: &str = "SELECT v FROM kept";

#[test]
fn a_database_on_a_named_volume_rolls_stop_first_and_keeps_its_row_until_down_volumes() {
    let p = Project::new("pg", SPEC);
    p.secret_set("pgpass", "first password");
    let events = Events::watch(&p.name);
    p.up();
    let mut db = p.only("db");
    psql(
        &db,
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')",
    );
    let volume = format!("{}-pgdata", p.name);
    assert_eq!(p.volumes(), std::slice::from_ref(&volume));

    for round in 1..=10 {
        if round % 2 == 1 {
            // The environment changes on odd rounds: from the last one's value.
            p.edit(
                &format!("ROUND: \"{}\"", round.max(2) - 2),
                &format!("ROUND: \"{round}\""),
            );
            if round == 1 {
                // The plan says why the database cannot roll start-first.
                let deploys = p.planned_replacements("db");
                assert_eq!(deploys.len(), 1, "{deploys:#?}");
                let why = deploys[0]["stop_first"].as_str().unwrap_or_default();
                assert!(!why.is_empty(), "no stop_first reason: {:#}", deploys[0]);
            }
        } else {
            p.secret_set("pgpass", &format!("password of round {round}"));
        }
        p.up();
        let now = p.only("db");
        assert_ne!(id_of(&now), id_of(&db), "round {round}: db was rolled");
        assert_eq!(psql(&now, ROW), "still here", "round {round}");
        db = now;
    }

    // Down keeps the volume; up finds the row again.
    p.ok(&["down", "-q"]);
    assert!(p.containers().is_empty(), "containers left after down");
    assert_eq!(
        p.volumes(),
        std::slice::from_ref(&volume),
        "down keeps the volume"
    );
    p.up();
    assert_eq!(psql(&p.only("db"), ROW), "still here", "after down and up");

    // Down --volumes removes it: a fresh database, without the table.
    p.ok(&["down", "--volumes", "-q"]);
    assert!(p.volumes().is_empty(), "volumes left after down --volumes");
    p.up();
    assert_eq!(
        psql(&p.only("db"), "SELECT to_regclass('public.kept') IS NULL"),
        "t",
        "the table outlived down --volumes"
    );

    // 1 + 10 + 1 + 1 database starts, never one while another database container ran.
    let mut running = BTreeSet::new();
    let mut starts = 0;
    while starts < 13 {
        let Some(e) = events.next(Duration::from_secs(30)) else {
            panic!("only {starts} database starts seen");
        };
        if e.service != "db" {
            continue;
        }
        match e.action.as_str() {
            "start" => {
                let others: Vec<&String> = running.iter().filter(|id| **id != e.id).collect();
                assert!(
                    others.is_empty(),
                    "{} started while {others:?} ran on the same volume",
                    e.name
                );
                running.insert(e.id);
                starts += 1;
            }
            "die" | "destroy" => {
                running.remove(&e.id);
            }
            _ => {}
        }
    }
}
