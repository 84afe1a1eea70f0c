//! The session's event journal: a bounded, numbered record of what happened (file
//! changes, processes, ports, resource samples, lifecycle). Recorders push; readers ask
//! by sequence number, optionally waiting, and learn about what they missed as an
//! explicit gap.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sandbox_proto::events::{EventBatch, JOURNAL_CAPACITY, ReadEvents, SessionEvent};
use sandbox_proto::{ErrorKind, Reply};
use tokio::sync::watch;

use crate::ids::now_ms;

/// A bounded journal of events.
pub struct Journal {
    inner: Mutex<Inner>,
    /// The next sequence number, published after each push (readers wait on it).
    next: watch::Sender<u64>,
}

struct Inner {
    events: VecDeque<SessionEvent>,
    capacity: usize,
    /// The sequence number the next event gets.
    next: u64,
}

impl Inner {
    fn oldest(&self) -> u64 {
        self.next - self.events.len() as u64
    }
}

/// The agent's journal.
pub fn journal() -> &'static Journal {
    static JOURNAL: OnceLock<Journal> = OnceLock::new();
    JOURNAL.get_or_init(|| Journal::new(JOURNAL_CAPACITY))
}

/// Records `e` in the agent's journal (a shorthand for recorders).
pub fn record(e: SessionEvent) {
    journal().push_all(std::iter::once(e));
}

impl Journal {
    /// An empty journal keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Journal {
        let inner = Inner { events: VecDeque::new(), capacity: capacity.max(1), next: 1 };
        Journal { inner: Mutex::new(inner), next: watch::Sender::new(1) }
    }

    /// Records events in order, numbering and timestamping them (an event's own time is
    /// kept when set), dropping the oldest beyond the capacity.
    pub fn push_all(&self, events: impl IntoIterator<Item = SessionEvent>) {
        let next = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let now = now_ms();
            for mut e in events {
                e.seq = inner.next;
                if e.time_ms == 0 {
                    e.time_ms = now;
                }
                inner.next += 1;
                if inner.events.len() == inner.capacity {
                    inner.events.pop_front();
                }
                inner.events.push_back(e);
            }
            inner.next
        };
        self.next.send_if_modified(|n| {
            let changed = *n != next;
            *n = next;
            changed
        });
    }

    /// The events `req` asks for that are there now (none waited for). An error reply
    /// for a sequence number the journal has not reached.
    pub fn read_now(&self, req: &ReadEvents) -> Result<EventBatch, Reply> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = inner.oldest();
        let from = req.from.unwrap_or(inner.next);
        if from > inner.next {
            return Err(Reply::error(
                ErrorKind::InvalidRequest,
                format!(
                    "invalid from: sequence number {from} is from the future (the journal's next event will be {})",
                    inner.next
                ),
            ));
        }
        let max = req.max as usize;
        let mut events = Vec::new();
        if from < oldest {
            events.push(SessionEvent::gap(oldest - 1, oldest - from, now_ms()));
        }
        let start = (from.max(oldest) - oldest) as usize;
        let mut next = from.max(oldest);
        for e in inner.events.range(start..) {
            if events.len() >= max {
                break;
            }
            next = e.seq + 1;
            if req.filter.matches(e) {
                events.push(e.clone());
            }
        }
        Ok(EventBatch { events, next, oldest })
    }

    /// Like [`read_now`](Self::read_now), but when no event passes yet, waits up to
    /// `req.wait_ms` for one; then replies with what there is (maybe nothing).
    pub async fn read(&self, mut req: ReadEvents) -> Reply {
        let wait = Duration::from_millis(req.wait_ms.unwrap_or(0));
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = self.next.subscribe();
        loop {
            seen.borrow_and_update();
            let batch = match self.read_now(&req) {
                Ok(b) => b,
                Err(reply) => return reply,
            };
            if !batch.events.is_empty() || tokio::time::Instant::now() >= deadline {
                return Reply::Events(batch);
            }
            // Nothing passed: go on from where this read stopped.
            req.from = Some(batch.next);
            if tokio::time::timeout_at(deadline, seen.changed()).await.is_err() {
                let batch = self.read_now(&req);
                return batch.map_or_else(|r| r, Reply::Events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sandbox_proto::events::{EventAction, EventFilter, EventKind};

    use super::*;

    fn file(n: u32) -> SessionEvent {
        SessionEvent::file(EventAction::Created, format!("/w/f{n}"), false)
    }

    fn req(from: Option<u64>, max: u32) -> ReadEvents {
        ReadEvents { from, max, wait_ms: None, filter: EventFilter::default() }
    }

    #[test]
    fn numbers_events_from_one_and_resumes_by_number() {
        let j = Journal::new(100);
        j.push_all((0..5).map(file));
        let b = j.read_now(&req(Some(1), 3)).unwrap();
        assert_eq!(b.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(b.next, 4);
        let b = j.read_now(&req(Some(b.next), 10)).unwrap();
        assert_eq!(b.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(b.next, 6);
        assert!(j.read_now(&req(None, 10)).unwrap().events.is_empty(), "no `from`: only what comes next");
    }

    #[test]
    fn a_reader_behind_the_journal_gets_a_gap_that_counts_what_it_missed() {
        let j = Journal::new(4);
        j.push_all((0..10).map(file));
        let b = j.read_now(&req(Some(2), 100)).unwrap();
        assert_eq!(b.oldest, 7);
        let gap = &b.events[0];
        assert_eq!((gap.kind, gap.dropped, gap.seq), (EventKind::Gap, Some(5), 6));
        assert_eq!(b.events[1..].iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8, 9, 10]);
    }

    #[test]
    fn a_sequence_number_from_the_future_is_refused() {
        let j = Journal::new(4);
        j.push_all((0..2).map(file));
        assert!(j.read_now(&req(Some(3), 1)).is_ok(), "the next number is not the future");
        match j.read_now(&req(Some(4), 1)) {
            Err(Reply::Error(e)) => {
                assert_eq!(e.kind, ErrorKind::InvalidRequest);
                assert!(e.message.contains("future"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_filtered_read_moves_past_what_it_skipped() {
        let j = Journal::new(100);
        j.push_all([file(1), SessionEvent::lifecycle(EventAction::Started, None), file(2)]);
        let mut r = req(Some(1), 10);
        r.filter.kinds = vec![EventKind::Lifecycle];
        let b = j.read_now(&r).unwrap();
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.next, 4);
    }

    #[tokio::test]
    async fn a_waiting_read_returns_as_soon_as_a_matching_event_comes() {
        let j = std::sync::Arc::new(Journal::new(100));
        let mut r = req(Some(1), 10);
        r.wait_ms = Some(10_000);
        r.filter.kinds = vec![EventKind::Port];
        let reader = tokio::spawn({
            let j = j.clone();
            async move { j.read(r).await }
        });
        j.push_all([file(1)]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!reader.is_finished(), "an event the filter refuses does not end the wait");
        j.push_all([SessionEvent::new(EventKind::Port, EventAction::Listening)]);
        match reader.await.unwrap() {
            Reply::Events(b) => assert_eq!((b.events.len(), b.events[0].seq, b.next), (1, 2, 3)),
            other => panic!("{other:?}"),
        }
    }
}
