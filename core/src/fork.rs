//! Forking a session into children in one call (a snapshot, then a start from it per
//! child), and what a child changed relative to its snapshot: the diff, and merging it
//! into another directory or session.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::snapshot::SnapshotReport;
use crate::tree_diff::{self, Change};
use crate::{Sandbox, Session, SessionSpec};

/// The most children one fork makes.
pub const MAX_FORK_CHILDREN: u32 = 64;

/// How to fork a session.
#[derive(Debug, Clone, Default)]
pub struct ForkSpec {
    /// How many children, 1 to [`MAX_FORK_CHILDREN`].
    pub count: u32,
    /// The existing directory the children's working dirs are made in: `<into>/<child id>`.
    pub into: PathBuf,
    /// The snapshot's name; default `<session id>-fork-<ms since the epoch>`.
    pub snapshot: Option<String>,
    /// Every child's settings (its `id` is the children's id prefix: `<id>-<n>`, n from
    /// 1, default the session's id; `working_dir`, `snapshot` and `image` are set per
    /// child and must be left empty).
    pub template: SessionSpec,
}

impl ForkSpec {
    /// `count` children in `into`, everything else by default.
    pub fn new(count: u32, into: impl Into<PathBuf>) -> ForkSpec {
        ForkSpec { count, into: into.into(), ..Default::default() }
    }
}

/// What [`Sandbox::fork`] made.
#[derive(Debug)]
pub struct ForkReport {
    /// The snapshot the children started from (it stays: remove it when done).
    pub snapshot: SnapshotReport,
    /// The children, in order (ids `<prefix>-1`, `<prefix>-2`, ...).
    pub children: Vec<Session>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// The changes merged (what [`Sandbox::diff`] gave).
    pub changes: usize,
    /// The paths written or removed in the target.
    pub applied: usize,
}

impl Sandbox {
    /// Forks running `session`: takes a snapshot of it (frozen meanwhile, as
    /// [`snapshot`](Sandbox::snapshot)) and starts `spec.count` children from it, each
    /// with its own copy of the working dir in `spec.into`. All or nothing: if a child
    /// cannot start, the children already started are stopped, their copies and the
    /// snapshot removed.
    pub async fn fork(&self, session: &Session, spec: ForkSpec) -> Result<ForkReport> {
        if spec.count == 0 || spec.count > MAX_FORK_CHILDREN {
            return Err(Error::invalid(
                "fork count",
                format!("{} children: a fork makes 1 to {MAX_FORK_CHILDREN}", spec.count),
            ));
        }
        if !spec.into.is_dir() {
            return Err(Error::invalid(
                "fork directory",
                format!("{} is not an existing directory", spec.into.display()),
            ));
        }
        let t = &spec.template;
        if !t.working_dir.as_os_str().is_empty() || t.snapshot.is_some() || t.image.is_some() {
            return Err(Error::invalid(
                "fork template",
                "working_dir, snapshot and image are set per child: leave them empty",
            ));
        }
        crate::start::check_settings(t, &self.config)?;
        let prefix = if t.id.is_empty() { session.id().to_string() } else { t.id.clone() };
        let ids: Vec<String> = (1..=spec.count).map(|n| format!("{prefix}-{n}")).collect();
        for id in &ids {
            crate::validate::session_id(id)?;
            let dir = spec.into.join(id);
            if dir.symlink_metadata().is_ok() {
                return Err(Error::invalid(
                    "fork directory",
                    format!("{} exists: each child gets a new copy at <into>/<child id>", dir.display()),
                ));
            }
        }
        let name = spec.snapshot.clone().unwrap_or_else(|| {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            format!("{}-fork-{ms}", session.id())
        });
        let snapshot = self.snapshot(session, &name).await?;
        let mut children = Vec::with_capacity(ids.len());
        for id in ids {
            let child = SessionSpec {
                id: id.clone(),
                working_dir: spec.into.join(&id),
                snapshot: Some(name.clone()),
                ..spec.template.clone()
            };
            match self.start(child).await {
                Ok(s) => children.push(s),
                Err(e) => {
                    let host = self.engine.host().await;
                    for c in children {
                        let _ = c.stop().await;
                        if let Ok(h) = &host {
                            let rootless = h.rootless;
                            crate::overlay::remove_made(
                                &snapshot.info.tree,
                                c.working_dir(),
                                rootless,
                                &self.config.podman,
                            )
                            .await;
                        }
                    }
                    let _ = self.remove_snapshot(&name).await;
                    return Err(e);
                }
            }
        }
        Ok(ForkReport { snapshot, children })
    }

    /// The snapshot `session` is compared with: `snapshot`, else the one it started from.
    async fn base_of(&self, session: &Session, snapshot: Option<&str>) -> Result<crate::SnapshotInfo> {
        let name = match snapshot {
            Some(n) => n.to_string(),
            None => {
                let records = self.engine.list(crate::labels::SESSION, session.id()).await?;
                let from = records
                    .iter()
                    .find(|r| r.name == session.container())
                    .and_then(|r| r.labels.get(crate::labels::FROM_SNAPSHOT))
                    .filter(|s| !s.is_empty())
                    .cloned();
                from.ok_or_else(|| {
                    Error::invalid(
                        "snapshot",
                        format!("session {:?} did not start from a snapshot: name one to compare with", session.id()),
                    )
                })?
            }
        };
        self.snapshot_info(&name).await
    }

    /// What `session`'s working dir changed relative to `snapshot` (default: the snapshot
    /// it started from): added, modified and deleted paths with sizes, sorted by path.
    /// The session is paused meanwhile (a paused one stays paused), so it cannot change
    /// the tree under the comparison.
    pub async fn diff(&self, session: &Session, snapshot: Option<&str>) -> Result<Vec<Change>> {
        let base = self.base_of(session, snapshot).await?;
        frozen(&[session], async {
            let (tree, dir) = (base.tree.clone(), session.working_dir().to_path_buf());
            blocking(move || tree_diff::diff(&tree, &dir), "comparing the working dir with its snapshot").await
        })
        .await
    }

    /// Merges what `from` changed relative to `snapshot` (default: the one it started
    /// from) into the directory `target`. Unless `force`, refuses with nothing changed
    /// ([`InvalidInput`](crate::ErrorKind::InvalidInput), naming the paths) where
    /// `target` changed a path too; with `force`, `from`'s version wins. Deleted files
    /// are deleted. `from` is paused meanwhile. A `target` in (or holding) the working
    /// dir of a running session of this scope is refused: that session could swap a
    /// directory for a symlink while the changes are written (use
    /// [`merge_into_session`](Sandbox::merge_into_session), which pauses it).
    pub async fn merge(
        &self,
        from: &Session,
        snapshot: Option<&str>,
        target: &Path,
        force: bool,
    ) -> Result<MergeReport> {
        let base = self.base_of(from, snapshot).await?;
        let canonical = existing_dir(target)?;
        self.outside_running_sessions(
            &canonical,
            "merge target",
            "merge into the session instead (it is paused while the changes are written)",
        )
        .await?;
        frozen(&[from], apply(base.tree, from.working_dir().to_path_buf(), target.to_path_buf(), force)).await
    }

    /// Refuses ([`InvalidInput`](crate::ErrorKind::InvalidInput), as `what`, with
    /// `instead`) a host path that is in, or holds, the working dir of a running session
    /// of this scope: code in that session could swap a directory on the way for a
    /// symlink while this process, perhaps root, writes, mounts or removes there.
    /// `canonical` has no symlinks (a path that does not exist yet: its canonical
    /// parent joined with its name).
    pub(crate) async fn outside_running_sessions(&self, canonical: &Path, what: &str, instead: &str) -> Result<()> {
        for s in self.list().await? {
            let dir = s.working_dir.canonicalize().unwrap_or(s.working_dir.clone());
            if s.state == "running" && (canonical.starts_with(&dir) || dir.starts_with(canonical)) {
                return Err(Error::invalid(
                    what,
                    format!("{} is in the working dir of running session {:?}: {instead}", canonical.display(), s.id),
                ));
            }
        }
        Ok(())
    }

    /// [`merge`](Sandbox::merge) into the working dir of session `target`, which is
    /// paused too while the changes are written.
    pub async fn merge_into_session(
        &self,
        from: &Session,
        snapshot: Option<&str>,
        target: &Session,
        force: bool,
    ) -> Result<MergeReport> {
        let base = self.base_of(from, snapshot).await?;
        let to = target.working_dir().to_path_buf();
        frozen(&[from, target], apply(base.tree, from.working_dir().to_path_buf(), to, force)).await
    }
}

/// Runs `work` with `sessions` paused, resuming those this call paused, whatever
/// happened.
async fn frozen<T>(sessions: &[&Session], work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    // Each guard resumes its session also if this future is dropped half-way.
    let mut paused = Vec::new();
    for s in sessions {
        match s.pause_for_work().await {
            Ok((_, guard)) => paused.push(guard),
            Err(e) => {
                for p in paused {
                    let _ = p.resume().await;
                }
                return Err(e);
            }
        }
    }
    let out = work.await;
    let mut resumed = Ok(());
    for p in paused {
        if let Err(e) = p.resume().await {
            resumed = Err(e);
        }
    }
    let value = out?;
    resumed.map(|()| value)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    action: &'static str,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io(action, std::io::Error::other(e)))?
        .map_err(|e| Error::io(action, e))
}

/// A merge target: an existing directory, resolved.
fn existing_dir(target: &Path) -> Result<PathBuf> {
    if !target.is_dir() {
        return Err(Error::invalid("merge target", format!("{} is not an existing directory", target.display())));
    }
    target.canonicalize().map_err(|e| Error::io(format!("resolving {}", target.display()), e))
}

/// The diff of `changed` against `base`, applied to `target`.
async fn apply(base: PathBuf, changed: PathBuf, target: PathBuf, force: bool) -> Result<MergeReport> {
    existing_dir(&target)?;
    let outcome = blocking(
        move || {
            let changes = tree_diff::diff(&base, &changed)?;
            let applied = tree_diff::apply(&base, &changed, &target, &changes, force)?;
            Ok((changes.len(), applied))
        },
        "merging the changes",
    )
    .await?;
    match outcome {
        (changes, Ok(applied)) => Ok(MergeReport { changes, applied }),
        (_, Err(conflicts)) => {
            let paths: Vec<String> = conflicts.0.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            Err(Error::invalid(
                "merge",
                format!(
                    "the target changed {} of the same paths too (nothing was merged; force to let the source win): {}",
                    paths.len(),
                    paths.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake_engine::{EngineCall, exited, stopped_session};
    use crate::{ErrorKind, ForkSpec, Limits};

    /// A fork whose template a start would refuse is refused before the snapshot: the
    /// engine commits nothing, and no child dir is made.
    #[tokio::test]
    async fn a_template_is_checked_before_the_snapshot() {
        let t = tempfile::tempdir().unwrap();
        let (engine, sandbox, parent) = stopped_session(t.path(), "par", exited(0)).await;
        let into = t.path().join("kids");
        std::fs::create_dir(&into).unwrap();
        let bad_limits = Limits { memory_bytes: 1024, ..Limits::default() };
        let mut spec = ForkSpec::new(1, &into);
        spec.template.limits = Some(bad_limits);
        let e = sandbox.fork(&parent, spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("memory"), "{e}");
        let mut spec = ForkSpec::new(1, &into);
        spec.template.env = vec![("A=B".into(), "x".into())];
        assert_eq!(sandbox.fork(&parent, spec).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let mut spec = ForkSpec::new(1, &into);
        spec.template.image = Some("localhost/other:1".into());
        let e = sandbox.fork(&parent, spec).await.unwrap_err();
        assert!(e.to_string().contains("fork template"), "{e}");
        assert!(!engine.calls().iter().any(|c| matches!(c, EngineCall::Commit { .. })), "{:?}", engine.calls());
        assert_eq!(std::fs::read_dir(&into).unwrap().count(), 0);
    }
}
