//! What every tool shares: its definition (name, description, input schema), argument
//! parsing that turns any mistake into a tool error the model can read, the argument
//! types several tools take (environment, durations, signals, byte limits), and the
//! shape of results and errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use sandbox_core::{Error, ErrorKind, Held, OutputChunk, ProcessKind};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Bytes a read of task or terminal output returns when the call does not say (a
/// model's context is small).
pub const DEFAULT_READ: u64 = 256 * 1024;
/// The most bytes one read of task or terminal output returns.
pub const MAX_READ: u64 = 16 * 1024 * 1024;

/// The most bytes a tool takes as input (a file's content, a command's stdin).
pub const MAX_INPUT: usize = 16 * 1024 * 1024;

/// Bytes given as text or as base64 (`what` and `<what>_base64`), at most [`MAX_INPUT`].
pub fn input_bytes(what: &str, text: Option<String>, b64: Option<String>) -> Result<Option<Vec<u8>>, Error> {
    use base64::Engine as _;
    let bytes = match (text, b64) {
        (Some(_), Some(_)) => return Err(Error::invalid(what, format!("give {what} or {what}_base64, not both"))),
        (Some(t), None) => t.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| Error::invalid(format!("{what}_base64"), e.to_string()))?,
        (None, None) => return Ok(None),
    };
    if bytes.len() > MAX_INPUT {
        return Err(Error::invalid(
            what,
            format!("{} bytes is more than one call takes ({MAX_INPUT}); make large files in the session", bytes.len()),
        ));
    }
    Ok(Some(bytes))
}

/// A tool as listed: its name, what it does, and the schema of its arguments.
pub struct ToolDef {
    /// The tool's name: `<concept>_<verb>` (or `exec`), the project's verbs.
    pub name: &'static str,
    /// What the model reads to decide when and how to call it.
    pub description: &'static str,
    /// The JSON schema of its arguments.
    pub schema: fn() -> Arc<JsonObject>,
    /// It changes nothing (a listing, a read, a wait).
    pub read_only: bool,
}

impl ToolDef {
    /// The MCP tool definition.
    pub fn tool(&self) -> Tool {
        Tool::new(self.name, self.description, (self.schema)())
            .annotate(ToolAnnotations::new().read_only(self.read_only))
    }
}

/// The schema of `T` as tools list it.
pub fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_type::<T>()
}

/// A tool's arguments as `T`; unknown fields, wrong types and missing ones are an
/// invalid-input error naming the tool.
pub fn parse<T: DeserializeOwned>(tool: &str, args: Option<JsonObject>) -> Result<T, Error> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| Error::invalid(format!("arguments of {tool}"), e.to_string()))
}

/// The stable name of an error kind, as tool errors start with it.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::EngineMissing => "engine_missing",
        ErrorKind::Engine => "engine",
        ErrorKind::ImageUnavailable => "image_unavailable",
        ErrorKind::LimitsUnavailable => "limits_unavailable",
        ErrorKind::SessionNotFound => "session_not_found",
        ErrorKind::SessionExists => "session_exists",
        ErrorKind::SessionLost => "session_lost",
        ErrorKind::Timeout => "timeout",
        ErrorKind::AgentVersionMismatch => "agent_version_mismatch",
        ErrorKind::Protocol => "protocol",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::NotFound => "not_found",
        ErrorKind::NotRunning => "not_running",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::Config => "config",
        ErrorKind::Io => "io",
        _ => "other",
    }
}

/// A successful call: `value` as structured content and as JSON text.
pub fn success(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

/// A failed call, as a tool error: `<kind>: <message>` as text (what a model reads),
/// `{"error": {"kind", "message"}}` as structured content (what a program matches).
pub fn failure(e: &Error) -> CallToolResult {
    let kind = kind_name(e.kind());
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("{kind}: {e}"))]);
    r.structured_content = Some(json!({"error": {"kind": kind, "message": e.to_string()}}));
    r
}

/// The arguments of a tool that takes only a session (`task_list`, `terminal_list`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// Session id.
    pub session: String,
}

/// Environment variables for a command, as a JSON object of strings.
pub type Env = Option<BTreeMap<String, String>>;

/// The variables of `env`, in order.
pub fn env_pairs(env: Env) -> Vec<(String, String)> {
    env.unwrap_or_default().into_iter().collect()
}

/// A duration in seconds from a tool argument: finite and not negative.
pub fn seconds(what: &str, secs: Option<f64>) -> Result<Option<Duration>, Error> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|_| Error::invalid(what, format!("{s} is not a number of seconds")))
    })
    .transpose()
}

/// A byte limit from a tool argument: `default` when not given, at most `max`.
pub fn byte_limit(what: &str, asked: Option<u64>, default: u64, max: u64) -> Result<u64, Error> {
    match asked {
        None => Ok(default),
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(Error::invalid(what, format!("{n} is more than the most this server returns ({max})"))),
    }
}

/// A signal, by name (`"TERM"`, `"SIGKILL"`) or number (1 to 31).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Signal {
    /// A number, 1 to 31.
    Number(i32),
    /// A name: HUP INT QUIT KILL TERM USR1 USR2 ...
    Name(String),
}

impl Signal {
    /// Its number; `default` when not given.
    pub fn number(s: Option<Signal>, default: i32) -> Result<i32, Error> {
        match s {
            None => Ok(default),
            Some(Signal::Number(n)) => crate::args::parse_signal(&n.to_string()),
            Some(Signal::Name(n)) => crate::args::parse_signal(&n),
        }
        .map_err(|e| Error::invalid("signal", e))
    }
}

/// `<kind>_kill`: sends `signal` (`default` when not given) to a task's or terminal's
/// process group; the result names the process and the signal sent.
pub async fn kill<K: ProcessKind>(held: Held<K>, signal: Option<Signal>, default: i32) -> Result<Value, Error> {
    let signal = Signal::number(signal, default)?;
    held.kill(signal).await?;
    Ok(json!({K::NAME: held.id(), "signal": signal}))
}

/// A read of task or terminal output that may wait (`read` is called with the wait):
/// nothing new within `wait` is not a failure but the output as it is now.
pub async fn read_waiting<F, Fut>(wait: Duration, read: F) -> Result<OutputChunk, Error>
where
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = Result<OutputChunk, Error>>,
{
    match read(Some(wait)).await {
        Err(e) if e.kind() == ErrorKind::Timeout => read(Some(Duration::ZERO)).await,
        r => r,
    }
}

/// Bytes as text under `key` when they are UTF-8, else base64 under `<key>_base64`.
pub fn bytes_field(m: &mut Map<String, Value>, key: &str, data: &[u8]) {
    crate::output::bytes_field(m, key, data);
}

/// A chunk of task or terminal output as a result: the bytes (as text when UTF-8; a
/// character cut at the end of the chunk is left for the next read, so text reads never
/// split one), where they start, where to read on, and whether all was read.
pub fn chunk_record(chunk: &OutputChunk) -> Map<String, Value> {
    let mut take = chunk.data.len();
    if std::str::from_utf8(&chunk.data).is_err() {
        let text = chunk.text_len();
        let rest_can_come = !chunk.finished || chunk.next_offset() < chunk.end;
        if text < take && rest_can_come && std::str::from_utf8(&chunk.data[..text]).is_ok() {
            take = text;
        }
    }
    let next = chunk.offset + take as u64;
    let mut m = Map::new();
    bytes_field(&mut m, "output", &chunk.data[..take]);
    m.insert("offset".into(), json!(chunk.offset));
    m.insert("next_offset".into(), json!(next));
    m.insert("end".into(), json!(chunk.end));
    m.insert("dropped".into(), json!(chunk.window_start));
    m.insert("finished".into(), json!(chunk.finished));
    m.insert("eof".into(), json!(chunk.finished && next >= chunk.end));
    if chunk.lost > 0 {
        m.insert("lost".into(), json!(chunk.lost));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[allow(dead_code)]
        session: String,
    }

    #[test]
    fn bad_arguments_are_invalid_input_naming_the_tool_and_the_field() {
        let args = |v: Value| v.as_object().cloned();
        let e = parse::<Probe>("probe", args(json!({"session": "s", "image": "x"}))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("arguments of probe") && e.to_string().contains("unknown field `image`"), "{e}");
        let e = parse::<Probe>("probe", None).unwrap_err();
        assert!(e.to_string().contains("missing field `session`"), "{e}");
        let e = parse::<Probe>("probe", args(json!({"session": 5}))).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let s = schema::<Probe>();
        assert_eq!(s.get("additionalProperties"), Some(&json!(false)), "{s:?}");
    }

    #[test]
    fn errors_are_tool_errors_led_by_their_kind() {
        let r = failure(&Error::SessionNotFound { id: "x".into(), detail: String::new() });
        assert_eq!(r.is_error, Some(true));
        let text = serde_json::to_value(&r.content).unwrap()[0]["text"].as_str().unwrap().to_string();
        assert!(text.starts_with("session_not_found: no sandbox session \"x\""), "{text}");
        assert_eq!(r.structured_content.unwrap()["error"]["kind"], "session_not_found");
    }

    #[test]
    fn inputs_come_as_text_or_base64_and_are_bounded() {
        assert_eq!(input_bytes("stdin", Some("hi".into()), None).unwrap(), Some(b"hi".to_vec()));
        assert_eq!(input_bytes("stdin", None, Some("/wA=".into())).unwrap(), Some(vec![0xff, 0]));
        assert_eq!(input_bytes("stdin", None, None).unwrap(), None);
        assert!(input_bytes("stdin", Some("a".into()), Some("YQ==".into())).is_err());
        assert!(input_bytes("stdin", None, Some("not base64!".into())).is_err());
        let e = input_bytes("content", Some("x".repeat(MAX_INPUT + 1)), None).unwrap_err();
        assert!(e.to_string().contains("more than one call takes"), "{e}");
    }

    #[test]
    fn argument_types_check_their_values() {
        assert_eq!(Signal::number(None, 15).unwrap(), 15);
        assert_eq!(Signal::number(Some(Signal::Name("KILL".into())), 15).unwrap(), 9);
        assert_eq!(Signal::number(Some(Signal::Number(2)), 15).unwrap(), 2);
        assert_eq!(Signal::number(Some(Signal::Number(99)), 15).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(seconds("t", Some(1.5)).unwrap(), Some(Duration::from_millis(1500)));
        assert!(seconds("t", Some(-1.0)).is_err());
        assert_eq!(byte_limit("cap", None, 10, 20).unwrap(), 10);
        assert!(byte_limit("cap", Some(21), 10, 20).is_err());
    }

    #[test]
    fn chunks_never_split_a_character_while_more_can_come() {
        let chunk = |data: &[u8], finished: bool, end: u64| OutputChunk {
            data: data.to_vec(),
            offset: 10,
            window_start: 0,
            end,
            finished,
            lost: 0,
        };
        let euro = "€".as_bytes();
        let m = chunk_record(&chunk(&[b'a', euro[0], euro[1]], false, 13));
        assert_eq!((m["output"].clone(), m["next_offset"].clone()), (json!("a"), json!(11)), "{m:?}");
        let m = chunk_record(&chunk(&[b'a', euro[0], euro[1]], true, 13));
        assert_eq!(m["output_base64"], json!("YeKC"), "ended: the bytes as they are: {m:?}");
        assert_eq!(m["eof"], json!(true));
        let m = chunk_record(&chunk(b"ok", true, 20));
        assert_eq!((m["output"].clone(), m["eof"].clone()), (json!("ok"), json!(false)), "more to read: {m:?}");
    }
}
