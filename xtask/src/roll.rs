//! `bench deploy`'s roll under load: a service replaced again and again while four request
//! loops in a caller container call it by name; the requests that failed, Bulkhead's `up`
//! against docker-compose's `up -d` on the same file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};

use crate::run;

/// How many times the service is replaced per tool.
pub const ROLLS: u32 = 20;
/// Request loops running during the rolls.
const LOOPS: usize = 4;

const COMPOSE: &str = r#"services:
  caller:
    build:
      context: ./image
    command: ["web", "--listen", "0.0.0.0:8080"]
    environment:
      API_URL: http://store:8082
    user: "10001:10001"
    read_only: true
    init: true
    depends_on:
      store:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "/bulkhead-demo", "probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
  store:
    build:
      context: ./image
    command: ["store"]
    environment:
      ROLL: "0"
    user: "10001:10001"
    read_only: true
    init: true
    healthcheck:
      test: ["CMD", "/bulkhead-demo", "probe", "http://127.0.0.1:8082/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
"#;

/// Requests made and failed (and slow: over 1 s) by the loops during the rolls.
#[derive(Default)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub slow: u64,
}

/// Measure both tools; `work` holds a copy of `examples/` (the demo image context).
pub fn measure(work: &Path, bin: &Path, state: &Path) -> anyhow::Result<(Tally, Tally)> {
    let file = work.join("examples/shop/roll.yaml");
    std::fs::write(&file, COMPOSE)?;
    let bh = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .arg("-f")
            .arg(&file)
            .args(["-p", "benchroll", "-q", "--state-dir"])
            .arg(state);
        c
    };
    run(&mut bh(&["up"]))?;
    let bulkhead = under_load(&file, "benchroll-caller-1", || run(&mut bh(&["up"])))?;
    run(&mut bh(&["down"]))?;
    std::fs::write(&file, COMPOSE)?;
    let dc = |args: &[&str]| {
        let mut c = Command::new("docker-compose");
        c.arg("-f")
            .arg(&file)
            .args(["-p", "benchrolldc"])
            .args(args);
        c
    };
    run(&mut dc(&["build", "-q"]))?;
    run(&mut dc(&["up", "-d", "--no-build"]))?;
    crate::wait_compose_healthy_in("benchrolldc", 2)?;
    let compose = under_load(&file, "benchrolldc_caller_1", || {
        run(&mut dc(&["up", "-d", "--no-build", "--no-deps", "store"]))?;
        crate::wait_compose_healthy_in("benchrolldc", 2)
    });
    run(&mut dc(&["down"]))?;
    Ok((bulkhead, compose?))
}

/// Start the loops in `caller`, roll `ROLLS` times with `roll` (after changing the file),
/// stop the loops and add up what they counted.
fn under_load(
    file: &Path,
    caller: &str,
    mut roll: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Tally> {
    let mut loops = Vec::new();
    for _ in 0..LOOPS {
        loops.push(start_loop(caller)?);
    }
    for n in 1..=ROLLS {
        let text = std::fs::read_to_string(file)?;
        std::fs::write(
            file,
            text.replacen(
                &format!("ROLL: \"{}\"", n - 1),
                &format!("ROLL: \"{n}\""),
                1,
            ),
        )?;
        roll()?;
    }
    let mut tally = Tally::default();
    for (child, out) in loops {
        let t = finish_loop(child, out)?;
        tally.ok += t.ok;
        tally.failed += t.failed;
        tally.slow += t.slow;
    }
    Ok(tally)
}

fn start_loop(caller: &str) -> anyhow::Result<(Child, BufReader<ChildStdout>)> {
    let mut child = Command::new("docker")
        .args(["exec", "-i", caller, "/bulkhead-demo", "loop"])
        .arg("http://store:8082/items/slow")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("docker exec")?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if line.trim() != "started" {
        bail!("the loop in {caller} did not start: {line}");
    }
    Ok((child, out))
}

fn finish_loop(mut child: Child, out: BufReader<ChildStdout>) -> anyhow::Result<Tally> {
    drop(child.stdin.take());
    let summary: Vec<String> = out.lines().collect::<Result<_, _>>()?;
    child.wait()?;
    let first = summary.first().context("no tally")?;
    for line in &summary {
        eprintln!("  loop: {line}");
    }
    let field = |name: &str| -> anyhow::Result<u64> {
        first
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no {name}= in {first}"))
    };
    Ok(Tally {
        ok: field("ok")?,
        failed: field("failed")?,
        slow: field("slow")?,
    })
}

/// The table of the roll under load.
pub fn table(bulkhead: &Tally, compose: &Tally) -> String {
    let per_roll = |t: &Tally| t.failed as f64 / f64::from(ROLLS);
    let cell = |t: &Tally| {
        format!(
            "{} of {} ({:.1} per roll; {} slower than 1 s)",
            t.failed,
            t.ok + t.failed,
            per_roll(t),
            t.slow
        )
    };
    format!(
        "| roll under load ({ROLLS} rolls of one replica, {LOOPS} request loops in a caller) | failed requests |\n|---|---|\n| bulkhead up | {} |\n| docker-compose up -d | {} |\n",
        cell(bulkhead),
        cell(compose)
    )
}
