//! The agent's system calls that the standard library and rustix do not wrap safely,
//! and the only module of the agent with `unsafe` code: opening a PTY pair (safe
//! rustix calls, kept beside the rest of the PTY handling), making the PTY the
//! controlling terminal of a child between fork and exec, registering the PTY master
//! with tokio's reactor, installing the syscall filter that `seccomp` builds
//! (`no_new_privs` and `PR_SET_SECCOMP`), and signalling every other process of the
//! container at once (`kill(-1)`, which rustix does not offer).

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// Opens a PTY pair sized `rows` x `cols`: (master, slave).
pub fn open_pty(rows: u16, cols: u16) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
    tcsetwinsize(&master, Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 })?;
    Ok((master, slave))
}

/// Makes the child a session leader whose controlling terminal is its stdin (the PTY
/// slave), so job control, `stty` and SIGWINCH work as in a real terminal.
pub fn make_session_leader_with_tty(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child between fork and exec. It performs
    // only two raw system calls (setsid, ioctl TIOCSCTTY on fd 0), both async-signal-
    // safe, touches no locks and allocates nothing (errors are plain errno values).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
            Ok(())
        });
    }
}

/// Sends `signal` to every process of the container's pid namespace that the agent may
/// signal, except the agent itself and init (pid 1): the kernel walks the process list
/// under its lock, so a process forking meanwhile is either signalled or its fork is
/// restarted after the signal. `Ok(false)` when there was no such process.
pub fn signal_all_others(signal: i32) -> std::io::Result<bool> {
    // SAFETY: kill(2) takes no pointers; -1 selects every process the caller may signal
    // but itself and init. An invalid signal number is reported as EINVAL, not UB.
    if unsafe { libc::kill(-1, signal) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(e) }
}

/// Registers a non-blocking descriptor (the PTY master) with the tokio reactor.
pub fn register_async(fd: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    rustix::io::ioctl_fionbio(&fd, true)?;
    // SAFETY: `fd` is an OwnedFd: it owns a valid, open descriptor, and the AsyncFd
    // takes ownership, so nothing else can close or replace it while it is registered;
    // it is deregistered before being closed when the AsyncFd drops.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// Installs the agent's syscall filter (`seccomp::RULES`: no user namespaces, no
/// setuid/setgid files, no keyring, no io_uring) on the calling thread. The agent calls
/// it before any thread exists, so it applies to the agent and to everything it starts:
/// filters are inherited across fork and exec and cannot be removed. `no_new_privs`,
/// which the kernel requires of an unprivileged installer, also keeps setuid binaries in
/// the image from gaining privileges.
#[cfg(target_arch = "x86_64")]
pub fn install_syscall_filter() -> std::io::Result<()> {
    let program = crate::seccomp::program().map_err(std::io::Error::other)?;
    let mut filter: Vec<libc::sock_filter> =
        program.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    let len = u16::try_from(filter.len()).map_err(std::io::Error::other)?;
    let fprog = libc::sock_fprog { len, filter: filter.as_mut_ptr() };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `filter`, a live vector of `len` sock_filter entries that
    // outlives the call; the kernel copies the program and keeps no pointer to it.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog, 0, 0) }
        != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// On other architectures the filter is not built yet (the policy has x86 syscall
/// numbers only): the agent says so and runs on.
#[cfg(not(target_arch = "x86_64"))]
pub fn install_syscall_filter() -> std::io::Result<()> {
    Err(std::io::Error::other("the syscall filter is only built for x86_64"))
}

/// The filter on the real kernel: each test installs it on a fresh thread (filters and
/// `no_new_privs` installed without TSYNC are per-thread, so the rest of the test binary
/// stays unfiltered) and makes raw syscalls from there, so libc wrappers cannot pick a
/// different call than the one under test.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use libc::c_long;

    use super::install_syscall_filter;

    /// A directory of its own per test, removed afterwards.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("sandbox-agent-seccomp-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).expect("creating a scratch dir");
            Scratch(dir)
        }

        /// A path in the scratch dir, with a file of mode 0644 there if `existing`.
        fn file(&self, name: &str, existing: bool) -> PathBuf {
            let p = self.0.join(name);
            if existing {
                std::fs::write(&p, b"x").expect("creating a test file");
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod 0644");
            }
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `f` on a new thread with the filter installed.
    fn filtered<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            install_syscall_filter().expect("installing the filter");
            f()
        })
        .join()
        .expect("the filtered thread panicked")
    }

    fn c_path(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).expect("no NUL in a temp path")
    }

    /// The result of a raw syscall: its return value, or the errno it failed with.
    fn result(ret: c_long) -> Result<c_long, i32> {
        if ret == -1 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)) } else { Ok(ret) }
    }

    fn syscall3(nr: c_long, a: c_long, b: c_long, c: c_long) -> Result<c_long, i32> {
        // SAFETY: every call in these tests passes integers and pointers to live,
        // NUL-terminated paths or zeroed buffers of the size the call reads, so the kernel
        // reads and writes only memory owned by the caller for the duration of the call.
        result(unsafe { libc::syscall(nr, a, b, c) })
    }

    fn syscall4(nr: c_long, a: c_long, b: c_long, c: c_long, d: c_long) -> Result<c_long, i32> {
        // SAFETY: as in `syscall3`.
        result(unsafe { libc::syscall(nr, a, b, c, d) })
    }

    fn syscall5(nr: c_long, a: c_long, b: c_long, c: c_long, d: c_long, e: c_long) -> Result<c_long, i32> {
        // SAFETY: as in `syscall3`.
        result(unsafe { libc::syscall(nr, a, b, c, d, e) })
    }

    fn close(fd: c_long) {
        let _ = syscall3(libc::SYS_close, fd, 0, 0);
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    const AT_FDCWD: c_long = libc::AT_FDCWD as c_long;
    /// x32 calls are x86_64 numbers with this bit. Kernels without x32 fail them with
    /// ENOSYS, those with it run them: either way the filter must answer first.
    const X32: c_long = 0x4000_0000;
    const EPERM: Result<c_long, i32> = Err(libc::EPERM);
    const ENOSYS: Result<c_long, i32> = Err(libc::ENOSYS);

    #[test]
    fn chmod_calls_cannot_set_setuid_or_setgid_but_still_set_other_modes() {
        let dir = Scratch::new();
        let path = dir.file("f", true);
        let (p, stat_path) = (c_path(&path), path.clone());
        let (refused, after_refused, allowed) = filtered(move || {
            let p = p.as_ptr() as c_long;
            let fd = syscall3(libc::SYS_open, p, libc::O_RDONLY as c_long, 0).expect("open");
            let refused = [
                syscall3(libc::SYS_chmod, p, 0o4755, 0),
                syscall3(libc::SYS_chmod, p, 0o2755, 0),
                syscall3(libc::SYS_fchmod, fd, 0o4755, 0),
                syscall4(libc::SYS_fchmodat, AT_FDCWD, p, 0o6755, 0),
                syscall4(libc::SYS_fchmodat2, AT_FDCWD, p, 0o4755, 0),
                syscall3(libc::SYS_chmod | X32, p, 0o4755, 0),
            ];
            let after_refused = mode(&stat_path);
            let allowed = [
                syscall3(libc::SYS_chmod, p, 0o755, 0),
                syscall3(libc::SYS_fchmod, fd, 0o1777, 0),
                syscall4(libc::SYS_fchmodat, AT_FDCWD, p, 0o700, 0),
            ];
            close(fd);
            (refused, after_refused, allowed)
        });
        assert_eq!(refused, [EPERM; 6], "chmod u+s, chmod g+s, fchmod, fchmodat, fchmodat2, x32 chmod");
        assert_eq!(after_refused, 0o644, "the refused calls left the mode alone");
        assert_eq!(allowed, [Ok(0); 3], "chmod 0755, fchmod 01777, fchmodat 0700");
        assert_eq!(mode(&path), 0o700);
    }

    #[test]
    fn setuid_files_cannot_be_created_but_other_opens_work() {
        let dir = Scratch::new();
        let existing = c_path(&dir.file("existing", true));
        let [via_open, via_openat, via_creat, normal, in_dir] =
            ["open", "openat", "creat", "normal", ""].map(|n| c_path(&dir.0.join(n)));
        let creat_flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL) as c_long;
        let tmpfile_flags = (libc::O_TMPFILE | libc::O_WRONLY) as c_long;
        let (refused, reads, created, tmpfile) = filtered(move || {
            let refused = [
                syscall3(libc::SYS_open, via_open.as_ptr() as c_long, creat_flags, 0o4755),
                syscall4(libc::SYS_openat, AT_FDCWD, via_openat.as_ptr() as c_long, creat_flags, 0o2755),
                syscall3(libc::SYS_creat, via_creat.as_ptr() as c_long, 0o6755, 0),
                syscall3(libc::SYS_open, in_dir.as_ptr() as c_long, tmpfile_flags, 0o4700),
            ];
            // Without O_CREAT or O_TMPFILE the mode is garbage the kernel ignores.
            let existing = existing.as_ptr() as c_long;
            let reads = [
                syscall3(libc::SYS_open, existing, libc::O_RDONLY as c_long, 0o4755),
                syscall4(libc::SYS_openat, AT_FDCWD, existing, libc::O_RDONLY as c_long, 0o6755),
            ];
            let created = syscall4(libc::SYS_openat, AT_FDCWD, normal.as_ptr() as c_long, creat_flags, 0o644);
            // EOPNOTSUPP on file systems without O_TMPFILE; anything but the filter's EPERM.
            let tmpfile = syscall3(libc::SYS_open, in_dir.as_ptr() as c_long, tmpfile_flags, 0o600);
            for fd in reads.into_iter().chain([created, tmpfile]).flatten() {
                close(fd);
            }
            (refused, reads.map(|r| r.is_ok()), created.is_ok(), tmpfile)
        });
        assert_eq!(refused, [EPERM; 4], "open, openat, creat with O_CREAT; open O_TMPFILE");
        for name in ["open", "openat", "creat"] {
            assert!(!dir.0.join(name).exists(), "{name} created a file although refused");
        }
        assert_eq!(reads, [true; 2], "open/openat O_RDONLY with a setuid garbage mode works");
        assert!(created, "openat O_CREAT 0644 works");
        assert_eq!(mode(&dir.0.join("normal")), 0o644);
        assert_ne!(tmpfile, EPERM, "open O_TMPFILE 0600 is not refused");
    }

    #[test]
    fn mknod_cannot_make_setuid_files() {
        let dir = Scratch::new();
        let [suid, plain] = ["suid", "plain"].map(|n| c_path(&dir.0.join(n)));
        let results = filtered(move || {
            (
                syscall4(libc::SYS_mknodat, AT_FDCWD, suid.as_ptr() as c_long, (libc::S_IFREG | 0o4755) as c_long, 0),
                syscall3(libc::SYS_mknod, suid.as_ptr() as c_long, (libc::S_IFREG | 0o2755) as c_long, 0),
                syscall4(libc::SYS_mknodat, AT_FDCWD, plain.as_ptr() as c_long, (libc::S_IFREG | 0o644) as c_long, 0),
            )
        });
        assert_eq!(results, (EPERM, EPERM, Ok(0)));
        assert!(!dir.0.join("suid").exists());
        assert!(dir.0.join("plain").is_file());
    }

    #[test]
    fn the_keyring_io_uring_openat2_and_clone3_look_absent() {
        let dir = Scratch::new();
        let path = c_path(&dir.file("f", true));
        let results = filtered(move || {
            let name = c"user";
            let desc = c"sandbox-agent-test";
            let payload = b"secret";
            // Zeroed stand-ins for struct io_uring_params (120 bytes) and struct open_how (24).
            let mut params = [0u8; 120];
            let how = [0u64; 3];
            const KEYCTL_GET_KEYRING_ID: c_long = 0;
            const KEY_SPEC_PROCESS_KEYRING: c_long = -2;
            [
                syscall3(libc::SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1),
                syscall5(
                    libc::SYS_add_key,
                    name.as_ptr() as c_long,
                    desc.as_ptr() as c_long,
                    payload.as_ptr() as c_long,
                    payload.len() as c_long,
                    KEY_SPEC_PROCESS_KEYRING,
                ),
                syscall4(libc::SYS_request_key, name.as_ptr() as c_long, desc.as_ptr() as c_long, 0, 0),
                syscall3(libc::SYS_io_uring_setup, 1, params.as_mut_ptr() as c_long, 0),
                syscall4(libc::SYS_openat2, AT_FDCWD, path.as_ptr() as c_long, how.as_ptr() as c_long, 24),
                // A null clone_args of size 0: if the filter let it through, the kernel
                // would fail it with EINVAL rather than start anything.
                syscall3(libc::SYS_clone3, 0, 0, 0),
            ]
        });
        assert_eq!(results, [ENOSYS; 6], "keyctl, add_key, request_key, io_uring_setup, openat2, clone3");
    }

    #[test]
    fn user_namespaces_cannot_be_made_but_other_clones_and_unshares_pass() {
        let results = filtered(|| {
            let newuser = libc::CLONE_NEWUSER as c_long;
            // CLONE_FS with CLONE_NEWUSER, and CLONE_SIGHAND without CLONE_VM, are flag
            // combinations the kernel refuses (EINVAL) before creating anything: the
            // first tells the filter's EPERM from the kernel's, the second shows that a
            // clone without CLONE_NEWUSER reaches the kernel.
            let clone_fs = libc::CLONE_FS as c_long;
            let clone_sighand = libc::CLONE_SIGHAND as c_long;
            (
                syscall3(libc::SYS_unshare, newuser, 0, 0),
                syscall3(libc::SYS_unshare | X32, newuser, 0, 0),
                syscall5(libc::SYS_clone, newuser | clone_fs, 0, 0, 0, 0),
                syscall5(libc::SYS_clone, clone_sighand, 0, 0, 0, 0),
                syscall3(libc::SYS_unshare, 0, 0, 0),
            )
        });
        assert_eq!(results, (EPERM, EPERM, EPERM, Err(libc::EINVAL), Ok(0)));
    }
}
