//! `session_snapshot`, `snapshot_list`, `snapshot_remove`: snapshots of the sessions this
//! server may use. A snapshot is visible to the server only when the working dir it was
//! taken from lies in its roots or is the managed copy of the session it was taken from
//! (the snapshot dir is the user's, shared with the shell and every scope);
//! `session_start` with `snapshot` starts a session from one, and
//! `copy_remove` (in `copy.rs`) removes its copy once it is stopped.

use sandbox_core::{Error, SnapshotInfo};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{ToolDef, schema};
use crate::snapshots::{report_row, snapshot_row};

/// `session_snapshot`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotArgs {
    /// Session id.
    pub session: String,
    /// The snapshot's name: letters, digits, `_`, `-` (not one that exists).
    pub name: String,
}

/// `snapshot_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {}

/// `snapshot_remove`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveArgs {
    /// The snapshot's name.
    pub name: String,
}

/// The snapshot tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "session_snapshot",
        description: "Take a snapshot of a running session under a name: its working dir and its container's \
                      filesystem changes (what it installed or wrote elsewhere; not the memory of its processes), \
                      with the session running, then its processes frozen to take again what changed meanwhile; the \
                      session runs on after. Start new sessions from it with session_start's `snapshot` (each gets \
                      its own copy of the working dir: reflinks, an overlay on the snapshot, or a plain copy). \
                      Returns name, session, working_dir, copy (how the snapshot's own tree was copied: reflink or \
                      copy), files, bytes, freeze, processes, frozen_ms, took_ms, retaken (what changed while it \
                      was copied and was taken again frozen: working_dir, container; empty when nothing did).",
        schema: schema::<SnapshotArgs>,
        read_only: false,
    },
    ToolDef {
        name: "snapshot_list",
        description: "The snapshots of sessions whose working dirs lie in this server's roots, by name: \
                      name, session, working_dir, created, copy, files, bytes.",
        schema: schema::<ListArgs>,
        read_only: true,
    },
    ToolDef {
        name: "snapshot_remove",
        description: "Remove a snapshot: its image and its copy of the working dir. Refused (invalid_input) \
                      while a session started from it still exists (session_stop those first) or while an \
                      overlay copy of it (a copy method `overlay`) still exists (copy_remove those first). \
                      Reflink and plain copies stay with their sessions' working dirs.",
        schema: schema::<RemoveArgs>,
        read_only: false,
    },
];

/// Whether this server may use snapshot `s`: the working dir it was taken from lies in
/// a root or is its session's managed copy (resolved when it still exists).
pub fn visible(state: &State, s: &SnapshotInfo) -> bool {
    let dir = std::fs::canonicalize(&s.working_dir).unwrap_or_else(|_| s.working_dir.clone());
    state.may_use(&dir, Some(&s.session))
}

/// Snapshot `name`, if this server may use it; any other is not found.
pub async fn find(state: &State, name: &str) -> Result<SnapshotInfo, Error> {
    let info = state.sandbox().snapshot_info(name).await?;
    if !visible(state, &info) {
        return Err(Error::NotFound {
            what: "snapshot".into(),
            detail: format!("{name:?} among the snapshots this server may use (its working dir is outside the roots)"),
        });
    }
    Ok(info)
}

/// `session_snapshot`.
pub async fn snapshot(state: &State, a: SnapshotArgs) -> Result<Value, Error> {
    let session = state.session(&a.session).await?;
    let report = state.sandbox().snapshot(&session, &a.name).await?;
    Ok(report_row(&report))
}

/// `snapshot_list`.
pub async fn list(state: &State, _: ListArgs) -> Result<Value, Error> {
    let rows: Vec<Value> =
        state.sandbox().snapshots().await?.iter().filter(|s| visible(state, s)).map(snapshot_row).collect();
    Ok(json!({"snapshots": rows}))
}

/// `snapshot_remove`.
pub async fn remove(state: &State, a: RemoveArgs) -> Result<Value, Error> {
    find(state, &a.name).await?;
    state.sandbox().remove_snapshot(&a.name).await?;
    Ok(json!({"removed": a.name}))
}
