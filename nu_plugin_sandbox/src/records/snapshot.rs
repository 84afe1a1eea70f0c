//! The records of snapshots, forks and diffs: `sandbox snapshot`, `sandbox snapshot
//! list`, `sandbox fork`'s rows and `sandbox diff`'s rows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nu_protocol::{Record, Span, Value};
use sandbox_core::tree_diff::Change;
use sandbox_core::{SnapshotInfo, SnapshotReport};

use super::{datetime, duration, filesize};

/// When snapshot `info` was taken.
fn created(info: &SnapshotInfo) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(info.created_ms)
}

/// `{name, session, image, copy, files, size, working_dir, created}`: a row of `sandbox
/// snapshot list`.
pub(crate) fn snapshot_row(info: &SnapshotInfo, span: Span) -> Value {
    let mut r = Record::new();
    r.push("name", Value::string(&info.name, span));
    r.push("session", Value::string(&info.session, span));
    r.push("image", Value::string(&info.image, span));
    r.push("copy", Value::string(info.copy.name(), span));
    r.push("files", Value::int(i64::try_from(info.files).unwrap_or(i64::MAX), span));
    r.push("size", filesize(info.bytes, span));
    r.push("working_dir", Value::string(info.working_dir.display().to_string(), span));
    r.push("created", datetime(created(info), span));
    Value::record(r, span)
}

/// `{name, session, image, copy, files, size, freeze, processes, frozen, took, retaken,
/// working_dir, created}`: what `sandbox snapshot` returns (`retaken`: a list of what was
/// taken again frozen, `working_dir` and `container`; empty when nothing changed).
pub(crate) fn snapshot_report(s: &SnapshotReport, span: Span) -> Value {
    let info = &s.info;
    let mut r = Record::new();
    r.push("name", Value::string(&info.name, span));
    r.push("session", Value::string(&info.session, span));
    r.push("image", Value::string(&info.image, span));
    r.push("copy", Value::string(info.copy.name(), span));
    r.push("files", Value::int(i64::try_from(info.files).unwrap_or(i64::MAX), span));
    r.push("size", filesize(info.bytes, span));
    r.push("freeze", Value::string(&s.freeze, span));
    r.push("processes", Value::int(i64::from(s.processes), span));
    r.push("frozen", duration(Duration::from_micros(s.frozen_us), span));
    r.push("took", duration(Duration::from_micros(s.took_us), span));
    r.push("retaken", Value::list(s.retaken.iter().map(|x| Value::string(x, span)).collect(), span));
    r.push("working_dir", Value::string(info.working_dir.display().to_string(), span));
    r.push("created", datetime(created(info), span));
    Value::record(r, span)
}

/// `{path, kind, entry, size}`: a row of `sandbox diff`. A path that is not UTF-8 has
/// U+FFFD in place of its bad bytes.
pub(crate) fn change_row(c: &Change, span: Span) -> Value {
    let mut r = Record::new();
    r.push("path", Value::string(c.path.to_string_lossy(), span));
    r.push("kind", Value::string(c.kind.name(), span));
    r.push("entry", Value::string(c.entry.name(), span));
    r.push("size", filesize(c.size, span));
    Value::record(r, span)
}
