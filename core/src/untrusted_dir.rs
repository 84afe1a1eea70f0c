//! [`UntrustedDir`]: a directory the container can write into (the shared part of a
//! control dir), read by the host without ever following, blocking on or trusting what
//! the container left there.
//!
//! Every entry is opened relative to an already-open directory handle with
//! `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC`, then checked with `fstat` to be of
//! the expected type before anything is read; reads are bounded. So a symlink, FIFO,
//! socket, device node, directory or huge file planted in place of what the agent writes
//! gives an error (or a short read), never a followed link, a hang or unbounded memory.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Dir, FileType, Mode, OFlags, fstat, open, openat};

/// Most directory entries read from one untrusted directory.
pub const MAX_ENTRIES: usize = 100_000;

const BASE_FLAGS: OFlags = OFlags::NOFOLLOW.union(OFlags::NONBLOCK).union(OFlags::NOCTTY).union(OFlags::CLOEXEC);

/// An open directory whose contents the container controls.
#[derive(Debug)]
pub struct UntrustedDir {
    fd: OwnedFd,
}

impl AsFd for UntrustedDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Refuses names that are not a single plain component.
fn check_name(name: &str) -> std::io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad name {name:?}")));
    }
    Ok(())
}

impl UntrustedDir {
    /// Opens `path` itself: its last component must be a real directory (not a
    /// symlink). The components above it are the host's own (the private control dir).
    pub fn open(path: &Path) -> std::io::Result<UntrustedDir> {
        let fd = open(path, OFlags::RDONLY | OFlags::DIRECTORY | BASE_FLAGS, Mode::empty())?;
        Ok(UntrustedDir { fd })
    }

    /// Opens the subdirectory `name`.
    pub fn dir(&self, name: &str) -> std::io::Result<UntrustedDir> {
        check_name(name)?;
        let fd = openat(&self.fd, name, OFlags::RDONLY | OFlags::DIRECTORY | BASE_FLAGS, Mode::empty())?;
        Ok(UntrustedDir { fd })
    }

    /// Opens the regular file `name` for reading; anything else is an error.
    pub fn file(&self, name: &str) -> std::io::Result<std::fs::File> {
        check_name(name)?;
        let fd = openat(&self.fd, name, OFlags::RDONLY | BASE_FLAGS, Mode::empty())?;
        let ft = FileType::from_raw_mode(fstat(&fd)?.st_mode);
        if ft != FileType::RegularFile {
            return Err(invalid(format!("{name} is a {ft:?}, not a regular file")));
        }
        Ok(std::fs::File::from(fd))
    }

    /// Reads at most `max` bytes of the regular file `name`.
    pub fn read(&self, name: &str, max: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.file(name)?.take(max).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Opens the socket inode `name` (`O_PATH`): something to connect to through
    /// `/proc/self/fd`, checked to really be a socket.
    pub fn socket(&self, name: &str) -> std::io::Result<OwnedFd> {
        check_name(name)?;
        let fd = openat(&self.fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        let ft = FileType::from_raw_mode(fstat(&fd)?.st_mode);
        if ft != FileType::Socket {
            return Err(invalid(format!("{name} is a {ft:?}, not a socket: refusing to connect")));
        }
        Ok(fd)
    }

    /// The names in this directory (without `.` and `..`), at most [`MAX_ENTRIES`].
    pub fn names(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                out.push(name);
            }
            if out.len() >= MAX_ENTRIES {
                break;
            }
        }
        Ok(out)
    }
}

/// Reads at most `max` bytes of the regular file at `relative` (a path that may have
/// several components) inside `dir`, a directory the project or a session controls (a
/// working dir): symlinks are followed only while they stay beneath `dir` (`openat2`
/// with `RESOLVE_BENEATH`; on kernels without it, the resolved path must start with
/// `dir` and the last component must not be a link), and a FIFO, device or directory is
/// refused without blocking. A file longer than `max` is an error, not a short read.
pub fn read_beneath(dir: &Path, relative: &str, max: u64) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{ResolveFlags, openat2};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let root = open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let fd = match openat2(&root, relative, flags, Mode::empty(), ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS) {
        Err(rustix::io::Errno::NOSYS) => {
            let resolved = std::fs::canonicalize(dir.join(relative))?;
            if !resolved.starts_with(std::fs::canonicalize(dir)?) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{relative} leads out of {}", dir.display()),
                ));
            }
            open(&resolved, flags | OFlags::NOFOLLOW, Mode::empty())?
        }
        Err(rustix::io::Errno::XDEV) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{relative} leads out of {} (a symlink or ..)", dir.display()),
            ));
        }
        other => other?,
    };
    let ft = FileType::from_raw_mode(fstat(&fd)?.st_mode);
    if ft != FileType::RegularFile {
        return Err(invalid(format!("{relative} is a {ft:?}, not a regular file")));
    }
    let mut out = Vec::new();
    std::fs::File::from(fd).take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(invalid(format!("{relative} is larger than {max} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    fn mkfifo(p: &Path) {
        rustix::fs::mknodat(rustix::fs::CWD, p, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    }

    /// Every kind of thing a container can plant in place of a file the host reads:
    /// none is followed, none blocks, only the regular file is read.
    #[test]
    fn planted_entries_are_refused_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let d = &t.path().join("shared");
        std::fs::create_dir(d).unwrap();
        let secret = t.path().join("secret");
        std::fs::write(&secret, "host secret").unwrap();
        std::fs::write(d.join("regular"), "ok").unwrap();
        std::os::unix::fs::symlink(&secret, d.join("symlink")).unwrap();
        mkfifo(&d.join("fifo"));
        let _l = UnixListener::bind(d.join("socket")).unwrap();
        std::fs::create_dir(d.join("directory")).unwrap();
        let big = std::fs::File::create(d.join("huge")).unwrap();
        big.set_len(1 << 40).unwrap();
        let dir = UntrustedDir::open(d).unwrap();
        let started = Instant::now();
        assert_eq!(dir.read("regular", 100).unwrap(), b"ok");
        for bad in ["symlink", "fifo", "socket", "directory"] {
            assert!(dir.read(bad, 100).is_err(), "{bad} was read as a file");
        }
        assert_eq!(dir.read("huge", 10).unwrap().len(), 10, "reads are bounded");
        assert!(dir.dir("symlink").is_err() && dir.dir("fifo").is_err() && dir.dir("regular").is_err());
        assert!(dir.dir("directory").is_ok());
        assert!(dir.socket("socket").is_ok());
        for bad in ["symlink", "fifo", "regular", "directory"] {
            assert!(dir.socket(bad).is_err(), "{bad} taken as a socket");
        }
        for bad in ["", ".", "..", "a/b"] {
            assert!(dir.read(bad, 1).is_err() && dir.dir(bad).is_err(), "{bad:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5), "nothing blocked");
        let mut names = dir.names().unwrap();
        names.sort();
        assert_eq!(names, ["directory", "fifo", "huge", "regular", "socket", "symlink"]);
        // The directory itself must not be a symlink either.
        std::os::unix::fs::symlink(d, t.path().join("link")).unwrap();
        assert!(UntrustedDir::open(&t.path().join("link")).is_err());
    }

    /// A project's file is read only from inside its directory: links that stay inside
    /// are followed, links and `..` that lead out are refused, and nothing blocks.
    #[test]
    fn files_beneath_a_dir_do_not_lead_out() {
        let t = tempfile::tempdir().unwrap();
        let w = &t.path().join("work");
        std::fs::create_dir_all(w.join("sub")).unwrap();
        std::fs::write(t.path().join("secret"), "host secret").unwrap();
        std::fs::write(w.join("sub/real.json"), "{}").unwrap();
        std::os::unix::fs::symlink("sub/real.json", w.join("inside")).unwrap();
        std::os::unix::fs::symlink(t.path().join("secret"), w.join("absolute")).unwrap();
        std::os::unix::fs::symlink("../secret", w.join("relative")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root/etc/passwd", w.join("magic")).unwrap();
        mkfifo(&w.join("fifo"));
        std::fs::write(w.join("big"), vec![b' '; 100]).unwrap();
        let started = Instant::now();
        assert_eq!(read_beneath(w, "sub/real.json", 10).unwrap(), b"{}");
        assert_eq!(read_beneath(w, "inside", 10).unwrap(), b"{}");
        for bad in ["absolute", "relative", "magic", "../secret", "/etc/passwd", "fifo", "sub", "missing"] {
            assert!(read_beneath(w, bad, 100).is_err(), "{bad} was read");
        }
        assert!(read_beneath(w, "big", 99).is_err(), "too large is an error, not a short read");
        assert_eq!(read_beneath(w, "big", 100).unwrap().len(), 100);
        assert!(started.elapsed() < Duration::from_secs(5), "nothing blocked");
    }
}
