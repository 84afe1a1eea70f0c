//! `task_spawn`, `task_logs`, `task_wait`, `task_kill`: background tasks, held by the
//! session (they outlive the call and the server), with their output kept to read by
//! offset.

use std::time::Duration;

use sandbox_core::{Error, Task, TaskSpec, TaskStream};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{
    self, DEFAULT_READ, Env, MAX_READ, SessionArgs, Signal, ToolDef, byte_limit, chunk_record, env_pairs, read_waiting,
    schema, seconds,
};
use crate::processes::task_row;

/// `task_spawn`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnArgs {
    /// Session id.
    pub session: String,
    /// The command and its arguments, run without a shell (use ["sh", "-c", "..."] for one).
    pub argv: Vec<String>,
    /// Working directory inside the container (default: the session's working dir).
    pub cwd: Option<String>,
    /// Environment variables for the task.
    pub env: Env,
    /// Bytes of each output stream kept (older output is dropped; default 8 MiB).
    pub spool_cap: Option<u64>,
}

/// Which output of a task.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// stdout and stderr in the order written.
    #[default]
    Merged,
    /// stdout only.
    Stdout,
    /// stderr only.
    Stderr,
}

/// `task_logs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// Session id.
    pub session: String,
    /// Task id.
    pub task: String,
    /// Which output (default merged).
    pub stream: Option<Stream>,
    /// Read from this byte offset (default 0: all that is kept). To follow a task, pass
    /// the previous result's next_offset until eof is true.
    pub offset: Option<u64>,
    /// Instead of an offset: only the last this many bytes.
    pub tail: Option<u64>,
    /// When there is no output past the offset yet, wait up to this many seconds for
    /// some (or for the task to end). Default: return at once.
    pub wait_secs: Option<f64>,
    /// Most bytes returned (default 262144, at most 16777216).
    pub max_bytes: Option<u64>,
}

/// `task_wait`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// Session id.
    pub session: String,
    /// Task id.
    pub task: String,
    /// Give up after this many seconds with a timeout error; the task keeps running
    /// (default: as long as it takes; 0 checks once).
    pub timeout_secs: Option<f64>,
}

/// `task_kill`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillArgs {
    /// Session id.
    pub session: String,
    /// Task id.
    pub task: String,
    /// Signal sent to the task's process group, by name or number (default TERM).
    pub signal: Option<Signal>,
}

/// The task tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "task_spawn",
        description: "Start a background task in a session (a build, a server, a long test run). Returns its \
                      id at once; read its output with task_logs, wait for it with task_wait.",
        schema: schema::<SpawnArgs>,
        read_only: false,
    },
    ToolDef {
        name: "task_list",
        description: "The tasks of a session (running and ended): id, command, state, exit_code, signal, pid.",
        schema: schema::<SessionArgs>,
        read_only: true,
    },
    ToolDef {
        name: "task_logs",
        description: "A task's output from an offset (or its last bytes with tail), optionally waiting for new \
                      output. Returns output (text, or output_base64), offset, next_offset (read on from there), \
                      end, dropped (bytes no longer kept), finished (the task ended) and eof (ended and all \
                      read).",
        schema: schema::<LogsArgs>,
        read_only: true,
    },
    ToolDef {
        name: "task_wait",
        description: "Wait for a task to end; returns its state, exit_code or signal.",
        schema: schema::<WaitArgs>,
        read_only: true,
    },
    ToolDef {
        name: "task_kill",
        description: "Send a signal (TERM by default) to a task's whole process group.",
        schema: schema::<KillArgs>,
        read_only: false,
    },
];

/// A handle on task `id` of `session` (no round trip: a wrong id is not found at its
/// first use).
pub(super) async fn task(state: &State, session: &str, id: &str) -> Result<Task, Error> {
    sandbox_core::validate::task_id(id)?;
    Ok(state.session(session).await?.task(id))
}

/// `task_spawn`.
pub async fn spawn(state: &State, a: SpawnArgs) -> Result<Value, Error> {
    let mut spec = TaskSpec::argv(a.argv);
    spec.cwd = a.cwd;
    spec.env = env_pairs(a.env);
    spec.spool_cap = a.spool_cap;
    let task = state.session(&a.session).await?.spawn_task(spec).await?;
    Ok(json!({"task": task.id(), "info": task.initial_info().map(task_row)}))
}

/// `task_list`.
pub async fn list(state: &State, a: SessionArgs) -> Result<Value, Error> {
    let tasks = state.session(&a.session).await?.list_tasks().await?;
    Ok(json!({"tasks": tasks.iter().map(task_row).collect::<Vec<_>>()}))
}

/// `task_logs`.
pub async fn logs(state: &State, a: LogsArgs) -> Result<Value, Error> {
    let max = byte_limit("max_bytes", a.max_bytes, DEFAULT_READ, MAX_READ)? as usize;
    let wait = seconds("wait_secs", a.wait_secs)?.unwrap_or(Duration::ZERO);
    let stream = match a.stream.unwrap_or_default() {
        Stream::Merged => TaskStream::Merged,
        Stream::Stdout => TaskStream::Stdout,
        Stream::Stderr => TaskStream::Stderr,
    };
    let task = task(state, &a.session, &a.task).await?;
    let chunk = match (a.offset, a.tail) {
        (Some(_), Some(_)) => return Err(Error::invalid("task_logs", "give offset or tail, not both")),
        (None, Some(n)) => task.tail(stream, usize::try_from(n.min(MAX_READ)).unwrap_or(usize::MAX)).await?,
        (offset, None) => {
            let offset = offset.unwrap_or(0);
            read_waiting(wait, |w| task.read(stream, offset, max, w)).await?
        }
    };
    Ok(Value::Object(chunk_record(&chunk)))
}

/// `task_wait`.
pub async fn wait(state: &State, a: WaitArgs) -> Result<Value, Error> {
    let timeout = seconds("timeout_secs", a.timeout_secs)?;
    let info = task(state, &a.session, &a.task).await?.wait(timeout).await?;
    Ok(task_row(&info))
}

/// `task_kill`.
pub async fn kill(state: &State, a: KillArgs) -> Result<Value, Error> {
    tool::kill(task(state, &a.session, &a.task).await?, a.signal, 15).await
}
