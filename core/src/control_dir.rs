//! Per-session control dirs on the host: private (0700) directories, bind-mounted into
//! the container, holding the agent's socket (and, later, task spools).
//!
//! The container can write into its control dir, so the host treats everything inside
//! as hostile: it never follows a symlink there, and connects to the agent socket
//! through an `O_PATH|O_NOFOLLOW` handle after checking it is a socket.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, FlockOperation, Mode, OFlags, flock, fstat, open, openat};

use crate::config::Config;
use crate::error::{Error, Result};

/// File name of the agent socket inside a control dir.
pub const SOCKET_NAME: &str = "agent.sock";
/// File the agent holds a shared lock on while it lives: a live session is detectable
/// without asking the engine.
pub const AGENT_LOCK_NAME: &str = "agent.lock";

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
}

/// Creates (or reuses a stale) control dir for session `id` and locks it for starting.
/// Fails with [`Error::SessionExists`] when another process is starting the same id or
/// a live agent holds the dir.
pub fn prepare(base: &Path, id: &str, uid: u32) -> Result<(PathBuf, StartLock)> {
    ensure_private_dir(base, uid)?;
    let path = base.join(id);
    let action = || format!("creating control dir {}", path.display());
    match std::fs::create_dir(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(action(), e)),
    }
    let dir = open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io(action(), e.into()))?;
    if flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(Error::SessionExists { id: id.into(), detail: "another process is starting it right now".into() });
    }
    if agent_alive(&dir) {
        return Err(Error::SessionExists { id: id.into(), detail: "its agent is running".into() });
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(action(), e))?;
    clear(&path).map_err(|e| Error::io(format!("clearing stale control dir {}", path.display()), e))?;
    Ok((path, StartLock { _dir: dir }))
}

/// True when a live agent holds its lock file in this control dir.
fn agent_alive(dir: &OwnedFd) -> bool {
    let Ok(lock) = openat(dir, AGENT_LOCK_NAME, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
    else {
        return false;
    };
    flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err()
}

/// Removes everything inside `dir` without following symlinks.
fn clear(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Removes a control dir and everything in it; a missing dir is fine.
pub fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing control dir {}", dir.display()), e)),
    }
}

/// Whether the agent socket exists (as a socket) in `dir`.
pub fn socket_present(dir: &Path) -> bool {
    open_socket_path(dir).is_ok()
}

/// Opens the socket inode itself, refusing symlinks and anything that is not a socket.
fn open_socket_path(dir: &Path) -> std::io::Result<OwnedFd> {
    let d = open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let sock = openat(&d, SOCKET_NAME, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let st = fstat(&sock)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::Socket {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}/{SOCKET_NAME} is a {ft:?}, not a socket: refusing to connect", dir.display()),
        ));
    }
    Ok(sock)
}

/// Connects to the agent socket of a control dir without following any symlink the
/// container may have planted: the socket inode is opened with `O_PATH|O_NOFOLLOW`,
/// checked, and connected through `/proc/self/fd`.
pub async fn connect(dir: &Path) -> std::io::Result<tokio::net::UnixStream> {
    let sock = open_socket_path(dir)?;
    let path = format!("/proc/self/fd/{}", sock.as_raw_fd());
    let stream = tokio::net::UnixStream::connect(&path).await;
    drop(sock);
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn uid() -> u32 {
        rustix::process::getuid().as_raw()
    }

    #[tokio::test]
    async fn connects_to_a_real_socket_only() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("s");
        std::fs::create_dir(&dir).unwrap();
        assert!(connect(&dir).await.is_err(), "no socket yet");
        let _l = UnixListener::bind(dir.join(SOCKET_NAME)).unwrap();
        connect(&dir).await.expect("real socket connects");
        assert!(socket_present(&dir));
    }

    #[tokio::test]
    async fn refuses_a_planted_symlink() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = t.path().join("elsewhere.sock");
        let _l = UnixListener::bind(&elsewhere).unwrap();
        let dir = t.path().join("s");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join(SOCKET_NAME)).unwrap();
        let e = connect(&dir).await.unwrap_err();
        assert!(e.to_string().contains("not a socket") || e.raw_os_error() == Some(40), "{e}");
        // A symlinked control dir is refused too.
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let _l2 = UnixListener::bind(real.join(SOCKET_NAME)).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(connect(&link).await.is_err());
    }

    #[test]
    fn prepare_locks_and_clears() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        let (path, lock) = prepare(&base, "s1", uid()).unwrap();
        std::fs::write(path.join("stale"), "x").unwrap();
        let e = prepare(&base, "s1", uid()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::SessionExists, "{e}");
        drop(lock);
        let (path, _lock) = prepare(&base, "s1", uid()).unwrap();
        assert!(!path.join("stale").exists(), "stale contents cleared");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        remove(&path).unwrap();
        remove(&path).unwrap();
    }

    #[test]
    fn a_live_agent_lock_means_exists() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("base");
        let (path, lock) = prepare(&base, "s2", uid()).unwrap();
        drop(lock);
        let f = std::fs::File::create(path.join(AGENT_LOCK_NAME)).unwrap();
        flock(&f, FlockOperation::LockShared).unwrap();
        let e = prepare(&base, "s2", uid()).unwrap_err();
        assert!(e.to_string().contains("agent is running"), "{e}");
        drop(f);
        prepare(&base, "s2", uid()).unwrap();
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
