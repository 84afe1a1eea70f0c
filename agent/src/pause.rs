//! Pausing a session: every process of the container but the agent and init stopped
//! with SIGSTOP until a resume sends SIGCONT. It works wherever the agent runs (also
//! rootless on cgroup v1, where the freezer is out of reach), and the agent stays awake
//! to answer: reads, file calls, events and stats go on; new execs, tasks and
//! terminals are refused until the resume.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sandbox_proto::events::{EventAction, SessionEvent};
use sandbox_proto::{ErrorKind, PauseReport, Reply};

use crate::journal;
use crate::sys::signal_all_others;

/// How the agent pauses: the name in [`PauseReport::method`].
const METHOD: &str = "signals";

/// How long a pause waits for starts already let through.
const START_LIMIT: Duration = Duration::from_secs(2);

/// Rounds of SIGSTOP before giving up on a process that will not show as stopped (one
/// forked between two rounds is caught by the next).
const STOP_ROUNDS: u32 = 200;

/// Whether the session is paused, and how many processes are being started: a pause
/// waits for those to exist before it stops everything, so none slips past it.
#[derive(Default)]
pub struct Pause {
    paused: Mutex<bool>,
    starting: AtomicUsize,
    /// Held through a whole pause or resume: one does not run into the other's rounds.
    op: Mutex<()>,
    /// The processes connected on the agent's bridge socket (the agent's own `bridge`,
    /// run by an engine exec, carrying a connection), by pid, with how many connections
    /// each: a pause leaves them running, or its reply and the calls made while paused
    /// could not get out.
    carriers: Mutex<HashMap<u32, usize>>,
}

/// A process being started; the pause waits until it is dropped (once the process
/// exists, so that the SIGSTOP finds it).
pub struct Starting<'a>(&'a AtomicUsize);

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pause {
    /// Leave to start `what` (a command, a task, a terminal): refused while paused.
    pub fn start(&self, what: &str) -> Result<Starting<'_>, Reply> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        if *paused {
            return Err(Reply::error(
                ErrorKind::NotRunning,
                format!("the session is paused: resume it to start {what}"),
            ));
        }
        self.starting.fetch_add(1, Ordering::AcqRel);
        Ok(Starting(&self.starting))
    }

    /// A process connected on the bridge socket (see `carriers`); continued at once if
    /// a pause stopped it meanwhile.
    pub fn add_carrier(&self, pid: u32) {
        *self.carriers.lock().unwrap_or_else(|e| e.into_inner()).entry(pid).or_default() += 1;
        if *self.paused.lock().unwrap_or_else(|e| e.into_inner()) {
            continue_process(pid);
        }
    }

    /// One connection of a carrier ended (it is one no more with its last).
    pub fn remove_carrier(&self, pid: u32) {
        let mut carriers = self.carriers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = carriers.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                carriers.remove(&pid);
            }
        }
    }

    fn carriers(&self) -> HashSet<u32> {
        self.carriers.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    /// Stops every process but the agent, init and the carriers (read again each round),
    /// once; paused, changes nothing. Blocks for as long as that takes (milliseconds):
    /// call it off the async threads.
    pub fn pause(&self) -> Reply {
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
            if *paused {
                return report(true, false, 0, Duration::ZERO);
            }
            *paused = true;
        }
        let started = Instant::now();
        // Starts already let through finish first (a spawn takes a millisecond or so).
        while self.starting.load(Ordering::Acquire) > 0 && started.elapsed() < START_LIMIT {
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut stopped = 0;
        for _ in 0..STOP_ROUNDS {
            match signal_all_others(libc::SIGSTOP) {
                Ok(false) => break,
                Ok(true) => self.carriers().into_iter().for_each(continue_process),
                Err(e) => {
                    let _ = signal_all_others(libc::SIGCONT);
                    *self.paused.lock().unwrap_or_else(|e| e.into_inner()) = false;
                    return Reply::error(ErrorKind::Io, format!("stopping the session's processes failed: {e}"));
                }
            }
            let (all, running) = others(&self.carriers());
            stopped = all;
            if running == 0 {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let took = started.elapsed();
        journal::record(SessionEvent {
            count: Some(u64::from(stopped)),
            ..SessionEvent::lifecycle(EventAction::Paused, None)
        });
        report(true, true, stopped, took)
    }

    /// Continues what `pause` stopped (not paused: changes nothing). A process that was
    /// stopped before the pause (a job suspended in a terminal) is continued too.
    pub fn resume(&self) -> Reply {
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        if !*paused {
            return report(false, false, 0, Duration::ZERO);
        }
        let started = Instant::now();
        if let Err(e) = signal_all_others(libc::SIGCONT) {
            return Reply::error(ErrorKind::Io, format!("continuing the session's processes failed: {e}"));
        }
        *paused = false;
        let took = started.elapsed();
        let (all, _) = others(&self.carriers());
        journal::record(SessionEvent {
            count: Some(u64::from(all)),
            ..SessionEvent::lifecycle(EventAction::Resumed, None)
        });
        report(false, true, all, took)
    }
}

/// SIGCONT to one process.
fn continue_process(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
    }
}

fn report(paused: bool, changed: bool, processes: u32, took: Duration) -> Reply {
    Reply::Pause(PauseReport {
        paused,
        changed,
        method: METHOD.into(),
        processes,
        took_us: took.as_micros().min(u128::from(u64::MAX)) as u64,
    })
}

/// The container's processes but the agent, init and `spared`: (how many, how many not
/// stopped). Zombies and dead processes count as stopped: they run no more.
fn others(spared: &HashSet<u32>) -> (u32, u32) {
    let me = std::process::id();
    let (mut all, mut running) = (0, 0);
    for pid in crate::procfs::pids() {
        if pid == me || pid == 1 || spared.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        all += 1;
        if !stopped(&stat) {
            running += 1;
        }
    }
    (all, running)
}

/// Whether a `/proc/<pid>/stat` line says the process is stopped (or gone).
fn stopped(stat: &str) -> bool {
    let state = crate::procfs::stat_fields(stat).and_then(|f| f.first().and_then(|s| s.chars().next()));
    matches!(state, Some('T' | 't' | 'Z' | 'X' | 'x') | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_read_after_the_last_parenthesis() {
        assert!(stopped("42 (sleep) T 1 42 42 0 -1"));
        assert!(stopped("42 (a) b) R) t 1"), "a name with ') R)' in it");
        assert!(!stopped("42 (a) T) R 1 42"), "a name with ') T' in it");
        assert!(stopped("42 (x) Z 1"));
        assert!(!stopped("42 (yes) R 1"));
        assert!(!stopped("42 (sh) S 1"));
    }

    #[test]
    fn starts_are_refused_only_while_paused_and_counted_until_dropped() {
        let p = Pause::default();
        let s = p.start("a task").expect("running: let through");
        assert_eq!(p.starting.load(Ordering::Acquire), 1);
        drop(s);
        assert_eq!(p.starting.load(Ordering::Acquire), 0);
        *p.paused.lock().unwrap() = true;
        match p.start("a task").err() {
            Some(Reply::Error(e)) => {
                assert_eq!(e.kind, ErrorKind::NotRunning);
                assert!(e.message.contains("paused"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
