//! `task ...` and `term ...`: background tasks and terminals, through sandbox-core's
//! handles.

use std::io::Write;
use std::time::Duration;

use sandbox_core::{
    Error, OutputChunk, ProcessInfo, ProcessState, Sandbox, TaskInfo, TaskSpec, TaskStream, TerminalInfo, TerminalSpec,
};
use serde_json::{Map, Value, json};

use crate::Done;
use crate::args::{Stream, TaskCommand, TermCommand};
use crate::exit;
use crate::output::{Out, bytes_field, line, opt_time, time};

/// Most bytes one read asks for.
const READ_MAX: usize = 16 * 1024 * 1024;
/// How long `term read --until` waits when --wait does not say.
const UNTIL_WAIT: Duration = Duration::from_secs(10);

/// The columns every held process has.
fn process_fields(p: &ProcessInfo) -> Map<String, Value> {
    let (state, code, signal) = match p.state {
        ProcessState::Running => ("running", None, None),
        ProcessState::Exited { code } => ("exited", Some(code), None),
        ProcessState::Killed { signal } => ("killed", None, Some(signal)),
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("command".into(), json!(p.command));
    m.insert("state".into(), json!(state));
    m.insert("exit_code".into(), json!(code));
    m.insert("signal".into(), json!(signal));
    m.insert("pid".into(), json!(p.pid));
    m.insert("started".into(), time(p.started));
    m.insert("ended".into(), opt_time(p.ended));
    m
}

/// A task as a row of `task list` (and of the MCP server's task tools).
pub fn task_row(t: &TaskInfo) -> Value {
    let mut m = process_fields(t);
    m.insert("spool_cap".into(), json!(t.spool_cap));
    Value::Object(m)
}

/// A terminal as a row of `term list` (and of the MCP server's terminal tools).
pub fn terminal_row(t: &TerminalInfo) -> Value {
    let mut m = process_fields(t);
    m.insert("rows".into(), json!(t.rows));
    m.insert("cols".into(), json!(t.cols));
    m.insert("scrollback".into(), json!(t.scrollback));
    Value::Object(m)
}

const PROCESS_COLUMNS: [&str; 6] = ["id", "state", "exit_code", "signal", "started", "command"];

/// The exit code that reports how a process ended (for `wait`).
fn code_of(p: &ProcessInfo) -> u8 {
    match p.state {
        ProcessState::Exited { code } => exit::of_process(Some(code), None, false),
        ProcessState::Killed { signal } => exit::of_process(None, Some(signal), false),
        ProcessState::Running => 0,
    }
}

fn stream_of(s: Stream) -> TaskStream {
    match s {
        Stream::Merged => TaskStream::Merged,
        Stream::Stdout => TaskStream::Stdout,
        Stream::Stderr => TaskStream::Stderr,
    }
}

/// Writes a chunk's bytes to stdout (a JSON line with --jsonl).
fn emit(chunk: &OutputChunk, out: Out) -> Result<(), Error> {
    if out.jsonl() {
        let mut m = Map::new();
        m.insert("offset".into(), json!(chunk.offset));
        bytes_field(&mut m, "data", &chunk.data);
        line(&Value::Object(m));
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&chunk.data).and_then(|()| stdout.flush()).map_err(|e| Error::io("writing stdout", e))
}

/// `sandbox task ...`.
pub async fn task(sandbox: &Sandbox, c: TaskCommand, out: Out) -> Result<Done, Error> {
    match c {
        TaskCommand::Spawn { session, spool_cap, command_args, argv } => {
            let s = sandbox.attach(&session).await?;
            let mut spec = TaskSpec::argv(argv);
            spec.env = command_args.env;
            spec.cwd = command_args.cwd;
            spec.spool_cap = spool_cap;
            let task = s.spawn_task(spec).await?;
            let row = task.initial_info().map(task_row).unwrap_or(Value::Null);
            out.made(task.id(), &row);
        }
        TaskCommand::List { session } => {
            let rows: Vec<Value> = sandbox.attach(&session).await?.list_tasks().await?.iter().map(task_row).collect();
            out.rows(&rows, &PROCESS_COLUMNS);
        }
        TaskCommand::Logs { session, task, stream, tail, follow } => {
            let task = sandbox.attach(&session).await?.task(&task);
            let stream = stream_of(stream);
            let first = match tail {
                Some(n) => task.tail(stream, usize::try_from(n).unwrap_or(usize::MAX)).await?,
                None => task.read(stream, 0, READ_MAX, Some(Duration::ZERO)).await?,
            };
            if first.offset > 0 && tail.is_none() {
                out.note(&format!("sandbox: the first {} bytes are no longer kept (spool cap)", first.offset));
            }
            emit(&first, out)?;
            let mut at = first.next_offset();
            if follow {
                let mut follow = task.follow(stream, at);
                while let Some(chunk) = follow.next().await {
                    let chunk = chunk?;
                    if chunk.offset > at {
                        out.note(&format!(
                            "sandbox: {} bytes were dropped before they could be read",
                            chunk.offset - at
                        ));
                    }
                    at = chunk.next_offset();
                    emit(&chunk, out)?;
                }
            } else {
                // All that is kept, up to the end as it is now.
                while at < first.end {
                    let c = task.read(stream, at, READ_MAX, Some(Duration::ZERO)).await?;
                    if c.data.is_empty() {
                        break;
                    }
                    at = c.next_offset();
                    emit(&c, out)?;
                }
            }
        }
        TaskCommand::Wait { session, task, timeout } => {
            let info = sandbox.attach(&session).await?.task(&task).wait(timeout).await?;
            if out.json() {
                line(&task_row(&info));
            }
            return Ok(Done::Code(code_of(&info)));
        }
        TaskCommand::Kill { session, task, signal } => {
            sandbox.attach(&session).await?.task(&task).kill(signal).await?;
        }
    }
    Ok(Done::Ok)
}

/// `sandbox term ...`.
pub async fn term(sandbox: &Sandbox, c: TermCommand, out: Out) -> Result<Done, Error> {
    match c {
        TermCommand::Open { session, rows, cols, scrollback, command_args, argv } => {
            let s = sandbox.attach(&session).await?;
            let mut spec = TerminalSpec::shell(rows, cols);
            spec.argv = argv;
            spec.env = command_args.env;
            spec.cwd = command_args.cwd;
            spec.scrollback = scrollback;
            let term = s.open_terminal(spec).await?;
            let row = term.initial_info().map(terminal_row).unwrap_or(Value::Null);
            out.made(term.id(), &row);
        }
        TermCommand::List { session } => {
            let s = sandbox.attach(&session).await?;
            let rows: Vec<Value> = s.list_terminals().await?.iter().map(terminal_row).collect();
            out.rows(&rows, &PROCESS_COLUMNS);
        }
        TermCommand::Attach { session, terminal } => return attach(sandbox, &session, terminal, out).await,
        TermCommand::Send { session, terminal, text } => {
            let bytes = if text == "-" { crate::run::read_stdin()? } else { text.into_bytes() };
            let term = sandbox.attach(&session).await?.terminal(&terminal);
            for piece in bytes.chunks(sandbox_core::MAX_TERMINAL_WRITE) {
                term.write(piece).await?;
            }
        }
        TermCommand::Read { session, terminal, offset, wait, until } => {
            let term = sandbox.attach(&session).await?.terminal(&terminal);
            let (chunk, found) = match &until {
                None => (term.read(offset, READ_MAX, Some(wait.unwrap_or(Duration::ZERO))).await?, true),
                Some(text) => {
                    let r =
                        term.read_until(offset, text.as_bytes(), READ_MAX, Some(wait.unwrap_or(UNTIL_WAIT))).await?;
                    (r.chunk, r.found)
                }
            };
            if out.json() {
                let mut m = Map::new();
                bytes_field(&mut m, "output", &chunk.data);
                m.insert("offset".into(), json!(chunk.offset));
                m.insert("next_offset".into(), json!(chunk.next_offset()));
                m.insert("end".into(), json!(chunk.end));
                m.insert("dropped".into(), json!(chunk.window_start));
                m.insert("finished".into(), json!(chunk.finished));
                if until.is_some() {
                    m.insert("found".into(), json!(found));
                }
                line(&Value::Object(m));
            } else {
                emit(&chunk, out)?;
            }
            if !found {
                let why =
                    if chunk.finished { "the program ended first" } else { "not within the wait (or the size limit)" };
                return Err(Error::Timeout {
                    action: format!(
                        "reading terminal {terminal} until {:?} appears ({why})",
                        until.unwrap_or_default()
                    ),
                    after: wait.unwrap_or(UNTIL_WAIT),
                });
            }
        }
        TermCommand::Resize { session, terminal, rows, cols } => {
            let info = sandbox.attach(&session).await?.terminal(&terminal).resize(rows, cols).await?;
            if out.json() {
                line(&terminal_row(&info));
            }
        }
        TermCommand::Kill { session, terminal, signal } => {
            sandbox.attach(&session).await?.terminal(&terminal).kill(signal).await?;
        }
        TermCommand::Wait { session, terminal, timeout } => {
            let info = sandbox.attach(&session).await?.terminal(&terminal).wait(timeout).await?;
            if out.json() {
                line(&terminal_row(&info));
            }
            return Ok(Done::Code(code_of(&info)));
        }
    }
    Ok(Done::Ok)
}

/// `sandbox term attach`: this terminal connected to one in the session until its program
/// exits (then its exit code is ours) or Ctrl-] detaches.
async fn attach(sandbox: &Sandbox, session: &str, terminal: Option<String>, out: Out) -> Result<Done, Error> {
    use sandbox_core::local_tty::{self, Outcome, RawMode, TerminalInput};
    if !local_tty::is_interactive() {
        return Err(Error::invalid(
            "terminal",
            "`sandbox term attach` needs an interactive terminal (stdin and stdout); from scripts use `term send` and `term read`",
        ));
    }
    let s = sandbox.attach(session).await?;
    let (rows, cols) = local_tty::size();
    let (term, start_at) = match terminal {
        Some(id) => {
            let term = s.terminal(&id);
            term.resize(rows, cols).await?;
            let now = term.read(0, 1, Some(Duration::ZERO)).await?;
            (term, now.end)
        }
        None => (s.open_terminal(TerminalSpec::shell(rows, cols)).await?, 0),
    };
    let id = term.id().to_string();
    out.note(&format!("sandbox: terminal {id} in session {session} (Ctrl-] detaches)"));
    let outcome = {
        let raw = RawMode::enter().map_err(|e| Error::io("switching the terminal to raw mode", e))?;
        let (mut input, keys) = TerminalInput::start().map_err(|e| Error::io("reading the terminal", e))?;
        let outcome = local_tty::connect(&term, start_at, keys, std::future::pending()).await;
        input.stop();
        drop(raw);
        outcome
    };
    match outcome {
        Outcome::Exited => Ok(Done::Code(code_of(&term.wait(None).await?.process))),
        Outcome::Detached => {
            out.note(&format!(
                "\r\nsandbox: detached; terminal {id} keeps running (`sandbox term attach {session} {id}` returns to it)"
            ));
            Ok(Done::Ok)
        }
        Outcome::Lost(e) => Err(e),
        Outcome::Failed(why) => Err(Error::io("attaching", std::io::Error::other(why))),
    }
}
