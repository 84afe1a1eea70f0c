//! What changed between two directory trees (a forked session's working dir against the
//! snapshot it was copied from), and applying those changes to a third tree (another
//! session's working dir, or the original directory), refusing where that tree changed
//! the same path too.
//!
//! Entries are compared without following symlinks: a file by mode and content (size and
//! modification time first, bytes only when those differ), a symlink by its target, a
//! directory by its mode. Names are raw bytes (any name a Linux filesystem takes: spaces,
//! newlines, non-UTF-8). Hard links are compared and applied as the files they are (a
//! link between two paths is not recreated by an apply).
//!
//! The trees may belong to sessions, whose processes can plant symlinks: nothing here
//! follows one. Files are opened with `O_NOFOLLOW`, and a path whose parent directories
//! (inside its tree) include a symlink is refused, so an apply never writes, and a diff
//! never reads, outside the trees. A tree a session can change while this runs should
//! belong to a paused session (the checks and the writes are not one atomic step).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It is in the changed tree only.
    Added,
    /// It is in both, with another content, mode, target or type.
    Modified,
    /// It is in the base tree only.
    Deleted,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (a fifo, a socket, a device node): reported, never applied.
    Other,
}

impl ChangeKind {
    /// Its name: `added`, `modified` or `deleted`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

impl EntryKind {
    /// Its name: `file`, `dir`, `symlink` or `other`.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }
}

/// One changed path. As JSON: `path` (text; a name that is not UTF-8 has U+FFFD in place
/// of its bad bytes), `kind`, `entry`, `size`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The path relative to the trees' roots.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// What happened to it.
    pub kind: ChangeKind,
    /// What it is now (for a deletion: what it was).
    pub entry: EntryKind,
    /// Its size now in bytes (files and symlinks; 0 for directories and deletions).
    pub size: u64,
}

fn entry_kind(m: &Metadata) -> EntryKind {
    let t = m.file_type();
    if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    }
}

/// Every entry below `root` (not `root` itself), by relative path.
fn walk(root: &Path) -> io::Result<BTreeMap<PathBuf, Metadata>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            let meta = fs::symlink_metadata(root.join(&path))?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path, meta);
        }
    }
    Ok(out)
}

/// Refuses `root/rel` when a parent directory of it inside `root` is a symlink (or not a
/// directory): following it would leave the tree.
fn inside(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let mut at = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for part in parent.components() {
            at.push(part);
            let m = match fs::symlink_metadata(&at) {
                Ok(m) => m,
                // Nothing below a missing directory exists yet (an apply makes it).
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            if !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} is not a directory (a symlink?): refusing to go through it", at.display()),
                ));
            }
        }
    }
    Ok(root.join(rel))
}

/// Opens a regular file for reading without following a symlink in its last component.
fn open_file(p: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::File::options().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(p)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", p.display())));
    }
    Ok(f)
}

/// Whether two files have the same bytes.
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (open_file(a)?, open_file(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Whether `a` (at `pa`) and `b` (at `pb`) are the same entry: type, mode, and content or
/// target.
fn same_entry(pa: &Path, a: &Metadata, pb: &Path, b: &Metadata) -> io::Result<bool> {
    let kind = entry_kind(a);
    if kind != entry_kind(b) || a.permissions().mode() & 0o7777 != b.permissions().mode() & 0o7777 {
        return Ok(false);
    }
    match kind {
        EntryKind::Dir => Ok(true),
        EntryKind::Symlink => Ok(fs::read_link(pa)? == fs::read_link(pb)?),
        EntryKind::File => {
            if a.len() != b.len() {
                return Ok(false);
            }
            if (a.mtime(), a.mtime_nsec()) == (b.mtime(), b.mtime_nsec()) {
                return Ok(true); // a copy keeps the time; a write changes it
            }
            same_bytes(pa, pb)
        }
        EntryKind::Other => Ok(a.rdev() == b.rdev()),
    }
}

fn size_of(m: &Metadata) -> u64 {
    if m.is_dir() { 0 } else { m.len() }
}

/// The changes that turn tree `base` into tree `changed`, sorted by path (a directory
/// before what is in it). Paths below an added or deleted directory are listed too.
pub fn diff(base: &Path, changed: &Path) -> io::Result<Vec<Change>> {
    let (before, after) = (walk(base)?, walk(changed)?);
    let mut out = Vec::new();
    for (path, now) in &after {
        let kind = match before.get(path) {
            None => ChangeKind::Added,
            Some(was) if same_entry(&base.join(path), was, &changed.join(path), now)? => continue,
            Some(_) => ChangeKind::Modified,
        };
        out.push(Change { path: path.clone(), kind, entry: entry_kind(now), size: size_of(now) });
    }
    for (path, was) in &before {
        if !after.contains_key(path) {
            out.push(Change { path: path.clone(), kind: ChangeKind::Deleted, entry: entry_kind(was), size: 0 });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// Why an apply refused: the paths the target changed too (relative), nothing applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<PathBuf>);

/// Whether the target's `path` is as the base had it (or already as the change makes it):
/// then applying the change loses nothing of the target's.
fn target_agrees(base: &Path, changed: &Path, target: &Path, c: &Change) -> io::Result<bool> {
    let (b, t) = (inside(base, &c.path)?, inside(target, &c.path)?);
    let meta = |p: &Path| match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    let tm = meta(&t)?;
    let cm = meta(&changed.join(&c.path))?;
    let equal = |pa: &Path, a: &Option<Metadata>, pb: &Path, b: &Option<Metadata>| -> io::Result<bool> {
        match (a, b) {
            (None, None) => Ok(true),
            (Some(a), Some(b)) => same_entry(pa, a, pb, b),
            _ => Ok(false),
        }
    };
    // A directory's contents are compared entry by entry, not here.
    let dir_both = |a: &Option<Metadata>, b: &Option<Metadata>| {
        a.as_ref().is_some_and(Metadata::is_dir) && b.as_ref().is_some_and(Metadata::is_dir)
    };
    let bm = meta(&b)?;
    if dir_both(&tm, &bm) && dir_both(&tm, &cm) {
        return Ok(true);
    }
    Ok(equal(&t, &tm, &b, &bm)? || equal(&t, &tm, &changed.join(&c.path), &cm)?)
}

/// Copies one entry of `from` over `to` (atomically for files and symlinks: written
/// beside, then renamed), keeping its mode and modification time.
fn put(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if let Ok(old) = fs::symlink_metadata(to)
        && old.is_dir()
        && !meta.is_dir()
    {
        fs::remove_dir_all(to)?;
    }
    match entry_kind(&meta) {
        EntryKind::Dir => {
            if !fs::symlink_metadata(to).is_ok_and(|m| m.is_dir()) {
                if fs::symlink_metadata(to).is_ok() {
                    fs::remove_file(to)?;
                }
                fs::create_dir(to)?;
            }
            fs::set_permissions(to, meta.permissions())
        }
        EntryKind::File | EntryKind::Symlink => {
            let mut name = OsString::from(".sandbox-apply-");
            name.push(to.file_name().unwrap_or_default());
            let tmp = to.with_file_name(name);
            let _ = fs::remove_file(&tmp);
            if meta.is_file() {
                let mut src = open_file(from)?;
                let mut dst = fs::File::options().write(true).create_new(true).open(&tmp)?;
                io::copy(&mut src, &mut dst)?;
                dst.set_permissions(meta.permissions())?;
                dst.set_times(fs::FileTimes::new().set_modified(meta.modified()?))?;
            } else {
                std::os::unix::fs::symlink(fs::read_link(from)?, &tmp)?;
            }
            fs::rename(&tmp, to)
        }
        EntryKind::Other => Ok(()),
    }
}

/// Applies `changes` (from `diff(base, changed)`) to the tree `target`. Unless `force`,
/// refuses — changing nothing — when the target changed one of those paths too (it is
/// neither as in `base` nor already as in `changed`); with `force` the changed tree wins.
/// Deletions go deepest first, then additions and modifications, parents first.
pub fn apply(
    base: &Path,
    changed: &Path,
    target: &Path,
    changes: &[Change],
    force: bool,
) -> io::Result<Result<usize, Conflicts>> {
    if !force {
        let mut conflicts = Vec::new();
        for c in changes {
            if !target_agrees(base, changed, target, c)? {
                conflicts.push(c.path.clone());
            }
        }
        if !conflicts.is_empty() {
            return Ok(Err(Conflicts(conflicts)));
        }
    }
    let mut applied = 0;
    for c in changes.iter().rev().filter(|c| c.kind == ChangeKind::Deleted) {
        let t = inside(target, &c.path)?;
        match fs::symlink_metadata(&t) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&t)?,
            Ok(_) => fs::remove_file(&t)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        applied += 1;
    }
    for c in changes.iter().filter(|c| c.kind != ChangeKind::Deleted && c.entry != EntryKind::Other) {
        put(&inside(changed, &c.path)?, &inside(target, &c.path)?)?;
        applied += 1;
    }
    Ok(Ok(applied))
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    /// A tree with the awkward cases: spaces, a newline, non-UTF-8 bytes, a symlink, an
    /// empty dir, an executable, a hard link.
    fn awkward(root: &Path) {
        write(root, "a file with spaces", b"spaces");
        write(root, "line\nbreak", b"newline");
        fs::write(root.join(std::ffi::OsStr::from_bytes(b"bytes-\xff\xfe")), b"not utf-8").unwrap();
        write(root, "src/main.rs", b"fn main() {}\n");
        std::os::unix::fs::symlink("src/main.rs", root.join("link")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
        write(root, "run.sh", b"#!/bin/sh\n");
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::hard_link(root.join("src/main.rs"), root.join("hard")).unwrap();
    }

    fn copy_tree(from: &Path, to: &Path) {
        let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status();
        assert!(st.unwrap().success());
    }

    fn kinds(changes: &[Change]) -> Vec<(String, ChangeKind)> {
        changes.iter().map(|c| (c.path.to_string_lossy().into_owned(), c.kind)).collect()
    }

    #[test]
    fn a_copy_has_no_changes_and_every_kind_of_change_is_seen() {
        let (base, child) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        awkward(base.path());
        copy_tree(base.path(), child.path());
        assert_eq!(diff(base.path(), child.path()).unwrap(), vec![], "cp -a keeps everything as it was");

        let c = child.path();
        write(c, "line\nbreak", b"changed");
        fs::remove_file(c.join(std::ffi::OsStr::from_bytes(b"bytes-\xff\xfe"))).unwrap();
        write(c, "new dir/new file", b"1234");
        fs::remove_dir(c.join("empty")).unwrap();
        fs::set_permissions(c.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(c.join("link")).unwrap();
        std::os::unix::fs::symlink("elsewhere", c.join("link")).unwrap();
        // Same bytes written again: a new time, no change.
        write(c, "a file with spaces", b"spaces");

        let changes = diff(base.path(), c).unwrap();
        assert_eq!(
            kinds(&changes),
            vec![
                ("bytes-\u{FFFD}\u{FFFD}".to_string(), ChangeKind::Deleted),
                ("empty".to_string(), ChangeKind::Deleted),
                ("line\nbreak".to_string(), ChangeKind::Modified),
                ("link".to_string(), ChangeKind::Modified),
                ("new dir".to_string(), ChangeKind::Added),
                ("new dir/new file".to_string(), ChangeKind::Added),
                ("run.sh".to_string(), ChangeKind::Modified),
            ]
        );
        let added = changes.iter().find(|c| c.path == Path::new("new dir/new file")).unwrap();
        assert_eq!((added.entry, added.size), (EntryKind::File, 4));
        assert_eq!(changes.iter().find(|c| c.path == Path::new("new dir")).unwrap().entry, EntryKind::Dir);
    }

    #[test]
    fn apply_makes_the_target_equal_and_deleted_files_stay_deleted() {
        let (base, child, target) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        awkward(base.path());
        copy_tree(base.path(), child.path());
        copy_tree(base.path(), target.path());
        let c = child.path();
        write(c, "src/main.rs", b"fn main() { println!(); }\n");
        fs::remove_file(c.join("line\nbreak")).unwrap();
        fs::remove_dir(c.join("empty")).unwrap();
        write(c, "deep/er/file", b"x");
        fs::remove_file(c.join("link")).unwrap();
        fs::create_dir(c.join("link")).unwrap(); // a symlink became a directory

        let changes = diff(base.path(), c).unwrap();
        assert_eq!(apply(base.path(), c, target.path(), &changes, false).unwrap(), Ok(changes.len()));
        assert_eq!(diff(c, target.path()).unwrap(), vec![], "the target is now the child");
        assert!(!target.path().join("line\nbreak").exists(), "deleted stays deleted");
        // Applying again changes nothing and is no conflict.
        assert!(apply(base.path(), c, target.path(), &changes, false).unwrap().is_ok());
        assert_eq!(diff(c, target.path()).unwrap(), vec![]);
    }

    #[test]
    fn apply_never_writes_through_a_symlink_the_target_planted() {
        let (base, child, target, outside) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        fs::create_dir(base.path().join("dir")).unwrap();
        fs::create_dir(child.path().join("dir")).unwrap();
        write(child.path(), "dir/new", b"payload");
        // The target replaced dir with a symlink to somewhere outside it.
        std::os::unix::fs::symlink(outside.path(), target.path().join("dir")).unwrap();
        let changes = diff(base.path(), child.path()).unwrap();
        for force in [false, true] {
            let e = apply(base.path(), child.path(), target.path(), &changes, force).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        }
        assert!(!outside.path().join("new").exists(), "nothing written outside the target");
    }

    #[test]
    fn a_diff_never_reads_through_a_symlink() {
        let (base, child) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(base.path(), "f", b"same size");
        write(child.path(), "f", b"same size");
        // Same size, other time: the bytes are compared, through files opened O_NOFOLLOW.
        let old = fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH);
        fs::File::options().write(true).open(base.path().join("f")).unwrap().set_times(old).unwrap();
        assert_eq!(diff(base.path(), child.path()).unwrap(), vec![]);
        assert!(open_file(&child.path().join("f")).is_ok());
        std::os::unix::fs::symlink("/etc/passwd", child.path().join("l")).unwrap();
        assert!(open_file(&child.path().join("l")).is_err(), "O_NOFOLLOW");
    }

    #[test]
    fn apply_refuses_on_conflict_unless_forced_and_changes_nothing_when_refusing() {
        let (base, child, target) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        awkward(base.path());
        copy_tree(base.path(), child.path());
        copy_tree(base.path(), target.path());
        write(child.path(), "src/main.rs", b"child's");
        write(child.path(), "only-child", b"c");
        write(target.path(), "src/main.rs", b"target's own edit");
        let changes = diff(base.path(), child.path()).unwrap();
        let refused = apply(base.path(), child.path(), target.path(), &changes, false).unwrap();
        // `hard` is a hard link to src/main.rs in both copies: it changed with it.
        assert_eq!(refused, Err(Conflicts(vec![PathBuf::from("hard"), PathBuf::from("src/main.rs")])));
        assert!(!target.path().join("only-child").exists(), "nothing applied");
        assert_eq!(fs::read(target.path().join("src/main.rs")).unwrap(), b"target's own edit");
        assert!(apply(base.path(), child.path(), target.path(), &changes, true).unwrap().is_ok());
        assert_eq!(fs::read(target.path().join("src/main.rs")).unwrap(), b"child's");
        assert_eq!(fs::read(target.path().join("only-child")).unwrap(), b"c");
    }
}
