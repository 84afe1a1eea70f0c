//! Background tasks: spawned in their own process group, output spooled to bounded
//! files in the control dir (merged and per stream), state kept in a `meta.json` beside
//! them so the host can read both even when the agent is gone.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rustix::process::Signal;
use sandbox_proto::{ErrorKind, ProcState, Reply, SpawnTask, TaskInfo, TaskStream, layout};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use crate::drain::read_available;
use crate::groups::{group_alive, signal_group};
use crate::ids::{new_id, now_ms};
use crate::output_log::OutputLog;
use crate::proc_state::{StateCell, wait_ended};
use crate::state::AgentState;

/// Default bytes kept per task output stream.
pub const DEFAULT_SPOOL_CAP: u64 = 8 * 1024 * 1024;
/// Smallest and largest spool caps accepted.
pub const SPOOL_CAP_RANGE: std::ops::RangeInclusive<u64> = (64 * 1024)..=(1 << 30);

/// One task.
pub struct Task {
    id: String,
    command: String,
    pid: u32,
    started_ms: u64,
    spool_cap: u64,
    state: StateCell,
    merged: OutputLog,
    stdout: OutputLog,
    stderr: OutputLog,
    dir: PathBuf,
}

impl Task {
    /// The task as the protocol describes it.
    pub fn info(&self) -> TaskInfo {
        let (state, ended_ms) = *self.state.borrow();
        TaskInfo {
            id: self.id.clone(),
            command: self.command.clone(),
            state,
            pid: self.pid,
            started_ms: self.started_ms,
            ended_ms,
            spool_cap: self.spool_cap,
        }
    }

    /// One of its output logs.
    pub fn log(&self, stream: TaskStream) -> &OutputLog {
        match stream {
            TaskStream::Merged => &self.merged,
            TaskStream::Stdout => &self.stdout,
            TaskStream::Stderr => &self.stderr,
        }
    }

    fn write_meta(&self) {
        write_json_atomic(&self.dir.join(layout::META), &self.info());
    }
}

/// Writes JSON to `path` through a temporary file and a rename.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) {
    let tmp = path.with_extension("json.tmp");
    if let Ok(bytes) = serde_json::to_vec(value)
        && std::fs::write(&tmp, bytes).is_ok()
    {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// All tasks, in creation order.
#[derive(Default)]
pub struct Tasks {
    list: Mutex<Vec<Arc<Task>>>,
}

impl Tasks {
    /// Finds a task.
    pub fn get(&self, id: &str) -> Result<Arc<Task>, Reply> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|t| t.id == id).cloned().ok_or_else(|| {
            Reply::error(ErrorKind::NotFound, format!("no task {id:?}; list the tasks to see which exist"))
        })
    }

    /// Every task's info.
    pub fn infos(&self) -> Vec<TaskInfo> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|t| t.info()).collect()
    }
}

/// Validates a command line, environment and working dir (shared by tasks/terminals).
pub fn validate_command(argv: &[String], env: &[(String, String)], cwd: &Option<String>) -> Result<(), Reply> {
    let bad = |m: String| Err(Reply::error(ErrorKind::InvalidRequest, m));
    if argv.is_empty() || argv[0].is_empty() {
        return bad("argv is empty: give at least the program to run".into());
    }
    if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
        return bad(format!("argv[{i}] contains a NUL byte"));
    }
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return bad(format!("environment variable {k:?} has an empty name, '=' or a NUL byte"));
        }
    }
    if let Some(c) = cwd {
        if c.is_empty() || c.contains('\0') {
            return bad("cwd is empty or contains a NUL byte".into());
        }
        if !Path::new(c).is_dir() {
            return Err(Reply::error(
                ErrorKind::NotFound,
                format!("working directory {c} does not exist in the container"),
            ));
        }
    }
    Ok(())
}

/// Validates a signal number (the named signals, 1 to 31).
pub fn signal_of(n: i32) -> Result<Signal, Reply> {
    Signal::from_named_raw(n).filter(|_| n > 0).ok_or_else(|| {
        Reply::error(ErrorKind::InvalidRequest, format!("signal {n} is out of range: use a signal number from 1 to 31"))
    })
}

/// Starts a task.
pub async fn spawn(req: SpawnTask, state: &Arc<AgentState>) -> Reply {
    if let Err(r) = validate_command(&req.argv, &req.env, &req.cwd) {
        return r;
    }
    let cap = req.spool_cap.unwrap_or(DEFAULT_SPOOL_CAP);
    if !SPOOL_CAP_RANGE.contains(&cap) {
        return Reply::error(
            ErrorKind::InvalidRequest,
            format!("spool cap {cap} is out of range {}..={}", SPOOL_CAP_RANGE.start(), SPOOL_CAP_RANGE.end()),
        );
    }
    let id = new_id("task-");
    let dir = state.control_dir.join(layout::TASKS).join(&id);
    let logs = (|| {
        Ok::<_, std::io::Error>((
            OutputLog::create(&dir.join(layout::TASK_MERGED), cap)?,
            OutputLog::create(&dir.join(layout::TASK_STDOUT), cap)?,
            OutputLog::create(&dir.join(layout::TASK_STDERR), cap)?,
        ))
    })();
    let (merged, stdout, stderr) = match logs {
        Ok(l) => l,
        Err(e) => return Reply::io_error("creating the task's output spool", &e),
    };
    let mut cmd = Command::new(&req.argv[0]);
    cmd.args(&req.argv[1..])
        .envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = &req.cwd {
        cmd.current_dir(c);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Reply::io_error(&format!("starting {}", req.argv[0]), &e);
        }
    };
    let pid = child.id().unwrap_or(0);
    state.groups.insert(pid as i32);
    let command = req.command.clone().unwrap_or_else(|| req.argv.join(" "));
    let task = Arc::new(Task {
        id,
        command,
        pid,
        started_ms: now_ms(),
        spool_cap: cap,
        state: watch::Sender::new((ProcState::Running, None)),
        merged,
        stdout,
        stderr,
        dir,
    });
    task.write_meta();
    state.tasks.list.lock().unwrap_or_else(|p| p.into_inner()).push(task.clone());

    let (exited_tx, exited_rx) = watch::channel(false);
    let mut drained = Vec::new();
    let mut pumps = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        let (tx, rx) = oneshot::channel::<bool>();
        drained.push(rx);
        pumps.push(tokio::spawn(pump(pipe, task.clone(), TaskStream::Stdout, exited_rx.clone(), tx)));
    }
    if let Some(pipe) = child.stderr.take() {
        let (tx, rx) = oneshot::channel::<bool>();
        drained.push(rx);
        pumps.push(tokio::spawn(pump(pipe, task.clone(), TaskStream::Stderr, exited_rx.clone(), tx)));
    }
    let info = task.info();
    let state = state.clone();
    tokio::spawn(async move {
        let st = match child.wait().await {
            Ok(s) => exit_state(s),
            Err(_) => ProcState::Exited { code: -1 },
        };
        // Everything the task wrote before it exited is in its pipes now: spool it
        // before anyone is told it ended, so a read after `wait` sees all of it.
        // (Background children may keep writing; that output keeps arriving later.)
        exited_tx.send_replace(true);
        let mut all_closed = true;
        for d in drained {
            all_closed &= d.await.unwrap_or(true);
        }
        let finish = |task: &Task| {
            for s in [TaskStream::Merged, TaskStream::Stdout, TaskStream::Stderr] {
                task.log(s).finish();
            }
        };
        if all_closed {
            // Nothing else holds the pipes: the output is complete before the exit shows.
            for p in pumps.drain(..) {
                let _ = p.await;
            }
            finish(&task);
        }
        task.state.send_replace((st, Some(now_ms())));
        // Off the runtime's threads: replacing a file by rename can wait for the disk
        // (ext4 flushes the new data first), and requests must not queue behind it.
        let t = task.clone();
        let _ = tokio::task::spawn_blocking(move || t.write_meta()).await;
        if !all_closed {
            for p in pumps {
                let _ = p.await;
            }
            finish(&task);
        }
        if !group_alive(task.pid as i32) {
            state.groups.remove(task.pid as i32);
        }
    });
    Reply::Task(info)
}

/// A process exit status as a protocol state.
pub fn exit_state(s: std::process::ExitStatus) -> ProcState {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(code), _) => ProcState::Exited { code },
        (None, Some(signal)) => ProcState::Killed { signal },
        _ => ProcState::Exited { code: -1 },
    }
}

/// Copies a pipe into the task's spools until it closes. When the task's process exits
/// (`exited`), it first spools all that is already in the pipe and then says so on
/// `drained` (true when the pipe is closed too).
async fn pump<R: AsyncRead + AsFd + Unpin>(
    mut pipe: R,
    task: Arc<Task>,
    stream: TaskStream,
    mut exited: watch::Receiver<bool>,
    drained: oneshot::Sender<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = Some(drained);
    loop {
        tokio::select! {
            // `read` is cancel safe: a read that loses the race has consumed nothing.
            r = pipe.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    task.log(stream).append(&buf[..n]);
                    task.merged.append(&buf[..n]);
                }
            },
            _ = exited.wait_for(|e| *e), if drained.is_some() => {
                let closed = read_available(pipe.as_fd(), &mut buf, |data| {
                    task.log(stream).append(data);
                    task.merged.append(data);
                });
                if let Some(d) = drained.take() {
                    let _ = d.send(closed);
                }
                if closed {
                    return;
                }
            }
        }
    }
    // Closed before the exit was seen: everything is spooled already.
    if let Some(d) = drained.take() {
        let _ = d.send(true);
    }
}

/// Waits for a task to end.
pub async fn wait(id: &str, timeout_ms: Option<u64>, state: &AgentState) -> Reply {
    let task = match state.tasks.get(id) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if wait_ended(&task.state, timeout_ms).await {
        Reply::Task(task.info())
    } else {
        Reply::error(ErrorKind::Timeout, format!("task {id} is still running after {} ms", timeout_ms.unwrap_or(0)))
    }
}

/// Signals a task's process group.
pub fn kill(id: &str, signal: i32, state: &AgentState) -> Reply {
    let sig = match signal_of(signal) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let task = match state.tasks.get(id) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !group_alive(task.pid as i32) {
        return Reply::error(ErrorKind::NotRunning, format!("task {id} and all its processes have exited"));
    }
    signal_group(task.pid as i32, sig);
    Reply::Done { bytes: 0 }
}
