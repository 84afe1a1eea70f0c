//! Reads of spooled task output and terminal scrollback: bytes in `Stdout` frames, then
//! an `Output` reply with the offsets and retained window.

use std::sync::Arc;
use std::time::Duration;

use sandbox_proto::spool::ReadError;
use sandbox_proto::{ErrorKind, FrameKind, OutputMeta, OutputSource, ReadOutput, Reply};
use tokio::time::Instant;

use crate::outbox::Outbox;
use crate::output_log::OutputLog;
use crate::state::AgentState;

const FRAME: usize = 1024 * 1024;

enum Holder {
    Task(Arc<crate::tasks::Task>, sandbox_proto::TaskStream),
    Terminal(Arc<crate::terminals::Terminal>),
}

impl Holder {
    fn log(&self) -> &OutputLog {
        match self {
            Holder::Task(t, s) => t.io.log(*s),
            Holder::Terminal(t) => &t.io.log,
        }
    }
}

/// Serves one read.
pub async fn read(id: u32, req: ReadOutput, outbox: &Outbox, state: &AgentState) -> Reply {
    let holder = match &req.source {
        OutputSource::Task { id, stream } => match state.tasks.get(id) {
            Ok(t) => Holder::Task(t, *stream),
            Err(r) => return r,
        },
        OutputSource::Terminal { id } => match state.terminals.get(id) {
            Ok(t) => Holder::Terminal(t),
            Err(r) => return r,
        },
    };
    let log = holder.log();
    let max = req.max as usize;
    let mut r = match log.read(req.offset, req.tail, max) {
        Ok(r) => r,
        Err(e @ ReadError::PastEnd { .. }) => return Reply::error(ErrorKind::InvalidRequest, e.to_string()),
        Err(ReadError::Io(e)) => return Reply::io_error("reading spooled output", &e),
    };
    if r.chunk.data.is_empty()
        && !r.finished
        && req.tail.is_none()
        && let Some(ms) = req.wait_ms.filter(|&ms| ms > 0)
    {
        let deadline = Instant::now() + Duration::from_millis(ms);
        if !log.wait_beyond(r.chunk.offset, deadline).await {
            return Reply::error(ErrorKind::Timeout, format!("no new output within {ms} ms"));
        }
        r = match log.read(r.chunk.offset, None, max) {
            Ok(r) => r,
            Err(e) => return Reply::error(ErrorKind::Io, e.to_string()),
        };
    }
    for part in r.chunk.data.chunks(FRAME) {
        if !outbox.send(FrameKind::Stdout, id, part.to_vec()).await {
            return Reply::error(ErrorKind::Internal, "client gone");
        }
    }
    Reply::Output(OutputMeta {
        offset: r.chunk.offset,
        len: r.chunk.data.len() as u64,
        window_start: r.chunk.window_start,
        end: r.chunk.end,
        finished: r.finished && r.chunk.next_offset() >= r.chunk.end,
        lost: r.lost,
    })
}
