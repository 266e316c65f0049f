//! A container runtime and a firewall in memory, for the controller tests of rollouts: it
//! records every container operation and hook in order, counts how many containers it created
//! are alive at once, and fails what a test tells it to (the replicas that exit at start, the
//! hooks whose program fails). Every operation yields once, so concurrent rollouts interleave
//! as they would against an engine. Only what rollouts use is modelled; the rest answers
//! `Engine` errors or nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use bulkhead_core::hardening::userdb::ImageUserFiles;
use bulkhead_ports::runtime::{HookExec, HookOutcome, LABEL_RELEASE, LABEL_REPLICA};
use bulkhead_ports::{
    BuildRequest, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, Firewall,
    FirewallError, FsChange, HealthState, ImageEntry, ImageInfo, ImagePath, InstalledRules,
    LabelFilter, NetworkInfo, NetworkRules, NetworkSpec, Progress, RuntimeError, VolumeInfo,
};

#[derive(Clone, Debug)]
struct Container {
    name: String,
    labels: BTreeMap<String, String>,
    state: String,
    exit_code: Option<i64>,
    /// Made by this fake (not seeded as already running).
    created: bool,
}

#[derive(Debug, Default)]
pub struct State {
    containers: BTreeMap<String, Container>,
    next: u32,
    /// What happened, in order: `create p-web-1`, `start p-web-1`, `hook p-web-1 /bin/x`,
    /// `stop p-web-1-old`, `remove p-web-1-old`.
    pub log: Vec<String>,
    /// Containers created minus containers removed (the old ones included), and the most that
    /// ever was: how many new replicas ran beside the old ones at once.
    pub alive: i64,
    pub most_alive: i64,
    /// Replica numbers whose new containers exit with code 1 once started.
    pub crash: BTreeSet<u32>,
    /// Hook programs (`command[0]`) that exit with code 3.
    pub failing_hooks: BTreeSet<String>,
    /// Every hook run: (container name, the exec asked for).
    pub hooks: Vec<(String, HookExec)>,
}

#[derive(Debug, Default)]
pub struct FakeRuntime {
    pub state: Mutex<State>,
}

fn engine(what: &str) -> RuntimeError {
    RuntimeError::Engine {
        operation: what.to_string(),
        reason: "not modelled by the fake runtime".into(),
    }
}

impl FakeRuntime {
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A running container that was there before the run (an old replica).
    pub fn seed(&self, id: &str, name: &str, labels: BTreeMap<String, String>) {
        self.with(|s| {
            s.containers.insert(
                id.to_string(),
                Container {
                    name: name.to_string(),
                    labels,
                    state: "running".into(),
                    exit_code: None,
                    created: false,
                },
            )
        });
    }

    pub fn log(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }

    /// The running containers as (replica, release), sorted.
    pub fn running(&self) -> Vec<(u32, u64)> {
        let mut out: Vec<(u32, u64)> = self.with(|s| {
            s.containers
                .values()
                .filter(|c| c.state == "running")
                .filter_map(|c| {
                    let n = |k: &str| c.labels.get(k).and_then(|v| v.parse::<u64>().ok());
                    Some((u32::try_from(n(LABEL_REPLICA)?).ok()?, n(LABEL_RELEASE)?))
                })
                .collect()
        });
        out.sort();
        out
    }

    fn info(id: &str, c: &Container) -> ContainerInfo {
        ContainerInfo {
            id: id.to_string(),
            name: c.name.clone(),
            image: "sha256:fake".into(),
            labels: c.labels.clone(),
            state: c.state.clone(),
            health: HealthState::None,
            exit_code: c.exit_code,
            addresses: BTreeMap::new(),
            fixed_addresses: BTreeMap::new(),
            aliases: BTreeMap::new(),
            published: Vec::new(),
            // Long settled: readiness without a health check is immediate.
            running_for: (c.state == "running").then_some(Duration::from_secs(3600)),
            restart_count: Some(0),
        }
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn version(&self) -> Result<(String, String), RuntimeError> {
        Ok(("20.10.24".into(), "1.41".into()))
    }
    async fn ping(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn create_network(&self, _: &NetworkSpec) -> Result<NetworkInfo, RuntimeError> {
        Err(engine("create network"))
    }
    async fn list_networks(&self, _: &LabelFilter) -> Result<Vec<NetworkInfo>, RuntimeError> {
        Ok(Vec::new())
    }
    async fn remove_network(&self, _: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn create_volume(
        &self,
        _: &str,
        _: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn list_volumes(&self, _: &LabelFilter) -> Result<Vec<VolumeInfo>, RuntimeError> {
        Ok(Vec::new())
    }
    async fn remove_volume(&self, _: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn build_image(
        &self,
        _: &BuildRequest,
        _: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, RuntimeError> {
        Err(engine("build"))
    }
    async fn inspect_image(&self, _: &str) -> Result<ImageInfo, RuntimeError> {
        Err(engine("inspect image"))
    }
    async fn image_user_files(&self, _: &str) -> Result<ImageUserFiles, RuntimeError> {
        Err(engine("image user files"))
    }
    async fn image_path_modes(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<BTreeMap<String, Option<ImagePath>>, RuntimeError> {
        Ok(BTreeMap::new())
    }
    async fn image_path_owners(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<BTreeMap<String, Option<ImageEntry>>, RuntimeError> {
        Ok(BTreeMap::new())
    }
    async fn container_changes(&self, _: &str) -> Result<Vec<FsChange>, RuntimeError> {
        Ok(Vec::new())
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            if s.containers.values().any(|c| c.name == spec.name) {
                return Err(RuntimeError::Conflict {
                    what: "container",
                    name: spec.name.clone(),
                });
            }
            s.next += 1;
            let id = format!("new{}", s.next);
            s.containers.insert(
                id.clone(),
                Container {
                    name: spec.name.clone(),
                    labels: spec.labels.clone(),
                    state: "created".into(),
                    exit_code: None,
                    created: true,
                },
            );
            s.alive += 1;
            s.most_alive = s.most_alive.max(s.alive);
            s.log.push(format!("create {}", spec.name));
            Ok(id)
        })
    }
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            let crash = s.crash.clone();
            let c = s.containers.get_mut(id).ok_or(RuntimeError::NotFound {
                what: "container",
                name: id.to_string(),
            })?;
            let replica = c.labels.get(LABEL_REPLICA).and_then(|r| r.parse().ok());
            if c.created && replica.is_some_and(|r| crash.contains(&r)) {
                c.state = "exited".into();
                c.exit_code = Some(1);
            } else {
                c.state = "running".into();
            }
            let line = format!("start {}", c.name);
            s.log.push(line);
            Ok(())
        })
    }
    async fn stop_container(&self, id: &str, _: Duration) -> Result<(), RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            let Some(c) = s.containers.get_mut(id) else {
                return Err(RuntimeError::NotFound {
                    what: "container",
                    name: id.to_string(),
                });
            };
            c.state = "exited".into();
            c.exit_code = Some(0);
            let line = format!("stop {}", c.name);
            s.log.push(line);
            Ok(())
        })
    }
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            if let Some(c) = s.containers.remove(id) {
                s.alive -= 1;
                s.log.push(format!("remove {}", c.name));
            }
            Ok(())
        })
    }
    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            let by_id = s.containers.get(id).map(|c| (id.to_string(), c));
            let by_name = || {
                s.containers
                    .iter()
                    .find(|(_, c)| c.name == id)
                    .map(|(i, c)| (i.clone(), c))
            };
            match by_id.or_else(by_name) {
                Some((i, c)) => Ok(FakeRuntime::info(&i, c)),
                None => Err(RuntimeError::NotFound {
                    what: "container",
                    name: id.to_string(),
                }),
            }
        })
    }
    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        Ok(self.with(|s| {
            s.containers
                .iter()
                .filter(|(_, c)| filter.0.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
                .map(|(i, c)| FakeRuntime::info(i, c))
                .collect()
        }))
    }
    async fn connect_network(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: Option<std::net::Ipv4Addr>,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn disconnect_network(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn inbound_connections(&self, _: &str) -> Result<Option<usize>, RuntimeError> {
        Ok(Some(0))
    }
    async fn rename_container(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(id) {
                c.name = name.to_string();
            }
            Ok(())
        })
    }
    async fn exec(&self, _: &str, _: &[String], _: Duration) -> Result<i64, RuntimeError> {
        Ok(0)
    }
    async fn exec_hook(
        &self,
        id: &str,
        hook: &HookExec,
        _: Duration,
    ) -> Result<HookOutcome, RuntimeError> {
        tokio::task::yield_now().await;
        self.with(|s| {
            let name = s
                .containers
                .get(id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let program = hook.cmd.first().cloned().unwrap_or_default();
            s.log.push(format!("hook {name} {program}"));
            s.hooks.push((name, hook.clone()));
            if s.failing_hooks.contains(&program) {
                return Ok(HookOutcome {
                    exit_code: 3,
                    output: vec!["it went wrong".into()],
                });
            }
            Ok(HookOutcome::default())
        })
    }
    fn events(&self, _: &LabelFilter) -> EventStream {
        Box::pin(futures_util::stream::empty())
    }
    async fn logs(&self, _: &str, _: Option<usize>) -> Result<Vec<String>, RuntimeError> {
        Ok(Vec::new())
    }
}

/// A host firewall that has nothing and accepts everything.
#[derive(Debug, Default)]
pub struct FakeFirewall;

impl Firewall for FakeFirewall {
    fn ensure(&self, _: &str, _: &[NetworkRules]) -> Result<(), FirewallError> {
        Ok(())
    }
    fn installed(&self, _: &str) -> Result<Vec<InstalledRules>, FirewallError> {
        Ok(Vec::new())
    }
    fn unblock(&self, _: &str, _: &[String], _: &[(String, String)]) -> Result<(), FirewallError> {
        Ok(())
    }
    fn unblock_project(&self, _: &str) -> Result<(), FirewallError> {
        Ok(())
    }
}
