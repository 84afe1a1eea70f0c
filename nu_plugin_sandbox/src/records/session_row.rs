//! One row of `sandbox list`.

use std::time::SystemTime;

use nu_protocol::{Record, Span, Value};
use sandbox_core::SessionInfo;

use super::{datetime, duration};

/// How many tasks and terminals a session has; `None` when neither its agent nor its
/// spool could tell.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionCounts {
    /// Background tasks (running or ended).
    pub(crate) tasks: Option<usize>,
    /// Terminals (running or ended).
    pub(crate) terminals: Option<usize>,
}

/// `{id, working_dir, image, state, created, uptime, ports, tasks, terminals, container,
/// snapshot}`. `uptime` is nothing when the container is not running; `tasks` and
/// `terminals` are nothing when they could not be counted; `snapshot` (the one the
/// session started from) is nothing when it did not start from one.
pub(crate) fn session_row(s: &SessionInfo, counts: SessionCounts, now: SystemTime, span: Span) -> Value {
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
    let count = |n: Option<usize>| n.map_or_else(|| Value::nothing(span), |n| Value::int(n as i64, span));
    r.push("tasks", count(counts.tasks));
    r.push("terminals", count(counts.terminals));
    r.push("container", Value::string(&s.container, span));
    r.push("snapshot", super::opt_string(s.snapshot.as_deref(), span));
    Value::record(r, span)
}
