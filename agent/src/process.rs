//! What tasks and terminals share, as processes the agent holds beyond the request that
//! started them: their lifecycle state and waiting on it, the registry they are found
//! in by id, their metadata file, and the checks and conversions both apply.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;
use sandbox_proto::validate::HeldKind;
use sandbox_proto::{ErrorKind, ProcState, Reply};
use tokio::sync::watch;

/// (state, end time in ms since the epoch).
pub type StateCell = watch::Sender<(ProcState, Option<u64>)>;

/// A process the agent holds: a task or a terminal.
pub trait Held: Send + Sync {
    /// Which kind it is (for messages).
    const KIND: HeldKind;
    /// How the protocol describes it.
    type Info;
    /// Its id.
    fn id(&self) -> &str;
    /// Its description now.
    fn info(&self) -> Self::Info;
    /// Its lifecycle state.
    fn state(&self) -> &StateCell;
    /// The reply that carries its description.
    fn reply(info: Self::Info) -> Reply;
}

/// Every held process of one kind, in creation order.
pub struct Registry<T> {
    list: Mutex<Vec<Arc<T>>>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry { list: Mutex::new(Vec::new()) }
    }
}

impl<T: Held> Registry<T> {
    /// Adds one.
    pub fn add(&self, held: Arc<T>) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).push(held);
    }

    /// Finds one by id (a `not_found` reply naming the kind otherwise).
    pub fn get(&self, id: &str) -> Result<Arc<T>, Reply> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|t| t.id() == id).cloned().ok_or_else(|| {
            let k = T::KIND.name();
            Reply::error(ErrorKind::NotFound, format!("no {k} {id:?}; list the {k}s to see which exist"))
        })
    }

    /// Every one's description.
    pub fn infos(&self) -> Vec<T::Info> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|t| t.info()).collect()
    }

    /// Waits for one to end (forever when `timeout_ms` is absent); its description, or
    /// a `timeout` error.
    pub async fn wait(&self, id: &str, timeout_ms: Option<u64>) -> Reply {
        let held = match self.get(id) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if wait_ended(held.state(), timeout_ms).await {
            T::reply(held.info())
        } else {
            Reply::error(
                ErrorKind::Timeout,
                format!("{} {id} is still running after {} ms", T::KIND.name(), timeout_ms.unwrap_or(0)),
            )
        }
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
    use super::*;

    struct Fake {
        id: String,
        state: StateCell,
    }

    impl Held for Fake {
        const KIND: HeldKind = HeldKind::Task;
        type Info = String;
        fn id(&self) -> &str {
            &self.id
        }
        fn info(&self) -> String {
            format!("{}:{:?}", self.id, self.state.borrow().0)
        }
        fn state(&self) -> &StateCell {
            &self.state
        }
        fn reply(info: String) -> Reply {
            Reply::error(ErrorKind::Internal, info)
        }
    }

    fn fake(id: &str) -> Arc<Fake> {
        Arc::new(Fake { id: id.into(), state: watch::Sender::new((ProcState::Running, None)) })
    }

    #[tokio::test]
    async fn registry_finds_waits_and_times_out() {
        let reg = Registry::default();
        let a = fake("task-a");
        reg.add(a.clone());
        reg.add(fake("task-b"));
        assert_eq!(reg.infos(), vec!["task-a:Running", "task-b:Running"]);
        let Err(Reply::Error(e)) = reg.get("task-x") else { panic!("found a missing task") };
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("no task \"task-x\""), "{}", e.message);
        let Reply::Error(e) = reg.wait("task-a", Some(20)).await else { panic!("a running task ended") };
        assert_eq!(e.kind, ErrorKind::Timeout);
        let waiter = tokio::spawn(async move { reg.wait("task-a", None).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.state.send_replace((ProcState::Exited { code: 3 }, Some(1)));
        let Reply::Error(e) = waiter.await.unwrap() else { panic!() };
        assert_eq!(e.message, "task-a:Exited { code: 3 }", "the waiter saw the end");
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
