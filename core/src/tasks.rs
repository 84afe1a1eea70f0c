//! Background tasks: spawned and held by the agent, so they outlive the caller, with
//! output spooled to bounded files any process can read back.

use std::time::{Duration, SystemTime};

use sandbox_proto::{ReadOutput, Reply, Request, SpawnTask, layout};
use serde::Serialize;

pub use sandbox_proto::TaskStream;

use crate::error::{Error, Result};
use crate::output_chunk::OutputChunk;
use crate::process::{ProcessState, time_of};
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
    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    /// Sets the bytes kept per output stream.
    pub fn spool_cap(mut self, bytes: u64) -> Self {
        self.spool_cap = Some(bytes);
        self
    }
}

/// A background task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskInfo {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Running, exited with a code, or killed by a signal.
    #[serde(flatten)]
    pub state: ProcessState,
    /// Its pid (and process group) inside the container.
    pub pid: u32,
    /// When it started.
    pub started: SystemTime,
    /// When it ended.
    pub ended: Option<SystemTime>,
    /// Bytes kept per output stream.
    pub spool_cap: u64,
}

impl From<sandbox_proto::TaskInfo> for TaskInfo {
    fn from(t: sandbox_proto::TaskInfo) -> Self {
        TaskInfo {
            id: t.id,
            command: t.command,
            state: t.state.into(),
            pid: t.pid,
            started: time_of(t.started_ms),
            ended: t.ended_ms.map(time_of),
            spool_cap: t.spool_cap,
        }
    }
}

impl Session {
    /// Starts a background task. It runs in its own process group, owned by the agent:
    /// it keeps running when the caller goes away, and any process that attaches to the
    /// session finds it with all its output.
    pub async fn spawn_task(&self, spec: TaskSpec) -> Result<TaskInfo> {
        let req = Request::SpawnTask(SpawnTask {
            argv: spec.argv,
            command: spec.command,
            env: spec.env,
            cwd: spec.cwd,
            spool_cap: spec.spool_cap,
        });
        match self.call("task", &req).await? {
            (_, Reply::Task(t)) => Ok(t.into()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// All tasks of the session, oldest first (read from the spool when the agent is gone).
    pub async fn list_tasks(&self) -> Result<Vec<TaskInfo>> {
        match self.call("task", &Request::ListTasks).await {
            Ok((_, Reply::Tasks { tasks })) => Ok(tasks.into_iter().map(Into::into).collect()),
            Ok((_, other)) => Err(unexpected(&other)),
            Err(e) => self.offline(e, crate::spool_reader::list_tasks).map(|v| v.into_iter().map(Into::into).collect()),
        }
    }

    /// One task.
    pub async fn task(&self, id: &str) -> Result<TaskInfo> {
        match self.call("task", &Request::TaskInfo { id: id.into() }).await {
            Ok((_, Reply::Task(t))) => Ok(t.into()),
            Ok((_, other)) => Err(unexpected(&other)),
            Err(e) => self.offline(e, |dir| crate::spool_reader::task(dir, id)).map(Into::into),
        }
    }

    /// Reads a task's output from `offset`, at most `max` bytes, without waiting.
    pub async fn task_output(&self, id: &str, stream: TaskStream, offset: u64, max: usize) -> Result<OutputChunk> {
        self.read_task(id, stream, offset, None, max, None).await
    }

    /// Like [`task_output`](Self::task_output), but when nothing new is there yet waits
    /// up to `wait` for output (a [`Timeout`](Error::Timeout) error if none comes and the
    /// task has not ended). A zero `wait` does not wait: it returns what is there, like
    /// `task_output`. For following a task's output.
    pub async fn task_output_wait(
        &self,
        id: &str,
        stream: TaskStream,
        offset: u64,
        max: usize,
        wait: Duration,
    ) -> Result<OutputChunk> {
        self.read_task(id, stream, offset, None, max, Some(wait)).await
    }

    /// The last `bytes` bytes of a task's output.
    pub async fn task_tail(&self, id: &str, stream: TaskStream, bytes: usize) -> Result<OutputChunk> {
        self.read_task(id, stream, 0, Some(bytes as u64), bytes.max(1), None).await
    }

    async fn read_task(
        &self,
        id: &str,
        stream: TaskStream,
        offset: u64,
        tail: Option<u64>,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<OutputChunk> {
        let max = max as u64;
        let source = sandbox_proto::OutputSource::Task { id: id.into(), stream };
        let req = ReadOutput { source, offset, tail, max, wait_ms: wait.map(|w| w.as_millis() as u64) };
        match self.read_output(&req, wait).await {
            Err(e) if matches!(e.kind(), crate::ErrorKind::SessionLost | crate::ErrorKind::SessionNotFound) => self
                .offline(e, |dir| {
                    crate::spool_reader::read(dir, layout::TASKS, id, stream_dir(stream), offset, tail, max)
                }),
            other => other,
        }
    }

    /// Waits for a task to end; `None` waits as long as it takes. A
    /// [`Timeout`](Error::Timeout) error when it is still running after `timeout` (a zero
    /// `timeout` checks once).
    pub async fn wait_task(&self, id: &str, timeout: Option<Duration>) -> Result<TaskInfo> {
        let req = Request::WaitTask { id: id.into(), timeout_ms: timeout.map(|t| t.as_millis() as u64) };
        match self.call("task", &req).await {
            Ok((_, Reply::Task(t))) => Ok(t.into()),
            Ok((_, other)) => Err(unexpected(&other)),
            Err(Error::Timeout { action, .. }) => Err(Error::Timeout { action, after: timeout.unwrap_or_default() }),
            Err(e) => Err(e),
        }
    }

    /// Sends `signal` (1..=31) to the task's whole process group.
    pub async fn kill_task(&self, id: &str, signal: i32) -> Result<()> {
        self.call("task", &Request::KillTask { id: id.into(), signal }).await.map(|_| ())
    }
}

pub(crate) fn stream_dir(stream: TaskStream) -> &'static str {
    match stream {
        TaskStream::Merged => layout::TASK_MERGED,
        TaskStream::Stdout => layout::TASK_STDOUT,
        TaskStream::Stderr => layout::TASK_STDERR,
    }
}
