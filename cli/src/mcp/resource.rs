//! Resources: what a client may read without a tool call, by URI — a task's output, a
//! terminal's output and any file of a session. Only sessions the server may touch are
//! listed or read (the same rule as the tools'); resources are read-only.
//!
//! | URI | what |
//! |---|---|
//! | `sandbox://sessions/{session}/tasks/{task}/{stream}` | a task's output: `merged`, `stdout` or `stderr` |
//! | `sandbox://sessions/{session}/terminals/{terminal}/output` | a terminal's output (its scrollback) |
//! | `sandbox://sessions/{session}/files/{+path}` | a file; the path as `file_read` takes it (relative: to the working dir; a second `/` makes it absolute) |
//!
//! Path segments are percent-decoded. A read returns at most 16 MiB: the last bytes of
//! an output, the first of a file; `_meta` says what was cut.

use rmcp::model::{MetaObject, Resource, ResourceContents, ResourceTemplate};
use sandbox_core::{Error, TaskStream};
use serde_json::{Map, Value, json};

use super::file::{MAX_FILE_READ, read_capped};
use super::state::State;
use super::tool::{MAX_READ, chunk_record};

/// The scheme and authority every resource URI starts with.
const PREFIX: &str = "sandbox://sessions/";

/// A resource, as its URI names it.
#[derive(Debug, PartialEq, Eq)]
pub enum Uri {
    /// A task's output stream.
    TaskOutput {
        /// Session id.
        session: String,
        /// Task id.
        task: String,
        /// Which stream.
        stream: TaskStream,
    },
    /// A terminal's output.
    TerminalOutput {
        /// Session id.
        session: String,
        /// Terminal id.
        terminal: String,
    },
    /// A file.
    File {
        /// Session id.
        session: String,
        /// The path as `file_read` takes it.
        path: String,
    },
}

/// The name of a task stream in URIs (the `task_logs` tool's names).
fn stream_name(stream: TaskStream) -> &'static str {
    match stream {
        TaskStream::Stdout => "stdout",
        TaskStream::Stderr => "stderr",
        _ => "merged",
    }
}

/// `s` with `%XX` escapes decoded; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, Error> {
    let bad = || Error::invalid("uri", format!("{s:?} has a bad percent escape"));
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
            let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("uri", format!("{s:?} does not decode to UTF-8")))
}

/// `s` with every byte but unreserved ones and `/` percent-encoded (for a path).
fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Uri {
    /// Parses a resource URI; anything else is an invalid-input error that names the forms.
    pub fn parse(uri: &str) -> Result<Uri, Error> {
        let unknown = || {
            Error::invalid(
                "uri",
                format!(
                    "{uri:?} is not a resource of this server: {PREFIX}<session>/tasks/<task>/merged|stdout|stderr, \
                     {PREFIX}<session>/terminals/<terminal>/output or {PREFIX}<session>/files/<path>"
                ),
            )
        };
        let rest = uri.strip_prefix(PREFIX).ok_or_else(unknown)?;
        if rest.contains(['?', '#']) {
            return Err(Error::invalid("uri", format!("{uri:?}: a resource URI has no query or fragment")));
        }
        let (session, rest) = rest.split_once('/').ok_or_else(unknown)?;
        let session = percent_decode(session)?;
        sandbox_core::validate::session_id(&session)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(unknown)?;
        match kind {
            "files" => {
                let path = percent_decode(rest)?;
                if path.is_empty() {
                    return Err(Error::invalid("uri", format!("{uri:?} names no file")));
                }
                Ok(Uri::File { session, path })
            }
            "tasks" => {
                let (task, stream) = rest.split_once('/').ok_or_else(unknown)?;
                let task = percent_decode(task)?;
                sandbox_core::validate::task_id(&task)?;
                let stream = match stream {
                    "merged" => TaskStream::Merged,
                    "stdout" => TaskStream::Stdout,
                    "stderr" => TaskStream::Stderr,
                    _ => return Err(unknown()),
                };
                Ok(Uri::TaskOutput { session, task, stream })
            }
            "terminals" => {
                let (terminal, what) = rest.split_once('/').ok_or_else(unknown)?;
                let terminal = percent_decode(terminal)?;
                sandbox_core::validate::terminal_id(&terminal)?;
                if what != "output" {
                    return Err(unknown());
                }
                Ok(Uri::TerminalOutput { session, terminal })
            }
            _ => Err(unknown()),
        }
    }

    /// The URI, as [`Uri::parse`] reads it back.
    pub fn to_uri(&self) -> String {
        match self {
            Uri::TaskOutput { session, task, stream } => {
                format!("{PREFIX}{session}/tasks/{task}/{}", stream_name(*stream))
            }
            Uri::TerminalOutput { session, terminal } => format!("{PREFIX}{session}/terminals/{terminal}/output"),
            Uri::File { session, path } => format!("{PREFIX}{session}/files/{}", percent_encode_path(path)),
        }
    }
}

/// The resource templates.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{PREFIX}{{session}}/tasks/{{task}}/{{stream}}"), "task-output")
            .with_title("Task output")
            .with_description(
                "A task's output: stream is merged (stdout and stderr in the order written), stdout or stderr. \
                 The last 16 MiB kept; _meta has offset, end, dropped and finished as task_logs returns them.",
            )
            .with_mime_type("text/plain"),
        ResourceTemplate::new(format!("{PREFIX}{{session}}/terminals/{{terminal}}/output"), "terminal-output")
            .with_title("Terminal output")
            .with_description("A terminal's output as kept (its scrollback, with the program's escape sequences).")
            .with_mime_type("text/plain"),
        ResourceTemplate::new(format!("{PREFIX}{{session}}/files/{{+path}}"), "file")
            .with_title("File in a session")
            .with_description(
                "A file inside a session's container; path relative to the working dir, or absolute (then the \
                 URI has two slashes after files). Text when UTF-8, else a blob. The first 16 MiB; _meta has \
                 size and truncated.",
            ),
    ]
}

/// The output of every task and terminal of the sessions this server may touch (files
/// are not listed: the file template reads any of them).
pub async fn list(state: &State) -> Result<Vec<Resource>, Error> {
    let mut out = Vec::new();
    for info in state.sandbox().list().await? {
        // Not found: outside the roots (the sandbox lists only its scope), or gone since.
        let Ok(session) = state.session(&info.id).await else { continue };
        for t in session.list_tasks().await.unwrap_or_default() {
            let uri = Uri::TaskOutput { session: info.id.clone(), task: t.id.clone(), stream: TaskStream::Merged };
            out.push(
                Resource::new(uri.to_uri(), format!("task {} of {}", t.id, info.id))
                    .with_description(format!("output of `{}` ({})", t.command, state_name(t.state.is_running())))
                    .with_mime_type("text/plain"),
            );
        }
        for t in session.list_terminals().await.unwrap_or_default() {
            let uri = Uri::TerminalOutput { session: info.id.clone(), terminal: t.id.clone() };
            out.push(
                Resource::new(uri.to_uri(), format!("terminal {} of {}", t.id, info.id))
                    .with_description(format!("output of `{}` ({})", t.command, state_name(t.state.is_running())))
                    .with_mime_type("text/plain"),
            );
        }
    }
    Ok(out)
}

fn state_name(running: bool) -> &'static str {
    if running { "running" } else { "ended" }
}

/// `bytes` as the contents of `uri`: text when UTF-8, else base64, with `meta`.
fn contents(uri: &str, bytes: &[u8], meta: Map<String, Value>) -> ResourceContents {
    use base64::Engine as _;
    let c = match std::str::from_utf8(bytes) {
        Ok(text) => ResourceContents::text(text, uri),
        Err(_) => ResourceContents::blob(base64::engine::general_purpose::STANDARD.encode(bytes), uri)
            .with_mime_type("application/octet-stream"),
    };
    c.with_meta(MetaObject(meta))
}

/// Reads the resource `uri`.
pub async fn read(state: &State, uri: &str) -> Result<ResourceContents, Error> {
    match Uri::parse(uri)? {
        Uri::TaskOutput { session, task, stream } => {
            let chunk = super::task::task(state, &session, &task).await?.tail(stream, MAX_READ as usize).await?;
            Ok(contents(uri, &chunk.data, output_meta(&chunk)))
        }
        Uri::TerminalOutput { session, terminal } => {
            let terminal = super::terminal::terminal(state, &session, &terminal).await?;
            let chunk = terminal.read(0, MAX_READ as usize, Some(std::time::Duration::ZERO)).await?;
            Ok(contents(uri, &chunk.data, output_meta(&chunk)))
        }
        Uri::File { session, path } => {
            let (content, size) = read_capped(state, &session, &path, MAX_FILE_READ as usize).await?;
            let mut meta = Map::new();
            meta.insert("size".into(), json!(size));
            meta.insert("truncated".into(), json!(size > content.len() as u64));
            Ok(contents(uri, &content, meta))
        }
    }
}

/// Where a chunk of output lies, as `task_logs` says it (without the bytes).
fn output_meta(chunk: &sandbox_core::OutputChunk) -> Map<String, Value> {
    let mut m = chunk_record(chunk);
    m.retain(|k, _| !k.starts_with("output"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_read_back_as_written() {
        let cases = [
            Uri::TaskOutput { session: "s1".into(), task: "t-1".into(), stream: TaskStream::Merged },
            Uri::TaskOutput { session: "s1".into(), task: "t-1".into(), stream: TaskStream::Stderr },
            Uri::TerminalOutput { session: "s1".into(), terminal: "term-2".into() },
            Uri::File { session: "s1".into(), path: "src/main.rs".into() },
            Uri::File { session: "s1".into(), path: "/etc/hosts".into() },
            Uri::File { session: "s1".into(), path: "a b/ü%?#.txt".into() },
        ];
        for u in cases {
            assert_eq!(Uri::parse(&u.to_uri()).unwrap(), u, "{}", u.to_uri());
        }
        assert_eq!(
            Uri::File { session: "s".into(), path: "/etc/hosts".into() }.to_uri(),
            "sandbox://sessions/s/files//etc/hosts"
        );
        assert_eq!(
            Uri::File { session: "s".into(), path: "a b/%.txt".into() }.to_uri(),
            "sandbox://sessions/s/files/a%20b/%25.txt"
        );
    }

    #[test]
    fn bad_uris_are_invalid_input_errors() {
        for bad in [
            "",
            "file:///etc/passwd",
            "sandbox://sessions/",
            "sandbox://sessions/s1",
            "sandbox://sessions/s1/files/",
            "sandbox://sessions/s1/tasks/t1",
            "sandbox://sessions/s1/tasks/t1/other",
            "sandbox://sessions/s1/tasks/../merged",
            "sandbox://sessions/s1/terminals/t1/screen",
            "sandbox://sessions/s1/processes/t1/output",
            "sandbox://sessions/s1/files/a%zz",
            "sandbox://sessions/s1/files/a%ff",
            "sandbox://sessions/s1/files/a?x=1",
            "sandbox://sessions/a%2Fb/files/x",
            "sandbox://sessions/-bad/files/x",
        ] {
            let e = Uri::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), sandbox_core::ErrorKind::InvalidInput, "{bad}: {e}");
        }
    }

    #[test]
    fn templates_name_the_parsed_forms() {
        let expanded: Vec<String> = templates()
            .iter()
            .map(|t| {
                t.uri_template
                    .replace("{session}", "s")
                    .replace("{task}", "t")
                    .replace("{stream}", "stdout")
                    .replace("{terminal}", "t")
                    .replace("{+path}", "x/y")
            })
            .collect();
        for uri in expanded {
            Uri::parse(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        }
    }
}
