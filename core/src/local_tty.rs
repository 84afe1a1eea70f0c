//! The user's own terminal connected to a sandbox [`Terminal`], both ways, as
//! `sandbox attach` (nu) and `sandbox term attach` (the CLI) do: raw mode, keystrokes read
//! on a thread that can be stopped at once, output copied as it comes, window size
//! changes passed on, Ctrl-] to detach. Only for programs whose stdin and stdout are the
//! user's terminal.

use std::io;
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::BorrowedFd;
use rustix::termios::{self, OptionalActions, Pid, Termios};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::{ErrorKind, Follow, Terminal};

/// The key that detaches: Ctrl-] (as in telnet).
pub const DETACH_KEY: u8 = 0x1d;

/// This process's stdin (the user's terminal when attached).
pub fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// This process's stdout (the same terminal, for output).
pub fn stdout() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}

/// Whether stdin and stdout are both terminals.
pub fn is_interactive() -> bool {
    termios::isatty(stdin()) && termios::isatty(stdout())
}

/// The terminal's size as (rows, cols); 24x80 when it does not say.
pub fn size() -> (u16, u16) {
    match termios::tcgetwinsize(stdout()) {
        Ok(w) if w.ws_row > 0 && w.ws_col > 0 => (w.ws_row, w.ws_col),
        _ => (24, 80),
    }
}

/// The terminal's foreground process group, to give the terminal back to when done.
pub fn foreground_group() -> Option<Pid> {
    termios::tcgetpgrp(stdin()).ok()
}

/// Makes `group` the terminal's foreground process group (this process must be in the
/// foreground now).
pub fn set_foreground_group(group: Pid) -> io::Result<()> {
    termios::tcsetpgrp(stdin(), group).map_err(io::Error::from)
}

/// Raw mode on stdin while alive; the previous settings come back on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches the terminal to raw mode.
    pub fn enter() -> io::Result<RawMode> {
        let saved = termios::tcgetattr(stdin())?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin(), OptionalActions::Drain, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(stdin(), OptionalActions::Drain, &self.saved);
    }
}

/// What the reading thread sends: bytes typed, or the end of input.
pub type Keys = Option<Vec<u8>>;

/// The reading thread and its stop switch.
pub struct TerminalInput {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl TerminalInput {
    /// Starts reading stdin; keys arrive on the returned receiver (`None` at end of
    /// input, or when reading failed).
    pub fn start() -> io::Result<(TerminalInput, mpsc::Receiver<Keys>)> {
        let (stop_read, stop_write) = rustix::pipe::pipe()?;
        let (tx, rx) = mpsc::channel(64);
        let thread = std::thread::Builder::new().name("sandbox attach input".into()).spawn(move || {
            let stdin = stdin();
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
    pub fn stop(&mut self) {
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

/// How an attach ended.
#[derive(Debug)]
pub enum Outcome {
    /// The terminal's program exited.
    Exited,
    /// Ctrl-] (or end of input, or `detach_now`).
    Detached,
    /// The sandbox failed.
    Lost(crate::Error),
    /// The local terminal failed.
    Failed(String),
}

/// Copies keys to `terminal` and its output (from `start_at`) to stdout, passes window
/// size changes on, until its program exits, the user types Ctrl-] or input ends, or
/// `detach_now` resolves (e.g. an interrupt). The caller has put the terminal in raw
/// mode ([`RawMode`]) and started [`TerminalInput`], whose receiver is `keys`.
pub async fn connect(
    terminal: &Terminal,
    start_at: u64,
    mut keys: mpsc::Receiver<Keys>,
    detach_now: impl std::future::Future<Output = ()>,
) -> Outcome {
    let mut resized = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("cannot watch for terminal size changes: {e}")),
    };
    let mut output = tokio::spawn(copy_output(terminal.follow(start_at)));
    let mut detach_now = std::pin::pin!(detach_now);
    let outcome = loop {
        tokio::select! {
            biased;
            _ = &mut detach_now => break Outcome::Detached,
            done = &mut output => break match done {
                Ok(Ok(())) => Outcome::Exited,
                Ok(Err(e)) => Outcome::Lost(e),
                Err(e) => Outcome::Failed(format!("the output copy failed: {e}")),
            },
            typed = keys.recv() => {
                let Some(Some(mut bytes)) = typed else {
                    break Outcome::Detached;
                };
                let detach = bytes.iter().position(|b| *b == DETACH_KEY);
                if let Some(at) = detach {
                    bytes.truncate(at);
                }
                match terminal.write(&bytes).await {
                    Ok(()) => {}
                    // The program just exited: its last output is still on its way.
                    Err(e) if e.kind() == ErrorKind::NotRunning => {
                        break match (&mut output).await {
                            Ok(Ok(())) => Outcome::Exited,
                            Ok(Err(e)) => Outcome::Lost(e),
                            Err(e) => Outcome::Failed(format!("the output copy failed: {e}")),
                        };
                    }
                    Err(e) => break Outcome::Lost(e),
                }
                if detach.is_some() {
                    break Outcome::Detached;
                }
            }
            _ = resized.recv() => {
                let (rows, cols) = size();
                // A failure here (the program just exited) shows up on the output side.
                let _ = terminal.resize(rows, cols).await;
            }
        }
    };
    output.abort();
    outcome
}

/// Copies the terminal's output to stdout as it comes until its program has exited and
/// all of it is written.
async fn copy_output(mut output: Follow) -> crate::Result<()> {
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = output.next().await {
        // The user's terminal going away ends the attach like a lost session would not:
        // stop copying quietly.
        if stdout.write_all(&chunk?.data).await.is_err() || stdout.flush().await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
