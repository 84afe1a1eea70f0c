//! The agent's only unsafe code: making a PTY the controlling terminal of a child.

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

/// Registers a non-blocking descriptor (the PTY master) with the tokio reactor.
pub fn register_async(fd: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    rustix::io::ioctl_fionbio(&fd, true)?;
    // SAFETY: `fd` is an OwnedFd: it owns a valid, open descriptor, and the AsyncFd
    // takes ownership, so nothing else can close or replace it while it is registered;
    // it is deregistered before being closed when the AsyncFd drops.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}
