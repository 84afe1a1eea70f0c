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

/// A classic-BPF seccomp program that refuses to create user namespaces: `unshare` and
/// `clone` with `CLONE_NEWUSER` fail with EPERM, `clone3` (whose flags a filter cannot
/// see) with ENOSYS so libcs fall back to `clone`. The engine's seccomp profile allows
/// user namespaces, and inside one a command holds every capability: the first step of
/// many kernel exploits. Installed on the agent before any thread exists, so it applies
/// to the agent and to everything it starts (filters are inherited and cannot be
/// removed).
#[cfg(target_arch = "x86_64")]
pub fn deny_user_namespaces() -> std::io::Result<()> {
    use libc::{
        BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, sock_filter, sock_fprog,
    };
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const X32_BIT: u32 = 0x4000_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const ARG0_LOW: u32 = 16;
    let newuser = libc::CLONE_NEWUSER as u32;
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    let op = |code: u32, k: u32| sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jmp = |code: u32, k: u32, jt: u8, jf: u8| sock_filter { code: code as u16, jt, jf, k };
    let ld = BPF_LD | BPF_W | BPF_ABS;
    let jeq = BPF_JMP | BPF_JEQ | BPF_K;
    let jset = BPF_JMP | BPF_JSET | BPF_K;
    let ret = BPF_RET | BPF_K;
    let mut prog = [
        /* 0 */ op(ld, ARCH),
        /* 1 */ jmp(jeq, AUDIT_ARCH_X86_64, 0, 10), // else: 12
        /* 2 */ op(ld, NR),
        /* 3 */ op(BPF_ALU | BPF_AND | BPF_K, !X32_BIT), // x32 calls use the same numbers
        /* 4 */ jmp(jeq, 435, 0, 1), // clone3
        /* 5 */ op(ret, enosys),
        /* 6 */ jmp(jeq, 272, 1, 0), // unshare: 8
        /* 7 */ jmp(jeq, 56, 0, 3), // clone: 8, else: 11
        /* 8 */ op(ld, ARG0_LOW),
        /* 9 */ jmp(jset, newuser, 0, 1),
        /* 10 */ op(ret, eperm),
        /* 11 */ op(ret, RET_ALLOW),
        /* 12 */ jmp(jeq, AUDIT_ARCH_I386, 0, 8), // else: 21
        /* 13 */ op(ld, NR),
        /* 14 */ jmp(jeq, 435, 0, 1), // clone3
        /* 15 */ op(ret, enosys),
        /* 16 */ jmp(jeq, 310, 1, 0), // unshare: 18
        /* 17 */ jmp(jeq, 120, 0, 3), // clone: 18, else: 21
        /* 18 */ op(ld, ARG0_LOW),
        /* 19 */ jmp(jset, newuser, 0, 1),
        /* 20 */ op(ret, eperm),
        /* 21 */ op(ret, RET_ALLOW),
    ];
    let fprog = sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `prog`, a live array of `len` sock_filter entries that
    // outlives the call; the kernel copies the program and keeps no pointer to it.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const sock_fprog, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// On other architectures the filter is not built yet: the agent says so and runs on.
#[cfg(not(target_arch = "x86_64"))]
pub fn deny_user_namespaces() -> std::io::Result<()> {
    Err(std::io::Error::other("the user-namespace filter is only built for x86_64"))
}
