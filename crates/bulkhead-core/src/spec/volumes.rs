//! Volume syntaxes (short `[SOURCE:]TARGET[:MODE]` and long form), tmpfs mounts, and lexical
//! resolution of host paths against the project directory.

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{At, Mount, MountKind};
use super::yaml::{Node, Value};
use super::{tmpfs as tmpfs_options, units};

const LONG_KEYS: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "bind",
    "volume",
    "tmpfs",
    "consistency",
];

/// What host paths are resolved against.
pub struct PathBase<'a> {
    pub project_dir: &'a str,
    pub home: Option<&'a str>,
}

/// Decode a service's `volumes` list.
pub fn volumes(node: &Node, base: &PathBase<'_>, errors: &mut Errors) -> Vec<At<Mount>> {
    let Some(items) = errors.take(decode::seq(node, "volumes")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let parsed = match &item.value {
            Value::Map(entries) => {
                decode::check_keys(entries, LONG_KEYS, &[], "volumes entry", errors);
                long_volume(item, base)
            }
            _ => decode::text(item, "each item of volumes").and_then(|t| {
                parse_volume(&t, base)
                    .map_err(|m| SpecError::value(&item.span, format!("volumes: `{t}`: {m}")))
            }),
        };
        if let Some(m) = errors.take(parsed) {
            out.push(At {
                value: m,
                span: item.span.clone(),
            });
        }
    }
    out
}

/// The target of a volume item in either syntax, used to merge lists from several files.
pub fn target_of(node: &Node) -> Option<String> {
    match &node.value {
        Value::Map(_) => node.get("target").and_then(|t| decode::text(t, "").ok()),
        Value::Scalar { text, .. } => {
            let parts: Vec<&str> = text.split(':').collect();
            match parts.as_slice() {
                [t] => Some(t.to_string()),
                [_, t, ..] => Some(t.to_string()),
                [] => None,
            }
        }
        _ => None,
    }
}

fn is_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

/// Parse the short syntax. An empty source (`:/media`, typically an unset variable) is kept as
/// a bind with no host path so that policy can refuse it with the reason.
pub fn parse_volume(spec: &str, base: &PathBase<'_>) -> Result<Mount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => return Err("too many `:`; expected [SOURCE:]TARGET[:MODE]".to_string()),
    };
    check_target(target)?;
    let mut read_only = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "nocopy" | "shared" | "rshared" | "slave" | "rslave" | "private"
            | "rprivate" | "cached" | "delegated" | "consistent" => {}
            other => return Err(format!("unknown mode `{other}`; use ro or rw")),
        }
    }
    let single = parts.len() == 1;
    let (kind, host_path) = if single {
        (MountKind::Volume, None)
    } else if source.is_empty() {
        (MountKind::Bind, None)
    } else if is_path(source) {
        (MountKind::Bind, Some(resolve(source, base)?))
    } else {
        check_volume_name(source)?;
        (MountKind::Volume, None)
    };
    Ok(Mount {
        kind,
        source: source.to_string(),
        host_path,
        target: target.to_string(),
        read_only,
        tmpfs_size: None,
        tmpfs_mode: None,
    })
}

fn check_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("the container path `{target}` must be absolute"));
    }
    Ok(())
}

fn check_volume_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(format!(
            "`{name}` is neither a path (start it with ./ or /) nor a volume name"
        ));
    }
    Ok(())
}

fn long_volume(node: &Node, base: &PathBase<'_>) -> Result<Mount, SpecError> {
    let kind_node = node
        .get("type")
        .ok_or_else(|| SpecError::shape(&node.span, "a long-syntax volume needs `type`"))?;
    let kind = match decode::text(kind_node, "volumes.type")?.as_str() {
        "volume" => MountKind::Volume,
        "bind" => MountKind::Bind,
        "tmpfs" => MountKind::Tmpfs,
        other => {
            return Err(SpecError::value(
                &kind_node.span,
                format!("volumes.type `{other}` is not supported; use volume, bind or tmpfs"),
            ));
        }
    };
    let target_node = node
        .get("target")
        .ok_or_else(|| SpecError::shape(&node.span, "a long-syntax volume needs `target`"))?;
    let target = decode::text(target_node, "volumes.target")?;
    check_target(&target).map_err(|m| SpecError::value(&target_node.span, m))?;
    let source = match node.get("source") {
        Some(s) => decode::opt_text(s, "volumes.source")?.unwrap_or_default(),
        None => String::new(),
    };
    let host_path = match kind {
        MountKind::Bind if source.is_empty() => None,
        MountKind::Bind => {
            Some(resolve(&source, base).map_err(|m| SpecError::value(&node.span, m))?)
        }
        _ => None,
    };
    let read_only = match node.get("read_only") {
        Some(r) => decode::boolean(r, "volumes.read_only")?,
        None => false,
    };
    let (tmpfs_size, tmpfs_mode) = tmpfs_sub_keys(node)?;
    sub_keys(node)?;
    Ok(Mount {
        kind,
        source,
        host_path,
        target,
        read_only,
        tmpfs_size,
        tmpfs_mode,
    })
}

/// A long-syntax volume's `tmpfs: {size, mode}`.
fn tmpfs_sub_keys(node: &Node) -> Result<(Option<u64>, Option<u32>), SpecError> {
    let Some(t) = node.get("tmpfs") else {
        return Ok((None, None));
    };
    let entries = decode::map(t, "volumes.tmpfs")?;
    let mut errors = Errors::default();
    decode::check_keys(
        entries,
        &["size", "mode"],
        &[],
        "volumes.tmpfs",
        &mut errors,
    );
    if let Some(e) = errors.0.into_iter().next() {
        return Err(e);
    }
    let mode = t
        .get("mode")
        .map(|m| decode::parsed(m, "volumes.tmpfs.mode", long_tmpfs_mode))
        .transpose()?;
    let size = t
        .get("size")
        .map(|s| decode::parsed(s, "volumes.tmpfs.size", units::parse_size))
        .transpose()?;
    Ok((size, mode))
}

/// `tmpfs.mode` of the long syntax: octal, written `0o1777` or `01777`. Plain digits are
/// refused: Compose reads `1777` as a decimal number (mode 3361), which is never what is meant.
fn long_tmpfs_mode(text: &str) -> Result<u32, String> {
    let t = text.trim();
    match t.strip_prefix("0o").or_else(|| t.strip_prefix('0')) {
        Some(octal) if !octal.is_empty() => tmpfs_options::parse_mode(octal),
        _ if t == "0" => Ok(0),
        _ => Err(format!(
            "`{t}` is ambiguous (Compose reads it as a decimal number); write it in octal as \
             0o{t} or 0{t}"
        )),
    }
}

fn sub_keys(node: &Node) -> Result<(), SpecError> {
    let mut errors = Errors::default();
    if let Some(b) = node.get("bind") {
        let e = decode::map(b, "volumes.bind")?;
        decode::check_keys(
            e,
            &["propagation", "create_host_path", "selinux"],
            &[],
            "volumes.bind",
            &mut errors,
        );
    }
    if let Some(v) = node.get("volume") {
        let e = decode::map_or_null(v, "volumes.volume")?;
        decode::check_keys(
            e,
            &["nocopy"],
            &[(
                "subpath",
                "not supported: mount the whole volume, or give the data its own volume",
            )],
            "volumes.volume",
            &mut errors,
        );
    }
    match errors.0.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Resolve a host path: `~` against the home directory, relative paths against the project
/// directory, then `.` and `..` removed lexically (symlinks are the deploy step's concern).
pub fn resolve(path: &str, base: &PathBase<'_>) -> Result<String, String> {
    let joined = if path == "~" || path.starts_with("~/") {
        let home = base
            .home
            .ok_or_else(|| format!("`{path}` uses `~` but HOME is not set"))?;
        format!("{home}/{}", path.trim_start_matches('~'))
    } else if path.starts_with('~') {
        return Err(format!(
            "`{path}`: only `~` or `~/...` (the current user's home) is supported"
        ));
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", base.project_dir)
    };
    Ok(normalize(&joined))
}

/// Lexically normalize an absolute path: no `.`, no `..`, no empty segments.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether `path` (normalized) is `dir` or inside it.
pub fn is_within(path: &str, dir: &str) -> bool {
    let dir = normalize(dir);
    path == dir || dir == "/" || path.starts_with(&format!("{dir}/"))
}

/// Decode `tmpfs`: one path or a list, each `PATH[:OPTIONS]`, every option checked.
pub fn tmpfs(node: &Node, service: &str, errors: &mut Errors) -> Vec<At<String>> {
    let Some(items) = errors.take(decode::text_list(node, "tmpfs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (t, span) in items {
        let (path, options) = t.split_once(':').unwrap_or((&t, ""));
        if !path.starts_with('/') {
            errors.push(SpecError::value(
                &span,
                format!("tmpfs: `{t}` must start with an absolute path"),
            ));
            continue;
        }
        if let Err(m) = tmpfs_options::normalize(options) {
            errors.push(SpecError::value(
                &span,
                format!("service `{service}`: tmpfs: `{t}`: {m}"),
            ));
            continue;
        }
        out.push(At { value: t, span });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: PathBase<'static> = PathBase {
        project_dir: "/srv/app",
        home: Some("/home/dev"),
    };

    fn m(kind: MountKind, source: &str, host: Option<&str>, target: &str, ro: bool) -> Mount {
        Mount {
            kind,
            source: source.into(),
            host_path: host.map(str::to_string),
            target: target.into(),
            read_only: ro,
            tmpfs_size: None,
            tmpfs_mode: None,
        }
    }

    #[test]
    fn short_syntax() {
        use MountKind::*;
        let cases = [
            ("/data", m(Volume, "", None, "/data", false)),
            (
                "db-data:/var/lib/mysql",
                m(Volume, "db-data", None, "/var/lib/mysql", false),
            ),
            (
                "./kafka:/app",
                m(Bind, "./kafka", Some("/srv/app/kafka"), "/app", false),
            ),
            (
                "/etc/pihole/:/etc/pihole/:ro",
                m(
                    Bind,
                    "/etc/pihole/",
                    Some("/etc/pihole"),
                    "/etc/pihole/",
                    true,
                ),
            ),
            (
                "~/minecraft_data:/data",
                m(
                    Bind,
                    "~/minecraft_data",
                    Some("/home/dev/minecraft_data"),
                    "/data",
                    false,
                ),
            ),
            (
                "../../etc:/x:ro,z",
                m(Bind, "../../etc", Some("/etc"), "/x", true),
            ),
            (":/media/", m(Bind, "", None, "/media/", false)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_volume(input, &BASE), Ok(want), "{input}");
        }
    }

    #[test]
    fn short_syntax_errors() {
        let cases = [
            ("data", "must be absolute"),
            ("a:b:c:d", "too many `:`"),
            ("x:/y:rx", "unknown mode `rx`"),
            ("we$ird:/y", "neither a path"),
            ("~bob/x:/y", "only `~` or `~/...`"),
        ];
        for (input, want) in cases {
            let got = parse_volume(input, &BASE).expect_err(input);
            assert!(got.contains(want), "{input}: {got}");
        }
    }

    #[test]
    fn containment_is_lexical_and_exact() {
        assert!(is_within("/srv/app/data", "/srv/app"));
        assert!(is_within("/srv/app", "/srv/app/"));
        assert!(!is_within("/srv/application", "/srv/app"));
        assert!(!is_within(&normalize("/srv/app/../etc"), "/srv/app"));
    }
}
