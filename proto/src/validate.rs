//! The checks both sides apply to a request: the host (sandbox-core) before sending, so
//! bad input is a typed error without a round trip, and the agent on receipt, so a
//! client that skipped them is refused the same way. One function per field, one
//! message, no drift; [`Request::validate`] applies them to a whole request.
//!
//! What is checked here is what can be judged from the request alone. What depends on
//! the container (does the working directory exist, is the task id known) is the
//! agent's to answer.

use std::fmt;

use crate::events::{MAX_EVENT_BATCH, MIN_SAMPLE_INTERVAL_MS, ReadEvents};
use crate::limits::{
    MAX_HELD_ID_LEN, MAX_READ, MAX_TERMINAL_DIMENSION, ONCE_KEY_LEN, SCROLLBACK_RANGE, SIGNAL_RANGE, SPOOL_CAP_RANGE,
};
use crate::message::{ExecRequest, OpenTerminal, OutputSource, ReadOutput, Request, SpawnTask};

/// A request field that fails its check: which field (`what`, as a caller names it:
/// "command", "cwd", "signal", ...) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, in the words of the API.
    pub what: &'static str,
    /// Why it is refused, and what would be accepted.
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.reason)
    }
}

impl std::error::Error for Invalid {}

type Checked = Result<(), Invalid>;

fn invalid(what: &'static str, reason: impl Into<String>) -> Checked {
    Err(Invalid { what, reason: reason.into() })
}

/// A command line: at least the program, no NUL bytes anywhere.
pub fn command<S: AsRef<str>>(argv: &[S]) -> Checked {
    let Some(program) = argv.first() else {
        return invalid("command", "argv is empty: give at least the program to run");
    };
    if program.as_ref().is_empty() {
        return invalid("command", "argv[0] (the program) is empty");
    }
    if let Some(i) = argv.iter().position(|a| a.as_ref().contains('\0')) {
        return invalid("command", format!("argv[{i}] contains a NUL byte"));
    }
    Ok(())
}

/// Environment variables: non-empty names without `=` or NUL, values without NUL.
pub fn environment(env: &[(String, String)]) -> Checked {
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return invalid("environment variable", format!("name {k:?} is empty or contains '=' or NUL"));
        }
        if v.contains('\0') {
            return invalid("environment variable", format!("value of {k} contains a NUL byte"));
        }
    }
    Ok(())
}

/// A working directory for a command, when one is given: non-empty, without NUL.
pub fn working_dir(cwd: Option<&str>) -> Checked {
    match cwd {
        Some(c) if c.is_empty() || c.contains('\0') => invalid("cwd", "is empty or contains a NUL byte"),
        _ => Ok(()),
    }
}

/// A task or terminal id (`kind` is "task" or "terminal"): 1 to 64 letters, digits
/// and '-'.
pub fn held_id(kind: HeldKind, id: &str) -> Checked {
    if id.is_empty() || id.len() > MAX_HELD_ID_LEN || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        let k = kind.name();
        return invalid(kind.id_field(), format!("{id:?} is not a {k} id (letters, digits, '-')"));
    }
    Ok(())
}

/// The two kinds of process the agent holds beyond a request: tasks and terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKind {
    /// A background task.
    Task,
    /// A PTY terminal.
    Terminal,
}

impl HeldKind {
    /// "task" or "terminal".
    pub fn name(self) -> &'static str {
        match self {
            HeldKind::Task => "task",
            HeldKind::Terminal => "terminal",
        }
    }

    fn id_field(self) -> &'static str {
        match self {
            HeldKind::Task => "task id",
            HeldKind::Terminal => "terminal id",
        }
    }
}

/// A signal number: 1 to 31.
pub fn signal(n: i32) -> Checked {
    if !SIGNAL_RANGE.contains(&n) {
        return invalid(
            "signal",
            format!("{n} is out of range: use a signal number from {} to {}", SIGNAL_RANGE.start(), SIGNAL_RANGE.end()),
        );
    }
    Ok(())
}

/// A terminal size: rows and columns from 1 to [`MAX_TERMINAL_DIMENSION`].
pub fn terminal_size(rows: u16, cols: u16) -> Checked {
    let ok = |n: u16| (1..=MAX_TERMINAL_DIMENSION).contains(&n);
    if !ok(rows) || !ok(cols) {
        return invalid("terminal size", format!("{rows}x{cols}: rows and cols must be 1 to {MAX_TERMINAL_DIMENSION}"));
    }
    Ok(())
}

/// A task's spool cap per stream, when one is given: within [`SPOOL_CAP_RANGE`].
pub fn spool_cap(cap: Option<u64>) -> Checked {
    match cap {
        Some(c) if !SPOOL_CAP_RANGE.contains(&c) => invalid(
            "spool cap",
            format!("{c} is out of range: {} to {} bytes", SPOOL_CAP_RANGE.start(), SPOOL_CAP_RANGE.end()),
        ),
        _ => Ok(()),
    }
}

/// A terminal's scrollback, when one is given: within [`SCROLLBACK_RANGE`].
pub fn scrollback(bytes: Option<u64>) -> Checked {
    match bytes {
        Some(b) if !SCROLLBACK_RANGE.contains(&b) => invalid(
            "scrollback",
            format!("{b} is out of range: {} to {} bytes", SCROLLBACK_RANGE.start(), SCROLLBACK_RANGE.end()),
        ),
        _ => Ok(()),
    }
}

/// How many bytes one read of spooled output asks for: 1 to [`MAX_READ`].
pub fn read_size(max: u64) -> Checked {
    if max == 0 || max > MAX_READ {
        return invalid("read size", format!("{max} is out of range: 1 to {MAX_READ} bytes"));
    }
    Ok(())
}

/// A command's timeout, when one is given: more than zero (no timeout is `None`).
pub fn timeout_ms(timeout: Option<u64>) -> Checked {
    match timeout {
        Some(0) => invalid("timeout", "must be greater than zero"),
        _ => Ok(()),
    }
}

/// A path in the container: non-empty, without NUL.
pub fn path(p: &str) -> Checked {
    if p.is_empty() {
        return invalid("path", "is empty");
    }
    if p.contains('\0') {
        return invalid("path", format!("{:?} contains a NUL byte", p.replace('\0', "\\0")));
    }
    Ok(())
}

/// The permission bits a written file may get: at most `0o7777` and without the setuid
/// and setgid bits (files in the working dir reach the host, where such a file would
/// run with its owner's rights; the agent's syscall filter refuses those bits anyway).
pub fn file_mode(mode: u32) -> Checked {
    if mode > 0o7777 {
        return invalid("mode", format!("{mode:o} has bits beyond 07777"));
    }
    if mode & 0o6000 != 0 {
        return invalid(
            "mode",
            format!("{mode:o} has the setuid or setgid bit: a session cannot create setuid or setgid files"),
        );
    }
    Ok(())
}

impl ExecRequest {
    /// Checks every field (see the [module](self)).
    pub fn validate(&self) -> Checked {
        command(&self.argv)?;
        environment(&self.env)?;
        working_dir(self.cwd.as_deref())?;
        timeout_ms(self.timeout_ms)
    }
}

impl SpawnTask {
    /// Checks every field (see the [module](self)).
    pub fn validate(&self) -> Checked {
        command(&self.argv)?;
        environment(&self.env)?;
        working_dir(self.cwd.as_deref())?;
        spool_cap(self.spool_cap)
    }
}

impl OpenTerminal {
    /// Checks every field (see the [module](self)). An empty argv is allowed: the
    /// terminal then runs the container's shell.
    pub fn validate(&self) -> Checked {
        if !self.argv.is_empty() {
            command(&self.argv)?;
        }
        terminal_size(self.rows, self.cols)?;
        environment(&self.env)?;
        working_dir(self.cwd.as_deref())?;
        scrollback(self.scrollback)
    }
}

impl ReadOutput {
    /// Checks every field (see the [module](self)).
    pub fn validate(&self) -> Checked {
        match &self.source {
            OutputSource::Task { id, .. } => held_id(HeldKind::Task, id)?,
            OutputSource::Terminal { id } => held_id(HeldKind::Terminal, id)?,
        }
        read_size(self.max)
    }
}

impl ReadEvents {
    /// Checks every field (see the [module](self)).
    pub fn validate(&self) -> Checked {
        event_batch(self.max)?;
        if self.from == Some(0) {
            return invalid("from", "sequence numbers start at 1");
        }
        self.filter.path_prefix.as_deref().map_or(Ok(()), |p| absolute_path("path prefix", p))
    }
}

/// How many events one read may ask for: 1 to [`MAX_EVENT_BATCH`].
pub fn event_batch(max: u32) -> Checked {
    if max == 0 || max > MAX_EVENT_BATCH {
        return invalid("max", format!("{max} is outside 1..={MAX_EVENT_BATCH} events"));
    }
    Ok(())
}

/// A path that must be absolute (a watch root, a path prefix), named `what`.
pub fn absolute_path(what: &'static str, p: &str) -> Checked {
    path(p).map_err(|e| Invalid { what, reason: e.reason })?;
    if !p.starts_with('/') {
        return invalid(what, format!("{p:?} is not an absolute path"));
    }
    Ok(())
}

/// The time between two resource samples: at least [`MIN_SAMPLE_INTERVAL_MS`], at most
/// a day.
pub fn sample_interval_ms(ms: u64) -> Checked {
    if !(MIN_SAMPLE_INTERVAL_MS..=86_400_000).contains(&ms) {
        return invalid("sample interval", format!("{ms} ms is outside {MIN_SAMPLE_INTERVAL_MS} ms..=1 day"));
    }
    Ok(())
}

/// A file stamp a resumed read sends back: at most 128 characters, without NUL.
pub fn file_stamp(stamp: &str) -> Checked {
    if stamp.len() > 128 || stamp.contains('\0') {
        return invalid("file stamp", "at most 128 characters, without NUL");
    }
    Ok(())
}

/// A call key of [`Request::Once`]: 16 to 64 letters, digits, '-' and '_'.
pub fn once_key(key: &str) -> Checked {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !ONCE_KEY_LEN.contains(&key.len()) || !key.chars().all(ok) {
        return invalid("call key", "give 16 to 64 letters, digits, '-' or '_'");
    }
    Ok(())
}

impl Request {
    /// Checks what can be judged from the request alone, with the same functions on
    /// both sides of the connection.
    pub fn validate(&self) -> Checked {
        use HeldKind::{Task, Terminal};
        match self {
            Request::Hello { .. } | Request::Ping | Request::ListTasks | Request::ListTerminals => Ok(()),
            Request::Exec(r) => r.validate(),
            Request::SpawnTask(r) => r.validate(),
            Request::OpenTerminal(r) => r.validate(),
            Request::ReadOutput(r) => r.validate(),
            Request::TaskInfo { id } | Request::WaitTask { id, .. } => held_id(Task, id),
            Request::WaitTerminal { id, .. } | Request::WriteTerminal { id } => held_id(Terminal, id),
            Request::KillTask { id, signal: s } => held_id(Task, id).and(signal(*s)),
            Request::KillTerminal { id, signal: s } => held_id(Terminal, id).and(signal(*s)),
            Request::ResizeTerminal { id, rows, cols } => held_id(Terminal, id).and(terminal_size(*rows, *cols)),
            Request::ReadFile { path: p, stamp, .. } => path(p).and(stamp.as_deref().map_or(Ok(()), file_stamp)),
            Request::ListDir { path: p } | Request::Stat { path: p } | Request::Remove { path: p, .. } => path(p),
            Request::WriteFile { path: p, mode } => path(p).and(mode.map_or(Ok(()), file_mode)),
            Request::ReadEvents(r) => r.validate(),
            Request::Watch { path: p } => absolute_path("path", p),
            Request::Stats | Request::Pause | Request::Resume => Ok(()),
            Request::Once { key, request } => once_key(key).and_then(|()| match request.repeat() {
                crate::message::Repeat::Once => request.validate(),
                _ => invalid("once", "only a request that changes something in one step can be keyed"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{StdinMode, TaskStream};

    fn exec(argv: &[&str]) -> ExecRequest {
        ExecRequest {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            cwd: None,
            timeout_ms: None,
            kill_grace_ms: None,
            linger_ms: None,
            stdout_cap: 1,
            stderr_cap: 1,
            stdin: StdinMode::Null,
            window: None,
        }
    }

    #[test]
    fn file_modes() {
        for ok in [0, 0o644, 0o755, 0o1777, 0o777] {
            file_mode(ok).unwrap();
        }
        for bad in [0o4755, 0o2755, 0o6777, 0o10000, u32::MAX] {
            assert_eq!(file_mode(bad).unwrap_err().what, "mode", "{bad:o}");
        }
    }

    #[test]
    fn commands_environments_and_dirs() {
        exec(&["true"]).validate().unwrap();
        assert_eq!(exec(&[]).validate().unwrap_err().what, "command");
        assert_eq!(exec(&[""]).validate().unwrap_err().what, "command");
        assert!(exec(&["a", "b\0"]).validate().unwrap_err().reason.contains("argv[1]"));
        let mut e = exec(&["true"]);
        e.env = vec![("A=B".into(), "x".into())];
        assert_eq!(e.validate().unwrap_err().what, "environment variable");
        e.env = vec![("A".into(), "x\0".into())];
        assert_eq!(e.validate().unwrap_err().what, "environment variable");
        e.env = vec![];
        e.cwd = Some(String::new());
        assert_eq!(e.validate().unwrap_err().what, "cwd");
        e.cwd = Some("/tmp".into());
        e.timeout_ms = Some(0);
        assert_eq!(e.validate().unwrap_err().what, "timeout");
        e.timeout_ms = Some(1);
        e.validate().unwrap();
    }

    #[test]
    fn held_processes() {
        let term = |argv: Vec<String>, rows, cols, cwd: Option<&str>, scrollback| OpenTerminal {
            argv,
            command: None,
            rows,
            cols,
            env: vec![],
            cwd: cwd.map(str::to_string),
            scrollback,
        };
        term(vec![], 24, 80, None, None).validate().unwrap();
        assert_eq!(term(vec![], 0, 80, None, None).validate().unwrap_err().what, "terminal size");
        assert_eq!(term(vec![], 24, 1001, None, None).validate().unwrap_err().what, "terminal size");
        assert_eq!(
            term(vec![], 24, 80, Some(""), None).validate().unwrap_err().what,
            "cwd",
            "the terminal path checks cwd too"
        );
        assert_eq!(term(vec![], 24, 80, None, Some(1)).validate().unwrap_err().what, "scrollback");
        assert_eq!(term(vec![String::new()], 24, 80, None, None).validate().unwrap_err().what, "command");
        let spawn = |cap| SpawnTask { argv: vec!["sh".into()], command: None, env: vec![], cwd: None, spool_cap: cap };
        spawn(None).validate().unwrap();
        assert_eq!(spawn(Some(0)).validate().unwrap_err().what, "spool cap");
        assert_eq!(spawn(Some((1 << 30) + 1)).validate().unwrap_err().what, "spool cap");
        for bad in ["", "a/b", "..", &"x".repeat(65)] {
            assert_eq!(Request::TaskInfo { id: bad.into() }.validate().unwrap_err().what, "task id", "{bad:?}");
            assert_eq!(Request::WriteTerminal { id: bad.into() }.validate().unwrap_err().what, "terminal id");
        }
        for s in [0, 32, -1] {
            assert_eq!(Request::KillTask { id: "task-1".into(), signal: s }.validate().unwrap_err().what, "signal");
        }
        Request::KillTerminal { id: "term-1".into(), signal: 15 }.validate().unwrap();
        let read = |max| ReadOutput {
            source: OutputSource::Task { id: "task-1".into(), stream: TaskStream::Merged },
            offset: 0,
            tail: None,
            max,
            wait_ms: None,
        };
        assert_eq!(Request::ReadOutput(read(0)).validate().unwrap_err().what, "read size");
        assert_eq!(Request::ReadOutput(read(MAX_READ + 1)).validate().unwrap_err().what, "read size");
        Request::ReadOutput(read(MAX_READ)).validate().unwrap();
    }

    #[test]
    fn paths() {
        assert_eq!(Request::Stat { path: String::new() }.validate().unwrap_err().what, "path");
        assert_eq!(Request::ListDir { path: "a\0b".into() }.validate().unwrap_err().what, "path");
        assert_eq!(Request::WriteFile { path: "/x".into(), mode: Some(0o4755) }.validate().unwrap_err().what, "mode");
        Request::WriteFile { path: "/x".into(), mode: None }.validate().unwrap();
    }

    #[test]
    fn keyed_calls() {
        let once = |key: &str, request: Request| Request::Once { key: key.into(), request: Box::new(request) };
        let kill = Request::KillTask { id: "task-1".into(), signal: 9 };
        once("0123456789abcdef", kill.clone()).validate().unwrap();
        once(&"k_-9".repeat(16), kill.clone()).validate().unwrap();
        for bad in ["", "short", "0123456789abcde", &"x".repeat(65), "0123456789abcdef/", "0123456789abcdéf"] {
            assert_eq!(once(bad, kill.clone()).validate().unwrap_err().what, "call key", "{bad:?}");
        }
        // Only one-step changes are keyed: not reads, streams, a hello or another key.
        let key = "0123456789abcdef";
        for inner in
            [Request::Ping, Request::Exec(exec(&["true"])), Request::WriteFile { path: "/x".into(), mode: None }]
        {
            assert_eq!(once(key, inner.clone()).validate().unwrap_err().what, "once", "{inner:?}");
        }
        assert_eq!(once(key, once(key, kill.clone())).validate().unwrap_err().what, "once");
        // The keyed request is checked as itself.
        let bad = Request::KillTask { id: "task-1".into(), signal: 0 };
        assert_eq!(once(key, bad).validate().unwrap_err().what, "signal");
    }

    #[test]
    fn what_may_be_sent_again() {
        use crate::message::Repeat;
        assert_eq!(Request::Stats.repeat(), Repeat::Safe);
        assert_eq!(Request::WaitTask { id: "task-1".into(), timeout_ms: None }.repeat(), Repeat::Safe);
        assert_eq!(Request::Pause.repeat(), Repeat::Once);
        assert_eq!(Request::Remove { path: "/x".into(), recursive: false }.repeat(), Repeat::Once);
        assert_eq!(Request::Exec(exec(&["true"])).repeat(), Repeat::Never);
        assert_eq!(Request::WriteFile { path: "/x".into(), mode: None }.repeat(), Repeat::Never);
        assert_eq!(Request::WriteTerminal { id: "term-1".into() }.repeat(), Repeat::Once);
        let read = |stamp: &str| Request::ReadFile {
            path: "/x".into(),
            window: None,
            offset: None,
            stamp: Some(stamp.into()),
        };
        assert_eq!(read("1:2:3:4").repeat(), Repeat::Never);
        read("1:2:3:4").validate().unwrap();
        assert_eq!(read(&"9".repeat(129)).validate().unwrap_err().what, "file stamp");
        let events = |from| ReadEvents { from, max: 10, wait_ms: Some(1000), filter: Default::default() };
        assert_eq!(Request::ReadEvents(events(Some(4))).repeat(), Repeat::Safe);
        assert_eq!(Request::ReadEvents(events(None)).repeat(), Repeat::Never, "from now: a repeat would miss events");
    }
}
