//! Per-session control dirs on the host.
//!
//! `<base>/<id>/` is private to the host (0700, owned by the caller, never mounted):
//! podman runs with it as its working directory, so conmon's `oom` marker lands there
//! and nowhere the container can reach. Its `shared/` subdirectory
//! ([`layout::SHARED_DIR`]) is mounted into the container and owned by the
//! container's root user; it holds the agent's socket, lock and spools.
//!
//! The container can write anything into `shared/`, so the host reads it only through
//! [`UntrustedDir`] (no symlink followed, nothing that could block opened, types checked,
//! reads bounded), and connects to the agent's socket only after checking that the
//! process listening on it runs the agent binary this library mounted.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags, flock, fstat, open};
use sandbox_proto::layout;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::untrusted_dir::UntrustedDir;

/// The directory under which control dirs are created.
pub fn base_dir(config: &Config, uid: u32) -> PathBuf {
    if let Some(d) = &config.runtime_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("sandbox");
    }
    if uid == 0 {
        return PathBuf::from("/run/sandbox");
    }
    std::env::temp_dir().join(format!("sandbox-{uid}"))
}

/// The part of a control dir that is mounted into the container.
pub fn shared(control: &Path) -> PathBuf {
    control.join(layout::SHARED_DIR)
}

/// Creates `dir` (and parents) if needed and makes sure it is a real directory owned by
/// us with mode 0700.
pub fn ensure_private_dir(dir: &Path, uid: u32) -> Result<()> {
    let action = || format!("preparing private directory {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| Error::io(action(), e))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(action(), e))?;
    if !meta.is_dir() {
        return Err(Error::io(action(), std::io::Error::other("it is a symlink or not a directory")));
    }
    if meta.uid() != uid {
        return Err(Error::io(
            action(),
            std::io::Error::other(format!("it is owned by uid {}, not {uid}", meta.uid())),
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(action(), e))?;
    }
    Ok(())
}

/// An exclusive lock on a control dir held while a session is being started, so two
/// processes starting the same id cannot both proceed.
#[derive(Debug)]
pub struct StartLock {
    _dir: OwnedFd,
    created: bool,
}

impl StartLock {
    /// Whether this start created the control dir (no earlier session with this id left
    /// one behind, so nothing can be using it).
    pub fn created(&self) -> bool {
        self.created
    }
}

/// Creates (or reuses a stale) control dir for session `id` and locks it for starting,
/// without touching what is in it. Fails with [`Error::SessionExists`] when another
/// process is starting the same id or a live agent holds the dir. The caller then makes
/// sure no container of that id is running (a session can replace its own lock file, so
/// the lock alone does not prove its agent gone) before [`reset`] clears it.
pub fn lock(base: &Path, id: &str, uid: u32) -> Result<(PathBuf, StartLock)> {
    ensure_private_dir(base, uid)?;
    let path = base.join(id);
    let action = || format!("creating control dir {}", path.display());
    let created = match std::fs::create_dir(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::io(action(), e)),
    };
    let dir = open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io(action(), e.into()))?;
    let st = fstat(&dir).map_err(|e| Error::io(action(), e.into()))?;
    if st.st_uid != uid {
        return Err(Error::io(action(), std::io::Error::other(format!("it is owned by uid {}, not {uid}", st.st_uid))));
    }
    if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(Error::SessionExists { id: id.into(), detail: "another process is starting it right now".into() });
    }
    if agent_alive(&path) {
        return Err(Error::SessionExists { id: id.into(), detail: "its agent is running".into() });
    }
    Ok((path, StartLock { _dir: dir, created }))
}

/// Empties a control dir locked with [`lock`] and creates its shared part, empty and
/// given to `shared_owner` (uid, gid: the user the container's root is mapped to) when
/// that is not `uid`.
pub fn reset(path: &Path, _lock: &StartLock, uid: u32, shared_owner: Option<(u32, u32)>) -> Result<()> {
    let action = || format!("creating control dir {}", path.display());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(action(), e))?;
    clear(path).map_err(|e| Error::io(format!("clearing stale control dir {}", path.display()), e))?;
    let shared = shared(path);
    std::fs::create_dir(&shared).map_err(|e| Error::io(action(), e))?;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(action(), e))?;
    if let Some((u, g)) = shared_owner.filter(|(u, _)| *u != uid) {
        std::os::unix::fs::chown(&shared, Some(u), Some(g)).map_err(|e| Error::io(action(), e))?;
    }
    Ok(())
}

/// True when a live agent holds its lock file in this control dir.
fn agent_alive(control: &Path) -> bool {
    let Ok(lock) = UntrustedDir::open(&shared(control)).and_then(|d| d.file(layout::LOCK)) else {
        return false;
    };
    flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err()
}

/// Removes everything inside `dir` (symlinks are removed, never followed).
fn clear(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Marks the session as being stopped (before its container goes), so that readers
/// whose connection drops report a stop, not a loss. Best effort.
pub fn mark_stopping(dir: &Path) {
    let _ = std::fs::write(dir.join(layout::STOP_MARKER), b"");
}

/// Whether a stop of the session has begun.
pub fn stopping(dir: &Path) -> bool {
    UntrustedDir::open(dir).and_then(|d| d.file(layout::STOP_MARKER)).is_ok()
}

/// Removes a control dir and everything in it; a missing dir is fine.
pub fn remove(dir: &Path) -> Result<()> {
    // The session's egress enforcer goes with it (it would notice by itself, later).
    crate::egress::stop_enforcer(dir);
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing control dir {}", dir.display()), e)),
    }
}

/// Whether the agent socket exists (as a socket) in the control dir.
pub fn socket_present(control: &Path) -> bool {
    UntrustedDir::open(&shared(control)).and_then(|d| d.socket(layout::SOCKET)).is_ok()
}

/// Connects to the agent socket of a control dir without following any symlink the
/// container may have planted (the socket inode is opened with `O_PATH|O_NOFOLLOW`,
/// checked, and connected through `/proc/self/fd`), then checks that the process
/// listening runs `agent` (the binary mounted into the container): a socket planted by
/// code in the container is refused at once instead of being handshaken with.
pub async fn connect(control: &Path, agent: &Path) -> std::io::Result<tokio::net::UnixStream> {
    let sock = UntrustedDir::open(&shared(control))?.socket(layout::SOCKET)?;
    let path = format!("/proc/self/fd/{}", sock.as_raw_fd());
    let stream = tokio::net::UnixStream::connect(&path).await;
    drop(sock);
    let stream = stream?;
    verify_peer(&stream, agent)?;
    Ok(stream)
}

/// Checks that the peer of `stream` runs the binary `agent` (same file: device and
/// inode, which a bind mount keeps).
fn verify_peer(stream: &tokio::net::UnixStream, agent: &Path) -> std::io::Result<()> {
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    let pid = stream.peer_cred()?.pid().ok_or_else(|| refuse("the socket's owner is unknown".into()))?;
    let exe = std::fs::metadata(format!("/proc/{pid}/exe"))
        .map_err(|e| refuse(format!("cannot see what process {pid} listening on the agent socket runs: {e}")))?;
    let want = std::fs::metadata(agent)?;
    if (exe.dev(), exe.ino()) != (want.dev(), want.ino()) {
        return Err(refuse(format!(
            "the process listening on the agent socket (pid {pid}) is not the sandbox agent: something in the container replaced its socket"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::FileType;
    use std::os::unix::net::UnixListener;

    fn uid() -> u32 {
        rustix::process::getuid().as_raw()
    }

    fn me() -> PathBuf {
        std::env::current_exe().unwrap()
    }

    fn control_with_shared(t: &tempfile::TempDir) -> PathBuf {
        let dir = t.path().join("s");
        std::fs::create_dir_all(shared(&dir)).unwrap();
        dir
    }

    #[tokio::test]
    async fn connects_to_a_real_agent_socket_only() {
        let t = tempfile::tempdir().unwrap();
        let dir = control_with_shared(&t);
        assert!(connect(&dir, &me()).await.is_err(), "no socket yet");
        // This test process listens: it is "the agent" when its own binary is expected.
        let _l = UnixListener::bind(shared(&dir).join(layout::SOCKET)).unwrap();
        connect(&dir, &me()).await.expect("real socket connects");
        assert!(socket_present(&dir));
        // Any other binary expected: the listener is refused at once.
        let other = t.path().join("other-binary");
        std::fs::write(&other, "x").unwrap();
        let e = connect(&dir, &other).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("not the sandbox agent"), "{e}");
    }

    #[tokio::test]
    async fn refuses_a_planted_symlink() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = t.path().join("elsewhere.sock");
        let _l = UnixListener::bind(&elsewhere).unwrap();
        let dir = control_with_shared(&t);
        std::os::unix::fs::symlink(&elsewhere, shared(&dir).join(layout::SOCKET)).unwrap();
        let e = connect(&dir, &me()).await.unwrap_err();
        assert!(e.to_string().contains("not a socket") || e.raw_os_error() == Some(40), "{e}");
        // A symlinked shared dir is refused too.
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let _l2 = UnixListener::bind(real.join(layout::SOCKET)).unwrap();
        let dir2 = t.path().join("s2");
        std::fs::create_dir(&dir2).unwrap();
        std::os::unix::fs::symlink(&real, shared(&dir2)).unwrap();
        assert!(connect(&dir2, &me()).await.is_err());
    }

    fn prepare(base: &Path, id: &str) -> Result<(PathBuf, StartLock)> {
        let (path, lock) = super::lock(base, id, uid())?;
        reset(&path, &lock, uid(), None)?;
        Ok((path, lock))
    }

    #[test]
    fn lock_refuses_a_second_starter_and_reset_clears() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        let (path, lock) = prepare(&base, "s1").unwrap();
        assert!(lock.created());
        std::fs::write(path.join("stale"), "x").unwrap();
        std::fs::write(shared(&path).join("stale"), "x").unwrap();
        let e = prepare(&base, "s1").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::SessionExists, "{e}");
        drop(lock);
        // Locking alone leaves what is there (the caller has not yet checked the engine).
        let (path, lock) = super::lock(&base, "s1", uid()).unwrap();
        assert!(!lock.created(), "the dir was there already");
        assert!(path.join("stale").exists() && shared(&path).join("stale").exists());
        reset(&path, &lock, uid(), None).unwrap();
        drop(lock);
        let (path, _lock) = prepare(&base, "s1").unwrap();
        assert!(!path.join("stale").exists(), "stale contents cleared");
        assert!(shared(&path).is_dir() && !shared(&path).join("stale").exists());
        for p in [&path, &shared(&path)] {
            assert_eq!(std::fs::metadata(p).unwrap().mode() & 0o777, 0o700);
        }
        remove(&path).unwrap();
        remove(&path).unwrap();
    }

    #[test]
    fn a_live_agent_lock_means_exists_and_a_planted_fifo_does_not_block() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        let (path, lock) = prepare(&base, "s2").unwrap();
        drop(lock);
        let f = std::fs::File::create(shared(&path).join(layout::LOCK)).unwrap();
        flock(&f, FlockOperation::LockShared).unwrap();
        let e = prepare(&base, "s2").unwrap_err();
        assert!(e.to_string().contains("agent is running"), "{e}");
        drop(f);
        let (path, lock) = prepare(&base, "s2").unwrap();
        drop(lock);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            shared(&path).join(layout::LOCK),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        prepare(&base, "s2").expect("a FIFO lock file is not a live agent, and opening it does not block");
    }

    #[test]
    fn the_private_dir_must_be_ours() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, base.join("s3")).unwrap();
        assert!(prepare(&base, "s3").is_err(), "a symlinked control dir is refused");
    }

    #[test]
    fn base_dir_must_be_ours_and_private() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("b");
        ensure_private_dir(&base, uid()).unwrap();
        assert_eq!(std::fs::metadata(&base).unwrap().mode() & 0o777, 0o700);
        let e = ensure_private_dir(&base, uid() + 1).unwrap_err();
        assert!(e.to_string().contains("owned by"), "{e}");
        let link = t.path().join("l");
        std::os::unix::fs::symlink(&base, &link).unwrap();
        assert!(ensure_private_dir(&link, uid()).is_err());
    }
}
