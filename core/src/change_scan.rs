//! Whether anything in a tree changed since a moment: what a snapshot checks, with the
//! session frozen, to keep the copy and the commit it made before the freeze.
//!
//! A change sets the ctime of the entry it touches (a new, written, renamed or
//! chmod-ed entry; a removal sets its parent directory's), and no process can set a
//! ctime back, so a tree with no entry whose ctime is at or after the moment did not
//! change since. The walk goes from directory fd to directory fd (`openat` with
//! `O_NOFOLLOW`), so a symlink the session planted, or a directory it swapped for one,
//! is never followed out of the tree; it does not cross into other filesystems, nor
//! into the mount points it is told to skip. Anything it cannot read counts as a
//! change: the caller then takes the tree again.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat, openat, statat};

/// A tree to check: its root, and the paths below it (relative) not to enter.
#[derive(Debug, Clone)]
pub(crate) struct ScanRoot {
    /// The directory the walk starts in.
    pub root: PathBuf,
    /// Mount points below the root, relative to it, left out of the walk.
    pub skip: HashSet<PathBuf>,
}

impl ScanRoot {
    /// The whole tree at `root`.
    pub fn whole(root: impl Into<PathBuf>) -> ScanRoot {
        ScanRoot { root: root.into(), skip: HashSet::new() }
    }

    /// The root filesystem of a running container whose init process is host pid
    /// `pid`: `/proc/<pid>/root`, without the mounts in it (the working dir, the control
    /// dir, /proc, /sys, /dev, the files podman binds), which a commit leaves out too.
    /// `None` when its mount table cannot be read.
    pub fn container_root(pid: u32) -> Option<ScanRoot> {
        let table = std::fs::read(format!("/proc/{pid}/mountinfo")).ok()?;
        let skip = mount_points(&table).into_iter().filter(|p| p.as_os_str() != "").collect();
        Some(ScanRoot { root: PathBuf::from(format!("/proc/{pid}/root")), skip })
    }
}

/// The mount points of a `/proc/<pid>/mountinfo` table, relative to that process's
/// root (the root itself as the empty path), with the table's octal escapes undone.
fn mount_points(table: &[u8]) -> Vec<PathBuf> {
    table
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .filter(|p| p.first() == Some(&b'/'))
        .map(|p| PathBuf::from(OsString::from_vec(crate::mountinfo::unescape(&p[1..]))))
        .collect()
}

/// Whether an entry of `tree` (the root included) has a ctime at or after `since`, or
/// cannot be read.
pub(crate) fn changed_since(tree: &ScanRoot, since: SystemTime) -> bool {
    let Ok(limit) = since.duration_since(UNIX_EPOCH) else { return true };
    let limit = (limit.as_secs() as i64, i64::from(limit.subsec_nanos()));
    // The `stat` field types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    let newer = |st: &Stat| (st.st_ctime as i64, st.st_ctime_nsec as i64) >= limit;
    // The root is the caller's (`/proc/<pid>/root` is a link to follow); below it, nothing is.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(root) = openat(CWD, &tree.root, flags, Mode::empty()) else { return true };
    let Ok(root_stat) = rustix::fs::fstat(&root) else { return true };
    if newer(&root_stat) {
        return true;
    }
    let mut dirs: Vec<(OwnedFd, PathBuf)> = vec![(root, PathBuf::new())];
    while let Some((fd, rel)) = dirs.pop() {
        let Ok(mut entries) = Dir::read_from(&fd) else { return true };
        for entry in entries.by_ref() {
            let Ok(entry) = entry else { return true };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let path = rel.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
            if tree.skip.contains(&path) {
                continue;
            }
            let Ok(st) = statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) else { return true };
            if newer(&st) {
                return true;
            }
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory && st.st_dev == root_stat.st_dev {
                let Ok(sub) = open_dir(&fd, name) else { return true };
                dirs.push((sub, path));
            }
        }
    }
    false
}

/// A directory opened for reading, never through a symlink.
fn open_dir(at: &OwnedFd, name: &std::ffi::CStr) -> rustix::io::Result<OwnedFd> {
    openat(at, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    /// A moment after everything made so far (ctimes have a coarse clock on some
    /// filesystems: wait past a tick).
    fn now_past_ticks() -> SystemTime {
        std::thread::sleep(Duration::from_millis(20));
        let t = SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        t
    }

    #[test]
    fn a_write_a_new_entry_and_a_removal_are_changes_and_nothing_is_none() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), "1").unwrap();
        std::fs::write(t.path().join("a/g"), "1").unwrap();
        let tree = ScanRoot::whole(t.path());
        let since = now_past_ticks();
        assert!(!changed_since(&tree, since), "nothing changed");
        std::fs::write(t.path().join("a/b/f"), "2").unwrap();
        assert!(changed_since(&tree, since), "a write deep down");
        let since = now_past_ticks();
        std::fs::remove_file(t.path().join("a/g")).unwrap();
        assert!(changed_since(&tree, since), "a removal (its dir's ctime)");
        let since = now_past_ticks();
        std::fs::create_dir(t.path().join("a/b/new")).unwrap();
        assert!(changed_since(&tree, since), "a new dir");
        assert!(changed_since(&ScanRoot::whole(t.path().join("missing")), since), "an unreadable root");
    }

    #[test]
    fn symlinks_are_not_followed_and_skipped_mounts_are_not_entered() {
        let t = tempfile::tempdir().unwrap();
        let (tree_dir, outside) = (t.path().join("tree"), t.path().join("outside"));
        std::fs::create_dir_all(tree_dir.join("mnt")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, tree_dir.join("link")).unwrap();
        std::os::unix::fs::symlink("/", tree_dir.join("root")).unwrap();
        let mut tree = ScanRoot::whole(&tree_dir);
        tree.skip.insert(PathBuf::from("mnt"));
        let since = now_past_ticks();
        std::fs::write(outside.join("new"), "x").unwrap();
        std::fs::write(tree_dir.join("mnt/new"), "x").unwrap();
        assert!(!changed_since(&tree, since), "what changed is behind a link or in a skipped mount");
        tree.skip.clear();
        assert!(changed_since(&tree, since), "entered, the mount point's change shows");
    }

    #[test]
    fn mount_points_are_read_relative_to_the_root_with_escapes_undone() {
        let table = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
            23 22 0:5 / /proc rw - proc proc rw\n\
            24 22 8:1 /home/me/my\\040project /home/me/my\\040project rw - ext4 /dev/sda1 rw\n\
            25 22 0:30 / /etc/hosts rw - tmpfs tmpfs rw\n";
        let points = mount_points(table);
        assert_eq!(points, ["", "proc", "home/me/my project", "etc/hosts"].map(PathBuf::from).to_vec(), "{points:?}");
    }

    #[test]
    fn a_running_process_root_is_scanned_without_its_mounts() {
        let root = ScanRoot::container_root(std::process::id()).expect("our own mount table");
        assert_eq!(root.root, PathBuf::from(format!("/proc/{}/root", std::process::id())));
        assert!(root.skip.contains(&PathBuf::from("proc")), "{:?}", root.skip);
        assert!(!root.skip.contains(&PathBuf::new()), "the root itself is walked");
    }
}
