//! Reading what a non-blocking descriptor holds right now, without waiting: directly,
//! not through the reactor, whose readiness may lag.

use std::os::fd::BorrowedFd;

/// What one direct read of a non-blocking descriptor found.
pub enum Now {
    /// This many bytes, at the start of the buffer.
    Data(usize),
    /// Nothing for now (it is still open).
    Empty,
    /// Closed: end of file, or an error such as a PTY's EIO once every slave is closed.
    /// Nothing more will come.
    Closed,
}

/// One read of `fd` (non-blocking) into `buf`, retried when interrupted.
pub fn read_now(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Now {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Now::Closed,
            Ok(n) => return Now::Data(n),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => return Now::Empty,
            Err(_) => return Now::Closed,
        }
    }
}

/// Reads `fd` until it is empty for now, handing each piece to `sink`. Returns true when
/// it is closed instead: then nothing more will come.
pub fn read_available(fd: BorrowedFd<'_>, buf: &mut [u8], mut sink: impl FnMut(&[u8])) -> bool {
    loop {
        match read_now(fd, buf) {
            Now::Data(n) => sink(&buf[..n]),
            Now::Empty => return false,
            Now::Closed => return true,
        }
    }
}
