//! Host firewall adapter: stops containers on a Docker bridge network from opening new
//! connections to anything outside that network, while connections coming *in* (through a
//! published port) and their replies keep working. It can also restrict new connections
//! *inside* a network to those going to the service that owns it (see
//! [Ingress restriction](#ingress-restriction-inside-a-network)).
//!
//! Why it is needed (Docker 20.10, see `docs/docker-20.10-facts.md`): a container that
//! publishes ports must sit on at least one non-internal network, and a non-internal network
//! routes and masquerades to everywhere. And every bridge network, internal or not, gives the
//! container a default route via the bridge's gateway address on the host, so the host itself
//! (any of its addresses) is reachable too.
//!
//! For one network, [`Firewall::ensure_egress_block`] installs two rules in the `filter` table,
//! each at the top of its chain and tagged with the comment `bulkhead:<project>:<network>`:
//!
//! ```text
//! -A DOCKER-USER -i BR ! -o BR -m conntrack --ctstate NEW -m comment --comment bulkhead:P:N -j DROP
//! -A INPUT       -i BR         -m conntrack --ctstate NEW -m comment --comment bulkhead:P:N -j DROP
//! ```
//!
//! * `DOCKER-USER` (first in `FORWARD`, before Docker's own accepts): new connections routed out
//!   of the bridge: the internet, other host interfaces, other Docker networks, other projects'
//!   published ports reached through a host address. `! -o BR` keeps container-to-container
//!   traffic inside the network working.
//! * `INPUT`: new connections to the host itself, which `FORWARD` never sees.
//! * Only conntrack `NEW` is dropped: a connection that came in through a published port (via
//!   DNAT in `FORWARD`, or via `docker-proxy` for `127.0.0.1`) is `ESTABLISHED`, so its replies
//!   pass.
//! * Docker's embedded DNS (`127.0.0.11`) answers inside the container's own network namespace,
//!   so names of containers keep resolving; queries it forwards to upstream servers leave from
//!   the container's namespace through the bridge and are dropped like any other egress.
//!
//! # Ingress restriction inside a network
//!
//! Docker lets every member of a network connect to every other member. For a network that
//! exists so that callers can reach one service, [`Firewall::restrict_ingress`] lets new
//! connections inside the bridge through only when they go to that service's addresses, with a
//! chain of its own per network (named `BULKHEAD-<project hash>-<network hash>-<slot>`, slot `a`
//! or `b`), every rule tagged like the egress rules:
//!
//! ```text
//! -A DOCKER-USER -i BR -o BR -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -g BULKHEAD-…-a
//! -A BULKHEAD-…-a -d IP/32 -i BR -o BR -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -j RETURN
//! -A BULKHEAD-…-a          -i BR -o BR -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -j DROP
//! ```
//!
//! (one `RETURN` per allowed address, in address order). Addresses being retired
//! ([`NetworkRules::refused`]) come first, three rules each: a SYN to one is answered with a
//! reset, so a caller goes on to its next address at once; other TCP segments to and from it
//! pass, because Docker flushes the conntrack entries of an address whose endpoint is
//! disconnected (the retiring replica leaves name resolution that way) and the next segment of
//! a connection it is still serving then counts as `NEW`:
//!
//! ```text
//! -A BULKHEAD-…-a -d IP/32 -i BR -o BR -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -j REJECT --reject-with tcp-reset
//! -A BULKHEAD-…-a -d IP/32 -i BR -o BR -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -j RETURN
//! -A BULKHEAD-…-a -s IP/32 -i BR -o BR -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment bulkhead:P:N -j RETURN
//! ```
//!
//! * With `net.bridge.bridge-nf-call-iptables = 1`, traffic between two containers of a bridge
//!   goes through `FORWARD` with `-i BR -o BR`. `RETURN` hands it back to `FORWARD`, where
//!   Docker's `-A FORWARD -i BR -o BR -j ACCEPT` accepts it as before; the egress rule
//!   (`-i BR ! -o BR`) never matches it.
//! * `! --ctstate RELATED,ESTABLISHED` is `NEW`, `INVALID` and `UNTRACKED`: replies of allowed
//!   connections pass, and a packet conntrack cannot place cannot slip past the drop.
//! * `-g` (goto), not `-j`: a `RETURN` in the chain returns straight to `FORWARD`, as a
//!   `-j RETURN` written in `DOCKER-USER` would, and every packet that enters the chain gets
//!   its verdict there (the drop matches whatever the jump matched). So only the first jump of
//!   a network in `DOCKER-USER` ever decides.
//! * A change never edits the chain in use. It builds the complete new allow set in the other
//!   slot, then inserts the jump to it at the top of `DOCKER-USER` (one atomic rule insertion
//!   switches every packet from the old set to the new one: an address in both sets is never
//!   refused, and the drop is never active without its allows), then removes the old jump and
//!   the old chain.
//!
//! # Limits
//!
//! * Whenever a Docker network is created (by anyone on the host), dockerd takes the `FORWARD`
//!   jump to `DOCKER-USER` out and inserts it again at the top (`-D`, then `-I`: about 36 ms
//!   apart on the machine of `docs/docker-20.10-facts.md`). A new connection attempted in that
//!   window bypasses every rule in `DOCKER-USER`, egress and ingress alike, and stays
//!   established afterwards. (Docker 20.10 never touches the `mangle` table; rules there would
//!   not have that window. Not done.)
//! * Connections established before a rule was installed are left alone.
//! * IPv4 only: containers on networks created without `--ipv6` have IPv6 disabled.
//!
//! The program is `iptables` from `PATH`, the same lookup dockerd does, so the rules land in the
//! same backend (nf_tables or legacy) as Docker's. It always runs with `-w` (wait for the
//! xtables lock) and never through a shell; names are validated first.
//!
//! Rules live in the kernel only: re-run `ensure_egress_block` and `restrict_ingress` after a
//! reboot or a firewall reload (Docker itself keeps `DOCKER-USER` rules across daemon restarts).
//!
//! # Rules follow the bridge, not the name
//!
//! The tag names the network, but a rule matches its bridge interface (`-i BR`), and Docker
//! names a bridge after its network's id (`br-<id[..12]>`): a network removed and created again
//! under the same name (by `docker network prune`/`rm`, behind Bulkhead's back) has a new bridge,
//! and rules on the old one protect nothing. So [`Firewall::list`] reports the bridge of every
//! rule, [`Firewall::ensure`] moves a network's rules to the bridge it is given (the old
//! bridge's rules out, in the same transaction), and [`Firewall::remove_bridge`] takes what
//! is left on a bridge a network no longer has.
//!
//! [`HostFirewall`] is this firewall as the `bulkhead_ports::Firewall` port.

mod error;
mod exec;
mod port;
mod rule;
mod validate;

pub use error::FirewallError;
pub use port::HostFirewall;
pub use rule::{Rule, RuleKind};
pub use validate::{MAX_IFACE_LEN, MAX_NAME_LEN};

use exec::{Exec, RunOutput, SystemExec};
use rule::{
    DOCKER_USER, EGRESS, Entry, FORWARD, INPUT, Table, display_command, ingress_chains,
    is_ingress_chain, parse_chain, parse_table, project_chain_prefix, render, render_ingress_chain,
    render_ingress_jump, tag,
};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Serializes check-then-modify sequences of this process (other processes are not covered;
/// a race between two processes can at worst leave a duplicate, which the next ensure removes).
static MUTATE: Mutex<()> = Mutex::new(());

/// How often, and how far apart, a missing `FORWARD` jump to `DOCKER-USER` is looked for again
/// before it is inserted (see `ensure_user_chain`).
const JUMP_RECHECKS: u32 = 20;
const JUMP_RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// The chains holding our rules, in listing order.
const CHAINS: [&str; 2] = [DOCKER_USER, INPUT];

/// The iptables-backed host firewall.
#[derive(Debug)]
pub struct Firewall {
    exec: Box<dyn Exec>,
}

impl Default for Firewall {
    fn default() -> Self {
        Self::new()
    }
}

impl Firewall {
    /// Uses `iptables` from `PATH`, like dockerd.
    pub fn new() -> Self {
        Self::with_program("iptables")
    }

    /// Uses the given iptables program (e.g. `/usr/sbin/iptables-legacy` when Docker runs on
    /// the legacy backend while `PATH` points at another).
    pub fn with_program(program: impl Into<OsString>) -> Self {
        Self {
            exec: Box::new(SystemExec {
                program: program.into(),
            }),
        }
    }

    #[cfg(test)]
    fn with_exec(exec: impl Exec + 'static) -> Self {
        Self {
            exec: Box::new(exec),
        }
    }

    /// Makes sure new connections from containers on `bridge_iface` to anything outside that
    /// bridge (the host included) are dropped, and that exactly one rule of each kind exists
    /// for `project`/`network`. Idempotent; if the network was recreated with another bridge,
    /// the rules of the old bridge are replaced in the same transaction. Creates `DOCKER-USER`
    /// and the `FORWARD` jump to it if Docker has not yet done so.
    pub fn ensure_egress_block(
        &self,
        project: &str,
        network: &str,
        bridge_iface: &str,
    ) -> Result<(), FirewallError> {
        self.ensure(
            project,
            &[NetworkRules {
                network,
                bridge: bridge_iface,
                block_egress: true,
                ingress: None,
                refused: &[],
            }],
        )
    }

    /// On `network` (bridge `bridge_iface`), allow new connections between members only when
    /// they go to one of `allowed` (the owning service's container addresses on that network);
    /// drop every other new connection inside the bridge. Replaces the previous allow set
    /// without a gap: no allowed connection is ever refused during a change. Idempotent. An
    /// empty `allowed` drops all new connections inside the bridge.
    ///
    /// Implementation: the allow set lives in a chain of its own, rebuilt in a second slot and
    /// switched to with a single rule insertion (see the crate documentation), all of it in
    /// one `iptables-restore` transaction. Connections established before the call are left
    /// alone, in both directions. Creates `DOCKER-USER` and the `FORWARD` jump to it if Docker
    /// has not yet done so.
    pub fn restrict_ingress(
        &self,
        project: &str,
        network: &str,
        bridge_iface: &str,
        allowed: &[Ipv4Addr],
    ) -> Result<(), FirewallError> {
        self.ensure(
            project,
            &[NetworkRules {
                network,
                bridge: bridge_iface,
                block_egress: false,
                ingress: Some(allowed),
                refused: &[],
            }],
        )
    }

    /// Brings the rules of several networks of `project` to what `networks` says, from one
    /// listing of the table and in one `iptables-restore --noflush` transaction: every change
    /// lands at once or not at all, and a deploy pays for two processes instead of a dozen per
    /// network. A network whose `block_egress` is false or whose `ingress` is `None` keeps
    /// whatever rules of that kind it has. Idempotent: when everything is in place, only the
    /// listing runs.
    pub fn ensure(
        &self,
        project: &str,
        networks: &[NetworkRules<'_>],
    ) -> Result<(), FirewallError> {
        validate::name("project", project)?;
        for n in networks {
            validate::name("network", n.network)?;
            validate::iface(n.bridge)?;
        }
        let _guard = MUTATE.lock().unwrap_or_else(|e| e.into_inner());
        let mut table = self.list_table()?;
        if !user_chain_hooked(&table) {
            self.ensure_user_chain()?;
            table = self.list_table()?;
        }
        let mut changes: Vec<Vec<String>> = Vec::new();
        for n in networks {
            let tag = tag(project, n.network);
            if n.block_egress {
                egress_changes(&table, n.bridge, &tag, &mut changes);
            }
            if let Some(allowed) = n.ingress {
                let mut allowed = allowed.to_vec();
                allowed.sort_unstable();
                allowed.dedup();
                // An allowed address is never refused (refusals come first in the chain).
                let mut refused: Vec<Ipv4Addr> = n
                    .refused
                    .iter()
                    .filter(|a| !allowed.contains(a))
                    .copied()
                    .collect();
                refused.sort_unstable();
                refused.dedup();
                let slots = ingress_chains(project, n.network);
                let sets = (allowed.as_slice(), refused.as_slice());
                ingress_changes(&table, &slots, n.bridge, &tag, sets, &mut changes)?;
            }
        }
        self.restore(&changes)
    }

    /// The allow set currently installed for `network` by [`Firewall::restrict_ingress`]
    /// (addresses in rule order, which is address order), or `None` if no restriction is
    /// installed.
    pub fn ingress_allowed(
        &self,
        project: &str,
        network: &str,
    ) -> Result<Option<Vec<Ipv4Addr>>, FirewallError> {
        validate::name("project", project)?;
        validate::name("network", network)?;
        let tag = tag(project, network);
        let table = self.list_table()?;
        let Some(chain) = table
            .get(DOCKER_USER)
            .into_iter()
            .flatten()
            .filter(|e| has_tag(e, &tag))
            .find_map(Entry::ingress_chain)
        else {
            return Ok(None);
        };
        let allowed = table
            .get(chain)
            .into_iter()
            .flatten()
            .filter(|e| has_tag(e, &tag))
            .filter_map(|e| match e.to_rule(chain)?.kind {
                RuleKind::IngressAllow { to } => Some(to),
                _ => None,
            })
            .collect();
        Ok(Some(allowed))
    }

    /// Removes the rules of one network of a project: egress rules and ingress restriction
    /// (with its chain, also one left over by an interrupted change). Returns how many rules
    /// were removed (as [`Firewall::list`] counts them, plus leftovers).
    pub fn remove(&self, project: &str, network: &str) -> Result<usize, FirewallError> {
        self.remove_networks(project, &[network], &[])
    }

    /// Removes the rules of one network of a project that match `bridge` (egress rules,
    /// ingress jump and the chain it goes to), and leaves its rules on any other bridge alone:
    /// what is left on a bridge the network no longer has (it was removed, or re-created with
    /// another bridge, behind Bulkhead's back). Returns how many rules were removed, as
    /// [`Firewall::remove`] counts them.
    pub fn remove_bridge(
        &self,
        project: &str,
        network: &str,
        bridge: &str,
    ) -> Result<usize, FirewallError> {
        self.remove_networks(project, &[], &[(network, bridge)])
    }

    /// [`Firewall::remove`] of every network of `networks` and [`Firewall::remove_bridge`] of
    /// every `(network, bridge)` of `bridges`, in one transaction. Returns how many rules were
    /// removed, as those count them.
    pub fn remove_networks(
        &self,
        project: &str,
        networks: &[&str],
        bridges: &[(&str, &str)],
    ) -> Result<usize, FirewallError> {
        validate::name("project", project)?;
        for network in networks.iter().chain(bridges.iter().map(|(n, _)| n)) {
            validate::name("network", network)?;
        }
        for (_, bridge) in bridges {
            validate::iface(bridge)?;
        }
        if networks.is_empty() && bridges.is_empty() {
            return Ok(0);
        }
        let names: Vec<String> = networks
            .iter()
            .flat_map(|n| ingress_chains(project, n))
            .collect();
        self.remove_where(
            |e| {
                e.tag().is_some_and(|(p, n)| {
                    p == project
                        && (networks.contains(&n)
                            || bridges
                                .iter()
                                .any(|(bn, b)| *bn == n && e.in_iface() == Some(*b)))
                })
            },
            |chain| names.iter().any(|n| n == chain),
        )
    }

    /// Removes every rule of a project. Returns how many rules were removed.
    pub fn remove_project(&self, project: &str) -> Result<usize, FirewallError> {
        validate::name("project", project)?;
        let prefix = project_chain_prefix(project);
        self.remove_where(
            |e| e.tag().is_some_and(|(p, _)| p == project),
            |chain| chain.starts_with(&prefix),
        )
    }

    /// The rules installed for a project: `ForwardedEgress` rules first, then `HostAccess`
    /// rules, each group in chain order, then the ingress restrictions network by network (in
    /// the order of their jumps in `DOCKER-USER`), each as its `IngressAllow` rules followed by
    /// its `IngressDefaultDrop`.
    pub fn list(&self, project: &str) -> Result<Vec<Rule>, FirewallError> {
        validate::name("project", project)?;
        let table = self.list_table()?;
        let mut rules = Vec::new();
        let mut ingress: Vec<&str> = Vec::new();
        for chain in CHAINS {
            for entry in table.get(chain).into_iter().flatten() {
                if let Some(target) = entry.ingress_chain() {
                    if chain == DOCKER_USER
                        && entry.tag().is_some_and(|(p, _)| p == project)
                        && !ingress.contains(&target)
                    {
                        ingress.push(target);
                    }
                } else if let Some(rule) = entry.to_rule(chain)
                    && rule.project == project
                {
                    rules.push(rule);
                }
            }
        }
        for chain in ingress {
            for entry in table.get(chain).into_iter().flatten() {
                if let Some(rule) = entry.to_rule(chain)
                    && rule.project == project
                {
                    rules.push(rule);
                }
            }
        }
        Ok(rules)
    }

    /// Creates `DOCKER-USER` (with Docker's trailing `-j RETURN`) if it is missing and makes
    /// sure `FORWARD` jumps to it, as dockerd does on start and on every network creation.
    fn ensure_user_chain(&self) -> Result<(), FirewallError> {
        let mut created = false;
        if self.list_chain(DOCKER_USER)?.is_none() {
            match self.run_ok(&["-N", DOCKER_USER]) {
                Ok(()) => created = true,
                // Lost a race with dockerd creating it?
                Err(e) if self.list_chain(DOCKER_USER)?.is_none() => return Err(e),
                Err(_) => {}
            }
            if !self.check(DOCKER_USER, &["-j", "RETURN"])? {
                self.run_ok(&["-A", DOCKER_USER, "-j", "RETURN"])?;
            }
        }
        if self.check(FORWARD, &["-j", DOCKER_USER])? {
            return Ok(());
        }
        if !created {
            // On every network creation dockerd moves the jump to the top of FORWARD with `-D`
            // and then `-I`: a check in between finds no jump, and inserting one then leaves two
            // for good. Give a jump that is being moved time to come back.
            for _ in 0..JUMP_RECHECKS {
                std::thread::sleep(JUMP_RECHECK_INTERVAL);
                if self.check(FORWARD, &["-j", DOCKER_USER])? {
                    return Ok(());
                }
            }
        }
        self.run_ok(&["-I", FORWARD, "1", "-j", DOCKER_USER])
    }

    /// Removes the rules of `DOCKER-USER` and `INPUT` that `owned` accepts (by their tag, and
    /// maybe their bridge), then the bulkhead chains whose rules it all accepts, and the empty
    /// ones (left by an interrupted change) that a removed rule jumped to or whose name
    /// `owns_empty` accepts — from one listing of the table, in one `iptables-restore`
    /// transaction (however many networks and rules: two processes).
    fn remove_where(
        &self,
        owned: impl Fn(&Entry) -> bool,
        owns_empty: impl Fn(&str) -> bool,
    ) -> Result<usize, FirewallError> {
        let _guard = MUTATE.lock().unwrap_or_else(|e| e.into_inner());
        let table = self.list_table()?;
        let mut removed = 0;
        let mut gone: Vec<&Entry> = Vec::new();
        let mut changes: Vec<Vec<String>> = Vec::new();
        for chain in CHAINS {
            for entry in table.get(chain).into_iter().flatten() {
                if owned(entry) {
                    changes.push(change("-D", chain, None, &entry.args));
                    // Jumps are plumbing: the chain's rules are counted instead.
                    if entry.ingress_chain().is_none() {
                        removed += 1;
                    }
                    gone.push(entry);
                }
            }
        }
        for (chain, rules) in &table {
            if !is_ingress_chain(chain) {
                continue;
            }
            let ours = if rules.is_empty() {
                owns_empty(chain) || gone.iter().any(|e| e.ingress_chain() == Some(chain))
            } else {
                rules.iter().all(&owned)
            };
            if !ours {
                continue;
            }
            if referrers(&table, chain).any(|(_, e)| !gone.iter().any(|g| std::ptr::eq(*g, e))) {
                return Err(FirewallError::Conflict {
                    chain: chain.clone(),
                    reason: "is referenced by a rule that is not being removed",
                });
            }
            changes.push(change("-F", chain, None, &[] as &[String]));
            changes.push(change("-X", chain, None, &[] as &[String]));
            removed += rules.len();
        }
        self.restore(&changes)?;
        Ok(removed)
    }

    /// `iptables -S` (every chain of the filter table), parsed.
    fn list_table(&self) -> Result<Table, FirewallError> {
        let args = filter_args(&["-S"]);
        let out = self.run(&args)?;
        match out.code {
            Some(0) => parse_table(&out.stdout),
            _ => Err(self.failure(&args, &out)),
        }
    }

    /// `iptables -S CHAIN`, parsed; `None` if the chain does not exist (exit status 1).
    fn list_chain(&self, chain: &str) -> Result<Option<Vec<Entry>>, FirewallError> {
        let args = filter_args(&["-S", chain]);
        let out = self.run(&args)?;
        match out.code {
            Some(0) => parse_chain(chain, &out.stdout).map(Some),
            Some(1) => Ok(None),
            _ => Err(self.failure(&args, &out)),
        }
    }

    /// `iptables -C CHAIN SPEC`: exit status 0 means present, 1 absent (or no such chain).
    fn check(&self, chain: &str, spec: &[impl AsRef<str>]) -> Result<bool, FirewallError> {
        let args = rule_args("-C", chain, None, spec);
        let out = self.run(&args)?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failure(&args, &out)),
        }
    }

    fn run_ok(&self, op: &[&str]) -> Result<(), FirewallError> {
        let args = filter_args(op);
        let out = self.run(&args)?;
        if out.code == Some(0) {
            Ok(())
        } else {
            Err(self.failure(&args, &out))
        }
    }

    /// Applies `changes` (each `-I|-A|-D|-N|-F|-X CHAIN ...` of the filter table) in one
    /// transaction; nothing runs when there are none.
    fn restore(&self, changes: &[Vec<String>]) -> Result<(), FirewallError> {
        if changes.is_empty() {
            return Ok(());
        }
        let script = restore_script(changes);
        let out = self
            .exec
            .restore(&script)
            .map_err(|source| FirewallError::Spawn {
                program: self.exec.restore_program(),
                source,
            })?;
        if out.code == Some(0) {
            return Ok(());
        }
        let mut args = vec!["-w".to_string(), "--noflush".to_string()];
        args.extend(script.lines().map(str::to_string));
        Err(self.failure_of(&self.exec.restore_program(), &args, &out))
    }

    fn run(&self, args: &[String]) -> Result<RunOutput, FirewallError> {
        self.exec.run(args).map_err(|source| FirewallError::Spawn {
            program: self.exec.program(),
            source,
        })
    }

    fn failure(&self, args: &[String], out: &RunOutput) -> FirewallError {
        self.failure_of(&self.exec.program(), args, out)
    }

    fn failure_of(&self, program: &str, args: &[String], out: &RunOutput) -> FirewallError {
        let stderr = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("# Warning: iptables-legacy tables present"))
            .collect::<Vec<_>>()
            .join("\n");
        FirewallError::Command {
            command: display_command(program, args),
            status: match out.code {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".to_string(),
            },
            stderr: stderr.trim().to_string(),
        }
    }
}

/// What one network should have (see [`Firewall::ensure`]).
#[derive(Debug, Clone, Copy)]
pub struct NetworkRules<'a> {
    /// The network, within the project.
    pub network: &'a str,
    /// Its bridge interface.
    pub bridge: &'a str,
    /// Drop new connections out of the bridge (and to the host).
    pub block_egress: bool,
    /// Allow new connections inside the bridge only to these addresses; `None` leaves the
    /// network's ingress rules as they are.
    pub ingress: Option<&'a [Ipv4Addr]>,
    /// With `ingress`: answer new TCP connections to these addresses with a reset instead of
    /// dropping them (replicas being retired). An address also in `ingress` is allowed.
    pub refused: &'a [Ipv4Addr],
}

/// True when `DOCKER-USER` exists and `FORWARD` jumps to it.
fn user_chain_hooked(table: &Table) -> bool {
    table.contains_key(DOCKER_USER)
        && table
            .get(FORWARD)
            .into_iter()
            .flatten()
            .any(|e| e.args == ["-j", DOCKER_USER])
}

/// The changes that make the egress rules of one network exactly one rule of each kind, at the
/// top of its chain, for `bridge`. Inside one transaction the order of the changes does not
/// open a gap.
fn egress_changes(table: &Table, bridge: &str, tag: &str, changes: &mut Vec<Vec<String>>) {
    for (kind, chain) in EGRESS {
        let want = render(kind, bridge, tag);
        let entries = table.get(chain).map(Vec::as_slice).unwrap_or_default();
        let verdict = first_verdict(entries);
        // The jump of an ingress restriction carries the same tag but is not ours to manage here.
        let ours: Vec<&Entry> = entries
            .iter()
            .filter(|e| has_tag(e, tag) && e.ingress_chain().is_none())
            .collect();
        let well_placed = ours.iter().all(|e| verdict.is_none_or(|v| e.position < v));
        if ours.len() == 1 && ours[0].args == want && well_placed {
            continue;
        }
        // Deletes first: `-D` takes the first rule equal to its spec, which would otherwise
        // be the new one when a stale copy equals it.
        for e in &ours {
            changes.push(change("-D", chain, None, &e.args));
        }
        changes.push(change("-I", chain, Some("1"), &want));
    }
}

/// The changes that make the ingress restriction of one network allow exactly `allowed`
/// (sorted, no duplicates): the new set built in the slot the deciding jump does not use, the
/// jump to it inserted at the top, then the old jumps and chains removed.
fn ingress_changes(
    table: &Table,
    slots: &[String; 2],
    bridge: &str,
    tag: &str,
    (allowed, refused): (&[Ipv4Addr], &[Ipv4Addr]),
    changes: &mut Vec<Vec<String>>,
) -> Result<(), FirewallError> {
    let want = render_ingress_chain(allowed, refused, bridge, tag);
    let user = table
        .get(DOCKER_USER)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Our jumps, in chain order: the first one decides (see `render_ingress_jump`).
    let jumps: Vec<&Entry> = user
        .iter()
        .filter(|e| has_tag(e, tag) && e.ingress_chain().is_some())
        .collect();
    let effective = jumps.first().and_then(|j| j.ingress_chain());
    let up_to_date = match jumps.as_slice() {
        [jump] => effective.is_some_and(|chain| {
            slots.iter().any(|s| s == chain)
                && jump.args == render_ingress_jump(bridge, tag, chain)
                && first_verdict(user).is_none_or(|v| jump.position < v)
                && table
                    .get(chain)
                    .is_some_and(|rules| rules.iter().map(|e| &e.args).eq(want.iter()))
        }),
        _ => false,
    };

    let active: &str = match effective {
        Some(chain) if up_to_date => chain,
        _ => {
            let next = if effective == Some(slots[0].as_str()) {
                &slots[1]
            } else {
                &slots[0]
            };
            if table
                .get(next)
                .is_some_and(|rules| rules.iter().any(|e| !has_tag(e, tag)))
            {
                return Err(FirewallError::Conflict {
                    chain: next.clone(),
                    reason: "holds rules that are not of this network",
                });
            }
            if referrers(table, next).any(|(c, e)| !(c == DOCKER_USER && has_tag(e, tag))) {
                return Err(FirewallError::Conflict {
                    chain: next.clone(),
                    reason: "is referenced by a rule that is not of this network",
                });
            }
            // Our jumps to `next` sit below the deciding one: shadowed by it (same bridge) or
            // left from a bridge that is gone.
            for jump in jumps.iter().filter(|j| j.ingress_chain() == Some(next)) {
                changes.push(change("-D", DOCKER_USER, None, &jump.args));
            }
            let op = if table.contains_key(next) { "-F" } else { "-N" };
            changes.push(change(op, next, None, &[] as &[String]));
            for rule in &want {
                changes.push(change("-A", next, None, rule));
            }
            // The switch: from here on every packet meets the new set.
            changes.push(change(
                "-I",
                DOCKER_USER,
                Some("1"),
                &render_ingress_jump(bridge, tag, next),
            ));
            next
        }
    };

    // Take the old jumps out (no longer reached), then the chains left without one.
    let mut stale: BTreeSet<&str> = slots
        .iter()
        .map(String::as_str)
        .filter(|s| *s != active)
        .collect();
    for jump in &jumps {
        if let Some(chain) = jump.ingress_chain()
            && chain != active
        {
            changes.push(change("-D", DOCKER_USER, None, &jump.args));
            stale.insert(chain);
        }
    }
    for chain in stale {
        let Some(rules) = table.get(chain) else {
            continue;
        };
        let ours = rules.iter().all(|e| has_tag(e, tag));
        let unused = referrers(table, chain).all(|(c, e)| c == DOCKER_USER && has_tag(e, tag));
        if ours && unused {
            changes.push(change("-F", chain, None, &[] as &[String]));
            changes.push(change("-X", chain, None, &[] as &[String]));
        }
    }
    Ok(())
}

/// `OP CHAIN [POS] SPEC...` (without the `-t filter` of a command line).
fn change(op: &str, chain: &str, pos: Option<&str>, spec: &[impl AsRef<str>]) -> Vec<String> {
    let mut args = vec![op.to_string(), chain.to_string()];
    args.extend(pos.map(str::to_string));
    args.extend(spec.iter().map(|s| s.as_ref().to_string()));
    args
}

/// The `iptables-restore` input for `changes`: the filter table, one command per line, words
/// that are not plain quoted (names are validated, so that is never more than a precaution).
fn restore_script(changes: &[Vec<String>]) -> String {
    let mut out = String::from("*filter\n");
    for words in changes {
        let line: Vec<String> = words
            .iter()
            .map(|w| {
                if !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/!=,".contains(&b))
                {
                    w.clone()
                } else {
                    format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
                }
            })
            .collect();
        out.push_str(&line.join(" "));
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// Position of the first rule that ends the chain for every packet (rules after it are dead).
fn first_verdict(entries: &[Entry]) -> Option<usize> {
    entries
        .iter()
        .find(|e| e.is_unconditional_verdict())
        .map(|e| e.position)
}

/// The rules (with their chains) that jump or go to `chain`.
fn referrers<'t>(table: &'t Table, chain: &'t str) -> impl Iterator<Item = (&'t str, &'t Entry)> {
    table.iter().flat_map(move |(c, entries)| {
        entries
            .iter()
            .filter(move |e| e.target() == Some(chain))
            .map(move |e| (c.as_str(), e))
    })
}

fn has_tag(entry: &Entry, tag: &str) -> bool {
    entry
        .args
        .windows(2)
        .any(|w| w[0] == "--comment" && w[1] == tag)
}

/// `-w -t filter` followed by `op`.
fn filter_args(op: &[&str]) -> Vec<String> {
    ["-w", "-t", "filter"]
        .iter()
        .chain(op)
        .map(|s| s.to_string())
        .collect()
}

/// `-w -t filter OP CHAIN [POS] SPEC...`.
fn rule_args(op: &str, chain: &str, pos: Option<&str>, spec: &[impl AsRef<str>]) -> Vec<String> {
    let mut args = filter_args(&[op, chain]);
    args.extend(pos.map(str::to_string));
    args.extend(spec.iter().map(|s| s.as_ref().to_string()));
    args
}

#[cfg(test)]
mod tests;
