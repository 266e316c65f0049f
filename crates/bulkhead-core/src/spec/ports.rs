//! Port syntaxes: `ports` short (`[IP:][HOST[-END]:]CONTAINER[-END][/PROTO]`) and long form,
//! and `expose`.

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, PortMapping, PortRange, Protocol};
use super::yaml::{Node, Value};

const PORT_KEYS: &[&str] = &[
    "target",
    "published",
    "host_ip",
    "protocol",
    "mode",
    "name",
    "app_protocol",
];

/// Decode a `ports` list.
pub fn ports(node: &Node, errors: &mut Errors) -> Vec<At<PortMapping>> {
    let Some(items) = errors.take(decode::seq(node, "ports")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let parsed = match &item.value {
            Value::Map(entries) => {
                decode::check_keys(entries, PORT_KEYS, &[], "ports entry", errors);
                long_port(item)
            }
            _ => decode::text(item, "each item of ports").and_then(|t| {
                parse_port(&t)
                    .map_err(|m| SpecError::value(&item.span, format!("ports: `{t}`: {m}")))
            }),
        };
        if let Some(p) = errors.take(parsed) {
            out.push(At {
                value: p,
                span: item.span.clone(),
            });
        }
    }
    out
}

/// Decode an `expose` list (`"3000"`, `"3000-3005"`, `"8080/udp"`).
pub fn expose(node: &Node, errors: &mut Errors) -> Vec<PortRange> {
    let Some(items) = errors.take(decode::seq(node, "expose")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let r = decode::text(item, "each item of expose").and_then(|t| {
            let (range, proto) = split_protocol(&t)?;
            let (start, end) = parse_range(range)?;
            Ok(PortRange {
                start,
                end,
                protocol: proto,
            })
        });
        if let Some(p) = errors.take(r.map_err(|e| relocate(e, item))) {
            out.push(p);
        }
    }
    out
}

/// Errors from the string parsers carry no place; put them at the node and name the key.
fn relocate(mut e: SpecError, node: &Node) -> SpecError {
    if e.span.line == 0 {
        e.span = node.span.clone();
        e.message = format!("expose: {}", e.message);
    }
    e
}

fn long_port(node: &Node) -> Result<PortMapping, SpecError> {
    let target = node
        .get("target")
        .ok_or_else(|| SpecError::shape(&node.span, "a long-syntax port needs `target`"))?;
    let protocol = match node.get("protocol") {
        Some(p) => protocol(&decode::text(p, "ports.protocol")?)
            .map_err(|m| SpecError::value(&p.span, m))?,
        None => Protocol::Tcp,
    };
    let t = decode::integer::<u16>(target, "ports.target")?;
    if t == 0 {
        return Err(SpecError::value(
            &target.span,
            "ports.target: port 0 is not valid",
        ));
    }
    let published = match node.get("published") {
        None => None,
        Some(p) => match decode::opt_text(p, "ports.published")? {
            None => None,
            Some(t) if t.is_empty() => None,
            Some(t) => Some(parse_range(&t).map_err(|e| {
                SpecError::value(&p.span, format!("ports.published: {}", e.message))
            })?),
        },
    };
    let host_ip = match node.get("host_ip") {
        Some(ip) => decode::opt_text(ip, "ports.host_ip")?,
        None => None,
    };
    if let Some(mode) = node.get("mode") {
        let m = decode::text(mode, "ports.mode")?;
        if m != "host" && m != "ingress" {
            return Err(SpecError::value(
                &mode.span,
                format!("ports.mode must be host or ingress, found `{m}`"),
            ));
        }
    }
    Ok(PortMapping {
        target: PortRange {
            start: t,
            end: t,
            protocol,
        },
        published,
        host_ip,
    })
}

fn protocol(t: &str) -> Result<Protocol, String> {
    match t.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        other => Err(format!("unknown protocol `{other}`; use tcp, udp or sctp")),
    }
}

fn split_protocol(t: &str) -> Result<(&str, Protocol), SpecError> {
    let err = |m: String| SpecError::value(&super::error::Span::synthetic(""), m);
    match t.rsplit_once('/') {
        Some((rest, p)) => Ok((rest, protocol(p).map_err(err)?)),
        None => Ok((t, Protocol::Tcp)),
    }
}

fn parse_range(t: &str) -> Result<(u16, u16), SpecError> {
    let err = |m: String| SpecError::value(&super::error::Span::synthetic(""), m);
    let one = |p: &str| -> Result<u16, SpecError> {
        match p.trim().parse::<u32>() {
            Ok(0) => Err(err("port 0 is not valid".to_string())),
            Ok(n) if n <= 65535 => Ok(n as u16),
            Ok(n) => Err(err(format!("port {n} is out of range (1-65535)"))),
            Err(_) => Err(err(format!("`{p}` is not a port number"))),
        }
    };
    let (start, end) = match t.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let p = one(t)?;
            (p, p)
        }
    };
    if end < start {
        return Err(err(format!("port range `{t}` ends before it starts")));
    }
    Ok((start, end))
}

/// Parse the short syntax. IPv6 host addresses go in brackets: `[::1]:8080:80`.
pub fn parse_port(spec: &str) -> Result<PortMapping, String> {
    let msg = |e: SpecError| e.message;
    let (rest, proto) = split_protocol(spec.trim()).map_err(msg)?;
    let (host_ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
        let (ip, tail) = stripped
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in an IPv6 address".to_string())?;
        let tail = tail
            .strip_prefix(':')
            .ok_or_else(|| "an IPv6 address must be followed by `:`".to_string())?;
        (Some(ip.to_string()), tail)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, published, container) = match (host_ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [ip, h, c]) => (Some(ip.to_string()), Some(*h), *c),
        (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
        _ => return Err("expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]".to_string()),
    };
    let (start, end) = parse_range(container).map_err(msg)?;
    let published = match published {
        None | Some("") => None,
        Some(h) => Some(parse_range(h).map_err(msg)?),
    };
    if let Some((hs, he)) = published {
        let (hn, cn) = (he - hs, end - start);
        if cn > 0 && hn != cn {
            return Err("host and container port ranges differ in length".to_string());
        }
    }
    if ip.as_deref() == Some("") {
        return Err("the host address before the first `:` is empty".to_string());
    }
    Ok(PortMapping {
        target: PortRange {
            start,
            end,
            protocol: proto,
        },
        published,
        host_ip: ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(
        start: u16,
        end: u16,
        published: Option<(u16, u16)>,
        ip: Option<&str>,
        protocol: Protocol,
    ) -> PortMapping {
        PortMapping {
            target: PortRange {
                start,
                end,
                protocol,
            },
            published,
            host_ip: ip.map(str::to_string),
        }
    }

    #[test]
    fn short_syntax() {
        use Protocol::*;
        let cases = [
            ("3000", pm(3000, 3000, None, None, Tcp)),
            ("3000-3005", pm(3000, 3005, None, None, Tcp)),
            ("8000:8000", pm(8000, 8000, Some((8000, 8000)), None, Tcp)),
            (
                "9090-9091:8080-8081",
                pm(8080, 8081, Some((9090, 9091)), None, Tcp),
            ),
            (
                "49100-49200:22",
                pm(22, 22, Some((49100, 49200)), None, Tcp),
            ),
            (
                "127.0.0.1:8001:8001",
                pm(8001, 8001, Some((8001, 8001)), Some("127.0.0.1"), Tcp),
            ),
            (
                "127.0.0.1::5000",
                pm(5000, 5000, None, Some("127.0.0.1"), Tcp),
            ),
            (
                "6060:6060/udp",
                pm(6060, 6060, Some((6060, 6060)), None, Udp),
            ),
            (
                "[::1]:6001:6001",
                pm(6001, 6001, Some((6001, 6001)), Some("::1"), Tcp),
            ),
            (
                "5054:5054/tcp",
                pm(5054, 5054, Some((5054, 5054)), None, Tcp),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_port(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn short_syntax_errors() {
        let cases = [
            ("70000", "port 70000 is out of range"),
            ("80:0", "port 0 is not valid"),
            ("http", "`http` is not a port number"),
            ("80/icmp", "unknown protocol `icmp`"),
            ("1:2:3:4", "expected [HOST_IP:]"),
            ("9090-9092:8080-8081", "ranges differ"),
            ("8081-8080", "ends before it starts"),
        ];
        for (input, want) in cases {
            let got = parse_port(input).expect_err(input);
            assert!(got.contains(want), "{input}: {got}");
        }
    }
}
