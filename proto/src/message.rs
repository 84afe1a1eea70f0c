//! JSON control messages carried in `Request`, `Reply` and `Event` frames.

use serde::{Deserialize, Serialize};

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
    /// The request failed; no process result.
    Error(ErrorReply),
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
}

/// Error classes a client can act on. Unknown future kinds decode as `Internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The handshake versions differ.
    ProtocolMismatch,
    /// The request is malformed or its values are out of range.
    InvalidRequest,
    /// The named thing (cwd, task, terminal...) does not exist.
    NotFound,
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

impl Reply {
    /// Shorthand for an error reply.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Reply::Error(ErrorReply { kind, message: message.into() })
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
    }

    #[test]
    fn unknown_error_kind_decodes_as_internal() {
        let r: Reply = serde_json::from_str(r#"{"reply":"error","kind":"brand_new","message":"m"}"#).unwrap();
        assert_eq!(r, Reply::error(ErrorKind::Internal, "m"));
    }
}
