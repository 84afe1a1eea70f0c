//! What tasks and terminals share: the state of a process the agent holds beyond the
//! call that started it.

use std::time::{Duration, SystemTime};

use sandbox_proto::ProcState;
use serde::Serialize;

/// How a task (or terminal program) is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProcessState {
    /// Still running.
    Running,
    /// Exited with a status.
    Exited {
        /// Exit status.
        code: i32,
    },
    /// Killed by a signal.
    Killed {
        /// Signal number.
        signal: i32,
    },
}

impl From<ProcState> for ProcessState {
    fn from(s: ProcState) -> Self {
        match s {
            ProcState::Running => ProcessState::Running,
            ProcState::Exited { code } => ProcessState::Exited { code },
            ProcState::Killed { signal } => ProcessState::Killed { signal },
        }
    }
}

impl ProcessState {
    /// Still running.
    pub fn is_running(&self) -> bool {
        matches!(self, ProcessState::Running)
    }
}

pub(crate) fn time_of(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}
