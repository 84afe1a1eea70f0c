//! One client connection: handshake, then requests multiplexed by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sandbox_proto::{
    ErrorKind, Frame, FrameKind, HelloReply, PROTOCOL_VERSION, Reply, Request, encode_frame, read_frame,
};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::groups::Groups;

/// Frames from the client that belong to a running request.
pub enum Inbound {
    /// Bytes for stdin; empty closes it.
    Stdin(Vec<u8>),
    /// More output the client can take.
    Credit(u64),
    /// Stop the request.
    Cancel,
}

/// Sends frames to the client; cloned into every request task.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Frame>,
}

impl Outbox {
    /// Queues a frame; `false` once the connection is gone.
    pub async fn send(&self, kind: FrameKind, id: u32, payload: Vec<u8>) -> bool {
        self.tx.send(Frame::new(kind, id, payload)).await.is_ok()
    }

    /// Queues the final reply of request `id`.
    pub async fn reply(&self, id: u32, reply: &Reply) -> bool {
        let json = serde_json::to_vec(reply).unwrap_or_else(|e| {
            format!(r#"{{"reply":"error","kind":"internal","message":"encoding reply: {e}"}}"#).into_bytes()
        });
        self.send(FrameKind::Reply, id, json).await
    }
}

type Routes = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Inbound>>>>;

/// Serves one connection until the client goes away. Requests still running then are
/// cancelled: their process groups are killed, as if the client had asked.
pub async fn handle(stream: UnixStream, groups: Arc<Groups>) {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(write_loop(wr, rx));
    let outbox = Outbox { tx };
    let mut rd = BufReader::with_capacity(256 * 1024, rd);
    let routes: Routes = Arc::default();

    if !handshake(&mut rd, &outbox).await {
        drop(outbox);
        let _ = writer.await;
        return;
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
            FrameKind::Request => start_request(frame, &outbox, &routes, &groups).await,
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
    drop(outbox);
    let _ = writer.await;
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

async fn start_request(frame: Frame, outbox: &Outbox, routes: &Routes, groups: &Arc<Groups>) {
    let id = frame.id;
    let request = match serde_json::from_slice::<Request>(&frame.payload) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("malformed request: {e}");
            let _ = outbox.reply(id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
            return;
        }
    };
    match request {
        Request::Hello { .. } => {
            let msg = "hello was already exchanged on this connection";
            let _ = outbox.reply(id, &Reply::error(ErrorKind::InvalidRequest, msg)).await;
        }
        Request::Ping => {
            let _ = outbox.reply(id, &Reply::Pong).await;
        }
        Request::Exec(exec) => {
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
            let groups = groups.clone();
            tokio::spawn(async move {
                let reply = crate::exec::run(id, exec, &outbox, rx, &groups).await;
                routes.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                let _ = outbox.reply(id, &reply).await;
            });
        }
    }
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Frame>) {
    let mut buf = Vec::with_capacity(256 * 1024);
    while let Some(first) = rx.recv().await {
        buf.clear();
        encode_frame(first.kind, first.id, &first.payload, &mut buf);
        // Batch whatever else is already queued into the same write.
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(f) => encode_frame(f.kind, f.id, &f.payload, &mut buf),
                Err(_) => break,
            }
        }
        if wr.write_all(&buf).await.is_err() {
            // The client is gone; keep draining so senders see the channel close soon.
            rx.close();
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = wr.shutdown().await;
}
