//! What tasks and terminals share: a process the agent holds beyond the call that
//! started it. [`Held`] is the handle on one (a session and an id); [`Task`] and
//! [`Terminal`] are its two kinds, which add their own verbs in `tasks.rs` and
//! `terminals.rs`. Every handle can report its [`info`](Held::info), [`wait`](Held::wait)
//! for its end and [`kill`](Held::kill) it; its output is read by offset, followed
//! ([`Follow`]) or read until some text appears ([`ReadUntil`]).
//!
//! [`Task`]: crate::Task
//! [`Terminal`]: crate::Terminal

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime};

use sandbox_proto::{OutputSource, ProcState, ReadOutput, Reply, Request};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::output_chunk::OutputChunk;
use crate::session::{Session, unexpected};

/// How a task (or terminal program) is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProcessState {
    /// Still running.
    Running,
    /// Exited with a status.
    Exited {
        /// Exit status.
        code: i32,
    },
    /// Killed by a signal.
    Killed {
        /// Signal number.
        signal: i32,
    },
}

impl From<ProcState> for ProcessState {
    fn from(s: ProcState) -> Self {
        match s {
            ProcState::Running => ProcessState::Running,
            ProcState::Exited { code } => ProcessState::Exited { code },
            ProcState::Killed { signal } => ProcessState::Killed { signal },
        }
    }
}

impl ProcessState {
    /// Still running.
    pub fn is_running(&self) -> bool {
        matches!(self, ProcessState::Running)
    }
}

/// What every held process reports; [`TaskInfo`](crate::TaskInfo) and
/// [`TerminalInfo`](crate::TerminalInfo) add their own fields and dereference to it, so
/// `info.id`, `info.state`... read the same on both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Running, exited with a code, or killed by a signal.
    #[serde(flatten)]
    pub state: ProcessState,
    /// Its pid inside the container (the leader of its process group, or of its session
    /// for a terminal).
    pub pid: u32,
    /// When it started.
    pub started: SystemTime,
    /// When it ended.
    pub ended: Option<SystemTime>,
}

impl ProcessInfo {
    /// The common fields of an info as the agent reports them.
    pub(crate) fn from_wire(
        id: String,
        command: String,
        state: ProcState,
        pid: u32,
        started_ms: u64,
        ended_ms: Option<u64>,
    ) -> ProcessInfo {
        ProcessInfo {
            id,
            command,
            state: state.into(),
            pid,
            started: time_of(started_ms),
            ended: ended_ms.map(time_of),
        }
    }
}

/// `Deref` from a kind's info to the [`ProcessInfo`] it holds in its `process` field.
macro_rules! derefs_to_process_info {
    ($($info:ty),+) => {
        $(
            impl std::ops::Deref for $info {
                type Target = $crate::process::ProcessInfo;
                fn deref(&self) -> &$crate::process::ProcessInfo {
                    &self.process
                }
            }
        )+
    };
}
pub(crate) use derefs_to_process_info;

pub(crate) fn time_of(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A kind of held process: [`TaskKind`](crate::TaskKind) or
/// [`TerminalKind`](crate::TerminalKind). Sealed: the agent knows these two.
pub trait ProcessKind: Sealed + Send + Sync + 'static {
    /// What the kind's info is.
    type Info: Deref<Target = ProcessInfo> + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The kind's name in errors and messages: "task" or "terminal".
    const NAME: &'static str;

    /// The request that waits for the process to end.
    #[doc(hidden)]
    fn wait_request(id: String, timeout_ms: Option<u64>) -> Request;
    /// The request that signals the process's group.
    #[doc(hidden)]
    fn kill_request(id: String, signal: i32) -> Request;
    /// The info in an agent's reply, or the reply when it carries none.
    #[doc(hidden)]
    fn info_of(reply: Reply) -> std::result::Result<Self::Info, Reply>;
    /// The request that lists every process of the kind.
    #[doc(hidden)]
    fn list_request() -> Request;
    /// The infos in an agent's reply to the list request, or the reply when it is
    /// another.
    #[doc(hidden)]
    fn infos_of(reply: Reply) -> std::result::Result<Vec<Self::Info>, Reply>;
    /// The infos as the agent last recorded them in the control dir `dir`.
    #[doc(hidden)]
    fn recorded(dir: &std::path::Path) -> std::io::Result<Vec<Self::Info>>;
    /// How the process `id` is doing now (read from its spool when the agent is gone).
    #[doc(hidden)]
    fn fetch(session: &Session, id: &str) -> impl Future<Output = Result<Self::Info>> + Send;
}

/// Implements a kind's mapping to the wire: `process_kind!(TaskKind: TaskInfo = "task",
/// WaitTask, KillTask, Task, ListTasks => Tasks { tasks }, spool_reader::list_tasks)`;
/// `fetch` stays with the kind (`Self::fetch_info`).
macro_rules! process_kind {
    ($kind:ident: $info:ty = $name:literal, $wait:ident, $kill:ident, $one:ident,
     $list:ident => $many:ident { $field:ident }, $recorded:path) => {
        impl $crate::process::Sealed for $kind {}

        impl $crate::process::ProcessKind for $kind {
            type Info = $info;
            const NAME: &'static str = $name;

            fn wait_request(id: String, timeout_ms: Option<u64>) -> sandbox_proto::Request {
                sandbox_proto::Request::$wait { id, timeout_ms }
            }
            fn kill_request(id: String, signal: i32) -> sandbox_proto::Request {
                sandbox_proto::Request::$kill { id, signal }
            }
            fn info_of(reply: sandbox_proto::Reply) -> std::result::Result<$info, sandbox_proto::Reply> {
                match reply {
                    sandbox_proto::Reply::$one(i) => Ok(i.into()),
                    other => Err(other),
                }
            }
            fn list_request() -> sandbox_proto::Request {
                sandbox_proto::Request::$list
            }
            fn infos_of(reply: sandbox_proto::Reply) -> std::result::Result<Vec<$info>, sandbox_proto::Reply> {
                match reply {
                    sandbox_proto::Reply::$many { $field } => Ok($field.into_iter().map(Into::into).collect()),
                    other => Err(other),
                }
            }
            fn recorded(dir: &std::path::Path) -> std::io::Result<Vec<$info>> {
                $recorded(dir).map(|v| v.into_iter().map(Into::into).collect())
            }
            async fn fetch(session: &$crate::session::Session, id: &str) -> $crate::error::Result<$info> {
                $kind::fetch_info(session, id).await
            }
        }
    };
}
pub(crate) use process_kind;

/// A checked handle on the process `id` of kind `K` in `session`.
pub(crate) async fn attach<K: ProcessKind>(session: &Session, id: &str) -> Result<Held<K>> {
    Ok(Held::with_info(session.clone(), K::fetch(session, id).await?))
}

/// Every process of kind `K` in `session`, oldest first (from what the agent recorded in
/// the control dir when the session is lost).
pub(crate) async fn list<K: ProcessKind>(session: &Session) -> Result<Vec<K::Info>> {
    match session.call(K::NAME, &K::list_request()).await {
        Ok((_, reply)) => K::infos_of(reply).map_err(|other| unexpected(&other)),
        Err(e) => session.offline(e, K::recorded),
    }
}

/// A handle on one process held by a session's agent: a background task
/// ([`Task`](crate::Task)) or a terminal ([`Terminal`](crate::Terminal)). Cheap to
/// clone; the process does not depend on it (dropping the handle leaves it running), and
/// any process can make a new one: `Session::attach_task` / `attach_terminal` check that
/// the process exists, `Session::task` / `terminal` make a handle from an id without a
/// round trip (a wrong id shows up as a [`NotFound`](Error::NotFound) error at the first
/// call).
pub struct Held<K: ProcessKind> {
    session: Session,
    id: String,
    initial: Option<K::Info>,
    kind: PhantomData<fn() -> K>,
}

impl<K: ProcessKind> Clone for Held<K> {
    fn clone(&self) -> Self {
        Held { session: self.session.clone(), id: self.id.clone(), initial: self.initial.clone(), kind: PhantomData }
    }
}

impl<K: ProcessKind> std::fmt::Debug for Held<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(K::NAME).field("session", &self.session.id()).field("id", &self.id).finish()
    }
}

impl<K: ProcessKind> Held<K> {
    /// A handle made with the process's info (spawned, opened or attached).
    pub(crate) fn with_info(session: Session, info: K::Info) -> Held<K> {
        Held { session, id: info.id.clone(), initial: Some(info), kind: PhantomData }
    }

    /// A handle on the process `id`, without asking whether there is one.
    pub(crate) fn with_id(session: Session, id: &str) -> Held<K> {
        Held { session, id: id.to_string(), initial: None, kind: PhantomData }
    }

    /// Its id (unique in its session).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session it runs in.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Its info as it was when this handle was made by a spawn, open or attach (`None`
    /// for a handle made from a bare id); the state may have changed since:
    /// [`info`](Self::info) asks again.
    pub fn initial_info(&self) -> Option<&K::Info> {
        self.initial.as_ref()
    }

    /// How it is doing now (from what the agent left in the control dir when the session
    /// is lost).
    pub async fn info(&self) -> Result<K::Info> {
        K::fetch(&self.session, self.id()).await
    }

    /// Waits for it to end and returns its final info; `None` waits as long as it takes.
    /// A [`Timeout`](Error::Timeout) error when it still runs after `timeout` (a zero
    /// `timeout` checks once). The last of its output may still be on its way into the
    /// spool when this returns: [`follow`](crate::Task::follow) reads all of it.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<K::Info> {
        let req = K::wait_request(self.id().into(), timeout.map(|t| t.as_millis() as u64));
        match self.session.call(K::NAME, &req).await {
            Ok((_, reply)) => K::info_of(reply).map_err(|r| unexpected(&r)),
            Err(Error::Timeout { action, .. }) => Err(Error::Timeout { action, after: timeout.unwrap_or_default() }),
            Err(e) => Err(e),
        }
    }

    /// Sends `signal` (1..=31) to its whole process group (for a terminal: its session).
    /// A [`NotRunning`](Error::NotRunning) error once every process of the group has
    /// exited.
    pub async fn kill(&self, signal: i32) -> Result<()> {
        self.session.call(K::NAME, &K::kill_request(self.id().into(), signal)).await.map(|_| ())
    }

    /// Reads `source` from `offset`, at most `max` bytes, waiting as `wait` says.
    pub(crate) async fn read_source(
        &self,
        source: OutputSource,
        offset: u64,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<OutputChunk> {
        read(&self.session, source, offset, None, max, wait).await
    }

    /// Follows `source` from `offset`.
    pub(crate) fn follow_source(&self, source: OutputSource, offset: u64) -> Follow {
        Follow { session: self.session.clone(), source, offset, done: false }
    }

    /// Reads `source` from `offset` until `needle` appears.
    pub(crate) async fn read_source_until(
        &self,
        source: OutputSource,
        offset: u64,
        needle: &[u8],
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadUntil> {
        if needle.is_empty() {
            return Err(Error::invalid("text to read until", "is empty"));
        }
        sandbox_proto::validate::read_size(max as u64)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let first = read(&self.session, source.clone(), offset, None, max, Some(Duration::ZERO)).await?;
        let mut until = ReadUntil { chunk: first, found: false };
        loop {
            until.found = contains(&until.chunk.data, needle);
            if until.found || until.chunk.finished || until.chunk.data.len() >= max {
                return Ok(until);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => WAIT_SLICE,
            };
            if left.is_zero() {
                return Ok(until);
            }
            let at = until.chunk.next_offset();
            let room = max - until.chunk.data.len();
            match read(&self.session, source.clone(), at, None, room, Some(left)).await {
                Ok(c) => {
                    if c.offset != at {
                        // Output was dropped from the spool between the reads: what was
                        // read before is not contiguous with this, so start over here.
                        until.chunk.data.clear();
                    }
                    if until.chunk.data.is_empty() {
                        until.chunk.offset = c.offset;
                    }
                    until.chunk.data.extend_from_slice(&c.data);
                    until.chunk.window_start = c.window_start;
                    until.chunk.end = c.end;
                    until.chunk.finished = c.finished;
                    until.chunk.lost = c.lost;
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// What [`read_until`](crate::Terminal::read_until) read: everything from the offset
/// asked for up to and including the text (or up to where it stopped looking), and
/// whether the text appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadUntil {
    /// The bytes read, with the offsets around them ([`OutputChunk::next_offset`] is where
    /// to read on from); `finished` says the program ended and all was read.
    pub chunk: OutputChunk,
    /// The text appeared in `chunk.data`. When not: the program ended first
    /// (`chunk.finished`), `max` bytes were read, or the time was up.
    pub found: bool,
}

/// A process's output as it comes: each [`next`](Follow::next) returns the next piece
/// (waiting for it as long as it takes), and `None` once the process ended and all its
/// output was read. Made by `Task::follow` and `Terminal::follow`.
#[derive(Debug)]
pub struct Follow {
    session: Session,
    source: OutputSource,
    offset: u64,
    done: bool,
}

/// Most bytes one piece of a [`Follow`] carries.
pub const FOLLOW_READ_MAX: usize = 1024 * 1024;

/// Pause before asking again when a read returned nothing without waiting (a lost
/// session's spool being read from disk, where nothing can wait for new output).
const FOLLOW_RETRY: Duration = Duration::from_millis(200);

impl Follow {
    /// Where the next piece starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next piece of output; `None` once the process ended and everything was read.
    /// A piece whose `offset` is past [`offset`](Self::offset) (as it was before the
    /// call) means the bytes between were dropped from the spool before they were read.
    /// Cancel-safe: dropping the future loses nothing (the next call reads from the same
    /// offset).
    pub async fn next(&mut self) -> Option<Result<OutputChunk>> {
        loop {
            if self.done {
                return None;
            }
            let read = read(&self.session, self.source.clone(), self.offset, None, FOLLOW_READ_MAX, None).await;
            let chunk = match read {
                Ok(c) => c,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.offset = chunk.next_offset();
            // Done at the end only: a read of a lost session's spool says finished
            // before it has reached the end when the read stopped at `max`.
            self.done = chunk.finished && self.offset >= chunk.end;
            if !chunk.data.is_empty() {
                return Some(Ok(chunk));
            }
            if !self.done {
                tokio::time::sleep(FOLLOW_RETRY).await;
            }
        }
    }
}

/// How long one read that waits without limit waits before asking again.
pub(crate) const WAIT_SLICE: Duration = Duration::from_secs(3600);

/// Reads spooled output from the agent (from the spool itself when the session is
/// lost). `wait`: `Some(0)` returns at once with what is there; `Some(d)` waits up to
/// `d` for new output (a [`Timeout`](Error::Timeout) error if none comes and the process
/// still runs); `None` waits as long as it takes.
pub(crate) async fn read(
    session: &Session,
    source: OutputSource,
    offset: u64,
    tail: Option<u64>,
    max: usize,
    wait: Option<Duration>,
) -> Result<OutputChunk> {
    loop {
        let slice = wait.unwrap_or(WAIT_SLICE);
        let wait_ms = Some(slice.as_millis() as u64);
        let req = ReadOutput { source: source.clone(), offset, tail, max: max as u64, wait_ms };
        match session.read_output(&req, Some(slice)).await {
            Err(e) if wait.is_none() && e.kind() == ErrorKind::Timeout => continue,
            Err(e) if matches!(e.kind(), ErrorKind::SessionLost | ErrorKind::SessionNotFound) => {
                let (kind, id, stream) = crate::spool_reader::source_path(&source);
                return session
                    .offline(e, |dir| crate::spool_reader::read(dir, kind, id, stream, offset, tail, max as u64));
            }
            other => return other,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
