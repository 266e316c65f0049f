//! Project tasks. `bench deploy`: Bulkhead's `up`/`down` against raw Docker API calls and
//! Debian's docker-compose, measured in the same run, a fifty-service project against
//! docker-compose, and a roll under load (failed requests); prints medians and ratios and,
//! with `--write`, records them in docs/BENCHMARKS.md. `--only small|fifty|roll` runs one case.
//! `lab up N|down|status|load`: an N-node Docker Swarm on this machine (lab/mod.rs).

mod api;
mod fifty;
mod lab;
mod raw;
mod roll;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

struct Args {
    runs: usize,
    write: bool,
    /// Run only this case: `small` (one service and the shop), `fifty`, `roll`.
    only: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("lab") {
        if let Err(e) = lab::main(&argv[1..]) {
            eprintln!("lab: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    if argv.first().map(String::as_str) == Some("bench")
        && argv.get(1).map(String::as_str) == Some("api")
    {
        return bench_api_args(&argv[2..]);
    }
    if argv.first().map(String::as_str) != Some("bench")
        || argv.get(1).map(String::as_str) != Some("deploy")
    {
        bail!(
            "usage: cargo run --release -p xtask -- bench deploy [--runs N] [--write] [--only small|fifty|roll]\n       cargo run --release -p xtask -- bench api [--seconds N] [--connections N] [--write]\n       cargo run -p xtask -- lab up N|down|status|load IMAGE..."
        );
    }
    let mut args = Args {
        runs: 5,
        write: false,
        only: None,
    };
    let mut rest = argv[2..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--runs" => {
                args.runs = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("--runs needs a number")?
            }
            "--write" => args.write = true,
            "--only" => {
                let case = rest.next().context("--only needs small, fifty or roll")?;
                if !matches!(case.as_str(), "small" | "fifty" | "roll") {
                    bail!("--only takes small, fifty or roll, not {case}");
                }
                args.only = Some(case.clone());
            }
            other => bail!("unknown argument {other}"),
        }
    }
    bench_deploy(&args)
}

fn bench_api_args(argv: &[String]) -> anyhow::Result<()> {
    let mut args = api::ApiArgs {
        seconds: 5,
        connections: 64,
        write: false,
    };
    let mut rest = argv.iter();
    while let Some(a) = rest.next() {
        let mut number = |what: &str| -> anyhow::Result<u64> {
            rest.next()
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("{what} needs a number"))
        };
        match a.as_str() {
            "--seconds" => args.seconds = number("--seconds")?,
            "--connections" => args.connections = number("--connections")? as usize,
            "--write" => args.write = true,
            other => bail!("unknown argument {other}"),
        }
    }
    api::bench_api(&args)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn timed(cmd: &mut Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    run(cmd)?;
    Ok(start.elapsed())
}

/// One app under test: a copy of an example with its own names and ports.
struct App {
    label: &'static str,
    file: PathBuf,
    services: usize,
}

fn prepare(work: &Path) -> anyhow::Result<(PathBuf, Vec<App>)> {
    let root = root();
    if !root.join("examples/shop/image/bulkhead-demo").exists() {
        run(Command::new("bash").arg(root.join("examples/shop/build.sh")))?;
    }
    run(Command::new("cargo")
        .args(["build", "--release", "-p", "bulkhead-cli"])
        .current_dir(&root))?;
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        run(Command::new("apt-get").args(["install", "-y", "-q", "docker-compose"]))?;
    }
    run(Command::new("cp")
        .arg("-r")
        .arg(root.join("examples"))
        .arg(work))?;
    let bin = root.join("target/release/bulkhead");
    let apps = vec![
        App {
            label: "one service",
            file: work.join("examples/shop/one.yaml"),
            services: 1,
        },
        App {
            label: "shop (3 services)",
            file: work.join("examples/shop/compose.yaml"),
            services: 3,
        },
    ];
    Ok((bin, apps))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[derive(Default)]
struct Figures {
    bh_up: Vec<Duration>,
    bh_noop: Vec<Duration>,
    bh_down: Vec<Duration>,
    raw_up: Vec<Duration>,
    raw_down: Vec<Duration>,
    dc_up: Vec<Duration>,
    dc_down: Vec<Duration>,
}

fn bench_deploy(args: &Args) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bulkhead-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = bench_cases(args, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn bench_cases(args: &Args, work: &Path) -> anyhow::Result<()> {
    let (bin, apps) = prepare(work)?;
    let wanted = |case: &str| args.only.as_deref().is_none_or(|only| only == case);
    if wanted("fifty") {
        let f = fifty::measure(work, &bin, &work.join("fifty-state"), args.runs)?;
        let table = fifty::table(&f);
        println!("{table}");
        if args.write {
            write_section(
                "deploy-fifty",
                &format!("Medians of {} runs, {}.\n\n{table}", args.runs, machine()),
            )?;
        }
    }
    if wanted("roll") {
        let (bulkhead, compose) = roll::measure(work, &bin, &work.join("roll-state"))?;
        let rolls = roll::table(&bulkhead, &compose);
        println!("{rolls}");
        if args.write {
            write_section("deploy-roll", &format!("{}.\n\n{rolls}", machine()))?;
        }
    }
    if wanted("small") {
        let state = work.join("state");
        let rt = tokio::runtime::Runtime::new()?;
        let mut report = String::new();
        for app in &apps {
            let f = measure(app, &bin, &state, args.runs, &rt)?;
            report.push_str(&row(app, &f));
        }
        let table = format!(
            "| app | bulkhead up | raw API up | docker-compose up -d + healthy | up/raw | up/compose | no-op up | bulkhead down | raw down | compose down |\n|---|---|---|---|---|---|---|---|---|---|\n{report}"
        );
        println!("{table}");
        if args.write {
            write_benchmarks(&table, args.runs)?;
        }
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn row(app: &App, f: &Figures) -> String {
    let (up, raw, dc) = (
        median(f.bh_up.clone()),
        median(f.raw_up.clone()),
        median(f.dc_up.clone()),
    );
    format!(
        "| {} | {} | {} | {} | {:.2} (+{} ms) | {:.2} | {} | {} | {} | {} |\n",
        app.label,
        ms(up),
        ms(raw),
        ms(dc),
        up.as_secs_f64() / raw.as_secs_f64().max(1e-9),
        up.saturating_sub(raw).as_millis(),
        up.as_secs_f64() / dc.as_secs_f64().max(1e-9),
        ms(median(f.bh_noop.clone())),
        ms(median(f.bh_down.clone())),
        ms(median(f.raw_down.clone())),
        ms(median(f.dc_down.clone())),
    )
}

fn measure(
    app: &App,
    bin: &Path,
    state: &Path,
    runs: usize,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Figures> {
    let bh = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .arg("-f")
            .arg(&app.file)
            .args(["-p", "benchbh", "-q", "--state-dir"])
            .arg(state);
        c
    };
    let dc = |args: &[&str]| {
        let mut c = Command::new("docker-compose");
        c.arg("-f")
            .arg(&app.file)
            .args(["-p", "benchdc"])
            .args(args)
            .env("SHOP_PORT", "18380")
            .env("ONE_PORT", "18382");
        c
    };
    // Warm-up: images built, nothing measured.
    run(bh(&["up"])
        .env("SHOP_PORT", "18280")
        .env("ONE_PORT", "18282"))?;
    run(&mut bh(&["down"]))?;
    run(&mut dc(&["build", "-q"]))?;
    let mut f = Figures::default();
    for _ in 0..runs {
        f.bh_up.push(timed(
            bh(&["up"])
                .env("SHOP_PORT", "18280")
                .env("ONE_PORT", "18282"),
        )?);
        f.bh_noop.push(timed(
            bh(&["up"])
                .env("SHOP_PORT", "18280")
                .env("ONE_PORT", "18282"),
        )?);
        f.bh_down.push(timed(&mut bh(&["down"]))?);
        let (up, down) = rt.block_on(raw::cycle(&app.file, app.services))?;
        f.raw_up.push(up);
        f.raw_down.push(down);
        let start = Instant::now();
        run(&mut dc(&["up", "-d", "--no-build"]))?;
        wait_compose_healthy(app.services)?;
        f.dc_up.push(start.elapsed());
        f.dc_down.push(timed(&mut dc(&["down"]))?);
    }
    Ok(f)
}

/// docker-compose returns before its last service is healthy: poll until all are.
fn wait_compose_healthy(services: usize) -> anyhow::Result<()> {
    wait_compose_healthy_in("benchdc", services)
}

/// Poll until `services` containers of the Compose project `project` are healthy.
fn wait_compose_healthy_in(project: &str, services: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = Command::new("docker")
            .args([
                "ps",
                "--filter",
                format!("label=com.docker.compose.project={project}").as_str(),
                "--format",
                "{{.Status}}",
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.lines().filter(|l| l.contains("(healthy)")).count() == services {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("docker-compose services not healthy after 120 s: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_benchmarks(table: &str, runs: usize) -> anyhow::Result<()> {
    write_section(
        "deploy",
        &format!("Medians of {runs} runs, {}.\n\n{table}", machine()),
    )
}

/// Replace the text between `<!-- bench NAME: begin -->` and its end marker in
/// docs/BENCHMARKS.md (appended when the markers are missing).
fn write_section(name: &str, body: &str) -> anyhow::Result<()> {
    let path = root().join("docs/BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = (
        format!("<!-- bench {name}: begin -->"),
        format!("<!-- bench {name}: end -->"),
    );
    let (begin, end) = (begin.as_str(), end.as_str());
    let section = format!("{begin}\n{body}{end}");
    let new = match (text.find(begin), text.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{text}\n{section}\n"),
    };
    std::fs::write(&path, new)?;
    println!("recorded in {}", path.display());
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let docker = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpus} cores ({model}), Docker Engine {docker}")
}
