//! Core results as nu values, with typed columns: `duration` for durations, `datetime`
//! for timestamps, `filesize` for byte sizes, `binary` for output that is not text.

mod exec_output;
mod host_info;
mod session_row;
mod start_report;

pub(crate) use exec_output::exec_output;
pub(crate) use host_info::host_info;
pub(crate) use session_row::session_row;
pub(crate) use start_report::start_report;

use std::time::Duration;

use nu_protocol::{Span, Value};

/// A duration column.
pub(crate) fn duration(d: Duration, span: Span) -> Value {
    Value::duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX), span)
}

/// An optional int column (nothing when absent).
pub(crate) fn opt_int(v: Option<impl Into<i64>>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |x| Value::int(x.into(), span))
}

/// An optional string column (nothing when absent).
pub(crate) fn opt_string(v: Option<&str>, span: Span) -> Value {
    v.map_or_else(|| Value::nothing(span), |x| Value::string(x, span))
}
