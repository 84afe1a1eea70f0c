//! The session's event stream as nu values: one event as a row of `sandbox events`
//! (`watch`, `wait-port`), and one resource sample as `sandbox stats` returns it.

use std::time::{Duration, UNIX_EPOCH};

use nu_protocol::{Record, Span, Value};
use sandbox_core::events::ProcessKind;
use sandbox_core::{EventAction, ResourceSample, SessionEvent};

use super::{datetime, duration, filesize, opt_int, opt_string};

/// The name of `action` in every face (`created`, `timed_out`...).
pub(crate) fn action_name(action: EventAction) -> &'static str {
    match action {
        EventAction::Created => "created",
        EventAction::Modified => "modified",
        EventAction::Deleted => "deleted",
        EventAction::Renamed => "renamed",
        EventAction::Overflow => "overflow",
        EventAction::Started => "started",
        EventAction::Exited => "exited",
        EventAction::TimedOut => "timed_out",
        EventAction::Listening => "listening",
        EventAction::Closed => "closed",
        EventAction::Sample => "sample",
        EventAction::Watching => "watching",
        EventAction::Paused => "paused",
        EventAction::Resumed => "resumed",
        EventAction::Stopping => "stopping",
        EventAction::Stopped => "stopped",
        EventAction::Lost => "lost",
        EventAction::Limit => "limit",
        EventAction::Allowed => "allowed",
        EventAction::Refused => "refused",
        EventAction::Dropped => "dropped",
    }
}

fn process_name(p: ProcessKind) -> &'static str {
    match p {
        ProcessKind::Task => "task",
        ProcessKind::Terminal => "terminal",
        ProcessKind::Exec => "exec",
    }
}

fn opt_bool(v: Option<bool>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |b| Value::bool(b, span))
}

fn opt_filesize(v: Option<u64>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |b| filesize(b, span))
}

fn opt_count(v: Option<u64>, span: Span) -> Value {
    opt_int(v.map(|n| i64::try_from(n).unwrap_or(i64::MAX)), span)
}

/// One event: every row has the same columns, in this order (null where the event has
/// no such field), so a list of them is a table: `seq`, `time` (datetime), `kind`,
/// `action`, `path`, `from`, `dir`, `process` (task, terminal or exec), `id`, `command`,
/// `pid`, `code`, `signal`, `oom`, `port`, `address`, `sample` (a [`resource_sample`]
/// record), `dropped`, `count`, `reason`, `host` (network: the target as asked for),
/// `bytes_in`, `bytes_out` (network allowed: filesizes).
pub(crate) fn session_event(e: &SessionEvent, span: Span) -> Value {
    let mut r = Record::new();
    r.push("seq", opt_count(Some(e.seq), span));
    r.push("time", datetime(UNIX_EPOCH + Duration::from_millis(e.time_ms), span));
    r.push("kind", Value::string(e.kind.name(), span));
    r.push("action", Value::string(action_name(e.action), span));
    r.push("path", opt_string(e.path.as_deref(), span));
    r.push("from", opt_string(e.from.as_deref(), span));
    r.push("dir", opt_bool(e.dir, span));
    r.push("process", opt_string(e.process.map(process_name), span));
    r.push("id", opt_string(e.id.as_deref(), span));
    r.push("command", opt_string(e.command.as_deref(), span));
    r.push("pid", opt_int(e.pid, span));
    r.push("code", opt_int(e.code, span));
    r.push("signal", opt_int(e.signal, span));
    r.push("oom", opt_bool(e.oom, span));
    r.push("port", opt_int(e.port, span));
    r.push("address", opt_string(e.address.as_deref(), span));
    r.push("sample", e.sample.as_ref().map_or_else(|| Value::nothing(span), |s| resource_sample(s, span)));
    r.push("dropped", opt_count(e.dropped, span));
    r.push("count", opt_count(e.count, span));
    r.push("reason", opt_string(e.reason.as_deref(), span));
    r.push("host", opt_string(e.host.as_deref(), span));
    r.push("bytes_in", opt_filesize(e.bytes_in, span));
    r.push("bytes_out", opt_filesize(e.bytes_out, span));
    Value::record(r, span)
}

/// One resource sample: `cpu` (CPU time used, a duration), `memory` (in use now),
/// `memory_peak`, `memory_limit` (filesizes; null when the cgroup does not tell or there
/// is no limit), `pids`, `disk_written` (filesize, null when unknown), `source` (cgroup
/// or proc).
pub(crate) fn resource_sample(s: &ResourceSample, span: Span) -> Value {
    let mut r = Record::new();
    r.push("cpu", duration(Duration::from_micros(s.cpu_usec), span));
    r.push("memory", filesize(s.memory_bytes, span));
    r.push("memory_peak", opt_filesize(s.memory_peak_bytes, span));
    r.push("memory_limit", opt_filesize(s.memory_limit_bytes, span));
    r.push("pids", opt_count(Some(s.pids), span));
    r.push("disk_written", opt_filesize(s.disk_written_bytes, span));
    r.push("source", Value::string(&s.source, span));
    Value::record(r, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_core::EventKind;

    #[test]
    fn every_event_has_the_same_columns() {
        let span = Span::test_data();
        let file = SessionEvent::file(EventAction::Created, "/w/a".into(), false);
        let sample = SessionEvent {
            sample: Some(ResourceSample {
                cpu_usec: 1500,
                memory_bytes: 4096,
                memory_peak_bytes: None,
                memory_limit_bytes: Some(1 << 20),
                pids: 3,
                disk_written_bytes: None,
                source: "cgroup".into(),
            }),
            ..SessionEvent::new(EventKind::Resources, EventAction::Sample)
        };
        let columns = |v: &Value| v.as_record().unwrap().columns().cloned().collect::<Vec<_>>();
        let (a, b) = (session_event(&file, span), session_event(&sample, span));
        assert_eq!(columns(&a), columns(&b));
        assert_eq!(columns(&a).len(), 23);
        let a = a.as_record().unwrap();
        assert_eq!(a.get("action").unwrap().as_str().unwrap(), "created");
        assert!(a.get("sample").unwrap().is_nothing());
        assert!(matches!(a.get("time").unwrap(), Value::Date { .. }));
        let s = b.as_record().unwrap().get("sample").unwrap().as_record().unwrap();
        assert_eq!(s.get("cpu").unwrap().as_duration().unwrap(), 1_500_000);
        assert_eq!(s.get("memory_limit").unwrap().as_filesize().unwrap().get(), 1 << 20);
        assert!(s.get("memory_peak").unwrap().is_nothing());
    }

    #[test]
    fn action_names_are_the_ones_on_the_wire() {
        use EventAction::*;
        for a in [
            Created, Modified, Deleted, Renamed, Overflow, Started, Exited, TimedOut, Listening, Closed, Sample,
            Watching, Stopping, Stopped, Lost, Limit, Dropped,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), action_name(a));
        }
        for p in [ProcessKind::Task, ProcessKind::Terminal, ProcessKind::Exec] {
            assert_eq!(serde_json::to_value(p).unwrap(), process_name(p));
        }
    }
}
