//! Reads what the agent left in a control dir (task and terminal metadata, spooled
//! output) when the agent itself is gone. The container could write anything there, so
//! every path component is opened with `O_NOFOLLOW`, only regular files and
//! directories are accepted, and sizes are bounded.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Dir, FileType, Mode, OFlags, fstat, open, openat};
use sandbox_proto::spool::{read_segments, segments_from_listing};
use sandbox_proto::{TaskInfo, TerminalInfo};

use crate::output_chunk::OutputChunk;

const MAX_META: u64 = 64 * 1024;
const MAX_ENTRIES: usize = 100_000;

fn open_dir_at(dir: impl AsFd, name: &str) -> std::io::Result<OwnedFd> {
    check_name(name)?;
    Ok(openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

fn open_file_at(dir: impl AsFd, name: &str) -> std::io::Result<std::fs::File> {
    check_name(name)?;
    let fd = openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    if FileType::from_raw_mode(fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{name} is not a regular file")));
    }
    Ok(std::fs::File::from(fd))
}

fn check_name(name: &str) -> std::io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad name {name:?}")));
    }
    Ok(())
}

fn open_control(control: &Path) -> std::io::Result<OwnedFd> {
    Ok(open(control, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

fn names(dir: &OwnedFd) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            out.push(name);
        }
        if out.len() >= MAX_ENTRIES {
            break;
        }
    }
    Ok(out)
}

fn read_meta<T: serde::de::DeserializeOwned>(dir: &OwnedFd, id: &str) -> std::io::Result<T> {
    let d = open_dir_at(dir, id)?;
    let mut text = Vec::new();
    open_file_at(&d, "meta.json")?.take(MAX_META).read_to_end(&mut text)?;
    serde_json::from_slice(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn list<T: serde::de::DeserializeOwned>(
    control: &Path,
    kind: &str,
    started: impl Fn(&T) -> u64,
) -> std::io::Result<Vec<T>> {
    let c = open_control(control)?;
    let dir = open_dir_at(&c, kind)?;
    let mut out: Vec<T> = names(&dir)?.iter().filter_map(|id| read_meta(&dir, id).ok()).collect();
    out.sort_by_key(|t| started(t));
    Ok(out)
}

/// Tasks as last recorded by the agent (state is the last known one).
pub fn list_tasks(control: &Path) -> std::io::Result<Vec<TaskInfo>> {
    list(control, "tasks", |t: &TaskInfo| t.started_ms)
}

/// One task as last recorded.
pub fn task(control: &Path, id: &str) -> std::io::Result<TaskInfo> {
    let c = open_control(control)?;
    read_meta(&open_dir_at(&c, "tasks")?, id)
}

/// Terminals as last recorded.
pub fn list_terminals(control: &Path) -> std::io::Result<Vec<TerminalInfo>> {
    list(control, "terminals", |t: &TerminalInfo| t.started_ms)
}

/// Reads spooled output: `<control>/<kind>/<id>/<stream>/<segments>`.
pub fn read(
    control: &Path,
    kind: &str,
    id: &str,
    stream: &str,
    offset: u64,
    tail: Option<u64>,
    max: u64,
) -> std::io::Result<OutputChunk> {
    let c = open_control(control)?;
    let s = open_dir_at(open_dir_at(open_dir_at(&c, kind)?, id)?, stream)?;
    let mut listing = Vec::new();
    for name in names(&s)? {
        if name.parse::<u64>().is_ok() {
            let f = open_file_at(&s, &name)?;
            listing.push((name, f.metadata()?.len()));
        }
    }
    let segments = segments_from_listing(listing);
    let end = segments.last().map(|s| s.start.saturating_add(s.len)).unwrap_or(0);
    let from = tail.map(|n| end.saturating_sub(n)).unwrap_or(offset);
    let chunk = read_segments(&segments, |start| open_file_at(&s, &start.to_string()), from, max as usize)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(OutputChunk {
        offset: chunk.offset,
        window_start: chunk.window_start,
        end: chunk.end,
        finished: true,
        lost: 0,
        data: chunk.data,
    })
}

/// Whether conmon left its `oom` marker in the control dir (the container had an
/// out-of-memory kill).
pub fn oom_marker(control: &Path) -> bool {
    open_control(control).ok().is_some_and(|c| open_file_at(&c, "oom").is_ok())
}

/// Why the agent stopped, if it said (e.g. the idle timeout), from `agent.exit`.
pub fn agent_exit_reason(control: &Path) -> Option<String> {
    let c = open_control(control).ok()?;
    let mut text = String::new();
    open_file_at(&c, "agent.exit").ok()?.take(4096).read_to_string(&mut text).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_proto::spool::SpoolWriter;

    #[test]
    fn reads_what_an_agent_left_and_refuses_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let control = t.path();
        let task_dir = control.join("tasks/task-1");
        let mut w = SpoolWriter::create(&task_dir.join("merged"), 1 << 20).unwrap();
        w.append(b"hello ");
        w.append(b"world");
        let meta = TaskInfo {
            id: "task-1".into(),
            command: "echo".into(),
            state: sandbox_proto::ProcState::Exited { code: 0 },
            pid: 5,
            started_ms: 1,
            ended_ms: Some(2),
            spool_cap: 1 << 20,
        };
        std::fs::write(task_dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
        assert_eq!(list_tasks(control).unwrap(), vec![meta.clone()]);
        assert_eq!(task(control, "task-1").unwrap(), meta);
        let c = read(control, "tasks", "task-1", "merged", 0, None, 100).unwrap();
        assert_eq!(c.data, b"hello world");
        assert!(c.finished);
        assert_eq!(read(control, "tasks", "task-1", "merged", 0, Some(5), 100).unwrap().data, b"world");
        assert!(task(control, "../tasks").is_err());

        // A planted symlink (to a file outside) is not followed.
        let secret = t.path().join("secret");
        std::fs::write(&secret, "do not read").unwrap();
        let evil = control.join("tasks/task-2");
        std::fs::create_dir_all(&evil).unwrap();
        std::os::unix::fs::symlink(&secret, evil.join("meta.json")).unwrap();
        assert!(task(control, "task-2").is_err());
        std::fs::create_dir_all(evil.join("merged")).unwrap();
        std::os::unix::fs::symlink(&secret, evil.join("merged/0")).unwrap();
        assert!(read(control, "tasks", "task-2", "merged", 0, None, 100).is_err());
        std::os::unix::fs::symlink(t.path(), control.join("tasks/task-3")).unwrap();
        assert!(read(control, "tasks", "task-3", "merged", 0, None, 100).is_err());
    }
}
