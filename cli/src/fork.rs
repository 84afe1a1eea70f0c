//! `fork`, `diff`, `merge`: children of a session in one call, what a child changed
//! relative to its snapshot, and applying that to a directory or another session.

use sandbox_core::tree_diff::Change;
use sandbox_core::{Error, ForkSpec, Sandbox, Session, SessionSpec};
use serde_json::{Value, json};

use crate::Done;
use crate::args::{ForkArgs, MergeArgs};
use crate::output::Out;

/// A child of a fork as a row of `fork` (and of the MCP server's `session_fork`): `copy`
/// says how its working dir was made (reflink, overlay or copy).
pub fn child_row(child: &Session, snapshot: &str) -> Value {
    let copy = child.start_report().and_then(|r| r.snapshot.as_ref()).map(|s| s.copy.name());
    json!({"id": child.id(), "working_dir": child.working_dir(), "snapshot": snapshot, "copy": copy})
}

/// A changed path as a row of `diff` (and of the MCP server's `session_diff`): `path`
/// (text; bytes that are not UTF-8 become U+FFFD), `kind` (added, modified, deleted),
/// `entry` (file, dir, symlink, other), `size` (now; 0 for directories and deletions).
pub fn change_row(c: &Change) -> Value {
    json!({"path": c.path.to_string_lossy(), "kind": c.kind.name(), "entry": c.entry.name(), "size": c.size})
}

/// A path for a table: as it is, or quoted with escapes when it holds a control
/// character (a newline would break the row).
fn shown_path(p: &str) -> String {
    if p.chars().any(char::is_control) { format!("{p:?}") } else { p.to_string() }
}

/// A directory as given, made absolute (not resolved: core checks it).
fn absolute(dir: &std::path::Path) -> Result<std::path::PathBuf, Error> {
    std::path::absolute(dir).map_err(|e| Error::io(format!("resolving {}", dir.display()), e))
}

/// `sandbox fork ID COUNT --into DIR`: a row per child (id, working_dir, snapshot, copy);
/// the snapshot's figures on stderr.
pub async fn fork(sandbox: &Sandbox, a: ForkArgs, out: Out) -> Result<Done, Error> {
    let session = sandbox.attach(&a.session).await?;
    let mut spec = ForkSpec::new(a.count, absolute(&a.into)?);
    spec.snapshot = a.snapshot;
    spec.template = SessionSpec { id: a.id.unwrap_or_default(), env: a.env, ..SessionSpec::default() };
    crate::sessions::apply_settings(&mut spec.template, a.settings, sandbox.config())?;
    let report = sandbox.fork(&session, spec).await?;
    let s = &report.snapshot;
    out.note(&format!(
        "sandbox: snapshot {} ({} files, {} bytes, by {}; {} processes frozen {:.1} ms)",
        s.info.name,
        s.info.files,
        s.info.bytes,
        s.info.copy.name(),
        s.processes,
        s.frozen_us as f64 / 1000.0
    ));
    let rows: Vec<Value> = report.children.iter().map(|c| child_row(c, &s.info.name)).collect();
    out.rows(&rows, &["id", "working_dir", "snapshot", "copy"]);
    Ok(Done::Ok)
}

/// `sandbox diff ID [--snapshot NAME]`: a row per change (kind, entry, size, path).
pub async fn diff(sandbox: &Sandbox, id: &str, snapshot: Option<&str>, out: Out) -> Result<Done, Error> {
    let session = sandbox.attach(id).await?;
    let changes = sandbox.diff(&session, snapshot).await?;
    let mut rows: Vec<Value> = changes.iter().map(change_row).collect();
    if !out.json() {
        for r in &mut rows {
            let shown = r["path"].as_str().map(shown_path).unwrap_or_default();
            r["path"] = json!(shown);
        }
    }
    out.rows(&rows, &["kind", "entry", "size", "path"]);
    Ok(Done::Ok)
}

/// `sandbox merge ID (--into DIR | --into-session ID2)`: a record (from, into,
/// changes, applied).
pub async fn merge(sandbox: &Sandbox, a: MergeArgs, out: Out) -> Result<Done, Error> {
    let from = sandbox.attach(&a.session).await?;
    let snapshot = a.snapshot.as_deref();
    let (into, report) = match (a.into, a.into_session) {
        (Some(dir), None) => {
            let dir = absolute(&dir)?;
            // Bad input, as fork's --into (not the I/O error of resolving it).
            if !dir.is_dir() {
                return Err(Error::invalid("merge target", format!("{} is not an existing directory", dir.display())));
            }
            let r = sandbox.merge(&from, snapshot, &dir, a.force).await?;
            (json!(dir), r)
        }
        (None, Some(id)) => {
            let target = sandbox.attach(&id).await?;
            let r = sandbox.merge_into_session(&from, snapshot, &target, a.force).await?;
            (json!(id), r)
        }
        _ => return Err(Error::invalid("merge target", "give --into DIR or --into-session ID")),
    };
    out.record(&json!({"from": a.session, "into": into, "changes": report.changes, "applied": report.applied}));
    Ok(Done::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_control_characters_are_quoted_in_tables() {
        assert_eq!(shown_path("src/main.rs"), "src/main.rs");
        assert_eq!(shown_path("a file with spaces"), "a file with spaces");
        assert_eq!(shown_path("line\nbreak"), "\"line\\nbreak\"");
    }
}
