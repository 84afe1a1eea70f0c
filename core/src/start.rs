//! The session start procedure: validate, decide image/limits/ports, create the
//! container (retrying without a conflicting port or without limits), wait for the
//! agent, provision, run post-create commands, and report all of it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sandbox_proto::{ExecRequest, Reply, Request, StdinMode};

use crate::agent_client::{AgentClient, Incoming};
use crate::config::Config;
use crate::control_dir;
use crate::engine::{CreateFailure, Engine};
use crate::error::{Error, Result};
use crate::labels;
use crate::network_isolation;
use crate::policy::Network;
use crate::run_args::{IdMap, RunPlan};
use crate::run_failure::{self, PortDecision, RunFailureKind};
use crate::sandbox::Sandbox;
use crate::session::{CLIENT_NAME, Session, SessionAddress, agent_error};
use crate::spec::SessionSpec;
use crate::start_report::{
    DroppedPort, ImageChoice, ImageReason, LimitsOutcome, PostCreateOutcome, Provisioning, StartReport,
};
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
    podman: PathBuf,
    container: Option<String>,
    control_dir: PathBuf,
    armed: bool,
}

impl StartGuard {
    async fn cleanup(&mut self, engine: &dyn Engine) {
        if let Some(name) = self.container.take() {
            let _ = engine.remove(&name).await;
        }
        let _ = control_dir::remove(&self.control_dir);
        self.armed = false;
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(name) = self.container.take() {
            // Dropped mid-start: no async context to rely on, so remove synchronously.
            let _ = std::process::Command::new(&self.podman)
                .args(["rm", "--force", "--time", "0", &name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
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

pub(crate) async fn start(
    sb: &Sandbox,
    spec: SessionSpec,
    progress: &(dyn Fn(StartPhase) + Send + Sync),
) -> Result<Session> {
    let t0 = Instant::now();
    let config: &Config = &sb.config;
    validate::session_id(&spec.id)?;
    let working_dir = validate::working_dir(&spec.working_dir)?;
    let working_dir_str = working_dir.to_str().expect("validated as UTF-8").to_string();
    if let Some(img) = &spec.image {
        validate::image(img)?;
    }
    validate::env(&spec.env)?;
    for (i, c) in spec.post_create.iter().enumerate() {
        if c.trim().is_empty() || c.contains('\0') {
            return Err(Error::invalid("post-create command", format!("#{i} is empty or contains a NUL byte")));
        }
    }
    let policy = spec.effective_policy(config);
    let idle_timeout = spec.idle_timeout.or(config.idle_timeout);
    if idle_timeout.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(Error::invalid("idle timeout", "must be at least one second"));
    }
    policy.limits.validate()?;
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

    let mut warnings = Vec::new();
    let image = choose_image(config, spec.image.as_deref(), policy.allow_untrusted_image);
    if image.reason == ImageReason::UntrustedReplaced {
        warnings.push(format!(
            "image {} is not trusted and untrusted images are not allowed: using the default {} instead (set allow_untrusted_image to opt in)",
            image.requested.as_deref().unwrap_or_default(),
            image.used
        ));
    }

    let mut limits = Some(policy.limits);
    let mut limits_reason = None;
    let nproc_fallback = (!host.limits_enforceable).then(|| u64::from(policy.limits.pids).max(NPROC_FALLBACK_MIN));
    if !host.limits_enforceable {
        let reason = host.limits_reason.clone().unwrap_or_else(|| "unknown".into());
        if policy.require_resource_limits {
            return Err(Error::LimitsUnavailable { reason });
        }
        warnings.push(format!("starting without memory/cpu/pids limits: {reason}"));
        limits = None;
        limits_reason = Some(reason);
    }

    let mut dropped = Vec::new();
    let mut publish: Vec<u16> = Vec::new();
    match policy.network {
        Network::None => {
            for &p in &spec.ports {
                dropped.push(DroppedPort { port: p, reason: "network is none: nothing is published".into() });
            }
            if !spec.ports.is_empty() {
                warnings.push(format!("network is none: ports {:?} are not published", spec.ports));
            }
        }
        Network::Bridge => {
            for &p in &spec.ports {
                if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
                    publish.push(p);
                } else {
                    dropped.push(DroppedPort { port: p, reason: "already in use on the host".into() });
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
    let isolation = if policy.network == Network::Bridge && policy.isolate_network {
        Some(sb.engine.neighbourhood().await?)
    } else {
        None
    };
    let mut env = spec.env.clone();
    for (k, v) in SESSION_ENV {
        if !env.iter().any(|(have, _)| have == k) {
            env.push((k.to_string(), v.to_string()));
        }
    }

    let base = control_dir::base_dir(config, host.uid);
    let (control, start_lock) = control_dir::lock(&base, &spec.id, host.uid)?;
    // The session's agent.lock is in the part the container writes: a session that
    // swapped it would pass the lock check, and clearing its control dir would cut off
    // its own callers. Its container running is what counts.
    let name = format!("{}{}", config.container_prefix, spec.id);
    if sb.engine.state(&name).await?.is_some_and(|s| s.running) {
        return Err(Error::SessionExists { id: spec.id.clone(), detail: "its container is running".into() });
    }
    control_dir::reset(&control, &start_lock, host.uid, shared_owner)?;
    let mut guard =
        StartGuard { podman: config.podman.clone(), container: None, control_dir: control.clone(), armed: true };
    let result = async {
        let agent = crate::agent_binary::install(&crate::agent_binary::cache_dir(config, host.uid), host.uid)?;
        let mut replaced = false;
        let attempts = spec.ports.len() + 4;
        for attempt in 1..=attempts {
            progress(StartPhase::CreatingContainer { attempt });
            let plan = RunPlan {
                name: name.clone(),
                labels: vec![
                    (labels::MANAGED.into(), "true".into()),
                    (labels::SESSION.into(), spec.id.clone()),
                    (labels::OWNER.into(), host.uid.to_string()),
                    (labels::SCOPE.into(), config.scope.clone()),
                    (labels::WORKDIR.into(), working_dir_str.clone()),
                    (labels::CONTROL.into(), control.display().to_string()),
                    (labels::VERSION.into(), env!("CARGO_PKG_VERSION").into()),
                    (labels::PORTS.into(), publish.iter().map(u16::to_string).collect::<Vec<_>>().join(",")),
                    (labels::AGENT.into(), agent.display().to_string()),
                ],
                image: image.used.clone(),
                working_dir: working_dir_str.clone(),
                control_dir: control.display().to_string(),
                root_maps_to,
                agent_path: agent.display().to_string(),
                ports: publish.clone(),
                network: policy.network,
                limits,
                env: env.clone(),
                idle_timeout_secs: idle_timeout.map(|d| d.as_secs()),
                self_mounts: self_mounts.clone(),
                // tmpfs pages count against the memory limit and cannot be reclaimed:
                // a /tmp larger than half the limit could get the agent OOM-killed.
                tmp_size: config.tmp_size.map(|t| match limits {
                    Some(l) => t.min(l.memory_bytes / 2),
                    None => t,
                }),
                nproc_fallback: if limits.is_some() { None } else { nproc_fallback.or(Some(NPROC_FALLBACK_MIN)) },
            };
            let (code, stderr) = match sb.engine.create(&plan).await {
                Ok(()) => {
                    guard.container = Some(name.clone());
                    break;
                }
                Err(CreateFailure::Failed(e)) => return Err(e),
                Err(CreateFailure::Refused { code, stderr }) => (code, stderr),
            };
            let kind = run_failure::classify(&stderr);
            if kind != RunFailureKind::NameInUse {
                // podman can leave a created-but-never-started container behind.
                let _ = sb.engine.remove(&name).await;
            }
            let engine_error =
                || Error::Engine { action: "starting the session container (podman run)".into(), code, stderr: stderr.clone() };
            if attempt == attempts {
                return Err(engine_error());
            }
            match kind {
                RunFailureKind::NameInUse => {
                    let ours = sb
                        .engine
                        .list(labels::SESSION, &spec.id)
                        .await?
                        .into_iter()
                        .any(|r| r.name == name && r.labels.get(labels::OWNER) == Some(&host.uid.to_string()));
                    let running = sb.engine.state(&name).await?.map(|s| s.running);
                    match (ours, running) {
                        (true, Some(true)) => {
                            return Err(Error::SessionExists { id: spec.id.clone(), detail: "its container is running".into() });
                        }
                        (true, Some(false)) if !replaced => {
                            sb.engine.remove(&name).await?;
                            replaced = true;
                            warnings.push(format!("replaced the stopped container {name} of an earlier session with this id"));
                        }
                        (true, None) if !replaced => replaced = true,
                        _ => {
                            return Err(Error::SessionExists {
                                id: spec.id.clone(),
                                detail: format!(
                                    "a container named {name} exists that sandbox did not create (or could not replace); remove it or use another id"
                                ),
                            });
                        }
                    }
                }
                RunFailureKind::ImageMissing => {
                    return Err(Error::ImageUnavailable {
                        image: image.used.clone(),
                        detail: format!(
                            "it is not in local storage and sessions never pull (podman said: {stderr}); build or pull it first (scripts/setup builds the default image)"
                        ),
                    });
                }
                RunFailureKind::PortConflict if !publish.is_empty() => match run_failure::decide(&stderr, &publish) {
                    PortDecision::Drop(p) => {
                        publish.retain(|x| *x != p);
                        dropped.push(DroppedPort { port: p, reason: format!("podman could not bind it: {stderr}") });
                        warnings.push(format!("host port {p} is already in use: dropped it, kept the other ports"));
                    }
                    PortDecision::DropAll => {
                        for p in publish.drain(..) {
                            dropped.push(DroppedPort { port: p, reason: format!("unidentified port conflict: {stderr}") });
                        }
                        warnings.push(format!("a port conflict named none of the ports: dropped all port publishing ({stderr})"));
                    }
                },
                RunFailureKind::Cgroup if limits.is_some() => {
                    if policy.require_resource_limits {
                        return Err(Error::LimitsUnavailable { reason: stderr.clone() });
                    }
                    warnings.push(format!("this host could not apply the resource limits; starting without them ({stderr})"));
                    limits = None;
                    limits_reason = Some(stderr.clone());
                }
                _ => return Err(engine_error()),
            }
        }

        // Before anything of the session's runs (the agent runs nothing on its own).
        if let Some(n) = &isolation {
            sb.engine.isolate_network(&name, &network_isolation::rules(n, &publish)).await?;
        }
        progress(StartPhase::WaitingForAgent);
        let client = wait_for_agent(sb.engine.as_ref(), &name, &control, &agent, config.ready_timeout).await?;
        let mut report = StartReport {
            session_id: spec.id.clone(),
            container: name.clone(),
            working_dir: working_dir_str.clone(),
            image: image.clone(),
            network: policy.network,
            ports_published: publish.clone(),
            ports_dropped: dropped.clone(),
            limits: LimitsOutcome {
                enforced: limits.is_some(),
                requested: policy.limits,
                reason: limits_reason.clone(),
                nproc_fallback: if limits.is_some() { None } else { nproc_fallback.or(Some(NPROC_FALLBACK_MIN)) },
            },
            protected_paths: protection.protected.clone(),
            network_isolated: isolation.is_some(),
            host_uid: if host.rootless { host.uid } else { root_maps_to.uid },
            provisioning: Provisioning::Disabled,
            post_create: Vec::new(),
            warnings: Vec::new(),
            duration: Duration::ZERO,
        };
        if spec.provision.unwrap_or(config.provision) {
            progress(StartPhase::Provisioning);
            report.provisioning = if policy.network == Network::None {
                Provisioning::Skipped { reason: "network is none: packages cannot be downloaded".into() }
            } else {
                provision(&client, config.provision_timeout).await?
            };
            if let Provisioning::Failed { exit_code, .. } = &report.provisioning {
                warnings.push(format!(
                    "installing dev essentials failed ({}); the session works without them",
                    exit_text(*exit_code, None, false)
                ));
            }
        }
        if !spec.post_create.is_empty() && !policy.allow_post_create {
            warnings.push(format!(
                "skipped {} post-create command(s): they come from the opened project and are not run unless allow_post_create is set",
                spec.post_create.len()
            ));
        }
        for (index, command) in spec.post_create.iter().enumerate() {
            let outcome = if policy.allow_post_create {
                progress(StartPhase::PostCreate { index, command: command.clone() });
                run_post_create(&client, command, config.post_create_timeout).await?
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
                warnings.push(format!(
                    "post-create command {command:?} failed ({}): {}",
                    exit_text(outcome.exit_code, outcome.signal, outcome.timed_out),
                    outcome.output_tail.lines().last().unwrap_or_default()
                ));
            }
            report.post_create.push(outcome);
        }
        for w in &warnings {
            tracing::warn!(session = %spec.id, "{w}");
        }
        report.warnings = warnings;
        report.duration = t0.elapsed();
        Ok((name, client, report, agent))
    }
    .await;
    match result {
        Ok((name, client, report, agent)) => {
            progress(StartPhase::Ready);
            guard.armed = false;
            drop(start_lock);
            let at = SessionAddress {
                id: spec.id.clone(),
                container: name,
                working_dir,
                control_dir: control,
                agent_binary: agent,
            };
            let session = Session::new(at, sb.engine.clone(), Some(client), None);
            Ok(session.with_report(report))
        }
        Err(e) => {
            guard.cleanup(sb.engine.as_ref()).await;
            drop(start_lock);
            Err(e)
        }
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
        PathBuf::from("/run/sandbox"),
        PathBuf::from("/var/cache/sandbox"),
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
        for sub in [".cache/sandbox", ".config/sandbox", ".config/containers", ".local/share/containers"] {
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
async fn wait_for_agent(
    engine: &dyn Engine,
    name: &str,
    control: &std::path::Path,
    agent: &std::path::Path,
    limit: Duration,
) -> Result<AgentClient> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    let mut next_state_check = Duration::from_millis(300);
    loop {
        if control_dir::socket_present(control)
            && let Ok(stream) = control_dir::connect(control, agent).await
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

/// Runs `sh -c script` with stderr merged into stdout, keeping only the tail of the
/// output. Returns the exit and the tail.
async fn run_for_tail(
    client: &AgentClient,
    script: &str,
    timeout: Duration,
) -> Result<(sandbox_proto::ExecExit, String)> {
    let request = Request::Exec(ExecRequest {
        argv: vec!["sh".into(), "-c".into(), format!("exec 2>&1\n{script}")],
        env: Vec::new(),
        cwd: None,
        timeout_ms: Some(timeout.as_millis() as u64),
        kill_grace_ms: None,
        linger_ms: None,
        stdout_cap: u64::MAX,
        stderr_cap: u64::MAX,
        stdin: StdinMode::Null,
        window: None,
    });
    let lost = |why: String| Error::SessionLost { id: String::new(), detail: why, oom_killed: false, exit_code: None };
    let mut call = client.call(&request).await.map_err(|e| lost(format!("{e:?}")))?;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        match call.next().await {
            Incoming::Stdout(b) | Incoming::Stderr(b) => {
                tail.extend_from_slice(&b);
                if tail.len() > 2 * TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
            }
            Incoming::Reply(Reply::Exit(exit)) => {
                if tail.len() > TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
                return Ok((exit, String::from_utf8_lossy(&tail).into_owned()));
            }
            Incoming::Reply(Reply::Error(e)) => return Err(agent_error(e)),
            Incoming::Reply(other) => return Err(Error::Protocol { detail: format!("unexpected reply {other:?}") }),
            Incoming::Lost(why) => return Err(lost(why)),
        }
    }
}

async fn provision(client: &AgentClient, timeout: Duration) -> Result<Provisioning> {
    let (exit, tail) = run_for_tail(client, PROVISION_SCRIPT, timeout).await?;
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

async fn run_post_create(client: &AgentClient, command: &str, timeout: Duration) -> Result<PostCreateOutcome> {
    let (exit, tail) = run_for_tail(client, command, timeout).await?;
    Ok(PostCreateOutcome {
        command: command.to_string(),
        ran: true,
        exit_code: exit.exit_code,
        signal: exit.signal,
        timed_out: exit.timed_out,
        output_tail: tail,
        duration: Duration::from_micros(exit.duration_us),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
