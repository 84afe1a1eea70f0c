//! Snapshots: a session's working dir and its container's filesystem changes (not its
//! processes' memory), captured under a name while its processes are frozen, and new
//! sessions started from one.
//!
//! A snapshot lives in the snapshot dir ([`Config::snapshot_dir`]) as `<name>/meta.json`
//! and `<name>/tree/` (the working dir's copy, never changed again), plus an image of the
//! container's changes (`podman commit`, tagged `localhost/sandbox-snapshot:<name>-<store>`).
//! It is made in a `.partial-*` dir and renamed into place only when complete, so a
//! failed snapshot (a full disk, a session that went away) leaves nothing behind.
//!
//! Copies are reflinks (`FICLONE`: no data copied) where the snapshot dir and the tree
//! share a filesystem that has them, else plain copies; the report says which. The copy
//! is `cp -a`: modes, owners, times, symlinks, hard links, empty dirs, special files and
//! any name bytes survive; rootless, it runs in podman's user namespace (`podman unshare`)
//! so files the session made unreadable to their owner are copied too.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::change_scan::{ScanRoot, changed_since};
use crate::config::Config;
use crate::engine::{ContainerState, Engine};
use crate::error::{Error, Result};
pub use crate::overlay::copy_dir;
use crate::overlay::open_copy_dir;
pub use crate::tree_copy::{CopyMethod, reflinks_between};
use crate::tree_copy::{copy_tree, remove_tree};
use crate::{Sandbox, Session};

/// The image repository snapshot images are tagged in.
pub const SNAPSHOT_REPOSITORY: &str = "localhost/sandbox-snapshot";

/// Label on a snapshot image: the snapshot's name.
pub const SNAPSHOT_LABEL: &str = "sandbox.snapshot";
/// Label on a snapshot image: the snapshot dir it belongs to.
pub const SNAPSHOT_STORE_LABEL: &str = "sandbox.snapshot.store";

/// Environment variables a child keeps from podman's defaults (never unset).
const PODMAN_DEFAULT_ENV: &[&str] = &["PATH", "TERM", "container"];

/// A snapshot as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Its name.
    pub name: String,
    /// The id of the session it was taken from.
    pub session: String,
    /// That session's working dir.
    pub working_dir: PathBuf,
    /// The image of the container's filesystem changes (its id).
    pub image: String,
    /// When it was taken, in ms since the Unix epoch.
    pub created_ms: u64,
    /// How the working dir was copied into it.
    pub copy: CopyMethod,
    /// Regular files in the working dir's copy.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Environment variables of the session that its children do not inherit from the
    /// image (the session's own settings; a child gets its own).
    pub unset_env: Vec<String>,
    /// Where the working dir's copy is (`<snapshot dir>/<name>/tree`).
    #[serde(skip)]
    pub tree: PathBuf,
}

/// What [`Session::snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotReport {
    /// The snapshot.
    #[serde(flatten)]
    pub info: SnapshotInfo,
    /// How the session's processes were frozen: `"signals"` (SIGSTOP to every process
    /// but the agent and init), or `"already_paused"` (the session was paused before and
    /// stays paused).
    pub freeze: String,
    /// How many processes were frozen.
    pub processes: u32,
    /// How long they were frozen, in microseconds.
    pub frozen_us: u64,
    /// How long the whole snapshot took, in microseconds.
    pub took_us: u64,
    /// What was taken again while frozen because it changed while the first copy or
    /// commit ran with the session running (`working_dir`, `container`); empty when the
    /// freeze only checked that nothing had.
    pub retaken: Vec<String>,
}

/// The snapshot dir of `config` for user `uid`.
pub fn snapshot_dir(config: &Config, uid: u32) -> PathBuf {
    let (root, xdg) = ("/var/lib/sandbox/snapshots", ("XDG_DATA_HOME", "sandbox/snapshots"));
    crate::config::user_dir(
        config.snapshot_dir.as_ref(),
        uid,
        root,
        xdg,
        ".local/share/sandbox/snapshots",
        "sandbox-snapshots",
    )
}

/// Checks a snapshot name: the rules of session ids.
pub fn check_name(name: &str) -> Result<()> {
    crate::validate::session_id(name).map_err(|e| match e {
        Error::InvalidInput { reason, .. } => Error::invalid("snapshot name", reason),
        other => other,
    })
}

/// The snapshot dir, made (private to its owner) when missing.
fn open_store(config: &Config) -> Result<PathBuf> {
    let dir = snapshot_dir(config, rustix::process::getuid().as_raw());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("making the snapshot dir {}", dir.display()), e))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(format!("making the snapshot dir {} private", dir.display()), e))?;
    Ok(dir)
}

/// The image tag of snapshot `name` in snapshot dir `store`: the name and a short hash of
/// the dir, so two snapshot dirs never share a tag.
fn image_tag(store: &Path, name: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(store.as_os_str().as_encoded_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{SNAPSHOT_REPOSITORY}:{name}-{short}")
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Reads snapshot `name` from `store`.
fn load(store: &Path, name: &str) -> Result<SnapshotInfo> {
    let dir = store.join(name);
    let meta = dir.join("meta.json");
    let text = match std::fs::read(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound {
                what: format!("snapshot {name:?}"),
                detail: format!("there is none in {}; list the snapshots to see which exist", store.display()),
            });
        }
        Err(e) => return Err(Error::io(format!("reading {}", meta.display()), e)),
    };
    let mut info: SnapshotInfo = serde_json::from_slice(&text)
        .map_err(|e| Error::Protocol { detail: format!("{} is not a snapshot's meta.json: {e}", meta.display()) })?;
    info.tree = dir.join("tree");
    Ok(info)
}

/// Regular files below `dir` and their bytes (what can be read of it).
fn count_files(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

/// The variables of `container_env` (what a session's container runs with) that do not
/// come from its image (`image_env`) or podman's defaults: the session's own settings,
/// which its children do not inherit. `HOSTNAME` always (podman records the container's).
fn own_env(container_env: &[String], image_env: &[String]) -> Vec<String> {
    let mut unset: Vec<String> = container_env
        .iter()
        .filter(|kv| !image_env.contains(kv))
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
        .filter(|k| !PODMAN_DEFAULT_ENV.contains(&k.as_str()))
        .collect();
    if !unset.iter().any(|k| k == "HOSTNAME") {
        unset.push("HOSTNAME".into());
    }
    unset.sort();
    unset.dedup();
    unset
}

/// The `--change` instructions of a snapshot's commit: every session label emptied (an
/// image is not a session; a container someone else makes from it must not look like
/// one of ours), and the snapshot's own labels. One label per instruction: podman 4.3
/// takes everything after the first `=` of a `LABEL` as its value (spaces, quotes and
/// further `k=v` pairs included).
fn commit_changes(store: &Path, name: &str) -> Vec<String> {
    let mut changes: Vec<String> = crate::labels::ALL.iter().map(|k| format!("LABEL {k}=")).collect();
    changes.push(format!("LABEL {SNAPSHOT_LABEL}={name}"));
    changes.push(format!("LABEL {SNAPSHOT_STORE_LABEL}={}", store.display()));
    changes
}

impl Sandbox {
    /// Takes snapshot `name` of running `session`: its working dir and its container's
    /// filesystem changes, with its processes frozen meanwhile (see
    /// [`pause`](Session::pause); a paused session stays paused). Refused with
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when a snapshot of that name
    /// exists; a session that is not running gives the error its pause gives.
    pub async fn snapshot(&self, session: &Session, name: &str) -> Result<SnapshotReport> {
        check_name(name)?;
        let started = Instant::now();
        let config = &self.config;
        let store = open_store(config)?;
        if store.join(name).exists() {
            return Err(Error::invalid(
                "snapshot name",
                format!("{name:?} exists in {}; remove it first or choose another name", store.display()),
            ));
        }
        let engine = self.engine.clone();
        let host = engine.host().await?;
        // What the session set for itself, read before the freeze (it does not change
        // while the container lives). A session that is gone gets its pause's error.
        let container = match engine.container_config(session.container()).await {
            Ok(c) => c,
            Err(e) => return Err(session.pause().await.err().unwrap_or(e)),
        };
        let image_env = match &container.image {
            Some(image) => engine.image_config(image).await?.env,
            None => Vec::new(),
        };
        let unset_env = own_env(&container.env, &image_env);
        // Where the container's changes show, to check them frozen: its upper layer
        // (overlay storage), else its root filesystem through its init process (vfs).
        let changes = match container.upper_dir.clone() {
            Some(upper) => Some(ScanRoot::whole(upper)),
            None => match engine.state(session.container()).await {
                Ok(Some(ContainerState { pid: Some(pid), .. })) => ScanRoot::container_root(pid),
                _ => None,
            },
        };
        let partial = store.join(format!(".partial-{name}-{}", std::process::id()));
        // A snapshot whose future is dropped half-way leaves no partial dir (and its
        // image, if made, goes at the next reap_snapshots).
        let mut leftover = RemoveOnDrop(Some((partial.clone(), host.rootless, config.podman.clone())));
        std::fs::create_dir(&partial).map_err(|e| Error::io(format!("making {}", partial.display()), e))?;
        let capture = Capture { store: &store, partial: &partial, name, rootless: host.rootless };
        // The copy and the commit first run with the session running; frozen, only what
        // changed since they began is taken again (see `Capture::settle`).
        let since = SystemTime::now() - PRECOPY_SLACK;
        let early = capture.copy_and_commit(session, &engine, &config.podman).await;
        let (paused, guard) = match session.pause_for_work().await {
            Ok(p) => p,
            Err(e) => {
                if let Ok(image) = &early.1 {
                    let _ = engine.remove_image(image).await;
                }
                remove_tree(&partial, host.rootless, &config.podman).await;
                return Err(e);
            }
        };
        let frozen_at = Instant::now();
        let taken = capture.settle(early, since, changes, session, &engine, &config.podman).await;
        let mut retaken = Vec::new();
        let taken = taken.map(|(copy, image, again)| {
            retaken = again;
            SnapshotInfo {
                name: name.to_string(),
                session: session.id().to_string(),
                working_dir: session.working_dir().to_path_buf(),
                image,
                created_ms: now_ms(),
                copy,
                files: 0,
                bytes: 0,
                unset_env,
                tree: partial.join("tree"),
            }
        });
        let resumed = guard.resume().await;
        let frozen_us = if paused.changed { frozen_at.elapsed().as_micros() as u64 + paused.took_us } else { 0 };
        if let Err(e) = resumed {
            if let Ok(info) = &taken {
                let _ = engine.remove_image(&info.image).await;
            }
            remove_tree(&partial, host.rootless, &config.podman).await;
            return Err(e);
        }
        let mut info = match taken {
            Ok(info) => info,
            Err(e) => {
                remove_tree(&partial, host.rootless, &config.podman).await;
                return Err(e);
            }
        };
        // Counted once the session runs again.
        let (tree, dir, rootless) = (info.tree.clone(), partial.clone(), host.rootless);
        (info.files, info.bytes) = tokio::task::spawn_blocking(move || {
            if rootless {
                crate::overlay::mark_user_serves(&dir);
            }
            count_files(&tree)
        })
        .await
        .unwrap_or((0, 0));
        let publish = (|| -> std::io::Result<()> {
            let meta = serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?;
            std::fs::write(partial.join("meta.json"), meta)?;
            std::fs::rename(&partial, store.join(name))
        })();
        if let Err(e) = publish {
            let _ = engine.remove_image(&info.image).await;
            remove_tree(&partial, host.rootless, &config.podman).await;
            return Err(Error::io(format!("storing snapshot {name:?}"), e));
        }
        leftover.0 = None;
        let info = SnapshotInfo { tree: store.join(name).join("tree"), ..info };
        Ok(SnapshotReport {
            info,
            freeze: if paused.changed { paused.method } else { "already_paused".into() },
            processes: paused.processes,
            frozen_us,
            took_us: started.elapsed().as_micros() as u64,
            retaken,
        })
    }
}

/// Removes a tree (path, rootless, podman) when dropped, unless it was taken out: in the
/// background a moment later, once the copy writing into it was killed.
struct RemoveOnDrop(Option<(PathBuf, bool, PathBuf)>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some((path, rootless, podman)) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    remove_tree(&path, rootless, &podman).await;
                });
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    }
}

/// How long before the copy and the commit begin a change still counts as made during
/// them: a write's ctime is taken from a coarse clock when the write begins.
const PRECOPY_SLACK: std::time::Duration = std::time::Duration::from_secs(1);

/// What one capture needs.
struct Capture<'a> {
    store: &'a Path,
    partial: &'a Path,
    name: &'a str,
    rootless: bool,
}

impl Capture<'_> {
    /// The working dir's copy into `partial/tree` and the commit of the container's
    /// changes, side by side.
    async fn copy_and_commit(
        &self,
        session: &Session,
        engine: &Arc<dyn Engine>,
        podman: &Path,
    ) -> (Result<CopyMethod>, Result<String>) {
        let tree = self.partial.join("tree");
        let tag = image_tag(self.store, self.name);
        let changes = commit_changes(self.store, self.name);
        tokio::join!(
            copy_tree(session.working_dir(), &tree, self.rootless, podman),
            engine.commit(session.container(), &tag, &changes)
        )
    }

    /// With the session frozen: keeps what [`copy_and_commit`](Self::copy_and_commit)
    /// made before the freeze where nothing changed since `since` (no entry of the
    /// working dir, or of the container's upper layer, has a newer ctime, which no
    /// process can set back), and takes again, frozen, the copy or the commit where
    /// something did (or where the early one failed, or the upper layer cannot be read).
    /// Undoes the commit if the copy fails.
    async fn settle(
        &self,
        early: (Result<CopyMethod>, Result<String>),
        since: SystemTime,
        upper: Option<ScanRoot>,
        session: &Session,
        engine: &Arc<dyn Engine>,
        podman: &Path,
    ) -> Result<(CopyMethod, String, Vec<String>)> {
        let (copy, image) = early;
        let dir = session.working_dir().to_path_buf();
        let (dir_changed, upper_changed) = tokio::task::spawn_blocking(move || {
            (changed_since(&ScanRoot::whole(dir), since), upper.as_ref().is_none_or(|u| changed_since(u, since)))
        })
        .await
        .unwrap_or((true, true));
        let tree = self.partial.join("tree");
        let mut retaken = Vec::new();
        if copy.is_err() || dir_changed {
            retaken.push("working_dir".to_string());
        }
        if image.is_err() || upper_changed {
            retaken.push("container".to_string());
        }
        let copy = async {
            if copy.is_ok() && !dir_changed {
                return copy;
            }
            tracing::debug!("snapshot {}: the working dir changed during the copy; copying it again", self.name);
            remove_tree(&tree, self.rootless, podman).await;
            copy_tree(session.working_dir(), &tree, self.rootless, podman).await
        };
        let image = async {
            if image.is_ok() && !upper_changed {
                return image;
            }
            tracing::debug!("snapshot {}: the container changed during the commit; committing again", self.name);
            let again = self.commit(session, engine).await;
            if let (Ok(old), Ok(new)) = (&image, &again)
                && old != new
            {
                let _ = engine.remove_image(old).await;
            }
            again
        };
        match tokio::join!(copy, image) {
            (Ok(c), Ok(i)) => Ok((c, i, retaken)),
            (Err(e), image) => {
                if let Ok(i) = image {
                    let _ = engine.remove_image(&i).await;
                }
                Err(e)
            }
            (Ok(_), Err(e)) => Err(e),
        }
    }

    async fn commit(&self, session: &Session, engine: &Arc<dyn Engine>) -> Result<String> {
        let changes = commit_changes(self.store, self.name);
        engine.commit(session.container(), &image_tag(self.store, self.name), &changes).await
    }
}

impl Sandbox {
    /// The snapshots in the snapshot dir, by name.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let store = open_store(&self.config)?;
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&store).map_err(|e| Error::io(format!("reading {}", store.display()), e))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || check_name(&name).is_err() {
                continue;
            }
            if let Ok(info) = load(&store, &name) {
                out.push(info);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Snapshot `name`; [`NotFound`](crate::ErrorKind::NotFound) when there is none.
    pub async fn snapshot_info(&self, name: &str) -> Result<SnapshotInfo> {
        check_name(name)?;
        load(&open_store(&self.config)?, name)
    }

    /// Removes snapshot `name`: its image and its copy. Sessions started from it keep
    /// their own copies; while one of their containers exists the image cannot go, and
    /// the removal is refused ([`InvalidInput`](crate::ErrorKind::InvalidInput)) with
    /// nothing removed.
    pub async fn remove_snapshot(&self, name: &str) -> Result<()> {
        let info = self.snapshot_info(name).await?;
        let overlays = crate::overlay::overlay_copies(&info.tree);
        if !overlays.is_empty() {
            let paths: Vec<String> = overlays.iter().map(|p| p.display().to_string()).collect();
            return Err(Error::invalid(
                "snapshot",
                format!(
                    "{name:?} is the lower layer of the overlay copies at {}: remove those copies first (remove_copy)",
                    paths.join(", ")
                ),
            ));
        }
        self.engine.remove_image(&info.image).await?;
        let store = open_store(&self.config)?;
        let host = self.engine.host().await?;
        // Renamed away first: a half-removed snapshot is never listed.
        let doomed = store.join(format!(".removing-{name}-{}", std::process::id()));
        std::fs::rename(store.join(name), &doomed)
            .map_err(|e| Error::io(format!("removing snapshot {name:?} from {}", store.display()), e))?;
        remove_tree(&doomed, host.rootless, &self.config.podman).await;
        Ok(())
    }

    /// Removes what failed or interrupted snapshots left: `.partial-*` and `.removing-*`
    /// dirs of processes that are gone, returning their paths, and images of this
    /// snapshot dir that no snapshot in it names, returning `image:<id>` for each. Tidies
    /// the snapshots' copies too: removes half-made copies of processes that are gone,
    /// forgets copies whose dir the user deleted, and mounts again the overlay copies
    /// that are no longer mounted (after a reboot), returning their paths.
    pub async fn reap_snapshots(&self) -> Result<Vec<PathBuf>> {
        let store = open_store(&self.config)?;
        let host = self.engine.host().await?;
        // The store's work dirs (`.partial-<name>-<pid>`, `.removing-<name>-<pid>`),
        // read once: whose process still runs, and which snapshots are being taken.
        let mut work_dirs = Vec::new();
        for e in std::fs::read_dir(&store).map_err(|e| Error::io(format!("reading {}", store.display()), e))?.flatten()
        {
            let file = e.file_name().to_string_lossy().into_owned();
            let (partial, rest) = match (file.strip_prefix(".partial-"), file.strip_prefix(".removing-")) {
                (Some(rest), _) => (true, rest.to_string()),
                (None, Some(rest)) => (false, rest.to_string()),
                (None, None) => continue,
            };
            let (name, pid) = rest.rsplit_once('-').unwrap_or(("", rest.as_str()));
            let alive = pid.parse::<u32>().is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            work_dirs.push((e.path(), partial.then(|| name.to_string()), alive));
        }
        let mut reaped = Vec::new();
        let known: Vec<String> = self.snapshots().await?.into_iter().map(|s| s.image).collect();
        let store_text = store.display().to_string();
        for image in self.engine.list_images(SNAPSHOT_STORE_LABEL, &store_text).await? {
            let Some(id) = image.image else { continue };
            let name = image.labels.get(SNAPSHOT_LABEL).cloned().unwrap_or_default();
            // A snapshot being taken right now has its image before its meta.
            let in_progress = work_dirs.iter().any(|(_, taking, alive)| *alive && taking.as_deref() == Some(&name));
            if !known.iter().any(|k| id.starts_with(k.as_str()) || k.starts_with(id.as_str())) && !in_progress {
                self.engine.remove_image(&id).await?;
                reaped.push(PathBuf::from(format!("image:{id}")));
            }
        }
        for snapshot in self.snapshots().await? {
            reaped.extend(crate::overlay::reap(&snapshot.tree, host.rootless, &self.config.podman).await);
        }
        for (path, _, alive) in work_dirs {
            if !alive {
                remove_tree(&path, host.rootless, &self.config.podman).await;
                reaped.push(path);
            }
        }
        Ok(reaped)
    }
}

/// Copies snapshot `name`'s tree to `working_dir` (which must not exist; its parent
/// must; empty: the managed copy of session `session_id`) for a session starting from
/// it; returns the snapshot, how it was copied and where (no symlink on the way).
pub(crate) async fn prepare_start(
    sb: &Sandbox,
    name: &str,
    session_id: &str,
    working_dir: &Path,
) -> Result<(SnapshotInfo, CopyMethod, PathBuf)> {
    let info = sb.snapshot_info(name).await?;
    let host = sb.engine.host().await?;
    let store = snapshot_dir(&sb.config, host.uid);
    let store = store.canonicalize().unwrap_or(store);
    // No working dir: a managed copy, named after the session.
    let managed;
    let working_dir = if working_dir.as_os_str().is_empty() {
        managed = open_copy_dir(&sb.config, host.uid)?.join(session_id);
        &managed
    } else {
        working_dir
    };
    if !working_dir.is_absolute() {
        return Err(Error::invalid("working dir", format!("{} is not an absolute path", working_dir.display())));
    }
    match working_dir.symlink_metadata() {
        Ok(_) => {
            return Err(Error::invalid(
                "working dir",
                format!(
                    "{} exists: a session started from a snapshot gets a new copy of it, at a path that does not exist yet",
                    working_dir.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("checking {}", working_dir.display()), e)),
    }
    // Where the copy goes, with no symlink on the way (it is made, and as root mounted,
    // by that path).
    let (Some(parent), Some(leaf)) = (working_dir.parent(), working_dir.file_name()) else {
        return Err(Error::invalid("working dir", format!("{} names no new dir", working_dir.display())));
    };
    let canonical = match parent.canonicalize() {
        Ok(p) => p.join(leaf),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid(
                "working dir",
                format!("{} does not exist: the copy goes into an existing dir", parent.display()),
            ));
        }
        Err(e) => return Err(Error::io(format!("checking {}", parent.display()), e)),
    };
    if canonical.starts_with(&store) || store.starts_with(&canonical) {
        return Err(Error::invalid(
            "working dir",
            format!(
                "{} is in the snapshot dir {}: sessions must not reach snapshots",
                working_dir.display(),
                store.display()
            ),
        ));
    }
    sb.outside_running_sessions(&canonical, "working dir", "put the copy elsewhere (that session could redirect it)")
        .await?;
    let copy = crate::overlay::make(&info.tree, &canonical, host.rootless, &sb.config.podman).await?;
    Ok((info, copy, canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_env_is_what_the_session_added_and_hostname() {
        let image = vec!["PATH=/bin".to_string(), "LANG=C".to_string()];
        let container = vec![
            "PATH=/bin".to_string(),
            "LANG=C".to_string(),
            "TERM=xterm".to_string(),
            "container=podman".to_string(),
            "HOSTNAME=abc".to_string(),
            "SECRET=1".to_string(),
            "TAR_OPTIONS=--no-same-owner".to_string(),
        ];
        assert_eq!(own_env(&container, &image), ["HOSTNAME", "SECRET", "TAR_OPTIONS"]);
        // An image variable the session changed is the session's.
        let changed = vec!["LANG=de_DE".to_string()];
        assert_eq!(own_env(&changed, &image), ["HOSTNAME", "LANG"]);
    }

    #[test]
    fn names_follow_the_session_id_rules_and_tags_differ_per_store() {
        assert!(check_name("try-1.a_b").is_ok());
        for bad in ["", "-x", "a/b", "a..b", "a b"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
            assert!(e.to_string().contains("snapshot name"), "{e}");
        }
        let (a, b) = (image_tag(Path::new("/s/one"), "x"), image_tag(Path::new("/s/two"), "x"));
        assert!(a.starts_with("localhost/sandbox-snapshot:x-"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn commits_empty_every_session_label_one_per_instruction() {
        let c = commit_changes(Path::new("/my snapshots"), "snap");
        for k in crate::labels::ALL {
            assert!(c.contains(&format!("LABEL {k}=")), "{k}: {c:?}");
        }
        assert_eq!(c.len(), crate::labels::ALL.len() + 2);
        assert!(c.iter().all(|i| i.matches('=').count() == 1), "{c:?}");
        assert!(c.contains(&"LABEL sandbox.snapshot=snap".to_string()));
        assert!(c.contains(&"LABEL sandbox.snapshot.store=/my snapshots".to_string()));
    }

    #[test]
    fn reflinks_need_one_filesystem_with_them() {
        let a = tempfile::tempdir().unwrap();
        // /proc is never the same filesystem as a temp dir.
        assert!(!reflinks_between(Path::new("/proc"), a.path()));
        // On one filesystem: whatever FICLONE says there, and no probe file is left.
        let _ = reflinks_between(a.path(), a.path());
        assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 0);
    }
}
