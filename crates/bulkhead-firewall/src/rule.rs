//! The rules: what they mean ([`Rule`], [`RuleKind`]), how they are written as iptables
//! arguments, and how `iptables -S` output is read back.

use crate::FirewallError;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The chain Docker reserves for user rules; it sits first in `FORWARD`.
pub(crate) const DOCKER_USER: &str = "DOCKER-USER";
/// The built-in chain for packets addressed to the host itself.
pub(crate) const INPUT: &str = "INPUT";
/// The built-in chain that jumps to [`DOCKER_USER`].
pub(crate) const FORWARD: &str = "FORWARD";

/// Every rule carries the comment `bulkhead:<project>:<network>`.
const TAG_PREFIX: &str = "bulkhead:";

/// Every chain we create is named `BULKHEAD-<project hash>-<network hash>-<slot>`.
pub(crate) const CHAIN_PREFIX: &str = "BULKHEAD-";

/// The two slots of a network's ingress chain: a change builds the unused one, then switches
/// the jump over.
const SLOTS: [char; 2] = ['a', 'b'];

/// One installed rule, independent of the firewall backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The project that owns the rule.
    pub project: String,
    /// The network (within the project) the rule belongs to.
    pub network: String,
    /// The bridge interface whose traffic the rule matches.
    pub bridge: String,
    /// What the rule does.
    pub kind: RuleKind,
}

/// What a rule does. Only packets that do not belong to an existing connection are ever
/// dropped, so replies to connections that were allowed keep flowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// Drops new connections from the bridge routed anywhere but back into the same bridge:
    /// the internet, other host interfaces, other Docker networks (including their published
    /// ports reached through the host's addresses). iptables: chain `DOCKER-USER`.
    ForwardedEgress,
    /// Drops new connections from the bridge to the host itself, on any of its addresses (the
    /// bridge gateway, the host's LAN address, ...). iptables: chain `INPUT`.
    HostAccess,
    /// Lets new connections inside the bridge through when they go to `to` (an address of the
    /// service that owns the network). Installed by [`Firewall::restrict_ingress`].
    ///
    /// [`Firewall::restrict_ingress`]: crate::Firewall::restrict_ingress
    IngressAllow {
        /// The allowed destination.
        to: Ipv4Addr,
    },
    /// Drops every other new connection inside the bridge (member to member). Installed by
    /// [`Firewall::restrict_ingress`], after the `IngressAllow` rules of the same network.
    ///
    /// [`Firewall::restrict_ingress`]: crate::Firewall::restrict_ingress
    IngressDefaultDrop,
    /// Answers a new TCP connection (a SYN) inside the bridge to `to` with a reset (an address
    /// of a replica being retired: callers that try every resolved address go on to the next
    /// at once, instead of waiting on a dropped SYN). Installed by [`Firewall::ensure`], with
    /// the two `IngressKeep` rules of the same address, before the `IngressAllow` rules of the
    /// same network; never for an allowed address.
    ///
    /// [`Firewall::ensure`]: crate::Firewall::ensure
    IngressRefuse {
        /// The refused destination.
        to: Ipv4Addr,
    },
    /// Lets TCP segments other than a SYN to (`outbound: false`) or from (`outbound: true`) a
    /// refused address through although conntrack does not know their connection: Docker
    /// flushes the conntrack entries of an address when its endpoint is disconnected, and the
    /// next segment of a connection that lived through it is then seen as `NEW`. Without a
    /// SYN nothing new can be opened.
    IngressKeep {
        /// The refused address.
        peer: Ipv4Addr,
        /// True for segments it sends, false for segments sent to it.
        outbound: bool,
    },
}

/// The egress kinds `ensure_egress_block` installs, in that order, with their chains.
pub(crate) const EGRESS: [(RuleKind, &str); 2] = [
    (RuleKind::ForwardedEgress, DOCKER_USER),
    (RuleKind::HostAccess, INPUT),
];

/// The comment that identifies the rules of one network of one project.
pub(crate) fn tag(project: &str, network: &str) -> String {
    format!("{TAG_PREFIX}{project}:{network}")
}

/// 32-bit FNV-1a: a stable, dependency-free hash for chain names (not a security boundary:
/// a clash is detected through the tags, see `Firewall::restrict_ingress`).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `BULKHEAD-<project hash>-`: the start of the name of every chain of `project`.
pub(crate) fn project_chain_prefix(project: &str) -> String {
    format!("{CHAIN_PREFIX}{:08x}-", fnv1a(project))
}

/// The two possible names of the ingress chain of `project`/`network`, 28 characters each
/// (the iptables limit).
pub(crate) fn ingress_chains(project: &str, network: &str) -> [String; 2] {
    let base = format!("{}{:08x}-", project_chain_prefix(project), fnv1a(network));
    SLOTS.map(|slot| format!("{base}{slot}"))
}

/// True for the name of a chain bulkhead creates.
pub(crate) fn is_ingress_chain(chain: &str) -> bool {
    chain.starts_with(CHAIN_PREFIX)
}

/// The matches of every ingress rule, up to the comment: inside the bridge, and not part of
/// (or related to) a connection conntrack already knows. That is `NEW`, but also `INVALID`
/// and `UNTRACKED`: a packet conntrack cannot place must not slip past the default drop.
fn ingress_matches(bridge: &str) -> [&str; 9] {
    [
        "-i",
        bridge,
        "-o",
        bridge,
        "-m",
        "conntrack",
        "!",
        "--ctstate",
        "RELATED,ESTABLISHED",
    ]
}

/// The rule specification (everything after `-A CHAIN`) in the order `iptables -S` prints it,
/// so that a listing reads back exactly what was installed.
pub(crate) fn render(kind: RuleKind, bridge: &str, tag: &str) -> Vec<String> {
    let to;
    let mut args: Vec<&str> = Vec::new();
    let target = match kind {
        RuleKind::ForwardedEgress | RuleKind::HostAccess => {
            args.extend(["-i", bridge]);
            if kind == RuleKind::ForwardedEgress {
                // Traffic between containers of the same network is not egress.
                args.extend(["!", "-o", bridge]);
            }
            args.extend(["-m", "conntrack", "--ctstate", "NEW"]);
            "DROP"
        }
        RuleKind::IngressAllow { to: addr } => {
            to = format!("{addr}/32");
            args.extend(["-d", &to]);
            args.extend(ingress_matches(bridge));
            "RETURN"
        }
        RuleKind::IngressDefaultDrop => {
            args.extend(ingress_matches(bridge));
            "DROP"
        }
        RuleKind::IngressRefuse { to: addr } => {
            to = format!("{addr}/32");
            let matches = ingress_matches(bridge);
            args.extend(["-d", &to]);
            args.extend(&matches[..4]);
            args.extend([
                "-p",
                "tcp",
                "-m",
                "tcp",
                "--tcp-flags",
                "FIN,SYN,RST,ACK",
                "SYN",
            ]);
            args.extend(&matches[4..]);
            "REJECT"
        }
        RuleKind::IngressKeep { peer, outbound } => {
            to = format!("{peer}/32");
            let matches = ingress_matches(bridge);
            args.extend([if outbound { "-s" } else { "-d" }, &to]);
            args.extend(&matches[..4]);
            args.extend([
                "-p",
                "tcp",
                "-m",
                "tcp",
                "!",
                "--tcp-flags",
                "FIN,SYN,RST,ACK",
            ]);
            args.extend(["SYN"]);
            args.extend(&matches[4..]);
            "RETURN"
        }
    };
    args.extend(["-m", "comment", "--comment", tag, "-j", target]);
    if target == "REJECT" {
        args.extend(["--reject-with", "tcp-reset"]);
    }
    args.into_iter().map(str::to_string).collect()
}

/// The contents of an ingress chain: one refusal per refused address, then one allow per
/// allowed address (each in the given order), then the default drop.
pub(crate) fn render_ingress_chain(
    allowed: &[Ipv4Addr],
    refused: &[Ipv4Addr],
    bridge: &str,
    tag: &str,
) -> Vec<Vec<String>> {
    refused
        .iter()
        .flat_map(|&to| {
            [
                RuleKind::IngressRefuse { to },
                RuleKind::IngressKeep {
                    peer: to,
                    outbound: false,
                },
                RuleKind::IngressKeep {
                    peer: to,
                    outbound: true,
                },
            ]
        })
        .map(|kind| render(kind, bridge, tag))
        .chain(
            allowed
                .iter()
                .map(|&to| render(RuleKind::IngressAllow { to }, bridge, tag)),
        )
        .chain([render(RuleKind::IngressDefaultDrop, bridge, tag)])
        .collect()
}

/// The `DOCKER-USER` rule that sends the packets the ingress rules are about to `chain`.
///
/// `-g` (goto), not `-j`: a `RETURN` in `chain` then returns to `FORWARD` (exactly like a
/// `-j RETURN` written in `DOCKER-USER` would), and every packet that enters `chain` gets its
/// verdict there (the last rule drops whatever the jump matched). So the first such jump in
/// `DOCKER-USER` decides alone; a second one below it is never reached.
pub(crate) fn render_ingress_jump(bridge: &str, tag: &str, chain: &str) -> Vec<String> {
    let mut args: Vec<&str> = ingress_matches(bridge).to_vec();
    args.extend(["-m", "comment", "--comment", tag, "-g", chain]);
    args.into_iter().map(str::to_string).collect()
}

/// One `-A CHAIN ...` line of `iptables -S CHAIN`, split into arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 1-based position in the chain.
    pub position: usize,
    /// The rule specification after `-A CHAIN` (quotes removed), usable with `-C` and `-D`.
    pub args: Vec<String>,
}

impl Entry {
    /// The `(project, network)` of a bulkhead tag, if the rule has one.
    pub fn tag(&self) -> Option<(&str, &str)> {
        let comment = self
            .args
            .windows(2)
            .find(|w| w[0] == "--comment")
            .map(|w| w[1].as_str())?;
        comment.strip_prefix(TAG_PREFIX)?.split_once(':')
    }

    /// True for a rule without matches that ends the chain for every packet (Docker's
    /// `-j RETURN` in DOCKER-USER, or a blanket ACCEPT/DROP): rules after it are dead.
    pub fn is_unconditional_verdict(&self) -> bool {
        matches!(
            self.args.as_slice(),
            [j, target] if j == "-j" && matches!(target.as_str(), "RETURN" | "ACCEPT" | "DROP" | "REJECT")
        )
    }

    /// True if the rule has the word `arg` (an option such as `-d`).
    fn has_arg(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }

    /// The value of a non-negated option `opt` (such as `-i`), if the rule has one.
    fn option(&self, opt: &str) -> Option<&str> {
        self.args
            .windows(2)
            .enumerate()
            .find(|(i, w)| w[0] == opt && (*i == 0 || self.args[i - 1] != "!"))
            .map(|(_, w)| w[1].as_str())
    }

    /// The value of a non-negated `-i IFACE`: the bridge a rule of ours is bound to.
    pub fn in_iface(&self) -> Option<&str> {
        self.option("-i")
    }

    /// The address of a non-negated `-d A.B.C.D/32`.
    fn destination(&self) -> Option<Ipv4Addr> {
        self.option("-d")?.strip_suffix("/32")?.parse().ok()
    }

    /// The address of a non-negated `-s A.B.C.D/32`.
    fn source(&self) -> Option<Ipv4Addr> {
        self.option("-s")?.strip_suffix("/32")?.parse().ok()
    }

    /// The target of `-j TARGET` or `-g CHAIN` (iptables prints it last, before the options of
    /// the target).
    pub fn target(&self) -> Option<&str> {
        self.args
            .windows(2)
            .rev()
            .find(|w| w[0] == "-j" || w[0] == "-g")
            .map(|w| w[1].as_str())
    }

    /// The bulkhead chain this rule jumps or goes to, if any: in `DOCKER-USER`, this marks the
    /// jump of an ingress restriction.
    pub fn ingress_chain(&self) -> Option<&str> {
        self.target().filter(|t| is_ingress_chain(t))
    }

    /// The backend-independent view of a tagged rule in `chain`, if it is one of ours. The
    /// jump to an ingress chain is plumbing, not a rule of its own: `None`.
    pub fn to_rule(&self, chain: &str) -> Option<Rule> {
        let kind = match chain {
            DOCKER_USER if self.ingress_chain().is_none() => RuleKind::ForwardedEgress,
            INPUT => RuleKind::HostAccess,
            c if is_ingress_chain(c) => match self.target()? {
                "RETURN" if self.has_arg("--tcp-flags") => match self.source() {
                    Some(peer) => RuleKind::IngressKeep {
                        peer,
                        outbound: true,
                    },
                    None => RuleKind::IngressKeep {
                        peer: self.destination()?,
                        outbound: false,
                    },
                },
                "RETURN" => RuleKind::IngressAllow {
                    to: self.destination()?,
                },
                "DROP" if !self.has_arg("-d") => RuleKind::IngressDefaultDrop,
                "REJECT" => RuleKind::IngressRefuse {
                    to: self.destination()?,
                },
                _ => return None,
            },
            _ => return None,
        };
        let (project, network) = self.tag()?;
        Some(Rule {
            project: project.to_string(),
            network: network.to_string(),
            bridge: self.in_iface()?.to_string(),
            kind,
        })
    }
}

/// Every chain of a table (empty ones included) with its rules, as listed by `iptables -S`.
pub(crate) type Table = BTreeMap<String, Vec<Entry>>;

/// Parses the output of `iptables -S` (all chains of a table): `-P CHAIN POLICY` and `-N CHAIN`
/// declare chains, `-A CHAIN ...` lines become [`Entry`]s numbered from 1 within their chain.
pub(crate) fn parse_table(output: &str) -> Result<Table, FirewallError> {
    let mut table = Table::new();
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |reason| FirewallError::Parse {
            chain: "*".to_string(),
            line: line.to_string(),
            reason,
        };
        let words = split_words(trimmed).map_err(err)?;
        match words.as_slice() {
            [p, chain, _policy] if p == "-P" => {
                table.entry(chain.clone()).or_default();
            }
            [n, chain] if n == "-N" => {
                table.entry(chain.clone()).or_default();
            }
            [a, chain, args @ ..] if a == "-A" => {
                let rules = table.entry(chain.clone()).or_default();
                rules.push(Entry {
                    position: rules.len() + 1,
                    args: args.to_vec(),
                });
            }
            _ => return Err(err("expected -P CHAIN POLICY, -N CHAIN or -A CHAIN")),
        }
    }
    Ok(table)
}

/// Parses the output of `iptables -S CHAIN`: `-P`/`-N` lines and blank lines are skipped,
/// `-A CHAIN ...` lines become [`Entry`]s numbered from 1.
pub(crate) fn parse_chain(chain: &str, output: &str) -> Result<Vec<Entry>, FirewallError> {
    let mut entries = Vec::new();
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |reason| FirewallError::Parse {
            chain: chain.to_string(),
            line: line.to_string(),
            reason,
        };
        let words = split_words(trimmed).map_err(err)?;
        match words.first().map(String::as_str) {
            Some("-P" | "-N") => continue,
            Some("-A") => {}
            _ => return Err(err("expected -P, -N or -A")),
        }
        if words.get(1).map(String::as_str) != Some(chain) {
            return Err(err("rule of another chain"));
        }
        entries.push(Entry {
            position: entries.len() + 1,
            args: words[2..].to_vec(),
        });
    }
    Ok(entries)
}

/// Splits a line of `iptables -S` output into words. iptables quotes some values (comments)
/// with `"` and escapes `"` and `\` inside them with a backslash.
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote"),
                    Some('"') => break,
                    Some('\\') => word.push(chars.next().ok_or("dangling backslash")?),
                    Some(c) => word.push(c),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
                return Err("text right after a closing quote");
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
}

/// Shows a command for messages: arguments with odd characters are single-quoted.
pub(crate) fn display_command(program: &str, args: &[String]) -> String {
    let mut out = program.to_string();
    for a in args {
        out.push(' ');
        if !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/!=,".contains(&b))
        {
            out.push_str(a);
        } else {
            out.push('\'');
            out.push_str(&a.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn renders_forwarded_egress_rule() {
        let args = render(
            RuleKind::ForwardedEgress,
            "br-0123456789ab",
            &tag("shop", "edge"),
        );
        assert_eq!(
            args.join(" "),
            "-i br-0123456789ab ! -o br-0123456789ab -m conntrack --ctstate NEW \
             -m comment --comment bulkhead:shop:edge -j DROP"
        );
    }

    #[test]
    fn renders_host_access_rule() {
        let args = render(RuleKind::HostAccess, "docker0", &tag("shop", "edge"));
        assert_eq!(
            args.join(" "),
            "-i docker0 -m conntrack --ctstate NEW -m comment --comment bulkhead:shop:edge -j DROP"
        );
    }

    #[test]
    fn egress_kinds_map_to_chains() {
        assert_eq!(
            EGRESS,
            [
                (RuleKind::ForwardedEgress, "DOCKER-USER"),
                (RuleKind::HostAccess, "INPUT")
            ]
        );
    }

    const BR: &str = "br-0123456789ab";
    const O: Ipv4Addr = Ipv4Addr::new(172, 23, 0, 2);

    #[test]
    fn renders_ingress_rules() {
        let tag = tag("shop", "db-in");
        assert_eq!(
            render(RuleKind::IngressAllow { to: O }, BR, &tag).join(" "),
            "-d 172.23.0.2/32 -i br-0123456789ab -o br-0123456789ab \
             -m conntrack ! --ctstate RELATED,ESTABLISHED \
             -m comment --comment bulkhead:shop:db-in -j RETURN"
        );
        assert_eq!(
            render(RuleKind::IngressDefaultDrop, BR, &tag).join(" "),
            "-i br-0123456789ab -o br-0123456789ab -m conntrack ! --ctstate RELATED,ESTABLISHED \
             -m comment --comment bulkhead:shop:db-in -j DROP"
        );
        assert_eq!(
            render_ingress_jump(BR, &tag, "BULKHEAD-00000000-00000000-a").join(" "),
            "-i br-0123456789ab -o br-0123456789ab -m conntrack ! --ctstate RELATED,ESTABLISHED \
             -m comment --comment bulkhead:shop:db-in -g BULKHEAD-00000000-00000000-a"
        );
    }

    #[test]
    fn a_refusal_resets_new_tcp_connections_and_reads_back() {
        use RuleKind::IngressKeep;
        let tag = tag("shop", "db-in");
        let o2 = Ipv4Addr::new(172, 23, 0, 9);
        let refuse = render(RuleKind::IngressRefuse { to: o2 }, BR, &tag);
        // The order `iptables -S` prints (checked against iptables 1.8).
        assert_eq!(
            refuse.join(" "),
            "-d 172.23.0.9/32 -i br-0123456789ab -o br-0123456789ab -p tcp -m tcp \
             --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack ! --ctstate RELATED,ESTABLISHED \
             -m comment --comment bulkhead:shop:db-in -j REJECT --reject-with tcp-reset"
        );
        let keep_from = IngressKeep {
            peer: o2,
            outbound: true,
        };
        assert_eq!(
            render(keep_from, BR, &tag).join(" "),
            "-s 172.23.0.9/32 -i br-0123456789ab -o br-0123456789ab -p tcp -m tcp \
             ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack ! --ctstate RELATED,ESTABLISHED \
             -m comment --comment bulkhead:shop:db-in -j RETURN"
        );
        let chain = render_ingress_chain(&[O], &[o2], BR, &tag);
        assert_eq!(chain[0], refuse, "refusals come first");
        assert_eq!(chain[3], render(RuleKind::IngressAllow { to: O }, BR, &tag));
        let name = "BULKHEAD-1a2b3c4d-5e6f7a8b-a";
        let kinds: Vec<Option<RuleKind>> = chain[..3]
            .iter()
            .map(|rule| {
                let line = format!("-A {name} {}", rule.join(" ")).replace(
                    "--comment bulkhead:shop:db-in",
                    "--comment \"bulkhead:shop:db-in\"",
                );
                let entry = &parse_chain(name, &line).expect("parses")[0];
                assert_eq!(&entry.args, rule);
                entry.to_rule(name).map(|r| r.kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                Some(RuleKind::IngressRefuse { to: o2 }),
                Some(IngressKeep {
                    peer: o2,
                    outbound: false
                }),
                Some(keep_from)
            ]
        );
    }

    #[test]
    fn ingress_chain_puts_the_allows_before_the_drop() {
        let tag = tag("shop", "db-in");
        let o2 = Ipv4Addr::new(172, 23, 0, 9);
        let chain = render_ingress_chain(&[O, o2], &[], BR, &tag);
        assert_eq!(chain.len(), 3);
        assert_eq!(chain[0], render(RuleKind::IngressAllow { to: O }, BR, &tag));
        assert_eq!(
            chain[1],
            render(RuleKind::IngressAllow { to: o2 }, BR, &tag)
        );
        assert_eq!(chain[2], render(RuleKind::IngressDefaultDrop, BR, &tag));
        assert_eq!(
            render_ingress_chain(&[], &[], BR, &tag),
            [render(RuleKind::IngressDefaultDrop, BR, &tag)],
            "no allowed address: only the drop"
        );
    }

    #[test]
    fn ingress_chain_names_fit_iptables_and_are_stable() {
        // FNV-1a reference values.
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
        let [a, b] = ingress_chains("shop", "db-in");
        assert_eq!(
            a,
            format!("BULKHEAD-{:08x}-{:08x}-a", fnv1a("shop"), fnv1a("db-in"))
        );
        assert_eq!(
            b,
            format!("BULKHEAD-{:08x}-{:08x}-b", fnv1a("shop"), fnv1a("db-in"))
        );
        // iptables: "chain name ... too long (must be under 29 chars)".
        assert_eq!(a.len(), 28);
        assert!(a.starts_with(&project_chain_prefix("shop")));
        assert!(is_ingress_chain(&a) && is_ingress_chain(&b));
        assert!(!is_ingress_chain("DOCKER-USER"));
        assert_ne!(
            ingress_chains("shop", "db-in"),
            ingress_chains("shop", "api-in")
        );
        assert_ne!(
            ingress_chains("shop", "db-in"),
            ingress_chains("blog", "db-in")
        );
        assert_eq!(ingress_chains("shop", "db-in"), [a, b], "deterministic");
    }

    /// Real output of `iptables -S` for an ingress chain and its jump (iptables v1.8.9,
    /// nf_tables), with the egress rule of the same network.
    const INGRESS_OUTPUT: &str = "-N BULKHEAD-1a2b3c4d-5e6f7a8b-b\n\
        -A BULKHEAD-1a2b3c4d-5e6f7a8b-b -d 192.168.208.2/32 -i br-805ca22c7bc1 -o br-805ca22c7bc1 \
        -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment \"bulkhead:bhfwx:in\" -j RETURN\n\
        -A BULKHEAD-1a2b3c4d-5e6f7a8b-b -i br-805ca22c7bc1 -o br-805ca22c7bc1 \
        -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment \"bulkhead:bhfwx:in\" -j DROP\n";
    const INGRESS_JUMP_OUTPUT: &str = "-N DOCKER-USER\n\
        -A DOCKER-USER -i br-805ca22c7bc1 -o br-805ca22c7bc1 -m conntrack ! --ctstate RELATED,ESTABLISHED \
        -m comment --comment \"bulkhead:bhfwx:in\" -g BULKHEAD-1a2b3c4d-5e6f7a8b-b\n\
        -A DOCKER-USER -i br-805ca22c7bc1 ! -o br-805ca22c7bc1 -m conntrack --ctstate NEW \
        -m comment --comment \"bulkhead:bhfwx:in\" -j DROP\n\
        -A DOCKER-USER -j RETURN\n";

    #[test]
    fn parses_ingress_chain_listing() {
        let chain = "BULKHEAD-1a2b3c4d-5e6f7a8b-b";
        let (bridge, tag) = ("br-805ca22c7bc1", "bulkhead:bhfwx:in");
        let entries = parse_chain(chain, INGRESS_OUTPUT).expect("parses");
        let o = Ipv4Addr::new(192, 168, 208, 2);
        assert_eq!(
            entries.iter().map(|e| e.args.clone()).collect::<Vec<_>>(),
            render_ingress_chain(&[o], &[], bridge, tag),
            "the listing reads back exactly what render_ingress_chain() produces"
        );
        let rule = |kind| Rule {
            project: "bhfwx".into(),
            network: "in".into(),
            bridge: bridge.into(),
            kind,
        };
        assert_eq!(
            entries[0].to_rule(chain),
            Some(rule(RuleKind::IngressAllow { to: o }))
        );
        assert_eq!(
            entries[1].to_rule(chain),
            Some(rule(RuleKind::IngressDefaultDrop))
        );
        assert_eq!(entries[0].target(), Some("RETURN"));
        assert_eq!(entries[0].ingress_chain(), None);
        // The same rules in a chain that is not ours mean nothing to us.
        assert_eq!(entries[0].to_rule("FORWARD"), None);
    }

    #[test]
    fn tells_the_ingress_jump_from_the_egress_rule() {
        let chain = "BULKHEAD-1a2b3c4d-5e6f7a8b-b";
        let entries = parse_chain("DOCKER-USER", INGRESS_JUMP_OUTPUT).expect("parses");
        assert_eq!(
            entries[0].args,
            render_ingress_jump("br-805ca22c7bc1", "bulkhead:bhfwx:in", chain)
        );
        assert_eq!(entries[0].target(), Some(chain));
        assert_eq!(entries[0].ingress_chain(), Some(chain));
        assert_eq!(entries[0].tag(), Some(("bhfwx", "in")));
        assert_eq!(
            entries[0].to_rule("DOCKER-USER"),
            None,
            "the jump is plumbing"
        );
        assert_eq!(entries[1].ingress_chain(), None);
        assert_eq!(
            entries[1].to_rule("DOCKER-USER").map(|r| r.kind),
            Some(RuleKind::ForwardedEgress)
        );
        assert_eq!(entries[2].ingress_chain(), None);
    }

    #[test]
    fn ingress_rules_of_unexpected_shape_are_not_listed() {
        let chain = "BULKHEAD-1a2b3c4d-5e6f7a8b-a";
        let kind = |rule: &str| {
            let line = format!("-A {chain} {rule}");
            parse_chain(chain, &line).expect("parses")[0]
                .to_rule(chain)
                .map(|r| r.kind)
        };
        let c = "-m comment --comment bulkhead:p:n";
        assert_eq!(
            kind(&format!("-d 10.0.0.1/32 -i br0 -o br0 {c} -j RETURN")),
            Some(RuleKind::IngressAllow {
                to: Ipv4Addr::new(10, 0, 0, 1)
            })
        );
        for odd in [
            format!("-i br0 -o br0 {c} -j RETURN"),
            format!("-d 10.0.0.0/24 -i br0 -o br0 {c} -j RETURN"),
            format!("! -d 10.0.0.1/32 -i br0 -o br0 {c} -j RETURN"),
            format!("-d 10.0.0.1/32 -i br0 -o br0 {c} -j DROP"),
            format!("-d 10.0.0.1/32 -i br0 -o br0 {c} -j ACCEPT"),
            format!("-d 10.0.0.1/32 ! -i br0 -o br0 {c} -j RETURN"),
            "-d 10.0.0.1/32 -i br0 -o br0 -j RETURN".to_string(),
        ] {
            assert_eq!(kind(&odd), None, "{odd}");
        }
    }

    #[test]
    fn parses_a_whole_table() {
        let out = format!(
            "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N BULKHEAD-1a2b3c4d-5e6f7a8b-a\n\
             -N BULKHEAD-1a2b3c4d-5e6f7a8b-b\n-N DOCKER\n-N DOCKER-USER\n\
             -A FORWARD -j DOCKER-USER\n-A FORWARD -i br-805ca22c7bc1 -o br-805ca22c7bc1 -j ACCEPT\n{}{}",
            INGRESS_OUTPUT
                .lines()
                .filter(|l| l.starts_with("-A"))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
            INGRESS_JUMP_OUTPUT
                .lines()
                .filter(|l| l.starts_with("-A"))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
        let table = parse_table(&out).expect("parses");
        let sizes: Vec<(&str, usize)> = table.iter().map(|(c, e)| (c.as_str(), e.len())).collect();
        assert_eq!(
            sizes,
            [
                ("BULKHEAD-1a2b3c4d-5e6f7a8b-a", 0),
                ("BULKHEAD-1a2b3c4d-5e6f7a8b-b", 2),
                ("DOCKER", 0),
                ("DOCKER-USER", 3),
                ("FORWARD", 2),
                ("INPUT", 0),
                ("OUTPUT", 0),
            ]
        );
        assert_eq!(table["DOCKER-USER"][2].position, 3);
        assert!(table["DOCKER-USER"][2].is_unconditional_verdict());
        for bad in ["-X DOCKER", "-P INPUT", "-A", "-N", "-A X \"open"] {
            let err = parse_table(bad).expect_err(bad);
            assert!(matches!(err, FirewallError::Parse { .. }), "{err}");
        }
    }

    /// Real output of `iptables -S DOCKER-USER` (iptables v1.8.9, nf_tables) with one rule.
    const DOCKER_USER_OUTPUT: &str = "-N DOCKER-USER\n\
        -A DOCKER-USER -i br-6a7b82dbdb5d ! -o br-6a7b82dbdb5d -m conntrack --ctstate NEW \
        -m comment --comment \"bulkhead:facts:bhfw-ext\" -j DROP\n\
        -A DOCKER-USER -j RETURN\n";

    #[test]
    fn parses_docker_user_listing() {
        let entries = parse_chain("DOCKER-USER", DOCKER_USER_OUTPUT).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].position, 1);
        assert_eq!(entries[0].tag(), Some(("facts", "bhfw-ext")));
        assert_eq!(
            entries[0].args,
            render(
                RuleKind::ForwardedEgress,
                "br-6a7b82dbdb5d",
                "bulkhead:facts:bhfw-ext"
            ),
            "the listing reads back exactly what render() produces"
        );
        assert!(!entries[0].is_unconditional_verdict());
        assert_eq!(entries[1].args, strings(&["-j", "RETURN"]));
        assert_eq!(entries[1].tag(), None);
        assert!(entries[1].is_unconditional_verdict());
        assert_eq!(
            entries[0].to_rule("DOCKER-USER"),
            Some(Rule {
                project: "facts".into(),
                network: "bhfw-ext".into(),
                bridge: "br-6a7b82dbdb5d".into(),
                kind: RuleKind::ForwardedEgress,
            })
        );
        assert_eq!(entries[1].to_rule("DOCKER-USER"), None);
    }

    #[test]
    fn parses_input_listing_with_policy_and_foreign_rules() {
        let out = "-P INPUT ACCEPT\n\
            -A INPUT -i lo -j ACCEPT\n\
            -A INPUT -i br-0123456789ab -m conntrack --ctstate NEW -m comment --comment \"bulkhead:shop:edge\" -j DROP\n\
            -A INPUT -p tcp -m comment --comment \"someone else's: rule\" -j ACCEPT\n\
            -A INPUT -m comment --comment bulkhead:shop:unquoted -j DROP\n";
        let entries = parse_chain("INPUT", out).expect("parses");
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].position, 2);
        assert_eq!(entries[0].tag(), None);
        assert!(!entries[0].is_unconditional_verdict());
        let rule = entries[1].to_rule("INPUT").expect("ours");
        assert_eq!(rule.kind, RuleKind::HostAccess);
        assert_eq!(rule.bridge, "br-0123456789ab");
        assert_eq!(entries[2].tag(), None);
        assert_eq!(entries[2].args[5], "someone else's: rule");
        // Tagged, but without an input interface: removable, not listable.
        assert_eq!(entries[3].tag(), Some(("shop", "unquoted")));
        assert_eq!(entries[3].to_rule("INPUT"), None);
    }

    #[test]
    fn negated_input_interface_is_not_the_bridge() {
        let out = "-A INPUT ! -i br0 -m comment --comment \"bulkhead:p:n\" -j DROP\n";
        let entries = parse_chain("INPUT", out).expect("parses");
        assert_eq!(entries[0].to_rule("INPUT"), None);
    }

    #[test]
    fn unescapes_quoted_words() {
        assert_eq!(
            split_words(r#"-A X --comment "a \"b\" \\ c" -j DROP"#).expect("splits"),
            strings(&["-A", "X", "--comment", r#"a "b" \ c"#, "-j", "DROP"])
        );
        assert_eq!(
            split_words("  -A   X  \"\" ").expect("splits"),
            strings(&["-A", "X", ""])
        );
    }

    #[test]
    fn rejects_malformed_listings() {
        for bad in [
            "-A DOCKER-USER --comment \"open",
            "-A DOCKER-USER --comment \"a\"b -j DROP",
            "-A DOCKER-USER --comment \"a\\",
            "-A FORWARD -j DROP",
            "iptables: No chain/target/match by that name.",
        ] {
            let err = parse_chain("DOCKER-USER", bad).expect_err(bad);
            assert!(matches!(err, FirewallError::Parse { .. }), "{err}");
        }
        assert_eq!(parse_chain("DOCKER-USER", "").expect("empty"), vec![]);
        assert_eq!(
            parse_chain("DOCKER-USER", "# Warning: iptables-legacy tables present\n")
                .expect("comment"),
            vec![]
        );
    }

    #[test]
    fn tags_need_project_and_network() {
        let e = |comment: &str| Entry {
            position: 1,
            args: strings(&["-m", "comment", "--comment", comment, "-j", "DROP"]),
        };
        assert_eq!(e("bulkhead:p:n").tag(), Some(("p", "n")));
        assert_eq!(e("bulkhead:p").tag(), None);
        assert_eq!(e("other:p:n").tag(), None);
    }

    #[test]
    fn displays_commands_readably() {
        assert_eq!(
            display_command(
                "iptables",
                &strings(&["-w", "-I", "INPUT", "1", "--comment", "it's x", ""])
            ),
            r"iptables -w -I INPUT 1 --comment 'it'\''s x' ''"
        );
    }
}
