//! `snapshot ID NAME`, `snapshot list|remove|reap`: snapshots of sessions, kept in the
//! snapshot dir (`SANDBOX_SNAPSHOT_DIR`); `sandbox start --snapshot NAME [DIR]` starts
//! from one (its copy, DIR or a managed one in the copy dir, goes with `sandbox copy
//! remove`, in `copies.rs`).

use std::time::{Duration, UNIX_EPOCH};

use sandbox_core::{Error, ErrorKind, Sandbox, SnapshotInfo, SnapshotReport};
use serde_json::{Value, json};

use crate::Done;
use crate::args::{SnapshotArgs, SnapshotCommand};
use crate::output::{Out, time};

/// The columns of a snapshot in `sandbox snapshot list`.
const LIST_COLUMNS: &[&str] = &["name", "session", "copy", "files", "bytes", "created", "working_dir"];
/// The columns of the report of `sandbox snapshot`.
const REPORT_COLUMNS: &[&str] =
    &["name", "session", "copy", "files", "bytes", "processes", "frozen_ms", "took_ms", "retaken"];

/// What to do when a snapshot's removal is refused.
const REMOVE_HINT: &str = "stop the sessions started from it (`sandbox list` shows their snapshot), then \
                           `sandbox copy remove` their working dirs";

/// A snapshot as a row of `snapshot list` (and of the MCP server's `snapshot_list`): the
/// stored fields, with `created` as RFC 3339 beside `created_ms`.
pub fn snapshot_row(s: &SnapshotInfo) -> Value {
    json!({
        "name": s.name,
        "session": s.session,
        "working_dir": s.working_dir,
        "image": s.image,
        "created": time(UNIX_EPOCH + Duration::from_millis(s.created_ms)),
        "created_ms": s.created_ms,
        "copy": s.copy.name(),
        "files": s.files,
        "bytes": s.bytes,
        "unset_env": s.unset_env,
    })
}

/// What a snapshot took, as a row of `snapshot` (and the MCP server's
/// `session_snapshot`): the snapshot's row, how its processes were frozen
/// (`freeze`, `processes`) and for how long (`frozen_us`, `took_us`, and in ms), and
/// what was taken again while they were (`retaken`: `working_dir`, `container`).
pub fn report_row(r: &SnapshotReport) -> Value {
    let mut row = snapshot_row(&r.info);
    if let Value::Object(m) = &mut row {
        m.insert("freeze".into(), json!(r.freeze));
        m.insert("processes".into(), json!(r.processes));
        m.insert("frozen_us".into(), json!(r.frozen_us));
        m.insert("took_us".into(), json!(r.took_us));
        m.insert("frozen_ms".into(), json!(r.frozen_us as f64 / 1000.0));
        m.insert("took_ms".into(), json!(r.took_us as f64 / 1000.0));
        m.insert("retaken".into(), json!(r.retaken));
    }
    row
}

/// The report's row as people read it: `retaken` comma-joined, `-` when nothing was.
fn report_display(r: &SnapshotReport) -> Value {
    let mut row = report_row(r);
    if let Value::Object(m) = &mut row {
        let retaken = if r.retaken.is_empty() { "-".to_string() } else { r.retaken.join(",") };
        m.insert("retaken".into(), json!(retaken));
    }
    row
}

/// `sandbox snapshot ID NAME` (a row of the report), `sandbox snapshot list`,
/// `sandbox snapshot remove NAME...`, `sandbox snapshot reap` (a row per path removed).
pub async fn snapshot(sandbox: &Sandbox, a: SnapshotArgs, out: Out) -> Result<Done, Error> {
    match a.command {
        None => {
            let (Some(id), Some(name)) = (a.session, a.name) else {
                return Err(Error::invalid("sandbox snapshot", "give a session id and a name"));
            };
            let session = sandbox.attach(&id).await?;
            let report = sandbox.snapshot(&session, &name).await?;
            let row = if out.json() { report_row(&report) } else { report_display(&report) };
            out.row(&row, REPORT_COLUMNS);
        }
        Some(SnapshotCommand::List) => {
            let rows: Vec<Value> = sandbox.snapshots().await?.iter().map(snapshot_row).collect();
            out.rows(&rows, LIST_COLUMNS);
        }
        Some(SnapshotCommand::Remove { names }) => {
            // Every snapshot named, even when one fails; the first error is the command's.
            let mut first = None;
            for name in &names {
                match sandbox.remove_snapshot(name).await {
                    Ok(()) => out.note(&format!("removed snapshot {name}")),
                    Err(e) => {
                        eprintln!("sandbox: error: {e}");
                        // Refused, not a bad name: what uses it has to go first.
                        if e.kind() == ErrorKind::InvalidInput
                            && !out.quiet()
                            && sandbox.snapshot_info(name).await.is_ok()
                        {
                            eprintln!("hint: {REMOVE_HINT}");
                        }
                        first.get_or_insert(e);
                    }
                }
            }
            return first.map_or(Ok(Done::Ok), Err);
        }
        Some(SnapshotCommand::Reap) => {
            let rows: Vec<Value> =
                sandbox.reap_snapshots().await?.iter().map(|p| json!({"path": p.to_string_lossy()})).collect();
            out.rows(&rows, &["path"]);
        }
    }
    Ok(Done::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retaken_is_a_list_in_json_and_a_short_cell_for_people() {
        let info = SnapshotInfo {
            name: "base".into(),
            session: "s".into(),
            working_dir: "/w".into(),
            image: "sha256:x".into(),
            created_ms: 0,
            copy: sandbox_core::CopyMethod::Copy,
            files: 1,
            bytes: 2,
            unset_env: Vec::new(),
            tree: "/t".into(),
        };
        let mut r = SnapshotReport {
            info,
            freeze: "signals".into(),
            processes: 1,
            frozen_us: 1500,
            took_us: 3000,
            retaken: Vec::new(),
        };
        assert_eq!((report_row(&r)["retaken"].clone(), report_display(&r)["retaken"].clone()), (json!([]), json!("-")));
        r.retaken = vec!["working_dir".into(), "container".into()];
        assert_eq!(report_row(&r)["retaken"], json!(["working_dir", "container"]));
        assert_eq!(report_display(&r)["retaken"], json!("working_dir,container"));
        assert_eq!(report_row(&r)["frozen_ms"], json!(1.5));
        let table = crate::output::table(&[report_display(&r)], REPORT_COLUMNS);
        assert!(table.lines().next().is_some_and(|h| h.ends_with("RETAKEN")), "{table}");
    }
}
