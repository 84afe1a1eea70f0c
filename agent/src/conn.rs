//! One client connection: handshake, then requests multiplexed by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sandbox_proto::{
    ErrorKind, Frame, FrameKind, HelloReply, PROTOCOL_VERSION, Reply, Request, encode_frame, encode_header, read_frame,
};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::outbox::{Inbound, Outbox};
use crate::state::AgentState;

type Routes = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Inbound>>>>;

/// Serves one connection until the client goes away. Requests still running then are
/// cancelled: their process groups are killed, as if the client had asked. `carrier`:
/// the pid of the process that carries it (a bridge), one no more once it is gone.
pub async fn handle(stream: UnixStream, state: Arc<AgentState>, carrier: Option<u32>) {
    if let Some(pid) = carrier {
        state.pause.add_carrier(pid);
    }
    let writer = serve_connection(stream, &state).await;
    // (Gone now, though requests of its connection may still be finishing.)
    if let Some(pid) = carrier {
        state.pause.remove_carrier(pid);
    }
    let _ = writer.await;
}

/// Serves the frames of one connection until the client goes away; returns its writer,
/// which ends once every request of the connection has.
async fn serve_connection(stream: UnixStream, state: &Arc<AgentState>) -> tokio::task::JoinHandle<()> {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(write_loop(wr, rx));
    let outbox = Outbox::new(tx);
    let mut rd = BufReader::with_capacity(256 * 1024, rd);
    let routes: Routes = Arc::default();

    if !handshake(&mut rd, &outbox).await {
        return writer;
    }

    loop {
        let frame = match read_frame(&mut rd).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    let _ = outbox.reply(0, &Reply::error(ErrorKind::InvalidRequest, e.to_string())).await;
                }
                break;
            }
        };
        match frame.kind {
            FrameKind::Request => {
                state.touch();
                start_request(frame, &outbox, &routes, state).await
            }
            FrameKind::Signal => match <[u8; 4]>::try_from(frame.payload.as_slice()).map(i32::from_le_bytes) {
                Ok(sig) => route(&routes, frame.id, Inbound::Signal(sig)),
                Err(_) => {
                    let msg = "signal frame payload must be 4 bytes";
                    let _ = outbox.reply(frame.id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
                }
            },
            FrameKind::Stdin => route(&routes, frame.id, Inbound::Stdin(frame.payload)),
            FrameKind::Cancel => route(&routes, frame.id, Inbound::Cancel),
            FrameKind::Credit => {
                let n = <[u8; 8]>::try_from(frame.payload.as_slice()).map(u64::from_le_bytes);
                match n {
                    Ok(n) => route(&routes, frame.id, Inbound::Credit(n)),
                    Err(_) => {
                        let msg = "credit frame payload must be 8 bytes";
                        let _ = outbox.reply(frame.id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
                    }
                }
            }
            other => {
                let msg = format!("frame kind {other:?} is not sent by clients");
                let _ = outbox.reply(frame.id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
            }
        }
    }
    // Dropping the routes tells every running request that its client is gone.
    routes.lock().unwrap_or_else(|p| p.into_inner()).clear();
    writer
}

async fn handshake(rd: &mut BufReader<tokio::net::unix::OwnedReadHalf>, outbox: &Outbox) -> bool {
    let frame = match read_frame(rd).await {
        Ok(Some(f)) => f,
        _ => return false,
    };
    let request = match frame.kind {
        FrameKind::Request => serde_json::from_slice::<Request>(&frame.payload).ok(),
        _ => None,
    };
    let reply = match request {
        Some(Request::Hello { protocol, .. }) if protocol == PROTOCOL_VERSION => {
            let hello = HelloReply {
                protocol: PROTOCOL_VERSION,
                agent: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
            };
            let ok = outbox.reply(frame.id, &Reply::Hello(hello)).await;
            return ok;
        }
        Some(Request::Hello { protocol, client }) => Reply::error(
            ErrorKind::ProtocolMismatch,
            format!(
                "sandbox-agent {} speaks protocol {PROTOCOL_VERSION}, but {client} speaks protocol {protocol}",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        _ => Reply::error(ErrorKind::InvalidRequest, "the first frame must be a hello request"),
    };
    let _ = outbox.reply(frame.id, &reply).await;
    false
}

fn route(routes: &Routes, id: u32, msg: Inbound) {
    if let Some(tx) = routes.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        let _ = tx.send(msg);
    }
}

/// Requests that take frames after the request itself (stdin, credit, cancel, signal)
/// get a route; the rest run with an empty inbound channel.
async fn start_request(frame: Frame, outbox: &Outbox, routes: &Routes, state: &Arc<AgentState>) {
    let id = frame.id;
    let request = match serde_json::from_slice::<Request>(&frame.payload) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("malformed request: {e}");
            let _ = outbox.reply(id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
            return;
        }
    };
    if let Request::Hello { .. } = request {
        let msg = "hello was already exchanged on this connection";
        let _ = outbox.reply(id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let fresh = {
        let mut map = routes.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = !map.contains_key(&id);
        if fresh {
            map.insert(id, tx);
        }
        fresh
    };
    if !fresh {
        let msg = format!("request id {id} is already running");
        let _ = outbox.reply(id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
        return;
    }
    let outbox = outbox.clone();
    let routes = routes.clone();
    let state = state.clone();
    tokio::spawn(async move {
        let reply = serve(id, request, &outbox, rx, &state).await;
        routes.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        let _ = outbox.reply(id, &reply).await;
    });
}

fn serve<'a>(
    id: u32,
    request: Request,
    outbox: &'a Outbox,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    state: &'a Arc<AgentState>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + 'a>> {
    // Boxed: a keyed call serves the request it carries.
    Box::pin(serve_now(id, request, outbox, inbound, state))
}

async fn serve_now(
    id: u32,
    request: Request,
    outbox: &Outbox,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
    state: &Arc<AgentState>,
) -> Reply {
    use crate::{files, tasks, terminals};
    // The same checks the host ran before sending: a client that skipped them is
    // refused the same way, before anything is spawned or touched.
    if let Err(e) = request.validate() {
        return Reply::error(ErrorKind::InvalidRequest, e.to_string());
    }
    match request {
        Request::Hello { .. } => Reply::error(ErrorKind::InvalidRequest, "hello was already exchanged"),
        Request::Ping => Reply::Pong,
        Request::Exec(exec) => crate::exec::run(id, exec, outbox, inbound, &state.groups, &state.pause).await,
        Request::SpawnTask(req) => match state.pause.start("a task") {
            Ok(_starting) => tasks::spawn(req, &state.tasks, &state.groups, &state.control_dir).await,
            Err(refused) => refused,
        },
        Request::ListTasks => Reply::Tasks { tasks: state.tasks.infos() },
        Request::TaskInfo { id } => state.tasks.get(&id).map_or_else(|r| r, |t| Reply::Task(t.info())),
        Request::WaitTask { id, timeout_ms } => state.tasks.wait(&id, timeout_ms).await,
        Request::KillTask { id, signal } => tasks::kill(&id, signal, &state.tasks),
        Request::ReadOutput(req) => crate::read_output::read(id, req, outbox, state).await,
        Request::OpenTerminal(req) => match state.pause.start("a terminal") {
            Ok(_starting) => terminals::open(req, &state.terminals, &state.groups, &state.control_dir).await,
            Err(refused) => refused,
        },
        // The input follows the request at once: a connection that went half-open in
        // between does not hold the write (and a repeat of its key) for ever.
        Request::WriteTerminal { id: term } => {
            let wait = std::time::Duration::from_millis(sandbox_proto::limits::TERMINAL_INPUT_WAIT_MS);
            let input = tokio::time::timeout(wait, async {
                loop {
                    match inbound.recv().await {
                        Some(Inbound::Stdin(bytes)) => return Some(bytes),
                        Some(Inbound::Cancel) | None => return None,
                        Some(_) => {}
                    }
                }
            });
            match input.await {
                Ok(Some(bytes)) => terminals::write(&term, &bytes, &state.terminals).await,
                Ok(None) | Err(_) => Reply::cancelled(),
            }
        }
        Request::ResizeTerminal { id, rows, cols } => terminals::resize(&id, rows, cols, &state.terminals),
        Request::KillTerminal { id, signal } => terminals::kill(&id, signal, &state.terminals),
        Request::WaitTerminal { id, timeout_ms } => state.terminals.wait(&id, timeout_ms).await,
        Request::ListTerminals => Reply::Terminals { terminals: state.terminals.infos() },
        Request::ReadFile { path, window, offset, stamp } => {
            let from = files::ReadFrom { offset: offset.unwrap_or(0), stamp };
            files::read_file(id, path, window, from, outbox, inbound).await
        }
        Request::WriteFile { path, mode } => files::write_file(id, path, mode, outbox, inbound).await,
        Request::ListDir { path } => files::list_dir(path).await,
        Request::Stat { path } => files::stat(path).await,
        Request::Remove { path, recursive } => files::remove(path, recursive).await,
        Request::ReadEvents(req) => crate::journal::journal().read(req).await,
        Request::Watch { path } => watch(path, state.clone()).await,
        Request::Stats => match tokio::task::spawn_blocking(crate::resources::sample).await {
            Ok(s) => Reply::Stats(s),
            Err(e) => Reply::error(ErrorKind::Internal, format!("sampling resources failed: {e}")),
        },
        // (The inbound channel goes along: a terminal write takes its input from it.)
        Request::Once { key, request } => {
            state.onces.run(key, *request, |request| serve(id, request, outbox, inbound, state)).await
        }
        Request::Pause | Request::Resume => {
            let resume = matches!(request, Request::Resume);
            let state = state.clone();
            tokio::task::spawn_blocking(move || if resume { state.pause.resume() } else { state.pause.pause() })
                .await
                .unwrap_or_else(|e| Reply::error(ErrorKind::Internal, format!("pausing failed: {e}")))
        }
    }
}

/// Watches `path` for file changes too.
async fn watch(path: String, state: Arc<AgentState>) -> Reply {
    tokio::task::spawn_blocking(move || watch_now(std::path::Path::new(&path), &state))
        .await
        .unwrap_or_else(|e| Reply::error(ErrorKind::Internal, format!("watching failed: {e}")))
}

fn watch_now(path: &std::path::Path, state: &AgentState) -> Reply {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Reply::error(ErrorKind::InvalidRequest, format!("{} is not a directory", path.display())),
        Err(e) => return Reply::io_error(&format!("watching {}", path.display()), &e),
    }
    match &state.watcher {
        Some(w) => {
            w.add_root(path, crate::journal::journal());
            Reply::Done { bytes: 0 }
        }
        None => Reply::error(ErrorKind::Internal, "file changes cannot be watched in this session"),
    }
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Frame>) {
    let mut buf = Vec::with_capacity(256 * 1024);
    while let Some(first) = rx.recv().await {
        // Small frames are batched into one write; a large payload is written from its
        // own buffer after its header, without copying it.
        let mut next = Some(first);
        let mut failed = false;
        while let Some(f) = next.take() {
            if f.payload.len() >= 32 * 1024 {
                encode_header(f.kind, f.id, f.payload.len(), &mut buf);
                failed = wr.write_all(&buf).await.is_err() || wr.write_all(&f.payload).await.is_err();
                buf.clear();
            } else {
                encode_frame(f.kind, f.id, &f.payload, &mut buf);
            }
            if failed {
                break;
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if !failed && !buf.is_empty() {
            failed = wr.write_all(&buf).await.is_err();
            buf.clear();
        }
        if failed {
            // The client is gone; keep draining so senders see the channel close soon.
            rx.close();
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = wr.shutdown().await;
}
