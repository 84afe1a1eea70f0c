//! The two directions of a request's traffic on a connection: [`Outbox`] queues frames
//! for the client, [`Inbound`] carries the client's frames to the request they belong to.

use sandbox_proto::{Frame, FrameKind, Reply};
use tokio::sync::mpsc;

/// Frames from the client that belong to a running request.
pub enum Inbound {
    /// Bytes for stdin; empty closes it.
    Stdin(Vec<u8>),
    /// More output the client can take.
    Credit(u64),
    /// Stop the request.
    Cancel,
    /// Send a signal to the request's process group.
    Signal(i32),
}

/// Sends frames to the client; cloned into every request task.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Frame>,
}

impl Outbox {
    /// An outbox feeding `tx`; the connection's writer (or a test) takes the frames.
    pub fn new(tx: mpsc::Sender<Frame>) -> Outbox {
        Outbox { tx }
    }

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
