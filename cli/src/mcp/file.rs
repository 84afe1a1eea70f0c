//! `file_read`, `file_write`, `file_list`: files by their path inside the container
//! (relative paths are relative to the session's working dir).

use std::pin::Pin;
use std::task::{Context, Poll};

use sandbox_core::Error;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWrite;

use super::state::State;
use super::tool::{ToolDef, byte_limit, bytes_field, input_bytes, schema};
use crate::files::file_row;

/// Bytes of a file returned when the call does not say.
const DEFAULT_FILE_READ: u64 = 1024 * 1024;
/// The most bytes of a file one read returns (a tool call or a resource read).
pub const MAX_FILE_READ: u64 = 16 * 1024 * 1024;

/// `file_read`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadArgs {
    /// Session id.
    pub session: String,
    /// Path inside the container (relative: to the working dir).
    pub path: String,
    /// Most bytes returned (default 1048576, at most 16777216); a longer file is cut
    /// (truncated: true, size: its whole size).
    pub max_bytes: Option<u64>,
}

/// `file_write`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// Session id.
    pub session: String,
    /// Path inside the container (relative: to the working dir). Written atomically;
    /// the directory must exist.
    pub path: String,
    /// The content, as text (at most 16 MiB; make larger files in the session).
    pub content: Option<String>,
    /// The content, as base64 (instead of `content`).
    pub content_base64: Option<String>,
    /// Permission bits in octal, e.g. "644" or "755" (default: 644 for a new file, kept
    /// for an existing one).
    pub mode: Option<String>,
}

/// `file_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Session id.
    pub session: String,
    /// Directory inside the container (default: the working dir).
    pub path: Option<String>,
}

/// The file tools.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "file_read",
        description: "Read a file in a session. Returns content (text, or content_base64 when not UTF-8), \
                      size, truncated.",
        schema: schema::<ReadArgs>,
        read_only: true,
    },
    ToolDef {
        name: "file_write",
        description: "Write a file in a session (atomically: replaced whole), from text or base64.",
        schema: schema::<WriteArgs>,
        read_only: false,
    },
    ToolDef {
        name: "file_list",
        description: "List a directory in a session: name, kind (file, dir, symlink, other), size, mode, \
                      modified.",
        schema: schema::<ListArgs>,
        read_only: true,
    },
];

/// Keeps the first `cap` bytes written to it and counts the rest.
struct CappedSink {
    kept: Vec<u8>,
    cap: usize,
    total: u64,
}

impl AsyncWrite for CappedSink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let room = this.cap.saturating_sub(this.kept.len());
        this.kept.extend_from_slice(&buf[..buf.len().min(room)]);
        this.total += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The first `cap` bytes of the file at `path` in session `session`, and its whole size.
pub async fn read_capped(state: &State, session: &str, path: &str, cap: usize) -> Result<(Vec<u8>, u64), Error> {
    let session = state.session(session).await?;
    let mut sink = CappedSink { kept: Vec::new(), cap, total: 0 };
    session.read_file_to(path, &mut sink).await?;
    Ok((sink.kept, sink.total))
}

/// `file_read`.
pub async fn read(state: &State, a: ReadArgs) -> Result<Value, Error> {
    let cap = byte_limit("max_bytes", a.max_bytes, DEFAULT_FILE_READ, MAX_FILE_READ)? as usize;
    let (content, size) = read_capped(state, &a.session, &a.path, cap).await?;
    let mut m = Map::new();
    bytes_field(&mut m, "content", &content);
    m.insert("size".into(), json!(size));
    m.insert("truncated".into(), json!(size > content.len() as u64));
    Ok(Value::Object(m))
}

/// `file_write`.
pub async fn write(state: &State, a: WriteArgs) -> Result<Value, Error> {
    let bytes = input_bytes("content", a.content, a.content_base64)?
        .ok_or_else(|| Error::invalid("file_write", "give content or content_base64"))?;
    let mode = a.mode.as_deref().map(crate::args::parse_mode).transpose().map_err(|e| Error::invalid("mode", e))?;
    state.session(&a.session).await?.write_file(&a.path, &bytes, mode).await?;
    Ok(json!({"path": a.path, "bytes": bytes.len()}))
}

/// `file_list`.
pub async fn list(state: &State, a: ListArgs) -> Result<Value, Error> {
    let session = state.session(&a.session).await?;
    let entries: Vec<Value> = session.list_dir(a.path.as_deref().unwrap_or(".")).await?.iter().map(file_row).collect();
    Ok(json!({"entries": entries}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_sink_keeps_the_cap_and_counts_all() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut sink = CappedSink { kept: Vec::new(), cap: 4, total: 0 };
        rt.block_on(async {
            sink.write_all(b"abc").await.unwrap();
            sink.write_all(b"defgh").await.unwrap();
        });
        assert_eq!((sink.kept.as_slice(), sink.total), (&b"abcd"[..], 8));
    }
}
