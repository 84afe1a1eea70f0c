//! File operations in the session, with paths resolved inside the container as its
//! processes see them. Large files stream in chunks: neither side holds a whole file.

use std::time::SystemTime;

use sandbox_proto::{FileKind as WireKind, Reply, Request};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::agent_client::Incoming;
use crate::error::{Error, Result};
use crate::session::unexpected;
use crate::session::{Session, agent_error_for};

/// Kind of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Device, fifo or socket.
    Other,
}

/// A filesystem entry as the container sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// Name (last path component; invalid UTF-8 replaced).
    pub name: String,
    /// Kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Last modification.
    pub modified: SystemTime,
    /// Where a symlink points.
    pub target: Option<String>,
}

impl From<sandbox_proto::FileInfo> for FileInfo {
    fn from(f: sandbox_proto::FileInfo) -> Self {
        let modified = if f.modified_ms >= 0 {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(f.modified_ms as u64)
        } else {
            SystemTime::UNIX_EPOCH - std::time::Duration::from_millis(f.modified_ms.unsigned_abs())
        };
        FileInfo {
            name: f.name,
            kind: match f.kind {
                WireKind::File => FileKind::File,
                WireKind::Dir => FileKind::Dir,
                WireKind::Symlink => FileKind::Symlink,
                WireKind::Other => FileKind::Other,
            },
            size: f.size,
            mode: f.mode,
            modified,
            target: f.target,
        }
    }
}

/// Output credit granted for file reads: the agent sends at most this much ahead.
const READ_WINDOW: u64 = 4 * 1024 * 1024;
const WRITE_CHUNK: usize = 256 * 1024;

impl Session {
    /// Reads a whole file.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_file_to(path, &mut out).await?;
        Ok(out)
    }

    /// Streams a file into `sink`, holding at most a few MiB in memory however big the
    /// file is. Returns the bytes copied. When the connection drops while the agent
    /// lives on (a transport failed), the read goes on from where it stopped on a new
    /// one (up to three drops in a row without progress), if the file is still the one
    /// it began with.
    pub async fn read_file_to<W: AsyncWrite + Unpin>(&self, path: &str, sink: &mut W) -> Result<u64> {
        let mut copied = 0u64;
        let mut stamp = None;
        let mut drops = 0;
        loop {
            // After a dropped connection, the read goes on from what the sink has, if the
            // file is still the one it began with (the agent checks its stamp).
            let req = Request::ReadFile {
                path: path.into(),
                window: Some(READ_WINDOW),
                offset: Some(copied),
                stamp: if copied > 0 { stamp.clone() } else { None },
            };
            req.validate()?;
            let before = copied;
            let copying = match self.send(&req).await {
                Ok(Ok(call)) => self.copy_file(path, call, sink, &mut copied, &mut stamp).await,
                Ok(Err(e)) => return Err(e),
                Err(why) => Err(why),
            };
            match copying {
                Ok(done) => break done?,
                // A read that got somewhere before it dropped starts its count afresh.
                Err(why) => {
                    if copied > 0 && stamp.is_none() {
                        // (An agent that does not say what it read: its file cannot be
                        // checked, so the read is not resumed.)
                        return Err(self.lost(why).await);
                    }
                    if copied > before {
                        drops = 0;
                    }
                    self.again_after(&mut drops, why).await?
                }
            }
        }
        sink.flush().await.map_err(|e| Error::io(format!("flushing {path}"), e))?;
        Ok(copied)
    }

    /// Copies what a file read sends into `sink`, counting in `copied` and keeping the
    /// file's stamp in `stamp`: done (or an error), or why the connection dropped first.
    async fn copy_file<W: AsyncWrite + Unpin>(
        &self,
        path: &str,
        mut call: crate::agent_client::Call,
        sink: &mut W,
        copied: &mut u64,
        stamp: &mut Option<String>,
    ) -> std::result::Result<Result<()>, String> {
        let sender = call.sender();
        loop {
            let next = call.next().await;
            if stamp.is_none()
                && let Some(sandbox_proto::Event::FileStamp { stamp: s }) = call.said()
            {
                *stamp = Some(s);
            }
            match next {
                Incoming::Stdout(b) => {
                    if let Err(e) = sink.write_all(&b).await {
                        return Ok(Err(Error::io(format!("writing {path} to the sink"), e)));
                    }
                    *copied += b.len() as u64;
                    // (A credit that cannot go: the connection dropped, which the next
                    // frame says.)
                    let _ = sender.credit(b.len() as u64).await;
                }
                Incoming::Stderr(_) => {}
                Incoming::Reply(Reply::Done { .. }) => return Ok(Ok(())),
                Incoming::Reply(Reply::Error(e)) => return Ok(Err(agent_error_for("file", e))),
                Incoming::Reply(other) => return Ok(Err(unexpected(&other))),
                Incoming::Lost(why) => return Err(why),
            }
        }
    }

    /// Writes a file atomically (a temporary file in the same directory, renamed over
    /// the target), with `mode` (default 0644, or the replaced file's mode).
    pub async fn write_file(&self, path: &str, bytes: &[u8], mode: Option<u32>) -> Result<()> {
        self.write_file_from(path, bytes, mode).await.map(|_| ())
    }

    /// Writes a file atomically from a reader, streaming in chunks. Returns the bytes
    /// written.
    pub async fn write_file_from<R: AsyncRead + Unpin>(
        &self,
        path: &str,
        mut source: R,
        mode: Option<u32>,
    ) -> Result<u64> {
        let mut call = self.begin(&Request::WriteFile { path: path.into(), mode }).await?;
        let sender = call.sender();
        let feed = async {
            let mut buf = vec![0u8; WRITE_CHUNK];
            loop {
                let n = source.read(&mut buf).await.map_err(|e| Error::io(format!("reading data for {path}"), e))?;
                if sender.send_stdin(&buf[..n]).await.is_err() || n == 0 {
                    return Ok::<(), Error>(());
                }
            }
        };
        let wait = async {
            loop {
                match call.next().await {
                    Incoming::Reply(Reply::Done { bytes }) => return Ok(bytes),
                    Incoming::Reply(Reply::Error(e)) => return Err(agent_error_for("file", e)),
                    Incoming::Reply(other) => return Err(unexpected(&other)),
                    Incoming::Lost(why) => return Err(self.lost(why).await),
                    Incoming::Stdout(_) | Incoming::Stderr(_) => {}
                }
            }
        };
        let mut feed = std::pin::pin!(feed);
        let mut wait = std::pin::pin!(wait);
        let mut fed = false;
        loop {
            tokio::select! {
                r = &mut wait => return r,
                r = &mut feed, if !fed => {
                    r?;
                    fed = true;
                }
            }
        }
    }

    /// Lists a directory, sorted by name.
    pub async fn list_dir(&self, path: &str) -> Result<Vec<FileInfo>> {
        match self.call("file", &Request::ListDir { path: path.into() }).await? {
            (_, Reply::Files { entries }) => Ok(entries.into_iter().map(Into::into).collect()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Describes a path (a symlink itself, not its target).
    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        match self.call("file", &Request::Stat { path: path.into() }).await? {
            (_, Reply::File(f)) => Ok(f.into()),
            (_, other) => Err(unexpected(&other)),
        }
    }

    /// Removes a file, symlink or empty directory; with `recursive`, a directory and
    /// everything in it.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<()> {
        self.call("file", &Request::Remove { path: path.into(), recursive }).await.map(|_| ())
    }
}
