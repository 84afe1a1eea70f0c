//! The one error type of sandbox-core. Every variant names the action that failed and
//! keeps the engine's own words (podman's stderr), so a caller can both match on the
//! [`ErrorKind`] and show a useful message.

use std::time::Duration;

/// How an engine (or host tool) command ended, for messages ("exit status 125").
fn exit_status_words(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit status {c}"),
        None => "no exit status".to_string(),
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Match on [`Error::kind`] for a stable, copyable classification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container engine binary could not be run.
    #[error(
        "podman was not found (tried `{program}`): install it, e.g. `apt-get install podman runc` on Debian/Ubuntu, or set SANDBOX_PODMAN to its path"
    )]
    EngineMissing {
        /// The program name or path that was tried.
        program: String,
    },
    /// The engine ran but the operation failed.
    #[error("{action} failed ({}): {stderr}", exit_status_words(*.code))]
    Engine {
        /// What we asked the engine to do.
        action: String,
        /// The engine's exit status, when it exited.
        code: Option<i32>,
        /// The engine's stderr, trimmed.
        stderr: String,
    },
    /// The image is not present locally (and is not pulled: `--pull=never`).
    #[error("image {image} is not available: {detail}")]
    ImageUnavailable {
        /// The image reference.
        image: String,
        /// Why, including the engine's message and how to get the image.
        detail: String,
    },
    /// Policy requires resource limits and this host cannot enforce them.
    #[error("resource limits are required by policy but cannot be enforced here: {reason}")]
    LimitsUnavailable {
        /// Why the host cannot enforce them.
        reason: String,
    },
    /// No session with this id exists (or it was stopped).
    #[error("no sandbox session {id:?}{detail}; list the sessions to see which exist")]
    SessionNotFound {
        /// The session id asked for.
        id: String,
        /// Extra context, e.g. ": it was stopped".
        detail: String,
    },
    /// A session with this id exists already or is being started by another process.
    #[error("sandbox session {id:?} already exists: {detail}")]
    SessionExists {
        /// The session id.
        id: String,
        /// Which case it is.
        detail: String,
    },
    /// The session's agent or container died; calls cannot succeed.
    #[error("sandbox session {id:?} is lost: {detail}")]
    SessionLost {
        /// The session id.
        id: String,
        /// What happened (exit code, OOM kill, removal), as found out from the engine.
        detail: String,
        /// True when the engine says the container was killed for running out of memory.
        oom_killed: bool,
        /// The container's exit code, when it exited.
        exit_code: Option<i32>,
    },
    /// Something did not finish in time.
    #[error("{action} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        action: String,
        /// How long we waited.
        after: Duration,
    },
    /// The agent in the container speaks another protocol version.
    #[error("the session's agent is incompatible with this library: {detail}; stop the session and start it again")]
    AgentVersionMismatch {
        /// Both versions, as reported.
        detail: String,
    },
    /// The agent sent something this library cannot understand.
    #[error("agent protocol error: {detail}")]
    Protocol {
        /// What was wrong.
        detail: String,
    },
    /// An argument was rejected before anything was done.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// Why it is invalid and what is accepted.
        reason: String,
    },
    /// Something named inside the session does not exist (a cwd, a task...).
    #[error("{what} not found: {detail}")]
    NotFound {
        /// What kind of thing.
        what: String,
        /// The agent's message.
        detail: String,
    },
    /// The process behind a handle has ended (e.g. writing to an exited terminal).
    #[error("{what} is not running: {detail}")]
    NotRunning {
        /// What kind of thing.
        what: String,
        /// The agent's message.
        detail: String,
    },
    /// The container refused access to a path.
    #[error("permission denied: {detail}")]
    PermissionDenied {
        /// The agent's message.
        detail: String,
    },
    /// The configuration file or a `SANDBOX_*` variable is invalid.
    #[error("invalid configuration in {origin}: {detail}")]
    Config {
        /// The file path or variable name.
        origin: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A host-side I/O operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What we were doing.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Stable classification of an [`Error`], for matching and for the C ABI's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::EngineMissing`].
    EngineMissing,
    /// See [`Error::Engine`].
    Engine,
    /// See [`Error::ImageUnavailable`].
    ImageUnavailable,
    /// See [`Error::LimitsUnavailable`].
    LimitsUnavailable,
    /// See [`Error::SessionNotFound`].
    SessionNotFound,
    /// See [`Error::SessionExists`].
    SessionExists,
    /// See [`Error::SessionLost`].
    SessionLost,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::AgentVersionMismatch`].
    AgentVersionMismatch,
    /// See [`Error::Protocol`].
    Protocol,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::NotRunning`].
    NotRunning,
    /// See [`Error::PermissionDenied`].
    PermissionDenied,
    /// See [`Error::Config`].
    Config,
    /// See [`Error::Io`].
    Io,
}

impl Error {
    /// The error's classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EngineMissing { .. } => ErrorKind::EngineMissing,
            Error::Engine { .. } => ErrorKind::Engine,
            Error::ImageUnavailable { .. } => ErrorKind::ImageUnavailable,
            Error::LimitsUnavailable { .. } => ErrorKind::LimitsUnavailable,
            Error::SessionNotFound { .. } => ErrorKind::SessionNotFound,
            Error::SessionExists { .. } => ErrorKind::SessionExists,
            Error::SessionLost { .. } => ErrorKind::SessionLost,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::AgentVersionMismatch { .. } => ErrorKind::AgentVersionMismatch,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::NotRunning { .. } => ErrorKind::NotRunning,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::Config { .. } => ErrorKind::Config,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// An [`InvalidInput`](Error::InvalidInput) error: `what` was refused because of
    /// `reason` (for faces that check their own arguments).
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what: what.into(), reason: reason.into() }
    }

    /// An [`Io`](Error::Io) error: `source` happened while doing `action`.
    pub fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { action: action.into(), source }
    }
}

impl From<sandbox_proto::validate::Invalid> for Error {
    fn from(i: sandbox_proto::validate::Invalid) -> Self {
        Error::invalid(i.what, i.reason)
    }
}
