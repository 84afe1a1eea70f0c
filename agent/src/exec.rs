//! Runs one command: own process group, output pumped back as raw frames up to a cap,
//! timeout and cancel kill the whole group (SIGTERM, grace, SIGKILL).

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::Signal;
use sandbox_proto::limits::{DEFAULT_KILL_GRACE_MS, DEFAULT_LINGER_MS};
use sandbox_proto::{ErrorKind, Event, ExecExit, ExecRequest, FrameKind, Reply, StdinMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::conn::{Inbound, Outbox};
use crate::credit;
use crate::drain::{Now, read_now};
use crate::groups::{Groups, group_alive, signal_group};

/// How long pumps that were told to stop get to deliver what was left in the pipes.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Bytes read from a pipe (and sent in one frame) at a time.
const CHUNK: usize = 256 * 1024;
/// Pipe buffer asked for on output pipes: fewer, larger reads when output is heavy.
const PIPE_SIZE: usize = 1024 * 1024;

/// Runs `req` to completion and returns the reply that ends the request.
pub async fn run(
    id: u32,
    req: ExecRequest,
    outbox: &Outbox,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
    groups: &Groups,
) -> Reply {
    if let Err(r) = crate::process::check_cwd(req.cwd.as_deref()) {
        return r;
    }
    let started = Instant::now();
    let ooms_before = oom_kills();
    let mut cmd = Command::new(&req.argv[0]);
    cmd.args(&req.argv[1..])
        .envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .process_group(0)
        .stdin(match req.stdin {
            StdinMode::Null => Stdio::null(),
            StdinMode::Pipe => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &req.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return spawn_failure(id, &req, e, outbox, started).await,
    };
    let Some(pgid) = child.id().map(|p| p as i32) else {
        return Reply::error(ErrorKind::Internal, "spawned process has no pid");
    };
    groups.insert(pgid);

    let credit = credit::pool(req.window);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let totals = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let mut pumps = Vec::new();
    for fd in [child.stdout.as_ref().map(|p| p.as_fd()), child.stderr.as_ref().map(|p| p.as_fd())].into_iter().flatten()
    {
        // Best effort: the default 64 KiB still works, only with more wakeups.
        let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE);
    }
    if let Some(out) = child.stdout.take() {
        let p = Pump { kind: FrameKind::Stdout, id, cap: req.stdout_cap, total: totals[0].clone() };
        pumps.push(tokio::spawn(p.run(out, outbox.clone(), credit.clone(), stop_rx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        let p = Pump { kind: FrameKind::Stderr, id, cap: req.stderr_cap, total: totals[1].clone() };
        pumps.push(tokio::spawn(p.run(err, outbox.clone(), credit.clone(), stop_rx.clone())));
    }
    let mut stdin_tx = child.stdin.take().map(|stdin| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(feed_stdin(stdin, rx, id, outbox.clone()));
        tx
    });

    let grace = Duration::from_millis(req.kill_grace_ms.unwrap_or(DEFAULT_KILL_GRACE_MS));
    let deadline = req.timeout_ms.map(|ms| started + Duration::from_millis(ms));
    let mut kill = Killer { pgid, grace, term_sent_at: None, hard_sent: false };
    let mut timed_out = false;
    let mut cancelled = false;
    let mut inbound_open = true;

    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() && !kill.started() => {
                timed_out = true;
                kill.terminate();
            }
            _ = sleep_until(kill.hard_at()), if kill.hard_pending() => kill.force(),
            msg = inbound.recv(), if inbound_open => match msg {
                Some(Inbound::Stdin(bytes)) => {
                    if bytes.is_empty() {
                        stdin_tx = None;
                    } else if let Some(tx) = &stdin_tx {
                        let _ = tx.send(bytes);
                    }
                }
                Some(Inbound::Credit(n)) => credit::grant(&credit, n),
                Some(Inbound::Signal(sig)) => {
                    if let Ok(sig) = crate::process::signal_of(sig) {
                        signal_group(pgid, sig);
                    }
                }
                Some(Inbound::Cancel) | None => {
                    inbound_open = msg.is_some();
                    if !kill.started() {
                        cancelled = true;
                        kill.terminate();
                    }
                }
            },
        }
    };
    drop(stdin_tx);

    // The leader is gone. Wait for the pipes to close; members of a group being killed
    // get the rest of the grace period, then SIGKILL; members of a group that ended on
    // its own (background jobs) keep running and only get `linger` to close the pipes.
    let linger = Duration::from_millis(req.linger_ms.unwrap_or(DEFAULT_LINGER_MS));
    let mut linger_until = Instant::now() + linger;
    let aborts: Vec<_> = pumps.iter().map(|p| p.abort_handle()).collect();
    let mut pumps_done = std::pin::pin!(async move {
        for p in pumps {
            let _ = p.await;
        }
    });
    loop {
        if kill.started() && !kill.hard_sent && !group_alive(pgid) {
            kill.hard_sent = true;
        }
        tokio::select! {
            _ = &mut pumps_done => break,
            _ = sleep_until(linger_until), if !kill.hard_pending() => {
                // Something outlives the command and holds its pipes: take what is in
                // them now (all the command wrote), then stop; abort only a pump that
                // cannot deliver (a client that stopped reading).
                stop_tx.send_replace(true);
                if tokio::time::timeout(STOP_GRACE, &mut pumps_done).await.is_err() {
                    aborts.iter().for_each(|a| a.abort());
                }
                break;
            }
            _ = sleep_until(kill.hard_at()), if kill.hard_pending() => {
                kill.force();
                linger_until = Instant::now() + linger;
            }
            _ = tokio::time::sleep(Duration::from_millis(5)), if kill.hard_pending() => {}
            msg = inbound.recv(), if inbound_open => match msg {
                Some(Inbound::Credit(n)) => credit::grant(&credit, n),
                Some(Inbound::Stdin(_)) | Some(Inbound::Signal(_)) => {}
                Some(Inbound::Cancel) | None => {
                    inbound_open = msg.is_some();
                    if !kill.started() {
                        cancelled = true;
                        kill.terminate();
                    }
                }
            },
        }
    }
    if kill.started() {
        // Members may still be forking (a fork bomb): keep killing until the group is
        // empty, for a bounded time.
        let until = Instant::now() + Duration::from_secs(5);
        while group_alive(pgid) && Instant::now() < until {
            signal_group(pgid, Signal::KILL);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if !group_alive(pgid) {
        groups.remove(pgid);
    }

    let (exit_code, signal) = match status {
        Ok(st) => (st.code(), st.signal()),
        Err(e) => return Reply::error(ErrorKind::Internal, format!("waiting for the process: {e}")),
    };
    let oom_killed = signal == Some(9) && !timed_out && !cancelled && oom_kills() > ooms_before;
    Reply::Exit(ExecExit {
        exit_code,
        signal,
        timed_out,
        cancelled,
        oom_killed,
        stdout_total: totals[0].load(Ordering::Relaxed),
        stderr_total: totals[1].load(Ordering::Relaxed),
        duration_us: started.elapsed().as_micros() as u64,
    })
}

/// How many processes the OOM killer has killed in this container's memory cgroup
/// (cgroup v1 `memory.oom_control`, or v2 `memory.events`); 0 when unknown.
pub fn oom_kills() -> u64 {
    ["/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"]
        .iter()
        .find_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            text.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

/// The TERM-grace-KILL sequence for one process group.
struct Killer {
    pgid: i32,
    grace: Duration,
    term_sent_at: Option<Instant>,
    hard_sent: bool,
}

impl Killer {
    fn started(&self) -> bool {
        self.term_sent_at.is_some()
    }
    fn terminate(&mut self) {
        signal_group(self.pgid, Signal::TERM);
        self.term_sent_at = Some(Instant::now());
    }
    fn hard_pending(&self) -> bool {
        self.started() && !self.hard_sent
    }
    fn hard_at(&self) -> Instant {
        self.term_sent_at.map(|t| t + self.grace).unwrap_or_else(far_future)
    }
    fn force(&mut self) {
        signal_group(self.pgid, Signal::KILL);
        self.hard_sent = true;
    }
}

/// Copies one output pipe to frames.
struct Pump {
    kind: FrameKind,
    id: u32,
    cap: u64,
    total: Arc<AtomicU64>,
}

impl Pump {
    /// Forwards the pipe until it closes, or until `stop` (the command is over but
    /// something still holds the pipe): then it forwards what is in the pipe at that
    /// moment, without waiting, and ends.
    async fn run<R: AsyncRead + AsFd + Unpin>(
        self,
        mut pipe: R,
        outbox: Outbox,
        credit: credit::Credit,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut sent = 0u64;
        let mut client_gone = false;
        let mut scratch = Vec::new();
        loop {
            let read = async {
                let want = credit::take(&credit, CHUNK).await;
                let forwarding = sent < self.cap && !client_gone;
                // Read straight into the buffer that becomes the frame (no extra copy);
                // past the cap, into a reused scratch buffer that is only counted.
                let mut buf = if forwarding { vec![0u8; want] } else { std::mem::take(&mut scratch) };
                buf.resize(want, 0);
                // Cancel safe: a read that loses the race to `stop` has consumed nothing.
                let n = match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                credit::refund(&credit, want - n);
                (buf, n, forwarding)
            };
            let (mut buf, n, forwarding) = tokio::select! {
                r = read => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            if n == 0 {
                return;
            }
            self.total.fetch_add(n as u64, Ordering::Relaxed);
            if forwarding {
                let take = (self.cap - sent).min(n as u64) as usize;
                sent += take as u64;
                buf.truncate(take);
                client_gone = !outbox.send(self.kind, self.id, buf).await;
            } else {
                scratch = buf;
            }
        }
        // Stopped: the non-blocking pipe, read directly (the reactor's readiness may lag),
        // still holds everything written before now. Past the flow-control window: it is
        // one pipe buffer, plus whatever a process still writing adds meanwhile (bounded
        // by the caller's STOP_GRACE).
        let mut buf = vec![0u8; CHUNK];
        // Not `read_available`: each piece goes out through the async outbox as it is read.
        while let Now::Data(n) = read_now(pipe.as_fd(), &mut buf) {
            self.total.fetch_add(n as u64, Ordering::Relaxed);
            if sent < self.cap && !client_gone {
                let take = (self.cap - sent).min(n as u64) as usize;
                sent += take as u64;
                client_gone = !outbox.send(self.kind, self.id, buf[..take].to_vec()).await;
            }
        }
    }
}

async fn feed_stdin(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<Vec<u8>>, id: u32, outbox: Outbox) {
    let mut total = 0u64;
    let mut open = true;
    while let Some(bytes) = rx.recv().await {
        if open && stdin.write_all(&bytes).await.is_err() {
            // The process closed its stdin; keep acknowledging (and dropping) the rest.
            open = false;
        }
        total += bytes.len() as u64;
        let ack = serde_json::to_vec(&Event::StdinAck { total }).unwrap_or_default();
        outbox.send(FrameKind::Event, id, ack).await;
    }
}

/// A program that cannot be started ends like it would in a shell: 127 when it is not
/// found, 126 when it cannot be executed, with the reason on stderr.
async fn spawn_failure(id: u32, req: &ExecRequest, e: std::io::Error, outbox: &Outbox, started: Instant) -> Reply {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => 127,
        std::io::ErrorKind::PermissionDenied => 126,
        _ if e.raw_os_error() == Some(rustix::io::Errno::NOEXEC.raw_os_error()) => 126,
        _ if e.raw_os_error() == Some(rustix::io::Errno::AGAIN.raw_os_error()) => {
            return Reply::error(
                ErrorKind::Io,
                format!(
                    "cannot start {}: {e} (the session's process limit is reached; try again when processes exit)",
                    req.argv[0]
                ),
            );
        }
        _ => return Reply::io_error(&format!("cannot start {}", req.argv[0]), &e),
    };
    let what = if code == 127 { "command not found" } else { "cannot execute" };
    let msg = format!("sandbox: {}: {what} ({e})\n", req.argv[0]).into_bytes();
    let shown = msg.len().min(req.stderr_cap as usize);
    outbox.send(FrameKind::Stderr, id, msg[..shown].to_vec()).await;
    Reply::Exit(ExecExit {
        exit_code: Some(code),
        stderr_total: msg.len() as u64,
        duration_us: started.elapsed().as_micros() as u64,
        ..ExecExit::default()
    })
}
