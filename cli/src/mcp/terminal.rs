//! `terminal_open`, `terminal_send`, `terminal_read_until`, `terminal_kill`: programs on
//! a PTY (a shell, a REPL, anything that wants a terminal), driven by typing and by
//! reading until some text appears.

use std::time::Duration;

use sandbox_core::{Error, Terminal, TerminalSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::State;
use super::tool::{
    self, DEFAULT_READ, Env, MAX_READ, SessionArgs, Signal, ToolDef, byte_limit, chunk_record, env_pairs, read_waiting,
    schema, seconds,
};
use crate::processes::terminal_row;

/// How long `terminal_read_until` waits for its text when the call does not say.
const UNTIL_WAIT: Duration = Duration::from_secs(10);

/// `terminal_open`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenArgs {
    /// Session id.
    pub session: String,
    /// The program and its arguments (default: an interactive shell).
    pub argv: Option<Vec<String>>,
    /// Rows (default 24).
    pub rows: Option<u16>,
    /// Columns (default 80).
    pub cols: Option<u16>,
    /// Working directory inside the container (default: the session's working dir).
    pub cwd: Option<String>,
    /// Environment variables for the program.
    pub env: Env,
}

/// `terminal_send`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    /// Session id.
    pub session: String,
    /// Terminal id.
    pub terminal: String,
    /// What to type, as is: add "\n" to press Enter, "\u0003" is Ctrl-C.
    pub text: String,
}

/// `terminal_read_until`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadUntilArgs {
    /// Session id.
    pub session: String,
    /// Terminal id.
    pub terminal: String,
    /// Read from this byte offset of the terminal's output (default 0: all that is
    /// kept); pass the previous result's next_offset to read only what is new.
    pub offset: Option<u64>,
    /// Read until the output contains this text. Without it: what is there (waiting
    /// up to wait_secs for something when there is nothing yet).
    pub until: Option<String>,
    /// Most seconds to wait (default: 10 with `until`, else 0).
    pub wait_secs: Option<f64>,
    /// Most bytes returned (default 262144, at most 16777216).
    pub max_bytes: Option<u64>,
}

/// `terminal_kill`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillArgs {
    /// Session id.
    pub session: String,
    /// Terminal id.
    pub terminal: String,
    /// Signal, by name or number (default HUP, as closing a terminal sends).
    pub signal: Option<Signal>,
}

/// The terminal tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "terminal_open",
        description: "Open a terminal (a PTY) in a session running a shell or the given program. Returns its \
                      id; type with terminal_send, read with terminal_read_until.",
        schema: schema::<OpenArgs>,
        read_only: false,
    },
    ToolDef {
        name: "terminal_list",
        description: "The terminals of a session (open and ended): id, command, state, rows, cols.",
        schema: schema::<SessionArgs>,
        read_only: true,
    },
    ToolDef {
        name: "terminal_send",
        description: "Type text into a terminal, exactly as given (include \"\\n\" to press Enter).",
        schema: schema::<SendArgs>,
        read_only: false,
    },
    ToolDef {
        name: "terminal_read_until",
        description: "Read a terminal's output from an offset until some text appears (or what is there). \
                      Returns output (text, or output_base64), found (the text appeared), offset, next_offset, \
                      end, finished (the program ended). Not finding the text in time is a result \
                      (found: false), not an error.",
        schema: schema::<ReadUntilArgs>,
        read_only: true,
    },
    ToolDef {
        name: "terminal_kill",
        description: "Send a signal (HUP by default) to a terminal's program.",
        schema: schema::<KillArgs>,
        read_only: false,
    },
];

/// A handle on terminal `id` of `session` (no round trip: a wrong id is not found at its
/// first use).
pub(super) async fn terminal(state: &State, session: &str, id: &str) -> Result<Terminal, Error> {
    sandbox_core::validate::terminal_id(id)?;
    Ok(state.session(session).await?.terminal(id))
}

/// `terminal_open`.
pub async fn open(state: &State, a: OpenArgs) -> Result<Value, Error> {
    let mut spec = TerminalSpec::shell(a.rows.unwrap_or(24), a.cols.unwrap_or(80));
    spec.argv = a.argv.unwrap_or_default();
    spec.cwd = a.cwd;
    spec.env = env_pairs(a.env);
    let term = state.session(&a.session).await?.open_terminal(spec).await?;
    Ok(json!({"terminal": term.id(), "info": term.initial_info().map(terminal_row)}))
}

/// `terminal_list`.
pub async fn list(state: &State, a: SessionArgs) -> Result<Value, Error> {
    let terminals = state.session(&a.session).await?.list_terminals().await?;
    Ok(json!({"terminals": terminals.iter().map(terminal_row).collect::<Vec<_>>()}))
}

/// `terminal_send`.
pub async fn send(state: &State, a: SendArgs) -> Result<Value, Error> {
    let term = terminal(state, &a.session, &a.terminal).await?;
    for piece in a.text.as_bytes().chunks(sandbox_core::MAX_TERMINAL_WRITE) {
        term.write(piece).await?;
    }
    Ok(json!({"terminal": a.terminal, "bytes": a.text.len()}))
}

/// `terminal_read_until`.
pub async fn read_until(state: &State, a: ReadUntilArgs) -> Result<Value, Error> {
    let max = byte_limit("max_bytes", a.max_bytes, DEFAULT_READ, MAX_READ)? as usize;
    let wait = seconds("wait_secs", a.wait_secs)?;
    let offset = a.offset.unwrap_or(0);
    let term = terminal(state, &a.session, &a.terminal).await?;
    let (chunk, found) = match &a.until {
        Some(text) if text.is_empty() => return Err(Error::invalid("until", "is empty")),
        Some(text) => {
            let r = term.read_until(offset, text.as_bytes(), max, Some(wait.unwrap_or(UNTIL_WAIT))).await?;
            (r.chunk, Some(r.found))
        }
        None => (read_waiting(wait.unwrap_or(Duration::ZERO), |w| term.read(offset, max, w)).await?, None),
    };
    let mut m = chunk_record(&chunk);
    if let Some(found) = found {
        m.insert("found".into(), json!(found));
    }
    Ok(Value::Object(m))
}

/// `terminal_kill`.
pub async fn kill(state: &State, a: KillArgs) -> Result<Value, Error> {
    tool::kill(terminal(state, &a.session, &a.terminal).await?, a.signal, 1).await
}
