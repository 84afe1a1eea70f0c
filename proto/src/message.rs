//! JSON control messages carried in `Request`, `Reply` and `Event` frames.

use serde::{Deserialize, Serialize};

use crate::events::{EventBatch, ReadEvents, ResourceSample};

/// A call from the client. The first request on a connection must be `Hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Handshake: the client's protocol version and a human-readable name.
    Hello {
        /// The client's [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// e.g. `sandbox-core 0.1.0`, quoted in mismatch errors.
        client: String,
    },
    /// Liveness check answered without spawning anything.
    Ping,
    /// Run a command to completion, streaming its output back.
    Exec(ExecRequest),
    /// Start a background task; replies `Task`.
    SpawnTask(SpawnTask),
    /// All tasks; replies `Tasks`.
    ListTasks,
    /// One task; replies `Task`.
    TaskInfo {
        /// Task id.
        id: String,
    },
    /// Wait for a task to end; replies `Task`, or a `timeout` error.
    WaitTask {
        /// Task id.
        id: String,
        /// Give up after this long; forever when absent.
        timeout_ms: Option<u64>,
    },
    /// Signal a task's process group; replies `Done`.
    KillTask {
        /// Task id.
        id: String,
        /// Signal number.
        signal: i32,
    },
    /// Read spooled output of a task or terminal: data in `Stdout` frames, then `Output`.
    ReadOutput(ReadOutput),
    /// Open a PTY terminal; replies `Terminal`.
    OpenTerminal(OpenTerminal),
    /// Write the bytes of the next `Stdin` frame to a terminal; replies `Done`. The frame
    /// must follow within [`crate::limits::TERMINAL_INPUT_WAIT_MS`], or the write ends
    /// [cancelled](Reply::cancelled) without effect.
    WriteTerminal {
        /// Terminal id.
        id: String,
    },
    /// Change a terminal's size (the program gets SIGWINCH); replies `Terminal`.
    ResizeTerminal {
        /// Terminal id.
        id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Signal a terminal's session; replies `Done`.
    KillTerminal {
        /// Terminal id.
        id: String,
        /// Signal number.
        signal: i32,
    },
    /// Wait for a terminal's program to end; replies `Terminal`, or a `timeout` error.
    WaitTerminal {
        /// Terminal id.
        id: String,
        /// Give up after this long; forever when absent.
        timeout_ms: Option<u64>,
    },
    /// All terminals; replies `Terminals`.
    ListTerminals,
    /// Stream a file's bytes in `Stdout` frames (flow-controlled), then `Done`.
    ReadFile {
        /// Path inside the container.
        path: String,
        /// Initial credit (see [`ExecRequest::window`]).
        window: Option<u64>,
        /// Start this many bytes into the file (a read that resumes after its
        /// connection dropped); from the start when absent.
        #[serde(default)]
        offset: Option<u64>,
        /// With `offset`: the [`Event::FileStamp`] the first read got. The read is
        /// refused when the file is another one now, or was changed.
        #[serde(default)]
        stamp: Option<String>,
    },
    /// Write a file atomically from `Stdin` frames (an empty one ends it), then `Done`.
    WriteFile {
        /// Path inside the container.
        path: String,
        /// Permission bits; 0644 (or the replaced file's) when absent.
        mode: Option<u32>,
    },
    /// List a directory; replies `Files`.
    ListDir {
        /// Path inside the container.
        path: String,
    },
    /// Describe a path (without following a final symlink); replies `File`.
    Stat {
        /// Path inside the container.
        path: String,
    },
    /// Remove a file, symlink or directory; replies `Done`.
    Remove {
        /// Path inside the container.
        path: String,
        /// Remove a non-empty directory with its contents.
        recursive: bool,
    },
    /// Read the session's event journal; replies `Events`.
    ReadEvents(ReadEvents),
    /// Watch file changes below another path too (recursively); replies `Done`.
    Watch {
        /// Absolute path inside the container.
        path: String,
    },
    /// Sample the session's resources now; replies `Stats`.
    Stats,
    /// Stop every process of the session (all but the agent and init) until `Resume`;
    /// replies `Pause`. Execs, tasks and terminals are refused while paused.
    Pause,
    /// Continue the processes `Pause` stopped; replies `Pause` (with `paused` false).
    Resume,
    /// `request` (one whose [`Request::repeat`] is [`Repeat::Once`]) under a call key the
    /// client made: the agent runs it at most once per key and answers a repeat of it
    /// (the client's retry after its connection dropped) with the first run's reply,
    /// waiting for that run if it has not finished.
    Once {
        /// The client's key for this call: 16 to 64 letters, digits, '-' and '_'
        /// (random: the agent keeps the last [`crate::limits::ONCE_KEYS_KEPT`] keys).
        key: String,
        /// The call.
        request: Box<Request>,
    },
}

/// Whether a request may be sent again when the connection it went out on dropped
/// before its reply came (the transport failed, not the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// It only reads: sending it again is harmless.
    Safe,
    /// It changes something, in one step, and answers with one reply: sent again
    /// inside [`Request::Once`] under the same key (with the same input, for a terminal
    /// write), the agent runs it at most once.
    Once,
    /// It streams with the caller as it runs (exec, file transfers): it is not sent
    /// again as it is (a file read goes again from where it stopped, with
    /// [`Request::ReadFile`]'s offset).
    Never,
}

impl Request {
    /// Whether (and how) this request may be sent again after its connection dropped.
    pub fn repeat(&self) -> Repeat {
        match self {
            Request::Ping
            | Request::ListTasks
            | Request::TaskInfo { .. }
            | Request::WaitTask { .. }
            | Request::ReadOutput(_)
            | Request::WaitTerminal { .. }
            | Request::ListTerminals
            | Request::ListDir { .. }
            | Request::Stat { .. }
            | Request::Stats => Repeat::Safe,
            // From a sequence number it reads the same again; from "now" a repeat would
            // start later and miss what came in between.
            Request::ReadEvents(r) if r.from.is_some() => Repeat::Safe,
            Request::ReadEvents(_) => Repeat::Never,
            Request::SpawnTask(_)
            | Request::KillTask { .. }
            | Request::OpenTerminal(_)
            | Request::WriteTerminal { .. }
            | Request::ResizeTerminal { .. }
            | Request::KillTerminal { .. }
            | Request::Remove { .. }
            | Request::Watch { .. }
            | Request::Pause
            | Request::Resume => Repeat::Once,
            Request::Hello { .. }
            | Request::Exec(_)
            | Request::ReadFile { .. }
            | Request::WriteFile { .. }
            | Request::Once { .. } => Repeat::Never,
        }
    }
}

/// Whether the process gets a stdin pipe fed by `Stdin` frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdinMode {
    /// stdin is `/dev/null`.
    #[default]
    Null,
    /// stdin is a pipe; `Stdin` frames feed it, an empty one closes it.
    Pipe,
}

/// Parameters of one command run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// Program and arguments; `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Variables set (or overridden) on top of the container's environment.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Working directory inside the container; the session's working dir when absent.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Kill the process group after this long.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Time between SIGTERM and SIGKILL when killing.
    #[serde(default)]
    pub kill_grace_ms: Option<u64>,
    /// After the process exits, how long to wait for the pipes to close (background
    /// children may still hold them) before replying.
    #[serde(default)]
    pub linger_ms: Option<u64>,
    /// stdout bytes sent back at most; the rest is counted and dropped.
    pub stdout_cap: u64,
    /// stderr bytes sent back at most; the rest is counted and dropped.
    pub stderr_cap: u64,
    /// How stdin is connected.
    #[serde(default)]
    pub stdin: StdinMode,
    /// Flow control: when set, the agent sends at most this many output bytes before
    /// it waits for `Credit` frames (and stops reading the pipes, slowing the
    /// process). When absent, output is sent as fast as it comes, up to the caps.
    #[serde(default)]
    pub window: Option<u64>,
}

/// Parameters of a background task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpawnTask {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// How to show the command (e.g. the shell line); `argv` joined when absent.
    #[serde(default)]
    pub command: Option<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Bytes kept per output stream (oldest dropped beyond).
    #[serde(default)]
    pub spool_cap: Option<u64>,
}

/// Which output of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStream {
    /// stdout and stderr interleaved in arrival order.
    #[default]
    Merged,
    /// stdout only.
    Stdout,
    /// stderr only.
    Stderr,
}

/// Whose output to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputSource {
    /// A task's stream.
    Task {
        /// Task id.
        id: String,
        /// Which stream.
        stream: TaskStream,
    },
    /// A terminal's scrollback.
    Terminal {
        /// Terminal id.
        id: String,
    },
}

/// A read of spooled output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOutput {
    /// Whose output.
    pub source: OutputSource,
    /// Absolute offset to read from (ignored when `tail` is set).
    #[serde(default)]
    pub offset: u64,
    /// Read the last this-many bytes instead.
    #[serde(default)]
    pub tail: Option<u64>,
    /// At most this many bytes.
    pub max: u64,
    /// When nothing is there yet, wait this long for output (then a `timeout` error,
    /// unless the source has ended). 0, like `None`, does not wait.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// Parameters of a terminal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenTerminal {
    /// Program and arguments; an interactive `/bin/sh` when empty.
    #[serde(default)]
    pub argv: Vec<String>,
    /// How to show the command.
    #[serde(default)]
    pub command: Option<String>,
    /// Rows (1..=1000).
    pub rows: u16,
    /// Columns (1..=1000).
    pub cols: u16,
    /// Extra environment (`TERM` defaults to `xterm-256color`).
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Scrollback bytes kept.
    #[serde(default)]
    pub scrollback: Option<u64>,
}

/// How a process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProcState {
    /// Still running.
    Running,
    /// Exited with this status.
    Exited {
        /// Exit status.
        code: i32,
    },
    /// Killed by this signal.
    Killed {
        /// Signal number.
        signal: i32,
    },
}

/// A background task as the agent knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Its process state.
    #[serde(flatten)]
    pub state: ProcState,
    /// pid (and process group id) inside the container.
    pub pid: u32,
    /// Start time, ms since the Unix epoch.
    pub started_ms: u64,
    /// End time, ms since the Unix epoch.
    pub ended_ms: Option<u64>,
    /// Bytes kept per stream.
    pub spool_cap: u64,
}

/// A terminal as the agent knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalInfo {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Its process state.
    #[serde(flatten)]
    pub state: ProcState,
    /// pid (session leader) inside the container.
    pub pid: u32,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// Start time, ms since the Unix epoch.
    pub started_ms: u64,
    /// End time, ms since the Unix epoch.
    pub ended_ms: Option<u64>,
    /// Scrollback bytes kept.
    pub scrollback: u64,
}

/// What a read of output returned (the bytes came in `Stdout` frames before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputMeta {
    /// Offset of the first byte returned.
    pub offset: u64,
    /// Bytes returned.
    pub len: u64,
    /// Oldest offset still kept (bytes before it were dropped).
    pub window_start: u64,
    /// One past the newest byte.
    pub end: u64,
    /// The source ended and everything up to `end` is final.
    pub finished: bool,
    /// Bytes that could not be spooled (disk full).
    pub lost: u64,
}

/// Kind of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else (device, fifo, socket).
    Other,
}

/// A filesystem entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File name (the last path component); invalid UTF-8 replaced.
    pub name: String,
    /// Kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time, ms since the Unix epoch.
    pub modified_ms: i64,
    /// Where a symlink points.
    #[serde(default)]
    pub target: Option<String>,
}

/// The final frame of every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Handshake accepted.
    Hello(HelloReply),
    /// Answer to `Ping`.
    Pong,
    /// An `Exec` finished.
    Exit(ExecExit),
    /// A task.
    Task(TaskInfo),
    /// Tasks.
    Tasks {
        /// All tasks, oldest first.
        tasks: Vec<TaskInfo>,
    },
    /// A read of output ended.
    Output(OutputMeta),
    /// A terminal.
    Terminal(TerminalInfo),
    /// Terminals.
    Terminals {
        /// All terminals, oldest first.
        terminals: Vec<TerminalInfo>,
    },
    /// A filesystem entry.
    File(FileInfo),
    /// Directory entries.
    Files {
        /// Entries sorted by name.
        entries: Vec<FileInfo>,
    },
    /// Events of the journal.
    Events(EventBatch),
    /// A resource sample.
    Stats(ResourceSample),
    /// What a pause or resume did.
    Pause(PauseReport),
    /// Done; `bytes` counts what was transferred, when anything was.
    Done {
        /// Bytes read or written.
        #[serde(default)]
        bytes: u64,
    },
    /// The request failed; no process result.
    Error(ErrorReply),
}

/// What a `Pause` or `Resume` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseReport {
    /// Whether the session is paused now.
    pub paused: bool,
    /// Whether this call changed that (false: it was paused, or running, already).
    pub changed: bool,
    /// How the processes were stopped or continued: `"signals"` (SIGSTOP and SIGCONT to
    /// every process but the agent and init).
    pub method: String,
    /// How many processes were stopped or continued.
    pub processes: u32,
    /// How long stopping (or continuing) them took inside the agent, in microseconds.
    pub took_us: u64,
}

/// Intermediate events of a running request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The agent has written this many stdin bytes in total to the process (or file):
    /// the client may have at most a window's worth in flight beyond it.
    StdinAck {
        /// Total bytes consumed so far.
        total: u64,
    },
    /// Sent first by a file read: what identifies the file's content as opened, for a
    /// read that resumes after its connection dropped ([`Request::ReadFile`]'s `stamp`).
    FileStamp {
        /// `<device>:<inode>:<size>:<modified, ns>`.
        stamp: String,
    },
}

/// What the agent says about itself when it accepts a handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The agent's protocol version (equal to the client's, or it would have refused).
    pub protocol: u32,
    /// The agent's crate version.
    pub agent: String,
    /// The agent's pid inside the container.
    pub pid: u32,
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    /// Exit status when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub signal: Option<i32>,
    /// The timeout fired and the agent killed the process group.
    pub timed_out: bool,
    /// The client cancelled and the agent killed the process group.
    pub cancelled: bool,
    /// Bytes the process wrote to stdout (including any beyond the cap).
    pub stdout_total: u64,
    /// Bytes the process wrote to stderr (including any beyond the cap).
    pub stderr_total: u64,
    /// Wall time from spawn to reply, in microseconds.
    pub duration_us: u64,
    /// The process was killed by the kernel's OOM killer (the container ran out of
    /// memory while it ran, and it died of SIGKILL).
    #[serde(default)]
    pub oom_killed: bool,
}

/// Error classes a client can act on. Unknown future kinds decode as `Internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The handshake versions differ.
    ProtocolMismatch,
    /// The request is malformed or its values are out of range.
    InvalidRequest,
    /// The named thing (path, task, terminal...) does not exist.
    NotFound,
    /// A wait ran out of time.
    Timeout,
    /// The process (e.g. a terminal's program) has exited.
    NotRunning,
    /// The container refused access to a path.
    PermissionDenied,
    /// Another I/O failure inside the container.
    Io,
    /// Anything else (a bug or an OS failure).
    #[serde(other)]
    Internal,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Class of failure.
    pub kind: ErrorKind,
    /// Human-readable cause.
    pub message: String,
}

/// The message of [`Reply::cancelled`].
const CANCELLED: &str = "cancelled";

impl Reply {
    /// Shorthand for an error reply.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Reply::Error(ErrorReply { kind, message: message.into() })
    }

    /// The reply of a request stopped by its client (a cancel, or the connection gone)
    /// before it had any effect.
    pub fn cancelled() -> Self {
        Reply::error(ErrorKind::Internal, CANCELLED)
    }

    /// Whether this is [`Reply::cancelled`]'s reply.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Reply::Error(e) if e.kind == ErrorKind::Internal && e.message == CANCELLED)
    }

    /// An error reply from an I/O error, classified.
    pub fn io_error(what: &str, e: &std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::InvalidInput => ErrorKind::InvalidRequest,
            _ => ErrorKind::Io,
        };
        Reply::error(kind, format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_stable_json_shape() {
        let r = Request::Hello { protocol: 1, client: "x".into() };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"op":"hello","protocol":1,"client":"x"}"#);
        let exec: Request =
            serde_json::from_str(r#"{"op":"exec","argv":["true"],"stdout_cap":1,"stderr_cap":2}"#).unwrap();
        let Request::Exec(e) = exec else { panic!("not exec") };
        assert_eq!(e.stdin, StdinMode::Null);
        assert_eq!(e.timeout_ms, None);
        let read: Request = serde_json::from_str(
            r#"{"op":"read_output","source":{"kind":"task","id":"a","stream":"stderr"},"max":10}"#,
        )
        .unwrap();
        assert!(matches!(read, Request::ReadOutput(ReadOutput { offset: 0, tail: None, .. })));
    }

    #[test]
    fn states_flatten_into_infos() {
        let t = TaskInfo {
            id: "x".into(),
            command: "c".into(),
            state: ProcState::Exited { code: 3 },
            pid: 9,
            started_ms: 1,
            ended_ms: Some(2),
            spool_cap: 8,
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["state"], "exited");
        assert_eq!(json["code"], 3);
        assert_eq!(serde_json::from_value::<TaskInfo>(json).unwrap(), t);
    }

    #[test]
    fn unknown_error_kind_decodes_as_internal() {
        let r: Reply = serde_json::from_str(r#"{"reply":"error","kind":"brand_new","message":"m"}"#).unwrap();
        assert_eq!(r, Reply::error(ErrorKind::Internal, "m"));
    }
}
