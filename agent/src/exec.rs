//! Runs one command: own process group, output pumped back as raw frames up to a cap,
//! timeout and cancel kill the whole group (SIGTERM, grace, SIGKILL).
//!
//! A run goes through four steps, each a method of [`Running`]: [`spawn`](Running::spawn)
//! starts the command, [`supervise`](Running::supervise) watches it until its leader
//! exits, [`drain`](Running::drain) waits for the output pipes, and
//! [`reap`](Running::reap) clears the group and builds the reply.

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::Signal;
use sandbox_proto::events::{EventAction, EventKind, ProcessKind, SessionEvent};
use sandbox_proto::limits::{DEFAULT_KILL_GRACE_MS, DEFAULT_LINGER_MS};
use sandbox_proto::{ErrorKind, Event, ExecExit, ExecRequest, FrameKind, Reply, StdinMode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::credit;
use crate::drain::{Now, read_now};
use crate::groups::{Groups, group_alive, signal_group};
use crate::outbox::{Inbound, Outbox};

/// How long pumps that were told to stop get to deliver what was left in the pipes.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Bytes read from a pipe (and sent in one frame) at a time.
const CHUNK: usize = 256 * 1024;
/// Pipe buffer asked for on output pipes: fewer, larger reads when output is heavy.
const PIPE_SIZE: usize = 1024 * 1024;
/// How long a killed group that keeps forking is SIGKILLed before the reply goes anyway.
const REAP_LIMIT: Duration = Duration::from_secs(5);

/// Runs `req` to completion and returns the reply that ends the request.
pub async fn run(
    id: u32,
    req: ExecRequest,
    outbox: &Outbox,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    groups: &Groups,
    pause: &crate::pause::Pause,
) -> Reply {
    if let Err(r) = crate::process::check_cwd(req.cwd.as_deref()) {
        return r;
    }
    let starting = match pause.start("a command") {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    let mut running = match Running::spawn(id, &req, outbox, inbound, groups).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    drop(starting); // the process exists: a pause from now on stops it

    let status = running.supervise().await;
    running.drain().await;
    running.reap(status).await
}

/// One command from spawn to reply: its process group, the tasks that move its bytes,
/// the client's frames, and how it is being ended.
struct Running<'a> {
    groups: &'a Groups,
    child: Child,
    /// The group's id (= the leader's pid).
    pgid: i32,
    /// Frames from the client: stdin, credit, signals, cancel.
    inbound: mpsc::UnboundedReceiver<Inbound>,
    /// False once the client is gone (the channel closed).
    inbound_open: bool,
    /// Bytes for the stdin feeder; `None` once stdin is closed (or was never a pipe).
    stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    credit: credit::Credit,
    /// The stdout and stderr pumps.
    pumps: Vec<JoinHandle<()>>,
    /// Tells the pumps to deliver what is in the pipes now and end.
    stop: watch::Sender<bool>,
    /// Bytes read from stdout and stderr, beyond the caps too.
    totals: [Arc<AtomicU64>; 2],
    kill: Killer,
    deadline: Option<Instant>,
    linger: Duration,
    started: Instant,
    /// The container's OOM kill count before the spawn.
    ooms_before: u64,
    /// The command line, for its events.
    command: String,
    timed_out: bool,
    cancelled: bool,
}

impl<'a> Running<'a> {
    /// Starts the command in a process group of its own, with piped output (large pipe
    /// buffers where the kernel allows) and stdin as asked, registers the group so
    /// agent shutdown can kill it, and starts the pumps (and the stdin feeder). A
    /// command that cannot start gets its final reply instead: a shell's 127 or 126
    /// exit with the reason on stderr, or an error.
    async fn spawn(
        id: u32,
        req: &ExecRequest,
        outbox: &Outbox,
        inbound: mpsc::UnboundedReceiver<Inbound>,
        groups: &'a Groups,
    ) -> Result<Running<'a>, Reply> {
        let started = Instant::now();
        let ooms_before = crate::resources::oom_kills();
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
            Err(e) => return Err(spawn_failure(id, req, e, outbox, started).await),
        };
        let Some(pgid) = child.id().map(|p| p as i32) else {
            return Err(Reply::error(ErrorKind::Internal, "spawned process has no pid"));
        };
        groups.insert(pgid);

        let credit = credit::pool(req.window);
        let (stop, stop_rx) = watch::channel(false);
        let totals = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
        let mut pumps = Vec::new();
        for fd in
            [child.stdout.as_ref().map(|p| p.as_fd()), child.stderr.as_ref().map(|p| p.as_fd())].into_iter().flatten()
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
        let stdin = child.stdin.take().map(|stdin| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(feed_stdin(stdin, rx, id, outbox.clone()));
            tx
        });

        let grace = Duration::from_millis(req.kill_grace_ms.unwrap_or(DEFAULT_KILL_GRACE_MS));
        Ok(Running {
            groups,
            child,
            pgid,
            inbound,
            inbound_open: true,
            stdin,
            credit,
            pumps,
            stop,
            totals,
            kill: Killer { pgid, grace, term_sent_at: None, hard_sent: false },
            deadline: req.timeout_ms.map(|ms| started + Duration::from_millis(ms)),
            linger: Duration::from_millis(req.linger_ms.unwrap_or(DEFAULT_LINGER_MS)),
            started,
            ooms_before,
            command: req.argv.join(" "),
            timed_out: false,
            cancelled: false,
        })
    }

    /// The event that says this command ran out of time.
    fn timed_out_event(&self) -> SessionEvent {
        SessionEvent {
            process: Some(ProcessKind::Exec),
            command: Some(self.command.clone()),
            pid: Some(self.pgid as u32),
            ..SessionEvent::new(EventKind::Process, EventAction::TimedOut)
        }
    }

    /// Watches the command until its leader exits: the timeout starts the kill (SIGTERM
    /// to the group, SIGKILL after the grace), and so do a cancel and a client that went
    /// away; stdin bytes go to the feeder (empty closes stdin), credit to the pumps,
    /// signals to the group. Closes stdin at the end and returns the leader's status.
    async fn supervise(&mut self) -> std::io::Result<ExitStatus> {
        let status = loop {
            tokio::select! {
                st = self.child.wait() => break st,
                _ = sleep_until(self.deadline.unwrap_or_else(far_future)),
                    if self.deadline.is_some() && !self.kill.started() =>
                {
                    self.timed_out = true;
                    self.kill.terminate();
                    crate::journal::record(self.timed_out_event());
                }
                _ = sleep_until(self.kill.hard_at()), if self.kill.hard_pending() => self.kill.force(),
                msg = self.inbound.recv(), if self.inbound_open => match msg {
                    Some(Inbound::Stdin(bytes)) => {
                        if bytes.is_empty() {
                            self.stdin = None;
                        } else if let Some(tx) = &self.stdin {
                            let _ = tx.send(bytes);
                        }
                    }
                    Some(Inbound::Credit(n)) => credit::grant(&self.credit, n),
                    Some(Inbound::Signal(sig)) => {
                        if let Ok(sig) = crate::process::signal_of(sig) {
                            signal_group(self.pgid, sig);
                        }
                    }
                    Some(Inbound::Cancel) | None => self.cancel(msg.is_some()),
                },
            }
        };
        self.stdin = None;
        status
    }

    /// The leader is gone: waits for the output pipes to close. Members of a group being
    /// killed get the rest of the grace period, then SIGKILL; members of a group that
    /// ended on its own (background jobs) keep running and only get `linger` to close
    /// the pipes. Then the pumps are told to stop and get STOP_GRACE to deliver what is
    /// in the pipes; a pump that cannot (a client that stopped reading) is aborted.
    /// Credit and cancel from the client still count meanwhile.
    async fn drain(&mut self) {
        let mut linger_until = Instant::now() + self.linger;
        let pumps = std::mem::take(&mut self.pumps);
        let aborts: Vec<_> = pumps.iter().map(|p| p.abort_handle()).collect();
        let mut pumps_done = std::pin::pin!(async move {
            for p in pumps {
                let _ = p.await;
            }
        });
        loop {
            self.kill.note_if_gone();
            tokio::select! {
                _ = &mut pumps_done => break,
                _ = sleep_until(linger_until), if !self.kill.hard_pending() => {
                    // Something outlives the command and holds its pipes: take what is in
                    // them now (all the command wrote), then stop; abort only a pump that
                    // cannot deliver (a client that stopped reading).
                    self.stop.send_replace(true);
                    if tokio::time::timeout(STOP_GRACE, &mut pumps_done).await.is_err() {
                        aborts.iter().for_each(|a| a.abort());
                    }
                    break;
                }
                _ = sleep_until(self.kill.hard_at()), if self.kill.hard_pending() => {
                    self.kill.force();
                    linger_until = Instant::now() + self.linger;
                }
                _ = tokio::time::sleep(Duration::from_millis(5)), if self.kill.hard_pending() => {}
                msg = self.inbound.recv(), if self.inbound_open => match msg {
                    Some(Inbound::Credit(n)) => credit::grant(&self.credit, n),
                    Some(Inbound::Stdin(_)) | Some(Inbound::Signal(_)) => {}
                    Some(Inbound::Cancel) | None => self.cancel(msg.is_some()),
                },
            }
        }
    }

    /// Clears the group and builds the final reply. A killed group is SIGKILLed until it
    /// is empty (members may still be forking: a fork bomb), for at most REAP_LIMIT; an
    /// empty group is forgotten. The reply carries the leader's exit, whether the agent
    /// killed it (timeout or cancel) or the OOM killer did, the byte totals and the time.
    async fn reap(self, status: std::io::Result<ExitStatus>) -> Reply {
        if self.kill.started() {
            let until = Instant::now() + REAP_LIMIT;
            while group_alive(self.pgid) && Instant::now() < until {
                signal_group(self.pgid, Signal::KILL);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if !group_alive(self.pgid) {
            self.groups.remove(self.pgid);
        }
        let (exit_code, signal) = match status {
            Ok(st) => (st.code(), st.signal()),
            Err(e) => return Reply::error(ErrorKind::Internal, format!("waiting for the process: {e}")),
        };
        let killed_by_agent = self.timed_out || self.cancelled;
        Reply::Exit(ExecExit {
            exit_code,
            signal,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            oom_killed: killed_by_oom(signal, killed_by_agent, self.ooms_before, crate::resources::oom_kills),
            stdout_total: self.totals[0].load(Ordering::Relaxed),
            stderr_total: self.totals[1].load(Ordering::Relaxed),
            duration_us: self.started.elapsed().as_micros() as u64,
        })
    }

    /// The client cancelled, or went away (`connected` false: nothing more will come
    /// from it). Either way the group is killed, unless it is being killed already.
    fn cancel(&mut self, connected: bool) {
        self.inbound_open = connected;
        if !self.kill.started() {
            self.cancelled = true;
            self.kill.terminate();
        }
    }
}

/// A SIGKILL the agent did not send, while the container's OOM kill count rose since
/// the spawn (`ooms_now` is read only then), is the OOM killer's.
fn killed_by_oom(signal: Option<i32>, killed_by_agent: bool, ooms_before: u64, ooms_now: impl FnOnce() -> u64) -> bool {
    signal == Some(Signal::KILL.as_raw()) && !killed_by_agent && ooms_now() > ooms_before
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
    /// Starts the kill: SIGTERM, and SIGKILL once the grace is over; with no grace at
    /// all, SIGKILL at once (the group gets no SIGTERM to react to).
    fn terminate(&mut self) {
        self.term_sent_at = Some(Instant::now());
        if self.grace.is_zero() {
            self.force();
        } else {
            signal_group(self.pgid, Signal::TERM);
        }
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
    /// A group that the SIGTERM already emptied needs no SIGKILL.
    fn note_if_gone(&mut self) {
        if self.started() && !self.hard_sent && !group_alive(self.pgid) {
            self.hard_sent = true;
        }
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

#[cfg(test)]
mod tests {
    //! The steps run on the host: the agent's process handling is plain Linux, so
    //! `/bin/sh` stands in for a session's commands. Scripts announce their pids on
    //! stdout (`leader <pid>`, `member <pid>`): the test process adopts the group's
    //! orphans (it is a child subreaper, so they do not wait for an init that may not
    //! reap), reaps them, and kills whatever a test leaves behind, even when it fails.

    use std::collections::HashSet;
    use std::future::Future;
    use std::sync::{Mutex, Once};

    use rustix::process::{Pid, WaitOptions, waitpid};
    use sandbox_proto::Frame;

    use super::*;

    /// Pids a script announced, and which orphans were reaped.
    #[derive(Default)]
    struct Procs {
        pgid: Option<i32>,
        members: Vec<i32>,
        reaped: HashSet<i32>,
    }

    type Shared = Arc<Mutex<Procs>>;

    fn lock(p: &Shared) -> std::sync::MutexGuard<'_, Procs> {
        p.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One reap attempt of an adopted orphan; true once it is reaped.
    fn try_reap(procs: &Shared, pid: i32) -> bool {
        if lock(procs).reaped.contains(&pid) {
            return true;
        }
        let Some(p) = Pid::from_raw(pid) else { return true };
        if let Ok(Some(_)) = waitpid(Some(p), WaitOptions::NOHANG) {
            lock(procs).reaped.insert(pid);
            return true;
        }
        false
    }

    /// Kills the group a test made and reaps its members, however the test ended.
    struct Cleanup(Shared);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let (pgid, members) = {
                let p = lock(&self.0);
                (p.pgid, p.members.clone())
            };
            if let Some(pgid) = pgid {
                signal_group(pgid, Signal::KILL);
            }
            let until = std::time::Instant::now() + Duration::from_secs(2);
            for pid in members {
                while !try_reap(&self.0, pid) && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// What the test's side of the connection sees.
    struct Client {
        /// Frames to the running request.
        tx: mpsc::UnboundedSender<Inbound>,
        /// Everything received on stdout so far.
        stdout: watch::Receiver<Vec<u8>>,
    }

    impl Client {
        /// Waits until stdout holds `text`.
        async fn saw(&mut self, text: &str) {
            let found = self.stdout.wait_for(|s| String::from_utf8_lossy(s).contains(text));
            tokio::time::timeout(Duration::from_secs(10), found).await.expect("the output came").unwrap();
        }
        fn send(&self, msg: Inbound) {
            self.tx.send(msg).unwrap();
        }
    }

    /// How a run ended, seen from the client.
    struct Outcome {
        exit: ExecExit,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        events: Vec<Event>,
        elapsed: Duration,
        /// The group's id, when the script announced it.
        pgid: i32,
        /// The group is still registered for agent shutdown to kill.
        tracked: bool,
        /// Dropped with the outcome: kills and reaps what the test left.
        _cleanup: Cleanup,
    }

    fn sh(script: &str) -> ExecRequest {
        ExecRequest {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            cwd: None,
            timeout_ms: None,
            kill_grace_ms: None,
            linger_ms: None,
            stdout_cap: 1 << 20,
            stderr_cap: 1 << 20,
            stdin: StdinMode::Null,
            window: None,
        }
    }

    /// Records `leader`/`member` lines and reaps members as they die, until `until`.
    fn note_pids(text: &[u8], procs: &Shared) {
        for line in String::from_utf8_lossy(text).lines() {
            let mut words = line.split(' ');
            let (Some(what), Some(pid), None) = (words.next(), words.next().and_then(|p| p.parse().ok()), words.next())
            else {
                continue;
            };
            let mut p = lock(procs);
            match what {
                "leader" => p.pgid = Some(pid),
                "member" if !p.members.contains(&pid) => {
                    p.members.push(pid);
                    let procs = procs.clone();
                    tokio::spawn(async move {
                        let until = Instant::now() + Duration::from_secs(30);
                        while !try_reap(&procs, pid) && Instant::now() < until {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    });
                }
                _ => {}
            }
        }
    }

    /// Runs `req` the way a connection does, with `client` playing the client (the
    /// channel to the request stays open until the run ends unless `hang_up`).
    async fn exec_on_host<F>(req: ExecRequest, hang_up: bool, client: impl FnOnce(Client) -> F) -> Outcome
    where
        F: Future<Output = ()> + Send + 'static,
    {
        static SUBREAPER: Once = Once::new();
        SUBREAPER.call_once(|| rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap());

        let procs = Shared::default();
        let cleanup = Cleanup(procs.clone());
        let (frames_tx, mut frames_rx) = mpsc::channel::<Frame>(64);
        let (seen_tx, seen_rx) = watch::channel(Vec::new());
        let collector = tokio::spawn({
            let procs = procs.clone();
            async move {
                let (mut stderr, mut events) = (Vec::new(), Vec::new());
                while let Some(f) = frames_rx.recv().await {
                    assert_eq!(f.id, 7, "frames carry the request id");
                    match f.kind {
                        FrameKind::Stdout => {
                            seen_tx.send_modify(|s| s.extend_from_slice(&f.payload));
                            note_pids(&seen_tx.borrow(), &procs);
                        }
                        FrameKind::Stderr => stderr.extend_from_slice(&f.payload),
                        FrameKind::Event => events.push(serde_json::from_slice(&f.payload).unwrap()),
                        other => panic!("exec sent a {other:?} frame"),
                    }
                }
                (seen_tx.borrow().clone(), stderr, events)
            }
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let kept = (!hang_up).then(|| tx.clone());
        let client = tokio::spawn(client(Client { tx, stdout: seen_rx }));
        let outbox = Outbox::new(frames_tx);
        let groups = Groups::default();
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            run(7, req, &outbox, rx, &groups, &crate::pause::Pause::default()),
        )
        .await
        .expect("the exec ended");
        let elapsed = started.elapsed();
        drop((outbox, kept));
        client.await.expect("the client side did its part");
        let (stdout, stderr, events) = tokio::time::timeout(Duration::from_secs(10), collector)
            .await
            .expect("every frame sender is gone")
            .unwrap();
        let Reply::Exit(exit) = reply else { panic!("not an exit: {reply:?}") };
        let pgid = lock(&procs).pgid.unwrap_or(0);
        let tracked = groups.tracks(pgid);
        Outcome { exit, stdout, stderr, events, elapsed, pgid, tracked, _cleanup: cleanup }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[tokio::test]
    async fn a_timeout_terms_then_kills_the_whole_group_after_the_grace() {
        // The leader and a member both ignore SIGTERM (the leader notes it): only the
        // SIGKILL after the grace ends them.
        let mut req = sh("echo leader $$; trap 'echo term' TERM; (trap '' TERM; exec sleep 30) & echo member $!; \
                          while :; do wait; done");
        req.timeout_ms = Some(1000);
        req.kill_grace_ms = Some(600);
        let out = exec_on_host(req, false, |_| async {}).await;
        let e = &out.exit;
        assert!(e.timed_out && !e.cancelled && !e.oom_killed, "{e:?}");
        assert_eq!((e.exit_code, e.signal), (None, Some(9)), "killed by SIGKILL");
        assert!(text(&out.stdout).contains("term\n"), "SIGTERM came first: {}", text(&out.stdout));
        assert!(out.elapsed >= Duration::from_millis(1600), "SIGKILL waited for the grace: {:?}", out.elapsed);
        assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
        assert!(!group_alive(out.pgid), "no member of the group is left");
        assert!(!out.tracked, "an empty group is forgotten");
    }

    #[tokio::test]
    async fn a_group_that_ends_on_sigterm_gets_no_sigkill_wait() {
        let mut req = sh("echo leader $$; sleep 30 & echo member $!; wait");
        req.timeout_ms = Some(300);
        req.kill_grace_ms = Some(8000);
        let out = exec_on_host(req, false, |_| async {}).await;
        assert!(out.exit.timed_out, "{:?}", out.exit);
        assert_eq!(out.exit.signal, Some(15), "SIGTERM ended it");
        assert!(out.elapsed < Duration::from_secs(4), "no wait for the grace: {:?}", out.elapsed);
        assert!(!group_alive(out.pgid));
    }

    #[tokio::test]
    async fn output_past_the_caps_is_counted_but_not_sent() {
        let mut req = sh("seq 1 30000; seq 1 20000 >&2");
        req.stdout_cap = 1000;
        req.stderr_cap = 10;
        let out = exec_on_host(req, false, |_| async {}).await;
        let all_out: Vec<u8> = (1..=30000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let all_err: Vec<u8> = (1..=20000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        assert_eq!(out.exit.exit_code, Some(0));
        assert_eq!(out.stdout.len(), 1000, "stdout_cap bytes are sent");
        assert!(out.stdout == all_out[..1000], "the first of them: {}", text(&out.stdout));
        assert_eq!(text(&out.stderr), text(&all_err[..10]), "the first stderr_cap bytes are sent");
        assert_eq!(out.exit.stdout_total, all_out.len() as u64, "every byte is counted");
        assert_eq!(out.exit.stderr_total, all_err.len() as u64);
    }

    #[tokio::test]
    async fn a_background_child_holding_the_pipes_delays_the_reply_by_linger_only() {
        let mut req = sh("echo leader $$; sleep 30 & echo member $!; echo done");
        req.linger_ms = Some(300);
        let out = exec_on_host(req, false, |_| async {}).await;
        assert_eq!(out.exit.exit_code, Some(0));
        assert!(text(&out.stdout).ends_with("done\n"), "{}", text(&out.stdout));
        assert!(out.elapsed >= Duration::from_millis(300), "linger was waited: {:?}", out.elapsed);
        assert!(out.elapsed < Duration::from_secs(3), "only linger was waited: {:?}", out.elapsed);
        assert!(group_alive(out.pgid), "a background job of a command that ended on its own keeps running");
        assert!(out.tracked, "and its group stays registered, for shutdown to kill");
    }

    #[tokio::test]
    async fn stopped_pumps_deliver_what_is_left_in_the_pipes_past_the_window() {
        // A window of 1000 bytes and no credit: the pumps read 1000 bytes, then wait.
        // Stopping them (after linger) sends the rest, which the pipe still holds.
        let mut req = sh("seq 1 6000");
        req.window = Some(1000);
        req.linger_ms = Some(200);
        let out = exec_on_host(req, false, |_| async {}).await;
        let all: Vec<u8> = (1..=6000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        assert_eq!(out.exit.exit_code, Some(0));
        assert_eq!(out.stdout.len(), all.len(), "every byte written before the stop arrives");
        assert!(out.stdout == all, "in order");
        assert_eq!(out.exit.stdout_total, all.len() as u64);
    }

    #[tokio::test]
    async fn credit_from_the_client_lets_output_flow() {
        let mut req = sh("seq 1 6000");
        req.window = Some(1000);
        req.linger_ms = Some(10_000);
        let out = exec_on_host(req, false, |c| async move { c.send(Inbound::Credit(1 << 20)) }).await;
        assert_eq!(out.exit.stdout_total, 28_893);
        assert_eq!(out.stdout.len(), 28_893, "all of it was sent");
        assert!(out.elapsed < Duration::from_secs(8), "the pipes closed, no linger: {:?}", out.elapsed);
    }

    #[tokio::test]
    async fn a_cancel_kills_the_group_and_is_reported() {
        let req = sh("echo leader $$; sleep 30 & echo member $!; wait");
        let out = exec_on_host(req, false, |mut c| async move {
            c.saw("member ").await;
            c.send(Inbound::Cancel);
        })
        .await;
        assert!(out.exit.cancelled && !out.exit.timed_out, "{:?}", out.exit);
        assert_eq!(out.exit.signal, Some(15));
        assert!(!group_alive(out.pgid));
    }

    #[tokio::test]
    async fn a_client_that_goes_away_cancels_the_command() {
        let req = sh("echo leader $$; sleep 30 & echo member $!; wait");
        let out = exec_on_host(req, true, |mut c| async move { c.saw("member ").await }).await;
        assert!(out.exit.cancelled, "{:?}", out.exit);
        assert!(!group_alive(out.pgid));
    }

    #[tokio::test]
    async fn signals_from_the_client_reach_the_group() {
        let req = sh("echo leader $$; trap 'echo usr1; exit 3' USR1; echo ready; while :; do sleep 0.05; done");
        let out = exec_on_host(req, false, |mut c| async move {
            c.saw("ready").await;
            c.send(Inbound::Signal(10));
        })
        .await;
        assert_eq!(out.exit.exit_code, Some(3), "the trap ran: {:?}", out.exit);
        assert!(text(&out.stdout).contains("usr1"));
        assert!(!out.exit.cancelled && !out.exit.timed_out);
    }

    #[tokio::test]
    async fn stdin_is_fed_acknowledged_and_closed_by_an_empty_frame() {
        let mut req = sh("cat");
        req.stdin = StdinMode::Pipe;
        let out = exec_on_host(req, false, |c| async move {
            c.send(Inbound::Stdin(b"abc".to_vec()));
            c.send(Inbound::Stdin(b"def\n".to_vec()));
            c.send(Inbound::Stdin(Vec::new()));
        })
        .await;
        assert_eq!(out.exit.exit_code, Some(0), "cat saw end of input");
        assert_eq!(out.stdout, b"abcdef\n");
        assert_eq!(out.events, vec![Event::StdinAck { total: 3 }, Event::StdinAck { total: 7 }]);
    }

    #[tokio::test]
    async fn programs_that_cannot_start_end_like_in_a_shell() {
        let mut req = sh("");
        req.argv = vec!["/no/such/program".into()];
        let out = exec_on_host(req, false, |_| async {}).await;
        assert_eq!(out.exit.exit_code, Some(127));
        assert!(text(&out.stderr).starts_with("sandbox: /no/such/program: command not found"), "{}", text(&out.stderr));
        assert_eq!(out.exit.stderr_total, out.stderr.len() as u64);
    }

    #[test]
    fn only_a_sigkill_the_agent_did_not_send_while_oom_kills_rose_is_an_oom_kill() {
        let never = || -> u64 { panic!("the count is read only when it can matter") };
        assert!(killed_by_oom(Some(9), false, 4, || 5));
        assert!(!killed_by_oom(Some(9), false, 4, || 4), "no new OOM kill");
        assert!(!killed_by_oom(Some(9), true, 4, never), "the agent's own SIGKILL");
        assert!(!killed_by_oom(Some(15), false, 4, never), "not a SIGKILL");
        assert!(!killed_by_oom(None, false, 4, never), "an exit");
    }
}
