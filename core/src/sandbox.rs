//! [`Sandbox`]: the entry point. Holds the configuration and the engine; starts, finds,
//! lists, stops and reaps sessions.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::control_dir;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::host_info::HostInfo;
use crate::labels;
use crate::podman::PodmanEngine;
use crate::session::{Session, SessionAddress};
use crate::session_info::SessionInfo;
use crate::validate;

/// Entry point of the library. Cheap to clone. All state that matters lives in the
/// engine and the session agents, so any number of `Sandbox` values, in any number of
/// processes, see the same sessions.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) config: Arc<Config>,
    pub(crate) engine: Arc<dyn Engine>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("config", &self.config).finish()
    }
}

impl Sandbox {
    /// A sandbox using podman with `config`.
    pub fn new(config: Config) -> Sandbox {
        let engine = Arc::new(PodmanEngine::new(config.podman.clone()));
        Sandbox { config: Arc::new(config), engine }
    }

    /// A sandbox configured from the config file and `SANDBOX_*` variables.
    pub fn from_env() -> Result<Sandbox> {
        Ok(Sandbox::new(Config::load()?))
    }

    /// A sandbox over another engine implementation.
    pub fn with_engine(config: Config, engine: Arc<dyn Engine>) -> Sandbox {
        Sandbox { config: Arc::new(config), engine }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Probes the host (once; later calls return the cached facts).
    pub async fn info(&self) -> Result<HostInfo> {
        self.engine.host().await
    }

    /// Whether `image` is present in local storage (sessions never pull).
    pub async fn image_available(&self, image: &str) -> Result<bool> {
        validate::image(image)?;
        self.engine.image_exists(image).await
    }

    /// Sessions of this user and scope, running or not.
    pub async fn list(&self) -> Result<Vec<SessionInfo>> {
        let uid = self.engine.host().await?.uid.to_string();
        let records = self.engine.list(labels::MANAGED, "true").await?;
        let mut out: Vec<SessionInfo> = records
            .iter()
            .filter(|r| r.labels.get(labels::OWNER) == Some(&uid))
            .filter(|r| r.labels.get(labels::SCOPE) == Some(&self.config.scope))
            .filter_map(SessionInfo::from_record)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn find(&self, id: &str) -> Result<SessionInfo> {
        validate::session_id(id)?;
        self.list()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::SessionNotFound { id: id.to_string(), detail: String::new() })
    }

    /// Reconnects to a session from any process. A session whose container is no longer
    /// running is returned too, so its task and terminal output stays readable; calls
    /// that need its agent fail with [`ErrorKind::SessionLost`](crate::ErrorKind).
    pub async fn attach(&self, id: &str) -> Result<Session> {
        let info = self.find(id).await?;
        let session = Session::new(
            SessionAddress {
                id: info.id.clone(),
                container: info.container.clone(),
                working_dir: info.working_dir.clone(),
                control_dir: info.control_dir.clone(),
                agent_binary: info.agent_binary.clone(),
                transport: self.config.transport,
            },
            self.engine.clone(),
            None,
            None,
        );
        if !info.is_running() {
            // Its agent is gone, but what it spooled is still in the control dir: task
            // and terminal lists, infos and output read from there; every other call
            // says the session is lost, and why.
            return Ok(session);
        }
        session.client().await?;
        Ok(session)
    }

    /// Stops (removes) the session `id`, wherever it was started from.
    pub async fn stop(&self, id: &str) -> Result<()> {
        let info = self.find(id).await?;
        self.remove(&info).await
    }

    async fn remove(&self, info: &SessionInfo) -> Result<()> {
        if self.owns_control_dir(&info.control_dir).await {
            control_dir::mark_stopping(&info.control_dir);
        }
        self.engine.remove(&info.container).await?;
        if self.owns_control_dir(&info.control_dir).await {
            control_dir::remove(&info.control_dir)?;
        }
        Ok(())
    }

    /// Control dirs are only removed where this library would have created them.
    async fn owns_control_dir(&self, dir: &Path) -> bool {
        let Ok(host) = self.engine.host().await else {
            return false;
        };
        let base = control_dir::base_dir(&self.config, host.uid);
        dir.parent() == Some(base.as_path()) && dir.file_name().is_some()
    }

    /// Removes this user's session containers whose id is not in `known` (e.g. left by a
    /// crashed process). Containers without sandbox's labels are never touched. Returns
    /// the ids removed.
    pub async fn reap_orphans<S: AsRef<str>>(&self, known: &[S]) -> Result<Vec<String>> {
        let mut reaped = Vec::new();
        for info in self.list().await? {
            if known.iter().any(|k| k.as_ref() == info.id) {
                continue;
            }
            tracing::info!(session = %info.id, container = %info.container, "reaping orphaned session container");
            self.remove(&info).await?;
            reaped.push(info.id);
        }
        Ok(reaped)
    }

    /// Removes the sessions of this scope that can no longer serve commands (their
    /// container is not running) and returns them, as `sandbox reap` does in every face.
    /// A session removed by someone else meanwhile is skipped.
    pub async fn reap(&self) -> Result<Vec<SessionInfo>> {
        let mut removed = Vec::new();
        for info in self.list().await?.into_iter().filter(|s| !s.is_running()) {
            match self.remove(&info).await {
                Ok(()) => removed.push(info),
                Err(e) if e.kind() == crate::ErrorKind::SessionNotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}
