//! Background tasks: spawned and held by the agent, so they outlive the caller, with
//! output spooled to bounded files any process can read back. [`Task`] is the handle on
//! one; what it shares with terminals is in `process.rs`.

use std::time::Duration;

use sandbox_proto::{OutputSource, Reply, Request, SpawnTask};
use serde::Serialize;

pub use sandbox_proto::TaskStream;

use crate::error::Result;
use crate::output_chunk::OutputChunk;
use crate::process::{Follow, Held, ProcessInfo, ProcessKind, ReadUntil};
use crate::session::{Session, unexpected};

pub use sandbox_proto::limits::DEFAULT_TASK_SPOOL_CAP;

/// What to run as a background task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// How the command is shown in listings (the shell line for [`TaskSpec::shell`]).
    pub command: Option<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub cwd: Option<String>,
    /// Bytes kept per output stream (default [`DEFAULT_TASK_SPOOL_CAP`]).
    pub spool_cap: Option<u64>,
}

impl TaskSpec {
    /// A task running `argv` directly.
    pub fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        TaskSpec { argv: argv.into_iter().map(Into::into).collect(), ..Default::default() }
    }
    /// A task running a shell command line (`sh -c`).
    pub fn shell(command: impl Into<String>) -> Self {
        let command = command.into();
        TaskSpec { argv: vec!["sh".into(), "-c".into(), command.clone()], command: Some(command), ..Default::default() }
    }
    /// Sets the bytes kept per output stream.
    pub fn spool_cap(mut self, bytes: u64) -> Self {
        self.spool_cap = Some(bytes);
        self
    }
}

crate::env_builders::env_builders!(TaskSpec);

/// A background task, as it was when asked: what every held process reports
/// ([`ProcessInfo`], which it dereferences to: `info.id`, `info.state`...) and its spool
/// cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskInfo {
    /// Id, command, state, pid and times.
    #[serde(flatten)]
    pub process: ProcessInfo,
    /// Bytes kept per output stream.
    pub spool_cap: u64,
}

crate::process::derefs_to_process_info!(TaskInfo);

impl From<sandbox_proto::TaskInfo> for TaskInfo {
    fn from(t: sandbox_proto::TaskInfo) -> Self {
        TaskInfo {
            process: ProcessInfo::from_wire(t.id, t.command, t.state, t.pid, t.started_ms, t.ended_ms),
            spool_cap: t.spool_cap,
        }
    }
}

/// The task kind of [`Held`] process.
#[derive(Debug)]
pub enum TaskKind {}

crate::process::process_kind!(
    TaskKind: TaskInfo = "task",
    WaitTask,
    KillTask,
    Task,
    ListTasks => Tasks { tasks },
    crate::spool_reader::list_tasks
);

impl TaskKind {
    async fn fetch_info(session: &Session, id: &str) -> Result<TaskInfo> {
        match session.call("task", &Request::TaskInfo { id: id.into() }).await {
            Ok((_, reply)) => TaskKind::info_of(reply).map_err(|other| unexpected(&other)),
            Err(e) => session.offline(e, |dir| crate::spool_reader::task(dir, id)).map(Into::into),
        }
    }
}

/// A handle on a background task: [`info`](Held::info), [`wait`](Held::wait),
/// [`kill`](Held::kill), and its output by stream: [`read`](Task::read),
/// [`tail`](Task::tail), [`follow`](Task::follow), [`read_until`](Task::read_until).
pub type Task = Held<TaskKind>;

impl Session {
    /// Starts a background task. It runs in its own process group, owned by the agent:
    /// it keeps running when the caller goes away, and any process that attaches to the
    /// session finds it with all its output.
    pub async fn spawn_task(&self, spec: TaskSpec) -> Result<Task> {
        let req = Request::SpawnTask(SpawnTask {
            argv: spec.argv,
            command: spec.command,
            env: spec.env,
            cwd: spec.cwd,
            spool_cap: spec.spool_cap,
        });
        match self.call("task", &req).await? {
            (_, Reply::Task(t)) => Ok(Task::with_info(self.clone(), t.into())),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// A handle on the existing task `id` (spawned by any process); a
    /// [`NotFound`](crate::Error::NotFound) error when there is none. Works on a lost
    /// session too (from what its agent left in the control dir).
    pub async fn attach_task(&self, id: &str) -> Result<Task> {
        crate::process::attach(self, id).await
    }

    /// A handle on the task `id`, made without a round trip: whether there is such a
    /// task shows at its first call ([`attach_task`](Self::attach_task) checks first).
    pub fn task(&self, id: &str) -> Task {
        Task::with_id(self.clone(), id)
    }

    /// All tasks of the session, oldest first (read from the spool when the agent is gone).
    pub async fn list_tasks(&self) -> Result<Vec<TaskInfo>> {
        crate::process::list::<TaskKind>(self).await
    }
}

impl Task {
    fn source(&self, stream: TaskStream) -> OutputSource {
        OutputSource::Task { id: self.id().into(), stream }
    }

    /// Reads `stream` from `offset`, at most `max` bytes. `wait`: `Some(0)` returns at
    /// once with what is there (maybe nothing); `Some(d)` waits up to `d` for output when
    /// there is nothing new yet and the task runs (a [`Timeout`](crate::Error::Timeout)
    /// error if none comes); `None` waits as long as it takes. A finished task never
    /// makes it wait.
    pub async fn read(
        &self,
        stream: TaskStream,
        offset: u64,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<OutputChunk> {
        self.read_source(self.source(stream), offset, max, wait).await
    }

    /// The last `bytes` bytes of `stream`, without waiting.
    pub async fn tail(&self, stream: TaskStream, bytes: usize) -> Result<OutputChunk> {
        crate::process::read(
            self.session(),
            self.source(stream),
            0,
            Some(bytes as u64),
            bytes.max(1),
            Some(Duration::ZERO),
        )
        .await
    }

    /// `stream` from `offset` as it comes, until the task ended and all of it was read.
    pub fn follow(&self, stream: TaskStream, offset: u64) -> Follow {
        self.follow_source(self.source(stream), offset)
    }

    /// Reads `stream` from `offset` until `needle` appears, the task ends, `max` bytes
    /// were read, or `timeout` passes (`None`: no time limit); [`ReadUntil::found`] says
    /// which.
    pub async fn read_until(
        &self,
        stream: TaskStream,
        offset: u64,
        needle: &[u8],
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadUntil> {
        self.read_source_until(self.source(stream), offset, needle, max, timeout).await
    }
}
