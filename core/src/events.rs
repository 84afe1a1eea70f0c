//! The session's event stream: file changes, processes, ports, resource samples and
//! lifecycle, from the journal the session's agent keeps, resumable by sequence number.
//!
//! Delivery: in sequence order, each event once per reader; a reader that resumes with
//! `from = last seq + 1` gets everything it missed, or a `gap` event that counts what
//! the journal no longer has — never a silent loss. The stream ends with a `lifecycle`
//! `stopped` or `lost` event when the session goes away.
//!
//! What the agent reports comes from inside the session: as trustworthy as the
//! session's own processes (which could write to the journal through the agent's
//! requests, but not forge what the host itself decides, such as the egress log).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sandbox_proto::events::ReadEvents;
pub use sandbox_proto::events::{
    DEFAULT_IGNORE, DEFAULT_SAMPLE_INTERVAL_MS, EventAction, EventBatch, EventFilter, EventKind, JOURNAL_CAPACITY,
    MAX_EVENT_BATCH, ProcessKind, ResourceSample, SessionEvent,
};
use sandbox_proto::{Reply, Request};

use crate::session::unexpected;
use crate::{Error, ErrorKind, Result, Session};

/// How long one request waits at the agent before the stream asks again (a stream that
/// waits without limit asks in these steps, so a lost session shows within one).
const POLL_STEP: Duration = Duration::from_secs(10);

/// How file changes and resources are watched in a session (config `[events]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Watch the working dir for file changes (default true).
    pub watch_working_dir: bool,
    /// Other directories inside the session to watch.
    pub watch: Vec<String>,
    /// Paths not watched (default [`DEFAULT_IGNORE`]); see [`ignored`](sandbox_proto::events::ignored).
    pub ignore: Vec<String>,
    /// Time between resource samples; `None`: no samples.
    pub sample_interval: Option<Duration>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            watch_working_dir: true,
            watch: Vec::new(),
            ignore: DEFAULT_IGNORE.iter().map(|s| s.to_string()).collect(),
            sample_interval: Some(Duration::from_millis(DEFAULT_SAMPLE_INTERVAL_MS)),
        }
    }
}

impl EventsConfig {
    /// Checks the paths and the interval.
    pub fn validate(&self) -> Result<()> {
        for p in &self.watch {
            sandbox_proto::validate::absolute_path("watch", p)?;
        }
        if let Some(i) = self.sample_interval {
            sandbox_proto::validate::sample_interval_ms(i.as_millis() as u64)?;
        }
        Ok(())
    }

    /// The agent's arguments for it, with `working_dir` the session's.
    pub fn agent_args(&self, working_dir: &str) -> Vec<String> {
        let mut a = Vec::new();
        let roots =
            self.watch_working_dir.then_some(working_dir).into_iter().chain(self.watch.iter().map(String::as_str));
        for root in roots {
            a.extend(["--watch".to_string(), root.to_string()]);
        }
        for pattern in &self.ignore {
            a.extend(["--ignore".to_string(), pattern.clone()]);
        }
        let ms = self.sample_interval.map_or(0, |i| i.as_millis() as u64);
        a.extend(["--sample-interval".to_string(), ms.to_string()]);
        a
    }
}

impl Session {
    /// One read of the journal: events from sequence number `from` (only new ones when
    /// `None`) that pass `filter`, at most `max`; when none passes yet, waits up to
    /// `wait` (not at all when `None` or zero). A `from` beyond the journal's next number
    /// is an [`InvalidInput`](Error::InvalidInput) error.
    pub async fn read_events(
        &self,
        from: Option<u64>,
        filter: &EventFilter,
        max: u32,
        wait: Option<Duration>,
    ) -> Result<EventBatch> {
        let req = ReadEvents { from, max, wait_ms: wait.map(|w| w.as_millis() as u64), filter: filter.clone() };
        let req = Request::ReadEvents(req);
        req.validate()?;
        match self.call("events", &req).await? {
            (_, Reply::Events(b)) => Ok(b),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// The event stream from sequence number `from` (only new events when `None`),
    /// filtered by `filter`.
    pub fn events(&self, from: Option<u64>, filter: EventFilter) -> EventStream {
        EventStream { session: self.clone(), next: from, filter, buffered: VecDeque::new(), ended: false }
    }

    /// Watches file changes below `path` (a directory inside the session) too; a no-op
    /// when it is watched already. [`NotFound`](Error::NotFound) when it does not exist.
    pub async fn watch(&self, path: &str) -> Result<()> {
        let req = Request::Watch { path: path.to_string() };
        req.validate()?;
        match self.call("watch", &req).await? {
            (_, Reply::Done { .. }) => Ok(()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// The session's resources now (CPU time, memory, pids, disk writes).
    pub async fn stats(&self) -> Result<ResourceSample> {
        match self.call("stats", &Request::Stats).await? {
            (_, Reply::Stats(s)) => Ok(s),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Waits until a process in the session listens on TCP `port` (also when one was
    /// listening already, as long as the journal still has its event), up to `timeout`
    /// (without limit when `None`); returns the `listening` event.
    pub async fn wait_for_port(&self, port: u16, timeout: Option<Duration>) -> Result<SessionEvent> {
        let filter = EventFilter { kinds: vec![EventKind::Port], path_prefix: None };
        // What the journal has: the port's last event tells whether it listens now.
        let mut from = 1;
        let mut open = None;
        loop {
            let b = self.read_events(Some(from), &filter, MAX_EVENT_BATCH, None).await?;
            for e in b.events.iter().filter(|e| e.port == Some(port)) {
                open = (e.action == EventAction::Listening).then(|| e.clone());
            }
            let done = b.next == from;
            from = b.next;
            if done {
                break;
            }
        }
        if let Some(e) = open {
            return Ok(e);
        }
        let mut stream = self.events(Some(from), filter);
        let wait = async {
            loop {
                match stream.next().await? {
                    Some(e) if e.port == Some(port) && e.action == EventAction::Listening => return Ok(e),
                    Some(e) if e.kind == EventKind::Lifecycle => {
                        return Err(Error::NotRunning {
                            what: "session".into(),
                            detail: format!("the session ended before port {port} listened: {e:?}"),
                        });
                    }
                    Some(_) => {}
                    None => {
                        return Err(Error::NotRunning {
                            what: "session".into(),
                            detail: "the event stream ended".into(),
                        });
                    }
                }
            }
        };
        match timeout {
            None => wait.await,
            Some(t) => tokio::time::timeout(t, wait).await.unwrap_or_else(|_| {
                Err(Error::Timeout { action: format!("waiting for port {port} to listen"), after: t })
            }),
        }
    }
}

/// A resumable stream of a session's events (see the [module](self)).
pub struct EventStream {
    session: Session,
    /// Where the next read starts; `None` until the first read ("from now").
    next: Option<u64>,
    filter: EventFilter,
    buffered: VecDeque<SessionEvent>,
    ended: bool,
}

impl EventStream {
    /// The sequence number the next read starts at (pass it as `from` to resume in
    /// another stream); `None` before the first read of a stream that started "now".
    pub fn position(&self) -> Option<u64> {
        self.buffered.front().map(|e| e.seq).or(self.next)
    }

    /// Whether the stream has ended (its last event was `stopped` or `lost`).
    pub fn is_ended(&self) -> bool {
        self.ended && self.buffered.is_empty()
    }

    /// The next event, waiting without limit; `None` once the stream has ended.
    pub async fn next(&mut self) -> Result<Option<SessionEvent>> {
        self.next_within(None).await
    }

    /// The next event, waiting up to `wait` (without limit when `None`); `None` when
    /// none came in time or the stream has ended ([`is_ended`](Self::is_ended) tells).
    pub async fn next_within(&mut self, wait: Option<Duration>) -> Result<Option<SessionEvent>> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        loop {
            if let Some(e) = self.buffered.pop_front() {
                return Ok(Some(e));
            }
            if self.ended {
                return Ok(None);
            }
            let step = match deadline {
                // "From now": a first read that does not wait learns where now is, so the
                // waits that follow read from a sequence number, which a dropped
                // connection may send again.
                _ if self.next.is_none() => Duration::ZERO,
                Some(d) => d.saturating_duration_since(tokio::time::Instant::now()).min(POLL_STEP),
                None => POLL_STEP,
            };
            match self.session.read_events(self.next, &self.filter, MAX_EVENT_BATCH, Some(step)).await {
                Ok(b) => {
                    self.next = Some(b.next);
                    self.buffered.extend(b.events);
                }
                Err(e) => match e.kind() {
                    ErrorKind::SessionLost | ErrorKind::SessionNotFound => {
                        let action = match e.kind() {
                            ErrorKind::SessionLost => EventAction::Lost,
                            _ => EventAction::Stopped,
                        };
                        let mut last = SessionEvent::lifecycle(action, Some(e.to_string()));
                        last.seq = self.next.unwrap_or(1);
                        last.time_ms = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as u64);
                        self.buffered.push_back(last);
                        self.ended = true;
                    }
                    _ => return Err(e),
                },
            }
            if self.buffered.is_empty() && deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// The first event (from here on) for which `pred` holds, waiting up to `timeout`
    /// (without limit when `None`): a [`Timeout`](Error::Timeout) error when none came,
    /// [`NotRunning`](Error::NotRunning) when the stream ended first.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&SessionEvent) -> bool,
        timeout: Option<Duration>,
    ) -> Result<SessionEvent> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
            match self.next_within(left).await? {
                Some(e) if pred(&e) => return Ok(e),
                Some(_) => {}
                None if self.is_ended() => {
                    return Err(Error::NotRunning {
                        what: "session".into(),
                        detail: "the event stream ended before the event came".into(),
                    });
                }
                None => {
                    return Err(Error::Timeout {
                        action: "waiting for an event".into(),
                        after: timeout.unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// This stream as a [`futures_core::Stream`] of events (ending after `stopped` or
    /// `lost`).
    pub fn into_stream(self) -> impl futures_core::Stream<Item = Result<SessionEvent>> + Send + Unpin {
        Adapter { pending: Some(Box::pin(advance(self))) }
    }
}

type Step = Pin<Box<dyn Future<Output = (EventStream, Option<Result<SessionEvent>>)> + Send>>;

async fn advance(mut s: EventStream) -> (EventStream, Option<Result<SessionEvent>>) {
    let item = s.next().await.transpose();
    (s, item)
}

struct Adapter {
    pending: Option<Step>,
}

impl futures_core::Stream for Adapter {
    type Item = Result<SessionEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(fut) = self.pending.as_mut() else { return Poll::Ready(None) };
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((stream, item)) => {
                self.pending = item.is_some().then(|| Box::pin(advance(stream)) as Step);
                Poll::Ready(item)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_args_follow_the_config() {
        let c = EventsConfig::default();
        let a = c.agent_args("/w");
        assert_eq!(&a[..2], ["--watch", "/w"]);
        assert!(a.windows(2).any(|w| w == ["--ignore", "node_modules"]));
        assert_eq!(&a[a.len() - 2..], ["--sample-interval", "5000"]);
        let off = EventsConfig { watch_working_dir: false, ignore: vec![], sample_interval: None, ..c };
        assert_eq!(off.agent_args("/w"), ["--sample-interval", "0"]);
    }

    #[test]
    fn bad_paths_and_intervals_are_refused() {
        let rel = EventsConfig { watch: vec!["rel/dir".into()], ..Default::default() };
        assert_eq!(rel.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
        let fast = EventsConfig { sample_interval: Some(Duration::from_millis(5)), ..Default::default() };
        assert_eq!(fast.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(EventsConfig::default().validate().is_ok());
    }
}
