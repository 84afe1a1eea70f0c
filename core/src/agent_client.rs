//! Host side of the agent protocol: one connection per session, many concurrent calls
//! multiplexed over it by request id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandbox_proto::{
    ErrorKind as WireErrorKind, Event, Frame, FrameKind, PROTOCOL_VERSION, Reply, Request, encode_frame, read_frame,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// What arrives for one call.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Raw stdout bytes.
    Stdout(Vec<u8>),
    /// Raw stderr bytes.
    Stderr(Vec<u8>),
    /// The final reply.
    Reply(Reply),
    /// The connection ended before the reply; the text says how.
    Lost(String),
}

/// Bytes of stdin a call may have in flight (sent, not yet written to the process by
/// the agent): bounds the agent's memory whatever the caller sends.
pub(crate) const STDIN_WINDOW: u64 = 1024 * 1024;

/// What one call's route (fed by the reader) and its sender share: stdin flow control,
/// and the last event the agent sent for the call.
#[derive(Default)]
struct CallShared {
    sent: AtomicU64,
    acked: AtomicU64,
    ended: AtomicBool,
    notify: Notify,
    /// The last event of the call (other than stdin acknowledgements).
    said: Mutex<Option<Event>>,
}

impl CallShared {
    /// The call ended: input writers waiting for room give up.
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

struct Route {
    tx: mpsc::UnboundedSender<Incoming>,
    shared: Arc<CallShared>,
}

#[derive(Default)]
struct Routes {
    map: HashMap<u32, Route>,
    closed: Option<String>,
}

type SharedRoutes = Arc<Mutex<Routes>>;

fn lock(r: &SharedRoutes) -> std::sync::MutexGuard<'_, Routes> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handshaken connection to one session's agent.
pub(crate) struct AgentClient {
    out: mpsc::Sender<Frame>,
    routes: SharedRoutes,
    next_id: AtomicU32,
    agent_version: String,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    // The process carrying the connection (a bridge), killed with the client.
    _carrier: Option<tokio::process::Child>,
}

impl Drop for AgentClient {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        // Calls still waiting (on clones of the session) learn that the connection is
        // gone; the aborted reader would never tell them.
        close_all(&self.routes, "the connection to the agent was closed".to_string());
    }
}

/// The reading half of a connection to an agent.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection to an agent.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A byte stream to an agent (a socket, or a bridge process: see `transport.rs`): its two
/// halves, and the process carrying it, if one does (killed with the connection).
pub(crate) struct AgentStream {
    rd: ReadHalf,
    wr: WriteHalf,
    carrier: Option<tokio::process::Child>,
}

impl AgentStream {
    /// The stdin and stdout of `child` (both piped), which lives as long as the stream.
    pub fn over_child(mut child: tokio::process::Child) -> std::io::Result<AgentStream> {
        let missing = || std::io::Error::other("the bridge process has no piped stdin or stdout");
        let rd = Box::new(child.stdout.take().ok_or_else(missing)?);
        let wr = Box::new(child.stdin.take().ok_or_else(missing)?);
        Ok(AgentStream { rd, wr, carrier: Some(child) })
    }
}

/// What a carrying process said on stderr before it ended (a bridge's refusal), waiting
/// for it a moment; empty when there is none.
async fn carrier_said(carrier: &mut Option<tokio::process::Child>) -> String {
    let Some(mut err) = carrier.as_mut().and_then(|c| c.stderr.take()) else { return String::new() };
    let mut text = String::new();
    let read = async { err.read_to_string(&mut text).await };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    text.trim().to_string()
}

impl From<UnixStream> for AgentStream {
    fn from(stream: UnixStream) -> AgentStream {
        let (rd, wr) = stream.into_split();
        AgentStream { rd: Box::new(rd), wr: Box::new(wr), carrier: None }
    }
}

/// How long the handshake may take before the agent counts as unresponsive.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl AgentClient {
    /// Performs the versioned handshake on a fresh connection.
    pub async fn handshake(stream: impl Into<AgentStream>, client_name: &str) -> Result<AgentClient> {
        let AgentStream { rd, mut wr, mut carrier } = stream.into();
        let mut rd = BufReader::with_capacity(256 * 1024, rd);
        let hello = Request::Hello { protocol: PROTOCOL_VERSION, client: client_name.to_string() };
        let mut buf = Vec::new();
        encode_frame(FrameKind::Request, 0, &serde_json::to_vec(&hello).expect("hello encodes"), &mut buf);
        let proto_err = |detail: String| Error::Protocol { detail };
        let exchange = async {
            wr.write_all(&buf).await.map_err(|e| proto_err(format!("sending the handshake: {e}")))?;
            read_frame(&mut rd).await.map_err(|e| proto_err(format!("reading the handshake reply: {e}")))
        };
        let frame = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
            .await
            .map_err(|_| Error::Timeout { action: "agent handshake".into(), after: HANDSHAKE_TIMEOUT })?;
        let frame = match frame {
            Ok(Some(frame)) => frame,
            ended => {
                // Through a bridge, the bridge's own words say why (a refused socket).
                let said = carrier_said(&mut carrier).await;
                let why = match ended {
                    Err(e) => e.to_string(),
                    Ok(_) => "the agent closed the connection during the handshake".into(),
                };
                return Err(proto_err(if said.is_empty() { why } else { format!("{why}: {said}") }));
            }
        };
        if frame.kind != FrameKind::Reply {
            return Err(proto_err(format!("expected a handshake reply, got a {:?} frame", frame.kind)));
        }
        let reply: Reply =
            serde_json::from_slice(&frame.payload).map_err(|e| proto_err(format!("malformed handshake reply: {e}")))?;
        let agent_version = match reply {
            Reply::Hello(h) if h.protocol == PROTOCOL_VERSION => h.agent,
            Reply::Hello(h) => {
                return Err(Error::AgentVersionMismatch {
                    detail: format!(
                        "agent {} speaks protocol {}, this library ({client_name}) speaks {PROTOCOL_VERSION}",
                        h.agent, h.protocol
                    ),
                });
            }
            Reply::Error(e) if e.kind == WireErrorKind::ProtocolMismatch => {
                return Err(Error::AgentVersionMismatch { detail: e.message });
            }
            other => return Err(proto_err(format!("unexpected handshake reply {other:?}"))),
        };
        let routes: SharedRoutes = Arc::default();
        let (out, out_rx) = mpsc::channel(256);
        let reader = tokio::spawn(read_loop(rd, routes.clone()));
        let writer = tokio::spawn(write_loop(wr, out_rx, routes.clone()));
        Ok(AgentClient { out, routes, next_id: AtomicU32::new(1), agent_version, reader, writer, _carrier: carrier })
    }

    /// The agent's version from the handshake.
    pub fn agent_version(&self) -> &str {
        &self.agent_version
    }

    /// Why the connection is closed, if it is.
    pub fn closed(&self) -> Option<String> {
        lock(&self.routes).closed.clone()
    }

    /// Sends a request and returns the call that receives its frames.
    pub async fn call(&self, request: &Request) -> std::result::Result<Call, CallError> {
        let payload = serde_json::to_vec(request).map_err(|e| CallError::Closed(format!("encoding request: {e}")))?;
        if payload.len() > sandbox_proto::MAX_PAYLOAD_LEN {
            return Err(CallError::TooLarge(payload.len()));
        }
        let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(CallShared::default());
        {
            let mut r = lock(&self.routes);
            if let Some(why) = &r.closed {
                return Err(CallError::Closed(why.clone()));
            }
            r.map.insert(id, Route { tx, shared: shared.clone() });
        }
        let sender = CallSender { id, out: self.out.clone(), routes: self.routes.clone(), shared };
        let call = Call { sender, rx, finished: false };
        call.sender.send(FrameKind::Request, payload).await.map_err(CallError::Closed)?;
        Ok(call)
    }
}

/// Why a request could not be sent.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The encoded request is larger than a frame may be (bad input, not a lost agent).
    TooLarge(usize),
    /// The connection is closed; the text says how.
    Closed(String),
}

/// One in-flight request. Dropping it before its reply cancels the request in the agent
/// (which kills the process group): an abandoned call never leaves work running.
pub(crate) struct Call {
    sender: CallSender,
    rx: mpsc::UnboundedReceiver<Incoming>,
    finished: bool,
}

/// Sends frames belonging to one call (stdin, credit, cancel); cloneable so input can
/// be fed while output is read.
#[derive(Clone)]
pub(crate) struct CallSender {
    id: u32,
    out: mpsc::Sender<Frame>,
    routes: SharedRoutes,
    shared: Arc<CallShared>,
}

impl CallSender {
    /// Sends stdin bytes, first waiting until less than [`STDIN_WINDOW`] is in flight.
    /// An empty slice closes the process's stdin.
    pub async fn send_stdin(&self, bytes: &[u8]) -> std::result::Result<(), String> {
        let flow = &self.shared;
        loop {
            let notified = flow.notify.notified();
            let in_flight = flow.sent.load(Ordering::Acquire).saturating_sub(flow.acked.load(Ordering::Acquire));
            if in_flight < STDIN_WINDOW {
                break;
            }
            if let Some(why) = lock(&self.routes).closed.clone() {
                return Err(why);
            }
            if flow.ended.load(Ordering::Acquire) {
                return Err("the command has ended".into());
            }
            notified.await;
        }
        flow.sent.fetch_add(bytes.len() as u64, Ordering::AcqRel);
        self.send(FrameKind::Stdin, bytes.to_vec()).await
    }

    /// Sends a signal to the call's process group.
    pub async fn signal(&self, signal: i32) -> std::result::Result<(), String> {
        self.send(FrameKind::Signal, signal.to_le_bytes().to_vec()).await
    }

    /// Grants the agent room for `n` more output bytes.
    pub async fn credit(&self, n: u64) -> std::result::Result<(), String> {
        self.send(FrameKind::Credit, n.to_le_bytes().to_vec()).await
    }

    /// Sends one frame of this call.
    pub async fn send(&self, kind: FrameKind, payload: Vec<u8>) -> std::result::Result<(), String> {
        self.out
            .send(Frame::new(kind, self.id, payload))
            .await
            .map_err(|_| lock(&self.routes).closed.clone().unwrap_or_else(|| "connection closed".into()))
    }
}

impl Call {
    /// A sender for this call's input frames.
    pub fn sender(&self) -> CallSender {
        self.sender.clone()
    }

    /// The last event the agent sent for this call so far (other than stdin
    /// acknowledgements), if any.
    pub fn said(&self) -> Option<Event> {
        self.sender.shared.said.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next frame for this call; `Lost` once the connection is gone.
    pub async fn next(&mut self) -> Incoming {
        match self.rx.recv().await {
            Some(Incoming::Reply(r)) => {
                self.finished = true;
                Incoming::Reply(r)
            }
            Some(other) => other,
            None => {
                self.finished = true;
                Incoming::Lost(lock(&self.sender.routes).closed.clone().unwrap_or_else(|| "connection closed".into()))
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let s = &self.sender;
        lock(&s.routes).map.remove(&s.id);
        s.shared.end();
        if !self.finished {
            let cancel = Frame::new(FrameKind::Cancel, s.id, Vec::new());
            if let Err(mpsc::error::TrySendError::Full(f)) = s.out.try_send(cancel) {
                let out = s.out.clone();
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(async move {
                        let _ = out.send(f).await;
                    });
                }
            }
        }
    }
}

fn close_all(routes: &SharedRoutes, why: String) {
    let mut r = lock(routes);
    if r.closed.is_none() {
        r.closed = Some(why.clone());
    }
    for (_, route) in r.map.drain() {
        let _ = route.tx.send(Incoming::Lost(why.clone()));
        route.shared.end();
    }
}

async fn read_loop(mut rd: BufReader<ReadHalf>, routes: SharedRoutes) {
    let why = loop {
        let frame = match read_frame(&mut rd).await {
            Ok(Some(f)) => f,
            Ok(None) => break "the agent closed the connection".to_string(),
            Err(e) => break format!("reading from the agent failed: {e}"),
        };
        let msg = match frame.kind {
            FrameKind::Stdout => Incoming::Stdout(frame.payload),
            FrameKind::Stderr => Incoming::Stderr(frame.payload),
            FrameKind::Reply => match serde_json::from_slice::<Reply>(&frame.payload) {
                Ok(r) => Incoming::Reply(r),
                Err(e) => break format!("the agent sent a malformed reply: {e}"),
            },
            FrameKind::Event => match serde_json::from_slice::<Event>(&frame.payload) {
                Ok(Event::StdinAck { total }) => {
                    if let Some(route) = lock(&routes).map.get(&frame.id) {
                        route.shared.acked.store(total, Ordering::Release);
                        route.shared.notify.notify_waiters();
                    }
                    continue;
                }
                // Kept for the call to look at when it wants (a file read's stamp).
                Ok(event) => {
                    if let Some(route) = lock(&routes).map.get(&frame.id) {
                        *route.shared.said.lock().unwrap_or_else(|p| p.into_inner()) = Some(event);
                    }
                    continue;
                }
                // An event this version does not know says nothing it needs.
                Err(_) => continue,
            },
            other => break format!("the agent sent a {other:?} frame, which only clients send"),
        };
        if frame.id == 0
            && let Incoming::Reply(Reply::Error(e)) = &msg
        {
            break format!("the agent rejected the connection: {}", e.message);
        }
        let mut r = lock(&routes);
        let is_reply = matches!(msg, Incoming::Reply(_));
        if let Some(route) = r.map.get(&frame.id) {
            let _ = route.tx.send(msg);
        }
        if is_reply && let Some(route) = r.map.remove(&frame.id) {
            route.shared.end();
        }
    };
    close_all(&routes, why);
}

async fn write_loop(mut wr: WriteHalf, mut rx: mpsc::Receiver<Frame>, routes: SharedRoutes) {
    let mut buf = Vec::with_capacity(256 * 1024);
    while let Some(first) = rx.recv().await {
        buf.clear();
        encode_frame(first.kind, first.id, &first.payload, &mut buf);
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(f) => encode_frame(f.kind, f.id, &f.payload, &mut buf),
                Err(_) => break,
            }
        }
        if let Err(e) = wr.write_all(&buf).await {
            close_all(&routes, format!("writing to the agent failed: {e}"));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_proto::{ErrorReply, HelloReply};

    /// A peer that answers the handshake with `reply` (or closes when `None`).
    fn fake_agent(reply: Option<Reply>) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        tokio::spawn(async move {
            let (mut r, mut w) = theirs.into_split();
            let _ = read_frame(&mut r).await;
            if let Some(reply) = reply {
                let mut buf = Vec::new();
                encode_frame(FrameKind::Reply, 0, &serde_json::to_vec(&reply).unwrap(), &mut buf);
                let _ = w.write_all(&buf).await;
                // Keep the connection open until the client is done with it.
                let _ = read_frame(&mut r).await;
            }
        });
        ours
    }

    #[tokio::test]
    async fn an_agent_of_another_protocol_is_a_version_mismatch() {
        let hello = Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION + 1, agent: "9.9.9".into(), pid: 1 });
        let e = AgentClient::handshake(fake_agent(Some(hello)), "test").await.err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::AgentVersionMismatch);
        assert!(e.to_string().contains("9.9.9"), "{e}");

        let refusal =
            Reply::Error(ErrorReply { kind: WireErrorKind::ProtocolMismatch, message: "agent speaks 7".into() });
        let e = AgentClient::handshake(fake_agent(Some(refusal)), "test").await.err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::AgentVersionMismatch);
        assert!(e.to_string().contains("agent speaks 7"), "{e}");
    }

    #[tokio::test]
    async fn a_peer_that_hangs_up_or_talks_nonsense_is_a_protocol_error() {
        let e = AgentClient::handshake(fake_agent(None), "test").await.err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol, "{e}");
        let e = AgentClient::handshake(fake_agent(Some(Reply::Pong)), "test").await.err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol, "{e}");
    }

    #[tokio::test]
    async fn a_good_handshake_then_a_lost_connection_fails_pending_calls() {
        let hello = Reply::Hello(HelloReply { protocol: PROTOCOL_VERSION, agent: "0.1.0".into(), pid: 1 });
        let client = AgentClient::handshake(fake_agent(Some(hello)), "test").await.unwrap();
        assert_eq!(client.agent_version(), "0.1.0");
        let mut call = client.call(&Request::Ping).await.unwrap();
        // The fake agent hangs up after reading one more frame (our ping).
        match call.next().await {
            Incoming::Lost(why) => assert!(why.contains("closed"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(client.closed().is_some());
        assert!(matches!(client.call(&Request::Ping).await, Err(CallError::Closed(_))));
    }
}
