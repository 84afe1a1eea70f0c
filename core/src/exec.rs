//! Options and result of running one command in a session.

use std::time::Duration;

use serde::Serialize;

/// Default cap on captured bytes, per stream (stdout and stderr each): 16 MiB. Output
/// beyond it is counted ([`ExecOutput::stdout_total`]) and dropped in the container, so
/// the caller's memory stays bounded whatever the command prints.
pub const DEFAULT_OUTPUT_CAP: u64 = 16 * 1024 * 1024;

/// How to run a command. Every field is optional; `ExecOptions::default()` runs with no
/// timeout, no stdin, the container's environment and the session's working dir.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOptions {
    /// Kill the command's whole process group after this long (SIGTERM, then SIGKILL
    /// after [`kill_grace`](Self::kill_grace)). Must be non-zero.
    pub timeout: Option<Duration>,
    /// Bytes written to the command's stdin, which is then closed. `None`: /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Variables set on top of the session's environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container (default: the session's working dir).
    pub cwd: Option<String>,
    /// Captured bytes per stream (default [`DEFAULT_OUTPUT_CAP`]).
    pub output_cap: Option<u64>,
    /// Time between SIGTERM and SIGKILL when a timeout fires (default 1 s).
    pub kill_grace: Option<Duration>,
    /// After the command exits, how long to wait for background children that still
    /// hold its output pipes (default 100 ms). They keep running; only their later
    /// output is not captured.
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

/// How a command ended and what it printed. A non-zero exit, a signal or a timeout is
/// data here, not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecOutput {
    /// Captured stdout, byte-exact (up to the cap).
    pub stdout: Vec<u8>,
    /// Captured stderr, byte-exact (up to the cap).
    pub stderr: Vec<u8>,
    /// Exit status when the command exited (127: not found, 126: not executable).
    pub exit_code: Option<i32>,
    /// Signal number when the command was killed by a signal.
    pub signal: Option<i32>,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// stdout went past the cap; `stdout_total` says how far.
    pub stdout_truncated: bool,
    /// stderr went past the cap; `stderr_total` says how far.
    pub stderr_truncated: bool,
    /// Bytes the command wrote to stdout in all.
    pub stdout_total: u64,
    /// Bytes the command wrote to stderr in all.
    pub stderr_total: u64,
    /// The kernel's OOM killer killed it: the session ran out of memory (its memory
    /// limit) while it ran.
    pub oom_killed: bool,
    /// Time from spawn to exit as measured in the container.
    #[serde(serialize_with = "crate::duration_secs::serialize")]
    pub duration: Duration,
}

impl ExecOutput {
    /// Exit code 0 and no timeout.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// stdout as text, with invalid UTF-8 replaced (use `stdout` for the exact bytes).
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text, with invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Appends to a capture buffer without letting its allocation run far past `cap`
/// (plain `Vec` growth doubles, which could reach twice the cap).
pub(crate) fn append_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: u64) {
    let room = (cap as usize).saturating_sub(buf.len());
    let take = bytes.len().min(room);
    if take == 0 {
        return;
    }
    if buf.capacity() - buf.len() < take {
        let want = (buf.capacity() * 2).max(buf.len() + take).max(64 * 1024).min(cap as usize);
        buf.reserve_exact(want - buf.len());
    }
    buf.extend_from_slice(&bytes[..take]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_stops_at_the_cap_and_allocation_stays_near_it() {
        let cap = 1_000_000u64;
        let mut buf = Vec::new();
        let chunk = vec![7u8; 65536];
        for _ in 0..100 {
            append_capped(&mut buf, &chunk, cap);
        }
        assert_eq!(buf.len(), cap as usize);
        assert!(buf.capacity() <= cap as usize, "capacity {} above cap", buf.capacity());
    }

    #[test]
    fn success_needs_zero_and_no_timeout() {
        let ok = ExecOutput { exit_code: Some(0), ..Default::default() };
        assert!(ok.success());
        assert!(!ExecOutput { exit_code: Some(1), ..Default::default() }.success());
        assert!(!ExecOutput { exit_code: Some(0), timed_out: true, ..Default::default() }.success());
        assert!(!ExecOutput { signal: Some(9), ..Default::default() }.success());
    }
}
