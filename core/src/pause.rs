//! Pausing and resuming a session: its processes stopped (using no CPU) with all their
//! state kept, then continued. The agent does it with SIGSTOP and SIGCONT to every
//! process of the container but itself and init, so it works rootful and rootless, on
//! cgroup v1 and v2 alike, and stays awake while paused: reads of task and terminal
//! output, files, events and stats go on; new execs, tasks and terminals are refused
//! ([`NotRunning`](crate::ErrorKind::NotRunning)) until the resume.

pub use sandbox_proto::PauseReport;

/// A pause taken by [`Session::pause_for_work`]: [`resume`](PausedForWork::resume) ends
/// it; dropped without that, the session is resumed in the background.
pub(crate) struct PausedForWork {
    /// The session to resume; `None` when this pause changed nothing (or is over).
    session: Option<Session>,
}

impl PausedForWork {
    /// Resumes the session if this pause stopped it.
    pub async fn resume(mut self) -> Result<()> {
        match self.session.take() {
            Some(s) => s.resume().await.map(|_| ()),
            None => Ok(()),
        }
    }
}

impl Drop for PausedForWork {
    fn drop(&mut self) {
        if let Some(s) = self.session.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = s.resume().await;
            });
        }
    }
}
use sandbox_proto::{Reply, Request};

use crate::session::unexpected;
use crate::{Result, Session};

impl Session {
    /// Pauses the session: every process in it stops (a command already running stops
    /// where it is; its timeout keeps counting). Pausing a paused session changes
    /// nothing (`changed` is false). The event stream gets a `lifecycle` `paused` event.
    pub async fn pause(&self) -> Result<PauseReport> {
        self.pause_call("pause", Request::Pause).await
    }

    /// Resumes a paused session: its processes continue (also one that was stopped
    /// before the pause, such as a job suspended in a terminal). Resuming a running
    /// session changes nothing. The event stream gets a `lifecycle` `resumed` event.
    pub async fn resume(&self) -> Result<PauseReport> {
        self.pause_call("resume", Request::Resume).await
    }

    /// Pauses the session for a piece of work: the guard resumes it when it goes,
    /// also when the caller's future is dropped half-way (an interrupted snapshot, diff
    /// or merge never leaves the session paused). A session that was paused already
    /// stays paused, unless the future is dropped during the pause call itself.
    pub(crate) async fn pause_for_work(&self) -> Result<(PauseReport, PausedForWork)> {
        // Armed before the call: dropped while the pause is under way, the session is
        // resumed (whether this pause or an earlier one stopped it cannot be told then).
        let mut guard = PausedForWork { session: Some(self.clone()) };
        let report = self.pause().await;
        match report {
            Ok(report) => {
                if !report.changed {
                    guard.session = None;
                }
                Ok((report, guard))
            }
            Err(e) => {
                guard.session = None;
                Err(e)
            }
        }
    }

    async fn pause_call(&self, what: &'static str, req: Request) -> Result<PauseReport> {
        match self.call(what, &req).await? {
            (_, Reply::Pause(r)) => Ok(r),
            (_, other) => Err(unexpected(&other)),
        }
    }
}
