//! One terminal, as `sandbox term open|list|resize|wait` return it.

use nu_protocol::{Span, Value};
use sandbox_core::TerminalInfo;

use super::{datetime, filesize, opt_datetime, process_row};

/// `{id, command, state, exit_code, signal, pid, rows, cols, started, ended, scrollback}`.
pub(crate) fn terminal_row(t: &TerminalInfo, span: Span) -> Value {
    let mut r = process_row(t, span);
    r.push("rows", Value::int(i64::from(t.rows), span));
    r.push("cols", Value::int(i64::from(t.cols), span));
    r.push("started", datetime(t.started, span));
    r.push("ended", opt_datetime(t.ended, span));
    r.push("scrollback", filesize(t.scrollback, span));
    Value::record(r, span)
}
