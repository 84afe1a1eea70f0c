//! The session start procedure, as a pipeline of named steps:
//!
//! 1. [`plan`]: validate the spec, probe the host, decide image, limits, ports,
//!    workspace protection, network isolation and environment. Bad input fails here,
//!    before anything touches the engine's containers or the control dir.
//! 2. create: [`claim_control_dir`] (lock it, refuse a running container of the
//!    name, clear it), then [`create_container`] (retrying without a conflicting port or
//!    without limits the host refused, replacing a stopped container of an earlier
//!    session), then the network isolation rules.
//! 3. connect: a [`Connect`] reaches the agent ([`WaitForAgent`] in production).
//! 4. [`set_up`]: provisioning and post-create commands, run through the session's own
//!    exec path.
//! 5. [`report`]: the [`StartReport`] of all of it.
//!
//! A [`StartGuard`] removes what steps 2 to 4 created when one fails or the start is
//! dropped half-way.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent_client::AgentClient;
use crate::config::Config;
use crate::control_dir::{self, StartLock};
use crate::devcontainer::{DEVCONTAINER_FILES, Devcontainer};
use crate::devcontainer_plan::{CallerSet, PlanInputs};
use crate::devcontainer_report::DevcontainerReport;
use crate::devcontainer_variables::{ContainerWorkspace, Variables};
use crate::engine::{BoxFuture, CreateFailure, Engine};
use crate::error::{Error, Result};
use crate::exec_options::ExecOptions;
use crate::exec_stream::{ExecEvent, ExecExit};
use crate::host_info::HostInfo;
use crate::labels;
use crate::network_isolation;
use crate::policy::{Limits, Network, Policy};
use crate::run_args::{IdMap, RunPlan};
use crate::run_failure::{self, PortDecision, RunFailureKind};
use crate::sandbox::Sandbox;
use crate::session::{CLIENT_NAME, Session, SessionAddress};
use crate::spec::SessionSpec;
use crate::start_report::{
    DroppedPort, EgressReport, ImageChoice, ImageReason, LimitsOutcome, PostCreateOutcome, Provisioning, StartReport,
};
use crate::transport::{self, AgentPlace};
use crate::validate;

/// RLIMIT_NPROC used when cgroup pids limits are unavailable: the user's process count
/// (all their processes, which is why it is not the pids limit itself) stops here.
const NPROC_FALLBACK_MIN: u64 = 4096;

/// Bytes of output kept for provisioning and post-create reports.
const TAIL_BYTES: usize = 4096;

/// Environment every session gets unless the spec sets the variable: GNU tar, as root,
/// would try to give extracted files their archived owners, which do not exist in a
/// session (it has one user) and would fail the extraction.
const SESSION_ENV: &[(&str, &str)] = &[("TAR_OPTIONS", "--no-same-owner")];

/// Exit code the provisioning script uses for "no package manager here".
const NO_PACKAGE_MANAGER: i32 = 200;

const PROVISION_SCRIPT: &str = r#"
if command -v apk >/dev/null 2>&1; then
  echo "manager: apk"
  apk add --no-cache bash vim nano less git curl wget python3 py3-pip nodejs npm coreutils
elif command -v apt-get >/dev/null 2>&1; then
  echo "manager: apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends bash vim nano less git curl wget ca-certificates python3 python3-pip nodejs npm coreutils
else
  echo "the image has neither apk nor apt-get"
  exit 200
fi
"#;

/// Removes what a failed or abandoned start created. Also runs when the start future is
/// dropped half-way (a cancelled caller), so no half-made container is left behind.
struct StartGuard {
    engine: Arc<dyn Engine>,
    container: Option<String>,
    /// A create asked of the engine that has not answered yet: if the start is dropped
    /// now, the engine may have made the container anyway.
    creating: Option<String>,
    control_dir: PathBuf,
    armed: bool,
}

impl StartGuard {
    fn new(engine: Arc<dyn Engine>, control_dir: PathBuf) -> StartGuard {
        StartGuard { engine, container: None, creating: None, control_dir, armed: true }
    }

    /// The start failed: removes the container (if one was made) and the control dir.
    async fn cleanup(&mut self) {
        if let Some(name) = self.container.take() {
            let _ = self.engine.remove(&name).await;
        }
        let _ = control_dir::remove(&self.control_dir);
        self.armed = false;
    }

    /// The start succeeded: what it made is the session's now.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(name) = self.container.take().or(self.creating.take()) {
            // Dropped mid-start: no async context to rely on.
            self.engine.remove_now(&name, &self.control_dir.display().to_string());
        }
        let _ = control_dir::remove(&self.control_dir);
    }
}

/// A phase of [`Sandbox::start_with_progress`](crate::Sandbox::start_with_progress).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartPhase {
    /// Probing the engine (first use only; cached afterwards).
    Probing,
    /// Creating the container; `attempt` counts retries (dropped port, dropped limits).
    CreatingContainer {
        /// 1 for the first try.
        attempt: usize,
    },
    /// Waiting for the agent in the container to answer.
    WaitingForAgent,
    /// Building the image of the working dir's `devcontainer.json` (before the
    /// container is created; can take minutes).
    BuildingImage {
        /// The image being built.
        image: String,
    },
    /// Installing dev essentials.
    Provisioning,
    /// Running post-create command `index` (0-based).
    PostCreate {
        /// Position in the spec's list.
        index: usize,
        /// The command.
        command: String,
    },
    /// The session is ready.
    Ready,
}

/// The progress callback of a start.
type Progress<'a> = &'a (dyn Fn(StartPhase) + Send + Sync);

/// Ports and limits: decided by the plan step, revised by the create step when the
/// engine refuses them (a port it cannot bind, limits the host cannot apply).
#[derive(Debug, Clone)]
struct Terms {
    /// Host ports to publish.
    publish: Vec<u16>,
    /// Requested ports not published, with reasons.
    dropped: Vec<DroppedPort>,
    /// Limits to apply; `None`: started without them.
    limits: Option<Limits>,
    /// Why the limits are not applied, when they are not.
    limits_reason: Option<String>,
}

/// What the plan step decided: everything the later steps need.
struct Plan {
    id: String,
    /// The snapshot the session starts from.
    snapshot: Option<String>,
    /// Environment variables the image has that the container must not (a snapshot's).
    unset_env: Vec<String>,
    /// Container name.
    name: String,
    /// Canonical working dir, and the same as text.
    working_dir: PathBuf,
    working_dir_str: String,
    image: ImageChoice,
    policy: Policy,
    idle_timeout: Option<Duration>,
    host: HostInfo,
    /// How many ports the spec asked for (bounds the create step's attempts).
    requested_ports: usize,
    terms: Terms,
    /// The RLIMIT_NPROC fallback when the host cannot enforce limits at all.
    host_nproc_fallback: Option<u64>,
    /// Workspace protection: the read-only paths, and every self mount (path, read-only).
    protected_paths: Vec<String>,
    self_mounts: Vec<(String, bool)>,
    root_maps_to: IdMap,
    /// Owner of the control dir's shared part (rootful: the working dir's owner).
    shared_owner: Option<(u32, u32)>,
    /// Whether the network isolation rules are installed (bridge network with
    /// `isolate_network`).
    isolate: bool,
    env: Vec<(String, String)>,
    post_create: Vec<String>,
    provision: bool,
    /// What was done with the working dir's `devcontainer.json`, when it was read.
    devcontainer: Option<DevcontainerReport>,
    warnings: Vec<String>,
}

impl Plan {
    /// The RLIMIT_NPROC set when `limits` are not applied.
    fn nproc_fallback(&self, limits: Option<Limits>) -> Option<u64> {
        if limits.is_some() { None } else { self.host_nproc_fallback.or(Some(NPROC_FALLBACK_MIN)) }
    }
}

/// What the create step made.
struct Created {
    /// The agent binary mounted into the container.
    agent: PathBuf,
    /// Ports and limits as the container got them.
    terms: Terms,
    warnings: Vec<String>,
    /// The egress enforcer's pid, when the session has one.
    enforcer: Option<u32>,
}

/// What the provision and post-create step did.
struct Setup {
    provisioning: Provisioning,
    post_create: Vec<PostCreateOutcome>,
    warnings: Vec<String>,
}

/// The connect step: reaches the agent of the container the create step made.
/// [`WaitForAgent`] is the real one; unit tests hand in an in-process agent (no agent
/// can run in them).
pub(crate) trait Connect: Sync {
    /// A handshaken client of the agent of the container at `at`, within `limit`.
    fn connect<'a>(
        &'a self,
        engine: &'a dyn Engine,
        at: &'a SessionAddress,
        limit: Duration,
    ) -> BoxFuture<'a, Result<AgentClient>>;
}

/// Waits for the agent's socket in the control dir (see [`wait_for_agent`]).
pub(crate) struct WaitForAgent;

impl Connect for WaitForAgent {
    fn connect<'a>(
        &'a self,
        engine: &'a dyn Engine,
        at: &'a SessionAddress,
        limit: Duration,
    ) -> BoxFuture<'a, Result<AgentClient>> {
        Box::pin(wait_for_agent(engine, at, limit))
    }
}

impl Sandbox {
    /// Starts a session; see [`StartReport`](crate::StartReport) (via
    /// [`Session::start_report`]) for what was actually done.
    pub async fn start(&self, spec: SessionSpec) -> Result<Session> {
        start(self, spec, &|_| {}).await
    }

    /// Starts a session, calling `progress` as it goes through each phase (for callers
    /// that show progress: provisioning and post-create commands can take minutes).
    pub async fn start_with_progress(
        &self,
        spec: SessionSpec,
        progress: impl Fn(crate::StartPhase) + Send + Sync,
    ) -> Result<Session> {
        start(self, spec, &progress).await
    }
}

/// Starts a session: the pipeline with the real connect step, after the copy of the
/// snapshot's working dir when it starts from one (removed again if the start fails).
async fn start(sb: &Sandbox, spec: SessionSpec, progress: Progress<'_>) -> Result<Session> {
    let Some(name) = spec.snapshot.clone() else {
        return pipeline(sb, spec, progress, &WaitForAgent).await;
    };
    if spec.image.is_some() {
        return Err(Error::invalid("image", "a session started from a snapshot runs the snapshot's image"));
    }
    validate::session_id(&spec.id)?;
    let (info, copy, working_dir) = crate::snapshot::prepare_start(sb, &name, &spec.id, &spec.working_dir).await?;
    let spec = SessionSpec { working_dir: working_dir.clone(), ..spec };
    let result = pipeline(sb, spec, progress, &WaitForAgent).await;
    match result {
        Ok(session) => Ok(session.with_snapshot(crate::SnapshotStart { name, copy })),
        Err(e) => {
            let host = sb.engine.host().await?;
            crate::overlay::remove_made(&info.tree, &working_dir, host.rootless, &sb.config.podman).await;
            crate::overlay::tidy_copy_dir(&sb.config, host.uid);
            Err(e)
        }
    }
}

/// The start pipeline with its connect step given.
async fn pipeline(sb: &Sandbox, spec: SessionSpec, progress: Progress<'_>, connect: &dyn Connect) -> Result<Session> {
    let started = Instant::now();
    let plan = plan(sb, spec, progress).await?;
    let (control, start_lock) = claim_control_dir(sb.engine.as_ref(), &sb.config, &plan).await?;
    let mut guard = StartGuard::new(sb.engine.clone(), control.clone());
    let result = async {
        let created = create_container(sb, &plan, &control, &mut guard, progress).await?;
        let at = SessionAddress {
            id: plan.id.clone(),
            container: plan.name.clone(),
            working_dir: plan.working_dir.clone(),
            control_dir: control.clone(),
            agent_binary: created.agent.clone(),
            transport: sb.config.transport,
        };
        progress(StartPhase::WaitingForAgent);
        let client = connect.connect(sb.engine.as_ref(), &at, sb.config.ready_timeout).await?;
        let session = Session::new(at, sb.engine.clone(), Some(client), None);
        let setup = set_up(&session, &plan, &sb.config, progress).await?;
        let report = report(&plan, created, setup, started);
        Ok(session.with_report(report))
    }
    .await;
    match result {
        Ok(session) => {
            progress(StartPhase::Ready);
            guard.disarm();
            drop(start_lock);
            Ok(session)
        }
        Err(e) => {
            guard.cleanup().await;
            drop(start_lock);
            Err(e)
        }
    }
}

/// Checks what of `spec`'s settings needs no engine (environment, post-create commands,
/// network and egress policy, idle timeout, limits) and returns the policy they make with
/// `config`. Also what a fork checks of its template before taking its snapshot.
pub(crate) fn check_settings(spec: &SessionSpec, config: &Config) -> Result<Policy> {
    validate::env(&spec.env)?;
    for (i, c) in spec.post_create.iter().enumerate() {
        if c.trim().is_empty() || c.contains('\0') {
            return Err(Error::invalid("post-create command", format!("#{i} is empty or contains a NUL byte")));
        }
    }
    let policy = spec.effective_policy(config);
    if spec.egress.is_some() && policy.network != Network::Egress {
        return Err(Error::invalid(
            "network",
            format!("an egress policy needs network egress, not {} (leave the network unset)", policy.network),
        ));
    }
    if policy.network == Network::Egress {
        policy.egress.validate()?;
    }
    if spec.idle_timeout.or(config.idle_timeout).is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(Error::invalid("idle timeout", "must be at least one second"));
    }
    policy.limits.validate()?;
    Ok(policy)
}

/// The plan step: checks the spec (first what needs no engine, then what needs the host
/// facts) and decides everything the container will be made with. Touches neither the
/// engine's containers nor the control dir.
async fn plan(sb: &Sandbox, mut spec: SessionSpec, progress: Progress<'_>) -> Result<Plan> {
    let config: &Config = &sb.config;
    validate::session_id(&spec.id)?;
    let working_dir = validate::working_dir(&spec.working_dir)?;
    let working_dir_str = working_dir.to_str().expect("validated as UTF-8").to_string();
    let devcontainer = match spec.devcontainer.unwrap_or(config.devcontainer) {
        true => apply_devcontainer(sb, &mut spec, &working_dir, progress).await?,
        false => None,
    };
    if let Some(img) = &spec.image {
        validate::image(img)?;
    }
    let policy = check_settings(&spec, config)?;
    let idle_timeout = spec.idle_timeout.or(config.idle_timeout);
    config.check_timeouts()?;
    progress(StartPhase::Probing);
    let host = sb.engine.host().await?;
    validate::outside_state_dirs(&working_dir, &state_dirs(config, &host))?;
    validate::ports(&spec.ports, host.rootless, host.unprivileged_port_start)?;
    if policy.limits.cpus > host.cpus as f64 {
        return Err(Error::invalid(
            "cpu limit",
            format!("{} cores requested but the host has {}", policy.limits.cpus, host.cpus),
        ));
    }

    let mut warnings = devcontainer.as_ref().map(DevcontainerReport::warnings).unwrap_or_default();
    let built = devcontainer.as_ref().and_then(|d| d.built_image.as_deref());
    let snapshot = match &spec.snapshot {
        Some(name) => Some(sb.snapshot_info(name).await?),
        None => None,
    };
    let mut image = match &snapshot {
        Some(s) => {
            ImageChoice { requested: Some(s.image.clone()), used: s.image.clone(), reason: ImageReason::Snapshot }
        }
        None => choose_image(config, spec.image.as_deref(), policy.allow_untrusted_image),
    };
    if built.is_some() && image.requested.as_deref() == built {
        image.used = built.unwrap_or_default().to_string();
        image.reason = ImageReason::Built;
    }
    if image.reason == ImageReason::UntrustedReplaced {
        warnings.push(format!(
            "image {} is not trusted and untrusted images are not allowed: using the default {} instead (set allow_untrusted_image to opt in)",
            image.requested.as_deref().unwrap_or_default(),
            image.used
        ));
    }

    let mut terms =
        Terms { publish: Vec::new(), dropped: Vec::new(), limits: Some(policy.limits), limits_reason: None };
    let host_nproc_fallback = (!host.limits_enforceable).then(|| u64::from(policy.limits.pids).max(NPROC_FALLBACK_MIN));
    if !host.limits_enforceable {
        let reason = host.limits_reason.clone().unwrap_or_else(|| "unknown".into());
        if policy.require_resource_limits {
            return Err(Error::LimitsUnavailable { reason });
        }
        warnings.push(format!("starting without memory/cpu/pids limits: {reason}"));
        terms.limits = None;
        terms.limits_reason = Some(reason);
    }

    match policy.network {
        Network::None => {
            let mode = policy.network;
            for &p in &spec.ports {
                terms.dropped.push(DroppedPort { port: p, reason: format!("network is {mode}: nothing is published") });
            }
            if !spec.ports.is_empty() {
                warnings.push(format!("network is {mode}: ports {:?} are not published", spec.ports));
            }
        }
        // Egress sessions have no interface to publish on: their enforcer forwards the
        // ports from the host's loopback instead (a port it cannot listen on is dropped
        // when it starts).
        Network::Bridge | Network::Egress => {
            for &p in &spec.ports {
                if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
                    terms.publish.push(p);
                } else {
                    terms.dropped.push(DroppedPort { port: p, reason: "already in use on the host".into() });
                    warnings.push(format!(
                        "host port {p} is already in use: it is not published (the other ports are); free it and restart the session to get it"
                    ));
                }
            }
        }
    }

    let protection = if policy.protect_workspace {
        for p in &policy.protected_paths {
            validate::protected_path(p)?;
        }
        crate::workspace_protection::plan(&working_dir, &policy.protected_paths)
    } else {
        Default::default()
    };
    warnings.extend(protection.warnings.iter().cloned());
    let self_mounts: Vec<(String, bool)> = protection.mounts.iter().map(|m| (m.path.clone(), m.read_only)).collect();

    // Container root is the working dir's owner (rootful) or the user running podman
    // (rootless, where 0 in podman's namespace is that user): the only id in the session.
    let owner = std::fs::metadata(&working_dir).map_err(|e| Error::io("reading the working dir's owner", e))?;
    let (root_maps_to, shared_owner) = if host.rootless {
        (IdMap { uid: 0, gid: 0 }, None)
    } else {
        (IdMap { uid: owner.uid(), gid: owner.gid() }, Some((owner.uid(), owner.gid())))
    };
    let isolate = policy.network == Network::Bridge && policy.isolate_network;
    let mut env = spec.env;
    let proxy_env = match policy.network {
        Network::Egress if policy.egress.credentials.is_empty() => crate::egress::proxy_env(),
        Network::Egress => crate::egress::proxy_env().into_iter().chain(crate::egress::trust_env()).collect(),
        _ => Vec::new(),
    };
    let defaults = SESSION_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    for (k, v) in defaults.chain(proxy_env) {
        if !env.iter().any(|(have, _)| *have == k) {
            env.push((k, v));
        }
    }
    // What the snapshot's session set for itself is not inherited (what this one sets
    // replaces it anyway).
    let unset_env: Vec<String> = snapshot
        .map(|s| s.unset_env.into_iter().filter(|k| !env.iter().any(|(have, _)| have == k)).collect())
        .unwrap_or_default();

    Ok(Plan {
        name: format!("{}{}", config.container_prefix, spec.id),
        id: spec.id,
        snapshot: spec.snapshot,
        unset_env,
        working_dir,
        working_dir_str,
        image,
        idle_timeout,
        requested_ports: spec.ports.len(),
        terms,
        host_nproc_fallback,
        protected_paths: protection.protected,
        self_mounts,
        root_maps_to,
        shared_owner,
        isolate,
        env,
        post_create: spec.post_create,
        provision: spec.provision.unwrap_or(config.provision),
        policy,
        host,
        devcontainer,
        warnings,
    })
}

/// The devcontainer step of the plan: reads the working dir's `devcontainer.json`,
/// decides what the session takes from it (see `devcontainer_plan.rs`), builds its image
/// when that is allowed, and merges the rest into `spec`, where the caller's own
/// settings win (environment variables of the same name, image, network, limits).
/// `None` when there is no file and none was required.
async fn apply_devcontainer(
    sb: &Sandbox,
    spec: &mut SessionSpec,
    working_dir: &Path,
    progress: Progress<'_>,
) -> Result<Option<DevcontainerReport>> {
    let config = &sb.config;
    let host_env = |k: &str| std::env::var(k).ok();
    let listed_env = |k: &str| config.devcontainer_local_env.iter().any(|a| a == k).then(|| host_env(k)).flatten();
    let vars = Variables {
        local_workspace_folder: working_dir,
        container_workspace: ContainerWorkspace::SamePath,
        local_env: &listed_env,
    };
    let Some(dc) = Devcontainer::load(working_dir, &vars)? else {
        if spec.devcontainer == Some(true) {
            return Err(Error::NotFound {
                what: "devcontainer.json".into(),
                detail: format!("none of {} in {}", DEVCONTAINER_FILES.join(", "), working_dir.display()),
            });
        }
        return Ok(None);
    };
    let host = sb.engine.host().await?;
    let policy = spec.effective_policy(config);
    let caller =
        CallerSet { image: spec.image.is_some(), network: spec.network.is_some(), limits: spec.limits.is_some() };
    let inputs = PlanInputs { config, policy: &policy, host: &host, working_dir, caller, host_env: &host_env };
    let mut dp = crate::devcontainer_plan::plan(&dc, &inputs);
    let file_error = |what: &str, e: Error| Error::Config { origin: dc.file.clone(), detail: format!("{what}: {e}") };
    if let Some(image) = &dp.image {
        validate::image(image).map_err(|e| file_error("image", e))?;
    }
    validate::env(&dp.env).map_err(|e| file_error("environment", e))?;

    if let Some(build) = dp.build.take() {
        // A session already running in this working dir could swap the build context
        // for a link out of it between the check and podman reading it.
        let wd = working_dir.to_string_lossy();
        let others: Vec<String> = sb
            .engine
            .list(labels::WORKDIR, &wd)
            .await?
            .into_iter()
            .filter(|r| r.state == "running")
            .map(|r| r.name)
            .collect();
        if others.is_empty() {
            progress(StartPhase::BuildingImage { image: build.tag.clone() });
            sb.engine.build_image(&build, config.provision_timeout).await?;
            spec.image = Some(build.tag.clone());
            dp.report.built_image = Some(build.tag);
        } else {
            dp.report.refused(
                "build",
                &build.dockerfile_path,
                format!(
                    "sessions already run in this working dir ({}): they could change the build context while podman reads it",
                    others.join(", ")
                ),
            );
        }
    }
    if spec.image.is_none() {
        spec.image = dp.image;
    }
    let mut env = dp.env;
    for (k, v) in std::mem::take(&mut spec.env) {
        env.retain(|(have, _)| *have != k);
        env.push((k, v));
    }
    spec.env = env;
    for p in dp.ports {
        if !spec.ports.contains(&p) {
            spec.ports.push(p);
        }
    }
    dp.commands.append(&mut spec.post_create);
    spec.post_create = dp.commands;
    if spec.network.is_none() {
        spec.network = dp.network;
    }
    if spec.limits.is_none() {
        spec.limits = dp.limits;
    }
    Ok(Some(dp.report))
}

/// The create step, first part: locks the session's control dir, refuses to go on
/// while a container of the session's name runs, and clears the dir.
async fn claim_control_dir(engine: &dyn Engine, config: &Config, plan: &Plan) -> Result<(PathBuf, StartLock)> {
    let base = control_dir::base_dir(config, plan.host.uid);
    let (control, start_lock) = control_dir::lock(&base, &plan.id, plan.host.uid)?;
    // The session's agent.lock is in the part the container writes: a session that
    // swapped it would pass the lock check, and clearing its control dir would cut off
    // its own callers. Its container running is what counts. (A dir this start just
    // created cannot be in use: no need to ask the engine.)
    if !start_lock.created() && engine.state(&plan.name).await?.is_some_and(|s| s.running) {
        return Err(Error::SessionExists { id: plan.id.clone(), detail: "its container is running".into() });
    }
    control_dir::reset(&control, &start_lock, plan.host.uid, plan.shared_owner)?;
    Ok((control, start_lock))
}

/// The create step, second part: creates and starts the container, retrying when the
/// engine refuses for a reason a retry can avoid (a port it cannot bind is dropped;
/// limits the host cannot apply are dropped unless required; a stopped container of an
/// earlier session with this id is replaced), then puts the network isolation rules in
/// place before anything of the session runs.
async fn create_container(
    sb: &Sandbox,
    plan: &Plan,
    control: &Path,
    guard: &mut StartGuard,
    progress: Progress<'_>,
) -> Result<Created> {
    let config = &sb.config;
    let agent = crate::agent_binary::install(&crate::agent_binary::cache_dir(config, plan.host.uid), plan.host.uid)?;
    let mut created = Created { agent, terms: plan.terms.clone(), warnings: Vec::new(), enforcer: None };
    // The enforcer listens before the container exists: the agent's proxy never runs
    // without it. Removing the control dir (a failed start included) stops it.
    if plan.policy.network == Network::Egress {
        crate::egress::write_forward_ports(control, &created.terms.publish)?;
        let launched = crate::egress::launch(&created.agent, control, &plan.policy.egress).await?;
        if !plan.policy.egress.credentials.is_empty() {
            // The session trusts its CA: a copy in the shared dir (fresh: nothing of the
            // container's is there yet), made into a bundle once the agent runs.
            let name = sandbox_proto::layout::EGRESS_CA_CERT;
            let to = control_dir::shared(control).join(name);
            std::fs::copy(control.join(name), &to)
                .map_err(|e| Error::io(format!("copying the session CA to {}", to.display()), e))?;
        }
        let terms = &mut created.terms;
        for p in terms.publish.clone() {
            if !launched.forwarded.contains(&p) {
                terms.publish.retain(|x| *x != p);
                terms.dropped.push(DroppedPort {
                    port: p,
                    reason: "already in use on the host (the egress enforcer could not listen on it)".into(),
                });
                created.warnings.push(format!("host port {p} is already in use: it is not forwarded"));
            }
        }
        created.enforcer = Some(launched.pid);
    }
    // podman's networks are listed while the container is being made (the rules need
    // them only once it runs), so isolating costs no extra wait for that listing.
    let make = async {
        let mut replaced = false;
        let attempts = plan.requested_ports + 4;
        for attempt in 1..=attempts {
            progress(StartPhase::CreatingContainer { attempt });
            guard.creating = Some(plan.name.clone());
            let outcome = sb.engine.create(&run_plan(plan, config, control, &created)).await;
            guard.creating = None;
            let (code, stderr) = match outcome {
                Ok(()) => {
                    guard.container = Some(plan.name.clone());
                    break;
                }
                Err(CreateFailure::Failed(e)) => return Err(e),
                Err(CreateFailure::Refused { code, stderr }) => (code, stderr),
            };
            let kind = run_failure::classify(&stderr);
            if kind != RunFailureKind::NameInUse {
                // podman can leave a created-but-never-started container behind.
                let _ = sb.engine.remove(&plan.name).await;
            }
            let engine_error = || Error::Engine {
                action: "starting the session container (podman run)".into(),
                code,
                stderr: stderr.clone(),
            };
            if attempt == attempts {
                return Err(engine_error());
            }
            match kind {
                RunFailureKind::NameInUse => {
                    replace_stopped(sb.engine.as_ref(), plan, &mut replaced, &mut created.warnings).await?;
                }
                RunFailureKind::ImageMissing => {
                    return Err(Error::ImageUnavailable {
                        image: plan.image.used.clone(),
                        detail: format!(
                            "it is not in local storage and sessions never pull (podman said: {stderr}); build or pull it first (scripts/setup builds the default image)"
                        ),
                    });
                }
                RunFailureKind::PortConflict if !created.terms.publish.is_empty() => {
                    let terms = &mut created.terms;
                    match run_failure::decide(&stderr, &terms.publish) {
                        PortDecision::Drop(p) => {
                            terms.publish.retain(|x| *x != p);
                            terms
                                .dropped
                                .push(DroppedPort { port: p, reason: format!("podman could not bind it: {stderr}") });
                            created
                                .warnings
                                .push(format!("host port {p} is already in use: dropped it, kept the other ports"));
                        }
                        PortDecision::DropAll => {
                            for p in terms.publish.drain(..) {
                                terms.dropped.push(DroppedPort {
                                    port: p,
                                    reason: format!("unidentified port conflict: {stderr}"),
                                });
                            }
                            created.warnings.push(format!(
                                "a port conflict named none of the ports: dropped all port publishing ({stderr})"
                            ));
                        }
                    }
                }
                RunFailureKind::Cgroup if created.terms.limits.is_some() => {
                    if plan.policy.require_resource_limits {
                        return Err(Error::LimitsUnavailable { reason: stderr.clone() });
                    }
                    created.warnings.push(format!(
                        "this host could not apply the resource limits; starting without them ({stderr})"
                    ));
                    created.terms.limits = None;
                    created.terms.limits_reason = Some(stderr.clone());
                }
                _ => return Err(engine_error()),
            }
        }
        Ok::<_, Error>(created)
    };
    let listing = async {
        match plan.isolate {
            true => Some(sb.engine.neighbourhood().await),
            false => None,
        }
    };
    let (made, neighbourhood) = tokio::join!(make, listing);
    let created = made?;

    // Before anything of the session's runs (the agent runs nothing on its own).
    if let Some(n) = neighbourhood {
        let n = n?;
        let run = run_plan(plan, config, control, &created);
        sb.engine.isolate_network(&run, &network_isolation::rules(&n, &created.terms.publish)).await?;
    }
    Ok(created)
}

/// The container's name is in use: a stopped container of an earlier session of ours
/// with this id is removed (once), so the next attempt can take the name; anything else
/// means the session exists.
async fn replace_stopped(
    engine: &dyn Engine,
    plan: &Plan,
    replaced: &mut bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let name = &plan.name;
    let ours = engine
        .list(labels::SESSION, &plan.id)
        .await?
        .into_iter()
        .any(|r| &r.name == name && r.labels.get(labels::OWNER) == Some(&plan.host.uid.to_string()));
    let running = engine.state(name).await?.map(|s| s.running);
    match (ours, running) {
        (true, Some(true)) => {
            Err(Error::SessionExists { id: plan.id.clone(), detail: "its container is running".into() })
        }
        (true, Some(false)) if !*replaced => {
            engine.remove(name).await?;
            *replaced = true;
            warnings.push(format!("replaced the stopped container {name} of an earlier session with this id"));
            Ok(())
        }
        (true, None) if !*replaced => {
            *replaced = true;
            Ok(())
        }
        _ => Err(Error::SessionExists {
            id: plan.id.clone(),
            detail: format!(
                "a container named {name} exists that sandbox did not create (or could not replace); remove it or use another id"
            ),
        }),
    }
}

/// What the engine is asked to create, with the ports and limits as they stand.
fn run_plan(plan: &Plan, config: &Config, control: &Path, created: &Created) -> RunPlan {
    let terms = &created.terms;
    let agent = created.agent.display().to_string();
    RunPlan {
        name: plan.name.clone(),
        labels: vec![
            (labels::MANAGED.into(), "true".into()),
            (labels::SESSION.into(), plan.id.clone()),
            (labels::OWNER.into(), plan.host.uid.to_string()),
            (labels::SCOPE.into(), config.scope.clone()),
            (labels::WORKDIR.into(), plan.working_dir_str.clone()),
            (labels::CONTROL.into(), control.display().to_string()),
            (labels::VERSION.into(), env!("CARGO_PKG_VERSION").into()),
            (labels::PORTS.into(), terms.publish.iter().map(u16::to_string).collect::<Vec<_>>().join(",")),
            (labels::AGENT.into(), agent.clone()),
            (labels::FROM_SNAPSHOT.into(), plan.snapshot.clone().unwrap_or_default()),
        ],
        image: plan.image.used.clone(),
        working_dir: plan.working_dir_str.clone(),
        control_dir: control.display().to_string(),
        root_maps_to: plan.root_maps_to,
        agent_path: agent,
        ports: terms.publish.clone(),
        network: plan.policy.network,
        limits: terms.limits,
        env: plan.env.clone(),
        unset_env: plan.unset_env.clone(),
        idle_timeout_secs: plan.idle_timeout.map(|d| d.as_secs()),
        self_mounts: plan.self_mounts.clone(),
        // tmpfs pages count against the memory limit and cannot be reclaimed:
        // a /tmp larger than half the limit could get the agent OOM-killed.
        tmp_size: config.tmp_size.map(|t| match terms.limits {
            Some(l) => t.min(l.memory_bytes / 2),
            None => t,
        }),
        nproc_fallback: plan.nproc_fallback(terms.limits),
        events: config.events.clone(),
    }
}

/// The provision and post-create step: installs dev essentials when asked (best
/// effort), then runs the post-create commands the policy allows, each through the
/// session's exec path. Their failures are outcomes and warnings, not errors; a lost
/// session is an error.
async fn set_up(session: &Session, plan: &Plan, config: &Config, progress: Progress<'_>) -> Result<Setup> {
    let mut setup = Setup { provisioning: Provisioning::Disabled, post_create: Vec::new(), warnings: Vec::new() };
    if plan.policy.network == Network::Egress && !plan.policy.egress.credentials.is_empty() {
        let script = crate::egress::trust_bundle_script();
        let (exit, tail) = run_for_tail(session, &script, config.provision_timeout).await?;
        if exit.exit_code != Some(0) {
            setup.warnings.push(format!(
                "the session's trust bundle could not be built ({}): TLS clients may refuse the hosts that get credentials: {tail}",
                exit_text(exit.exit_code, exit.signal, exit.timed_out)
            ));
        }
    }
    if plan.provision {
        progress(StartPhase::Provisioning);
        setup.provisioning = if plan.policy.network == Network::None {
            Provisioning::Skipped { reason: "network is none: packages cannot be downloaded".into() }
        } else {
            provision(session, config.provision_timeout).await?
        };
        if let Provisioning::Failed { exit_code, .. } = &setup.provisioning {
            setup.warnings.push(format!(
                "installing dev essentials failed ({}); the session works without them",
                exit_text(*exit_code, None, false)
            ));
        }
    }
    if !plan.post_create.is_empty() && !plan.policy.allow_post_create {
        setup.warnings.push(format!(
            "skipped {} post-create command(s): they come from the opened project and are not run unless allow_post_create is set",
            plan.post_create.len()
        ));
    }
    for (index, command) in plan.post_create.iter().enumerate() {
        let outcome = if plan.policy.allow_post_create {
            progress(StartPhase::PostCreate { index, command: command.clone() });
            run_post_create(session, command, config.post_create_timeout).await?
        } else {
            PostCreateOutcome {
                command: command.clone(),
                ran: false,
                exit_code: None,
                signal: None,
                timed_out: false,
                output_tail: String::new(),
                duration: Duration::ZERO,
            }
        };
        if outcome.ran && !outcome.succeeded() {
            setup.warnings.push(format!(
                "post-create command {command:?} failed ({}): {}",
                exit_text(outcome.exit_code, outcome.signal, outcome.timed_out),
                outcome.output_tail.lines().last().unwrap_or_default()
            ));
        }
        setup.post_create.push(outcome);
    }
    Ok(setup)
}

/// The report step: what the start did, every warning (logged too) in the order the
/// steps raised them.
fn report(plan: &Plan, created: Created, setup: Setup, started: Instant) -> StartReport {
    let mut warnings = plan.warnings.clone();
    warnings.extend(created.warnings);
    warnings.extend(setup.warnings);
    for w in &warnings {
        tracing::warn!(session = %plan.id, "{w}");
    }
    let terms = created.terms;
    StartReport {
        session_id: plan.id.clone(),
        container: plan.name.clone(),
        working_dir: plan.working_dir_str.clone(),
        image: plan.image.clone(),
        network: plan.policy.network,
        ports_published: terms.publish.clone(),
        ports_dropped: terms.dropped,
        limits: LimitsOutcome {
            enforced: terms.limits.is_some(),
            requested: plan.policy.limits,
            reason: terms.limits_reason,
            nproc_fallback: plan.nproc_fallback(terms.limits),
        },
        protected_paths: plan.protected_paths.clone(),
        network_isolated: plan.isolate,
        egress: created.enforcer.map(|pid| EgressReport {
            rules: plan.policy.egress.allow.iter().map(ToString::to_string).collect(),
            pinned: plan.policy.egress.hosts.keys().cloned().collect(),
            proxy: crate::egress::proxy_url(),
            enforcer_pid: pid,
            forwarded_ports: terms.publish.clone(),
        }),
        host_uid: if plan.host.rootless { plan.host.uid } else { plan.root_maps_to.uid },
        provisioning: setup.provisioning,
        post_create: setup.post_create,
        devcontainer: plan.devcontainer.clone(),
        snapshot: None,
        warnings,
        duration: started.elapsed(),
    }
}

/// How a command ended, for messages: "exit 3", "killed by signal 9, timed out".
fn exit_text(code: Option<i32>, signal: Option<i32>, timed_out: bool) -> String {
    let mut t = match (code, signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "no exit status".to_string(),
    };
    if timed_out {
        t.push_str(", timed out");
    }
    t
}

/// Where this library and the engine keep state: no working dir may be, contain or sit
/// inside one of them.
fn state_dirs(config: &Config, host: &crate::HostInfo) -> Vec<PathBuf> {
    let mut dirs = vec![
        control_dir::base_dir(config, host.uid),
        crate::agent_binary::cache_dir(config, host.uid),
        crate::snapshot::snapshot_dir(config, host.uid),
        PathBuf::from("/run/sandbox"),
        PathBuf::from("/var/cache/sandbox"),
        PathBuf::from("/var/lib/sandbox"),
    ];
    if let Some(file) = crate::config::config_path()
        && let Some(dir) = file.parent()
    {
        dirs.push(dir.to_path_buf());
    }
    dirs.extend(host.engine_dirs.iter().map(PathBuf::from));
    // Every user's per-user state, not only ours: a rootful session runs as its working
    // dir's owner, so root must not start one in (or above) another user's agent cache,
    // sandbox config, or podman configuration (hooks and runtimes podman would run) and
    // storage.
    let mut homes: Vec<PathBuf> =
        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).into_iter().collect();
    homes.extend(passwd_homes(&std::fs::read_to_string("/etc/passwd").unwrap_or_default()));
    for home in homes {
        for sub in [
            ".cache/sandbox",
            ".config/sandbox",
            ".config/containers",
            ".local/share/containers",
            ".local/share/sandbox",
        ] {
            dirs.push(home.join(sub));
        }
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(x).join("containers"));
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(x));
    }
    dirs
}

/// The home directories in a passwd file (`/`, relative paths and non-existent homes
/// such as `/nonexistent` are left out).
fn passwd_homes(passwd: &str) -> Vec<PathBuf> {
    passwd
        .lines()
        .filter_map(|l| l.split(':').nth(5))
        .filter(|h| h.starts_with('/') && *h != "/" && std::path::Path::new(h).is_dir())
        .map(PathBuf::from)
        .collect()
}

fn choose_image(config: &Config, requested: Option<&str>, allow_untrusted: bool) -> ImageChoice {
    let (used, reason) = match requested {
        None => (config.default_image.clone(), ImageReason::Default),
        Some(img) if config.is_trusted(img) => (img.to_string(), ImageReason::Trusted),
        Some(img) if allow_untrusted => (img.to_string(), ImageReason::UntrustedAllowed),
        Some(_) => (config.default_image.clone(), ImageReason::UntrustedReplaced),
    };
    ImageChoice { requested: requested.map(String::from), used, reason }
}

/// Polls for the agent socket and handshakes; fails early (with the container's last
/// log lines) if the container exits instead.
async fn wait_for_agent(engine: &dyn Engine, at: &SessionAddress, limit: Duration) -> Result<AgentClient> {
    let (name, control) = (at.container.as_str(), at.control_dir.as_path());
    let place = AgentPlace { container: name, control, agent: &at.agent_binary };
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    let mut next_state_check = Duration::from_millis(300);
    loop {
        // The socket appears once the agent listens (and watches what it was told to);
        // then a connection, over the session's transport, is handshaken.
        if control_dir::socket_present(control)
            && let Ok(stream) = transport::connect(at.transport, engine, &place).await
        {
            return AgentClient::handshake(stream, CLIENT_NAME).await;
        }
        let waited = start.elapsed();
        if waited >= next_state_check {
            next_state_check = waited + Duration::from_millis(300);
            let st = engine.state(name).await?;
            if !st.as_ref().is_some_and(|s| s.running) {
                let logs = engine.logs_tail(name).await.unwrap_or_default();
                return Err(Error::Engine {
                    action: "starting the session agent".into(),
                    code: st.and_then(|s| s.exit_code),
                    stderr: format!("the container stopped before its agent was ready; its output:\n{logs}"),
                });
            }
        }
        if waited >= limit {
            let logs = engine.logs_tail(name).await.unwrap_or_default();
            return Err(Error::Timeout {
                action: format!("waiting for the session agent (container output: {logs})"),
                after: limit,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Runs `sh -c script` with stderr merged into stdout through the session's exec path
/// (the request [`Session::exec`] sends: no flow-control window, stdin /dev/null),
/// keeping only the last [`TAIL_BYTES`] of the output. Returns the exit and the tail.
/// The output is not capped in the container: a cap keeps the head, and the tail is
/// what is wanted.
async fn run_for_tail(session: &Session, script: &str, timeout: Duration) -> Result<(ExecExit, String)> {
    let argv = ["sh".to_string(), "-c".to_string(), format!("exec 2>&1\n{script}")];
    let mut stream = session.start_exec(&argv, ExecOptions::new().timeout(timeout), None, u64::MAX).await?;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(event) = stream.next().await {
        match event? {
            ExecEvent::Stdout(b) | ExecEvent::Stderr(b) => {
                tail.extend_from_slice(&b);
                if tail.len() > 2 * TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
            }
            ExecEvent::Exit(exit) => {
                if tail.len() > TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
                return Ok((exit, String::from_utf8_lossy(&tail).into_owned()));
            }
        }
    }
    Err(Error::Protocol { detail: "the exec ended without an exit status".into() })
}

async fn provision(session: &Session, timeout: Duration) -> Result<Provisioning> {
    let (exit, tail) = run_for_tail(session, PROVISION_SCRIPT, timeout).await?;
    let manager = tail.lines().find_map(|l| l.strip_prefix("manager: ")).map(str::to_string);
    Ok(match (exit.exit_code, manager) {
        (Some(NO_PACKAGE_MANAGER), _) => {
            Provisioning::Skipped { reason: "the image has neither apk nor apt-get".into() }
        }
        (Some(127), _) => Provisioning::Skipped { reason: "the image has no /bin/sh".into() },
        (Some(0), Some(manager)) => Provisioning::Installed { manager },
        (code, _) => Provisioning::Failed { exit_code: code, timed_out: exit.timed_out, output_tail: tail },
    })
}

async fn run_post_create(session: &Session, command: &str, timeout: Duration) -> Result<PostCreateOutcome> {
    let (exit, tail) = run_for_tail(session, command, timeout).await?;
    Ok(PostCreateOutcome {
        command: command.to_string(),
        ran: true,
        exit_code: exit.exit_code,
        signal: exit.signal,
        timed_out: exit.timed_out,
        output_tail: tail,
        duration: exit.duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::engine::ContainerRecord;
    use crate::fake_agent::FakeAgent;
    use crate::fake_engine::{EngineCall, FakeEngine, exited, running, session_record};

    #[test]
    fn every_users_home_is_read_from_passwd() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().display().to_string();
        let passwd = format!(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\nweird::1:1::relative:/bin/sh\nme:x:1000:1000::{home}:/bin/sh\nshort:x\n"
        );
        let homes = passwd_homes(&passwd);
        assert!(homes.contains(&PathBuf::from(&home)));
        assert!(
            !homes.iter().any(|h| h == std::path::Path::new("/nonexistent") || h == std::path::Path::new("relative"))
        );
    }

    #[test]
    fn exits_are_described_in_words() {
        assert_eq!(exit_text(Some(3), None, false), "exit 3");
        assert_eq!(exit_text(None, Some(9), true), "killed by signal 9, timed out");
        assert_eq!(exit_text(None, None, false), "no exit status");
    }

    #[test]
    fn untrusted_images_are_replaced_unless_allowed() {
        let mut config = Config::default();
        config.trusted_images.push("localhost/trusted:1".into());
        let c = choose_image(&config, None, false);
        assert_eq!((c.used.as_str(), c.reason), (config.default_image.as_str(), ImageReason::Default));
        let c = choose_image(&config, Some("localhost/trusted:1"), false);
        assert_eq!((c.used.as_str(), c.reason), ("localhost/trusted:1", ImageReason::Trusted));
        let c = choose_image(&config, Some("evil/image:latest"), false);
        assert_eq!((c.used.as_str(), c.reason), (config.default_image.as_str(), ImageReason::UntrustedReplaced));
        let c = choose_image(&config, Some("evil/image:latest"), true);
        assert_eq!((c.used.as_str(), c.reason), ("evil/image:latest", ImageReason::UntrustedAllowed));
    }

    // The start pipeline over a fake engine. Steps that need the agent get a
    // `FakeAgent` as their connect step; the tests of failures before or at the connect
    // step use the real one (`WaitForAgent`), which the fake engine's container states
    // drive.

    /// podman's refusals, as it words them (see `run_failure::classify`).
    fn port_refusal(port: u16) -> String {
        format!("Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:{port}: bind: address already in use")
    }
    const CGROUP_REFUSAL: &str = "Error: OCI runtime error: runc: runc create failed: unable to start container process: error during container init: error setting cgroup config for procHooks process: open /sys/fs/cgroup/pids/machine.slice/libpod-0f3c.scope/pids.max: no such file or directory";
    const NAME_REFUSAL: &str = "Error: creating container storage: the container name \"sandbox-again\" is already in use by 0f3c. You have to remove that container to be able to reuse that name: that name is already in use";

    /// A sandbox over a fake engine; its working dir, control dirs and agent cache in a
    /// temporary dir.
    struct Bench {
        t: tempfile::TempDir,
        engine: Arc<FakeEngine>,
        sandbox: Sandbox,
    }

    fn bench(engine: FakeEngine) -> Bench {
        bench_with(engine, |_| {})
    }

    fn bench_with(engine: FakeEngine, adjust: impl FnOnce(&mut Config)) -> Bench {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("work")).unwrap();
        let mut config = Config {
            runtime_dir: Some(t.path().join("run")),
            cache_dir: Some(t.path().join("cache")),
            provision: false,
            ready_timeout: Duration::from_secs(20),
            ..Config::default()
        };
        adjust(&mut config);
        let engine = Arc::new(engine);
        let sandbox = Sandbox::with_engine(config, engine.clone());
        Bench { t, engine, sandbox }
    }

    impl Bench {
        fn spec(&self, id: &str) -> SessionSpec {
            SessionSpec::new(id, self.t.path().join("work"))
        }

        fn control_dir(&self, id: &str) -> PathBuf {
            self.t.path().join("run").join(id)
        }

        /// Runs the pipeline with `connect` as its connect step; returns the outcome and
        /// the phases it went through.
        async fn start(&self, spec: SessionSpec, connect: &dyn Connect) -> (Result<Session>, Vec<StartPhase>) {
            let phases = std::sync::Mutex::new(Vec::new());
            let r = pipeline(&self.sandbox, spec, &|p| phases.lock().unwrap().push(p), connect).await;
            (r, phases.into_inner().unwrap())
        }

        /// Stops `session` and checks it left nothing.
        async fn stop(&self, session: Session) {
            session.stop().await.unwrap();
            assert!(!self.engine.exists(session.container()));
            assert!(!session.control_dir().exists());
        }
    }

    /// An agent whose every command prints nothing and succeeds.
    fn quiet_agent() -> FakeAgent {
        FakeAgent::new(|_| (Vec::new(), 0))
    }

    /// A port free now, below the kernel's ephemeral range (32768 and up by default):
    /// a port the kernel handed out for the asking is the kind it hands the next
    /// outgoing connection too, which then holds it when the plan checks (a CI failure).
    /// Each call starts from another place (pid and a counter), so tests running at
    /// once do not pick the same port.
    fn free_port() -> u16 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let start =
            std::process::id().wrapping_mul(7919).wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(97));
        (0..12_000u32)
            .map(|i| 20_000 + (start.wrapping_add(i) % 12_000) as u16)
            .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
            .expect("a free port between 20000 and 32000")
    }

    #[tokio::test]
    async fn a_port_podman_cannot_bind_is_dropped_and_the_create_retried() {
        let keep = free_port();
        let mut lose = free_port();
        while lose == keep {
            lose = free_port();
        }
        let b = bench(FakeEngine::new().refuse_create(port_refusal(lose)));
        let (session, phases) = b.start(b.spec("ports").ports([keep, lose]), &quiet_agent()).await;
        let session = session.unwrap();
        let creates = b.engine.creates();
        assert_eq!(creates.len(), 2, "one retry");
        assert_eq!(creates[0].ports, [keep, lose]);
        assert_eq!(creates[1].ports, [keep], "retried without the port podman could not bind");
        let remove = b.engine.calls().iter().position(|c| *c == EngineCall::Remove("sandbox-ports".into()));
        let second = b.engine.calls().iter().rposition(|c| matches!(c, EngineCall::Create(_)));
        assert!(remove < second, "the refused container is removed before the retry");
        let r = session.start_report().unwrap();
        assert_eq!(r.ports_published, [keep]);
        assert_eq!(r.ports_dropped.len(), 1);
        assert_eq!(r.ports_dropped[0].port, lose);
        assert!(r.ports_dropped[0].reason.contains("address already in use"), "{:?}", r.ports_dropped);
        let warning = format!("host port {lose} is already in use: dropped it, kept the other ports");
        assert!(r.warnings.contains(&warning), "{:?}", r.warnings);
        assert!(phases.contains(&StartPhase::CreatingContainer { attempt: 2 }), "{phases:?}");
        b.stop(session).await;
    }

    #[tokio::test]
    async fn limits_the_host_refuses_are_dropped_unless_required() {
        let b = bench(FakeEngine::new().refuse_create(CGROUP_REFUSAL));
        let (session, _) = b.start(b.spec("soft"), &quiet_agent()).await;
        let session = session.unwrap();
        let creates = b.engine.creates();
        assert_eq!(creates.len(), 2);
        assert_eq!(creates[0].limits, Some(Limits::default()));
        assert_eq!((creates[1].limits, creates[1].nproc_fallback), (None, Some(NPROC_FALLBACK_MIN)));
        let r = session.start_report().unwrap();
        assert!(!r.limits.enforced);
        assert_eq!(r.limits.reason.as_deref(), Some(CGROUP_REFUSAL), "the report says why");
        assert_eq!(r.limits.nproc_fallback, Some(NPROC_FALLBACK_MIN));
        assert!(r.warnings.iter().any(|w| w.contains("could not apply the resource limits")), "{:?}", r.warnings);
        b.stop(session).await;

        let b = bench(FakeEngine::new().refuse_create(CGROUP_REFUSAL));
        let (e, _) = b.start(b.spec("hard").require_resource_limits(true), &quiet_agent()).await;
        let e = e.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitsUnavailable, "{e}");
        assert!(e.to_string().contains("pids.max"), "podman's words are kept: {e}");
        assert_eq!(b.engine.creates().len(), 1, "no retry without the required limits");
        assert!(b.engine.calls().contains(&EngineCall::Remove("sandbox-hard".into())));
        assert!(!b.engine.exists("sandbox-hard"));
        assert!(!b.control_dir("hard").exists(), "the control dir is removed");
    }

    #[tokio::test]
    async fn limits_a_host_cannot_enforce_at_all_fail_before_the_engine_creates_anything() {
        let b =
            bench(FakeEngine::new().limits_unenforceable("the cgroup controllers memory are not available to podman"));
        let (e, _) = b.start(b.spec("nolimits").require_resource_limits(true), &quiet_agent()).await;
        let e = e.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitsUnavailable, "{e}");
        assert!(b.engine.creates().is_empty());
        assert!(!b.control_dir("nolimits").exists());
    }

    #[tokio::test]
    async fn an_untrusted_image_is_replaced_by_the_default_unless_allowed() {
        let b = bench(FakeEngine::new());
        let evil = "docker.io/evil/image:latest";
        let (session, _) = b.start(b.spec("img").image(evil), &quiet_agent()).await;
        let session = session.unwrap();
        assert_eq!(b.engine.creates()[0].image, b.sandbox.config.default_image, "the container runs the default");
        let r = session.start_report().unwrap();
        assert_eq!(r.image.reason, ImageReason::UntrustedReplaced);
        assert_eq!(r.image.requested.as_deref(), Some(evil));
        assert!(r.warnings.iter().any(|w| w.contains(evil) && w.contains("not trusted")), "{:?}", r.warnings);
        b.stop(session).await;

        let (session, _) = b.start(b.spec("img2").image(evil).allow_untrusted_image(true), &quiet_agent()).await;
        let session = session.unwrap();
        assert_eq!(b.engine.creates()[1].image, evil);
        let r = session.start_report().unwrap();
        assert_eq!(r.image.reason, ImageReason::UntrustedAllowed);
        assert!(r.warnings.iter().all(|w| !w.contains("not trusted")), "{:?}", r.warnings);
        b.stop(session).await;
    }

    #[tokio::test]
    async fn a_missing_podman_is_a_typed_error_with_advice_and_touches_nothing() {
        let t = tempfile::tempdir().unwrap();
        let program = t.path().join("no-podman-here");
        let config = Config {
            podman: program.clone(),
            runtime_dir: Some(t.path().join("run")),
            cache_dir: Some(t.path().join("cache")),
            ..Config::default()
        };
        let sandbox = Sandbox::new(config);
        let e = start(&sandbox, SessionSpec::new("nopodman", t.path()), &|_| {}).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EngineMissing, "{e}");
        let text = e.to_string();
        assert!(text.contains(&program.display().to_string()) && text.contains("install"), "{text}");
        assert!(!t.path().join("run").exists() && !t.path().join("cache").exists(), "nothing was created");
    }

    #[tokio::test]
    async fn a_container_that_dies_before_its_agent_answers_is_reported_and_removed() {
        let logs = "sandbox-agent: cannot listen on /.sandbox/agent.sock: read-only file system";
        let b = bench(FakeEngine::new().created_state(exited(3)).logs(logs));
        // The real connect step: it sees no socket, then the container's state.
        let (e, phases) = b.start(b.spec("dies"), &WaitForAgent).await;
        let e = e.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Engine, "{e}");
        let text = e.to_string();
        assert!(text.contains("the container stopped before its agent was ready"), "{text}");
        assert!(text.contains(logs), "the container's log tail is in the error: {text}");
        assert!(text.contains("exit status 3"), "{text}");
        assert!(phases.contains(&StartPhase::WaitingForAgent) && !phases.contains(&StartPhase::Ready));
        assert!(b.engine.calls().contains(&EngineCall::Remove("sandbox-dies".into())), "{:?}", b.engine.calls());
        assert!(!b.engine.exists("sandbox-dies"), "nothing left behind");
        assert!(!b.control_dir("dies").exists(), "the control dir is gone");
    }

    #[tokio::test]
    async fn a_start_dropped_while_the_engine_creates_removes_what_it_made() {
        let b = bench(FakeEngine::new().hang_creates());
        let abandoned = tokio::time::timeout(Duration::from_millis(300), b.start(b.spec("mid"), &WaitForAgent));
        assert!(abandoned.await.is_err(), "the create never answered");
        let calls = b.engine.calls();
        assert!(calls.contains(&EngineCall::RemoveNow("sandbox-mid".into())), "{calls:?}");
        assert!(!b.engine.exists("sandbox-mid"), "the container the engine made meanwhile is gone");
        assert!(!b.control_dir("mid").exists());
    }

    #[tokio::test]
    async fn a_dropped_start_leaves_a_container_of_the_same_name_it_did_not_make() {
        // Someone else's container holds the name; ours never got made (the engine
        // hangs before answering the refusal). Dropping the start must not remove theirs.
        let foreign = ContainerRecord {
            id: "f00".into(),
            name: "sandbox-theirs".into(),
            image: "x".into(),
            state: "running".into(),
            created: 0,
            labels: [(labels::CONTROL.to_string(), "/somewhere/else".to_string())].into_iter().collect(),
        };
        let engine = FakeEngine::new().with_container(foreign, crate::fake_engine::running()).hang_creates();
        let b = bench(engine);
        let abandoned = tokio::time::timeout(Duration::from_millis(300), b.start(b.spec("theirs"), &WaitForAgent));
        assert!(abandoned.await.is_err());
        assert!(b.engine.exists("sandbox-theirs"), "a container with another control dir is not ours to remove");
    }

    #[tokio::test]
    async fn a_start_dropped_half_way_removes_its_container_through_the_engine() {
        let b = bench(FakeEngine::new());
        // The container runs but its agent never answers: the start waits until dropped.
        let abandoned = tokio::time::timeout(Duration::from_millis(700), b.start(b.spec("dropped"), &WaitForAgent));
        assert!(abandoned.await.is_err(), "still waiting for the agent");
        let calls = b.engine.calls();
        assert!(calls.contains(&EngineCall::RemoveNow("sandbox-dropped".into())), "{calls:?}");
        assert!(!calls.contains(&EngineCall::Remove("sandbox-dropped".into())), "no async context was used");
        assert!(!b.engine.exists("sandbox-dropped"));
        assert!(!b.control_dir("dropped").exists());
    }

    #[tokio::test]
    async fn bad_input_fails_before_the_engine_is_asked_anything() {
        let b = bench(FakeEngine::new());
        for spec in [
            b.spec("bad id!"),
            SessionSpec::new("nodir", b.t.path().join("missing")),
            b.spec("badenv").env("A=B", "c"),
            b.spec("badpost").post_create([" "]),
            b.spec("badlimits").limits(Limits { memory_bytes: 1, ..Limits::default() }),
        ] {
            let (e, phases) = b.start(spec, &quiet_agent()).await;
            assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert!(phases.is_empty());
        }
        assert_eq!(b.engine.calls(), [], "the engine was not even probed");
        // Input that needs the host facts is checked before anything is created.
        let (e, _) = b.start(b.spec("cpus").limits(Limits { cpus: 64.0, ..Limits::default() }), &quiet_agent()).await;
        assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(b.engine.calls(), [EngineCall::Host]);
        assert!(!b.t.path().join("run").exists());
    }

    /// A container named `name` of session `id` owned by `uid`, with only the labels
    /// that name it (no control dir, working dir or agent).
    fn record(name: &str, id: &str, uid: u32, state: &str) -> ContainerRecord {
        let mut r = session_record(id, Path::new("/nonexistent"), state);
        r.id = format!("id-{name}");
        r.name = name.into();
        r.labels.retain(|k, _| [labels::MANAGED, labels::SESSION, labels::SCOPE].contains(&k.as_str()));
        r.labels.insert(labels::OWNER.into(), uid.to_string());
        r
    }

    #[tokio::test]
    async fn a_running_container_of_the_name_is_an_existing_session_and_its_control_dir_is_kept() {
        let uid = rustix::process::getuid().as_raw();
        let b = bench(FakeEngine::new().with_container(record("sandbox-live", "live", uid, "running"), running()));
        // What the live session keeps in its control dir.
        crate::control_dir::ensure_private_dir(&b.t.path().join("run"), uid).unwrap();
        std::fs::create_dir(b.control_dir("live")).unwrap();
        std::fs::write(b.control_dir("live").join("marker"), "x").unwrap();
        let (e, _) = b.start(b.spec("live"), &quiet_agent()).await;
        let e = e.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionExists, "{e}");
        assert!(e.to_string().contains("its container is running"), "{e}");
        assert!(b.engine.creates().is_empty());
        assert!(b.engine.exists("sandbox-live"), "the live session's container is left alone");
        assert!(b.control_dir("live").join("marker").exists(), "its control dir is neither cleared nor removed");
    }

    #[tokio::test]
    async fn a_stopped_container_of_an_earlier_session_is_replaced() {
        let uid = rustix::process::getuid().as_raw();
        let engine = FakeEngine::new().with_container(record("sandbox-again", "again", uid, "exited"), exited(0));
        let b = bench(engine.refuse_create(NAME_REFUSAL));
        let (session, _) = b.start(b.spec("again"), &quiet_agent()).await;
        let session = session.unwrap();
        assert_eq!(b.engine.creates().len(), 2);
        assert!(b.engine.calls().contains(&EngineCall::Remove("sandbox-again".into())));
        let r = session.start_report().unwrap();
        assert!(
            r.warnings.iter().any(|w| w.contains("replaced the stopped container sandbox-again")),
            "{:?}",
            r.warnings
        );
        b.stop(session).await;
    }

    #[tokio::test]
    async fn provisioning_and_post_create_run_through_the_exec_path_and_keep_the_tail() {
        let agent = FakeAgent::new(|script| {
            if script.contains("command -v apk") {
                (b"manager: apk\nOK: 12 packages\n".to_vec(), 0)
            } else if script.ends_with("make big") {
                let mut out = vec![b'x'; 3 * TAIL_BYTES];
                out.extend_from_slice(b"\nthe end\n");
                (out, 3)
            } else {
                (b"fine\n".to_vec(), 0)
            }
        });
        let b = bench_with(FakeEngine::new(), |c| c.provision = true);
        let spec = b.spec("setup").post_create(["true", "make big"]).allow_post_create(true);
        let (session, phases) = b.start(spec, &agent).await;
        let session = session.unwrap();
        assert_eq!(
            phases,
            [
                StartPhase::Probing,
                StartPhase::CreatingContainer { attempt: 1 },
                StartPhase::WaitingForAgent,
                StartPhase::Provisioning,
                StartPhase::PostCreate { index: 0, command: "true".into() },
                StartPhase::PostCreate { index: 1, command: "make big".into() },
                StartPhase::Ready,
            ]
        );
        let r = session.start_report().unwrap();
        assert_eq!(r.provisioning, Provisioning::Installed { manager: "apk".into() });
        assert!(r.post_create[0].succeeded());
        let big = &r.post_create[1];
        assert_eq!(big.exit_code, Some(3));
        assert_eq!(big.output_tail.len(), TAIL_BYTES, "only the tail is kept");
        assert!(
            big.output_tail.ends_with("xx\nthe end\n"),
            "the last bytes: {:?}",
            &big.output_tail[TAIL_BYTES - 20..]
        );
        assert!(r.warnings.iter().any(|w| w.contains("\"make big\" failed (exit 3): the end")), "{:?}", r.warnings);
        // The requests are the ones the session's exec path sends.
        let execs = agent.execs();
        assert_eq!(execs.len(), 3);
        assert_eq!(execs[2].argv, ["sh", "-c", "exec 2>&1\nmake big"]);
        assert_eq!(execs[2].timeout_ms, Some(b.sandbox.config.post_create_timeout.as_millis() as u64));
        assert_eq!(execs[0].timeout_ms, Some(b.sandbox.config.provision_timeout.as_millis() as u64));
        assert!(execs.iter().all(|x| x.stdin == sandbox_proto::StdinMode::Null && x.window.is_none()));
        b.stop(session).await;
    }

    /// Writes `text` as the bench's `.devcontainer/devcontainer.json`.
    fn devcontainer_file(b: &Bench, text: &str) {
        let dir = b.t.path().join("work/.devcontainer");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("devcontainer.json"), text).unwrap();
    }

    #[tokio::test]
    async fn a_devcontainer_json_gives_the_session_its_environment_ports_and_commands() {
        let b = bench(FakeEngine::new());
        let port = free_port();
        devcontainer_file(
            &b,
            &format!(
                r#"{{"image": "docker.io/project/image:1", "containerEnv": {{"FROM_FILE": "${{localWorkspaceFolderBasename}}", "BOTH": "file"}},
                    "forwardPorts": [{port}], "postCreateCommand": "echo made", "runArgs": ["--privileged"], "madeUp": 1}}"#
            ),
        );
        let agent = quiet_agent();
        let spec = b.spec("dc").devcontainer(true).env("BOTH", "caller").post_create(["echo caller"]);
        let (session, _) = b.start(spec, &agent).await;
        let session = session.unwrap();
        let plan = &b.engine.creates()[0];
        assert!(plan.env.contains(&("FROM_FILE".into(), "work".into())), "{:?}", plan.env);
        assert!(plan.env.contains(&("BOTH".into(), "caller".into())), "the caller's value wins: {:?}", plan.env);
        assert!(!plan.env.contains(&("BOTH".into(), "file".into())));
        assert_eq!(plan.ports, [port]);
        assert_eq!(plan.image, b.sandbox.config.default_image, "an untrusted image from the file is replaced");
        let r = session.start_report().unwrap();
        assert_eq!(r.image.reason, ImageReason::UntrustedReplaced);
        let commands: Vec<&str> = r.post_create.iter().map(|o| o.command.as_str()).collect();
        assert_eq!(commands, ["echo made", "echo caller"], "the file's first");
        assert!(r.post_create.iter().all(|o| !o.ran), "not run unless allowed");
        assert!(agent.execs().is_empty());
        let dc = r.devcontainer.as_ref().expect("a devcontainer report");
        assert_eq!(dc.file, ".devcontainer/devcontainer.json");
        assert_eq!(dc.unknown, ["madeUp"]);
        assert_eq!(dc.refused[0].value, "--privileged");
        for words in ["--privileged\" refused", "unknown property \"madeUp\"", "not trusted", "skipped 2 post-create"] {
            assert!(r.warnings.iter().any(|w| w.contains(words)), "{words}: {:?}", r.warnings);
        }
        b.stop(session).await;
    }

    #[tokio::test]
    async fn without_the_switch_the_file_is_not_read() {
        let b = bench(FakeEngine::new());
        devcontainer_file(&b, r#"{"containerEnv": {"FROM_FILE": "1"}, "postCreateCommand": "x"}"#);
        let (session, _) = b.start(b.spec("nodc"), &quiet_agent()).await;
        let session = session.unwrap();
        assert!(!b.engine.creates()[0].env.iter().any(|(k, _)| k == "FROM_FILE"));
        let r = session.start_report().unwrap();
        assert!(r.devcontainer.is_none() && r.post_create.is_empty());
        b.stop(session).await;
        // The configuration turns it on; the spec turns it off again.
        let b = bench_with(FakeEngine::new(), |c| c.devcontainer = true);
        devcontainer_file(&b, r#"{"containerEnv": {"FROM_FILE": "1"}}"#);
        let (session, _) = b.start(b.spec("cfg"), &quiet_agent()).await;
        let session = session.unwrap();
        assert!(b.engine.creates()[0].env.contains(&("FROM_FILE".into(), "1".into())));
        b.stop(session).await;
        let (session, _) = b.start(b.spec("off").devcontainer(false), &quiet_agent()).await;
        let session = session.unwrap();
        assert!(!b.engine.creates()[1].env.iter().any(|(k, _)| k == "FROM_FILE"));
        b.stop(session).await;
    }

    #[tokio::test]
    async fn a_required_file_that_is_missing_or_malformed_fails_before_the_engine_is_asked_anything() {
        let b = bench(FakeEngine::new());
        let (r, _) = b.start(b.spec("missing").devcontainer(true), &quiet_agent()).await;
        let e = r.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(e.to_string().contains(".devcontainer/devcontainer.json"), "{e}");
        // Configured (not required): no file is no devcontainer.
        let b2 = bench_with(FakeEngine::new(), |c| c.devcontainer = true);
        let (session, _) = b2.start(b2.spec("optional"), &quiet_agent()).await;
        let session = session.unwrap();
        assert!(session.start_report().unwrap().devcontainer.is_none());
        b2.stop(session).await;

        devcontainer_file(&b, "{\n  \"image\": \"a\"\n  \"containerEnv\": {}\n}");
        let (r, _) = b.start(b.spec("malformed").devcontainer(true), &quiet_agent()).await;
        let e = r.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("line 3, column 3"), "{e}");
        devcontainer_file(&b, r#"{"containerEnv": {"": "empty name"}}"#);
        let (r, _) = b.start(b.spec("badenv").devcontainer(true), &quiet_agent()).await;
        let e = r.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("devcontainer.json"), "{e}");
        assert!(b.engine.calls().iter().all(|c| matches!(c, EngineCall::Host)), "{:?}", b.engine.calls());
        assert!(!b.control_dir("malformed").exists());
    }

    #[tokio::test]
    async fn an_allowed_build_runs_before_the_container_and_its_image_is_used() {
        let b = bench_with(FakeEngine::new(), |c| c.policy.allow_build = true);
        devcontainer_file(
            &b,
            r#"{"build": {"dockerfile": "Dockerfile"}, "runArgs": ["--network=none", "--memory=512m"]}"#,
        );
        std::fs::write(
            b.t.path().join("work/.devcontainer/Dockerfile"),
            format!("FROM {}\nRUN true\n", crate::DEFAULT_IMAGE),
        )
        .unwrap();
        let (session, phases) = b.start(b.spec("build").devcontainer(true), &quiet_agent()).await;
        let session = session.unwrap();
        let r = session.start_report().unwrap();
        let built = r.devcontainer.as_ref().unwrap().built_image.clone().expect("built");
        assert!(built.starts_with(crate::image_build::BUILT_IMAGE_PREFIX), "{built}");
        assert_eq!((r.image.used.as_str(), r.image.reason), (built.as_str(), ImageReason::Built));
        let calls = b.engine.calls();
        let build_at = calls.iter().position(|c| *c == EngineCall::BuildImage(built.clone())).expect("built");
        let create_at = calls.iter().position(|c| matches!(c, EngineCall::Create(_))).unwrap();
        assert!(build_at < create_at);
        let plan = &b.engine.creates()[0];
        assert_eq!(plan.image, built);
        assert_eq!(plan.network, Network::None, "the file may turn the network off");
        assert_eq!(plan.limits.unwrap().memory_bytes, 512 << 20, "and lower the limits");
        assert!(phases.contains(&StartPhase::BuildingImage { image: built.clone() }));
        b.stop(session).await;

        // Not allowed: refused, nothing built, the default image.
        let b = bench(FakeEngine::new());
        devcontainer_file(&b, r#"{"build": {"dockerfile": "Dockerfile"}}"#);
        let (session, _) = b.start(b.spec("nobuild").devcontainer(true), &quiet_agent()).await;
        let session = session.unwrap();
        assert!(!b.engine.calls().iter().any(|c| matches!(c, EngineCall::BuildImage(_))));
        let r = session.start_report().unwrap();
        assert_eq!(r.image.reason, ImageReason::Default);
        assert!(r.warnings.iter().any(|w| w.contains("allowed only with allow_build")), "{:?}", r.warnings);
        b.stop(session).await;
    }
}
