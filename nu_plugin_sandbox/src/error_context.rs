//! [`ErrorContext`]: turns a core error into a `LabeledError` that points at the argument
//! the user got wrong, with a help line saying what to do about it.
//!
//! Core errors name the argument they reject (`InvalidInput { what: "timeout", .. }`);
//! each command records which span holds which argument, and the error is labelled there
//! (falling back to the command name).

use nu_protocol::{LabeledError, Span};
use sandbox_core::Error;

/// Spans of a call's arguments, keyed by the names core errors use for them.
pub(crate) struct ErrorContext {
    head: Span,
    scope: String,
    spans: Vec<(&'static str, Span)>,
    session: Option<(String, Span)>,
}

impl ErrorContext {
    /// A context for a call whose command name is at `head`, in sandbox scope `scope`.
    pub(crate) fn new(head: Span, scope: &str) -> ErrorContext {
        ErrorContext { head, scope: scope.to_string(), spans: Vec::new(), session: None }
    }

    /// Errors about argument `what` (as core names it) point at `span`.
    pub(crate) fn blame(&mut self, what: &'static str, span: Span) -> &mut Self {
        self.spans.push((what, span));
        self
    }

    /// The session the call is about, and where its id was given.
    pub(crate) fn session(&mut self, id: &str, span: Span) -> &mut Self {
        self.session = Some((id.to_string(), span));
        self.blame("session id", span)
    }

    fn span_of(&self, what: &str) -> Span {
        self.spans.iter().find(|(w, _)| *w == what).map(|(_, s)| *s).unwrap_or(self.head)
    }

    fn session_span(&self) -> Span {
        self.session.as_ref().map(|(_, s)| *s).unwrap_or(self.head)
    }

    /// The labelled error for `e`.
    pub(crate) fn error(&self, e: &Error) -> LabeledError {
        let msg = e.to_string();
        let scope = &self.scope;
        let (label, span, help): (String, Span, String) = match e {
            Error::InvalidInput { what, .. } => {
                let help = match what.as_str() {
                    "session id" => "session ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit".into(),
                    "working dir" => "give an existing project directory (not a system directory such as / or /etc)".into(),
                    "port" => "ports are 1 to 65535, each listed once".into(),
                    "memory limit" | "cpu limit" | "pids limit" => {
                        "limits: --memory at least 6MiB, --cpus in (0, host cores], --pids at least 8".into()
                    }
                    "environment variable" => "names must be non-empty without '=' or NUL; values without NUL".into(),
                    _ => "see `help` for this command".into(),
                };
                (format!("invalid {what}"), self.span_of(what), help)
            }
            Error::SessionNotFound { .. } => (
                "no such session".into(),
                self.session_span(),
                format!("run `sandbox list` to see the sessions of scope {scope:?}, or `sandbox start` to make one"),
            ),
            Error::SessionLost { id, .. } => (
                "this session's container is gone or not running".into(),
                self.session_span(),
                format!("`sandbox stop {id}` removes what is left of it; `sandbox start` makes a new one"),
            ),
            Error::SessionExists { id, .. } => (
                "a session with this id exists".into(),
                self.span_of("session id"),
                format!("choose another --id, or `sandbox stop {id}` first"),
            ),
            Error::AgentVersionMismatch { .. } => (
                "started by another sandbox version".into(),
                self.session_span(),
                "stop the session (`sandbox stop`) and start it again".into(),
            ),
            Error::ImageUnavailable { .. } => (
                "image not available locally".into(),
                self.span_of("image"),
                "sessions never pull images: build or pull it with podman first (scripts/setup builds the default image), or pass another --image".into(),
            ),
            Error::LimitsUnavailable { .. } => (
                "limits cannot be enforced here".into(),
                self.span_of("limits"),
                "drop --require-limits (the session then starts without limits and says so), or use rootful podman or cgroup v2 with delegation".into(),
            ),
            Error::EngineMissing { .. } => (
                "podman not found".into(),
                self.head,
                "install podman, or set $env.SANDBOX_PODMAN (or `podman` in $env.config.plugins.sandbox) to its path".into(),
            ),
            Error::Engine { .. } => {
                ("podman failed".into(), self.head, "podman's own message is quoted above".into())
            }
            Error::Timeout { .. } => (
                "timed out".into(),
                self.span_of("timeout"),
                "the session did not answer in time; `sandbox list` shows whether it is still running".into(),
            ),
            Error::Protocol { .. } => (
                "unexpected answer from the session's agent".into(),
                self.session_span(),
                "stop the session (`sandbox stop`) and start it again; report this if it repeats".into(),
            ),
            Error::NotFound { .. } => (
                "not found in the sandbox".into(),
                self.span_of("cwd"),
                "paths are resolved inside the session's container".into(),
            ),
            Error::Config { .. } => (
                "invalid sandbox configuration".into(),
                self.span_of("config"),
                "check $env.config.plugins.sandbox, the SANDBOX_* variables and the config file (SANDBOX_CONFIG or ~/.config/sandbox/config.toml)".into(),
            ),
            Error::Io { .. } => ("I/O error".into(), self.head, "see the message above".into()),
            _ => ("failed".into(), self.head, "see the message above".into()),
        };
        LabeledError::new(msg).with_label(label, span).with_help(help)
    }
}
