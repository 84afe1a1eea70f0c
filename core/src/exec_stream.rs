//! Streaming exec: output arrives as events while the command runs, under flow control
//! (a slow reader slows the command; memory stays bounded), with a handle to write
//! stdin, close it and send signals.

use std::time::Duration;

use sandbox_proto::{ExecRequest, Reply, Request, StdinMode};
use serde::Serialize;

use crate::agent_client::{Call, CallSender, Incoming};
use crate::error::{Error, Result};
use crate::exec_options::ExecOptions;
use crate::session::{Session, agent_error, unexpected};

/// Output bytes the agent may send ahead of the consumer of an [`ExecStream`]: the most
/// a stream buffers in memory.
pub const STREAM_WINDOW: u64 = 4 * 1024 * 1024;
/// Consumed bytes are granted back in batches of this size (fewer credit frames).
const CREDIT_BATCH: u64 = STREAM_WINDOW / 4;
const STDIN_CHUNK: usize = 256 * 1024;

/// How a streamed command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExecExit {
    /// Exit status when it exited.
    pub exit_code: Option<i32>,
    /// Signal number when it was killed by one.
    pub signal: Option<i32>,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// Killed by the kernel's OOM killer (the session hit its memory limit).
    pub oom_killed: bool,
    /// Bytes written to stdout in all.
    pub stdout_total: u64,
    /// Bytes written to stderr in all.
    pub stderr_total: u64,
    /// Time from spawn to exit.
    #[serde(serialize_with = "crate::duration_secs::serialize")]
    pub duration: Duration,
}

/// One event of a streamed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Bytes the command wrote to stdout.
    Stdout(Vec<u8>),
    /// Bytes the command wrote to stderr.
    Stderr(Vec<u8>),
    /// It ended; no more events follow.
    Exit(ExecExit),
}

/// A running command's events. Dropping it before the exit kills the command's
/// process group in the container.
pub struct ExecStream {
    call: Call,
    session: Session,
    windowed: bool,
    done: bool,
    consumed: u64,
}

/// Input and signals for a running [`ExecStream`]; cheap to clone, usable from another
/// task while the stream is being read.
#[derive(Clone)]
pub struct ExecControl {
    sender: CallSender,
}

impl ExecControl {
    /// Writes bytes to the command's stdin (waits while the agent has a window's worth
    /// not yet consumed by the command).
    pub async fn write_stdin(&self, bytes: &[u8]) -> Result<()> {
        for chunk in bytes.chunks(STDIN_CHUNK) {
            self.sender.send_stdin(chunk).await.map_err(closed)?;
        }
        Ok(())
    }

    /// Closes the command's stdin (it sees end of file).
    pub async fn close_stdin(&self) -> Result<()> {
        self.sender.send_stdin(&[]).await.map_err(closed)
    }

    /// Sends a signal (1..=31) to the command's process group.
    pub async fn signal(&self, signal: i32) -> Result<()> {
        sandbox_proto::validate::signal(signal)?;
        self.sender.signal(signal).await.map_err(closed)
    }
}

fn closed(why: String) -> Error {
    Error::NotRunning { what: "exec".into(), detail: why }
}

impl ExecStream {
    /// The next event; `None` after the exit event.
    pub async fn next(&mut self) -> Option<Result<ExecEvent>> {
        if self.done {
            return None;
        }
        let event = match self.call.next().await {
            Incoming::Stdout(b) => {
                self.grant(b.len()).await;
                ExecEvent::Stdout(b)
            }
            Incoming::Stderr(b) => {
                self.grant(b.len()).await;
                ExecEvent::Stderr(b)
            }
            Incoming::Reply(Reply::Exit(x)) => {
                self.done = true;
                ExecEvent::Exit(ExecExit {
                    exit_code: x.exit_code,
                    signal: x.signal,
                    timed_out: x.timed_out,
                    oom_killed: x.oom_killed,
                    stdout_total: x.stdout_total,
                    stderr_total: x.stderr_total,
                    duration: Duration::from_micros(x.duration_us),
                })
            }
            Incoming::Reply(Reply::Error(e)) => {
                self.done = true;
                return Some(Err(agent_error(e)));
            }
            Incoming::Reply(other) => {
                self.done = true;
                return Some(Err(unexpected(&other)));
            }
            Incoming::Lost(why) => {
                self.done = true;
                return Some(Err(self.session.lost(why).await));
            }
        };
        Some(Ok(event))
    }

    /// The consumer took `n` bytes: let the agent send that many more (in batches).
    async fn grant(&mut self, n: usize) {
        if !self.windowed {
            return;
        }
        self.consumed += n as u64;
        if self.consumed >= CREDIT_BATCH {
            let _ = self.call.sender().credit(self.consumed).await;
            self.consumed = 0;
        }
    }

    /// A handle for stdin and signals.
    pub fn control(&self) -> ExecControl {
        ExecControl { sender: self.call.sender() }
    }
}

impl Session {
    /// Starts `argv` and returns its events as they happen. stdin is a pipe: write to it
    /// and close it through [`ExecStream::control`] (or pass `options.stdin`, which is
    /// written and closed for you). The output is not capped; the agent runs at most
    /// [`STREAM_WINDOW`] bytes ahead of the reader.
    pub async fn exec_stream<S: AsRef<str>>(&self, argv: &[S], options: ExecOptions) -> Result<ExecStream> {
        self.start_exec(argv, options, Some(STREAM_WINDOW), u64::MAX).await
    }

    /// Validates, sends the exec request, and starts feeding `options.stdin` if given.
    pub(crate) async fn start_exec<S: AsRef<str>>(
        &self,
        argv: &[S],
        options: ExecOptions,
        window: Option<u64>,
        cap: u64,
    ) -> Result<ExecStream> {
        let streaming = window.is_some();
        let request = Request::Exec(ExecRequest {
            argv: argv.iter().map(|a| a.as_ref().to_string()).collect(),
            env: options.env,
            cwd: options.cwd,
            // A zero timeout stays zero (and is refused); anything shorter than a
            // millisecond rounds up to one.
            timeout_ms: options.timeout.map(|t| if t.is_zero() { 0 } else { (t.as_millis() as u64).max(1) }),
            kill_grace_ms: options.kill_grace.map(|t| t.as_millis() as u64),
            linger_ms: options.linger.map(|t| t.as_millis() as u64),
            stdout_cap: cap,
            stderr_cap: cap,
            stdin: if streaming || options.stdin.is_some() { StdinMode::Pipe } else { StdinMode::Null },
            window,
        });
        let call = self.begin(&request).await?;
        let stream = ExecStream { call, session: self.clone(), windowed: streaming, done: false, consumed: 0 };
        if let Some(data) = options.stdin {
            let control = stream.control();
            tokio::spawn(async move {
                if control.write_stdin(&data).await.is_ok() {
                    let _ = control.close_stdin().await;
                }
            });
        }
        Ok(stream)
    }
}
