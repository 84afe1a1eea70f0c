//! The user's terminal, for `sandbox attach`: whether there is one, its size, and raw
//! mode (keys go through unprocessed, as to a remote shell) restored on drop.

use std::io;

use rustix::fd::BorrowedFd;
use rustix::termios::{self, OptionalActions, Pid, Termios};

/// The plugin's stdin: with nushell's local-socket plugin transport, the terminal nushell
/// runs on.
pub(crate) fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// The plugin's stdout (the same terminal, for output).
pub(crate) fn stdout() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}

/// Whether stdin and stdout are both terminals.
pub(crate) fn is_interactive() -> bool {
    termios::isatty(stdin()) && termios::isatty(stdout())
}

/// The terminal's size as (rows, cols); 24x80 when it does not say.
pub(crate) fn size() -> (u16, u16) {
    match termios::tcgetwinsize(stdout()) {
        Ok(w) if w.ws_row > 0 && w.ws_col > 0 => (w.ws_row, w.ws_col),
        _ => (24, 80),
    }
}

/// The terminal's foreground process group, to give the terminal back to when done.
pub(crate) fn foreground_group() -> Option<Pid> {
    termios::tcgetpgrp(stdin()).ok()
}

/// Makes `group` the terminal's foreground process group (this process must be in the
/// foreground now).
pub(crate) fn set_foreground_group(group: Pid) -> io::Result<()> {
    termios::tcsetpgrp(stdin(), group).map_err(io::Error::from)
}

/// Raw mode on stdin while alive; the previous settings come back on drop.
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches the terminal to raw mode.
    pub(crate) fn enter() -> io::Result<RawMode> {
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
