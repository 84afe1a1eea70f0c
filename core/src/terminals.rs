//! PTY terminals held by the agent: the program runs on a PTY created inside the
//! container, its output goes to a bounded scrollback any process can replay.
//! [`Terminal`] is the handle on one; what it shares with tasks is in `process.rs`.

use std::time::Duration;

use sandbox_proto::{OpenTerminal, OutputSource, Reply, Request};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::output_chunk::OutputChunk;
use crate::process::{Follow, Held, ProcessInfo, ProcessKind, ReadUntil};
use crate::session::{Session, unexpected};
use sandbox_proto::validate::{self, HeldKind};

pub use sandbox_proto::limits::{DEFAULT_SCROLLBACK, MAX_TERMINAL_DIMENSION, MAX_TERMINAL_WRITE};

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
    /// Sets the scrollback size.
    pub fn scrollback(mut self, bytes: u64) -> Self {
        self.scrollback = Some(bytes);
        self
    }
}

crate::env_builders::env_builders!(TerminalSpec);

/// A terminal, as it was when asked: what every held process reports ([`ProcessInfo`],
/// which it dereferences to: `info.id`, `info.state`...), its size and scrollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalInfo {
    /// Id, command, state, pid (of the session leader) and times.
    #[serde(flatten)]
    pub process: ProcessInfo,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// Scrollback bytes kept.
    pub scrollback: u64,
}

crate::process::derefs_to_process_info!(TerminalInfo);

impl TerminalInfo {
    /// The program is still running.
    pub fn alive(&self) -> bool {
        self.state.is_running()
    }
}

impl From<sandbox_proto::TerminalInfo> for TerminalInfo {
    fn from(t: sandbox_proto::TerminalInfo) -> Self {
        TerminalInfo {
            process: ProcessInfo::from_wire(t.id, t.command, t.state, t.pid, t.started_ms, t.ended_ms),
            rows: t.rows,
            cols: t.cols,
            scrollback: t.scrollback,
        }
    }
}

fn terminal_reply(r: Result<(Vec<u8>, Reply)>) -> Result<TerminalInfo> {
    TerminalKind::info_of(r?.1).map_err(|other| unexpected(&other))
}

/// The terminal kind of [`Held`] process.
#[derive(Debug)]
pub enum TerminalKind {}

crate::process::process_kind!(
    TerminalKind: TerminalInfo = "terminal",
    WaitTerminal,
    KillTerminal,
    Terminal,
    ListTerminals => Terminals { terminals },
    crate::spool_reader::list_terminals
);

impl TerminalKind {
    /// The agent has no request for one terminal's info: this reads the list.
    async fn fetch_info(session: &Session, id: &str) -> Result<TerminalInfo> {
        validate::held_id(HeldKind::Terminal, id)?;
        session.list_terminals().await?.into_iter().find(|t| t.id == id).ok_or_else(|| Error::NotFound {
            what: "terminal".into(),
            detail: format!("the session has no terminal {id:?}"),
        })
    }
}

/// A handle on a terminal: [`info`](Held::info), [`wait`](Held::wait),
/// [`kill`](Held::kill), and its own [`write`](Terminal::write),
/// [`resize`](Terminal::resize), [`read`](Terminal::read),
/// [`follow`](Terminal::follow), [`read_until`](Terminal::read_until).
pub type Terminal = Held<TerminalKind>;

impl Session {
    /// Opens a terminal: a PTY created inside the container, with the program as a
    /// session leader whose controlling terminal it is.
    pub async fn open_terminal(&self, spec: TerminalSpec) -> Result<Terminal> {
        let req = Request::OpenTerminal(OpenTerminal {
            argv: spec.argv,
            command: spec.command,
            rows: spec.rows,
            cols: spec.cols,
            env: spec.env,
            cwd: spec.cwd,
            scrollback: spec.scrollback,
        });
        Ok(Terminal::with_info(self.clone(), terminal_reply(self.call("terminal", &req).await)?))
    }

    /// A handle on the existing terminal `id` (opened by any process); a
    /// [`NotFound`](Error::NotFound) error when there is none. Works on a lost session
    /// too (from what its agent left in the control dir).
    pub async fn attach_terminal(&self, id: &str) -> Result<Terminal> {
        crate::process::attach(self, id).await
    }

    /// A handle on the terminal `id`, made without a round trip: whether there is such a
    /// terminal shows at its first call ([`attach_terminal`](Self::attach_terminal)
    /// checks first).
    pub fn terminal(&self, id: &str) -> Terminal {
        Terminal::with_id(self.clone(), id)
    }

    /// All terminals, oldest first (read from the spool when the agent is gone).
    pub async fn list_terminals(&self) -> Result<Vec<TerminalInfo>> {
        crate::process::list::<TerminalKind>(self).await
    }
}

impl Terminal {
    fn source(&self) -> OutputSource {
        OutputSource::Terminal { id: self.id().into() }
    }

    /// Sends input (keystrokes) to the terminal, at most 1 MiB at a time. A
    /// [`NotRunning`](Error::NotRunning) error once its program has exited.
    pub async fn write(&self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.len() > MAX_TERMINAL_WRITE {
            return Err(Error::invalid("terminal input", "write at most 1 MiB at a time"));
        }
        match self
            .session()
            .call_with("terminal", &Request::WriteTerminal { id: self.id().into() }, Some(bytes))
            .await?
        {
            (_, Reply::Done { .. }) => Ok(()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Reads the output (scrollback) from `offset`, at most `max` bytes. `wait`:
    /// `Some(0)` returns at once with what is there (maybe nothing); `Some(d)` waits up to
    /// `d` for output when there is none yet (a [`Timeout`](Error::Timeout) error if none
    /// comes); `None` waits as long as it takes. A caller that reattaches reads from
    /// offset 0 (or its last offset) to replay what it missed;
    /// [`OutputChunk::window_start`] tells what was dropped.
    pub async fn read(&self, offset: u64, max: usize, wait: Option<Duration>) -> Result<OutputChunk> {
        self.read_source(self.source(), offset, max, wait).await
    }

    /// The output from `offset` as it comes, until the program ended and all of it was
    /// read.
    pub fn follow(&self, offset: u64) -> Follow {
        self.follow_source(self.source(), offset)
    }

    /// Reads from `offset` until `needle` appears, the program ends, `max` bytes were
    /// read, or `timeout` passes (`None`: no time limit); [`ReadUntil::found`] says which.
    pub async fn read_until(
        &self,
        offset: u64,
        needle: &[u8],
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadUntil> {
        self.read_source_until(self.source(), offset, needle, max, timeout).await
    }

    /// Resizes the terminal; its program gets SIGWINCH and `stty size` shows the new
    /// size.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<TerminalInfo> {
        let req = Request::ResizeTerminal { id: self.id().into(), rows, cols };
        terminal_reply(self.session().call("terminal", &req).await)
    }
}
