//! Checks across the whole project: names, references between services and resources,
//! dependency cycles, clashing host ports and container names, replicas that would share a
//! writable volume.

use std::collections::BTreeMap;

use super::decode::Errors;
use super::error::SpecError;
use super::model::{MountKind, Project, Service};
use crate::names;

/// Service names become container and DNS names: [`names::SERVICE`].
pub fn service_name(name: &str) -> Result<(), String> {
    names::SERVICE.validate(name).map_err(|e| e.to_string())
}

/// Project names as Compose accepts them: [`names::PROJECT`].
pub fn project_name(name: &str) -> Result<(), String> {
    names::PROJECT.validate(name).map_err(|e| e.to_string())
}

/// The directory-name fallback: lowercased, other characters dropped, as Compose does.
pub fn normalize_project_name(dir: &str) -> String {
    let s: String = dir
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    s.trim_start_matches(['_', '-']).chars().take(63).collect()
}

/// Every cross-reference in the project, checked.
pub fn references(p: &Project, errors: &mut Errors) {
    for s in p.services.values() {
        dependencies(p, s, errors);
        resources(p, s, errors);
        if s.image.is_none() && s.build.is_none() {
            errors.push(
                SpecError::value(
                    &s.span,
                    format!("service `{}` has neither `image` nor `build`", s.name),
                )
                .with_hint("add `image: NAME` or `build: ./DIR`"),
            );
        }
        if let Some(c) = &s.container_name
            && s.replicas > 1
        {
            errors.push(SpecError::value(
                &c.span,
                format!("service `{}` sets container_name but asks for {} replicas; names must be unique", s.name, s.replicas),
            ));
        }
    }
    case_clashes(p, errors);
    cycles(p, errors);
    host_ports(p, errors);
    shared_writes(p, errors);
    for s in p.services.values() {
        super::rollout::check_service(s, errors);
    }
}

/// Two services whose names differ in case alone would answer to one name: Docker's DNS
/// resolves names whatever their case, and an image repository is lower case only.
fn case_clashes(p: &Project, errors: &mut Errors) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for s in p.services.values() {
        if let Some(other) = seen.insert(s.name.to_ascii_lowercase(), &s.name) {
            errors.push(
                SpecError::value(
                    &s.span,
                    format!(
                        "services `{other}` and `{}` differ in case alone: Docker's DNS and image names would not tell them apart",
                        s.name
                    ),
                )
                .with_hint("rename one of them"),
            );
        }
    }
}

/// Never two replicas writing one volume: a scale above 1 of a service with a writable named
/// volume or bind mount needs `x-bulkhead.share_volumes` (the application coordinates its
/// writers). Anonymous volumes are each replica's own.
fn shared_writes(p: &Project, errors: &mut Errors) {
    for s in p.services.values() {
        if s.replicas <= 1 || s.bulkhead.share_volumes {
            continue;
        }
        let shared = s.volumes.iter().find(|m| {
            !m.value.read_only
                && match m.value.kind {
                    MountKind::Bind => true,
                    MountKind::Volume => !m.value.source.is_empty(),
                    MountKind::Tmpfs => false,
                }
        });
        if let Some(m) = shared {
            errors.push(
                SpecError::value(
                    &m.span,
                    format!(
                        "service `{}` asks for {} replicas but writes {} at {}: they would all write it at once",
                        s.name,
                        s.replicas,
                        if m.value.kind == MountKind::Bind {
                            "a bind mount".to_string()
                        } else {
                            format!("volume `{}`", m.value.source)
                        },
                        m.value.target
                    ),
                )
                .with_hint("keep 1 replica, mount it read-only (`:ro`), or declare `x-bulkhead: { share_volumes: true }` if the application coordinates its writers"),
            );
        }
    }
}

fn dependencies(p: &Project, s: &Service, errors: &mut Errors) {
    for (dep, at) in &s.depends_on {
        if p.services.contains_key(dep) || !at.value.required {
            continue;
        }
        let why = if p.inactive.contains(dep) {
            format!(
                "service `{}` depends on `{dep}`, which is disabled by its profiles",
                s.name
            )
        } else {
            format!(
                "service `{}` depends on `{dep}`, which is not a service of this project",
                s.name
            )
        };
        errors.push(SpecError::value(&at.span, why).with_hint(format!("services: {}", names(p))));
    }
    for caller in s.bulkhead.allow_from.iter().flatten() {
        if !p.services.contains_key(&caller.value) {
            errors.push(
                SpecError::value(&caller.span, format!("service `{}`: x-bulkhead.allow_from names `{}`, which is not a service of this project", s.name, caller.value))
                    .with_hint(format!("services: {}", names(p))),
            );
        }
    }
}

fn names(p: &Project) -> String {
    p.services.keys().cloned().collect::<Vec<_>>().join(", ")
}

fn resources(p: &Project, s: &Service, errors: &mut Errors) {
    for net in s.networks.keys() {
        if net != "default" && !p.networks.contains_key(net) {
            errors.push(SpecError::value(s.key_span("networks"), format!("service `{}` uses network `{net}`, which is not declared under the top-level `networks:`", s.name)));
        }
    }
    for m in &s.volumes {
        if m.value.kind == MountKind::Volume
            && !m.value.source.is_empty()
            && !p.volumes.contains_key(&m.value.source)
        {
            errors.push(
                SpecError::value(&m.span, format!("service `{}` mounts volume `{}`, which is not declared under the top-level `volumes:`", s.name, m.value.source))
                    .with_hint(format!("add `volumes: {{ {}: }}` at the top level, or write ./{} for a directory of the project", m.value.source, m.value.source)),
            );
        }
    }
    for (kind, refs, defs) in [
        ("secret", &s.secrets, &p.secrets),
        ("config", &s.configs, &p.configs),
    ] {
        for r in refs {
            if !defs.contains_key(&r.value.source) {
                errors.push(SpecError::value(&r.span, format!("service `{}` uses {kind} `{}`, which is not declared under the top-level `{kind}s:`", s.name, r.value.source)));
            }
        }
    }
}

/// A dependency cycle makes an order of start impossible: name it, service by service.
fn cycles(p: &Project, errors: &mut Errors) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> =
        p.services.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in p.services.keys() {
        if marks.get(start.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative depth-first search; the stack holds (service, next dependency index).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::Active);
        while let Some((name, i)) = stack.pop() {
            let deps: Vec<&str> = p
                .services
                .get(name)
                .map(|s| s.depends_on.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let Some(next) = deps.get(i) else {
                marks.insert(name, Mark::Done);
                continue;
            };
            stack.push((name, i + 1));
            match marks.get(next) {
                Some(Mark::New) => {
                    marks.insert(next, Mark::Active);
                    stack.push((next, 0));
                }
                Some(Mark::Active) => {
                    let from = stack.iter().position(|(n, _)| n == next).unwrap_or(0);
                    let mut path: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                    path.push(next);
                    let span = p
                        .services
                        .get(name)
                        .and_then(|s| s.depends_on.get(*next))
                        .map(|d| d.span.clone());
                    if let Some(span) = span {
                        errors.push(SpecError::value(
                            &span,
                            format!("depends_on forms a cycle: {}", path.join(" -> ")),
                        ));
                    }
                    return;
                }
                _ => {}
            }
        }
    }
}

fn host_ports(p: &Project, errors: &mut Errors) {
    let mut seen: BTreeMap<(u16, &str), &str> = BTreeMap::new();
    for s in p.services.values() {
        for port in &s.ports {
            let Some((start, end)) = port.value.published else {
                continue;
            };
            if start != end {
                continue;
            }
            let proto = port.value.target.protocol.as_str();
            if let Some(other) = seen.insert((start, proto), &s.name) {
                errors.push(SpecError::value(
                    &port.span,
                    if other == s.name {
                        format!("host port {start}/{proto} is published twice by `{other}`")
                    } else {
                        format!(
                            "host port {start}/{proto} is published by both `{other}` and `{}`",
                            s.name
                        )
                    },
                ));
            } else if s.replicas > 1 {
                errors.push(
                    SpecError::value(&port.span, format!("service `{}` publishes host port {start} but asks for {} replicas; only one can bind it", s.name, s.replicas))
                        .with_hint("publish a range (8080-8083:80) or leave the host port out"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(service_name("web-1.a_b").is_ok());
        assert!(service_name("-web").is_err());
        assert!(service_name("we b").is_err());
        assert!(project_name("shop").is_ok());
        assert!(project_name("Shop").is_err());
        assert_eq!(normalize_project_name("My Project.v2"), "myprojectv2");
        assert_eq!(normalize_project_name("__x"), "x");
    }
}
