//! The session's event stream: what the agent records in its journal (file changes,
//! processes, ports, resource samples, lifecycle), how a reader asks for it by sequence
//! number, and the filter both sides apply.
//!
//! Every event is one flat record (the same columns in every face: a nu table, a C
//! accessor per field, a Python/Go struct); which fields are set depends on `kind` and
//! `action`, as the README's event table says. Sequence numbers start at 1 and grow by
//! one per event the journal records; a reader resumes with `from = last seq + 1`.

use serde::{Deserialize, Serialize};

/// Events one reply carries at the most (the fewest is 1).
pub const MAX_EVENT_BATCH: u32 = 10_000;
/// Events the agent's journal keeps; older ones are dropped (a reader that asks for them
/// gets a `gap` event that counts them).
pub const JOURNAL_CAPACITY: usize = 100_000;
/// How long file changes to one path are collected before they are recorded as one
/// event (a write and the close after it, a burst of appends).
pub const FILE_COALESCE_MS: u64 = 10;
/// How often the agent looks for listening TCP ports.
pub const PORT_POLL_MS: u64 = 100;
/// Default time between two resource samples (`sample_interval`).
pub const DEFAULT_SAMPLE_INTERVAL_MS: u64 = 5_000;
/// The shortest sample interval (a longer one up to a day is accepted).
pub const MIN_SAMPLE_INTERVAL_MS: u64 = 100;
/// Paths not watched for file changes unless the session says otherwise: a pattern
/// without `/` matches one path component anywhere, one with `/` a run of components.
pub const DEFAULT_IGNORE: &[&str] = &[".git/objects", "node_modules", "target"];

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A file or directory below a watched path changed (or the watch overflowed).
    File,
    /// A task or terminal started or exited, or an exec timed out.
    Process,
    /// A process started or stopped listening on a TCP port.
    Port,
    /// A periodic sample of the session's CPU, memory, pids and disk writes.
    Resources,
    /// The session started, is watching, stops, was lost, or hit a limit.
    Lifecycle,
    /// The egress enforcer let a connection through (when it closed) or refused it.
    Network,
    /// Events the reader asked for are gone from the journal: `dropped` counts them.
    Gap,
}

impl EventKind {
    /// Every kind, in the order of the README's table.
    pub const ALL: [EventKind; 7] = [
        EventKind::File,
        EventKind::Process,
        EventKind::Port,
        EventKind::Resources,
        EventKind::Lifecycle,
        EventKind::Network,
        EventKind::Gap,
    ];

    /// Its name on the wire and in every face.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::File => "file",
            EventKind::Process => "process",
            EventKind::Port => "port",
            EventKind::Resources => "resources",
            EventKind::Lifecycle => "lifecycle",
            EventKind::Network => "network",
            EventKind::Gap => "gap",
        }
    }

    /// The kind called `name`, if any.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What happened (which ones go with which kind: see the README's event table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    /// file: `path` appeared.
    Created,
    /// file: `path`'s content or metadata changed.
    Modified,
    /// file: `path` went away.
    Deleted,
    /// file: `from` was renamed to `path`.
    Renamed,
    /// file: changes were lost (the kernel's queue overflowed, or a directory could not
    /// be watched): rescan `path` (everything watched when absent).
    Overflow,
    /// process: a task or terminal started.
    Started,
    /// process: a task or terminal ended (`code`, `signal`, `oom`).
    Exited,
    /// process: an exec ran out of time and was killed.
    TimedOut,
    /// port: a process listens on `port`.
    Listening,
    /// port: nothing listens on `port` any more.
    Closed,
    /// resources: a sample (`sample`).
    Sample,
    /// lifecycle: file changes below `path` are watched from now on (`count` dirs).
    Watching,
    /// lifecycle: the session's processes were stopped (`count` of them).
    Paused,
    /// lifecycle: the session's processes were continued (`count` of them).
    Resumed,
    /// lifecycle: the agent is stopping (`reason`).
    Stopping,
    /// lifecycle: the session was stopped (the stream ends).
    Stopped,
    /// lifecycle: the session's container went away without a stop (`reason`).
    Lost,
    /// lifecycle: a limit was reached (`reason`: which one, how often).
    Limit,
    /// network: a connection went through the proxy (recorded when it closed: `bytes_in`,
    /// `bytes_out`; a `reason` when it did not end cleanly).
    Allowed,
    /// network: a connection was refused (`reason`).
    Refused,
    /// gap: `dropped` events were dropped before the reader got them.
    Dropped,
}

/// Which kind of process a process event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    /// A background task.
    Task,
    /// A PTY terminal.
    Terminal,
    /// A command run to completion.
    Exec,
}

/// One resource sample of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// CPU time used by the session's processes, in microseconds.
    pub cpu_usec: u64,
    /// Memory in use now, in bytes.
    pub memory_bytes: u64,
    /// The most memory in use at once, in bytes (when the cgroup tells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<u64>,
    /// The memory limit, in bytes (when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    /// Processes (and threads) in the session.
    pub pids: u64,
    /// Bytes written to block devices (when the cgroup or /proc tells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_written_bytes: Option<u64>,
    /// Where the figures come from: `cgroup` or `proc`.
    pub source: String,
}

/// One event of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Its sequence number (from 1; a gap event has the number of the last one dropped).
    pub seq: u64,
    /// When it happened, ms since the Unix epoch.
    pub time_ms: u64,
    /// What it is about.
    pub kind: EventKind,
    /// What happened.
    pub action: EventAction,
    /// file: the path (absolute, inside the session); lifecycle watching: the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// file renamed: the old path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// file: whether the path is a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<bool>,
    /// process: which kind of process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessKind>,
    /// process: the task or terminal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// process: the command as shown; port: the listening program's name; network: the
    /// process that opened the connection (`pid name`, or `direct: name` for one that
    /// used the enforcer's socket itself), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// process, port: the pid inside the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// process exited: the exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// process exited: the signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// process exited: whether the kernel's OOM killer ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom: Option<bool>,
    /// port: the TCP port; network: the target's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// port: the address it listens on; network: the address connected to, when it got
    /// that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// resources: the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<ResourceSample>,
    /// gap: how many events were dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// lifecycle watching: how many directories are watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Why (overflow, stopping, lost, limit; network: why refused, or how an allowed
    /// connection ended when not cleanly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// network: the target as asked for (a name or an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// network allowed: bytes from the target to the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// network allowed: bytes from the session to the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
}

impl SessionEvent {
    /// An event of `kind`/`action` with every optional field empty (seq and time are
    /// the journal's to set).
    pub fn new(kind: EventKind, action: EventAction) -> SessionEvent {
        SessionEvent {
            seq: 0,
            time_ms: 0,
            kind,
            action,
            path: None,
            from: None,
            dir: None,
            process: None,
            id: None,
            command: None,
            pid: None,
            code: None,
            signal: None,
            oom: None,
            port: None,
            address: None,
            sample: None,
            dropped: None,
            count: None,
            reason: None,
            host: None,
            bytes_in: None,
            bytes_out: None,
        }
    }

    /// A file event about `path`.
    pub fn file(action: EventAction, path: String, dir: bool) -> SessionEvent {
        SessionEvent { path: Some(path), dir: Some(dir), ..SessionEvent::new(EventKind::File, action) }
    }

    /// A lifecycle event with a reason.
    pub fn lifecycle(action: EventAction, reason: Option<String>) -> SessionEvent {
        SessionEvent { reason, ..SessionEvent::new(EventKind::Lifecycle, action) }
    }

    /// The gap event for `dropped` events ending at `last_dropped`.
    pub fn gap(last_dropped: u64, dropped: u64, time_ms: u64) -> SessionEvent {
        SessionEvent {
            seq: last_dropped,
            time_ms,
            dropped: Some(dropped),
            ..SessionEvent::new(EventKind::Gap, EventAction::Dropped)
        }
    }
}

/// Which events a reader wants. Gap events always pass: a reader is never silently
/// short of events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    /// Only these kinds; every kind when empty.
    #[serde(default)]
    pub kinds: Vec<EventKind>,
    /// File events only below this absolute path (itself included; renames match by
    /// either name; an overflow without a path always passes). Other kinds are not
    /// filtered by path.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

impl EventFilter {
    /// Whether `e` passes.
    pub fn matches(&self, e: &SessionEvent) -> bool {
        if e.kind == EventKind::Gap {
            return true;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&e.kind) {
            return false;
        }
        match (&self.path_prefix, e.kind) {
            (Some(prefix), EventKind::File) => match (&e.path, &e.from) {
                (None, None) => true,
                (p, f) => [p, f].into_iter().flatten().any(|p| below(p, prefix)),
            },
            _ => true,
        }
    }
}

/// Whether `path` is `prefix` or below it (component-wise: `/a/bc` is not below `/a/b`).
pub fn below(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// A read of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadEvents {
    /// The first sequence number wanted; only events recorded from now on when absent.
    #[serde(default)]
    pub from: Option<u64>,
    /// At most this many events (1..=[`MAX_EVENT_BATCH`]).
    pub max: u32,
    /// When no event passes yet, wait this long for one (then reply with none). 0, like
    /// `None`, does not wait.
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// Which events.
    #[serde(default)]
    pub filter: EventFilter,
}

/// What a read of the journal returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// The events that passed the filter, oldest first (a gap event first when some
    /// asked for were dropped).
    pub events: Vec<SessionEvent>,
    /// Where the next read starts: one past the last sequence number looked at.
    pub next: u64,
    /// The oldest sequence number the journal still has.
    pub oldest: u64,
}

/// Which patterns of `ignore` match the path `rel` (relative to a watched root, `/`
/// separated): a pattern without `/` matches any one component, one with `/` a run of
/// consecutive components; `*` inside a component matches any run of characters.
pub fn ignored<S: AsRef<str>>(rel: &str, ignore: &[S]) -> bool {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    ignore.iter().any(|pat| {
        let pat: Vec<&str> = pat.as_ref().split('/').filter(|p| !p.is_empty()).collect();
        !pat.is_empty()
            && parts.len() >= pat.len()
            && parts.windows(pat.len()).any(|w| w.iter().zip(&pat).all(|(name, p)| glob(p, name)))
    })
}

/// `*`-only globbing of one component.
fn glob(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else { return rest.is_empty() };
    for piece in middle {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_component_wise() {
        assert!(below("/w/src", "/w/src"));
        assert!(below("/w/src/a.rs", "/w/src/"));
        assert!(!below("/w/srcx", "/w/src"));
        assert!(!below("/w", "/w/src"));
        assert!(below("/anything", "/"));
    }

    #[test]
    fn ignore_patterns_match_components_and_runs() {
        let d = DEFAULT_IGNORE;
        assert!(ignored("node_modules", d));
        assert!(ignored("web/node_modules/x/y.js", d));
        assert!(ignored(".git/objects/ab/cdef", d));
        assert!(!ignored(".git/HEAD", d));
        assert!(!ignored("targets/x", d));
        assert!(!ignored("src/objects", d));
        assert!(ignored("a/b.log", &["*.log"]));
        assert!(ignored("a/x-cache-y", &["x*cache*"]));
        assert!(!ignored("a/b.log.gz", &["*.log"]));
        assert!(!ignored("a", &[""]));
    }

    #[test]
    fn filter_keeps_gaps_and_filters_file_paths_only() {
        let f = EventFilter { kinds: vec![EventKind::File], path_prefix: Some("/w/src".into()) };
        assert!(f.matches(&SessionEvent::file(EventAction::Created, "/w/src/a".into(), false)));
        assert!(!f.matches(&SessionEvent::file(EventAction::Created, "/w/doc/a".into(), false)));
        let renamed = SessionEvent {
            from: Some("/w/src/a".into()),
            ..SessionEvent::file(EventAction::Renamed, "/w/doc/a".into(), false)
        };
        assert!(f.matches(&renamed));
        assert!(f.matches(&SessionEvent::gap(9, 3, 0)));
        assert!(f.matches(&SessionEvent::new(EventKind::File, EventAction::Overflow)));
        assert!(!f.matches(&SessionEvent::lifecycle(EventAction::Started, None)));
        let any_kind = EventFilter { kinds: vec![], path_prefix: Some("/w/src".into()) };
        assert!(any_kind.matches(&SessionEvent::lifecycle(EventAction::Started, None)));
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        assert_eq!(EventKind::parse("files"), None);
    }

    #[test]
    fn events_serialize_without_empty_fields() {
        let e = SessionEvent { seq: 4, time_ms: 9, ..SessionEvent::file(EventAction::Deleted, "/w/a".into(), false) };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"seq":4,"time_ms":9,"kind":"file","action":"deleted","path":"/w/a","dir":false}"#);
        assert_eq!(serde_json::from_str::<SessionEvent>(&json).unwrap(), e);
    }
}
