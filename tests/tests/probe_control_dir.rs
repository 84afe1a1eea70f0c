//! The `control_dir` probe family: nothing the code in a session plants in its shared
//! control dir (`/.sandbox` inside, `<control>/shared/` on the host) makes a host-side
//! operation follow a link, read a host file, block, create anything, or use unbounded
//! memory.
//!
//! The class is every entry the host touches there (the agent's socket, lock and exit
//! reason, the old place of conmon's `oom` marker, the task and terminal dirs, their
//! metadata, spool dirs and segments) times every kind of thing the container can put in
//! its place: a symlink into a host decoy holding a secret, a symlink to a host path that
//! does not exist, a FIFO, a unix socket, the wrong type (a directory for a file, a file
//! for a directory) and a 1 TiB sparse file.
//!
//! For each kind, sessions are set up with tasks and terminals, the entries are replaced
//! from inside, then the agent is killed so the host falls back to reading the dir
//! ("offline"); every host operation that reads it runs through a fresh attach and
//! through the original handle, each under a no-hang bound; then the same id is started
//! again (the lock, and clearing the old dir) or the session is stopped (removing it).
//! The decoy mirrors the shared dir's layout on the host, so a followed link would
//! return the secret, list a decoy task, look like a live agent (the test holds a lock
//! on the decoy lock file) or connect to the decoy listener. Separately, the agent's
//! socket is replaced by each kind while the agent lives: a new attach must fail fast.

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use sandbox_core::{
    Error, ErrorKind, ExecOptions, ExecOutput, Network, OutputChunk, Sandbox, Session, SessionSpec, TaskSpec,
    TaskStream, TerminalSpec,
};
use sandbox_e2e::probe_table::{Outcome, ProbeTable};
use sandbox_e2e::{TestScope, run, test_config, unique_id};
use sandbox_proto::layout;

/// Bound on every single host operation: past it, the operation hung.
const NO_HANG: Duration = Duration::from_secs(30);
/// Bound on the operations of a session where one hung already (see [`isolated`]).
const AFTER_HANG: Duration = Duration::from_secs(2);
/// Bytes asked for by each output read.
const READ_MAX: usize = 1 << 20;
/// Bytes asked for by each tail read.
const TAIL: usize = 4096;
/// Size of the planted sparse files.
const HUGE: u64 = 1 << 40;
/// Longest acceptable error message (a huge `agent.exit` must not end up in it whole).
const MAX_MESSAGE: usize = 16 * 1024;
/// Sessions set up at the same time (the machine has two shared cores).
const PARALLEL: usize = 4;
const PLANT_SOURCE: &str = include_str!("../probes/plant.c");
const STREAMS: [TaskStream; 3] = [TaskStream::Merged, TaskStream::Stdout, TaskStream::Stderr];
const KILL_AGENT: &str = r#"for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = .sandbox-agent ] && kill -9 ${p#/proc/}; done; sleep 5"#;

/// What the container puts in place of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    HostLink,
    DanglingLink,
    Fifo,
    Socket,
    WrongType,
    Sparse,
}

const KINDS: [Kind; 6] = [Kind::HostLink, Kind::DanglingLink, Kind::Fifo, Kind::Socket, Kind::WrongType, Kind::Sparse];

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::HostLink => "hostlink",
            Kind::DanglingLink => "dangling",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::WrongType => "wrongtype",
            Kind::Sparse => "sparse",
        }
    }

    /// What is planted in place of an entry that is a directory (`dir`) or not.
    fn describe(self, dir: bool) -> &'static str {
        match self {
            Kind::HostLink => "a symlink to the host decoy holding a secret",
            Kind::DanglingLink => "a symlink to a host path that does not exist",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a unix socket",
            Kind::WrongType if dir => "a regular file",
            Kind::WrongType => "a directory",
            Kind::Sparse => "a 1 TiB sparse file",
        }
    }

    /// Shell command (run in `/.sandbox`) planting it at `rel`.
    fn command(self, rel: &str, dir: bool, decoy: &Path, plant: &Path) -> String {
        match self {
            Kind::HostLink => format!("ln -s '{}' '{rel}'", decoy.join(rel).display()),
            Kind::DanglingLink => format!("ln -s '{}' '{rel}'", missing(decoy, rel).display()),
            Kind::Fifo => format!("mkfifo '{rel}'"),
            Kind::Socket => format!("'{}' socket '{rel}'", plant.display()),
            Kind::WrongType if dir => format!("echo planted > '{rel}'"),
            Kind::WrongType => format!("mkdir '{rel}'"),
            Kind::Sparse => format!("truncate -s {HUGE} '{rel}'"),
        }
    }

    /// Whether the host's `lstat` sees what was planted.
    fn planted(self, m: &std::fs::Metadata, dir: bool) -> bool {
        let t = m.file_type();
        match self {
            Kind::HostLink | Kind::DanglingLink => t.is_symlink(),
            Kind::Fifo => t.is_fifo(),
            Kind::Socket => t.is_socket(),
            Kind::WrongType if dir => t.is_file(),
            Kind::WrongType => t.is_dir(),
            Kind::Sparse => t.is_file() && m.len() == HUGE,
        }
    }
}

/// Where a dangling link planted at `rel` points: inside the decoy, which exists, so
/// creating the target through the link would succeed if the host did it.
fn missing(decoy: &Path, rel: &str) -> PathBuf {
    decoy.join(format!("missing-{}", rel.replace('/', "_")))
}

fn stream_dir(s: TaskStream) -> &'static str {
    match s {
        TaskStream::Merged => layout::TASK_MERGED,
        TaskStream::Stdout => layout::TASK_STDOUT,
        TaskStream::Stderr => layout::TASK_STDERR,
    }
}

/// An entry of the shared dir that the host touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Socket,
    Lock,
    ExitReason,
    Oom,
    Tasks,
    Terminals,
    TaskDir,
    TerminalDir,
    TaskMeta,
    TerminalMeta,
    TaskSpool(TaskStream),
    TerminalSpool,
    TaskSegment(TaskStream),
    TerminalSegment,
}

const TARGETS: [Target; 18] = [
    Target::Socket,
    Target::Lock,
    Target::ExitReason,
    Target::Oom,
    Target::Tasks,
    Target::Terminals,
    Target::TaskDir,
    Target::TerminalDir,
    Target::TaskMeta,
    Target::TerminalMeta,
    Target::TaskSpool(TaskStream::Merged),
    Target::TaskSpool(TaskStream::Stdout),
    Target::TaskSpool(TaskStream::Stderr),
    Target::TerminalSpool,
    Target::TaskSegment(TaskStream::Merged),
    Target::TaskSegment(TaskStream::Stdout),
    Target::TaskSegment(TaskStream::Stderr),
    Target::TerminalSegment,
];

/// Which session a target is planted in: replacing `tasks/` itself leaves nothing below
/// it to replace, so the two top dirs get their own sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Everything below the top dirs, one task or terminal per target; ends by starting
    /// the same id again.
    Leaves,
    /// `tasks/` and `terminals/` themselves (plus the agent's own files); ends with a stop.
    Top,
}

/// Tasks and terminals of a session, by the role they play.
struct Ids {
    tasks: Vec<(&'static str, String)>,
    terminals: Vec<(&'static str, String)>,
}

impl Ids {
    fn task(&self, role: &str) -> &str {
        &self.tasks.iter().find(|(r, _)| *r == role).expect("task role").1
    }
    fn terminal(&self, role: &str) -> &str {
        &self.terminals.iter().find(|(r, _)| *r == role).expect("terminal role").1
    }
}

/// Role of the task and the terminal nothing is planted for: one planted entry must not
/// make the host drop them from its lists.
const CONTROL: &str = "control";

impl Stage {
    fn task_roles(self) -> &'static [&'static str] {
        match self {
            Stage::Leaves => &["dir", "meta", "spools", "segments", CONTROL],
            Stage::Top => &["only"],
        }
    }
    fn terminal_roles(self) -> &'static [&'static str] {
        match self {
            Stage::Leaves => &["dir", "meta", "spool", "segment", CONTROL],
            Stage::Top => &["only"],
        }
    }
    fn targets(self) -> Vec<Target> {
        let top = [Target::Tasks, Target::Terminals];
        match self {
            Stage::Leaves => TARGETS.iter().copied().filter(|t| !top.contains(t)).collect(),
            Stage::Top => {
                [Target::Socket, Target::Lock, Target::ExitReason, Target::Oom, Target::Tasks, Target::Terminals]
                    .to_vec()
            }
        }
    }
    /// The targets whose rows this stage produces (the agent's own files ride along in
    /// [`Stage::Top`] only to be there when it is stopped).
    fn rows(self) -> Vec<Target> {
        match self {
            Stage::Leaves => self.targets(),
            Stage::Top => vec![Target::Tasks, Target::Terminals],
        }
    }
}

impl Target {
    fn label(self) -> String {
        match self {
            Target::Socket => layout::SOCKET.into(),
            Target::Lock => layout::LOCK.into(),
            Target::ExitReason => layout::EXIT_REASON.into(),
            Target::Oom => format!("{} (conmon's marker lives in the private dir)", layout::OOM_MARKER),
            Target::Tasks => format!("{}/", layout::TASKS),
            Target::Terminals => format!("{}/", layout::TERMINALS),
            Target::TaskDir => format!("{}/<id>/", layout::TASKS),
            Target::TerminalDir => format!("{}/<id>/", layout::TERMINALS),
            Target::TaskMeta => format!("{}/<id>/{}", layout::TASKS, layout::META),
            Target::TerminalMeta => format!("{}/<id>/{}", layout::TERMINALS, layout::META),
            Target::TaskSpool(s) => format!("{}/<id>/{}/", layout::TASKS, stream_dir(s)),
            Target::TerminalSpool => format!("{}/<id>/{}/", layout::TERMINALS, layout::TERMINAL_OUT),
            Target::TaskSegment(s) => format!("{}/<id>/{}/0", layout::TASKS, stream_dir(s)),
            Target::TerminalSegment => format!("{}/<id>/{}/0", layout::TERMINALS, layout::TERMINAL_OUT),
        }
    }

    /// Path relative to the shared dir.
    fn rel(self, ids: &Ids) -> String {
        let (tasks, terms) = (layout::TASKS, layout::TERMINALS);
        match self {
            Target::Socket => layout::SOCKET.into(),
            Target::Lock => layout::LOCK.into(),
            Target::ExitReason => layout::EXIT_REASON.into(),
            Target::Oom => layout::OOM_MARKER.into(),
            Target::Tasks => tasks.into(),
            Target::Terminals => terms.into(),
            Target::TaskDir => format!("{tasks}/{}", ids.task("dir")),
            Target::TerminalDir => format!("{terms}/{}", ids.terminal("dir")),
            Target::TaskMeta => format!("{tasks}/{}/{}", ids.task("meta"), layout::META),
            Target::TerminalMeta => format!("{terms}/{}/{}", ids.terminal("meta"), layout::META),
            Target::TaskSpool(s) => format!("{tasks}/{}/{}", ids.task("spools"), stream_dir(s)),
            Target::TerminalSpool => format!("{terms}/{}/{}", ids.terminal("spool"), layout::TERMINAL_OUT),
            Target::TaskSegment(s) => format!("{tasks}/{}/{}/0", ids.task("segments"), stream_dir(s)),
            Target::TerminalSegment => format!("{terms}/{}/{}/0", ids.terminal("segment"), layout::TERMINAL_OUT),
        }
    }

    fn is_dir(self) -> bool {
        matches!(
            self,
            Target::Tasks
                | Target::Terminals
                | Target::TaskDir
                | Target::TerminalDir
                | Target::TaskSpool(_)
                | Target::TerminalSpool
        )
    }

    /// Whether the agent made it before the planting (the others appear only when the
    /// agent stops on its own, or never).
    fn made_by_agent(self) -> bool {
        !matches!(self, Target::ExitReason | Target::Oom)
    }

    /// The task or terminal id it belongs to.
    fn subject(self, ids: &Ids) -> Option<String> {
        let id = match self {
            Target::TaskDir => ids.task("dir"),
            Target::TaskMeta => ids.task("meta"),
            Target::TaskSpool(_) => ids.task("spools"),
            Target::TaskSegment(_) => ids.task("segments"),
            Target::TerminalDir => ids.terminal("dir"),
            Target::TerminalMeta => ids.terminal("meta"),
            Target::TerminalSpool => ids.terminal("spool"),
            Target::TerminalSegment => ids.terminal("segment"),
            _ => return None,
        };
        Some(id.to_string())
    }

    /// What the host does with it, for the table.
    fn exercised_by(self) -> &'static str {
        match self {
            Target::Socket => "exec connects to it (fresh attach and original handle)",
            Target::Lock => "the same id is started again (open + flock, then the old dir is cleared)",
            Target::ExitReason => "every lost-session error reads it (exec, offline calls)",
            Target::Oom => "lost-session diagnosis, which must not report OOM",
            Target::Tasks | Target::TaskDir | Target::TaskMeta => {
                "offline task list, info and output of all streams (fresh attach and original handle)"
            }
            Target::Terminals | Target::TerminalDir | Target::TerminalMeta => {
                "offline terminal list and read (fresh attach and original handle)"
            }
            Target::TaskSpool(_) | Target::TaskSegment(_) => {
                "offline read and tail of that stream (fresh attach and original handle)"
            }
            Target::TerminalSpool | Target::TerminalSegment => {
                "offline terminal read (fresh attach and original handle)"
            }
        }
    }
}

/// The secret the decoy's files hold: `<base>:<path in the decoy>#`, so a leak says
/// which followed entry it came through.
#[derive(Clone)]
struct Secret {
    base: String,
}

impl Secret {
    fn marker(&self, rel: &str) -> String {
        format!("{}:{rel}#", self.base)
    }

    /// The decoy paths whose secret appears in `text` (`?` for a mangled one).
    fn leaks(&self, text: &str) -> Vec<String> {
        text.match_indices(&self.base)
            .map(|(i, _)| {
                let rest = &text[i + self.base.len()..];
                rest.strip_prefix(':').and_then(|r| r.split_once('#')).map(|(p, _)| p.to_string()).unwrap_or("?".into())
            })
            .collect()
    }
}

/// The host side of the probe: a mirror of the shared dir's layout in a host temp dir,
/// every file holding the secret; a listener at its `agent.sock` and a lock held on its
/// `agent.lock`.
struct Decoy {
    dir: tempfile::TempDir,
    secret: Secret,
    listener: UnixListener,
    _lock: std::fs::File,
}

impl Decoy {
    fn new(ids: &Ids) -> Decoy {
        let dir = tempfile::tempdir().expect("decoy dir");
        let secret = Secret { base: format!("HOSTSECRET-{}", unique_id("decoy")) };
        let root = dir.path();
        let write = |rel: &str, text: &[u8]| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let marked = |rel: &str| write(rel, format!("{}\n", secret.marker(rel)).as_bytes());
        marked(layout::EXIT_REASON);
        marked(layout::OOM_MARKER);
        write(layout::LOCK, b"");
        let lock = std::fs::File::open(root.join(layout::LOCK)).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockShared).unwrap();
        let listener = UnixListener::bind(root.join(layout::SOCKET)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = sandbox_proto::ProcState::Exited { code: 0 };
        for (_, id) in &ids.tasks {
            let rel = format!("{}/{id}/{}", layout::TASKS, layout::META);
            let meta = sandbox_proto::TaskInfo {
                id: id.clone(),
                command: secret.marker(&rel),
                state,
                pid: 1,
                started_ms: 1,
                ended_ms: Some(2),
                spool_cap: 1 << 20,
            };
            write(&rel, &serde_json::to_vec(&meta).unwrap());
            for s in STREAMS {
                marked(&format!("{}/{id}/{}/0", layout::TASKS, stream_dir(s)));
            }
        }
        for (_, id) in &ids.terminals {
            let rel = format!("{}/{id}/{}", layout::TERMINALS, layout::META);
            let meta = sandbox_proto::TerminalInfo {
                id: id.clone(),
                command: secret.marker(&rel),
                state,
                pid: 1,
                rows: 24,
                cols: 80,
                started_ms: 1,
                ended_ms: Some(2),
                scrollback: 1 << 20,
            };
            write(&rel, &serde_json::to_vec(&meta).unwrap());
            marked(&format!("{}/{id}/{}/0", layout::TERMINALS, layout::TERMINAL_OUT));
        }
        Decoy { dir, secret, listener, _lock: lock }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every entry (type, and content of files) by its path in the decoy, to see that
    /// nothing changed.
    fn snapshot(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let v = if m.is_dir() {
                    walk(root, &p, out);
                    "dir".to_string()
                } else if m.is_file() {
                    format!("file {:?}", std::fs::read(&p).unwrap())
                } else {
                    format!("{:?}", m.file_type())
                };
                out.insert(p.strip_prefix(root).unwrap().display().to_string(), v);
            }
        }
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }

    /// Connections the decoy listener received (there must be none).
    fn connections(&self) -> usize {
        let mut n = 0;
        while self.listener.accept().is_ok() {
            n += 1;
        }
        n
    }
}

/// Whether the decoy path `p` lies at or below `rel`.
fn under(p: &str, rel: &str) -> bool {
    p == rel || p.starts_with(&format!("{rel}/"))
}

/// What one host operation returned.
#[derive(Debug)]
enum Res {
    Err { kind: ErrorKind, oom_killed: Option<bool>, message: String },
    Listed(Vec<String>),
    Info,
    Data { len: usize, zeros: bool },
    Ran,
    Failed(String),
}

/// One host operation.
#[derive(Debug)]
struct Obs {
    handle: &'static str,
    op: &'static str,
    task: Option<String>,
    terminal: Option<String>,
    stream: Option<TaskStream>,
    /// `None`: it did not return within [`NO_HANG`].
    res: Option<Res>,
    /// Decoy paths whose secret came back in what it returned.
    leaks: Vec<String>,
}

impl Obs {
    fn new(handle: &'static str, op: &'static str) -> Obs {
        Obs { handle, op, task: None, terminal: None, stream: None, res: None, leaks: Vec::new() }
    }
    fn task(mut self, id: &str, stream: Option<TaskStream>) -> Obs {
        self.task = Some(id.to_string());
        self.stream = stream;
        self
    }
    fn terminal(mut self, id: &str) -> Obs {
        self.terminal = Some(id.to_string());
        self
    }
    fn done(mut self, res: Res, returned: &str, secret: &Secret) -> Obs {
        self.leaks = secret.leaks(returned);
        self.res = Some(res);
        self
    }
    fn error(self, e: &Error, secret: &Secret) -> Obs {
        let oom_killed = match e {
            Error::SessionLost { oom_killed, .. } => Some(*oom_killed),
            _ => None,
        };
        let res = Res::Err { kind: e.kind(), oom_killed, message: e.to_string() };
        self.done(res, &format!("{e} {e:?}"), secret)
    }
    fn list<T: std::fmt::Debug>(
        self,
        r: Option<sandbox_core::Result<Vec<T>>>,
        id: impl Fn(&T) -> String,
        secret: &Secret,
    ) -> Obs {
        match r {
            None => self,
            Some(Err(e)) => self.error(&e, secret),
            Some(Ok(v)) => self.done(Res::Listed(v.iter().map(id).collect()), &format!("{v:?}"), secret),
        }
    }
    fn info<T: std::fmt::Debug>(self, r: Option<sandbox_core::Result<T>>, secret: &Secret) -> Obs {
        match r {
            None => self,
            Some(Err(e)) => self.error(&e, secret),
            Some(Ok(v)) => self.done(Res::Info, &format!("{v:?}"), secret),
        }
    }
    fn chunk(self, r: Option<sandbox_core::Result<OutputChunk>>, max: usize, secret: &Secret) -> Obs {
        match r {
            None => self,
            Some(Err(e)) => self.error(&e, secret),
            Some(Ok(c)) => {
                let res = if c.data.len() > max {
                    Res::Failed(format!("{} bytes returned for a read of at most {max}", c.data.len()))
                } else {
                    Res::Data { len: c.data.len(), zeros: !c.data.is_empty() && c.data.iter().all(|b| *b == 0) }
                };
                self.done(res, &String::from_utf8_lossy(&c.data), secret)
            }
        }
    }
    fn exec(self, r: Option<sandbox_core::Result<ExecOutput>>, secret: &Secret) -> Obs {
        match r {
            None => self,
            Some(Err(e)) => self.error(&e, secret),
            Some(Ok(o)) => {
                let res = Res::Failed(format!("exec ran (exit {:?}) on a session whose agent is dead", o.exit_code));
                self.done(res, &format!("{} {}", o.stdout_lossy(), o.stderr_lossy()), secret)
            }
        }
    }

    /// Short text for the table; `subject` is the id the row is about; `message` shows
    /// an error's whole message.
    fn short(&self, subject: Option<&str>, message: bool) -> String {
        let what = match self.stream {
            Some(s) => format!("{} {}", self.op, stream_dir(s)),
            None => self.op.to_string(),
        };
        let res = match &self.res {
            None => "HUNG".to_string(),
            Some(Res::Err { kind, oom_killed, message: m }) => {
                let oom =
                    oom_killed.filter(|_| self.op == "exec").map(|o| format!(" (oom_killed {o})")).unwrap_or_default();
                let m = if message { format!(": \"{m}\"") } else { String::new() };
                format!("error {kind:?}{oom}{m}")
            }
            Some(Res::Listed(ids)) => match subject {
                Some(s) if ids.iter().any(|i| i == s) => format!("{} listed, the planted one INCLUDED", ids.len()),
                Some(_) => format!("{} listed, the planted one skipped", ids.len()),
                None => format!("{} listed", ids.len()),
            },
            Some(Res::Info) => "returned".into(),
            Some(Res::Data { len, zeros: true }) => format!("{len} zero bytes (bounded)"),
            Some(Res::Data { len, .. }) => format!("{len} bytes"),
            Some(Res::Ran) => "ok".into(),
            Some(Res::Failed(why)) => format!("FAILED: {why}"),
        };
        format!("{what}: {res}")
    }
}

/// Bounds a setup step (not a probed operation).
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(NO_HANG, f).await.expect("a setup step hung")
}

/// A session's shared dir as the probed operations see it.
struct Shared {
    dir: PathBuf,
    /// An operation on it hung already.
    hung: AtomicBool,
}

/// Runs a probed host operation on a thread of its own, so that even one blocking its
/// thread (say, a FIFO opened without `O_NONBLOCK`) shows as a hang instead of stalling
/// the test: `None` when it did not return within [`NO_HANG`]. A hung one is then
/// released by opening every FIFO in the shared dir for writing. Once one hung, the
/// session has failed already; the rest get [`AFTER_HANG`], so the table still comes out
/// within the test's bound.
async fn isolated<T: Send + 'static>(shared: &Shared, f: impl Future<Output = T> + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let _ = tx.send(rt.block_on(f));
    });
    let bound = if shared.hung.load(Ordering::Relaxed) { AFTER_HANG } else { NO_HANG };
    match tokio::time::timeout(bound, rx).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(_)) => panic!("a host operation panicked (see above)"),
        Err(_) => {
            shared.hung.store(true, Ordering::Relaxed);
            unjam(&shared.dir);
            None
        }
    }
}

fn unjam(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if m.is_dir() {
            unjam(&p);
        } else if m.file_type().is_fifo() {
            let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let _ = rustix::fs::open(&p, flags, Mode::empty());
        }
    }
}

/// Every host operation that reads the shared dir, through `s`.
async fn observe(handle: &'static str, s: &Session, ids: &Ids, shared: &Shared, secret: &Secret, out: &mut Vec<Obs>) {
    let h = s.clone();
    let r = isolated(shared, async move { h.list_tasks().await }).await;
    out.push(Obs::new(handle, "list tasks").list(r, |t| t.id.clone(), secret));
    for (_, id) in &ids.tasks {
        let (h, i) = (s.clone(), id.clone());
        let r = isolated(shared, async move { h.task(&i).info().await }).await;
        out.push(Obs::new(handle, "task info").task(id, None).info(r, secret));
        for st in STREAMS {
            let (h, i) = (s.clone(), id.clone());
            let r = isolated(shared, async move { h.task(&i).read(st, 0, READ_MAX, Some(Duration::ZERO)).await }).await;
            out.push(Obs::new(handle, "read").task(id, Some(st)).chunk(r, READ_MAX, secret));
            let (h, i) = (s.clone(), id.clone());
            let r = isolated(shared, async move { h.task(&i).tail(st, TAIL).await }).await;
            out.push(Obs::new(handle, "tail").task(id, Some(st)).chunk(r, TAIL, secret));
        }
    }
    let h = s.clone();
    let r = isolated(shared, async move { h.list_terminals().await }).await;
    out.push(Obs::new(handle, "list terminals").list(r, |t| t.id.clone(), secret));
    for (_, id) in &ids.terminals {
        let (h, i) = (s.clone(), id.clone());
        let r = isolated(shared, async move { h.terminal(&i).read(0, READ_MAX, Some(Duration::ZERO)).await }).await;
        out.push(Obs::new(handle, "terminal read").terminal(id).chunk(r, READ_MAX, secret));
    }
    let h = s.clone();
    let r =
        isolated(shared, async move { h.exec(&["true"], ExecOptions::new().timeout(Duration::from_secs(5))).await })
            .await;
    out.push(Obs::new(handle, "exec").exec(r, secret));
}

/// What the test shares with every session it sets up.
struct Ctx {
    sandbox: Sandbox,
    /// Another `Sandbox`, as another process would have.
    fresh: Sandbox,
    dir: PathBuf,
    plant: PathBuf,
}

struct RowOut {
    order: (usize, usize),
    probe: String,
    tried: String,
    outcome: Outcome,
    detail: String,
}

async fn sh(s: &Session, script: &str) -> ExecOutput {
    within(s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(20))))
        .await
        .expect("setup exec")
}

fn spec(ctx: &Ctx, id: &str) -> SessionSpec {
    SessionSpec::new(id, &ctx.dir).network(Network::None)
}

fn shared_of(s: &Session) -> Shared {
    Shared { dir: s.control_dir().join(layout::SHARED_DIR), hung: AtomicBool::new(false) }
}

/// Starts a session with a task and a terminal per role, all finished with their
/// output spooled.
async fn populated(ctx: &Ctx, stage: Stage, id: &str) -> (Session, Ids) {
    let s = within(ctx.sandbox.start(spec(ctx, id))).await.expect("start");
    let mut ids = Ids { tasks: Vec::new(), terminals: Vec::new() };
    for role in stage.task_roles() {
        let t = s.spawn_task(TaskSpec::shell(format!("echo out-{role}; echo err-{role} >&2"))).await.unwrap();
        t.wait(Some(Duration::from_secs(20))).await.unwrap();
        ids.tasks.push((role, t.id().to_string()));
    }
    for role in stage.terminal_roles() {
        let t = s.open_terminal(TerminalSpec::command(format!("echo term-{role}"), 24, 80)).await.unwrap();
        t.wait(Some(Duration::from_secs(20))).await.unwrap();
        let mut seen = false;
        for _ in 0..100 {
            if !t.read(0, 4096, Some(Duration::ZERO)).await.unwrap().data.is_empty() {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(seen, "terminal {role} spooled its output");
        ids.terminals.push((role, t.id().to_string()));
    }
    (s, ids)
}

/// Replaces `targets` with `kind` from inside, checking from the host that the agent's
/// entries were there before and the planted ones are there after.
async fn plant(ctx: &Ctx, s: &Session, ids: &Ids, kind: Kind, targets: &[Target], decoy: &Path) {
    let shared = shared_of(s);
    let mut script = format!("set -e; cd {}", layout::CONTAINER_DIR);
    for t in targets {
        let rel = t.rel(ids);
        if t.made_by_agent() {
            assert!(std::fs::symlink_metadata(shared.dir.join(&rel)).is_ok(), "the agent made {rel}");
        }
        script.push_str(&format!("; rm -rf '{rel}'; {}", kind.command(&rel, t.is_dir(), decoy, &ctx.plant)));
    }
    let o = sh(s, &script).await;
    assert!(o.success(), "planting {kind:?}: {} {}", o.stdout_lossy(), o.stderr_lossy());
    for t in targets {
        let rel = t.rel(ids);
        let m = std::fs::symlink_metadata(shared.dir.join(&rel)).unwrap_or_else(|e| panic!("{rel} planted: {e}"));
        assert!(kind.planted(&m, t.is_dir()), "{rel} is {:?} after planting {kind:?}", m.file_type());
    }
}

/// Kills the agent from inside and waits for the container to stop. The exec doing it
/// loses its agent, so the host diagnoses a lost session over the planted dir: that is a
/// probed operation too (recorded as "dying exec").
async fn kill_agent(ctx: &Ctx, s: &Session, shared: &Shared, secret: &Secret) -> Obs {
    let h = s.clone();
    let r = isolated(shared, async move {
        h.exec(&["sh", "-c", KILL_AGENT], ExecOptions::new().timeout(Duration::from_secs(10))).await
    })
    .await;
    let o = match r {
        Some(Ok(out)) => panic!("the exec's own agent died under it, yet it returned {out:?}"),
        r => Obs::new("original", "dying exec").exec(r, secret),
    };
    for _ in 0..300 {
        let list = ctx.sandbox.list().await.unwrap();
        if list.iter().any(|i| i.id == s.id() && !i.is_running()) {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("session {} still running after its agent was killed", s.id());
}

/// Starts the same id again over the planted dir: it must start (no planted lock looks
/// like a live agent, the decoy's held lock is never reached) with a fresh shared dir.
async fn restart(ctx: &Ctx, id: &str, shared: &Shared, secret: &Secret) -> Obs {
    let o = Obs::new("new start", "restart");
    let (sandbox, spec) = (ctx.sandbox.clone(), spec(ctx, id));
    let r = isolated(shared, async move {
        let n = sandbox.start(spec).await?;
        let tasks = n.list_tasks().await;
        let ran = n.exec(&["true"], ExecOptions::new()).await;
        let stopped = n.stop().await;
        Ok::<_, Error>(match (&tasks, &ran, &stopped) {
            (Ok(t), Ok(r), Ok(())) if t.is_empty() && r.success() => Res::Ran,
            _ => Res::Failed(format!("tasks {tasks:?}, exec {ran:?}, stop {stopped:?}")),
        })
    })
    .await;
    match r {
        None => o,
        Some(Err(e)) => o.error(&e, secret),
        Some(Ok(res)) => {
            let text = format!("{res:?}");
            o.done(res, &text, secret)
        }
    }
}

/// Stops the session through the fresh handle over the planted dir: the control dir
/// must be gone, nothing followed.
async fn stop(s: &Session, shared: &Shared, secret: &Secret) -> Obs {
    let o = Obs::new("fresh", "stop");
    let (h, control) = (s.clone(), s.control_dir().to_path_buf());
    match isolated(shared, async move { h.stop().await }).await {
        None => o,
        Some(Err(e)) => o.error(&e, secret),
        Some(Ok(())) if control.exists() => o.done(Res::Failed("the control dir is still there".into()), "", secret),
        Some(Ok(())) => o.done(Res::Ran, "", secret),
    }
}

/// Whether `o` exercises `target` (whose task or terminal is `subject`).
fn relevant(target: Target, subject: Option<&str>, o: &Obs) -> bool {
    let on_subject = |id: &Option<String>| id.as_deref() == subject;
    match target {
        Target::Socket | Target::Oom => o.op == "exec",
        // Every lost-session error carries the exit reason.
        Target::ExitReason => true,
        Target::Lock => o.op == "restart",
        Target::Tasks => o.op == "list tasks" || o.task.is_some() || o.op == "stop",
        Target::Terminals => o.op == "list terminals" || o.terminal.is_some() || o.op == "stop",
        Target::TaskDir | Target::TaskMeta => o.op == "list tasks" || on_subject(&o.task),
        Target::TerminalDir | Target::TerminalMeta => o.op == "list terminals" || on_subject(&o.terminal),
        Target::TaskSpool(s) | Target::TaskSegment(s) => {
            on_subject(&o.task) && (o.stream == Some(s) || o.op == "task info")
        }
        Target::TerminalSpool | Target::TerminalSegment => on_subject(&o.terminal),
    }
}

/// What `o` must have returned for `target` planted with `kind` (beyond returning at
/// all and not leaking the secret, checked for every operation).
fn expectation(
    target: Target,
    kind: Kind,
    subject: Option<&str>,
    control: Option<&str>,
    o: &Obs,
) -> Result<(), String> {
    let Some(res) = &o.res else { return Err(format!("{} {} HUNG", o.handle, o.op)) };
    if let Res::Failed(why) = res {
        return Err(format!("{} {}: {why}", o.handle, o.op));
    }
    let fail = |why: &str| Err(format!("{} {}: {why}", o.handle, o.op));
    let is_err = matches!(res, Res::Err { .. });
    let on_subject = subject.is_some() && o.task.as_deref().or(o.terminal.as_deref()) == subject;
    match (target, o.op) {
        (_, "exec") if !matches!(res, Res::Err { kind: ErrorKind::SessionLost, .. }) => fail("not SessionLost"),
        (Target::Oom, "exec") if !matches!(res, Res::Err { oom_killed: Some(false), .. }) => {
            fail("reported an OOM kill")
        }
        (_, _) if matches!(res, Res::Err { message, .. } if message.len() > MAX_MESSAGE) => {
            fail("an unbounded error message")
        }
        (Target::Lock | Target::Tasks | Target::Terminals, "restart" | "stop") if !matches!(res, Res::Ran) => {
            fail("did not complete")
        }
        (Target::Tasks, "list tasks") | (Target::Terminals, "list terminals") => match res {
            Res::Err { .. } => Ok(()),
            Res::Listed(ids) if ids.is_empty() => Ok(()),
            _ => fail("listed entries of a planted top dir"),
        },
        (Target::Tasks, _) if o.task.is_some() && !is_err => fail("returned something from a planted tasks dir"),
        (Target::Terminals, _) if o.terminal.is_some() && !is_err => {
            fail("returned something from a planted terminals dir")
        }
        (Target::TaskDir | Target::TaskMeta, "list tasks")
        | (Target::TerminalDir | Target::TerminalMeta, "list terminals") => match res {
            Res::Listed(ids) if ids.iter().any(|i| Some(i.as_str()) == subject) => fail("listed the planted one"),
            Res::Listed(ids) if !ids.iter().any(|i| Some(i.as_str()) == control) => {
                fail("dropped the untouched one too")
            }
            Res::Listed(_) => Ok(()),
            _ => fail("one planted entry broke the whole list"),
        },
        (Target::TaskDir | Target::TerminalDir, _) if on_subject && !is_err => fail("read through a planted dir"),
        (Target::TaskMeta, "task info") if on_subject && !is_err => fail("returned planted metadata"),
        (Target::TaskSpool(_) | Target::TerminalSpool, "read" | "tail" | "terminal read") if !is_err => {
            fail("read from a planted spool dir")
        }
        (Target::TaskSegment(_) | Target::TerminalSegment, "read" | "tail" | "terminal read") => {
            if is_err || (kind == Kind::Sparse && matches!(res, Res::Data { zeros: true, .. })) {
                Ok(())
            } else {
                fail("read a planted segment")
            }
        }
        _ => Ok(()),
    }
}

/// Everything one session found, turned into the rows of its targets.
struct Findings {
    stage: Stage,
    kind: Kind,
    ids: Ids,
    obs: Vec<Obs>,
    /// Decoy paths that changed, appeared or disappeared.
    decoy_changed: Vec<String>,
    decoy_connections: usize,
    /// Targets whose dangling link's target was created.
    created: Vec<String>,
}

impl Findings {
    fn rows(&self) -> Vec<RowOut> {
        let control_task = (self.stage == Stage::Leaves).then(|| self.ids.task(CONTROL).to_string());
        let control_term = (self.stage == Stage::Leaves).then(|| self.ids.terminal(CONTROL).to_string());
        let leaks: Vec<(&str, String)> = self
            .obs
            .iter()
            .flat_map(|o| o.leaks.iter().map(move |p| (p.as_str(), format!("{} {}", o.handle, o.op))))
            .collect();
        let mut rows = Vec::new();
        let mut attributed = Vec::new();
        for target in self.stage.rows() {
            let subject = target.subject(&self.ids);
            let is_terminal = matches!(
                target,
                Target::Terminals
                    | Target::TerminalDir
                    | Target::TerminalMeta
                    | Target::TerminalSpool
                    | Target::TerminalSegment
            );
            let control = if is_terminal { control_term.as_deref() } else { control_task.as_deref() };
            let rel = target.rel(&self.ids);
            attributed.push(rel.clone());
            let mut problems = Vec::new();
            let mut by: Vec<&str> = leaks.iter().filter(|(p, _)| under(p, &rel)).map(|(_, w)| w.as_str()).collect();
            by.sort();
            by.dedup();
            if !by.is_empty() {
                problems.push(format!("the decoy's secret came back from {}", by.join(", ")));
            }
            let mut seen: Vec<(String, Vec<&str>)> = Vec::new();
            for o in self.obs.iter().filter(|o| relevant(target, subject.as_deref(), o)) {
                if let Err(why) = expectation(target, self.kind, subject.as_deref(), control, o) {
                    problems.push(why);
                }
                // Only the operations on the row's own subject (or lists, or the
                // session-wide ones) go into the detail, merged across handles.
                let shown = match target {
                    Target::ExitReason => o.op.ends_with("exec"),
                    Target::Tasks | Target::Terminals => true,
                    _ => o.task.is_none() && o.terminal.is_none() || o.task == subject || o.terminal == subject,
                };
                if shown {
                    let s = o.short(subject.as_deref(), target == Target::ExitReason);
                    match seen.iter_mut().find(|(t, _)| *t == s) {
                        Some((_, hs)) => hs.push(o.handle),
                        None => seen.push((s, vec![o.handle])),
                    }
                }
            }
            let ops: Vec<String> =
                seen.into_iter().map(|(s, hs)| if hs.len() > 1 { s } else { format!("{s} [{}]", hs[0]) }).collect();
            let mut detail = format!("planted (host lstat confirms); {}", ops.join("; "));
            if target == Target::Socket {
                if self.decoy_connections > 0 {
                    problems.push(format!("the host decoy listener got {} connection(s)", self.decoy_connections));
                } else {
                    detail.push_str("; the host decoy listener got no connection");
                }
            }
            if self.created.contains(&rel) {
                problems.push("the dangling link's target was created".into());
            }
            let changed: Vec<&String> = self.decoy_changed.iter().filter(|p| under(p, &rel)).collect();
            if !changed.is_empty() {
                problems.push(format!("the decoy changed: {changed:?}"));
            }
            let outcome = if problems.is_empty() {
                Outcome::Refused
            } else {
                detail = format!("{}; {detail}", problems.join("; "));
                Outcome::Escaped
            };
            rows.push(RowOut {
                order: (
                    TARGETS.iter().position(|t| *t == target).unwrap(),
                    KINDS.iter().position(|k| *k == self.kind).unwrap(),
                ),
                probe: target.label(),
                tried: format!("{} in its place; {}", self.kind.describe(target.is_dir()), target.exercised_by()),
                outcome,
                detail,
            });
        }
        // Anything not traced to a row above (entries that only ride along in this
        // session, or a mangled secret) still fails the family.
        let mine = |p: &str| attributed.iter().any(|rel| under(p, rel));
        let mut stray: Vec<String> = leaks
            .iter()
            .filter(|(p, _)| !mine(p))
            .map(|(p, w)| format!("the secret of {p} came back from {w}"))
            .collect();
        stray.extend(self.decoy_changed.iter().filter(|p| !mine(p)).map(|p| format!("the decoy's {p} changed")));
        stray.extend(self.created.iter().filter(|p| !mine(p)).map(|p| format!("the target of {p}'s link was created")));
        stray.sort();
        stray.dedup();
        if self.decoy_connections > 0 && !self.stage.rows().contains(&Target::Socket) {
            stray.push(format!("the host decoy listener got {} connection(s)", self.decoy_connections));
        }
        if !stray.is_empty() {
            rows.push(RowOut {
                order: (TARGETS.len(), KINDS.iter().position(|k| *k == self.kind).unwrap()),
                probe: format!("{:?} session, {}", self.stage, self.kind.tag()),
                tried: "everything planted in it".into(),
                outcome: Outcome::Escaped,
                detail: stray.join("; "),
            });
        }
        rows
    }
}

/// One session: populate, plant `kind` in place of the stage's targets, kill the agent,
/// run every host operation, then restart (leaves) or stop (top).
async fn offline(ctx: Arc<Ctx>, stage: Stage, kind: Kind) -> Vec<RowOut> {
    let tag = match stage {
        Stage::Leaves => "leaves",
        Stage::Top => "top",
    };
    let id = unique_id(&format!("cd-{tag}-{}", kind.tag()));
    let (s, ids) = populated(&ctx, stage, &id).await;
    let shared = shared_of(&s);
    let decoy = Decoy::new(&ids);
    let before = decoy.snapshot();
    let targets = stage.targets();
    plant(&ctx, &s, &ids, kind, &targets, decoy.path()).await;
    let mut obs = vec![kill_agent(&ctx, &s, &shared, &decoy.secret).await];
    let (sandbox, i) = (ctx.fresh.clone(), id.clone());
    let fresh = isolated(&shared, async move { sandbox.attach(&i).await })
        .await
        .expect("attaching hung")
        .expect("a lost session can be attached");
    observe("fresh", &fresh, &ids, &shared, &decoy.secret, &mut obs).await;
    observe("original", &s, &ids, &shared, &decoy.secret, &mut obs).await;
    match stage {
        Stage::Leaves => obs.push(restart(&ctx, &id, &shared, &decoy.secret).await),
        Stage::Top => obs.push(stop(&fresh, &shared, &decoy.secret).await),
    }
    let h = s.clone();
    let _ = isolated(&shared, async move { h.stop().await }).await;

    let after = decoy.snapshot();
    let mut decoy_changed: Vec<String> =
        before.iter().filter(|(p, v)| after.get(*p) != Some(*v)).map(|(p, _)| p.clone()).collect();
    decoy_changed.extend(after.keys().filter(|p| !before.contains_key(*p)).cloned());
    let created = targets
        .iter()
        .map(|t| t.rel(&ids))
        .filter(|rel| std::fs::symlink_metadata(missing(decoy.path(), rel)).is_ok())
        .collect();
    let f = Findings { stage, kind, decoy_connections: decoy.connections(), ids, obs, decoy_changed, created };
    f.rows()
}

/// The agent lives; its socket is replaced by each kind in turn. A new attach must fail
/// fast with SessionLost and never reach the host decoy; the container's own listener
/// gets hung up on before the host says anything.
async fn live_socket(ctx: Arc<Ctx>) -> Vec<RowOut> {
    let id = unique_id("cd-live");
    let s = within(ctx.sandbox.start(spec(&ctx, &id))).await.expect("start");
    let shared = shared_of(&s);
    let decoy = Decoy::new(&Ids { tasks: Vec::new(), terminals: Vec::new() });
    let before = decoy.snapshot();
    let (sock, dir) = (layout::SOCKET, layout::CONTAINER_DIR);
    let mut rows = Vec::new();
    for (k, kind) in KINDS.into_iter().enumerate() {
        let mut listener_task = None;
        if kind == Kind::Socket {
            // A process of the container listens there: connecting works, the peer check
            // must refuse it.
            sh(&s, &format!("rm -f {dir}/{sock}")).await;
            let cmd = format!("'{}' listen {dir}/{sock}", ctx.plant.display());
            let t = s.spawn_task(TaskSpec::shell(cmd)).await.unwrap();
            let c = t.read(TaskStream::Stdout, 0, 100, Some(Duration::from_secs(10))).await.unwrap();
            assert_eq!(c.data, b"listening\n", "the container's listener is up");
            listener_task = Some(t.id().to_string());
        } else {
            let script =
                format!("set -e; cd {dir}; rm -rf {sock}; {}", kind.command(sock, false, decoy.path(), &ctx.plant));
            let o = sh(&s, &script).await;
            assert!(o.success(), "planting {kind:?}: {}", o.stderr_lossy());
        }
        let m = std::fs::symlink_metadata(shared.dir.join(sock)).unwrap();
        assert!(kind.planted(&m, false), "{kind:?} planted at {sock}: {:?}", m.file_type());

        let mut problems = Vec::new();
        let (fresh, i) = (ctx.fresh.clone(), id.clone());
        let text = match isolated(&shared, async move { fresh.attach(&i).await.map(|_| ()) }).await {
            None => {
                problems.push("a new attach HUNG".to_string());
                "HUNG".to_string()
            }
            Some(Ok(())) => {
                problems.push("a new attach succeeded through the planted socket".into());
                "attached".into()
            }
            Some(Err(e)) => {
                if e.kind() != ErrorKind::SessionLost {
                    problems.push(format!("a new attach failed with {:?}, not SessionLost", e.kind()));
                }
                let leaks = decoy.secret.leaks(&format!("{e} {e:?}"));
                if !leaks.is_empty() {
                    problems.push(format!("the error holds the decoy's secret of {leaks:?}"));
                }
                format!("a new attach: error {:?} ({e})", e.kind())
            }
        };
        let alive = s.exec(&["true"], ExecOptions::new()).await.map(|o| o.success()).unwrap_or(false);
        assert!(alive, "the agent still serves the original handle (its socket was only unlinked)");
        let mut detail = format!("{text}; the original handle's connection still works");
        match decoy.connections() {
            0 => detail.push_str("; the host decoy listener got no connection"),
            n => problems.push(format!("the host decoy listener got {n} connection(s)")),
        }
        if std::fs::symlink_metadata(missing(decoy.path(), sock)).is_ok() {
            problems.push("the dangling link's target was created".into());
        }
        if let Some(t) = listener_task {
            // The host connected to the container's listener (it is a real socket) and
            // must have hung up at the peer check, before its handshake.
            let mut said = String::new();
            for _ in 0..50 {
                let c = s.task(&t).read(TaskStream::Stdout, 0, 4096, Some(Duration::ZERO)).await.unwrap();
                said = String::from_utf8_lossy(&c.data).into_owned();
                if said.contains("received") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let heard: Vec<&str> = said.lines().filter(|l| l.contains("received")).collect();
            if heard.iter().any(|l| !l.ends_with("received 0 bytes")) {
                problems.push(format!("the host talked to the container's listener: {heard:?}"));
            }
            let what = if heard.is_empty() { "no connection".to_string() } else { heard.join(", ") };
            detail.push_str(&format!("; the container's listener: {what}"));
            s.task(&t).kill(9).await.unwrap();
        }
        let outcome = if problems.is_empty() {
            Outcome::Refused
        } else {
            detail = format!("{}; {detail}", problems.join("; "));
            Outcome::Escaped
        };
        rows.push(RowOut {
            order: (TARGETS.len() + 1, k),
            probe: format!("{sock} (agent alive)"),
            tried: format!("{} in its place; a new attach (another process) connects", kind.describe(false)),
            outcome,
            detail,
        });
    }
    within(s.stop()).await.unwrap();
    assert_eq!(before, decoy.snapshot(), "the decoy is untouched");
    rows
}

#[test]
fn nothing_planted_in_the_control_dir_reaches_the_host() {
    let t = TestScope::new("probe-control-dir");
    run(Duration::from_secs(1200), async {
        let plant = sandbox_e2e::build_static_probe(t.dir.path(), "plant", PLANT_SOURCE);
        let ctx = Arc::new(Ctx {
            sandbox: t.sandbox.clone(),
            fresh: Sandbox::new(test_config(&t.scope)),
            dir: t.dir.path().to_path_buf(),
            plant,
        });
        let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut jobs = tokio::task::JoinSet::new();
        {
            let (ctx, gate) = (ctx.clone(), gate.clone());
            jobs.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                live_socket(ctx).await
            });
        }
        for stage in [Stage::Leaves, Stage::Top] {
            for kind in KINDS {
                let (ctx, gate) = (ctx.clone(), gate.clone());
                jobs.spawn(async move {
                    let _permit = gate.acquire_owned().await.unwrap();
                    offline(ctx, stage, kind).await
                });
            }
        }
        let mut all = Vec::new();
        while let Some(r) = jobs.join_next().await {
            match r {
                Ok(rows) => all.extend(rows),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{e}"),
            }
        }
        all.sort_by_key(|r| r.order);
        let mut table = ProbeTable::new("control_dir");
        for r in all {
            table.row(r.probe, r.tried, r.outcome, r.detail);
        }
        table.finish(TARGETS.len() * KINDS.len() + KINDS.len());
    });
    assert!(t.leftovers().is_empty(), "sessions left: {:?}", t.leftovers());
}
