//! One row of [`Sandbox::list`](crate::Sandbox::list), read from container labels.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::engine::ContainerRecord;
use crate::labels;

/// A session as the engine knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Container name.
    pub container: String,
    /// Mounted working dir.
    pub working_dir: PathBuf,
    /// Image.
    pub image: String,
    /// Engine state (`running`, `exited`...).
    pub state: String,
    /// When the container was created.
    pub created: SystemTime,
    /// Ports published on 127.0.0.1.
    pub ports: Vec<u16>,
    /// The snapshot it started from.
    pub snapshot: Option<String>,
    /// The session's control dir on the host.
    #[serde(skip)]
    pub control_dir: PathBuf,
    /// The agent binary mounted into the container (host path).
    #[serde(skip)]
    pub agent_binary: PathBuf,
}

impl SessionInfo {
    /// Reads a record created by sandbox; `None` for containers without our labels.
    pub fn from_record(r: &ContainerRecord) -> Option<SessionInfo> {
        if r.labels.get(labels::MANAGED).map(String::as_str) != Some("true") {
            return None;
        }
        let id = r.labels.get(labels::SESSION)?.clone();
        Some(SessionInfo {
            id,
            container: r.name.clone(),
            working_dir: r.labels.get(labels::WORKDIR).map(PathBuf::from).unwrap_or_default(),
            image: r.image.clone(),
            state: r.state.clone(),
            created: SystemTime::UNIX_EPOCH + Duration::from_secs(r.created.max(0) as u64),
            ports: r
                .labels
                .get(labels::PORTS)
                .map(|p| p.split(',').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_default(),
            snapshot: r.labels.get(labels::FROM_SNAPSHOT).filter(|s| !s.is_empty()).cloned(),
            control_dir: r.labels.get(labels::CONTROL).map(PathBuf::from).unwrap_or_default(),
            agent_binary: r.labels.get(labels::AGENT).map(PathBuf::from).unwrap_or_default(),
        })
    }

    /// Whether the container is running.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// For a session on the egress network, whether its enforcer runs (while it does
    /// not, every connection through the proxy is refused: the network fails closed);
    /// `None` for other sessions.
    pub fn egress_enforcer_running(&self) -> Option<bool> {
        let on_egress = self.control_dir.join(sandbox_proto::layout::EGRESS_POLICY).is_file();
        on_egress.then(|| crate::egress::enforcer_running(&self.control_dir))
    }
}
