//! One task, as `sandbox task spawn|list|wait` return it.

use std::time::SystemTime;

use nu_protocol::{Span, Value};
use sandbox_core::TaskInfo;

use super::{datetime, duration, filesize, opt_datetime, process_row};

/// `{id, command, state, exit_code, signal, pid, started, ended, duration, spool_cap}`:
/// `duration` is how long it ran (so far, while running); `spool_cap` how much of each
/// output stream is kept.
pub(crate) fn task_row(t: &TaskInfo, now: SystemTime, span: Span) -> Value {
    let mut r = process_row(t, span);
    r.push("started", datetime(t.started, span));
    r.push("ended", opt_datetime(t.ended, span));
    r.push("duration", duration(t.ended.unwrap_or(now).duration_since(t.started).unwrap_or_default(), span));
    r.push("spool_cap", filesize(t.spool_cap, span));
    Value::record(r, span)
}
