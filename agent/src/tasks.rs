//! Background tasks: spawned in their own process group, output spooled to bounded
//! files in the control dir (merged and per stream), state kept in a `meta.json` beside
//! them so the host can read both even when the agent is gone.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use sandbox_proto::limits::DEFAULT_TASK_SPOOL_CAP;
use sandbox_proto::validate::HeldKind;
use sandbox_proto::{ErrorKind, ProcState, Reply, SpawnTask, TaskInfo, TaskStream, layout};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use crate::drain::read_available;
use crate::groups::{Groups, group_alive, signal_group};
use crate::ids::{new_id, now_ms};
use crate::output_log::OutputLog;
use crate::process::{Held, Registry, StateCell, check_cwd, exit_state, signal_of, write_json_atomic};

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

impl Held for Task {
    const KIND: HeldKind = HeldKind::Task;
    type Info = TaskInfo;

    fn id(&self) -> &str {
        &self.id
    }

    fn info(&self) -> TaskInfo {
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

    fn state(&self) -> &StateCell {
        &self.state
    }

    fn reply(info: TaskInfo) -> Reply {
        Reply::Task(info)
    }
}

impl Task {
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

/// All tasks, in creation order.
pub type Tasks = Registry<Task>;

/// Starts a task (the request was validated on receipt).
pub async fn spawn(req: SpawnTask, tasks: &Tasks, groups: &Arc<Groups>, control_dir: &Path) -> Reply {
    if let Err(r) = check_cwd(req.cwd.as_deref()) {
        return r;
    }
    let cap = req.spool_cap.unwrap_or(DEFAULT_TASK_SPOOL_CAP);
    let id = new_id("task-");
    let dir = control_dir.join(layout::TASKS).join(&id);
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
    groups.insert(pid as i32);
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
    tasks.add(task.clone());

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
    let groups = groups.clone();
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
            groups.remove(task.pid as i32);
        }
    });
    Reply::Task(info)
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

/// Signals a task's process group.
pub fn kill(id: &str, signal: i32, tasks: &Tasks) -> Reply {
    let sig = match signal_of(signal) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let task = match tasks.get(id) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !group_alive(task.pid as i32) {
        return Reply::error(ErrorKind::NotRunning, format!("task {id} and all its processes have exited"));
    }
    signal_group(task.pid as i32, sig);
    Reply::Done { bytes: 0 }
}
