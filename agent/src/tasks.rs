//! Background tasks: spawned in their own process group, output spooled to bounded
//! files in the control dir (merged and per stream), state kept in a `meta.json` beside
//! them so the host can read both even when the agent is gone.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use sandbox_proto::limits::DEFAULT_TASK_SPOOL_CAP;
use sandbox_proto::validate::HeldKind;
use sandbox_proto::{Reply, SpawnTask, TaskInfo, TaskStream, layout};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use crate::drain::read_available;
use crate::groups::{Groups, group_alive};
use crate::ids::new_id;
use crate::output_log::OutputLog;
use crate::process::{Common, Held, Kind, Registry, check_cwd, spawn_child, wait_child};

/// What a task has besides what every held process has: its output spools.
pub struct TaskIo {
    spool_cap: u64,
    merged: OutputLog,
    stdout: OutputLog,
    stderr: OutputLog,
}

impl Kind for TaskIo {
    const KIND: HeldKind = HeldKind::Task;
    type Info = TaskInfo;

    fn info(&self, c: Common) -> TaskInfo {
        let Common { id, command, state, pid, started_ms, ended_ms } = c;
        TaskInfo { id, command, state, pid, started_ms, ended_ms, spool_cap: self.spool_cap }
    }

    fn reply(info: TaskInfo) -> Reply {
        Reply::Task(info)
    }
}

impl TaskIo {
    /// One of its output logs.
    pub fn log(&self, stream: TaskStream) -> &OutputLog {
        match stream {
            TaskStream::Merged => &self.merged,
            TaskStream::Stdout => &self.stdout,
            TaskStream::Stderr => &self.stderr,
        }
    }
}

/// One task.
pub type Task = Held<TaskIo>;

/// All tasks, in creation order.
pub type Tasks = Registry<TaskIo>;

/// Starts a task (the request was validated on receipt).
pub async fn spawn(req: SpawnTask, tasks: &Tasks, groups: &Arc<Groups>, control_dir: &Path) -> Reply {
    if let Err(r) = check_cwd(req.cwd.as_deref()) {
        return r;
    }
    let cap = req.spool_cap.unwrap_or(DEFAULT_TASK_SPOOL_CAP);
    let id = new_id("task-");
    let dir = control_dir.join(layout::TASKS).join(&id);
    // Its directory (for its metadata) before it runs; each spool's with its first bytes.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Reply::io_error("creating the task's output spool", &e);
    }
    let merged = OutputLog::new(&dir.join(layout::TASK_MERGED), cap);
    let stdout = OutputLog::new(&dir.join(layout::TASK_STDOUT), cap);
    let stderr = OutputLog::new(&dir.join(layout::TASK_STDERR), cap);
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
    let (mut child, pid) = match spawn_child(cmd, &req.argv[0], &dir, groups) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let command = req.command.clone().unwrap_or_else(|| req.argv.join(" "));
    let task = Held::start(id, command, pid, dir, TaskIo { spool_cap: cap, merged, stdout, stderr });
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
        let st = wait_child(&mut child).await;
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
                task.io.log(s).finish();
            }
        };
        if all_closed {
            // Nothing else holds the pipes: the output is complete before the exit shows.
            for p in pumps.drain(..) {
                let _ = p.await;
            }
            finish(&task);
        }
        task.record_end(st).await;
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
                    task.io.log(stream).append(&buf[..n]);
                    task.io.merged.append(&buf[..n]);
                }
            },
            _ = exited.wait_for(|e| *e), if drained.is_some() => {
                let closed = read_available(pipe.as_fd(), &mut buf, |data| {
                    task.io.log(stream).append(data);
                    task.io.merged.append(data);
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
    tasks.kill(id, signal, |task| {
        (!group_alive(task.pid as i32)).then(|| format!("task {id} and all its processes have exited"))
    })
}
