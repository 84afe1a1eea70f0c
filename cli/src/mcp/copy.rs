//! `copy_remove`: the copies of snapshots that sessions started from one (`session_start`
//! with `snapshot`) and fork children got as working dirs, where they lie in the
//! server's roots or are managed copies (in the copy dir, outside the roots, made by a
//! start from a snapshot with no working dir). A copy is made with reflinks, as an overlay on the snapshot's tree (it
//! stays mounted after its session stops, and keeps the snapshot from being removed) or
//! as a plain copy; the start report's `snapshot.copy` and a fork child's `copy` say which.

use std::path::{Component, Path, PathBuf};

use sandbox_core::Error;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{ToolDef, schema};

/// `copy_remove`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveArgs {
    /// The copy's absolute path: the working_dir session_start (with `snapshot`; a
    /// managed copy too) or session_fork returned for a session, once that session is
    /// stopped.
    pub path: String,
}

/// The copy tools.
pub const TOOLS: &[ToolDef] = &[ToolDef {
    name: "copy_remove",
    description: "Remove the copy of a snapshot that a session started from it (session_start with `snapshot`) \
                  or a fork child got as its working dir, by its absolute path (in the roots, or a managed copy \
                  in the server's copy dir; the copy dir goes with its last copy): an overlay copy is unmounted, \
                  its files and what the session changed in it are removed. Refused (invalid_input) while a \
                  session has it as its working dir or a running session's working dir holds it: \
                  session_stop that session first (merge what you want to keep before). Do it for every \
                  child before snapshot_remove: a snapshot cannot go while overlay copies read from it. \
                  Returns removed (the path); not_found when no snapshot has a copy there.",
    schema: schema::<RemoveArgs>,
    read_only: false,
}];

/// The copy at `asked` as this server may touch it: absolute, its parent resolved
/// (symlinks too) into a root, or the copy dir itself (a managed copy).
fn copy_path(state: &State, asked: &str) -> Result<PathBuf, Error> {
    let path = Path::new(asked);
    if !path.is_absolute() {
        return Err(Error::invalid(
            "path",
            format!(
                "{asked:?} is not an absolute path: give the copy's working_dir as session_start or session_fork returned it"
            ),
        ));
    }
    let (Some(parent), Some(Component::Normal(name))) = (path.parent(), path.components().next_back()) else {
        return Err(Error::invalid("path", format!("{asked:?} does not end in the name of a copy")));
    };
    let parent = std::fs::canonicalize(parent)
        .map_err(|e| Error::NotFound { what: "copy".into(), detail: format!("{}: {e}", parent.display()) })?;
    let path = parent.join(name);
    if !state.may_use(&path, None) {
        return Err(Error::PermissionDenied {
            detail: format!(
                "{} is outside the directories this server may use and no managed copy (an entry of {}); the user \
                 sets them with `sandbox mcp --root`",
                path.display(),
                state.copy_dir().display()
            ),
        });
    }
    Ok(path)
}

/// `copy_remove`.
pub async fn remove(state: &State, a: RemoveArgs) -> Result<Value, Error> {
    let path = copy_path(state, &a.path)?;
    state.sandbox().remove_copy(&path).await?;
    Ok(json!({"removed": path}))
}
