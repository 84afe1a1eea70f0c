//! File change events: one inotify instance watches every directory below the watched
//! roots (new directories as they appear, ignored names never), and a thread turns what
//! the kernel reports into `file` events, coalesced per path over a short window.
//!
//! Coalescing, per path within one window: created then modified is created; modified
//! again is one modified. Creations, deletions and renames are always reported, each
//! once. A rename is one event with both names (a move out of the watched tree is a
//! delete, a move in is a create, with everything inside a moved-in directory reported
//! as created). A full kernel queue, or a directory that cannot be watched, is an
//! `overflow` event: the caller rescans.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use sandbox_proto::events::{EventAction, EventKind, FILE_COALESCE_MS, SessionEvent, ignored};

use crate::journal::{Journal, journal};

/// The watches: which directory each watch descriptor stands for.
pub struct Watcher {
    fd: OwnedFd,
    tree: Mutex<Tree>,
}

struct Tree {
    dirs: HashMap<i32, PathBuf>,
    roots: Vec<PathBuf>,
    ignore: Vec<String>,
    /// Set once the watch limit was hit (reported once).
    full: bool,
}

const MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::DONT_FOLLOW)
    .union(WatchFlags::EXCL_UNLINK);

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Watcher {
    /// Starts watching `roots` (those that exist) with `ignore` patterns, reporting to
    /// the agent's journal from a thread of its own. The roots' watches are in place
    /// when this returns, so a change made once the session is ready is always seen.
    pub fn start(roots: Vec<PathBuf>, ignore: Vec<String>) -> std::io::Result<Arc<Watcher>> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let tree = Tree { dirs: HashMap::new(), roots: Vec::new(), ignore, full: false };
        let w = Arc::new(Watcher { fd, tree: Mutex::new(tree) });
        for root in roots {
            if root.is_dir() {
                w.add_root(&root, journal());
            }
        }
        let thread = w.clone();
        std::thread::Builder::new().name("watcher".into()).spawn(move || thread.run(journal()))?;
        Ok(w)
    }

    /// Watches `root` too (recursively); a no-op when it is below a root already. The
    /// journal gets a `watching` event with the number of directories.
    pub fn add_root(&self, root: &Path, journal: &Journal) {
        let mut events = Vec::new();
        let count = {
            let mut tree = self.tree.lock().unwrap_or_else(|p| p.into_inner());
            if tree.roots.iter().any(|r| root.starts_with(r)) {
                return;
            }
            tree.roots.push(root.to_path_buf());
            self.add_tree(&mut tree, root, false, &mut events)
        };
        let watching = SessionEvent {
            path: Some(lossy(root)),
            count: Some(count),
            ..SessionEvent::lifecycle(EventAction::Watching, None)
        };
        journal.push_all(events.into_iter().chain(std::iter::once(watching)));
    }

    /// Watches `dir` and every directory below it; with `report`, every entry found is
    /// reported as created (a directory that appeared or moved in: what was made in it
    /// before its watch was in place). Returns how many directories are watched.
    fn add_tree(&self, tree: &mut Tree, dir: &Path, report: bool, out: &mut Vec<SessionEvent>) -> u64 {
        let mut count = 0;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            match inotify::add_watch(&self.fd, &d, MASK) {
                Ok(wd) => {
                    tree.dirs.insert(wd, d.clone());
                    count += 1;
                }
                Err(e) => {
                    if e == rustix::io::Errno::NOSPC && !tree.full {
                        tree.full = true;
                        out.push(overflow(
                            Some(&d),
                            "the watch limit (fs.inotify.max_user_watches) is reached: changes below are not reported",
                        ));
                    }
                    continue;
                }
            }
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if tree.ignored(&path) {
                    continue;
                }
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if report {
                    out.push(SessionEvent::file(EventAction::Created, lossy(&path), is_dir));
                }
                if is_dir {
                    stack.push(path);
                }
            }
        }
        count
    }

    /// Reads the kernel's events until the agent ends.
    fn run(&self, journal: &Journal) {
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 256 * 1024];
        let mut batch = Batch::default();
        let mut window_start: Option<Instant> = None;
        let window = Duration::from_millis(FILE_COALESCE_MS);
        loop {
            let timeout = window_start.map(|s| window.saturating_sub(s.elapsed()));
            if !wait_readable(&self.fd, timeout) && window_start.is_none() {
                continue;
            }
            let mut reader = inotify::Reader::new(self.fd.as_fd(), &mut buf);
            loop {
                match reader.next() {
                    Ok(ev) => {
                        let name = ev.file_name().map(|n| OsStr::from_bytes(n.to_bytes()).to_owned());
                        let raw = Raw { wd: ev.wd(), flags: ev.events(), cookie: ev.cookie(), name };
                        self.take(raw, &mut batch);
                        window_start.get_or_insert_with(Instant::now);
                    }
                    Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => break,
                    Err(e) => {
                        eprintln!("sandbox-agent: reading file changes failed: {e}; no more file events");
                        journal.push_all([overflow(None, &format!("reading file changes failed: {e}"))]);
                        return;
                    }
                }
                if reader.is_buffer_empty() {
                    break;
                }
            }
            if window_start.is_some_and(|s| s.elapsed() >= window) {
                let events = self.flush(&mut batch);
                journal.push_all(events);
                window_start = None;
            }
        }
    }

    /// Adds one kernel event to the batch.
    fn take(&self, raw: Raw, batch: &mut Batch) {
        let flags = raw.flags;
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            batch.push(overflow(None, "the kernel's queue of file changes overflowed: rescan"));
            return;
        }
        let mut tree = self.tree.lock().unwrap_or_else(|p| p.into_inner());
        if flags.contains(ReadFlags::IGNORED) {
            tree.dirs.remove(&raw.wd);
            return;
        }
        let Some(dir) = tree.dirs.get(&raw.wd).cloned() else { return };
        let Some(name) = raw.name else {
            if flags.contains(ReadFlags::DELETE_SELF) && tree.roots.contains(&dir) {
                batch.push(SessionEvent::file(EventAction::Deleted, lossy(&dir), true));
            }
            return;
        };
        let path = dir.join(name);
        if tree.ignored(&path) {
            return;
        }
        let is_dir = flags.contains(ReadFlags::ISDIR);
        if flags.contains(ReadFlags::CREATE) {
            batch.push(SessionEvent::file(EventAction::Created, lossy(&path), is_dir));
            if is_dir {
                let mut found = Vec::new();
                self.add_tree(&mut tree, &path, true, &mut found);
                found.into_iter().for_each(|e| batch.push(e));
            }
        } else if flags.contains(ReadFlags::DELETE) {
            batch.push(SessionEvent::file(EventAction::Deleted, lossy(&path), is_dir));
        } else if flags.contains(ReadFlags::MOVED_FROM) {
            batch.moves.push((raw.cookie, path, is_dir));
        } else if flags.contains(ReadFlags::MOVED_TO) {
            match batch.moves.iter().position(|(c, ..)| *c == raw.cookie) {
                Some(i) => {
                    let (_, from, _) = batch.moves.remove(i);
                    if is_dir {
                        tree.rename_dirs(&from, &path);
                    }
                    batch.push(SessionEvent {
                        from: Some(lossy(&from)),
                        ..SessionEvent::file(EventAction::Renamed, lossy(&path), is_dir)
                    });
                }
                None => {
                    batch.push(SessionEvent::file(EventAction::Created, lossy(&path), is_dir));
                    if is_dir {
                        let mut found = Vec::new();
                        self.add_tree(&mut tree, &path, true, &mut found);
                        found.into_iter().for_each(|e| batch.push(e));
                    }
                }
            }
        } else if flags.intersects(ReadFlags::MODIFY | ReadFlags::ATTRIB | ReadFlags::CLOSE_WRITE) {
            batch.push(SessionEvent::file(EventAction::Modified, lossy(&path), is_dir));
        }
    }

    /// The batch's events, coalesced; moves still unpaired are moves out of the tree:
    /// deletions, whose directories' watches go.
    fn flush(&self, batch: &mut Batch) -> Vec<SessionEvent> {
        let moves = std::mem::take(&mut batch.moves);
        for (_, path, is_dir) in moves {
            if is_dir {
                let mut tree = self.tree.lock().unwrap_or_else(|p| p.into_inner());
                for wd in tree.take_below(&path) {
                    let _ = inotify::remove_watch(&self.fd, wd);
                }
            }
            batch.push(SessionEvent::file(EventAction::Deleted, lossy(&path), is_dir));
        }
        batch.last.clear();
        std::mem::take(&mut batch.events).into_iter().flatten().collect()
    }
}

impl Tree {
    fn ignored(&self, path: &Path) -> bool {
        if self.ignore.is_empty() {
            return false;
        }
        self.roots
            .iter()
            .filter_map(|r| path.strip_prefix(r).ok())
            .any(|rel| ignored(&rel.to_string_lossy(), &self.ignore))
    }

    /// A directory was renamed from `from` to `to`: the watches below it now stand for
    /// paths below `to`.
    fn rename_dirs(&mut self, from: &Path, to: &Path) {
        for p in self.dirs.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = to.join(rest);
            }
        }
    }

    /// Forgets the watches of `dir` and below, returning them.
    fn take_below(&mut self, dir: &Path) -> Vec<i32> {
        let wds: Vec<i32> = self.dirs.iter().filter(|(_, p)| p.starts_with(dir)).map(|(wd, _)| *wd).collect();
        for wd in &wds {
            self.dirs.remove(wd);
        }
        wds
    }
}

/// One event as the kernel reported it.
struct Raw {
    wd: i32,
    flags: ReadFlags,
    cookie: u32,
    name: Option<std::ffi::OsString>,
}

/// The events of one window, coalesced per path as they come.
#[derive(Default)]
struct Batch {
    /// In order; `None` where an event was coalesced away.
    events: Vec<Option<SessionEvent>>,
    /// Per path, the index of its last event that later ones may merge into.
    last: HashMap<String, usize>,
    /// Moves seen from one side only so far: (cookie, old path, is a directory).
    moves: Vec<(u32, PathBuf, bool)>,
}

impl Batch {
    fn push(&mut self, e: SessionEvent) {
        use EventAction::{Created, Modified};
        let Some(path) = e.path.clone() else {
            self.events.push(Some(e));
            return;
        };
        if e.kind == EventKind::File
            && let Some(&i) = self.last.get(&path)
            && let Some(prev) = self.events[i].as_mut()
        {
            match (prev.action, e.action) {
                (Created | Modified, Modified) | (Created, Created) => return,
                _ => {}
            }
        }
        if e.action == EventAction::Renamed {
            // Renames are barriers: later changes to either name come after them.
            if let Some(from) = &e.from {
                self.last.remove(from);
            }
            self.last.remove(&path);
            self.events.push(Some(e));
            return;
        }
        self.last.insert(path, self.events.len());
        self.events.push(Some(e));
    }
}

fn overflow(path: Option<&Path>, reason: &str) -> SessionEvent {
    SessionEvent {
        path: path.map(lossy),
        reason: Some(reason.into()),
        ..SessionEvent::new(EventKind::File, EventAction::Overflow)
    }
}

/// Waits until `fd` is readable or `timeout` passes (forever when `None`); whether it is.
fn wait_readable(fd: &OwnedFd, timeout: Option<Duration>) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
    matches!(poll(&mut fds, ts.as_ref()), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(events: &[SessionEvent]) -> Vec<(EventAction, String)> {
        events.iter().map(|e| (e.action, e.path.clone().unwrap_or_default())).collect()
    }

    #[test]
    fn a_batch_coalesces_per_path() {
        use EventAction::*;
        let mut b = Batch::default();
        let f = |a, p: &str| SessionEvent::file(a, p.into(), false);
        b.push(f(Created, "/w/a"));
        b.push(f(Modified, "/w/a"));
        b.push(f(Modified, "/w/b"));
        b.push(f(Modified, "/w/b"));
        b.push(f(Created, "/w/tmp"));
        b.push(f(Deleted, "/w/tmp"));
        b.push(f(Modified, "/w/c"));
        b.push(f(Deleted, "/w/c"));
        let out: Vec<SessionEvent> = b.events.into_iter().flatten().collect();
        assert_eq!(
            actions(&out),
            [
                (Created, "/w/a".into()),
                (Modified, "/w/b".into()),
                (Created, "/w/tmp".into()),
                (Deleted, "/w/tmp".into()),
                (Modified, "/w/c".into()),
                (Deleted, "/w/c".into())
            ],
            "only modifications merge"
        );
    }

    #[test]
    fn changes_after_a_rename_are_not_merged_into_earlier_ones() {
        use EventAction::*;
        let mut b = Batch::default();
        let f = |a, p: &str| SessionEvent::file(a, p.into(), false);
        b.push(f(Created, "/w/new"));
        b.push(SessionEvent { from: Some("/w/new".into()), ..f(Renamed, "/w/final") });
        b.push(f(Modified, "/w/new"));
        b.push(f(Modified, "/w/final"));
        let out: Vec<SessionEvent> = b.events.into_iter().flatten().collect();
        assert_eq!(
            actions(&out),
            [
                (Created, "/w/new".into()),
                (Renamed, "/w/final".into()),
                (Modified, "/w/new".into()),
                (Modified, "/w/final".into())
            ]
        );
    }

    /// The watcher on a real directory of this host: what a shell-like sequence of
    /// changes becomes.
    #[test]
    fn reports_creates_renames_deletes_and_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("node_modules")).unwrap();
        let j = Journal::new(1000);
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).unwrap();
        let tree = Tree { dirs: HashMap::new(), roots: Vec::new(), ignore: vec!["node_modules".into()], full: false };
        let w = Watcher { fd, tree: Mutex::new(tree) };
        w.add_root(&root, &j);
        // Each change is drained as `run` would, so the order is the kernel's.
        let mut batch = Batch::default();
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
        let mut drain = |w: &Watcher, batch: &mut Batch| {
            let mut reader = inotify::Reader::new(w.fd.as_fd(), &mut buf);
            while let Ok(ev) = reader.next() {
                let name = ev.file_name().map(|n| OsStr::from_bytes(n.to_bytes()).to_owned());
                w.take(Raw { wd: ev.wd(), flags: ev.events(), cookie: ev.cookie(), name }, batch);
            }
        };
        std::fs::write(root.join("a.txt"), b"1").unwrap();
        drain(&w, &mut batch);
        std::fs::write(root.join("node_modules/x.js"), b"1").unwrap();
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        drain(&w, &mut batch);
        std::fs::write(root.join("sub/deep/b.txt"), b"2").unwrap();
        drain(&w, &mut batch);
        std::fs::rename(root.join("a.txt"), root.join("sub/a.txt")).unwrap();
        drain(&w, &mut batch);
        std::fs::remove_file(root.join("sub/deep/b.txt")).unwrap();
        drain(&w, &mut batch);
        j.push_all(w.flush(&mut batch));
        let req =
            sandbox_proto::events::ReadEvents { from: Some(1), max: 100, wait_ms: None, filter: Default::default() };
        let got = j.read_now(&req).unwrap().events;
        let r = |p: &str| lossy(&root.join(p));
        assert_eq!(got[0].action, EventAction::Watching);
        assert_eq!(got[0].count, Some(1), "node_modules is not watched");
        let rest: Vec<(EventAction, String, Option<String>)> =
            got[1..].iter().map(|e| (e.action, e.path.clone().unwrap(), e.from.clone())).collect();
        use EventAction::*;
        assert_eq!(
            rest,
            [
                (Created, r("a.txt"), None),
                (Created, r("sub"), None),
                (Created, r("sub/deep"), None),
                (Created, r("sub/deep/b.txt"), None),
                (Renamed, r("sub/a.txt"), Some(r("a.txt"))),
                (Deleted, r("sub/deep/b.txt"), None),
            ],
            "node_modules is ignored"
        );
    }
}
