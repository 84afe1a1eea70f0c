//! PTY terminals created inside the container: the child is a session leader with the
//! PTY slave as its controlling terminal; the agent holds the master, spools everything
//! the program prints into a bounded scrollback, and takes input and resizes.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::termios::{Winsize, tcsetwinsize};
use sandbox_proto::limits::DEFAULT_SCROLLBACK;
use sandbox_proto::validate::HeldKind;
use sandbox_proto::{ErrorKind, OpenTerminal, Reply, TerminalInfo, layout};
use tokio::io::unix::AsyncFd;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::groups::Groups;
use crate::ids::new_id;
use crate::output_log::OutputLog;
use crate::process::{Common, Held, Kind, Registry, check_cwd, spawn_child, wait_child};

/// How long a write may wait for the program to take input before giving up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a terminal has besides what every held process has: its PTY and scrollback.
pub struct TerminalIo {
    scrollback: u64,
    size: Mutex<(u16, u16)>,
    master: AsyncFd<OwnedFd>,
    write_lock: tokio::sync::Mutex<()>,
    /// Its scrollback.
    pub log: OutputLog,
}

impl Kind for TerminalIo {
    const KIND: HeldKind = HeldKind::Terminal;
    type Info = TerminalInfo;

    fn info(&self, c: Common) -> TerminalInfo {
        let (rows, cols) = *self.size.lock().unwrap_or_else(|p| p.into_inner());
        let Common { id, command, state, pid, started_ms, ended_ms } = c;
        TerminalInfo { id, command, state, pid, rows, cols, started_ms, ended_ms, scrollback: self.scrollback }
    }

    fn reply(info: TerminalInfo) -> Reply {
        Reply::Terminal(info)
    }
}

/// One terminal.
pub type Terminal = Held<TerminalIo>;

/// All terminals, in creation order.
pub type Terminals = Registry<TerminalIo>;

/// Opens a terminal (the request was validated on receipt).
pub async fn open(req: OpenTerminal, terminals: &Terminals, groups: &Arc<Groups>, control_dir: &Path) -> Reply {
    let shell = req.env.iter().find(|(k, _)| k == "SHELL").map(|(_, v)| v.clone()).unwrap_or_else(|| "/bin/sh".into());
    let argv = if req.argv.is_empty() { vec![shell] } else { req.argv.clone() };
    if let Err(e) = sandbox_proto::validate::command(&argv) {
        return Reply::error(ErrorKind::InvalidRequest, format!("SHELL: {e}"));
    }
    if let Err(r) = check_cwd(req.cwd.as_deref()) {
        return r;
    }
    let scrollback = req.scrollback.unwrap_or(DEFAULT_SCROLLBACK);
    let (master, slave) = match crate::sys::open_pty(req.rows, req.cols) {
        Ok(p) => p,
        Err(e) => return Reply::io_error("opening a pseudo-terminal", &e),
    };
    let id = new_id("term-");
    let dir = control_dir.join(layout::TERMINALS).join(&id);
    // Its directory (for its metadata) before it runs; the scrollback's with its first
    // bytes.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Reply::io_error("creating the terminal's scrollback spool", &e);
    }
    let log = OutputLog::new(&dir.join(layout::TERMINAL_OUT), scrollback);
    let stdio = || slave.try_clone().map(std::process::Stdio::from);
    let (i, o, e) = match (stdio(), stdio(), stdio()) {
        (Ok(i), Ok(o), Ok(e)) => (i, o, e),
        _ => return Reply::error(ErrorKind::Io, "duplicating the terminal's file descriptor failed"),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env("TERM", "xterm-256color");
    cmd.envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(i).stdout(o).stderr(e);
    if let Some(c) = &req.cwd {
        cmd.current_dir(c);
    }
    crate::sys::make_session_leader_with_tty(&mut cmd);
    let spawned = spawn_child(cmd, &argv[0], &dir, groups);
    drop(slave);
    let (mut child, pid) = match spawned {
        Ok(c) => c,
        Err(r) => return r,
    };
    let master = match crate::sys::register_async(master) {
        Ok(m) => m,
        Err(e) => return Reply::io_error("registering the terminal", &e),
    };
    let command = req.command.clone().unwrap_or_else(|| argv.join(" "));
    let size = Mutex::new((req.rows, req.cols));
    let io = TerminalIo { scrollback, size, master, write_lock: tokio::sync::Mutex::new(()), log };
    let term = Held::start(id, command, pid, dir, io);
    terminals.add(term.clone());
    let (exited_tx, exited_rx) = watch::channel(false);
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(read_loop(term.clone(), exited_rx, drained_tx));
    let info = term.info();
    let groups = groups.clone();
    tokio::spawn(async move {
        let st = wait_child(&mut child).await;
        // What the program wrote before it exited is in the PTY now: put it in the
        // scrollback before anyone is told it ended (as for tasks).
        exited_tx.send_replace(true);
        let _ = drained_rx.await;
        term.record_end(st).await;
        groups.remove(term.pid as i32);
    });
    Reply::Terminal(info)
}

/// Copies the PTY's output into the scrollback until every slave fd is closed. When the
/// program exits (`exited`), it first copies all that is already buffered, reading the
/// non-blocking master directly (the reactor's readiness may lag), and says so on
/// `drained`.
async fn read_loop(term: Arc<Terminal>, mut exited: watch::Receiver<bool>, drained: tokio::sync::oneshot::Sender<()>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = Some(drained);
    loop {
        tokio::select! {
            ready = term.io.master.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(_) => break,
                };
                match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)) {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => term.io.log.append(&buf[..n]),
                    // EIO: every slave fd is closed (the program and its children are gone).
                    Ok(Err(_)) => break,
                    Err(_would_block) => continue,
                }
            }
            _ = exited.wait_for(|e| *e), if drained.is_some() => {
                let closed =
                    crate::drain::read_available(term.io.master.get_ref().as_fd(), &mut buf, |d| term.io.log.append(d));
                if closed {
                    // Finished before the exit shows (the send after the loop).
                    break;
                }
                if let Some(d) = drained.take() {
                    let _ = d.send(());
                }
            }
        }
    }
    term.io.log.finish();
    if let Some(d) = drained.take() {
        let _ = d.send(());
    }
}

/// Writes input to a terminal.
pub async fn write(id: &str, data: &[u8], terminals: &Terminals) -> Reply {
    let term = match terminals.get(id) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !term.running() {
        return Reply::error(ErrorKind::NotRunning, format!("terminal {id}'s program has exited; it takes no input"));
    }
    let _one_writer = term.io.write_lock.lock().await;
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut rest = data;
    while !rest.is_empty() {
        let ready = tokio::time::timeout_at(deadline, term.io.master.writable()).await;
        let mut guard = match ready {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => return Reply::io_error("writing to the terminal", &e),
            Err(_) => {
                return Reply::error(
                    ErrorKind::Timeout,
                    format!("terminal {id} did not take input for {WRITE_TIMEOUT:?}"),
                );
            }
        };
        match guard.try_io(|fd| rustix::io::write(fd.get_ref(), rest).map_err(std::io::Error::from)) {
            Ok(Ok(n)) => rest = &rest[n..],
            Ok(Err(e)) => return Reply::io_error("writing to the terminal", &e),
            Err(_would_block) => continue,
        }
    }
    Reply::Done { bytes: data.len() as u64 }
}

/// Resizes a terminal (the kernel sends SIGWINCH to its foreground process group).
pub fn resize(id: &str, rows: u16, cols: u16, terminals: &Terminals) -> Reply {
    let term = match terminals.get(id) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !term.running() {
        return Reply::error(ErrorKind::NotRunning, format!("terminal {id}'s program has exited"));
    }
    let ws = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    if let Err(e) = tcsetwinsize(term.io.master.get_ref().as_fd(), ws) {
        return Reply::io_error("resizing the terminal", &e.into());
    }
    *term.io.size.lock().unwrap_or_else(|p| p.into_inner()) = (rows, cols);
    term.write_meta();
    Reply::Terminal(term.info())
}

/// Signals a terminal's session (its process group).
pub fn kill(id: &str, signal: i32, terminals: &Terminals) -> Reply {
    terminals.kill(id, signal, |term| (!term.running()).then(|| format!("terminal {id}'s program has exited")))
}
