//! Pausing and resuming a session: its processes stopped (using no CPU) with all their
//! state kept, then continued. The agent does it with SIGSTOP and SIGCONT to every
//! process of the container but itself and init, so it works rootful and rootless, on
//! cgroup v1 and v2 alike, and stays awake while paused: reads of task and terminal
//! output, files, events and stats go on; new execs, tasks and terminals are refused
//! ([`NotRunning`](crate::ErrorKind::NotRunning)) until the resume.

pub use sandbox_proto::PauseReport;
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

    async fn pause_call(&self, what: &'static str, req: Request) -> Result<PauseReport> {
        match self.call(what, &req).await? {
            (_, Reply::Pause(r)) => Ok(r),
            (_, other) => Err(unexpected(&other)),
        }
    }
}
