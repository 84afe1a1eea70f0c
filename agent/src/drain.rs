//! Reading what a non-blocking descriptor holds right now, without waiting.

use std::os::fd::BorrowedFd;

/// Reads `fd` (non-blocking) directly — not through the reactor, whose readiness may lag
/// — handing each piece to `sink`, until it is empty for now. Returns true when it is
/// closed instead (end of file, or an error such as a PTY's EIO once every slave is
/// closed): then nothing more will come.
pub fn read_available(fd: BorrowedFd<'_>, buf: &mut [u8], mut sink: impl FnMut(&[u8])) -> bool {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return true,
            Ok(n) => sink(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => return false,
            Err(_) => return true,
        }
    }
}
