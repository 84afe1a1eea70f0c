//! What tasks and terminals share, as processes the agent holds beyond the request that
//! started them: the common part of one ([`Held`], with its kind's own part inside) and
//! its description, starting it and recording its end, its lifecycle state and waiting
//! on it, the registry they are found (and signalled) in by id, their metadata file,
//! and the checks and conversions both apply.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;
use sandbox_proto::events::{EventAction, EventKind, ProcessKind, SessionEvent};
use sandbox_proto::validate::HeldKind;
use sandbox_proto::{ErrorKind, ProcState, Reply, layout};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::groups::{Groups, signal_group};
use crate::ids::now_ms;

/// (state, end time in ms since the epoch).
pub type StateCell = watch::Sender<(ProcState, Option<u64>)>;

/// A process the agent holds beyond the request that started it: what every kind has,
/// and the part of its own kind (`io`).
pub struct Held<K> {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    command: String,
    /// Its pid, also the id of its process group.
    pub pid: u32,
    /// Start time, ms since the epoch.
    started_ms: u64,
    /// Its lifecycle state.
    pub state: StateCell,
    /// Its spool directory in the control dir (its metadata file is there).
    dir: PathBuf,
    /// What its kind has besides: its output spools, its PTY.
    pub io: K,
    /// The container's OOM kill count when it started (to tell an OOM kill at its end).
    ooms_at_start: u64,
}

/// The fields every kind's description has, as they are now.
pub struct Common {
    /// Random unique id.
    pub id: String,
    /// The command as shown.
    pub command: String,
    /// Its process state.
    pub state: ProcState,
    /// Its pid.
    pub pid: u32,
    /// Start time, ms since the epoch.
    pub started_ms: u64,
    /// End time, ms since the epoch.
    pub ended_ms: Option<u64>,
}

/// A kind of held process (a task or a terminal), as the part it adds to [`Held`].
pub trait Kind: Send + Sync + Sized + 'static {
    /// Which kind it is (for messages).
    const KIND: HeldKind;
    /// How the protocol describes one (also its metadata file).
    type Info: serde::Serialize;
    /// The description of one whose common fields are `common`.
    fn info(&self, common: Common) -> Self::Info;
    /// The reply that carries a description.
    fn reply(info: Self::Info) -> Reply;
}

impl<K: Kind> Held<K> {
    /// A process of this kind that has just started (running since now) in `dir`,
    /// which exists, with its metadata file written.
    pub fn start(id: String, command: String, pid: u32, dir: PathBuf, io: K) -> Arc<Self> {
        let state = watch::Sender::new((ProcState::Running, None));
        let ooms_at_start = crate::resources::oom_kills();
        let held = Arc::new(Held { id, command, pid, started_ms: now_ms(), state, dir, io, ooms_at_start });
        held.write_first_meta();
        crate::journal::record(held.event(EventAction::Started));
        held
    }

    /// A process event about it.
    fn event(&self, action: EventAction) -> SessionEvent {
        let process = match K::KIND {
            HeldKind::Task => ProcessKind::Task,
            HeldKind::Terminal => ProcessKind::Terminal,
        };
        SessionEvent {
            process: Some(process),
            id: Some(self.id.clone()),
            command: Some(self.command.clone()),
            pid: Some(self.pid),
            ..SessionEvent::new(EventKind::Process, action)
        }
    }

    /// Its description now.
    pub fn info(&self) -> K::Info {
        let (state, ended_ms) = *self.state.borrow();
        let common = Common {
            id: self.id.clone(),
            command: self.command.clone(),
            state,
            pid: self.pid,
            started_ms: self.started_ms,
            ended_ms,
        };
        self.io.info(common)
    }

    /// Whether its process has not ended yet.
    pub fn running(&self) -> bool {
        self.state.borrow().0 == ProcState::Running
    }

    /// Writes its first metadata file: made whole in place (no temporary file and
    /// rename, one metadata write fewer), since no reader can have seen an older one.
    fn write_first_meta(&self) {
        let path = self.dir.join(layout::META);
        if let Ok(bytes) = serde_json::to_vec(&self.info())
            && let Ok(mut f) = std::fs::File::create_new(&path)
        {
            use std::io::Write as _;
            let _ = f.write_all(&bytes);
        }
    }

    /// Writes its description to its metadata file.
    pub fn write_meta(&self) {
        write_json_atomic(&self.dir.join(layout::META), &self.info());
    }

    /// Records how its process ended (now) and then rewrites its metadata file, off the
    /// runtime's threads: replacing a file by rename can wait for the disk (ext4 flushes
    /// the new data first), and requests must not queue behind it.
    pub async fn record_end(self: &Arc<Self>, state: ProcState) {
        self.state.send_replace((state, Some(now_ms())));
        let mut ended = self.event(EventAction::Exited);
        match state {
            ProcState::Exited { code } => ended.code = Some(code),
            ProcState::Killed { signal } => {
                ended.signal = Some(signal);
                ended.oom = Some(signal == Signal::KILL.as_raw() && crate::resources::oom_kills() > self.ooms_at_start);
            }
            ProcState::Running => {}
        }
        crate::journal::record(ended);
        let held = self.clone();
        let _ = tokio::task::spawn_blocking(move || held.write_meta()).await;
    }
}

/// Every held process of one kind, in creation order.
pub struct Registry<K> {
    list: Mutex<Vec<Arc<Held<K>>>>,
}

impl<K> Default for Registry<K> {
    fn default() -> Self {
        Registry { list: Mutex::new(Vec::new()) }
    }
}

impl<K: Kind> Registry<K> {
    /// Adds one.
    pub fn add(&self, held: Arc<Held<K>>) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).push(held);
    }

    /// Finds one by id (a `not_found` reply naming the kind otherwise).
    pub fn get(&self, id: &str) -> Result<Arc<Held<K>>, Reply> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|t| t.id == id).cloned().ok_or_else(|| {
            let k = K::KIND.name();
            Reply::error(ErrorKind::NotFound, format!("no {k} {id:?}; list the {k}s to see which exist"))
        })
    }

    /// Every one's description.
    pub fn infos(&self) -> Vec<K::Info> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|t| t.info()).collect()
    }

    /// Waits for one to end (forever when `timeout_ms` is absent); its description, or
    /// a `timeout` error.
    pub async fn wait(&self, id: &str, timeout_ms: Option<u64>) -> Reply {
        let held = match self.get(id) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if wait_ended(&held.state, timeout_ms).await {
            K::reply(held.info())
        } else {
            Reply::error(
                ErrorKind::Timeout,
                format!("{} {id} is still running after {} ms", K::KIND.name(), timeout_ms.unwrap_or(0)),
            )
        }
    }

    /// Signals one's process group, unless `gone` gives a reason why there is nothing
    /// left to signal (a `not_running` reply then).
    pub fn kill(&self, id: &str, signal: i32, gone: impl FnOnce(&Held<K>) -> Option<String>) -> Reply {
        let sig = match signal_of(signal) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let held = match self.get(id) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Some(why) = gone(&held) {
            return Reply::error(ErrorKind::NotRunning, why);
        }
        signal_group(held.pid as i32, sig);
        Reply::Done { bytes: 0 }
    }
}

/// Starts `cmd` (whose program is `program`) as a held process whose spool directory
/// `dir` was already made: its child and pid, its process group tracked in `groups`.
/// When it cannot start, `dir` is removed and the reply says why.
pub fn spawn_child(mut cmd: Command, program: &str, dir: &Path, groups: &Groups) -> Result<(Child, u32), Reply> {
    let child = cmd.spawn().map_err(|e| {
        let _ = std::fs::remove_dir_all(dir);
        Reply::io_error(&format!("starting {program}"), &e)
    })?;
    let pid = child.id().unwrap_or(0);
    groups.insert(pid as i32);
    Ok((child, pid))
}

/// Waits for a held process to exit; how it ended.
pub async fn wait_child(child: &mut Child) -> ProcState {
    match child.wait().await {
        Ok(s) => exit_state(s),
        Err(_) => ProcState::Exited { code: -1 },
    }
}

/// Waits until the process is no longer running; false if `timeout_ms` passed first.
pub async fn wait_ended(cell: &StateCell, timeout_ms: Option<u64>) -> bool {
    let mut rx = cell.subscribe();
    let deadline = timeout_ms.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    loop {
        if rx.borrow_and_update().0 != ProcState::Running {
            return true;
        }
        let changed = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.changed()).await {
                Ok(r) => r,
                Err(_) => return false,
            },
            None => rx.changed().await,
        };
        if changed.is_err() {
            return true;
        }
    }
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

/// Writes JSON to `path` through a temporary file and a rename (a reader sees the old
/// or the new document, never half of one).
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) {
    let tmp = path.with_extension("json.tmp");
    if let Ok(bytes) = serde_json::to_vec(value)
        && std::fs::write(&tmp, bytes).is_ok()
    {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// A signal number (already checked against the protocol's range) as a signal.
pub fn signal_of(n: i32) -> Result<Signal, Reply> {
    sandbox_proto::validate::signal(n)
        .ok()
        .and_then(|()| Signal::from_named_raw(n))
        .ok_or_else(|| Reply::error(ErrorKind::InvalidRequest, format!("signal {n} is not one this system knows")))
}

/// A command's working directory, when given, must exist in the container.
pub fn check_cwd(cwd: Option<&str>) -> Result<(), Reply> {
    match cwd {
        Some(c) if !Path::new(c).is_dir() => {
            Err(Reply::error(ErrorKind::NotFound, format!("working directory {c} does not exist in the container")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A kind whose description shows the common fields as given and its own number.
    struct Fake(u64);

    impl Kind for Fake {
        const KIND: HeldKind = HeldKind::Task;
        type Info = Value;
        fn info(&self, c: Common) -> Value {
            let state = format!("{:?}", c.state);
            json!({"id": c.id, "command": c.command, "state": state, "pid": c.pid,
                   "started_ms": c.started_ms, "ended_ms": c.ended_ms, "own": self.0})
        }
        fn reply(info: Value) -> Reply {
            Reply::error(ErrorKind::Internal, info.to_string())
        }
    }

    fn meta(dir: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(layout::META)).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn start_describes_the_common_fields_and_records_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let before = now_ms();
        let dir = tmp.path().join("task-a");
        std::fs::create_dir(&dir).unwrap();
        let held = Held::start("task-a".into(), "sleep 9".into(), 42, dir.clone(), Fake(7));
        let info = held.info();
        assert_eq!(info["id"], "task-a");
        assert_eq!(info["command"], "sleep 9");
        assert_eq!(info["state"], "Running");
        assert_eq!(info["pid"], 42);
        assert_eq!(info["ended_ms"], Value::Null);
        assert_eq!(info["own"], 7, "the kind's own part is described too");
        let started = info["started_ms"].as_u64().unwrap();
        assert!(started >= before && started <= now_ms(), "started {started}, before {before}");
        assert!(held.running());
        assert_eq!(meta(&dir), info, "the metadata file and its directory are written at the start");

        held.record_end(ProcState::Killed { signal: 9 }).await;
        assert!(!held.running());
        let info = held.info();
        assert_eq!(info["state"], "Killed { signal: 9 }");
        let ended = info["ended_ms"].as_u64().unwrap();
        assert!(ended >= started && ended <= now_ms(), "ended {ended}, started {started}");
        assert_eq!(meta(&dir), info, "the metadata file is rewritten at the end");
    }

    #[tokio::test]
    async fn registry_finds_waits_times_out_and_kills() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::default();
        let a = Held::start("task-a".into(), "a".into(), 0, tmp.path().join("a"), Fake(1));
        reg.add(a.clone());
        reg.add(Held::start("task-b".into(), "b".into(), 0, tmp.path().join("b"), Fake(2)));
        let ids: Vec<Value> = reg.infos().into_iter().map(|i| i["id"].clone()).collect();
        assert_eq!(ids, vec!["task-a", "task-b"]);
        let Err(Reply::Error(e)) = reg.get("task-x") else { panic!("found a missing task") };
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("no task \"task-x\""), "{}", e.message);
        let Reply::Error(e) = reg.kill("task-x", 15, |_| None) else { panic!("killed a missing task") };
        assert_eq!(e.kind, ErrorKind::NotFound);
        let Reply::Error(e) = reg.kill("task-a", 15, |t| Some(format!("{} is gone", t.id))) else { panic!() };
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotRunning, "task-a is gone"));
        let Reply::Error(e) = reg.kill("task-a", 0, |_| None) else { panic!("signal 0 was sent") };
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let Reply::Error(e) = reg.wait("task-a", Some(20)).await else { panic!("a running task ended") };
        assert_eq!(e.kind, ErrorKind::Timeout);
        let waiter = tokio::spawn(async move { reg.wait("task-a", None).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.state.send_replace((ProcState::Exited { code: 3 }, Some(1)));
        let Reply::Error(e) = waiter.await.unwrap() else { panic!() };
        let info: Value = serde_json::from_str(&e.message).unwrap();
        assert_eq!(
            (&info["state"], &info["ended_ms"]),
            (&json!("Exited { code: 3 }"), &json!(1)),
            "the waiter saw the end"
        );
    }

    #[test]
    fn signals_and_dirs() {
        assert_eq!(signal_of(15).unwrap(), Signal::TERM);
        assert!(signal_of(0).is_err() && signal_of(32).is_err());
        check_cwd(None).unwrap();
        check_cwd(Some("/")).unwrap();
        let Err(Reply::Error(e)) = check_cwd(Some("/no/such/dir")) else { panic!() };
        assert_eq!(e.kind, ErrorKind::NotFound);
    }
}
