//! PTY terminals held by the agent: the program runs on a PTY created inside the
//! container, its output goes to a bounded scrollback any process can replay.

use std::time::{Duration, SystemTime};

use sandbox_proto::{OpenTerminal, OutputSource, ReadOutput, Reply, Request, layout};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::output_chunk::OutputChunk;
use crate::process::{ProcessState, time_of};
use crate::session::Session;
use crate::session::unexpected;
use sandbox_proto::limits::MAX_TERMINAL_WRITE;
use sandbox_proto::validate::{self, HeldKind};

pub use sandbox_proto::limits::{DEFAULT_SCROLLBACK, MAX_TERMINAL_DIMENSION};

/// What to run in a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalSpec {
    /// Program and arguments; an interactive shell (`$SHELL` or `/bin/sh`) when empty.
    pub argv: Vec<String>,
    /// How the command is shown in listings.
    pub command: Option<String>,
    /// Rows, 1 to 1000.
    pub rows: u16,
    /// Columns, 1 to 1000.
    pub cols: u16,
    /// Extra environment; `TERM` is `xterm-256color` unless set here.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub cwd: Option<String>,
    /// Scrollback bytes kept (default [`DEFAULT_SCROLLBACK`]).
    pub scrollback: Option<u64>,
}

impl TerminalSpec {
    /// An interactive shell of the given size.
    pub fn shell(rows: u16, cols: u16) -> Self {
        TerminalSpec { argv: Vec::new(), command: None, rows, cols, env: Vec::new(), cwd: None, scrollback: None }
    }
    /// A shell command line (`sh -c`) of the given size.
    pub fn command(command: impl Into<String>, rows: u16, cols: u16) -> Self {
        let command = command.into();
        TerminalSpec {
            argv: vec!["sh".into(), "-c".into(), command.clone()],
            command: Some(command),
            ..TerminalSpec::shell(rows, cols)
        }
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
    /// Sets the scrollback size.
    pub fn scrollback(mut self, bytes: u64) -> Self {
        self.scrollback = Some(bytes);
        self
    }
}

/// A terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalInfo {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Running, exited with a code, or killed by a signal.
    #[serde(flatten)]
    pub state: ProcessState,
    /// pid of the session leader inside the container.
    pub pid: u32,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// When it started.
    pub started: SystemTime,
    /// When its program ended.
    pub ended: Option<SystemTime>,
    /// Scrollback bytes kept.
    pub scrollback: u64,
}

impl TerminalInfo {
    /// The program is still running.
    pub fn alive(&self) -> bool {
        self.state.is_running()
    }
}

impl From<sandbox_proto::TerminalInfo> for TerminalInfo {
    fn from(t: sandbox_proto::TerminalInfo) -> Self {
        TerminalInfo {
            id: t.id,
            command: t.command,
            state: t.state.into(),
            pid: t.pid,
            rows: t.rows,
            cols: t.cols,
            started: time_of(t.started_ms),
            ended: t.ended_ms.map(time_of),
            scrollback: t.scrollback,
        }
    }
}

fn terminal_reply(r: Result<(Vec<u8>, Reply)>) -> Result<TerminalInfo> {
    match r? {
        (_, Reply::Terminal(t)) => Ok(t.into()),
        (_, other) => Err(unexpected(&other)),
    }
}

impl Session {
    /// Opens a terminal: a PTY created inside the container, with the program as a
    /// session leader whose controlling terminal it is.
    pub async fn open_terminal(&self, spec: TerminalSpec) -> Result<TerminalInfo> {
        let req = Request::OpenTerminal(OpenTerminal {
            argv: spec.argv,
            command: spec.command,
            rows: spec.rows,
            cols: spec.cols,
            env: spec.env,
            cwd: spec.cwd,
            scrollback: spec.scrollback,
        });
        terminal_reply(self.call("terminal", &req).await)
    }

    /// Sends input (keystrokes) to a terminal. A [`NotRunning`](Error::NotRunning)
    /// error once its program has exited.
    pub async fn terminal_write(&self, id: &str, bytes: &[u8]) -> Result<()> {
        validate::held_id(HeldKind::Terminal, id)?;
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.len() > MAX_TERMINAL_WRITE {
            return Err(Error::invalid("terminal input", "write at most 1 MiB at a time"));
        }
        let mut call = self.begin(&Request::WriteTerminal { id: id.into() }).await?;
        if let Err(why) = call.sender().send(sandbox_proto::FrameKind::Stdin, bytes.to_vec()).await {
            return Err(self.lost(why).await);
        }
        match call.next().await {
            crate::agent_client::Incoming::Reply(Reply::Done { .. }) => Ok(()),
            crate::agent_client::Incoming::Reply(Reply::Error(e)) => {
                Err(crate::session::agent_error_for("terminal", e))
            }
            crate::agent_client::Incoming::Lost(why) => Err(self.lost(why).await),
            other => Err(Error::Protocol { detail: format!("unexpected answer to a terminal write: {other:?}") }),
        }
    }

    /// Reads a terminal's output (scrollback) from `offset`, at most `max` bytes. With a
    /// `timeout`, waits that long for output when there is none yet (a
    /// [`Timeout`](Error::Timeout) error if none comes); without, or with zero, returns
    /// at once. A
    /// caller that reattaches reads from offset 0 (or its last offset) to replay what
    /// it missed; [`OutputChunk::window_start`] tells what was dropped.
    pub async fn terminal_read(
        &self,
        id: &str,
        offset: u64,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<OutputChunk> {
        let max = max as u64;
        let req = ReadOutput {
            source: OutputSource::Terminal { id: id.into() },
            offset,
            tail: None,
            max,
            wait_ms: timeout.map(|t| t.as_millis() as u64),
        };
        match self.read_output(&req, timeout).await {
            Err(e) if matches!(e.kind(), crate::ErrorKind::SessionLost | crate::ErrorKind::SessionNotFound) => self
                .offline(e, |dir| {
                    crate::spool_reader::read(dir, layout::TERMINALS, id, layout::TERMINAL_OUT, offset, None, max)
                }),
            other => other,
        }
    }

    /// Resizes a terminal; its program gets SIGWINCH and `stty size` shows the new size.
    pub async fn terminal_resize(&self, id: &str, rows: u16, cols: u16) -> Result<TerminalInfo> {
        terminal_reply(self.call("terminal", &Request::ResizeTerminal { id: id.into(), rows, cols }).await)
    }

    /// Sends `signal` (1..=31) to the terminal's session (its process group).
    pub async fn terminal_kill(&self, id: &str, signal: i32) -> Result<()> {
        self.call("terminal", &Request::KillTerminal { id: id.into(), signal }).await.map(|_| ())
    }

    /// Waits for a terminal's program to end; `None` waits as long as it takes. A
    /// [`Timeout`](Error::Timeout) error when it is still running after `timeout` (a zero
    /// `timeout` checks once).
    pub async fn terminal_wait(&self, id: &str, timeout: Option<Duration>) -> Result<TerminalInfo> {
        let req = Request::WaitTerminal { id: id.into(), timeout_ms: timeout.map(|t| t.as_millis() as u64) };
        match self.call("terminal", &req).await {
            Err(Error::Timeout { action, .. }) => Err(Error::Timeout { action, after: timeout.unwrap_or_default() }),
            other => terminal_reply(other),
        }
    }

    /// All terminals, oldest first (read from the spool when the agent is gone).
    pub async fn list_terminals(&self) -> Result<Vec<TerminalInfo>> {
        match self.call("terminal", &Request::ListTerminals).await {
            Ok((_, Reply::Terminals { terminals })) => Ok(terminals.into_iter().map(Into::into).collect()),
            Ok((_, other)) => Err(unexpected(&other)),
            Err(e) => {
                self.offline(e, crate::spool_reader::list_terminals).map(|v| v.into_iter().map(Into::into).collect())
            }
        }
    }
}
