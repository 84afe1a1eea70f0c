//! Reads what the agent left in a control dir (task and terminal metadata, spooled
//! output) when the agent itself is gone. The container could write anything into the
//! shared part of the control dir, so everything is read through [`UntrustedDir`]: no
//! symlink followed, nothing opened that could block, types checked, sizes bounded.

use std::path::Path;

use sandbox_proto::layout;
use sandbox_proto::spool::{read_segments, segments_from_listing};
use sandbox_proto::{OutputSource, TaskInfo, TaskStream, TerminalInfo};

use crate::control_dir;
use crate::output_chunk::OutputChunk;
use crate::untrusted_dir::UntrustedDir;

const MAX_META: u64 = 64 * 1024;
const MAX_EXIT_REASON: u64 = 4096;

fn open_shared(control: &Path) -> std::io::Result<UntrustedDir> {
    UntrustedDir::open(&control_dir::shared(control))
}

fn read_meta<T: serde::de::DeserializeOwned>(dir: &UntrustedDir, id: &str) -> std::io::Result<T> {
    let text = dir.dir(id)?.read(layout::META, MAX_META)?;
    serde_json::from_slice(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn list<T: serde::de::DeserializeOwned>(
    control: &Path,
    kind: &str,
    started: impl Fn(&T) -> u64,
) -> std::io::Result<Vec<T>> {
    let dir = match open_shared(control)?.dir(kind) {
        Ok(dir) => dir,
        // The agent never made one: nothing of this kind was started.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<T> = dir.names()?.iter().filter_map(|id| read_meta(&dir, id).ok()).collect();
    out.sort_by_key(|t| started(t));
    Ok(out)
}

/// Tasks as last recorded by the agent (state is the last known one).
pub fn list_tasks(control: &Path) -> std::io::Result<Vec<TaskInfo>> {
    list(control, layout::TASKS, |t: &TaskInfo| t.started_ms)
}

/// One task as last recorded.
pub fn task(control: &Path, id: &str) -> std::io::Result<TaskInfo> {
    read_meta(&open_shared(control)?.dir(layout::TASKS)?, id)
}

/// Terminals as last recorded.
pub fn list_terminals(control: &Path) -> std::io::Result<Vec<TerminalInfo>> {
    list(control, layout::TERMINALS, |t: &TerminalInfo| t.started_ms)
}

/// Where the spool of `source` lives: its kind's dir, its id, its stream's dir (the
/// arguments of [`read`]).
pub fn source_path(source: &OutputSource) -> (&'static str, &str, &'static str) {
    match source {
        OutputSource::Task { id, stream } => (
            layout::TASKS,
            id,
            match stream {
                TaskStream::Merged => layout::TASK_MERGED,
                TaskStream::Stdout => layout::TASK_STDOUT,
                TaskStream::Stderr => layout::TASK_STDERR,
            },
        ),
        OutputSource::Terminal { id } => (layout::TERMINALS, id, layout::TERMINAL_OUT),
    }
}

/// Reads spooled output: `<shared>/<kind>/<id>/<stream>/<segments>`. A stream whose
/// directory was never made (the process wrote nothing to it) is empty.
pub fn read(
    control: &Path,
    kind: &str,
    id: &str,
    stream: &str,
    offset: u64,
    tail: Option<u64>,
    max: u64,
) -> std::io::Result<OutputChunk> {
    let process = open_shared(control)?.dir(kind)?.dir(id)?;
    let s = match process.dir(stream) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        r => Some(r?),
    };
    let mut listing = Vec::new();
    if let Some(s) = &s {
        for name in s.names()? {
            if name.parse::<u64>().is_ok() {
                let len = s.file(&name)?.metadata()?.len();
                listing.push((name, len));
            }
        }
    }
    let segments = segments_from_listing(listing);
    let end = segments.last().map(|s| s.start.saturating_add(s.len)).unwrap_or(0);
    let from = tail.map(|n| end.saturating_sub(n)).unwrap_or(offset);
    let open = |start: u64| match &s {
        Some(s) => s.file(&start.to_string()),
        None => Err(std::io::ErrorKind::NotFound.into()),
    };
    let chunk = read_segments(&segments, open, from, max as usize)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(OutputChunk {
        offset: chunk.offset,
        window_start: chunk.window_start,
        end: chunk.end,
        // The producer is gone (the agent is), so the output is complete once read to
        // its end.
        finished: chunk.offset + chunk.data.len() as u64 >= chunk.end,
        lost: 0,
        data: chunk.data,
    })
}

/// Whether conmon left its `oom` marker (the container had an out-of-memory kill). It
/// writes it into its working directory, the host-private part of the control dir.
pub fn oom_marker(control: &Path) -> bool {
    UntrustedDir::open(control).and_then(|d| d.file(layout::OOM_MARKER)).is_ok()
}

/// Why the agent stopped, if it said (e.g. the idle timeout), from `agent.exit`.
pub fn agent_exit_reason(control: &Path) -> Option<String> {
    let text = open_shared(control).ok()?.read(layout::EXIT_REASON, MAX_EXIT_REASON).ok()?;
    let text: String = String::from_utf8_lossy(&text).chars().filter(|c| !c.is_control() || *c == '\n').collect();
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
        let shared = control_dir::shared(control);
        let task_dir = shared.join("tasks/task-1");
        let mut w = SpoolWriter::new(&task_dir.join("merged"), 1 << 20);
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
        // A read that stops short of the end is not the last one.
        let part = read(control, "tasks", "task-1", "merged", 0, None, 4).unwrap();
        assert_eq!(part.data, b"hell");
        assert!(!part.finished);
        assert!(read(control, "tasks", "task-1", "merged", 4, None, 100).unwrap().finished);
        assert_eq!(read(control, "tasks", "task-1", "merged", 0, Some(5), 100).unwrap().data, b"world");
        // A stream that never had output has no directory: empty, not an error; a
        // process that does not exist is one.
        let none = read(control, "tasks", "task-1", "stderr", 0, None, 100).unwrap();
        assert_eq!((none.data.len(), none.end, none.finished), (0, 0, true));
        assert!(read(control, "tasks", "task-9", "stderr", 0, None, 100).is_err());
        // No terminals were ever opened: an empty list, not an error.
        assert_eq!(list_terminals(control).unwrap(), vec![]);
        assert!(task(control, "../tasks").is_err());

        // A planted symlink (to a file outside) is not followed.
        let secret = t.path().join("secret");
        std::fs::write(&secret, "do not read").unwrap();
        let evil = shared.join("tasks/task-2");
        std::fs::create_dir_all(&evil).unwrap();
        std::os::unix::fs::symlink(&secret, evil.join("meta.json")).unwrap();
        assert!(task(control, "task-2").is_err());
        std::fs::create_dir_all(evil.join("merged")).unwrap();
        std::os::unix::fs::symlink(&secret, evil.join("merged/0")).unwrap();
        assert!(read(control, "tasks", "task-2", "merged", 0, None, 100).is_err());
        std::os::unix::fs::symlink(t.path(), shared.join("tasks/task-3")).unwrap();
        assert!(read(control, "tasks", "task-3", "merged", 0, None, 100).is_err());

        // FIFOs in place of the files the host reads do not block it.
        let fifo = |p: &Path| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                p,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap()
        };
        let f4 = shared.join("tasks/task-4");
        std::fs::create_dir_all(f4.join("merged")).unwrap();
        fifo(&f4.join("meta.json"));
        fifo(&f4.join("merged/0"));
        fifo(&shared.join("agent.exit"));
        fifo(&control.join("oom"));
        assert!(task(control, "task-4").is_err());
        assert!(read(control, "tasks", "task-4", "merged", 0, None, 100).is_err());
        assert_eq!(agent_exit_reason(control), None);
        assert!(!oom_marker(control));
        assert_eq!(list_tasks(control).unwrap(), vec![meta.clone()], "only the well-formed task is listed");
    }

    #[test]
    fn exit_reason_of_only_control_characters_is_none() {
        let t = tempfile::tempdir().unwrap();
        let shared = control_dir::shared(t.path());
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(shared.join("agent.exit"), "\x1b\x07\x00 \x1b").unwrap();
        assert_eq!(agent_exit_reason(t.path()), None);
        std::fs::write(shared.join("agent.exit"), "idle \x1b[31mtimeout\n").unwrap();
        assert_eq!(agent_exit_reason(t.path()).as_deref(), Some("idle [31mtimeout"));
    }
}
