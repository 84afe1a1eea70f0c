//! The process groups the agent started and has not yet seen die, so shutdown can kill
//! them all and a kill can tell when a group is empty.

use std::collections::HashSet;
use std::sync::Mutex;

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// Live process groups, keyed by their leader's pid.
#[derive(Default)]
pub struct Groups {
    live: Mutex<HashSet<i32>>,
}

impl Groups {
    /// Starts tracking a group.
    pub fn insert(&self, pgid: i32) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(pgid);
    }

    /// Stops tracking a group.
    pub fn remove(&self, pgid: i32) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&pgid);
    }

    /// Whether a group is tracked (for tests of the code that tracks them).
    #[cfg(test)]
    pub fn tracks(&self, pgid: i32) -> bool {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).contains(&pgid)
    }

    /// Sends SIGKILL to every tracked group (agent shutdown).
    pub fn kill_all(&self) {
        let live: Vec<i32> = self.live.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect();
        for pgid in live {
            signal_group(pgid, Signal::KILL);
        }
    }
}

/// Sends `sig` to every process in group `pgid`; a group that is already gone is fine.
pub fn signal_group(pgid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = kill_process_group(pid, sig);
    }
}

/// True while at least one process (zombies included) is in group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    match Pid::from_raw(pgid) {
        Some(pid) => test_kill_process_group(pid).is_ok(),
        None => false,
    }
}
