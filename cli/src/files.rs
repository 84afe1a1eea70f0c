//! `file read|write|ls`: files by their path inside the container, streamed (a large file
//! never sits in memory whole).

use sandbox_core::{Error, FileInfo, FileKind, Sandbox};
use serde_json::{Value, json};

use crate::Done;
use crate::args::FileCommand;
use crate::output::{Out, time};

/// A directory entry as a row of `file ls` (and of the MCP server's `file_list`).
pub fn file_row(f: &FileInfo) -> Value {
    let kind = match f.kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        _ => "other",
    };
    json!({"name": f.name, "kind": kind, "size": f.size, "mode": format!("{:o}", f.mode),
        "modified": time(f.modified), "target": f.target})
}

/// `sandbox file ...`.
pub async fn file(sandbox: &Sandbox, c: FileCommand, out: Out) -> Result<Done, Error> {
    match c {
        FileCommand::Read { session, path } => {
            let s = sandbox.attach(&session).await?;
            let mut stdout = tokio::io::stdout();
            s.read_file_to(&path, &mut stdout).await?;
            tokio::io::AsyncWriteExt::flush(&mut stdout).await.map_err(|e| Error::io("writing stdout", e))?;
        }
        FileCommand::Write { session, path, mode } => {
            let s = sandbox.attach(&session).await?;
            let written = s.write_file_from(&path, tokio::io::stdin(), mode).await?;
            out.note(&format!("wrote {written} bytes to {path}"));
        }
        FileCommand::Ls { session, path } => {
            let s = sandbox.attach(&session).await?;
            let rows: Vec<Value> = s.list_dir(&path).await?.iter().map(file_row).collect();
            out.rows(&rows, &["name", "kind", "size", "mode", "modified"]);
        }
    }
    Ok(Done::Ok)
}
