//! `session_fork`, `session_diff`, `session_merge`: children of a session in one call,
//! what a child changed relative to its snapshot, and merging that into a directory in
//! the roots or into another session. The children get the policy's settings, as
//! `session_start` would (but not its post-create commands: the snapshot has their
//! results); their working dirs are made in a directory in the roots.

use std::path::PathBuf;

use sandbox_core::{Error, ForkSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::snapshot::find;
use super::state::State;
use super::tool::{Env, ToolDef, env_pairs, schema};
use crate::fork::{change_row, child_row};
use crate::snapshots::report_row;

/// Changes `session_diff` returns when the call does not say (a model's context is small).
const DEFAULT_MAX_CHANGES: usize = 500;

/// `session_fork`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkArgs {
    /// Session id of the running session to fork.
    pub session: String,
    /// How many children, 1 to 64.
    pub count: u32,
    /// An existing directory in the roots (absolute, or relative to the first root), not
    /// in a running session's working dir, where each child's working dir is made:
    /// `<into>/<child id>`, which must not exist.
    pub into: String,
    /// The snapshot's name (default: `<session>-fork-<ms since the epoch>`); it stays
    /// after the fork: when done, session_stop the children, copy_remove their working
    /// dirs, then snapshot_remove it.
    pub snapshot: Option<String>,
    /// The children's id prefix: ids are `<id>-1`, `<id>-2`, ... (default: the
    /// session's id).
    pub id: Option<String>,
    /// Environment variables of every command in every child (the session's own are not
    /// inherited).
    pub env: Env,
}

/// `session_diff`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// Session id.
    pub session: String,
    /// Compare with this snapshot (default: the one the session started from).
    pub snapshot: Option<String>,
    /// Return at most this many changes, the first by path (default 500); `total`
    /// counts them all.
    pub max_changes: Option<usize>,
}

/// `session_merge`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeArgs {
    /// Session id of the session whose changes are merged.
    pub session: String,
    /// Merge into this directory in the roots (absolute, or relative to the first
    /// root); not a running session's working dir: use into_session for those. Give
    /// this or into_session.
    pub into: Option<String>,
    /// Merge into this session's working dir (paused while the changes are written).
    pub into_session: Option<String>,
    /// Compare with this snapshot (default: the one the session started from).
    pub snapshot: Option<String>,
    /// Where the target changed a path too, this session's version wins (default
    /// false: the merge is refused with nothing changed, naming the paths).
    pub force: Option<bool>,
}

/// The fork tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "session_fork",
        description: "Fork a running session: snapshot it (frozen meanwhile) and start `count` children from the \
                      snapshot, each a session with its own copy of the working dir at <into>/<child id> and of \
                      the container's files; all or nothing. Use it to try several approaches from the same state \
                      in parallel, then session_diff and session_merge the one that worked. Returns `snapshot` \
                      (as session_snapshot) and `children`: id, working_dir, snapshot, copy (how the working dir \
                      was made: reflink, overlay or copy). When done: session_stop the children, copy_remove \
                      their working dirs, snapshot_remove the snapshot.",
        schema: schema::<ForkArgs>,
        read_only: false,
    },
    ToolDef {
        name: "session_diff",
        description: "What a session changed in its working dir relative to a snapshot (default: the one it \
                      started from, e.g. a fork child's): `changes` sorted by path, each path, kind (added, \
                      modified, deleted), entry (file, dir, symlink, other), size; `total`. The session is \
                      paused meanwhile.",
        schema: schema::<DiffArgs>,
        read_only: true,
    },
    ToolDef {
        name: "session_merge",
        description: "Apply what a session changed relative to a snapshot (default: the one it started from) to \
                      another session's working dir (into_session) or to a directory in the roots (into): added \
                      and modified paths are written, deleted ones deleted. Where the target changed the same \
                      path too, it is refused with nothing changed (invalid_input, naming the paths) unless \
                      force. Returns changes and applied (paths written or removed).",
        schema: schema::<MergeArgs>,
        read_only: false,
    },
];

/// `session_fork`.
pub async fn fork(state: &State, a: ForkArgs) -> Result<Value, Error> {
    let session = state.session(&a.session).await?;
    let into = state.policy().working_dir(Some(&a.into))?;
    let config = state.sandbox().config();
    let mut template = state.policy().spec(a.id.unwrap_or_default(), PathBuf::new(), env_pairs(a.env), config);
    // The children run the snapshot's image; the post-create commands ran in the
    // session forked, and their results are in the snapshot.
    template.image = None;
    template.post_create = Vec::new();
    let spec = ForkSpec { count: a.count, into, snapshot: a.snapshot, template };
    let report = state.sandbox().fork(&session, spec).await?;
    let name = &report.snapshot.info.name;
    let children: Vec<Value> = report
        .children
        .iter()
        .map(|c| {
            state.remember(c);
            child_row(c, name)
        })
        .collect();
    Ok(json!({"snapshot": report_row(&report.snapshot), "children": children}))
}

/// `session_diff`.
pub async fn diff(state: &State, a: DiffArgs) -> Result<Value, Error> {
    let session = state.session(&a.session).await?;
    if let Some(name) = &a.snapshot {
        find(state, name).await?;
    }
    let changes = state.sandbox().diff(&session, a.snapshot.as_deref()).await?;
    let max = a.max_changes.unwrap_or(DEFAULT_MAX_CHANGES);
    let rows: Vec<Value> = changes.iter().take(max).map(change_row).collect();
    Ok(json!({"session": a.session, "changes": rows, "total": changes.len()}))
}

/// `session_merge`.
pub async fn merge(state: &State, a: MergeArgs) -> Result<Value, Error> {
    let from = state.session(&a.session).await?;
    if let Some(name) = &a.snapshot {
        find(state, name).await?;
    }
    let snapshot = a.snapshot.as_deref();
    let force = a.force.unwrap_or(false);
    let (into, report) = match (a.into, a.into_session) {
        (Some(dir), None) => {
            let dir = state.policy().working_dir(Some(&dir))?;
            let r = state.sandbox().merge(&from, snapshot, &dir, force).await?;
            (json!(dir), r)
        }
        (None, Some(id)) => {
            let target = state.session(&id).await?;
            let r = state.sandbox().merge_into_session(&from, snapshot, &target, force).await?;
            (json!(id), r)
        }
        _ => return Err(Error::invalid("session_merge", "give into (a directory) or into_session, one of them")),
    };
    Ok(json!({"from": a.session, "into": into, "changes": report.changes, "applied": report.applied}))
}
