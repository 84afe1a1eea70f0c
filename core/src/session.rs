//! A handle on one running session: run commands through its agent, stop it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sandbox_proto::{ErrorKind as WireErrorKind, Repeat, Reply, Request};
use tokio::sync::Mutex;

use crate::agent_client::{AgentClient, CallError, Incoming};
use crate::control_dir;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::start_report::StartReport;
use crate::transport::{self, AgentPlace};

/// Name this library gives itself in the agent handshake.
pub(crate) const CLIENT_NAME: &str = concat!("sandbox-core ", env!("CARGO_PKG_VERSION"));

/// Where a session lives: what a handle needs to reach it.
pub(crate) struct SessionAddress {
    pub id: String,
    pub container: String,
    pub working_dir: PathBuf,
    pub control_dir: PathBuf,
    /// The agent binary mounted into the container (the socket's peer must run it).
    pub agent_binary: PathBuf,
    /// What carries the connection to the agent.
    pub transport: crate::Transport,
}

/// A session: one container with its agent. Cheap to clone; clones share one agent
/// connection, over which any number of calls run concurrently.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    container: String,
    working_dir: PathBuf,
    control_dir: PathBuf,
    agent_binary: PathBuf,
    transport: crate::Transport,
    engine: Arc<dyn Engine>,
    client: Mutex<Option<Arc<AgentClient>>>,
    report: Option<StartReport>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .field("container", &self.inner.container)
            .field("working_dir", &self.inner.working_dir)
            .finish()
    }
}

impl Session {
    pub(crate) fn new(
        at: SessionAddress,
        engine: Arc<dyn Engine>,
        client: Option<AgentClient>,
        report: Option<StartReport>,
    ) -> Session {
        Session {
            inner: Arc::new(Inner {
                id: at.id,
                container: at.container,
                working_dir: at.working_dir,
                control_dir: at.control_dir,
                agent_binary: at.agent_binary,
                transport: at.transport,
                engine,
                client: Mutex::new(client.map(Arc::new)),
                report,
                stopped: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn with_report(self, report: StartReport) -> Session {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| unreachable!("fresh session is not shared"));
        Session { inner: Arc::new(Inner { report: Some(report), ..inner }) }
    }

    /// Records in the start report the snapshot the session started from.
    pub(crate) fn with_snapshot(self, from: crate::start_report::SnapshotStart) -> Session {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| unreachable!("fresh session is not shared"));
        let report = inner.report.clone().map(|r| StartReport { snapshot: Some(from), ..r });
        Session { inner: Arc::new(Inner { report, ..inner }) }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The container name.
    pub fn container(&self) -> &str {
        &self.inner.container
    }

    /// The working dir (same path on the host and in the container).
    pub fn working_dir(&self) -> &Path {
        &self.inner.working_dir
    }

    /// The host control dir: private to the host; its `shared` subdirectory (agent
    /// socket, spools) is what the container sees.
    pub fn control_dir(&self) -> &Path {
        &self.inner.control_dir
    }

    /// The host path of the agent binary the session runs (also the egress enforcer's).
    pub(crate) fn agent_binary(&self) -> &Path {
        &self.inner.agent_binary
    }

    /// What the start did; `None` for a session obtained by `attach`.
    pub fn start_report(&self) -> Option<&StartReport> {
        self.inner.report.as_ref()
    }

    /// The agent connection, (re)connecting when needed.
    pub(crate) async fn client(&self) -> Result<Arc<AgentClient>> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(self.stopped_error());
        }
        let mut slot = self.inner.client.lock().await;
        if let Some(c) = slot.as_ref()
            && c.closed().is_none()
        {
            return Ok(c.clone());
        }
        *slot = None;
        let i = &self.inner;
        let place = AgentPlace { container: &i.container, control: &i.control_dir, agent: &i.agent_binary };
        let stream = match transport::connect(i.transport, i.engine.as_ref(), &place).await {
            Ok(s) => s,
            Err(e) => return Err(self.lost(format!("cannot connect to the agent: {e}")).await),
        };
        let client = Arc::new(AgentClient::handshake(stream, CLIENT_NAME).await?);
        *slot = Some(client.clone());
        Ok(client)
    }

    fn stopped_error(&self) -> Error {
        Error::SessionNotFound { id: self.inner.id.clone(), detail: ": it was stopped".into() }
    }

    /// Finds out from the engine why the agent is unreachable.
    pub(crate) async fn lost(&self, why: String) -> Error {
        // Stopped through this handle, or by anyone (who marks the control dir first).
        if self.inner.stopped.load(Ordering::Acquire) || control_dir::stopping(&self.inner.control_dir) {
            return self.stopped_error();
        }
        let id = self.inner.id.clone();
        // The agent is the container's main process: when it has just died, the container
        // is about to stop. Give the engine a moment to see that before diagnosing.
        let mut state = self.inner.engine.state(&self.inner.container).await;
        for _ in 0..20 {
            if !matches!(&state, Ok(Some(st)) if st.running) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            state = self.inner.engine.state(&self.inner.container).await;
        }
        match state {
            Ok(None) => Error::SessionNotFound { id, detail: ": its container was removed".into() },
            Ok(Some(st)) if !st.running => {
                let oom_killed = st.oom_killed || crate::spool_reader::oom_marker(&self.inner.control_dir);
                let code = st.exit_code.map(|c| format!(" with code {c}")).unwrap_or_default();
                let reason = crate::spool_reader::agent_exit_reason(&self.inner.control_dir)
                    .map(|r| format!(": the agent {r}"))
                    .unwrap_or_default();
                let oom = if oom_killed {
                    " after running out of memory (OOM killed)"
                } else if st.exit_code == Some(137) {
                    " (SIGKILL: it ran out of memory, or was killed from outside)"
                } else {
                    ""
                };
                let extra = if st.error.is_empty() { String::new() } else { format!(": {}", st.error) };
                Error::SessionLost {
                    id,
                    detail: format!("its container {} ({}){code}{oom}{extra}{reason}", st.status, self.inner.container),
                    oom_killed,
                    exit_code: st.exit_code,
                }
            }
            Ok(Some(_)) => Error::SessionLost {
                id,
                detail: format!("{why} (the container is still running)"),
                oom_killed: false,
                exit_code: None,
            },
            Err(e) => Error::SessionLost {
                id,
                detail: format!("{why}; asking the engine failed too: {e}"),
                oom_killed: false,
                exit_code: None,
            },
        }
    }

    /// The version of the agent serving this session.
    pub async fn agent_version(&self) -> Result<String> {
        Ok(self.client().await?.agent_version().to_string())
    }

    /// Starts a call: checks the request with the checks the agent applies on receipt
    /// (bad input is a typed error, and comes first, even on a lost session), connects,
    /// and sends it. An oversized request is invalid input, a failed send means the
    /// session is lost.
    pub(crate) async fn begin(&self, request: &Request) -> Result<crate::agent_client::Call> {
        request.validate()?;
        match self.send(request).await {
            Ok(call) => call,
            Err(why) => Err(self.lost(why).await),
        }
    }

    /// Sends a checked request: the call, an error, or why the connection dropped as it
    /// went.
    pub(crate) async fn send(
        &self,
        request: &Request,
    ) -> std::result::Result<Result<crate::agent_client::Call>, String> {
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        match client.call(request).await {
            Ok(c) => Ok(Ok(c)),
            Err(CallError::TooLarge(n)) => Ok(Err(too_large(n))),
            Err(CallError::Closed(why)) => Err(why),
        }
    }

    /// Sends a simple request: collects its data frames and final reply; an error reply
    /// becomes a typed error (`what` names the object for not-found errors).
    ///
    /// When the connection drops before the reply (a bridge killed, a transport that
    /// failed while the agent lives on), the call is sent again on a new connection, up
    /// to [`REPEATS`] times: as it is when it only reads, under one call key when it
    /// changes something ([`Request::Once`]: the agent runs it at most once and answers
    /// the repeat with the first run's reply). A wait sent again waits its full time
    /// again. Streaming calls (exec, file transfers) go through [`begin`](Self::begin)
    /// and are not repeated here (a file read resumes at its offset by itself).
    pub(crate) async fn call(&self, what: &str, request: &Request) -> Result<(Vec<u8>, Reply)> {
        self.call_with(what, request, None).await
    }

    /// [`call`](Self::call) with `input` sent in a `Stdin` frame after the request (a
    /// terminal write), again with each repeat.
    pub(crate) async fn call_with(
        &self,
        what: &str,
        request: &Request,
        input: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Reply)> {
        request.validate()?;
        let repeat = request.repeat();
        let keyed = (repeat == Repeat::Once)
            .then(|| Request::Once { key: sandbox_proto::random::hex(16), request: Box::new(request.clone()) });
        let sent = keyed.as_ref().unwrap_or(request);
        let mut drops = 0;
        loop {
            match self.attempt(what, sent, input).await {
                Ok(outcome) => return outcome,
                Err(why) if repeat != Repeat::Never => self.again_after(&mut drops, why).await?,
                Err(why) => return Err(self.lost(why).await),
            }
        }
    }

    /// After the connection dropped (`why`) during the `drops`-th sending of a call that
    /// may go again: waits a moment and returns to send it again, or the error of the
    /// lost session once it went [`REPEATS`] times, or when the session was stopped.
    pub(crate) async fn again_after(&self, drops: &mut u32, why: String) -> Result<()> {
        if *drops >= REPEATS || self.is_stopped() || control_dir::stopping(&self.inner.control_dir) {
            return Err(self.lost(why).await);
        }
        tracing::debug!(session = %self.inner.id, %why, "the connection dropped during a call; sending it again");
        tokio::time::sleep(Duration::from_millis(100) * *drops).await;
        *drops += 1;
        Ok(())
    }

    /// One sending of a call: its outcome, or why the connection dropped before it came.
    async fn attempt(
        &self,
        what: &str,
        request: &Request,
        input: Option<&[u8]>,
    ) -> std::result::Result<Result<(Vec<u8>, Reply)>, String> {
        let mut call = match self.send(request).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(bytes) = input {
            call.sender().send(sandbox_proto::FrameKind::Stdin, bytes.to_vec()).await?;
        }
        let mut data = Vec::new();
        loop {
            match call.next().await {
                Incoming::Stdout(b) => data.extend_from_slice(&b),
                Incoming::Stderr(_) => {}
                Incoming::Reply(Reply::Error(e)) => return Ok(Err(agent_error_for(what, e))),
                Incoming::Reply(r) => return Ok(Ok((data, r))),
                Incoming::Lost(why) => return Err(why),
            }
        }
    }

    /// A read of spooled output (task or terminal).
    pub(crate) async fn read_output(
        &self,
        req: &sandbox_proto::ReadOutput,
        wait: Option<Duration>,
    ) -> Result<crate::OutputChunk> {
        let what = match req.source {
            sandbox_proto::OutputSource::Task { .. } => "task",
            sandbox_proto::OutputSource::Terminal { .. } => "terminal",
        };
        match self.call(what, &Request::ReadOutput(req.clone())).await {
            Ok((data, Reply::Output(m))) => Ok(crate::OutputChunk {
                data,
                offset: m.offset,
                window_start: m.window_start,
                end: m.end,
                finished: m.finished,
                lost: m.lost,
            }),
            Ok((_, other)) => Err(unexpected(&other)),
            Err(Error::Timeout { action, .. }) => Err(Error::Timeout { action, after: wait.unwrap_or_default() }),
            Err(e) => Err(e),
        }
    }

    /// When the agent is gone (`e` says the session is lost), reads what it left in the
    /// control dir instead; if that fails too, returns `e`.
    pub(crate) fn offline<T>(&self, e: Error, read: impl FnOnce(&Path) -> std::io::Result<T>) -> Result<T> {
        if !matches!(e.kind(), crate::ErrorKind::SessionLost | crate::ErrorKind::SessionNotFound) {
            return Err(e);
        }
        read(&self.inner.control_dir).map_err(|_| e)
    }

    /// Checks the agent answers (a round trip without spawning anything).
    pub async fn ping(&self) -> Result<()> {
        match self.call("session", &Request::Ping).await? {
            (_, Reply::Pong) => Ok(()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Removes the container (killing everything in it) and the control dir. Takes a
    /// fraction of a second: the container is killed, not asked to stop. Idempotent.
    pub async fn stop(&self) -> Result<()> {
        self.inner.stopped.store(true, Ordering::Release);
        control_dir::mark_stopping(&self.inner.control_dir);
        self.inner.client.lock().await.take();
        self.inner.engine.remove(&self.inner.container).await?;
        control_dir::remove(&self.inner.control_dir)
    }

    /// Whether [`stop`](Self::stop) was called on this handle (or a clone).
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }
}

/// How many times a call is sent again after its connection dropped (see
/// [`Session::call`]).
const REPEATS: u32 = 3;

/// The error for a request too large for one frame.
fn too_large(n: usize) -> Error {
    Error::invalid(
        "request",
        format!(
            "it encodes to {n} bytes, over the {} byte protocol limit (argv, environment or input too large)",
            sandbox_proto::MAX_PAYLOAD_LEN
        ),
    )
}

/// Maps an agent error reply to a typed error.
pub(crate) fn agent_error(e: sandbox_proto::ErrorReply) -> Error {
    agent_error_for("path", e)
}

/// Maps an agent error reply to a typed error about a `what` (task, terminal, file).
pub(crate) fn agent_error_for(what: &str, e: sandbox_proto::ErrorReply) -> Error {
    match e.kind {
        WireErrorKind::InvalidRequest => Error::InvalidInput { what: format!("{what} request"), reason: e.message },
        WireErrorKind::NotFound => Error::NotFound { what: what.into(), detail: e.message },
        WireErrorKind::ProtocolMismatch => Error::AgentVersionMismatch { detail: e.message },
        WireErrorKind::Timeout => Error::Timeout { action: e.message, after: Duration::ZERO },
        WireErrorKind::NotRunning => Error::NotRunning { what: what.into(), detail: e.message },
        WireErrorKind::PermissionDenied => Error::PermissionDenied { detail: e.message },
        WireErrorKind::Io => Error::io("inside the container", std::io::Error::other(e.message)),
        WireErrorKind::Internal => Error::Protocol { detail: format!("the agent failed: {}", e.message) },
    }
}

/// The error for a reply the agent should not have sent to this request.
pub(crate) fn unexpected(reply: &Reply) -> Error {
    Error::Protocol { detail: format!("unexpected reply from the agent: {reply:?}") }
}

#[cfg(test)]
mod tests {
    use crate::engine::{ContainerState, Engine};
    use crate::fake_engine::{exited, stopped_session};
    use crate::{Error, ErrorKind, ExecOptions};

    #[tokio::test]
    async fn an_attached_session_whose_container_died_is_lost_and_says_why() {
        let t = tempfile::tempdir().unwrap();
        let oom = ContainerState { oom_killed: true, ..exited(137) };
        let (engine, _sandbox, session) = stopped_session(t.path(), "gone", oom).await;
        let e = session.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        match &e {
            Error::SessionLost { id, detail, oom_killed, exit_code } => {
                assert_eq!(id, "gone");
                assert!(*oom_killed);
                assert_eq!(*exit_code, Some(137));
                assert!(detail.contains("exited (sandbox-gone) with code 137 after running out of memory"), "{detail}");
            }
            other => panic!("expected a lost session, got {other:?}"),
        }
        assert_eq!(session.ping().await.unwrap_err().kind(), ErrorKind::SessionLost);

        // Removed altogether since: the session is not found any more.
        engine.remove("sandbox-gone").await.unwrap();
        let e = session.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound, "{e}");
        assert!(e.to_string().contains("its container was removed"), "{e}");
    }
}
