//! [`TerminalInput`]: keystrokes from the user's terminal, read on a thread of its own
//! for `sandbox attach`, which can be stopped at once (so that no key meant for nushell
//! is read after the attach ended).

use std::io;
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags, poll};
use tokio::sync::mpsc;

use crate::raw_terminal;

/// What the reading thread sends: bytes typed, or the end of input.
pub(crate) type Keys = Option<Vec<u8>>;

/// The reading thread and its stop switch.
pub(crate) struct TerminalInput {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl TerminalInput {
    /// Starts reading stdin; keys arrive on the returned receiver (`None` at end of
    /// input, or when reading failed).
    pub(crate) fn start() -> io::Result<(TerminalInput, mpsc::Receiver<Keys>)> {
        let (stop_read, stop_write) = rustix::pipe::pipe()?;
        let (tx, rx) = mpsc::channel(64);
        let thread = std::thread::Builder::new().name("sandbox attach input".into()).spawn(move || {
            let stdin = raw_terminal::stdin();
            let mut buf = [0u8; 4096];
            loop {
                let mut fds = [PollFd::new(&stdin, PollFlags::IN), PollFd::new(&stop_read, PollFlags::IN)];
                match poll(&mut fds, None) {
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => break,
                }
                if !fds[1].revents().is_empty() {
                    return; // stopped
                }
                if fds[0].revents().is_empty() {
                    continue;
                }
                match rustix::io::read(stdin, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.blocking_send(None);
        })?;
        Ok((TerminalInput { stop: Some(stop_write), thread: Some(thread) }, rx))
    }

    /// Stops the reading thread and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = rustix::io::write(&stop, b"x");
            drop(stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TerminalInput {
    fn drop(&mut self) {
        self.stop();
    }
}
