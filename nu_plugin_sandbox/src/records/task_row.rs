//! One task, as `sandbox task spawn|list|wait` return it.

use std::time::SystemTime;

use nu_protocol::{Record, Span, Value};
use sandbox_core::TaskInfo;

use super::{datetime, duration, filesize, opt_datetime, process_state};

/// `{id, command, state, exit_code, signal, pid, started, ended, duration, spool_cap}`:
/// `duration` is how long it ran (so far, while running); `spool_cap` how much of each
/// output stream is kept.
pub(crate) fn task_row(t: &TaskInfo, now: SystemTime, span: Span) -> Value {
    let mut r = Record::new();
    r.push("id", Value::string(&t.id, span));
    r.push("command", Value::string(&t.command, span));
    for (name, value) in process_state(t.state, span) {
        r.push(name, value);
    }
    r.push("pid", Value::int(i64::from(t.pid), span));
    r.push("started", datetime(t.started, span));
    r.push("ended", opt_datetime(t.ended, span));
    r.push("duration", duration(t.ended.unwrap_or(now).duration_since(t.started).unwrap_or_default(), span));
    r.push("spool_cap", filesize(t.spool_cap, span));
    Value::record(r, span)
}
