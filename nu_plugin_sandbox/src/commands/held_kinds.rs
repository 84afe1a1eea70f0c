//! What the shared commands of `held.rs` say and do for tasks and for terminals, side
//! by side: names, help and examples, the default signal, the row.

use std::time::SystemTime;

use nu_protocol::{Example, Span, Value};
use sandbox_core::{Held, Session, TaskInfo, TaskKind, TerminalInfo, TerminalKind};

use super::held::{HeldCommands, Help};
use crate::records;

/// The task commands: `sandbox task`, `sandbox task list|wait|kill`.
pub struct Tasks;

/// The terminal commands: `sandbox term`, `sandbox term list|wait|kill`.
pub struct Terminals;

impl HeldCommands for Tasks {
    type Kind = TaskKind;
    const ARG: &'static str = "task";
    const ARG_HELP: &'static str = "Task id (or a record with an id column, e.g. from `sandbox task spawn`).";
    const DEFAULT_SIGNAL: i32 = 15;
    const WAIT_INTERRUPTED: &'static str = "stopped waiting; the task keeps running";

    const GROUP: Help = Help {
        name: "sandbox task",
        description: "Background tasks in a sandbox session: spawn one, list them, read or follow their logs, wait for \
them, kill them.",
        extra: "Tasks are held by the session's agent, not by nushell: they keep running when the plugin or nushell \
goes away, and any nushell (or the Rust, C, Python and Go libraries) finds them, with their output, by session and \
task id. Each output stream (stdout, stderr, and both merged in order) is kept up to a cap per task (--spool-cap on \
spawn, 8MiB by default); beyond it the oldest part is dropped.",
        search_terms: &["background", "jobs", "daemon", "spawn", "logs"],
        examples: || {
            vec![Example { example: "sandbox task", description: "List the sandbox task subcommands", result: None }]
        },
    };

    const LIST: Help = Help {
        name: "sandbox task list",
        description: "List the background tasks of a sandbox session, running or ended, oldest first.",
        extra: "Columns: id, command, state (running, exited or killed), exit_code and signal (nothing unless they \
apply), pid (inside the container), started and ended (datetime), duration (how long it ran, or has run so far), \
spool_cap (filesize: output kept per stream). When the session's agent is gone, the list is read from what it left on \
disk.",
        search_terms: &["jobs", "ps", "background"],
        examples: || {
            vec![
                Example {
                    example: "sandbox task list demo | where state == running | select id command duration",
                    description: "The tasks still running",
                    result: None,
                },
                Example {
                    example: "sandbox task list demo | where exit_code != 0 and state == exited",
                    description: "The tasks that failed",
                    result: None,
                },
            ]
        },
    };

    const WAIT: Help = Help {
        name: "sandbox task wait",
        description: "Wait for a background task to end and return its record (state, exit_code, signal, ended...).",
        extra: "Returns at once for a task that has ended. With --timeout, a task still running after that long is an \
error (it keeps running). Ctrl-C stops waiting; the task keeps running. A task that ends with a non-zero exit code is \
not an error here: look at exit_code.",
        search_terms: &["join", "await", "finish", "exit code"],
        examples: || {
            vec![
                Example {
                    example: "(sandbox task wait demo (sandbox task spawn demo sh -c 'exit 3')).exit_code",
                    description: "Wait for a task and get its exit code",
                    result: Some(Value::test_int(3)),
                },
                Example {
                    example: "sandbox task wait demo (sandbox task spawn demo make test) --timeout 10min",
                    description: "Wait at most ten minutes",
                    result: None,
                },
            ]
        },
    };

    const KILL: Help = Help {
        name: "sandbox task kill",
        description: "Send a signal (TERM by default) to a background task's whole process group.",
        extra: "The signal goes to every process of the task (its process group), so children die with it. --signal \
takes a name (TERM, KILL, INT, HUP..., with or without SIG) or a number from 1 to 31. Returns nothing; `sandbox task \
wait` then says how it ended. A task that has already ended is an error.",
        search_terms: &["stop", "terminate", "signal", "cancel"],
        examples: || {
            vec![
                Example {
                    example: "let t = sandbox task spawn demo sleep 30; sandbox task kill demo $t; (sandbox task wait \
demo $t).signal",
                    description: "Stop a task (with TERM) and see how it ended",
                    result: Some(Value::test_int(15)),
                },
                Example {
                    example: "sandbox task list demo | where state == running | each {|t| sandbox task kill demo $t \
--signal KILL }",
                    description: "Kill every running task of a session",
                    result: None,
                },
            ]
        },
    };

    fn still_running(session: &str, id: &str) -> String {
        format!("the task is still running: wait longer, or stop it with `sandbox task kill {session} {id}`")
    }

    fn handle(session: &Session, id: &str) -> Held<TaskKind> {
        session.task(id)
    }

    async fn list(session: Session) -> sandbox_core::Result<Vec<TaskInfo>> {
        session.list_tasks().await
    }

    fn row(info: &TaskInfo, span: Span) -> Value {
        records::task_row(info, SystemTime::now(), span)
    }
}

impl HeldCommands for Terminals {
    type Kind = TerminalKind;
    const ARG: &'static str = "terminal";
    const ARG_HELP: &'static str = "Terminal id (or a record with an id column).";
    const DEFAULT_SIGNAL: i32 = 1;
    const WAIT_INTERRUPTED: &'static str = "stopped waiting; the terminal keeps running";

    const GROUP: Help = Help {
        name: "sandbox term",
        description: "Terminals (PTYs) in a sandbox session: open one, send it keystrokes, read its output, resize \
it, kill it; `sandbox attach` uses one interactively.",
        extra: "A terminal is a pseudo-terminal created inside the container with a program on it (a shell by \
default). Like tasks, terminals are held by the session's agent: they outlive the plugin and nushell, and their \
output is kept in a bounded scrollback (--scrollback on open, 1MiB by default) that any later reader can replay.",
        search_terms: &["pty", "tty", "terminal", "shell", "interactive"],
        examples: || {
            vec![Example { example: "sandbox term", description: "List the sandbox term subcommands", result: None }]
        },
    };

    const LIST: Help = Help {
        name: "sandbox term list",
        description: "List the terminals of a sandbox session, running or ended, oldest first.",
        extra: "Columns: id, command, state (running, exited or killed), exit_code and signal (nothing unless they \
apply), pid (inside the container), rows, cols, started and ended (datetime), scrollback (filesize: output kept for \
replay).",
        search_terms: &["pty", "tty", "terminals"],
        examples: || {
            vec![Example {
                example: "sandbox term list demo | where state == running | select id command rows cols",
                description: "The terminals whose program still runs",
                result: None,
            }]
        },
    };

    const WAIT: Help = Help {
        name: "sandbox term wait",
        description: "Wait for a terminal's program to end and return the terminal's record.",
        extra: "Returns at once when it has ended. With --timeout, a program still running after that long is an \
error (it keeps running). Ctrl-C stops waiting.",
        search_terms: &["join", "await", "exit"],
        examples: || {
            vec![Example {
                example: "(sandbox term wait demo (sandbox term open demo sh -c 'exit 4')).exit_code",
                description: "Wait for a terminal's program and get its exit code",
                result: Some(Value::test_int(4)),
            }]
        },
    };

    const KILL: Help = Help {
        name: "sandbox term kill",
        description: "Send a signal (HUP by default, as when a terminal is closed) to a terminal's program and its \
process group.",
        extra: "HUP is the default because interactive shells ignore TERM. --signal takes a name (HUP, TERM, KILL, \
INT..., with or without SIG) or a number from 1 to 31. Returns nothing; `sandbox term wait` then says how it ended. \
The terminal's output stays readable.",
        search_terms: &["close", "hangup", "stop", "signal"],
        examples: || {
            vec![Example {
                example: "let t = sandbox term open demo; sandbox term kill demo $t; (sandbox term wait demo \
$t).signal",
                description: "Close a terminal (its shell gets HUP)",
                result: Some(Value::test_int(1)),
            }]
        },
    };

    fn still_running(session: &str, id: &str) -> String {
        format!("its program is still running: wait longer, or end it with `sandbox term kill {session} {id}`")
    }

    fn handle(session: &Session, id: &str) -> Held<TerminalKind> {
        session.terminal(id)
    }

    async fn list(session: Session) -> sandbox_core::Result<Vec<TerminalInfo>> {
        session.list_terminals().await
    }

    fn row(info: &TerminalInfo, span: Span) -> Value {
        records::terminal_row(info, span)
    }
}
