//! Everything the agent holds across connections: tasks and terminals survive the
//! callers that created them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::groups::Groups;
use crate::tasks::Tasks;
use crate::terminals::Terminals;

/// Shared agent state.
pub struct AgentState {
    /// Process groups started and not yet seen gone.
    pub groups: Arc<Groups>,
    /// Background tasks.
    pub tasks: Tasks,
    /// PTY terminals.
    pub terminals: Terminals,
    /// The control dir (parent of the socket), where spools live.
    pub control_dir: PathBuf,
    /// The file watcher, when it could start.
    pub watcher: Option<Arc<crate::watcher::Watcher>>,
    /// Whether the session is paused.
    pub pause: crate::pause::Pause,
    /// Keyed calls, run at most once each.
    pub onces: crate::once::Onces,
    started: Instant,
    last_call_ms: AtomicU64,
}

impl AgentState {
    /// State for an agent whose socket is in `control_dir`.
    pub fn new(control_dir: PathBuf) -> AgentState {
        AgentState {
            groups: Arc::default(),
            tasks: Tasks::default(),
            terminals: Terminals::default(),
            control_dir,
            watcher: None,
            pause: crate::pause::Pause::default(),
            onces: crate::once::Onces::default(),
            started: Instant::now(),
            last_call_ms: AtomicU64::new(0),
        }
    }

    /// Records a call (for the idle timeout).
    pub fn touch(&self) {
        self.last_call_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Time since the last call.
    pub fn idle_for(&self) -> std::time::Duration {
        let now = self.started.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last_call_ms.load(Ordering::Relaxed)))
    }
}
