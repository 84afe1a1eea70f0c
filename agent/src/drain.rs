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

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, OwnedFd};
    use std::time::Duration;

    use rustix::pipe::{PipeFlags, pipe_with};

    use super::*;

    fn nonblocking_pipe() -> (OwnedFd, OwnedFd) {
        pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).unwrap()
    }

    /// Bytes 0..n of a pattern that shows reordering or loss.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    fn write_all(fd: &OwnedFd, mut data: &[u8]) {
        while !data.is_empty() {
            let n = rustix::io::write(fd, data).unwrap();
            data = &data[n..];
        }
    }

    #[test]
    fn everything_buffered_is_read_in_order_and_an_open_writer_is_not_end_of_file() {
        let (rd, wr) = nonblocking_pipe();
        // Under the default 64 KiB pipe buffer, so the writes never wait.
        let data = pattern(40_000);
        write_all(&wr, &data);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let closed = read_available(rd.as_fd(), &mut buf, |piece| got.extend_from_slice(piece));
        assert!(!closed, "the writer is still open");
        assert_eq!(got, data);
        assert!(matches!(read_now(rd.as_fd(), &mut buf), Now::Empty));
        drop(wr);
        assert!(matches!(read_now(rd.as_fd(), &mut buf), Now::Closed));
    }

    #[test]
    fn data_left_by_a_closed_writer_comes_before_the_end() {
        let (rd, wr) = nonblocking_pipe();
        let data = pattern(10_000);
        write_all(&wr, &data);
        drop(wr);
        let mut got = Vec::new();
        let mut buf = [0u8; 3000];
        assert!(read_available(rd.as_fd(), &mut buf, |piece| got.extend_from_slice(piece)), "closed");
        assert_eq!(got, data);
    }

    #[test]
    fn an_empty_pipe_with_an_open_writer_never_blocks() {
        let (rd, wr) = nonblocking_pipe();
        let (tx, rx) = std::sync::mpsc::channel();
        // In a thread: a read that blocked (or spun) would hang the test instead of failing it.
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let now = matches!(read_now(rd.as_fd(), &mut buf), Now::Empty);
            let mut pieces = 0;
            let closed = read_available(rd.as_fd(), &mut buf, |_| pieces += 1);
            let _ = tx.send((now, closed, pieces));
        });
        let (empty, closed, pieces) = rx.recv_timeout(Duration::from_secs(5)).expect("the reads returned");
        assert!(empty, "read_now reports an empty, open pipe as Empty");
        assert!(!closed && pieces == 0, "read_available reports it open, with nothing read");
        drop(wr);
    }
}
