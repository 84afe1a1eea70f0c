//! One row of `sandbox list`.

use std::time::SystemTime;

use nu_protocol::{Record, Span, Value};
use sandbox_core::SessionInfo;

use super::duration;

/// A datetime column (local time zone).
pub(crate) fn datetime(t: SystemTime, span: Span) -> Value {
    Value::date(chrono::DateTime::<chrono::Local>::from(t).fixed_offset(), span)
}

/// `{id, working_dir, image, state, created, uptime, ports, container}`. `uptime` is
/// nothing when the container is not running.
pub(crate) fn session_row(s: &SessionInfo, now: SystemTime, span: Span) -> Value {
    let mut r = Record::new();
    r.push("id", Value::string(&s.id, span));
    r.push("working_dir", Value::string(s.working_dir.display().to_string(), span));
    r.push("image", Value::string(&s.image, span));
    r.push("state", Value::string(&s.state, span));
    r.push("created", datetime(s.created, span));
    r.push(
        "uptime",
        if s.is_running() {
            duration(now.duration_since(s.created).unwrap_or_default(), span)
        } else {
            Value::nothing(span)
        },
    );
    r.push("ports", Value::list(s.ports.iter().map(|p| Value::int(i64::from(*p), span)).collect(), span));
    r.push("container", Value::string(&s.container, span));
    Value::record(r, span)
}
