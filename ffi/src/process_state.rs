//! `sbx_process_state`: whether a task's or terminal's program runs, exited or was
//! killed, as the info getters report it.

use std::time::SystemTime;

use sandbox_core::ProcessState;

/// The state of a task's or terminal's program.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sbx_process_state {
    /// Returned for a NULL info handle; never the state of a real process.
    Unknown = 0,
    /// Still running.
    Running = 1,
    /// Exited; the exit code getter says with what.
    Exited = 2,
    /// Killed by a signal; the signal getter says which.
    Killed = 3,
}

impl From<ProcessState> for sbx_process_state {
    fn from(s: ProcessState) -> Self {
        match s {
            ProcessState::Running => sbx_process_state::Running,
            ProcessState::Exited { .. } => sbx_process_state::Exited,
            ProcessState::Killed { .. } => sbx_process_state::Killed,
        }
    }
}

/// The exit code of an exited process, else -1.
pub(crate) fn exit_code(s: ProcessState) -> i32 {
    match s {
        ProcessState::Exited { code } => code,
        _ => -1,
    }
}

/// The signal that killed a process, else 0.
pub(crate) fn signal(s: ProcessState) -> i32 {
    match s {
        ProcessState::Killed { signal } => signal,
        _ => 0,
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_millis().min(i64::MAX as u128) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn states_and_times() {
        assert_eq!(sbx_process_state::from(ProcessState::Running), sbx_process_state::Running);
        assert_eq!(exit_code(ProcessState::Exited { code: 3 }), 3);
        assert_eq!(exit_code(ProcessState::Killed { signal: 9 }), -1);
        assert_eq!(signal(ProcessState::Killed { signal: 9 }), 9);
        assert_eq!(signal(ProcessState::Running), 0);
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH + Duration::from_millis(1500)), 1500);
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH - Duration::from_millis(20)), -20);
    }
}
