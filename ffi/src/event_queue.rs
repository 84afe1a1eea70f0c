//! The read-ahead queue of an `sbx_event_stream`: its pump (a task on the library's
//! runtime) pushes the session's events in, `sbx_event_stream_next` (on the caller's
//! thread) takes them out, and a pipe is readable exactly while a take would not have to
//! wait, so a caller can put the stream into its own poll/epoll/select loop.

use std::collections::VecDeque;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::sync::{Mutex, MutexGuard};

use sandbox_core::SessionEvent;
use tokio::sync::Notify;

use crate::error::FfiError;
use crate::status::sbx_status;

/// Events read ahead of the caller at the most: the pump pauses while this many wait
/// (the stream in sandbox-core buffers one more batch of the agent's beyond that).
pub(crate) const READ_AHEAD: usize = 10_000;

/// What a reader gets from the queue.
pub(crate) enum Taken {
    /// The next event.
    Event(Box<SessionEvent>),
    /// The stream has ended (its `stopped` or `lost` event was taken already).
    Ended,
    /// The stream failed (e.g. a `from` beyond the journal): every take says so again.
    Failed(FfiError),
    /// Nothing yet.
    Nothing,
}

/// How the pump finished.
pub(crate) enum End {
    /// After the stream's last event.
    Ended,
    /// With an error.
    Failed(FfiError),
}

pub(crate) struct EventQueue {
    state: Mutex<State>,
    /// Woken when an event, the end, a failure or the close arrives (readers wait).
    arrived: Notify,
    /// Woken when a reader took an event (the pump waits while the queue is full).
    room: Notify,
    /// Holds one byte exactly while a take would not wait; only this file reads and
    /// writes it, under the state lock.
    reader: PipeReader,
    writer: PipeWriter,
}

struct State {
    events: VecDeque<SessionEvent>,
    /// Where the pump's next read starts (sandbox-core's stream position); `None`
    /// while a stream that started "now" has not read yet.
    read_position: Option<u64>,
    end: Option<End>,
    closed: bool,
    /// Whether the pipe holds its byte.
    signalled: bool,
}

impl EventQueue {
    /// An empty queue whose reads start at `position`.
    pub(crate) fn new(position: Option<u64>) -> Result<EventQueue, FfiError> {
        let (reader, writer) = std::io::pipe()
            .map_err(|e| FfiError::new(sbx_status::Io, format!("creating the event stream's pipe failed: {e}")))?;
        let state =
            State { events: VecDeque::new(), read_position: position, end: None, closed: false, signalled: false };
        Ok(EventQueue { state: Mutex::new(state), arrived: Notify::new(), room: Notify::new(), reader, writer })
    }

    /// The descriptor that is readable while a take would not wait.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the pipe's byte match the state: there exactly while a take would not wait.
    /// A pipe holding at most one byte never blocks either call; should one fail, the
    /// descriptor is only a hint and `sbx_event_stream_next` stays right.
    fn sync(&self, state: &mut State) {
        let ready = !state.events.is_empty() || state.end.is_some() || state.closed;
        if ready && !state.signalled {
            state.signalled = (&self.writer).write_all(&[1]).is_ok();
        } else if !ready && state.signalled {
            state.signalled = (&self.reader).read_exact(&mut [0]).is_err();
        }
    }

    /// The sequence number a new stream resumes at to get what this one's reader has not
    /// taken yet.
    pub(crate) fn position(&self) -> Option<u64> {
        let state = self.lock();
        state.events.front().map(|e| e.seq).or(state.read_position)
    }

    /// Waits until the queue has room (or was closed).
    pub(crate) async fn room(&self) {
        loop {
            let mut woken = pin!(self.room.notified());
            woken.as_mut().enable();
            {
                let state = self.lock();
                if state.events.len() < READ_AHEAD || state.closed {
                    return;
                }
            }
            woken.await;
        }
    }

    /// Records where the pump's next read starts after a read that found nothing.
    pub(crate) fn advance(&self, read_position: Option<u64>) {
        self.lock().read_position = read_position;
    }

    /// Adds an event the pump read; `read_position` is where its next read starts.
    pub(crate) fn push(&self, event: SessionEvent, read_position: Option<u64>) {
        let mut state = self.lock();
        state.events.push_back(event);
        state.read_position = read_position;
        self.sync(&mut state);
        drop(state);
        self.arrived.notify_waiters();
    }

    /// Records how the pump finished.
    pub(crate) fn finish(&self, end: End) {
        let mut state = self.lock();
        state.end = Some(end);
        self.sync(&mut state);
        drop(state);
        self.arrived.notify_waiters();
    }

    /// Marks the stream closed: the descriptor becomes readable (a read returns at once,
    /// with `SBX_STATUS_CLOSED`) and the pump stops waiting for room.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.sync(&mut state);
        drop(state);
        self.arrived.notify_waiters();
        self.room.notify_waiters();
    }

    /// What a reader gets now, without waiting.
    pub(crate) fn take(&self) -> Taken {
        let mut state = self.lock();
        let taken = match (state.events.pop_front(), &state.end) {
            (Some(e), _) => Taken::Event(Box::new(e)),
            (None, Some(End::Ended)) => Taken::Ended,
            (None, Some(End::Failed(e))) => Taken::Failed(e.clone()),
            (None, None) => Taken::Nothing,
        };
        self.sync(&mut state);
        drop(state);
        if matches!(taken, Taken::Event(_)) {
            self.room.notify_waiters();
        }
        taken
    }

    /// What a reader gets, waiting until there is something.
    pub(crate) async fn next(&self) -> Taken {
        loop {
            let mut woken = pin!(self.arrived.notified());
            woken.as_mut().enable();
            match self.take() {
                Taken::Nothing => woken.await,
                taken => return taken,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_core::{EventAction, EventKind};

    fn readable(q: &EventQueue) -> bool {
        let state = q.lock();
        state.signalled
    }

    fn event(seq: u64) -> SessionEvent {
        SessionEvent { seq, ..SessionEvent::new(EventKind::Process, EventAction::Started) }
    }

    #[test]
    fn the_pipe_holds_a_byte_exactly_while_a_take_would_not_wait() {
        let q = EventQueue::new(Some(5)).unwrap();
        assert!(!readable(&q));
        assert_eq!(q.position(), Some(5));
        assert!(matches!(q.take(), Taken::Nothing));
        q.push(event(5), Some(7));
        q.push(event(6), Some(7));
        assert!(readable(&q));
        assert_eq!(q.position(), Some(5));
        assert!(matches!(q.take(), Taken::Event(e) if e.seq == 5));
        assert!(readable(&q));
        assert_eq!(q.position(), Some(6));
        assert!(matches!(q.take(), Taken::Event(e) if e.seq == 6));
        assert!(!readable(&q));
        assert_eq!(q.position(), Some(7));
        q.finish(End::Ended);
        assert!(readable(&q));
        assert!(matches!(q.take(), Taken::Ended));
        assert!(matches!(q.take(), Taken::Ended));
        assert!(readable(&q), "an ended stream stays readable");
    }

    #[test]
    fn failures_are_sticky_and_close_makes_it_readable() {
        let q = EventQueue::new(None).unwrap();
        assert_eq!(q.position(), None);
        q.close();
        assert!(readable(&q));
        let q = EventQueue::new(Some(1)).unwrap();
        q.finish(End::Failed(FfiError::invalid("from", "beyond")));
        for _ in 0..2 {
            assert!(matches!(q.take(), Taken::Failed(e) if e.status == sbx_status::InvalidArgument));
        }
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_push() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let q = std::sync::Arc::new(EventQueue::new(Some(1)).unwrap());
        let pusher = q.clone();
        rt.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            pusher.push(event(1), Some(2));
        });
        assert!(matches!(rt.block_on(q.next()), Taken::Event(e) if e.seq == 1));
    }
}
