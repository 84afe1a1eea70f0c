//! [`Pty`]: runs a program on a pseudo-terminal this test owns, as a user at a terminal
//! would: the program is a session leader whose controlling terminal is the PTY (through
//! `setsid --ctty`), the test types into the master side, reads everything the program
//! writes, and changes the window size (the kernel then sends SIGWINCH to the terminal's
//! foreground process group, exactly as a terminal emulator does).

use std::os::fd::OwnedFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// Everything the program wrote, and a way to wait for more.
type Seen = Arc<(Mutex<Vec<u8>>, Condvar)>;

/// A program running on a PTY.
pub struct Pty {
    master: Arc<OwnedFd>,
    child: Child,
    seen: Seen,
    /// How far [`expect`](Self::expect) has looked.
    cursor: usize,
    /// Reads the master side until every slave side is closed (the plugin nushell
    /// started holds one too, until it exits).
    _reader: JoinHandle<()>,
}

fn winsize(rows: u16, cols: u16) -> Winsize {
    Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

impl Pty {
    /// Starts `program args...` on a new `rows` x `cols` PTY, as a session leader with the
    /// PTY as its controlling terminal. `configure` sets the environment, directory...
    pub fn spawn(
        program: &std::path::Path,
        args: &[&str],
        rows: u16,
        cols: u16,
        configure: impl FnOnce(&mut Command),
    ) -> Pty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        tcsetwinsize(&master, winsize(rows, cols)).expect("window size");
        let slave = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
            .expect("open the PTY's slave side");
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the slave side"));
        let mut cmd = Command::new("setsid");
        cmd.arg("--ctty").arg(program).args(args).stdin(stdio(&slave)).stdout(stdio(&slave)).stderr(stdio(&slave));
        configure(&mut cmd);
        let child = cmd.spawn().expect("start setsid");
        // Only the program holds the slave side now: its exit ends the reads below.
        drop(cmd);
        drop(slave);
        let master = Arc::new(master);
        let seen: Seen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let reader = {
            let (master, seen) = (master.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match rustix::io::read(&*master, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            seen.0.lock().unwrap().extend_from_slice(&buf[..n]);
                            seen.1.notify_all();
                        }
                        Err(rustix::io::Errno::INTR) => continue,
                        // EIO: every slave side is closed (the program and its children ended).
                        Err(_) => break,
                    }
                }
                seen.1.notify_all();
            })
        };
        Pty { master, child, seen, cursor: 0, _reader: reader }
    }

    /// Types `bytes`.
    pub fn send(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            match rustix::io::write(&*self.master, rest) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => panic!("typing into the PTY: {e}\n{}", self.transcript()),
            }
        }
    }

    /// Changes the window size, as resizing a terminal emulator's window does.
    pub fn resize(&self, rows: u16, cols: u16) {
        tcsetwinsize(&*self.master, winsize(rows, cols)).expect("resize the PTY");
    }

    /// Everything the program wrote so far, as text.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.seen.0.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` appears after what earlier calls found, and moves past it.
    /// Panics (with the transcript) if it has not appeared within `limit`, a bound that
    /// only stops a hung test.
    pub fn expect(&mut self, needle: &str, limit: Duration) {
        if !self.try_expect(needle, limit) {
            panic!("{needle:?} did not appear on the terminal; it shows:\n{}", self.transcript());
        }
    }

    /// [`expect`](Self::expect), returning whether `needle` appeared within `limit`.
    pub fn try_expect(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut seen = self.seen.0.lock().unwrap();
        loop {
            if let Some(at) = seen[self.cursor..].windows(needle.len()).position(|w| w == needle.as_bytes()) {
                self.cursor += at + needle.len();
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = self.seen.1.wait_timeout(seen, left.min(Duration::from_millis(200))).unwrap().0;
        }
    }

    /// Sends `keys` again and again (every half second, at most 50 times) until `needle`
    /// appears: for a change that travels on its own while the keys are typed (a resize
    /// reaching the program). Panics with the transcript if it never does.
    pub fn send_until(&mut self, keys: &[u8], needle: &str) {
        for _ in 0..50 {
            self.send(keys);
            if self.try_expect(needle, Duration::from_millis(500)) {
                return;
            }
        }
        panic!("{needle:?} never appeared after sending {keys:?}:\n{}", self.transcript());
    }

    /// Waits for the program to exit (within `limit`, else panics with the transcript).
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the program") {
                return status;
            }
            if Instant::now() >= deadline {
                panic!("the program on the PTY did not exit; it shows:\n{}", self.transcript());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
