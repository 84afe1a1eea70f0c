//! Copies of a snapshot's tree for the sessions started from it, and what is recorded of
//! them in the snapshot dir.
//!
//! A copy is, in order of preference: a reflink copy (the snapshot dir and the new working
//! dir share a filesystem with `FICLONE`), an **overlay** (no data copied whatever the
//! size: the snapshot's tree is the read-only lower layer, the session's changes go to an
//! upper layer kept in the snapshot dir; kernel overlayfs as root, `fuse-overlayfs` run
//! by the user rootless, mounted on the host so the user's own tools see it), or a plain
//! copy where neither works (the report says which).
//!
//! Every copy is recorded as `<snapshot dir>/<name>/copies/<key>/` (`path`: the copy's
//! path, `method`; an overlay's `upper/` and `work/`), made as `.partial-<key>-<pid>` and
//! renamed into place once the copy is complete, so an interrupted copy is found and
//! removed by [`Sandbox::reap_snapshots`]. An overlay copy stays mounted after its session
//! stops (its changes are the user's output) until [`Sandbox::remove_copy`]; the snapshot
//! it reads from cannot be removed while it exists.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::Sandbox;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::tree_copy::{CopyMethod, copy_tree, reflinks_between, remove_tree};

/// The dir of a snapshot's copy records, beside its tree.
const COPIES: &str = "copies";

/// The filesystem type `fuse-overlayfs` mounts show in `/proc/self/mountinfo`.
const FUSE_OVERLAY_TYPE: &str = "fuse.fuse-overlayfs";

/// The record key of a copy at `path`: a short hash of its bytes.
fn key_of(path: &Path) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(path.as_os_str().as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The copy records of the snapshot whose tree is `tree`.
fn copies_of(tree: &Path) -> PathBuf {
    tree.parent().unwrap_or(tree).join(COPIES)
}

/// A recorded copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The record's dir.
    pub dir: PathBuf,
    /// The copy's path.
    pub path: PathBuf,
    /// How it was made.
    pub method: CopyMethod,
}

impl Record {
    fn read(dir: &Path) -> Option<Record> {
        let path = PathBuf::from(OsStr::from_bytes(&std::fs::read(dir.join("path")).ok()?));
        // A partial record has no method yet: what it holds is removed as a plain copy.
        let method = match std::fs::read_to_string(dir.join("method")).unwrap_or_default().trim() {
            "overlay" => CopyMethod::Overlay,
            "reflink" => CopyMethod::Reflink,
            _ => CopyMethod::Copy,
        };
        Some(Record { dir: dir.to_path_buf(), path, method })
    }
}

/// The complete copy records of the snapshot whose tree is `tree`, and the partial ones
/// with the pid that makes them (`.partial-<key>-<pid>`).
pub(crate) fn records(tree: &Path) -> (Vec<Record>, Vec<(PathBuf, Option<u32>)>) {
    let (mut done, mut partial) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(copies_of(tree)) else { return (done, partial) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(".partial-") {
            partial.push((e.path(), rest.rsplit_once('-').and_then(|(_, pid)| pid.parse().ok())));
        } else if let Some(r) = Record::read(&e.path()) {
            done.push(r);
        }
    }
    (done, partial)
}

/// Whether a path can go into overlay mount options as is (they separate with `,` and
/// `:` and escape with `\`).
fn plain_option(path: &Path) -> bool {
    !path.as_os_str().as_bytes().iter().any(|b| matches!(b, b',' | b':' | b'\\' | b'\n'))
}

/// A mount of this process's mount namespace, from `/proc/self/mountinfo`.
struct MountLine {
    /// Where it is mounted.
    point: PathBuf,
    /// Whether it is in a shared peer group (mounts below it propagate to its peers).
    shared: bool,
    /// The filesystem type.
    fstype: String,
}

/// The mounts of this process's mount namespace.
fn mount_lines() -> Vec<MountLine> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - type source super
            let (head, tail) = line.split_once(" - ")?;
            let mut fields = head.split(' ');
            let point = PathBuf::from(OsStr::from_bytes(&crate::mountinfo::unescape(fields.nth(4)?.as_bytes())));
            let shared = fields.skip(1).any(|f| f.starts_with("shared:"));
            let fstype = tail.split(' ').next()?.to_string();
            Some(MountLine { point, shared, fstype })
        })
        .collect()
}

/// Whether an overlay (kernel or `fuse-overlayfs`) is mounted at `path` in this
/// process's mount namespace.
pub(crate) fn overlay_mounted(path: &Path) -> bool {
    mount_lines().iter().any(|m| m.point == path && matches!(m.fstype.as_str(), "overlay" | FUSE_OVERLAY_TYPE))
}

/// Whether a mount made at `dir` now reaches rootless podman's containers: rootless
/// podman makes them in a mount namespace copied once from the host's, which sees later
/// host mounts only where the mount they land on is shared.
fn propagates(dir: &Path) -> bool {
    mount_lines()
        .into_iter()
        .filter(|m| dir.starts_with(&m.point))
        .max_by_key(|m| m.point.as_os_str().len())
        .is_some_and(|m| m.shared)
}

/// The file in a snapshot's dir that says whether its tree passed [`user_owns_all`] at
/// capture (`yes` or `no`): checked once, not at every start.
const USER_SERVES: &str = "user-serves";

/// Records whether the user's `fuse-overlayfs` can serve the snapshot being made in
/// `partial` (its tree in `partial/tree`).
pub(crate) fn mark_user_serves(partial: &Path) {
    let answer: &[u8] = if user_owns_all(&partial.join("tree")) { b"yes" } else { b"no" };
    let _ = std::fs::write(partial.join(USER_SERVES), answer);
}

/// Whether the user's `fuse-overlayfs` can serve the snapshot tree `tree`: as recorded at
/// capture, or for a snapshot without the record, by a walk.
fn user_serves(tree: &Path) -> bool {
    match tree.parent().map(|dir| std::fs::read(dir.join(USER_SERVES))) {
        Some(Ok(answer)) => answer == b"yes",
        _ => user_owns_all(tree),
    }
}

/// Whether a `fuse-overlayfs` run by this user can serve every entry of `tree` as it is:
/// it reads and copies up as the user, with no capability, so each entry must be the
/// user's (a group the user is in) and readable by its owner (dirs searchable too).
fn user_owns_all(tree: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let uid = rustix::process::geteuid().as_raw();
    let mut gids: Vec<u32> = rustix::process::getgroups().unwrap_or_default().iter().map(|g| g.as_raw()).collect();
    gids.push(rustix::process::getegid().as_raw());
    let fits = |p: &Path| {
        let Ok(m) = p.symlink_metadata() else { return false };
        let needs = if m.is_dir() {
            0o500
        } else if m.is_symlink() {
            0
        } else {
            0o400
        };
        m.uid() == uid && gids.contains(&m.gid()) && m.mode() & needs == needs
    };
    let mut dirs = vec![tree.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if !fits(&dir) {
            return false;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { return false };
        for e in entries {
            let Ok(e) = e else { return false };
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(_) if fits(&e.path()) => {}
                _ => return false,
            }
        }
    }
    true
}

/// Mounts an overlay at the existing empty dir `target`: `lower` read-only below,
/// `upper` and `work` (existing empty dirs) for the changes.
async fn mount(lower: &Path, upper: &Path, work: &Path, target: &Path, rootless: bool) -> Result<()> {
    if ![lower, upper, work, target].iter().all(|p| plain_option(p)) {
        return Err(Error::invalid("overlay", "a path has a character overlay options cannot hold (, : \\ newline)"));
    }
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    if rootless {
        let out = tokio::process::Command::new("fuse-overlayfs")
            .arg("-o")
            .arg(&options)
            .arg(target)
            .stdin(std::process::Stdio::null())
            .current_dir("/")
            .output()
            .await
            .map_err(|e| Error::io("running fuse-overlayfs", e))?;
        if !out.status.success() {
            let words = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(Error::io(
                format!("mounting an overlay at {}", target.display()),
                std::io::Error::other(words),
            ));
        }
        return Ok(());
    }
    // `index=on`: a file with hard links keeps them when a change copies it up (the
    // kernel's default breaks them; fuse-overlayfs keeps them anyway). `redirect_dir=on`:
    // a dir of the lower layer can be renamed (else rename(2) answers EXDEV).
    let options = format!("{options},index=on,redirect_dir=on");
    let data = std::ffi::CString::new(options).map_err(|_| Error::invalid("overlay", "a path holds a NUL byte"))?;
    rustix::mount::mount("overlay", target, "overlay", rustix::mount::MountFlags::empty(), data.as_c_str())
        .map_err(|e| Error::io(format!("mounting an overlay at {}", target.display()), e.into()))
}

/// Unmounts the overlay at `path` (lazily when it is busy).
async fn unmount(path: &Path, rootless: bool) -> Result<()> {
    if rootless {
        for flags in ["-u", "-uz"] {
            let out = tokio::process::Command::new("fusermount3")
                .arg(flags)
                .arg(path)
                .stdin(std::process::Stdio::null())
                .current_dir("/")
                .output()
                .await
                .map_err(|e| Error::io("running fusermount3", e))?;
            if out.status.success() || !overlay_mounted(path) {
                return Ok(());
            }
        }
        return Err(Error::io(
            format!("unmounting the overlay at {}", path.display()),
            std::io::Error::other("fusermount3 -u failed"),
        ));
    }
    use rustix::mount::UnmountFlags;
    match rustix::mount::unmount(path, UnmountFlags::NOFOLLOW) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(path, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
            .map_err(|e| Error::io(format!("unmounting the overlay at {}", path.display()), e.into())),
        Err(e) => Err(Error::io(format!("unmounting the overlay at {}", path.display()), e.into())),
    }
}

/// Makes a copy of the snapshot tree `tree` at `target` (which must not exist; its parent must)
/// and records it; returns how it was made. Nothing is left when it fails.
pub(crate) async fn make(tree: &Path, target: &Path, rootless: bool, podman: &Path) -> Result<CopyMethod> {
    let copies = copies_of(tree);
    std::fs::create_dir_all(&copies).map_err(|e| Error::io(format!("making {}", copies.display()), e))?;
    let key = key_of(target);
    let partial = copies.join(format!(".partial-{key}-{}", std::process::id()));
    let made = async {
        std::fs::create_dir(&partial).map_err(|e| Error::io(format!("making {}", partial.display()), e))?;
        std::fs::write(partial.join("path"), target.as_os_str().as_bytes())
            .map_err(|e| Error::io(format!("recording the copy in {}", partial.display()), e))?;
        let method = copy_into(tree, &partial, target, rootless, podman).await?;
        std::fs::write(partial.join("method"), method.name())
            .map_err(|e| Error::io(format!("recording the copy in {}", partial.display()), e))?;
        let record = copies.join(&key);
        // A record of an earlier copy at this path, which is gone (the target did not
        // exist): replaced.
        if record.exists() {
            remove_tree(&record, rootless, podman).await;
        }
        std::fs::rename(&partial, &record)
            .map_err(|e| Error::io(format!("recording the copy in {}", record.display()), e))?;
        Ok(method)
    };
    let result = made.await;
    if result.is_err() {
        remove_tree(&partial, rootless, podman).await;
    }
    result
}

/// The copy itself: a reflink copy where that works, else an overlay whose upper and
/// work dirs go into the record `partial`, else a plain copy.
async fn copy_into(tree: &Path, partial: &Path, target: &Path, rootless: bool, podman: &Path) -> Result<CopyMethod> {
    let parent = target.parent().unwrap_or(target);
    // Rootless, an overlay only where the user's fuse-overlayfs can serve it to the
    // session as a copy would be (else a plain copy, and the report says so).
    if !reflinks_between(tree, parent) && (!rootless || (propagates(parent) && user_serves(tree))) {
        let (upper, work) = (partial.join("upper"), partial.join("work"));
        let dirs = [&upper, &work, &target.to_path_buf()]
            .iter()
            .try_for_each(|d| std::fs::create_dir(d).map_err(|e| Error::io(format!("making {}", d.display()), e)));
        match dirs {
            Ok(()) => match mount(tree, &upper, &work, target, rootless).await {
                Ok(()) => return Ok(CopyMethod::Overlay),
                Err(e) => tracing::debug!("no overlay at {}, copying instead: {e}", target.display()),
            },
            Err(e) => tracing::debug!("no overlay at {}, copying instead: {e}", target.display()),
        }
        // The plain copy below makes the target itself.
        let _ = std::fs::remove_dir(target);
    }
    copy_tree(tree, target, rootless, podman).await
}

/// Removes the copy `record` and what it holds: unmounts an overlay, removes the copy's
/// tree and the record.
async fn remove_record(record: &Record, rootless: bool, podman: &Path) -> Result<()> {
    if overlay_mounted(&record.path) {
        unmount(&record.path, rootless).await?;
    }
    remove_tree(&record.path, rootless, podman).await;
    if record.path.symlink_metadata().is_ok() {
        return Err(Error::io(
            format!("removing the copy at {}", record.path.display()),
            std::io::Error::other("it is still there after rm -rf (a mount below it?)"),
        ));
    }
    remove_tree(&record.dir, rootless, podman).await;
    Ok(())
}

/// Removes the copy of the snapshot tree `tree` at `target` that a failed start made.
pub(crate) async fn remove_made(tree: &Path, target: &Path, rootless: bool, podman: &Path) {
    let dir = copies_of(tree).join(key_of(target));
    let record = Record::read(&dir).unwrap_or(Record { dir, path: target.to_path_buf(), method: CopyMethod::Copy });
    if let Err(e) = remove_record(&record, rootless, podman).await {
        tracing::warn!("removing the copy of a failed start: {e}");
    }
}

/// The overlay copies reading from the snapshot whose tree is `tree` (their paths).
pub(crate) fn overlay_copies(tree: &Path) -> Vec<PathBuf> {
    records(tree).0.into_iter().filter(|r| r.method == CopyMethod::Overlay).map(|r| r.path).collect()
}

/// Tidies the copy records of the snapshot whose tree is `tree`: removes partial copies
/// whose process is gone (their half-made copy too) and records of copies the user
/// removed; mounts again an overlay copy that is no longer mounted (after a reboot).
/// Returns what it removed or mounted.
pub(crate) async fn reap(tree: &Path, rootless: bool, podman: &Path) -> Vec<PathBuf> {
    let mut reaped = Vec::new();
    let (done, partial) = records(tree);
    for (dir, pid) in partial {
        if pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
            continue;
        }
        match Record::read(&dir) {
            Some(r) => {
                if remove_record(&r, rootless, podman).await.is_ok() {
                    reaped.push(r.path);
                }
            }
            None => remove_tree(&dir, rootless, podman).await,
        }
        reaped.push(dir);
    }
    for r in done {
        if r.path.symlink_metadata().is_err() {
            remove_tree(&r.dir, rootless, podman).await;
            reaped.push(r.dir);
        } else if r.method == CopyMethod::Overlay && !overlay_mounted(&r.path) {
            let empty = std::fs::read_dir(&r.path).map(|mut d| d.next().is_none()).unwrap_or(false);
            if empty && mount(tree, &r.dir.join("upper"), &r.dir.join("work"), &r.path, rootless).await.is_ok() {
                reaped.push(r.path);
            }
        }
    }
    reaped
}

/// The dir of the managed copies of `config` for user `uid` (sessions started from a
/// snapshot with no working dir given, `<copy dir>/<session id>`).
pub fn copy_dir(config: &Config, uid: u32) -> PathBuf {
    let (root, xdg) = ("/var/lib/sandbox-work", ("XDG_DATA_HOME", "sandbox-work"));
    crate::config::user_dir(config.copy_dir.as_ref(), uid, root, xdg, ".local/share/sandbox-work", "sandbox-work")
}

/// The copy dir, made if missing: searchable by all (a container user other than root
/// reaches its working dir), listable by its owner only.
pub(crate) fn open_copy_dir(config: &Config, uid: u32) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = copy_dir(config, uid);
    match std::fs::DirBuilder::new().recursive(true).mode(0o711).create(&dir) {
        Ok(()) => Ok(dir.canonicalize().unwrap_or(dir)),
        Err(e) => Err(Error::io(format!("making the copy dir {}", dir.display()), e)),
    }
}

/// Removes the copy dir of `config` if it is empty (its last managed copy went).
pub(crate) fn tidy_copy_dir(config: &Config, uid: u32) {
    let _ = std::fs::remove_dir(copy_dir(config, uid));
}

impl Sandbox {
    /// Removes the copy of a snapshot at `path` that a session started from it (or a
    /// fork's child) got: unmounts it if it is an overlay, removes its files (rootless in
    /// podman's user namespace, so files the session made go too) and its record. Refused
    /// ([`InvalidInput`](crate::ErrorKind::InvalidInput)) while a session of this library
    /// (running or stopped) has it as its working dir, or while it is in the working dir
    /// of a running session (which could swap a dir on the way for a symlink);
    /// [`NotFound`](crate::ErrorKind::NotFound) when no snapshot has a copy there.
    pub async fn remove_copy(&self, path: &Path) -> Result<()> {
        if !path.is_absolute() {
            return Err(Error::invalid("copy path", format!("{} is not an absolute path", path.display())));
        }
        // Copies are recorded by their path with no symlink on the way.
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let path = canonical.as_path();
        let users: Vec<String> =
            self.list().await?.into_iter().filter(|s| s.working_dir == path).map(|s| s.id).collect();
        if !users.is_empty() {
            return Err(Error::invalid(
                "copy path",
                format!("{} is the working dir of session {}: stop it first", path.display(), users.join(", ")),
            ));
        }
        self.outside_running_sessions(path, "copy path", "stop that session first (it could redirect the removal)")
            .await?;
        let key = key_of(path);
        let found = self.snapshots().await?.into_iter().find_map(|s| {
            let dir = copies_of(&s.tree).join(&key);
            Record::read(&dir).filter(|r| r.path == path)
        });
        let Some(record) = found else {
            return Err(Error::NotFound {
                what: format!("copy at {}", path.display()),
                detail: "no snapshot has a copy there (a session started from a snapshot or a fork's child)".into(),
            });
        };
        let host = self.engine.host().await?;
        remove_record(&record, host.rootless, &self.config.podman).await?;
        tidy_copy_dir(&self.config, host.uid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_with_an_entry_its_owner_cannot_read_is_not_for_the_users_fuse_overlayfs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/nowhere", dir.path().join("link")).unwrap();
        assert!(user_owns_all(dir.path()));
        std::fs::set_permissions(dir.path().join("sub/f"), std::fs::Permissions::from_mode(0o200)).unwrap();
        assert!(!user_owns_all(dir.path()), "a file its owner cannot read");
        std::fs::set_permissions(dir.path().join("sub/f"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path().join("sub"), std::fs::Permissions::from_mode(0o300)).unwrap();
        assert!(!user_owns_all(dir.path()), "a dir its owner cannot list");
        std::fs::set_permissions(dir.path().join("sub"), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!user_owns_all(&dir.path().join("missing")));
    }

    #[test]
    fn paths_with_option_separators_cannot_be_overlay_layers() {
        assert!(plain_option(Path::new("/tmp/a b/ü")));
        for bad in ["/a,b", "/a:b", "/a\\b", "/a\nb"] {
            assert!(!plain_option(Path::new(bad)), "{bad:?}");
        }
    }

    #[test]
    fn records_are_read_back_and_partials_carry_their_pid() {
        let store = tempfile::tempdir().unwrap();
        let tree = store.path().join("snap/tree");
        std::fs::create_dir_all(&tree).unwrap();
        let copies = copies_of(&tree);
        let target = Path::new("/work/child 1");
        let done = copies.join(key_of(target));
        std::fs::create_dir_all(&done).unwrap();
        std::fs::write(done.join("path"), target.as_os_str().as_bytes()).unwrap();
        std::fs::write(done.join("method"), "overlay").unwrap();
        std::fs::create_dir_all(copies.join(".partial-abc-4242")).unwrap();
        let (records, partial) = records(&tree);
        assert_eq!(records, [Record { dir: done, path: target.into(), method: CopyMethod::Overlay }]);
        assert_eq!(partial, [(copies.join(".partial-abc-4242"), Some(4242))]);
        assert_eq!(overlay_copies(&tree), [PathBuf::from(target)]);
        assert_ne!(key_of(target), key_of(Path::new("/work/child 2")));
    }

    #[test]
    fn nothing_is_mounted_at_a_fresh_dir() {
        let d = tempfile::tempdir().unwrap();
        assert!(!overlay_mounted(d.path()));
    }
}
