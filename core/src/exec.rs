//! The exec verb: run one command in a session to completion, and what it returns.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::exec_options::ExecOptions;
use crate::exec_stream::ExecEvent;
use crate::session::Session;

/// Default cap on captured bytes, per stream (stdout and stderr each): 16 MiB. Output
/// beyond it is counted ([`ExecOutput::stdout_total`]) and dropped in the container, so
/// the caller's memory stays bounded whatever the command prints.
pub const DEFAULT_OUTPUT_CAP: u64 = 16 * 1024 * 1024;

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

impl Session {
    /// Runs `argv` to completion and returns its output. Non-zero exits, signals and
    /// timeouts are data in the result; errors are for calls that could not run (bad
    /// input, lost session). A thin wrapper over [`exec_stream`](Self::exec_stream)
    /// that collects the events, with the output cap applied in the container.
    pub async fn exec<S: AsRef<str>>(&self, argv: &[S], options: ExecOptions) -> Result<ExecOutput> {
        let cap = options.output_cap.unwrap_or(DEFAULT_OUTPUT_CAP);
        let bound =
            options.timeout.map(|t| t + options.kill_grace.unwrap_or(Duration::from_secs(1)) + Duration::from_secs(30));
        let mut stream = self.start_exec(argv, options, None, cap).await?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let collect = async {
            while let Some(event) = stream.next().await {
                match event? {
                    ExecEvent::Stdout(b) => append_capped(&mut stdout, &b, cap),
                    ExecEvent::Stderr(b) => append_capped(&mut stderr, &b, cap),
                    ExecEvent::Exit(exit) => return Ok(exit),
                }
            }
            Err(Error::Protocol { detail: "the exec ended without an exit status".into() })
        };
        // The agent enforces the timeout; this outer bound only catches an agent that
        // stopped answering altogether.
        let exit = match bound {
            Some(b) => match tokio::time::timeout(b, collect).await {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout { action: format!("exec of {:?}", argv[0].as_ref()), after: b }),
            },
            None => collect.await?,
        };
        Ok(ExecOutput {
            stdout_truncated: exit.stdout_total > stdout.len() as u64,
            stderr_truncated: exit.stderr_total > stderr.len() as u64,
            stdout,
            stderr,
            exit_code: exit.exit_code,
            signal: exit.signal,
            timed_out: exit.timed_out,
            oom_killed: exit.oom_killed,
            stdout_total: exit.stdout_total,
            stderr_total: exit.stderr_total,
            duration: exit.duration,
        })
    }

    /// [`exec`](Self::exec) with `stdin` fed to the command (the seed's `exec_stdin`).
    pub async fn exec_stdin<S: AsRef<str>>(
        &self,
        argv: &[S],
        stdin: impl Into<Vec<u8>>,
        options: ExecOptions,
    ) -> Result<ExecOutput> {
        self.exec(argv, options.stdin(stdin)).await
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
