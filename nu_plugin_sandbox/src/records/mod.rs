//! Core results as nu values, with typed columns: `duration` for durations, `datetime`
//! for timestamps, `filesize` for byte sizes, `binary` for output that is not text.

mod egress;
mod exec_output;
mod file_row;
mod host_info;
mod output_text;
mod session_event;
mod session_row;
mod snapshot;
mod start_report;
mod task_row;
mod terminal_row;

pub(crate) use egress::{egress_decision, egress_policy, egress_report};
pub(crate) use exec_output::exec_output;
pub(crate) use file_row::file_row;
pub(crate) use host_info::host_info;
pub(crate) use output_text::{OutputText, TextCarry};
pub(crate) use session_event::{resource_sample, session_event};
pub(crate) use session_row::{SessionCounts, session_row};
pub(crate) use snapshot::{change_row, snapshot_report, snapshot_row};
pub(crate) use start_report::start_report;
pub(crate) use task_row::task_row;
pub(crate) use terminal_row::terminal_row;

use std::time::{Duration, SystemTime};

use nu_protocol::{Record, Span, Value};

/// A duration column.
pub(crate) fn duration(d: Duration, span: Span) -> Value {
    Value::duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX), span)
}

/// A datetime column (local time zone).
pub(crate) fn datetime(t: SystemTime, span: Span) -> Value {
    Value::date(chrono::DateTime::<chrono::Local>::from(t).fixed_offset(), span)
}

/// An optional datetime column (nothing when absent).
pub(crate) fn opt_datetime(t: Option<SystemTime>, span: Span) -> Value {
    t.map_or_else(|| Value::nothing(span), |t| datetime(t, span))
}

/// A filesize column.
pub(crate) fn filesize(bytes: u64, span: Span) -> Value {
    Value::filesize(i64::try_from(bytes).unwrap_or(i64::MAX), span)
}

/// A new row for a task or terminal, starting with the columns every held process has:
/// `id`, `command`, `state` (running, exited, killed), `exit_code` and `signal` (nothing
/// unless they apply), `pid`.
pub(crate) fn process_row(p: &sandbox_core::ProcessInfo, span: Span) -> Record {
    use sandbox_core::ProcessState;
    let (word, code, signal) = match p.state {
        ProcessState::Running => ("running", None, None),
        ProcessState::Exited { code } => ("exited", Some(code), None),
        ProcessState::Killed { signal } => ("killed", None, Some(signal)),
    };
    let mut r = Record::new();
    r.push("id", Value::string(&p.id, span));
    r.push("command", Value::string(&p.command, span));
    r.push("state", Value::string(word, span));
    r.push("exit_code", opt_int(code, span));
    r.push("signal", opt_int(signal, span));
    r.push("pid", Value::int(i64::from(p.pid), span));
    r
}

/// An optional int column (nothing when absent).
pub(crate) fn opt_int(v: Option<impl Into<i64>>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |x| Value::int(x.into(), span))
}

/// An optional string column (nothing when absent).
pub(crate) fn opt_string(v: Option<&str>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |x| Value::string(x, span))
}
