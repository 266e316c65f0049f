//! Unit tests of the ensure/remove/list logic against an in-memory iptables.

use super::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// A tiny iptables: chains of rules (argument vectors) in the filter table, a log of the
/// commands it ran, and the state after every change. Implements what `Firewall` uses: -S,
/// -N, -F, -X, -C, -I, -A, -D.
#[derive(Debug, Clone, Default)]
struct FakeIptables {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    chains: Chains,
    log: Vec<String>,
    /// The chains after each successful change, oldest first.
    history: Vec<Chains>,
    /// How many more `-C FORWARD ...` find nothing (dockerd is moving the jump).
    forward_gap: usize,
}

type Chains = BTreeMap<String, Vec<Vec<String>>>;

const BUILTIN: [&str; 3] = ["INPUT", "FORWARD", "OUTPUT"];

impl FakeIptables {
    /// A host where dockerd has run: DOCKER-USER with its RETURN, jumped to from FORWARD.
    fn docker_host() -> Self {
        let fake = Self::bare();
        fake.set("DOCKER-USER", &["-j RETURN"]);
        fake.set(
            "FORWARD",
            &["-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1"],
        );
        fake
    }

    /// Only the built-in chains, all empty.
    fn bare() -> Self {
        let fake = Self::default();
        for c in BUILTIN {
            fake.set(c, &[]);
        }
        fake
    }

    fn set(&self, chain: &str, rules: &[&str]) {
        let rules = rules
            .iter()
            .map(|r| r.split(' ').map(str::to_string).collect())
            .collect();
        self.lock().chains.insert(chain.to_string(), rules);
    }

    /// The rules of a chain, each joined by spaces.
    fn rules(&self, chain: &str) -> Vec<String> {
        self.lock()
            .chains
            .get(chain)
            .map(|rs| rs.iter().map(|r| r.join(" ")).collect())
            .unwrap_or_default()
    }

    /// Takes the states recorded after each change.
    fn take_history(&self) -> Vec<Chains> {
        std::mem::take(&mut self.lock().history)
    }

    /// Drops `NEW` packet from `bridge` to `to`, inside the bridge, in the current state?
    fn drops_new(&self, bridge: &str, to: Ipv4Addr) -> bool {
        drops(&self.lock().chains, &Packet::new(bridge, bridge, to, "NEW"))
    }

    /// Takes the command log (operation and chain of each command).
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn output(code: i32, stdout: String) -> RunOutput {
    RunOutput {
        code: Some(code),
        stdout,
        stderr: if code == 0 {
            String::new()
        } else {
            "iptables: fake failure.".into()
        },
    }
}

/// `-A CHAIN RULE...` as iptables prints it: the comment in quotes.
fn listing_line(chain: &str, rule: &[String]) -> String {
    let mut out = format!("-A {chain}");
    let mut words = rule.iter();
    while let Some(word) = words.next() {
        out.push(' ');
        out.push_str(word);
        if word == "--comment"
            && let Some(c) = words.next()
        {
            out.push_str(&format!(" \"{}\"", c.replace('"', "\\\"")));
        }
    }
    out.push('\n');
    out
}

/// The chain a rule jumps or goes to.
fn target_of(rule: &[String]) -> Option<&str> {
    rule.windows(2)
        .rev()
        .find(|w| w[0] == "-j" || w[0] == "-g")
        .map(|w| w[1].as_str())
}

impl FakeState {
    fn referenced(&self, chain: &str) -> bool {
        self.chains
            .values()
            .flatten()
            .any(|r| target_of(r) == Some(chain))
    }

    /// Like iptables: a target is a standard verdict or an existing chain.
    fn valid_target(&self, rule: &[String]) -> bool {
        target_of(rule).is_none_or(|t| {
            ["ACCEPT", "DROP", "RETURN", "REJECT"].contains(&t)
                || (self.chains.contains_key(t) && !BUILTIN.contains(&t))
        })
    }

    /// `iptables -S`: policies, user chains, then the rules chain by chain.
    fn list_all(&self) -> String {
        let mut out = String::new();
        for c in BUILTIN.iter().filter(|c| self.chains.contains_key(**c)) {
            out.push_str(&format!("-P {c} ACCEPT\n"));
        }
        for c in self
            .chains
            .keys()
            .filter(|c| !BUILTIN.contains(&c.as_str()))
        {
            out.push_str(&format!("-N {c}\n"));
        }
        let builtin = BUILTIN.iter().map(|c| c.to_string());
        let user = self
            .chains
            .keys()
            .filter(|c| !BUILTIN.contains(&c.as_str()))
            .cloned();
        for c in builtin.chain(user) {
            for rule in self.chains.get(&c).into_iter().flatten() {
                out.push_str(&listing_line(&c, rule));
            }
        }
        out
    }
}

impl Exec for FakeIptables {
    fn program(&self) -> String {
        "fake-iptables".into()
    }

    fn run(&self, args: &[String]) -> std::io::Result<RunOutput> {
        fake_run(&mut self.lock(), args)
    }

    fn restore_program(&self) -> String {
        "fake-iptables-restore".into()
    }

    /// Applies the script's commands in order; on the first failure every change is undone
    /// (one transaction), and the history records one state per successful script.
    fn restore(&self, script: &str) -> std::io::Result<RunOutput> {
        let mut st = self.lock();
        st.log.push("restore".into());
        let (saved, history_len) = (st.chains.clone(), st.history.len());
        let mut lines = script.lines();
        assert_eq!(lines.next(), Some("*filter"));
        for line in lines {
            if line == "COMMIT" {
                break;
            }
            let mut args = vec!["-w".to_string(), "-t".to_string(), "filter".to_string()];
            args.extend(line.split(' ').map(|w| w.trim_matches('"').to_string()));
            let out = fake_run(&mut st, &args)?;
            if out.code != Some(0) {
                st.chains = saved;
                st.history.truncate(history_len);
                return Ok(output(1, String::new()));
            }
        }
        st.history.truncate(history_len);
        let snapshot = st.chains.clone();
        st.history.push(snapshot);
        Ok(output(0, String::new()))
    }
}

fn fake_run(st: &mut FakeState, args: &[String]) -> std::io::Result<RunOutput> {
    {
        let [w, t, filter, op, rest @ ..] = args else {
            return Ok(output(2, String::new()));
        };
        assert_eq!(
            (w.as_str(), t.as_str(), filter.as_str()),
            ("-w", "-t", "filter")
        );
        let [chain, rest @ ..] = rest else {
            if op == "-S" {
                st.log.push("-S *".into());
                let mut listing = st.list_all();
                if st.forward_gap > 0 {
                    st.forward_gap -= 1;
                    listing = listing.replace("-A FORWARD -j DOCKER-USER\n", "");
                }
                return Ok(output(0, listing));
            }
            return Ok(output(2, String::new()));
        };
        st.log.push(format!("{op} {chain}"));
        let exists = st.chains.contains_key(chain);
        let code = match op.as_str() {
            "-S" if exists => {
                let mut out = if BUILTIN.contains(&chain.as_str()) {
                    format!("-P {chain} ACCEPT\n")
                } else {
                    format!("-N {chain}\n")
                };
                for rule in &st.chains[chain] {
                    out.push_str(&listing_line(chain, rule));
                }
                return Ok(output(0, out));
            }
            "-N" if !exists => {
                st.chains.insert(chain.clone(), Vec::new());
                0
            }
            "-F" if exists => {
                st.chains.get_mut(chain).expect("exists").clear();
                0
            }
            "-X" if exists => {
                if BUILTIN.contains(&chain.as_str()) {
                    2
                } else if st.referenced(chain) || !st.chains[chain].is_empty() {
                    4
                } else {
                    st.chains.remove(chain);
                    0
                }
            }
            "-C" if chain == "FORWARD" && st.forward_gap > 0 => {
                st.forward_gap -= 1;
                1
            }
            "-C" if exists => i32::from(!st.chains[chain].iter().any(|r| r == rest)),
            "-A" | "-I" if exists && !st.valid_target(rest) => 2,
            "-A" if exists => {
                st.chains
                    .get_mut(chain)
                    .expect("exists")
                    .push(rest.to_vec());
                0
            }
            "-I" if exists => {
                let (pos, spec) = rest.split_first().expect("position");
                let pos: usize = pos.parse().expect("numeric position");
                st.chains
                    .get_mut(chain)
                    .expect("exists")
                    .insert(pos - 1, spec.to_vec());
                0
            }
            "-D" if exists => {
                let rules = st.chains.get_mut(chain).expect("exists");
                match rules.iter().position(|r| r == rest) {
                    Some(i) => {
                        rules.remove(i);
                        0
                    }
                    None => 1,
                }
            }
            "-S" | "-N" | "-F" | "-X" | "-C" | "-A" | "-I" | "-D" => 1,
            _ => 2,
        };
        if code == 0 && ["-N", "-F", "-X", "-A", "-I", "-D"].contains(&op.as_str()) {
            let snapshot = st.chains.clone();
            st.history.push(snapshot);
        }
        Ok(output(code, String::new()))
    }
}

/// A forwarded packet, as far as our rules look at it.
#[derive(Debug)]
struct Packet<'a> {
    inp: &'a str,
    out: &'a str,
    dst: Ipv4Addr,
    ctstate: &'a str,
}

impl<'a> Packet<'a> {
    fn new(inp: &'a str, out: &'a str, dst: Ipv4Addr, ctstate: &'a str) -> Self {
        Self {
            inp,
            out,
            dst,
            ctstate,
        }
    }

    /// Evaluates the matches of a rule (the ones our rules use; others panic).
    fn matches(&self, rule: &[String]) -> bool {
        let mut words = rule.iter().map(String::as_str);
        let mut negate = false;
        while let Some(word) = words.next() {
            let mut value = || words.next().expect("option value");
            let hit = match word {
                "!" => {
                    negate = true;
                    continue;
                }
                "-m" => {
                    value();
                    continue;
                }
                "--comment" => {
                    value();
                    continue;
                }
                "-j" | "-g" => return true,
                "-i" => value() == self.inp,
                "-o" => value() == self.out,
                "-d" => value() == format!("{}/32", self.dst),
                "--ctstate" => value().split(',').any(|s| s == self.ctstate),
                other => panic!("the fake cannot evaluate {other:?}"),
            };
            if hit == negate {
                return false;
            }
            negate = false;
        }
        true
    }
}

enum Outcome {
    Drop,
    /// `RETURN`, or a chain reached with `-g` ended: back to the caller of `DOCKER-USER`.
    Return,
    FellOff,
}

fn run_chain(chains: &Chains, chain: &str, pkt: &Packet) -> Outcome {
    for rule in chains.get(chain).into_iter().flatten() {
        if !pkt.matches(rule) {
            continue;
        }
        let n = rule.len();
        match (rule[n - 2].as_str(), rule[n - 1].as_str()) {
            ("-j", "DROP") => return Outcome::Drop,
            ("-j", "RETURN" | "ACCEPT") => return Outcome::Return,
            ("-g", target) => {
                return match run_chain(chains, target, pkt) {
                    Outcome::Drop => Outcome::Drop,
                    Outcome::Return | Outcome::FellOff => Outcome::Return,
                };
            }
            ("-j", target) => {
                if let Outcome::Drop = run_chain(chains, target, pkt) {
                    return Outcome::Drop;
                }
            }
            other => panic!("the fake cannot evaluate target {other:?}"),
        }
    }
    Outcome::FellOff
}

/// Does `DOCKER-USER` drop the packet?
fn drops(chains: &Chains, pkt: &Packet) -> bool {
    matches!(run_chain(chains, "DOCKER-USER", pkt), Outcome::Drop)
}

const EGRESS_A: &str = "-i br-aaaaaaaaaaaa ! -o br-aaaaaaaaaaaa -m conntrack --ctstate NEW -m comment --comment bulkhead:shop:edge -j DROP";
const HOST_A: &str =
    "-i br-aaaaaaaaaaaa -m conntrack --ctstate NEW -m comment --comment bulkhead:shop:edge -j DROP";
const EGRESS_B: &str = "-i br-bbbbbbbbbbbb ! -o br-bbbbbbbbbbbb -m conntrack --ctstate NEW -m comment --comment bulkhead:shop:edge -j DROP";
const HOST_B: &str =
    "-i br-bbbbbbbbbbbb -m conntrack --ctstate NEW -m comment --comment bulkhead:shop:edge -j DROP";

fn fixture() -> (FakeIptables, Firewall) {
    let fake = FakeIptables::docker_host();
    (fake.clone(), Firewall::with_exec(fake))
}

#[test]
fn ensure_inserts_both_rules_at_the_top() {
    let (fake, fw) = fixture();
    fake.set("INPUT", &["-i lo -j ACCEPT"]);
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    assert_eq!(fake.rules("DOCKER-USER"), [EGRESS_A, "-j RETURN"]);
    assert_eq!(fake.rules("INPUT"), [HOST_A, "-i lo -j ACCEPT"]);
    assert_eq!(
        fake.rules("FORWARD"),
        ["-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1"],
        "the existing jump is left alone"
    );
}

#[test]
fn ensure_twice_changes_nothing_the_second_time() {
    let (fake, fw) = fixture();
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    fake.take_log();
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure again");
    let log = fake.take_log();
    assert!(
        log.iter()
            .all(|c| c.starts_with("-S ") || c.starts_with("-C ")),
        "only reads on the second ensure: {log:?}"
    );
    assert_eq!(fake.rules("DOCKER-USER"), [EGRESS_A, "-j RETURN"]);
    assert_eq!(fake.rules("INPUT"), [HOST_A]);
}

#[test]
fn ensure_with_a_new_bridge_replaces_the_old_rules() {
    let (fake, fw) = fixture();
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    fake.take_log();
    fw.ensure_egress_block("shop", "edge", "br-bbbbbbbbbbbb")
        .expect("ensure new bridge");
    assert_eq!(fake.rules("DOCKER-USER"), [EGRESS_B, "-j RETURN"]);
    assert_eq!(fake.rules("INPUT"), [HOST_B]);
    let log = fake.take_log();
    assert_eq!(
        log.iter().filter(|c| *c == "restore").count(),
        1,
        "old rules out and new rules in as one transaction (no gap): {log:?}"
    );
    assert_eq!(fake.take_history().len(), 2, "one state per ensure");
}

#[test]
fn ensure_collapses_duplicates_and_moves_rules_before_return() {
    let (fake, fw) = fixture();
    fake.set("DOCKER-USER", &["-j RETURN", EGRESS_A]);
    fake.set("INPUT", &[HOST_A, "-i lo -j ACCEPT", HOST_A]);
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    assert_eq!(fake.rules("DOCKER-USER"), [EGRESS_A, "-j RETURN"]);
    assert_eq!(fake.rules("INPUT"), [HOST_A, "-i lo -j ACCEPT"]);
}

#[test]
fn ensure_creates_docker_user_and_the_forward_jump_when_missing() {
    let fake = FakeIptables::bare();
    fake.set("FORWARD", &["-j ACCEPT"]);
    let fw = Firewall::with_exec(fake.clone());
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    assert_eq!(fake.rules("DOCKER-USER"), [EGRESS_A, "-j RETURN"]);
    assert_eq!(fake.rules("FORWARD"), ["-j DOCKER-USER", "-j ACCEPT"]);
}

#[test]
fn a_jump_that_dockerd_is_moving_is_not_duplicated() {
    let (fake, fw) = fixture();
    fake.lock().forward_gap = 3;
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    assert_eq!(
        fake.rules("FORWARD"),
        ["-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1"]
    );
    let log = fake.take_log();
    assert_eq!(
        log.iter().filter(|c| *c == "-C FORWARD").count(),
        3,
        "{log:?}"
    );
}

#[test]
fn a_missing_jump_is_inserted_after_a_while() {
    let (fake, fw) = fixture();
    fake.set("FORWARD", &["-j DOCKER-ISOLATION-STAGE-1"]);
    fw.restrict_ingress("shop", "db-in", DB_BR, &[O])
        .expect("restrict");
    assert_eq!(
        fake.rules("FORWARD"),
        ["-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1"]
    );
}

#[test]
fn ensure_keeps_other_networks_and_foreign_rules() {
    let (fake, fw) = fixture();
    fake.set("DOCKER-USER", &["-s 10.0.0.0/8 -j DROP", "-j RETURN"]);
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure edge");
    fw.ensure_egress_block("shop", "admin", "br-cccccccccccc")
        .expect("ensure admin");
    fw.ensure_egress_block("blog", "edge", "br-dddddddddddd")
        .expect("ensure blog");
    let rules = fake.rules("DOCKER-USER");
    assert_eq!(rules.len(), 5, "{rules:?}");
    assert!(rules.contains(&EGRESS_A.to_string()));
    assert!(rules.contains(&"-s 10.0.0.0/8 -j DROP".to_string()));
    assert_eq!(rules.last().map(String::as_str), Some("-j RETURN"));
}

#[test]
fn list_reports_rules_of_one_project() {
    let (_, fw) = fixture();
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    fw.ensure_egress_block("shop", "admin", "br-cccccccccccc")
        .expect("ensure");
    fw.ensure_egress_block("shopping", "edge", "br-dddddddddddd")
        .expect("ensure");
    let rules = fw.list("shop").expect("list");
    let summary: Vec<_> = rules
        .iter()
        .map(|r| format!("{:?} {} {}", r.kind, r.network, r.bridge))
        .collect();
    assert_eq!(
        summary,
        [
            "ForwardedEgress admin br-cccccccccccc",
            "ForwardedEgress edge br-aaaaaaaaaaaa",
            "HostAccess admin br-cccccccccccc",
            "HostAccess edge br-aaaaaaaaaaaa",
        ]
    );
    assert!(rules.iter().all(|r| r.project == "shop"));
    assert_eq!(fw.list("nothing").expect("list"), vec![]);
}

#[test]
fn list_without_docker_user_is_empty() {
    let fw = Firewall::with_exec(FakeIptables::bare());
    assert_eq!(fw.list("shop").expect("list"), vec![]);
    assert_eq!(fw.remove_project("shop").expect("remove"), 0);
}

#[test]
fn remove_takes_one_network_and_remove_project_the_rest() {
    let (fake, fw) = fixture();
    fw.ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect("ensure");
    fw.ensure_egress_block("shop", "admin", "br-cccccccccccc")
        .expect("ensure");
    fw.ensure_egress_block("blog", "edge", "br-dddddddddddd")
        .expect("ensure");
    assert_eq!(fw.remove("shop", "edge").expect("remove"), 2);
    assert_eq!(fw.remove("shop", "edge").expect("remove again"), 0);
    assert_eq!(fw.list("shop").expect("list").len(), 2);
    assert_eq!(fw.remove_project("shop").expect("remove project"), 2);
    assert_eq!(fw.list("shop").expect("list"), vec![]);
    assert_eq!(
        fw.list("blog").expect("list").len(),
        2,
        "other projects stay"
    );
    assert_eq!(
        fake.rules("DOCKER-USER").last().map(String::as_str),
        Some("-j RETURN")
    );
}

#[test]
fn remove_also_takes_tagged_rules_of_unexpected_shape() {
    let (fake, fw) = fixture();
    fake.set(
        "DOCKER-USER",
        &[
            EGRESS_A,
            EGRESS_A,
            "-m comment --comment bulkhead:shop:edge -j DROP",
            "-j RETURN",
        ],
    );
    assert_eq!(fw.list("shop").expect("list").len(), 2);
    assert_eq!(fw.remove("shop", "edge").expect("remove"), 3);
    assert_eq!(fake.rules("DOCKER-USER"), ["-j RETURN"]);
}

#[test]
fn invalid_input_runs_nothing() {
    let (fake, fw) = fixture();
    fake.take_log();
    for (p, n, b) in [
        ("Shop", "edge", "br-aaaaaaaaaaaa"),
        ("shop", "edge:x", "br-aaaaaaaaaaaa"),
        ("shop", "edge", "br+"),
        ("shop", "edge", "eth0; reboot"),
    ] {
        let err = fw.ensure_egress_block(p, n, b).expect_err("invalid");
        assert!(matches!(err, FirewallError::InvalidName { .. }), "{err}");
    }
    assert!(fw.remove("shop", "").is_err());
    assert!(fw.remove_project("-A").is_err());
    assert!(fw.list("a b").is_err());
    assert_eq!(fake.take_log(), Vec::<String>::new());
}

#[test]
fn command_failures_name_the_command() {
    #[derive(Debug)]
    struct Denied;
    impl Exec for Denied {
        fn program(&self) -> String {
            "iptables".into()
        }
        fn run(&self, _: &[String]) -> std::io::Result<RunOutput> {
            Ok(RunOutput {
                code: Some(4),
                stdout: String::new(),
                stderr: "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: \
                         Permission denied (you must be root)\n\
                         # Warning: iptables-legacy tables present, use iptables-legacy to see them\n"
                    .into(),
            })
        }
        fn restore_program(&self) -> String {
            "iptables-restore".into()
        }
        fn restore(&self, _: &str) -> std::io::Result<RunOutput> {
            Ok(RunOutput {
                code: Some(4),
                stdout: String::new(),
                stderr: "iptables-restore: line 2 failed\n".into(),
            })
        }
    }
    let err = Firewall::with_exec(Denied)
        .ensure_egress_block("shop", "edge", "br-aaaaaaaaaaaa")
        .expect_err("denied");
    assert_eq!(
        err.to_string(),
        "`iptables -w -t filter -S` failed (exit status 4): iptables v1.8.9 \
         (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)"
    );
}

#[test]
fn missing_program_is_a_spawn_error() {
    let fw = Firewall::with_program("/nonexistent/iptables");
    let err = fw.list("shop").expect_err("no program");
    assert!(matches!(err, FirewallError::Spawn { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot run /nonexistent/iptables: ")
    );
}

// ---------------------------------------------------------------------------------------------
// Ingress restriction

const DB_BR: &str = "br-dddddddddddd";
const O: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 2);
const O2: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 5);
const CALLER: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 3);

fn db_tag() -> String {
    tag("shop", "db-in")
}

fn db_slots() -> [String; 2] {
    ingress_chains("shop", "db-in")
}

fn jump_to(chain: &str) -> String {
    render_ingress_jump(DB_BR, &db_tag(), chain).join(" ")
}

fn chain_for(allowed: &[Ipv4Addr]) -> Vec<String> {
    render_ingress_chain(allowed, &[], DB_BR, &db_tag())
        .iter()
        .map(|r| r.join(" "))
        .collect()
}

/// The bulkhead chains present, by name.
fn bulkhead_chains(fake: &FakeIptables) -> Vec<String> {
    fake.lock()
        .chains
        .keys()
        .filter(|c| c.starts_with("BULKHEAD-"))
        .cloned()
        .collect()
}

fn restrict(fw: &Firewall, allowed: &[Ipv4Addr]) {
    fw.restrict_ingress("shop", "db-in", DB_BR, allowed)
        .expect("restrict_ingress");
}

#[test]
fn restrict_installs_a_chain_and_a_jump_before_return() {
    let (fake, fw) = fixture();
    let [a, _] = db_slots();
    fw.ensure_egress_block("shop", "db-in", DB_BR)
        .expect("ensure");
    restrict(&fw, &[O2, O, O2]);
    let egress = render(RuleKind::ForwardedEgress, DB_BR, &db_tag()).join(" ");
    assert_eq!(
        fake.rules("DOCKER-USER"),
        [jump_to(&a), egress, "-j RETURN".into()]
    );
    assert_eq!(
        fake.rules(&a),
        chain_for(&[O, O2]),
        "sorted, without duplicates, drop last"
    );
    assert_eq!(bulkhead_chains(&fake), [a]);
    assert_eq!(
        fw.ingress_allowed("shop", "db-in").expect("allowed"),
        Some(vec![O, O2])
    );
    assert_eq!(fw.ingress_allowed("shop", "edge").expect("allowed"), None);
    assert_eq!(fw.ingress_allowed("blog", "db-in").expect("allowed"), None);
    let kinds: Vec<_> = fw
        .list("shop")
        .expect("list")
        .into_iter()
        .map(|r| {
            assert_eq!((r.network.as_str(), r.bridge.as_str()), ("db-in", DB_BR));
            r.kind
        })
        .collect();
    assert_eq!(
        kinds,
        [
            RuleKind::ForwardedEgress,
            RuleKind::HostAccess,
            RuleKind::IngressAllow { to: O },
            RuleKind::IngressAllow { to: O2 },
            RuleKind::IngressDefaultDrop,
        ]
    );
}

#[test]
fn restricted_bridge_passes_only_new_connections_to_the_allowed() {
    let (fake, fw) = fixture();
    restrict(&fw, &[O]);
    let st = fake.lock();
    let pkt = |inp, out, to, state| drops(&st.chains, &Packet::new(inp, out, to, state));
    assert!(!pkt(DB_BR, DB_BR, O, "NEW"), "caller -> owner");
    assert!(pkt(DB_BR, DB_BR, CALLER, "NEW"), "owner -> caller");
    assert!(pkt(DB_BR, DB_BR, CALLER, "INVALID"), "unplaceable packet");
    assert!(pkt(DB_BR, DB_BR, CALLER, "UNTRACKED"), "untracked packet");
    assert!(
        !pkt(DB_BR, DB_BR, CALLER, "ESTABLISHED"),
        "replies of the owner"
    );
    assert!(
        !pkt(DB_BR, DB_BR, CALLER, "RELATED"),
        "ICMP errors and the like"
    );
    assert!(
        !pkt(DB_BR, "eth0", CALLER, "NEW"),
        "leaving the bridge: not ours"
    );
    assert!(
        !pkt("br-eeeeeeeeeeee", "br-eeeeeeeeeeee", CALLER, "NEW"),
        "other bridge"
    );
}

#[test]
fn restrict_twice_changes_nothing_the_second_time() {
    let (fake, fw) = fixture();
    restrict(&fw, &[O, O2]);
    let before = fake.lock().chains.clone();
    fake.take_log();
    restrict(&fw, &[O2, O]);
    let log = fake.take_log();
    assert!(
        log.iter()
            .all(|c| c.starts_with("-S ") || c.starts_with("-C ")),
        "only reads on the second call: {log:?}"
    );
    assert_eq!(fake.lock().chains, before);
}

/// The verdicts for `NEW` packets inside the bridge to each of `targets`.
fn verdicts(chains: &Chains, targets: &[Ipv4Addr]) -> Vec<bool> {
    targets
        .iter()
        .map(|&to| drops(chains, &Packet::new(DB_BR, DB_BR, to, "NEW")))
        .collect()
}

#[test]
fn every_change_switches_from_the_old_set_to_the_new_one_at_once() {
    let (fake, fw) = fixture();
    let targets = [O, O2, CALLER];
    let all_pass = vec![false; targets.len()];
    // Growing, shrinking, swapping ([O2] -> [O]), emptying, refilling.
    let steps: [&[Ipv4Addr]; 6] = [&[O], &[O, O2], &[O2], &[O], &[], &[CALLER, O2]];
    let mut old = all_pass.clone();
    for (i, allowed) in steps.iter().enumerate() {
        restrict(&fw, allowed);
        let new: Vec<bool> = targets.iter().map(|t| !allowed.contains(t)).collect();
        let history = fake.take_history();
        assert!(!history.is_empty());
        for (n, state) in history.iter().enumerate() {
            let now = verdicts(state, &targets);
            assert!(
                now == old || now == new,
                "step {i} ({allowed:?}), after change {n}: {now:?} is neither {old:?} nor {new:?}"
            );
            assert!(
                targets
                    .iter()
                    .all(|&to| !drops(state, &Packet::new(DB_BR, DB_BR, to, "ESTABLISHED"))),
                "established traffic always passes"
            );
        }
        assert_eq!(verdicts(&fake.lock().chains, &targets), new, "step {i}");
        // The new set is complete before anything refers to it, and the old one is gone after.
        let log = fake.take_log();
        let insert = log.iter().position(|c| c == "-I DOCKER-USER");
        let last_append = log.iter().rposition(|c| c.starts_with("-A BULKHEAD-"));
        let first_delete = log.iter().position(|c| c == "-D DOCKER-USER");
        assert!(last_append < insert && insert.is_some(), "{log:?}");
        if i > 0 {
            assert!(insert < first_delete, "{log:?}");
        }
        let slots = db_slots();
        assert_eq!(
            bulkhead_chains(&fake),
            [slots[i % 2].clone()],
            "slots alternate"
        );
        assert_eq!(fake.rules("DOCKER-USER").len(), 2);
        old = new;
    }
    assert_eq!(
        fw.ingress_allowed("shop", "db-in").expect("allowed"),
        Some(vec![CALLER, O2])
    );
}

#[test]
fn an_empty_allow_set_drops_every_new_connection() {
    let (fake, fw) = fixture();
    restrict(&fw, &[]);
    assert_eq!(fake.rules(&db_slots()[0]), chain_for(&[]));
    assert_eq!(
        fw.ingress_allowed("shop", "db-in").expect("allowed"),
        Some(vec![])
    );
    assert!(fake.drops_new(DB_BR, O));
    assert!(fake.drops_new(DB_BR, CALLER));
}

#[test]
fn egress_and_ingress_rules_of_one_network_leave_each_other_alone() {
    let (fake, fw) = fixture();
    restrict(&fw, &[O]);
    fw.ensure_egress_block("shop", "db-in", DB_BR)
        .expect("ensure");
    fw.ensure_egress_block("shop", "db-in", DB_BR)
        .expect("ensure again");
    let [a, _] = db_slots();
    let egress = render(RuleKind::ForwardedEgress, DB_BR, &db_tag()).join(" ");
    assert_eq!(
        fake.rules("DOCKER-USER"),
        [egress.clone(), jump_to(&a), "-j RETURN".into()]
    );
    restrict(&fw, &[O2]);
    let [_, b] = db_slots();
    assert_eq!(
        fake.rules("DOCKER-USER"),
        [jump_to(&b), egress, "-j RETURN".into()]
    );
    // A recreated network: new bridge for both.
    let new_br = "br-ffffffffffff";
    fw.ensure_egress_block("shop", "db-in", new_br)
        .expect("ensure new bridge");
    fw.restrict_ingress("shop", "db-in", new_br, &[O2])
        .expect("restrict new bridge");
    let rules = fw.list("shop").expect("list");
    assert_eq!(rules.len(), 4, "{rules:#?}");
    assert!(rules.iter().all(|r| r.bridge == new_br), "{rules:#?}");
    assert_eq!(bulkhead_chains(&fake), [a]);
    assert_eq!(fake.rules("DOCKER-USER").len(), 3);
}

#[test]
fn restrict_repairs_a_damaged_installation() {
    let [a, b] = db_slots();
    let want_a = chain_for(&[O]);
    type Damage = Box<dyn Fn(&FakeIptables)>;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "jump behind RETURN",
            Box::new(|f: &FakeIptables| {
                let jump = f.rules("DOCKER-USER").remove(0);
                f.set("DOCKER-USER", &["-j RETURN", &jump]);
            }),
        ),
        (
            "drop missing",
            Box::new(|f: &FakeIptables| {
                let [a, _] = db_slots();
                let allow = f.rules(&a).remove(0);
                f.set(&a, &[&allow]);
            }),
        ),
        (
            "two jumps",
            Box::new(|f: &FakeIptables| {
                let jump = f.rules("DOCKER-USER").remove(0);
                f.set("DOCKER-USER", &[&jump, &jump, "-j RETURN"]);
            }),
        ),
        (
            "leftover of the other slot",
            Box::new(|f: &FakeIptables| {
                let [_, b] = db_slots();
                let chain = chain_for(&[O2]);
                f.set(&b, &chain.iter().map(String::as_str).collect::<Vec<_>>());
            }),
        ),
        (
            "empty leftover of the other slot",
            Box::new(|f: &FakeIptables| f.set(&db_slots()[1], &[])),
        ),
    ];
    for (what, damage) in cases {
        let (fake, fw) = fixture();
        restrict(&fw, &[O]);
        damage(&fake);
        restrict(&fw, &[O]);
        let chains = bulkhead_chains(&fake);
        assert_eq!(chains.len(), 1, "{what}: {chains:?}");
        let live = &chains[0];
        assert!(live == &a || live == &b, "{what}");
        assert_eq!(fake.rules(live), want_a, "{what}");
        assert_eq!(
            fake.rules("DOCKER-USER"),
            [jump_to(live), "-j RETURN".into()],
            "{what}"
        );
        fake.take_log();
        restrict(&fw, &[O]);
        assert!(
            fake.take_log()
                .iter()
                .all(|c| c.starts_with("-S ") || c.starts_with("-C ")),
            "{what}: settled"
        );
    }
}

#[test]
fn restrict_refuses_a_slot_in_use_by_someone_else() {
    let (fake, fw) = fixture();
    let [a, _] = db_slots();
    fake.set(&a, &["-s 10.0.0.0/8 -j DROP"]);
    let before = fake.lock().chains.clone();
    let err = fw
        .restrict_ingress("shop", "db-in", DB_BR, &[O])
        .expect_err("conflict");
    assert!(matches!(err, FirewallError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains(&a), "{err}");
    assert_eq!(fake.lock().chains, before);

    let (fake, fw) = fixture();
    fake.set(&a, &[]);
    fake.set("FORWARD", &["-j DOCKER-USER", &format!("-j {a}")]);
    let err = fw
        .restrict_ingress("shop", "db-in", DB_BR, &[O])
        .expect_err("conflict");
    assert!(matches!(err, FirewallError::Conflict { .. }), "{err}");
}

#[test]
fn remove_takes_the_ingress_restriction_and_its_chain() {
    let (fake, fw) = fixture();
    fw.ensure_egress_block("shop", "db-in", DB_BR)
        .expect("ensure");
    restrict(&fw, &[O, O2]);
    fw.restrict_ingress("shop", "api-in", "br-eeeeeeeeeeee", &[CALLER])
        .expect("restrict api-in");
    fw.restrict_ingress("blog", "db-in", "br-cccccccccccc", &[O])
        .expect("restrict blog");
    assert_eq!(fw.list("shop").expect("list").len(), 2 + 3 + 2);
    // 2 egress rules, 2 allows, 1 drop; the jump is not counted.
    assert_eq!(fw.remove("shop", "db-in").expect("remove"), 5);
    assert_eq!(fw.remove("shop", "db-in").expect("remove again"), 0);
    assert_eq!(fw.ingress_allowed("shop", "db-in").expect("allowed"), None);
    assert_eq!(
        fw.ingress_allowed("shop", "api-in").expect("allowed"),
        Some(vec![CALLER])
    );
    assert!(!fake.drops_new(DB_BR, CALLER), "no longer restricted");
    assert_eq!(fw.remove_project("shop").expect("remove project"), 2);
    assert_eq!(fw.list("shop").expect("list"), vec![]);
    assert_eq!(bulkhead_chains(&fake), ingress_chains("blog", "db-in")[..1]);
    assert_eq!(
        fw.ingress_allowed("blog", "db-in").expect("allowed"),
        Some(vec![O]),
        "other projects stay"
    );
    assert_eq!(fake.rules("DOCKER-USER").len(), 2);
}

#[test]
fn remove_takes_leftovers_of_an_interrupted_change() {
    let (fake, fw) = fixture();
    let [a, b] = db_slots();
    let tagged = chain_for(&[O]);
    let tagged: Vec<&str> = tagged.iter().map(String::as_str).collect();
    // Created, never filled (empty), and filled but never jumped to.
    fake.set(&a, &[]);
    fake.set(&b, &tagged);
    let [other, _] = ingress_chains("shop", "api-in");
    fake.set(&other, &[]);
    let [foreign, _] = ingress_chains("blog", "db-in");
    fake.set(&foreign, &[]);
    assert_eq!(fw.list("shop").expect("list"), vec![], "not installed");
    assert_eq!(fw.ingress_allowed("shop", "db-in").expect("allowed"), None);
    assert_eq!(fw.remove("shop", "db-in").expect("remove"), 2);
    assert_eq!(bulkhead_chains(&fake).len(), 2);
    assert_eq!(fw.remove_project("shop").expect("remove project"), 0);
    assert_eq!(bulkhead_chains(&fake), [foreign]);
}

#[test]
fn invalid_ingress_input_runs_nothing() {
    let (fake, fw) = fixture();
    fake.take_log();
    for (p, n, b) in [
        ("Shop", "db-in", DB_BR),
        ("shop", "db:in", DB_BR),
        ("shop", "db-in", "br+"),
        ("shop", "db-in", ""),
    ] {
        let err = fw.restrict_ingress(p, n, b, &[O]).expect_err("invalid");
        assert!(matches!(err, FirewallError::InvalidName { .. }), "{err}");
    }
    assert!(fw.ingress_allowed("shop", "-j").is_err());
    assert_eq!(fake.take_log(), Vec::<String>::new());
}

#[test]
fn remove_bridge_takes_only_the_rules_on_that_bridge() {
    let (fake, fw) = fixture();
    // Both networks were re-created: their rules on the old bridges sit beside those on the
    // new ones (as a manual edit or an interrupted change could leave them).
    const OLD: &str = "br-ffffffffffff";
    let [a, b] = db_slots();
    let old_chain = render_ingress_chain(&[O], &[], OLD, &db_tag());
    let old_jump = render_ingress_jump(OLD, &db_tag(), &a).join(" ");
    fake.set(
        "DOCKER-USER",
        &[&jump_to(&b), &old_jump, EGRESS_B, EGRESS_A, "-j RETURN"],
    );
    fake.set("INPUT", &[HOST_B, HOST_A]);
    let old_rules: Vec<String> = old_chain.iter().map(|r| r.join(" ")).collect();
    fake.set(
        &a,
        &old_rules.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let new_rules = chain_for(&[O2]);
    fake.set(
        &b,
        &new_rules.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(fw.list("shop").expect("list").len(), 4 + 4);

    assert_eq!(
        fw.remove_bridge("shop", "edge", "br-aaaaaaaaaaaa")
            .expect("remove"),
        2
    );
    assert_eq!(fake.rules("INPUT"), [HOST_B]);
    assert_eq!(
        fw.remove_bridge("shop", "db-in", OLD).expect("remove"),
        2,
        "one allow, one drop"
    );
    assert_eq!(bulkhead_chains(&fake), std::slice::from_ref(&b));
    assert_eq!(
        fake.rules("DOCKER-USER"),
        [jump_to(&b).as_str(), EGRESS_B, "-j RETURN"]
    );
    assert_eq!(
        fw.ingress_allowed("shop", "db-in").expect("allowed"),
        Some(vec![O2])
    );
    assert!(
        fake.drops_new(DB_BR, CALLER),
        "the current bridge stays restricted"
    );
    assert!(
        fw.list("shop")
            .expect("list")
            .iter()
            .all(|r| r.bridge == DB_BR || r.bridge == "br-bbbbbbbbbbbb"),
        "only the current bridges' rules are left"
    );
    fake.take_log();
    assert_eq!(fw.remove_bridge("shop", "db-in", OLD).expect("again"), 0);
    assert!(
        fake.take_log().iter().all(|c| c.starts_with("-S")),
        "nothing left to remove: only a listing"
    );
    assert!(matches!(
        fw.remove_bridge("shop", "db-in", "br+"),
        Err(FirewallError::InvalidName { .. })
    ));
}

mod port;
