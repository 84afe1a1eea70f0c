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

/// True while a process of group `pgid` has not exited. A member that has exited but
/// is not reaped yet (a zombie: its parent died with the group and init has not got to
/// it) does not count, though the kernel still lets it be signalled.
pub fn group_alive(pgid: i32) -> bool {
    let Some(pid) = Pid::from_raw(pgid) else { return false };
    if test_kill_process_group(pid).is_err() {
        return false;
    }
    // Someone is in the group: see whether anyone but zombies is. Where /proc cannot be
    // read, the group counts as alive (as the signal test says).
    let Ok(entries) = std::fs::read_dir("/proc") else { return true };
    let mut readable = false;
    for e in entries.flatten() {
        if !e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        readable = true;
        if let Some((state, group)) = state_and_group(&stat)
            && group == pgid
            && state != 'Z'
            && state != 'X'
        {
            return true;
        }
    }
    !readable
}

/// The state letter and process group of a `/proc/<pid>/stat` line: `pid (comm) S ppid
/// pgrp ...` (comm may hold spaces and parentheses: the fields start after the last ')').
fn state_and_group(stat: &str) -> Option<(char, i32)> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    Some((state, fields.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn stat_lines_are_parsed_after_the_command_name() {
        assert_eq!(state_and_group("42 (sleep) S 1 42 42 0 -1"), Some(('S', 42)));
        assert_eq!(state_and_group("7 (a) b) (c) Z 1 9 9"), Some(('Z', 9)));
        assert_eq!(state_and_group("7 (x"), None);
        assert_eq!(state_and_group(""), None);
    }

    #[test]
    fn a_group_whose_only_member_is_a_zombie_is_not_alive() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        assert!(group_alive(pgid), "a running member");
        signal_group(pgid, Signal::KILL);
        // Not reaped yet: a zombie, which the kernel still lets be signalled.
        let until = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pgid}/stat")).ok().and_then(|s| state_and_group(&s))
            != Some(('Z', pgid))
        {
            assert!(Instant::now() < until, "the member did not become a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(test_kill_process_group(Pid::from_raw(pgid).unwrap()).is_ok(), "the zombie is still signallable");
        assert!(!group_alive(pgid), "only a zombie is left: the group has exited");
        child.wait().unwrap();
        assert!(!group_alive(pgid));
    }
}
