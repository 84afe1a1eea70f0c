//! [`ErrorContext`]: turns a core error into a `LabeledError` that points at the argument
//! the user got wrong, with a help line saying what to do about it.
//!
//! Core errors name the argument they reject (`InvalidInput { what: "timeout", .. }`);
//! each command records which span holds which argument, and the error is labelled there
//! (falling back to the command name).

use nu_protocol::{LabeledError, Span};
use sandbox_core::{Error, ErrorKind};

/// Spans of a call's arguments, keyed by the names core errors use for them.
pub(crate) struct ErrorContext {
    head: Span,
    scope: String,
    spans: Vec<(&'static str, Span)>,
    session: Option<(String, Span)>,
    helps: Vec<(ErrorKind, String)>,
}

impl ErrorContext {
    /// A context for a call whose command name is at `head`, in sandbox scope `scope`.
    pub(crate) fn new(head: Span, scope: &str) -> ErrorContext {
        ErrorContext { head, scope: scope.to_string(), spans: Vec::new(), session: None, helps: Vec::new() }
    }

    /// Errors about argument `what` (as core names it) point at `span`.
    pub(crate) fn blame(&mut self, what: &'static str, span: Span) -> &mut Self {
        self.spans.push((what, span));
        self
    }

    /// Errors about argument `what` point at `span`, even where another span was blamed
    /// for it before (a new session id given besides the session the call is about).
    pub(crate) fn blame_first(&mut self, what: &'static str, span: Span) -> &mut Self {
        self.spans.insert(0, (what, span));
        self
    }

    /// The session the call is about, and where its id was given.
    pub(crate) fn session(&mut self, id: &str, span: Span) -> &mut Self {
        self.session = Some((id.to_string(), span));
        self.blame("session id", span)
    }

    /// Errors of `kind` get this help line instead of the general one (e.g. what a
    /// timeout means for this command).
    pub(crate) fn help(&mut self, kind: ErrorKind, help: impl Into<String>) -> &mut Self {
        self.helps.push((kind, help.into()));
        self
    }

    fn span_of(&self, what: &str) -> Span {
        self.span_of_any(&[what])
    }

    /// The span of the first of `whats` that was blamed, else the command name.
    fn span_of_any(&self, whats: &[&str]) -> Span {
        whats.iter().find_map(|what| self.spans.iter().find(|(w, _)| w == what).map(|(_, s)| *s)).unwrap_or(self.head)
    }

    fn session_name(&self) -> &str {
        self.session.as_ref().map_or("<session>", |(id, _)| id.as_str())
    }

    fn session_span(&self) -> Span {
        self.session.as_ref().map(|(_, s)| *s).unwrap_or(self.head)
    }

    /// The labelled error for `e`.
    pub(crate) fn error(&self, e: &Error) -> LabeledError {
        let msg = e.to_string();
        let scope = &self.scope;
        let (label, span, help): (String, Span, String) = match e {
            Error::InvalidInput { what, reason } => {
                let help = match what.as_str() {
                    "session id" => "session ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit".into(),
                    "working dir" if reason.contains("snapshot") => "a session started from a snapshot gets a new copy of it: give a path \
that does not exist yet (its parent must), outside the snapshot dir".into(),
                    "working dir" => "give an existing project directory (not a system directory such as / or /etc)".into(),
                    "image" if reason.contains("snapshot") => "a session started from a snapshot runs the snapshot's image: leave --image out".into(),
                    "snapshot name" => "snapshot names follow the rules of session ids (1 to 64 letters, digits, '_', '.' or '-', \
starting with a letter or digit) and are unique: `sandbox snapshot list` shows those taken".into(),
                    "snapshot" if reason.contains("overlay copies") => "sessions started from this snapshot (or forked \
from it) work on overlay copies of it, which read from it: `sandbox stop` them, then `sandbox copy remove <path>` each \
path named above (their changes go with them), then remove the snapshot".into(),
                    "copy path" if reason.contains("working dir of") => "a session works on this copy (or in a dir \
around it): `sandbox stop` that session first (a copy stays after the stop, until `sandbox copy remove`)".into(),
                    "copy path" => "give the copy's path: the working dir of a session started from a snapshot or of a \
fork's child (relative paths are resolved against the current directory)".into(),
                    "snapshot" => "this session did not start from a snapshot: name one to compare with, with --snapshot \
(`sandbox snapshot list` shows them)".into(),
                    "fork count" => format!("a fork makes 1 to {} children", sandbox_core::MAX_FORK_CHILDREN),
                    "fork directory" => "--into names an existing directory; each child's copy is made in <into>/<child id>, \
which must not exist yet".into(),
                    "merge target" => crate::commands::MERGE_TARGET_HELP.into(),
                    "merge" => "nothing was merged: resolve those paths in the target, or merge with --force to let the \
source session's version win".into(),
                    w if w.starts_with("removal of image") => "sessions started from this snapshot still use its image: \
stop them first (`sandbox list | where snapshot == <name>` shows them)".into(),
                    "port" => "ports are 1 to 65535, each listed once".into(),
                    "memory limit" | "cpu limit" | "pids limit" => {
                        "limits: --memory at least 6MiB, --cpus in (0, host cores], --pids at least 8".into()
                    }
                    "environment variable" => "names must be non-empty without '=' or NUL; values without NUL".into(),
                    "signal" => "give a name such as TERM, KILL, INT or HUP, or a number from 1 to 31".into(),
                    "terminal size" => "terminal sizes are 1 to 1000 rows and columns".into(),
                    "task request" | "terminal request" | "spool cap" | "scrollback" => {
                        "the message says which values are accepted (for offsets: up to where the output ends so far)"
                            .into()
                    }
                    "path" | "mode" => "paths are non-empty, without NUL bytes; modes are 0 to 0o1777 (no setuid or setgid bits)".into(),
                    "file request" => "paths are resolved inside the session's container; the message says what is wrong with this one".into(),
                    "network" => "egress rules need the egress network: leave --network out (or use --network egress) with \
--allow-host; `sandbox net` works on sessions started that way".into(),
                    "egress rule" => crate::arguments::EGRESS_RULE_HELP.into(),
                    "from" | "events request" => "sequence numbers start at 1 and go up to the journal's next one; to go on \
from an earlier read, pass its last seq + 1 as --from (`sandbox events` shows the numbers)".into(),
                    "path prefix" => "give an absolute path inside the session, without NUL bytes".into(),
                    "egress hosts entry" => "pinned names are lowercase host names (no trailing dot), each with at least one address, e.g. { db.test: 10.0.0.5 }".into(),
                    _ => "see `help` for this command".into(),
                };
                let span = if what.starts_with("removal of image") {
                    self.span_of("snapshot name")
                } else if what == "snapshot" && reason.contains("overlay copies") {
                    self.span_of_any(&["snapshot name", "snapshot"])
                } else {
                    self.span_of(what)
                };
                let label = match what.as_str() {
                    "merge" => "both changed the same paths".to_string(),
                    w if w.starts_with("removal of image") => "in use".to_string(),
                    "snapshot" if reason.contains("overlay copies") => "in use by overlay copies".to_string(),
                    "copy path" if reason.contains("working dir of") => "in use by a session".to_string(),
                    _ => format!("invalid {what}"),
                };
                (label, span, help)
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
            Error::NotFound { what, .. } if what == "devcontainer.json" => (
                "no devcontainer.json in this directory".into(),
                self.span_of("devcontainer.json"),
                "add .devcontainer/devcontainer.json (or .devcontainer.json), or start without --devcontainer".into(),
            ),
            Error::Config { origin, .. } if origin.ends_with("devcontainer.json") => (
                "the project's devcontainer.json is not valid".into(),
                self.span_of("devcontainer.json"),
                "the message gives the line and column (or the property) to fix; or start without --devcontainer".into(),
            ),
            Error::NotFound { what, .. } if what.starts_with("snapshot ") => (
                "no such snapshot".into(),
                self.span_of_any(&["snapshot", "snapshot name"]),
                "`sandbox snapshot list` shows the snapshots; `sandbox snapshot <session> <name>` takes one".into(),
            ),
            Error::NotFound { what, .. } if what.starts_with("copy at ") => (
                "no copy of a snapshot here".into(),
                self.span_of("copy path"),
                "give the working dir of a session started from a snapshot or of a fork's child (the working_dir \
column of `sandbox start --snapshot` and `sandbox fork`); relative paths are resolved against the current directory"
                    .into(),
            ),
            Error::NotFound { what, detail } => {
                let session = self.session_name();
                let (span, help) = if detail.starts_with("working directory") {
                    (self.span_of_any(&["cwd"]), "paths are resolved inside the session's container".to_string())
                } else if detail.starts_with("starting ") {
                    (
                        self.span_of_any(&["command"]),
                        "the program is looked up on the container's PATH: give its full path, or install it in the session".to_string(),
                    )
                } else {
                    let span = self.span_of_any(&[what.as_str(), "command", "cwd"]);
                    let help = match what.as_str() {
                        "task" => format!("`sandbox task list {session}` shows the tasks of this session"),
                        "terminal" => format!("`sandbox term list {session}` shows the terminals of this session"),
                        "file" => "paths are resolved inside the session's container, relative ones against its working directory".into(),
                        _ => "paths are resolved inside the session's container".into(),
                    };
                    (span, help)
                };
                ("not found in the sandbox".into(), span, help)
            }
            Error::NotRunning { what, .. } => {
                let session = self.session_name();
                let help = match what.as_str() {
                    "task" => format!("`sandbox task list {session}` shows how it ended"),
                    "terminal" => {
                        format!("its output can still be read with `sandbox term read`; `sandbox term list {session}` shows how it ended")
                    }
                    _ => "it has already ended".into(),
                };
                ("not running any more".into(), self.span_of(what), help)
            }
            Error::PermissionDenied { .. } => (
                "permission denied".into(),
                self.span_of("file"),
                "the sandbox's processes may not access this path".into(),
            ),
            Error::Config { .. } => (
                "invalid sandbox configuration".into(),
                self.span_of("config"),
                "check $env.config.plugins.sandbox, the SANDBOX_* variables and the config file (SANDBOX_CONFIG or ~/.config/sandbox/config.toml)".into(),
            ),
            Error::Io { .. } => ("I/O error".into(), self.span_of("file"), "see the message above".into()),
            _ => ("failed".into(), self.head, "see the message above".into()),
        };
        let help = self.helps.iter().find(|(k, _)| *k == e.kind()).map_or(help, |(_, h)| h.clone());
        LabeledError::new(msg).with_label(label, span).with_help(help)
    }
}
