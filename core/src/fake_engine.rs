//! An in-process [`Engine`] for unit tests: scripted answers, every call recorded.
//!
//! Containers live in a map. A create is refused with the next scripted podman stderr,
//! if any is left, and otherwise makes a container in the scripted state (running by
//! default); remove and `remove_now` take it out again.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::engine::{BoxFuture, ContainerRecord, ContainerState, CreateFailure, Engine};
use crate::error::Result;
use crate::host_info::{CgroupMode, HostInfo};
use crate::labels;
use crate::network_isolation::{Neighbourhood, Rules};
use crate::run_args::RunPlan;

/// One call the engine received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EngineCall {
    Host,
    Create(Box<RunPlan>),
    List { label: String, value: String },
    State(String),
    Remove(String),
    RemoveNow(String),
    ImageExists(String),
    LogsTail(String),
    Neighbourhood,
    IsolateNetwork(String),
    BuildImage(String),
    Commit { name: String, tag: String, changes: Vec<String> },
    RemoveImage(String),
    ExecPiped(String),
}

/// Exit status podman gives when it refuses to run a container.
const REFUSED: i32 = 125;

pub(crate) struct FakeEngine {
    host: HostInfo,
    inner: Mutex<Inner>,
}

struct Inner {
    refusals: VecDeque<String>,
    hang_creates: bool,
    created_state: ContainerState,
    logs: String,
    containers: HashMap<String, (ContainerRecord, ContainerState)>,
    calls: Vec<EngineCall>,
}

/// A running container's state.
pub(crate) fn running() -> ContainerState {
    ContainerState {
        status: "running".into(),
        running: true,
        exit_code: None,
        oom_killed: false,
        error: String::new(),
        pid: Some(4242),
    }
}

/// An exited container's state.
pub(crate) fn exited(code: i32) -> ContainerState {
    ContainerState {
        status: "exited".into(),
        running: false,
        exit_code: Some(code),
        oom_killed: false,
        error: String::new(),
        pid: None,
    }
}

/// A rootful host (the test's own uid) on cgroup v2 that can enforce limits: the fake
/// engine's, and the fixture of other unit tests that need a `HostInfo`.
pub(crate) fn host() -> HostInfo {
    HostInfo {
        podman: "fake-podman".into(),
        version: "4.3.1".into(),
        rootless: false,
        cgroup_mode: CgroupMode::V2,
        cgroup_controllers: ["cpu", "memory", "pids"].map(String::from).to_vec(),
        default_runtime: "runc".into(),
        runtime_override: None,
        ulimits: None,
        limits_enforceable: true,
        limits_reason: None,
        unprivileged_port_start: 1024,
        uid: rustix::process::getuid().as_raw(),
        cpus: 2,
        engine_dirs: Vec::new(),
    }
}

/// A session's container, as the engine lists it, whose control dir is `control`.
pub(crate) fn session_record(id: &str, control: &std::path::Path, state: &str) -> ContainerRecord {
    let uid = rustix::process::getuid().as_raw();
    ContainerRecord {
        id: "0f3c".into(),
        name: format!("sandbox-{id}"),
        image: crate::DEFAULT_IMAGE.into(),
        state: state.into(),
        created: 0,
        labels: [
            (labels::MANAGED, "true".to_string()),
            (labels::SESSION, id.to_string()),
            (labels::OWNER, uid.to_string()),
            (labels::SCOPE, crate::DEFAULT_SCOPE.to_string()),
            (labels::WORKDIR, "/home/me/project".to_string()),
            (labels::CONTROL, control.display().to_string()),
            (labels::AGENT, "/var/cache/sandbox/sandbox-agent-0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

/// A sandbox over a fake engine (control dirs under `dir`) that has one exited session
/// `id` (its container in `state`), and that session, attached offline.
pub(crate) async fn stopped_session(
    dir: &std::path::Path,
    id: &str,
    state: ContainerState,
) -> (std::sync::Arc<FakeEngine>, crate::Sandbox, crate::Session) {
    let config = crate::Config { runtime_dir: Some(dir.join("run")), ..crate::Config::default() };
    let record = session_record(id, &dir.join("run").join(id), "exited");
    let engine = std::sync::Arc::new(FakeEngine::new().with_container(record, state));
    let sandbox = crate::Sandbox::with_engine(config, engine.clone());
    let session = sandbox.attach(id).await.expect("a stopped session can be attached (offline)");
    (engine, sandbox, session)
}

impl FakeEngine {
    /// A rootful host (the test's own uid) that can enforce limits, with no containers.
    pub fn new() -> FakeEngine {
        FakeEngine {
            host: host(),
            inner: Mutex::new(Inner {
                refusals: VecDeque::new(),
                hang_creates: false,
                created_state: running(),
                logs: String::new(),
                containers: HashMap::new(),
                calls: Vec::new(),
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates make the container and then never answer, like a `podman run` that has
    /// created the container and not yet returned.
    pub fn hang_creates(self) -> FakeEngine {
        self.inner().hang_creates = true;
        self
    }

    /// The next create is refused with podman's `stderr` (queued after earlier ones).
    pub fn refuse_create(self, stderr: impl Into<String>) -> FakeEngine {
        self.inner().refusals.push_back(stderr.into());
        self
    }

    /// The host cannot enforce limits, for `reason`.
    pub fn limits_unenforceable(mut self, reason: impl Into<String>) -> FakeEngine {
        self.host.limits_enforceable = false;
        self.host.limits_reason = Some(reason.into());
        self
    }

    /// Created containers are in `state` (e.g. already exited) instead of running.
    pub fn created_state(self, state: ContainerState) -> FakeEngine {
        self.inner().created_state = state;
        self
    }

    /// What `logs_tail` returns.
    pub fn logs(self, text: impl Into<String>) -> FakeEngine {
        self.inner().logs = text.into();
        self
    }

    /// A container that exists from the start.
    pub fn with_container(self, record: ContainerRecord, state: ContainerState) -> FakeEngine {
        self.inner().containers.insert(record.name.clone(), (record, state));
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<EngineCall> {
        self.inner().calls.clone()
    }

    /// The plans of every create asked for, refused or not.
    pub fn creates(&self) -> Vec<RunPlan> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                EngineCall::Create(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// Whether container `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.inner().containers.contains_key(name)
    }

    fn record(&self, call: EngineCall) {
        self.inner().calls.push(call);
    }
}

impl Engine for FakeEngine {
    fn host(&self) -> BoxFuture<'_, Result<HostInfo>> {
        self.record(EngineCall::Host);
        Box::pin(async move { Ok(self.host.clone()) })
    }

    fn create(&self, plan: &RunPlan) -> BoxFuture<'_, std::result::Result<(), CreateFailure>> {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::Create(Box::new(plan.clone())));
        let outcome = match inner.refusals.pop_front() {
            Some(stderr) => Err(CreateFailure::Refused { code: Some(REFUSED), stderr }),
            // As podman: a name in use is refused, whoever holds it.
            None if inner.containers.contains_key(&plan.name) => Err(CreateFailure::Refused {
                code: Some(REFUSED),
                stderr: format!(
                    "Error: creating container storage: the container name \"{}\" is already in use by id-{0}. You have to remove that container to be able to reuse that name: that name is already in use",
                    plan.name
                ),
            }),
            None => {
                let state = inner.created_state.clone();
                let record = ContainerRecord {
                    id: format!("id-{}", plan.name),
                    name: plan.name.clone(),
                    image: plan.image.clone(),
                    state: state.status.clone(),
                    created: 0,
                    labels: plan.labels.iter().cloned().collect(),
                };
                inner.containers.insert(plan.name.clone(), (record, state));
                Ok(())
            }
        };
        let hang = inner.hang_creates;
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            outcome
        })
    }

    fn list<'a>(&'a self, label: &'a str, value: &'a str) -> BoxFuture<'a, Result<Vec<ContainerRecord>>> {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::List { label: label.into(), value: value.into() });
        let found: Vec<ContainerRecord> = inner
            .containers
            .values()
            .filter(|(r, _)| r.labels.get(label).map(String::as_str) == Some(value))
            .map(|(r, _)| r.clone())
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn state<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ContainerState>>> {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::State(name.into()));
        let state = inner.containers.get(name).map(|(_, s)| s.clone());
        Box::pin(async move { Ok(state) })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::Remove(name.into()));
        let existed = inner.containers.remove(name).is_some();
        Box::pin(async move { Ok(existed) })
    }

    fn remove_now(&self, name: &str, control_dir: &str) {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::RemoveNow(name.into()));
        if inner
            .containers
            .get(name)
            .is_some_and(|(r, _)| r.labels.get(crate::labels::CONTROL).map(String::as_str) == Some(control_dir))
        {
            inner.containers.remove(name);
        }
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.record(EngineCall::ImageExists(image.into()));
        Box::pin(async move { Ok(true) })
    }

    fn image_config<'a>(&'a self, _image: &'a str) -> BoxFuture<'a, Result<crate::engine::ImageConfig>> {
        Box::pin(async move { Ok(Default::default()) })
    }

    fn container_config<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<crate::engine::ImageConfig>> {
        Box::pin(async move { Ok(Default::default()) })
    }

    fn commit<'a>(&'a self, name: &'a str, tag: &'a str, changes: &'a [String]) -> BoxFuture<'a, Result<String>> {
        self.record(EngineCall::Commit { name: name.into(), tag: tag.into(), changes: changes.to_vec() });
        Box::pin(async move { Ok("0123456789abcdef".into()) })
    }

    fn list_images<'a>(
        &'a self,
        _label: &'a str,
        _value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::engine::ImageConfig>>> {
        Box::pin(async move { Ok(Vec::new()) })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.record(EngineCall::RemoveImage(image.into()));
        Box::pin(async move { Ok(true) })
    }

    fn exec_piped(&self, name: &str, _argv: &[&str]) -> std::io::Result<tokio::process::Child> {
        self.record(EngineCall::ExecPiped(name.to_string()));
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "the fake engine runs no process in a container"))
    }

    fn logs_tail<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String>> {
        let mut inner = self.inner();
        inner.calls.push(EngineCall::LogsTail(name.into()));
        let logs = inner.logs.clone();
        Box::pin(async move { Ok(logs) })
    }

    fn neighbourhood(&self) -> BoxFuture<'_, Result<Neighbourhood>> {
        self.record(EngineCall::Neighbourhood);
        Box::pin(async move { Ok(Neighbourhood::default()) })
    }

    fn isolate_network<'a>(&'a self, plan: &'a RunPlan, _rules: &'a Rules) -> BoxFuture<'a, Result<()>> {
        self.record(EngineCall::IsolateNetwork(plan.name.clone()));
        Box::pin(async move { Ok(()) })
    }

    fn build_image<'a>(
        &'a self,
        build: &'a crate::image_build::ImageBuild,
        _limit: std::time::Duration,
    ) -> BoxFuture<'a, Result<()>> {
        self.record(EngineCall::BuildImage(build.tag.clone()));
        Box::pin(async move { Ok(()) })
    }
}
