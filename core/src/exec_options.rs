//! How to run a command: the options `exec` and `exec_stream` share.

use std::time::Duration;

/// How to run a command. Every field is optional; `ExecOptions::default()` runs with no
/// timeout, no stdin, the container's environment and the session's working dir.
///
/// The rule every option follows (and every face: C, Python, Go, nu): `None` is the
/// documented default; zero is zero where zero means something (an output cap of 0
/// captures nothing, a kill grace of 0 kills at once, a linger of 0 does not wait), and
/// an [`InvalidInput`](crate::ErrorKind::InvalidInput) error where it does not (a timeout
/// of 0: no timeout is `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOptions {
    /// Kill the command's whole process group after this long (SIGTERM, then SIGKILL
    /// after [`kill_grace`](Self::kill_grace)). `None`: no timeout. Zero is refused.
    pub timeout: Option<Duration>,
    /// Bytes written to the command's stdin, which is then closed. `None`: /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Variables set on top of the session's environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container (default: the session's working dir).
    pub cwd: Option<String>,
    /// Captured bytes per stream (default [`DEFAULT_OUTPUT_CAP`](crate::DEFAULT_OUTPUT_CAP));
    /// the rest is counted in the totals and dropped in the container. 0 captures nothing
    /// and only counts.
    pub output_cap: Option<u64>,
    /// Time between SIGTERM and SIGKILL when a timeout fires (default 1 s; zero sends
    /// SIGKILL at once).
    pub kill_grace: Option<Duration>,
    /// After the command exits, how long to wait for background children that still
    /// hold its output pipes (default 100 ms; zero does not wait). They keep running; only
    /// their later output is not captured.
    pub linger: Option<Duration>,
}

impl ExecOptions {
    /// Options with everything at its default.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Sets the stdin bytes.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }
    /// Sets the per-stream output cap.
    pub fn output_cap(mut self, bytes: u64) -> Self {
        self.output_cap = Some(bytes);
        self
    }
    /// Sets the SIGTERM-to-SIGKILL grace.
    pub fn kill_grace(mut self, d: Duration) -> Self {
        self.kill_grace = Some(d);
        self
    }
    /// Sets the linger time for pipes held by background children.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = Some(d);
        self
    }
}

crate::env_builders::env_builders!(ExecOptions);
