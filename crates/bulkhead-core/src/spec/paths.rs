//! Every host path a spec names — `env_file`, `secrets.*.file`, `configs.*.file`,
//! `build.context`, `build.dockerfile`, bind-mount sources — with the key and place that named
//! it, resolved lexically. The app confines them to the project root (symlinks included) and
//! rewrites them to what they resolved to; this module only lists them.

use super::error::Span;
use super::model::{MountKind, Project, SecretDef};
use super::volumes::{self, PathBase};

/// What the named path must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathUse {
    /// A regular file Bulkhead reads (env files, secret and config files, a Dockerfile).
    File,
    /// A directory Bulkhead reads (a build context).
    Dir,
    /// A host path the engine mounts into a container.
    BindSource,
}

/// Where in the project a path was named, so that the app can write back what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    EnvFile {
        service: String,
        index: usize,
    },
    Definition {
        section: &'static str,
        name: String,
    },
    BuildContext {
        service: String,
    },
    Dockerfile {
        service: String,
    },
    Bind {
        service: String,
        index: usize,
    },
    TrustKey {
        index: usize,
    },
    /// A file loading read (an included Compose file, `extends.file`, `label_file`): confined
    /// like the others, nothing to write back.
    Loaded,
}

/// One path a spec names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPath {
    /// The key, dotted: `services.web.env_file`, `secrets.db_pw.file`.
    pub key: String,
    /// As written.
    pub written: String,
    /// Absolute and lexically normalized (`~` against HOME, relative against the project).
    pub lexical: String,
    pub span: Span,
    pub usage: PathUse,
    /// False only for `env_file` entries marked `required: false`.
    pub required: bool,
    pub slot: Slot,
}

/// The paths `project` names, in a stable order (services, then definitions).
pub fn named_paths(project: &Project, home: Option<&str>) -> Vec<NamedPath> {
    let base = PathBase {
        project_dir: &project.dir,
        home,
    };
    let lexical = |p: &str| volumes::resolve(p, &base).unwrap_or_else(|_| volumes::normalize(p));
    let mut out = Vec::new();
    for s in project.services.values() {
        for (index, f) in s.env_file.iter().enumerate() {
            out.push(NamedPath {
                key: format!("services.{}.env_file", s.name),
                written: f.path.clone(),
                lexical: lexical(&f.path),
                span: s.key_span("env_file").clone(),
                usage: PathUse::File,
                required: f.required,
                slot: Slot::EnvFile {
                    service: s.name.clone(),
                    index,
                },
            });
        }
        if let Some(b) = &s.build {
            let context = lexical(&b.context);
            let span = s.key_span("build").clone();
            let dockerfile = b.dockerfile.as_deref().unwrap_or("Dockerfile");
            out.push(NamedPath {
                key: format!("services.{}.build.context", s.name),
                written: b.context.clone(),
                lexical: context.clone(),
                span: span.clone(),
                usage: PathUse::Dir,
                required: true,
                slot: Slot::BuildContext {
                    service: s.name.clone(),
                },
            });
            let joined = if dockerfile.starts_with('/') {
                volumes::normalize(dockerfile)
            } else {
                volumes::normalize(&format!("{context}/{dockerfile}"))
            };
            out.push(NamedPath {
                key: format!("services.{}.build.dockerfile", s.name),
                written: dockerfile.to_string(),
                lexical: joined,
                span,
                usage: PathUse::File,
                required: true,
                slot: Slot::Dockerfile {
                    service: s.name.clone(),
                },
            });
        }
        for (index, m) in s.volumes.iter().enumerate() {
            if m.value.kind != MountKind::Bind {
                continue;
            }
            let Some(host) = &m.value.host_path else {
                continue;
            };
            out.push(NamedPath {
                key: format!("services.{}.volumes", s.name),
                written: m.value.source.clone(),
                lexical: host.clone(),
                span: m.span.clone(),
                usage: PathUse::BindSource,
                required: true,
                slot: Slot::Bind {
                    service: s.name.clone(),
                    index,
                },
            });
        }
    }
    for (index, k) in project.bulkhead.trust.keys.iter().enumerate() {
        out.push(NamedPath {
            key: "x-bulkhead.trust.keys".to_string(),
            written: k.value.clone(),
            lexical: lexical(&k.value),
            span: k.span.clone(),
            usage: PathUse::File,
            required: true,
            slot: Slot::TrustKey { index },
        });
    }
    for (section, defs) in [("secrets", &project.secrets), ("configs", &project.configs)] {
        for (name, def) in defs {
            if let SecretDef::File(path) = def {
                let key = format!("{section}.{name}");
                out.push(NamedPath {
                    span: project
                        .definitions
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| Span::new(&std::sync::Arc::from(""), 0, 0)),
                    key: format!("{key}.file"),
                    written: path.clone(),
                    lexical: path.clone(),
                    usage: PathUse::File,
                    required: true,
                    slot: Slot::Definition {
                        section,
                        name: name.clone(),
                    },
                });
            }
        }
    }
    out
}

/// Write `resolved` (the path a named path resolved to) back into the project.
pub fn set_path(project: &mut Project, slot: &Slot, resolved: String) {
    match slot {
        Slot::EnvFile { service, index } => {
            if let Some(f) = project
                .services
                .get_mut(service)
                .and_then(|s| s.env_file.get_mut(*index))
            {
                f.path = resolved;
            }
        }
        Slot::Definition { section, name } => {
            let defs = if *section == "secrets" {
                &mut project.secrets
            } else {
                &mut project.configs
            };
            if let Some(def) = defs.get_mut(name) {
                *def = SecretDef::File(resolved);
            }
        }
        Slot::BuildContext { service } => {
            if let Some(b) = project
                .services
                .get_mut(service)
                .and_then(|s| s.build.as_mut())
            {
                b.context = resolved;
            }
        }
        // The Dockerfile stays relative to its context, which the engine reads it from.
        Slot::Dockerfile { .. } | Slot::Loaded => {}
        Slot::TrustKey { index } => {
            if let Some(k) = project.bulkhead.trust.keys.get_mut(*index) {
                k.value = resolved;
            }
        }
        Slot::Bind { service, index } => {
            if let Some(m) = project
                .services
                .get_mut(service)
                .and_then(|s| s.volumes.get_mut(*index))
            {
                m.value.host_path = Some(resolved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LoadInput, SourceFile, load};

    fn project(yaml: &str) -> Project {
        load(&LoadInput {
            files: vec![SourceFile {
                name: "compose.yaml".into(),
                text: yaml.into(),
            }],
            project_dir: "/srv/app".into(),
            project_name: Some("app".into()),
            dotenv: None,
            env: [("HOME".to_string(), "/home/dev".to_string())].into(),
            profiles: Vec::new(),
            extra: Default::default(),
        })
        .expect("loads")
    }

    #[test]
    fn every_path_key_is_listed_with_its_place() {
        let p = project(
            "services:\n  web:\n    image: x\n    env_file: [a.env, {path: /etc/b.env, required: false}]\n    build: {context: ../ctx, dockerfile: sub/Dockerfile}\n    volumes: [./data:/data, named:/v, /:/host]\n    secrets: [pw]\nsecrets:\n  pw: {file: ~/pw}\nconfigs:\n  cfg: {file: ./c.conf}\nvolumes: {named: }\nx-bulkhead:\n  trust: {keys: [../k.pub]}\n",
        );
        let got: Vec<(String, String, PathUse, bool, u32)> = named_paths(&p, Some("/home/dev"))
            .into_iter()
            .map(|n| (n.key, n.lexical, n.usage, n.required, n.span.line))
            .collect();
        let want = [
            (
                "services.web.env_file",
                "/srv/app/a.env",
                PathUse::File,
                true,
                4,
            ),
            (
                "services.web.env_file",
                "/etc/b.env",
                PathUse::File,
                false,
                4,
            ),
            (
                "services.web.build.context",
                "/srv/ctx",
                PathUse::Dir,
                true,
                5,
            ),
            (
                "services.web.build.dockerfile",
                "/srv/ctx/sub/Dockerfile",
                PathUse::File,
                true,
                5,
            ),
            (
                "services.web.volumes",
                "/srv/app/data",
                PathUse::BindSource,
                true,
                6,
            ),
            ("services.web.volumes", "/", PathUse::BindSource, true, 6),
            (
                "x-bulkhead.trust.keys",
                "/srv/k.pub",
                PathUse::File,
                true,
                14,
            ),
            ("secrets.pw.file", "/home/dev/pw", PathUse::File, true, 9),
            (
                "configs.cfg.file",
                "/srv/app/c.conf",
                PathUse::File,
                true,
                11,
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, l, u, r, line)| (k.to_string(), l.to_string(), *u, *r, *line))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn resolved_paths_are_written_back() {
        let mut p = project(
            "services:\n  web:\n    image: x\n    env_file: a.env\n    build: .\n    volumes: [./data:/data]\nsecrets:\n  pw: {file: ./pw}\n",
        );
        for n in named_paths(&p, None) {
            set_path(&mut p, &n.slot, format!("/real{}", n.lexical));
        }
        let web = &p.services["web"];
        assert_eq!(web.env_file[0].path, "/real/srv/app/a.env");
        assert_eq!(
            web.build.as_ref().map(|b| b.context.as_str()),
            Some("/real/srv/app")
        );
        assert_eq!(
            web.volumes[0].value.host_path.as_deref(),
            Some("/real/srv/app/data")
        );
        assert_eq!(p.secrets["pw"], SecretDef::File("/real/srv/app/pw".into()));
    }
}
