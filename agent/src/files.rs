//! File operations, with paths resolved inside the container as its processes see them.
//! Reads stream in flow-controlled chunks; writes are atomic (temporary file + rename).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sandbox_proto::{ErrorKind, Event, FileInfo, FileKind, FrameKind, Reply};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::credit;
use crate::outbox::{Inbound, Outbox};

const CHUNK: usize = 256 * 1024;

fn info_of(name: String, path: &Path, meta: &std::fs::Metadata) -> FileInfo {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    let target =
        ft.is_symlink().then(|| std::fs::read_link(path).ok()).flatten().map(|t| t.to_string_lossy().into_owned());
    FileInfo {
        name,
        kind,
        size: meta.len(),
        mode: meta.mode() & 0o7777,
        modified_ms: meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000,
        target,
    }
}

fn name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.to_string_lossy().into_owned())
}

/// Describes a path without following a final symlink.
pub async fn stat(path: String) -> Reply {
    let p = PathBuf::from(&path);
    let res =
        tokio::task::spawn_blocking(move || std::fs::symlink_metadata(&p).map(|m| info_of(name_of(&p), &p, &m))).await;
    match res {
        Ok(Ok(info)) => Reply::File(info),
        Ok(Err(e)) => Reply::io_error(&format!("stat {path}"), &e),
        Err(e) => Reply::error(ErrorKind::Internal, e.to_string()),
    }
}

/// Lists a directory, sorted by name.
pub async fn list_dir(path: String) -> Reply {
    let p = PathBuf::from(&path);
    let res = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<FileInfo>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&p)? {
            let entry = entry?;
            let full = entry.path();
            if let Ok(meta) = std::fs::symlink_metadata(&full) {
                out.push(info_of(entry.file_name().to_string_lossy().into_owned(), &full, &meta));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    })
    .await;
    match res {
        Ok(Ok(entries)) => Reply::Files { entries },
        Ok(Err(e)) => Reply::io_error(&format!("listing {path}"), &e),
        Err(e) => Reply::error(ErrorKind::Internal, e.to_string()),
    }
}

/// Removes a file, symlink, or (empty, or with `recursive`) directory.
pub async fn remove(path: String, recursive: bool) -> Reply {
    let p = PathBuf::from(&path);
    let res = tokio::task::spawn_blocking(move || {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            if recursive { std::fs::remove_dir_all(&p) } else { std::fs::remove_dir(&p) }
        } else {
            std::fs::remove_file(&p)
        }
    })
    .await;
    match res {
        Ok(Ok(())) => Reply::Done { bytes: 0 },
        Ok(Err(e)) => Reply::io_error(&format!("removing {path}"), &e),
        Err(e) => Reply::error(ErrorKind::Internal, e.to_string()),
    }
}

/// Where a file read starts: at `offset`, and (a resumed read) only if the file still
/// has `stamp`.
pub struct ReadFrom {
    /// Bytes into the file.
    pub offset: u64,
    /// The stamp the first read sent.
    pub stamp: Option<String>,
}

/// What identifies a file's content as opened: device, inode, size and modification
/// time (a replaced or changed file has another).
fn file_stamp(m: &std::fs::Metadata) -> String {
    format!(
        "{}:{}:{}:{}",
        m.dev(),
        m.ino(),
        m.size(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
    )
}

/// Streams a file's bytes to the client under flow control, from where `from` says,
/// after an [`Event::FileStamp`] that identifies it.
pub async fn read_file(
    id: u32,
    path: String,
    window: Option<u64>,
    from: ReadFrom,
    outbox: &Outbox,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
) -> Reply {
    let p = PathBuf::from(&path);
    let mut file = match tokio::fs::File::open(&p).await {
        Ok(f) => f,
        Err(e) => return Reply::io_error(&format!("opening {path}"), &e),
    };
    let stamp = match file.metadata().await {
        Ok(m) if m.is_dir() => return Reply::error(ErrorKind::InvalidRequest, format!("{path} is a directory")),
        Err(e) => return Reply::io_error(&format!("reading {path}"), &e),
        Ok(m) => file_stamp(&m),
    };
    if from.stamp.as_ref().is_some_and(|s| *s != stamp) {
        let msg =
            format!("{path} changed since the read began (it is another file now, or was written): read it again");
        return Reply::error(ErrorKind::Io, msg);
    }
    if from.offset > 0
        && let Err(e) = file.seek(std::io::SeekFrom::Start(from.offset)).await
    {
        return Reply::io_error(&format!("reading {path} from byte {}", from.offset), &e);
    }
    let said = serde_json::to_vec(&Event::FileStamp { stamp }).unwrap_or_default();
    if !outbox.send(FrameKind::Event, id, said).await {
        return Reply::cancelled();
    }
    let credit = credit::pool(window);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let want = tokio::select! {
            n = credit::take(&credit, CHUNK) => n,
            msg = inbound.recv() => match msg {
                Some(Inbound::Credit(n)) => { credit::grant(&credit, n); continue; }
                Some(Inbound::Cancel) | None => return Reply::cancelled(),
                Some(_) => continue,
            },
        };
        let n = match file.read(&mut buf[..want]).await {
            Ok(n) => n,
            Err(e) => return Reply::io_error(&format!("reading {path}"), &e),
        };
        credit::refund(&credit, want - n);
        if n == 0 {
            return Reply::Done { bytes: total };
        }
        total += n as u64;
        if !outbox.send(FrameKind::Stdout, id, buf[..n].to_vec()).await {
            return Reply::error(ErrorKind::Internal, "client gone");
        }
    }
}

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(format!(".{name}.{}.sandbox-tmp", crate::ids::new_id("")))
}

/// Writes a file from `Stdin` frames: into a temporary file in the same directory,
/// renamed over the target once complete, so readers never see a partial file.
pub async fn write_file(
    id: u32,
    path: String,
    mode: Option<u32>,
    outbox: &Outbox,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
) -> Reply {
    let target = PathBuf::from(&path);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Reply::error(ErrorKind::InvalidRequest, format!("{path} is a directory"));
    }
    // A replaced file keeps its mode, without setuid/setgid bits (which it could only
    // have had from the host).
    let mode = mode.unwrap_or_else(|| std::fs::metadata(&target).map(|m| m.mode() & 0o1777).unwrap_or(0o644));
    let tmp = temp_path_for(&target);
    let mut file = match tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).await {
        Ok(f) => f,
        Err(e) => return Reply::io_error(&format!("creating {path}"), &e),
    };
    let mut total = 0u64;
    let outcome = loop {
        match inbound.recv().await {
            Some(Inbound::Stdin(bytes)) if bytes.is_empty() => break Ok(()),
            Some(Inbound::Stdin(bytes)) => {
                if let Err(e) = file.write_all(&bytes).await {
                    break Err(Reply::io_error(&format!("writing {path}"), &e));
                }
                total += bytes.len() as u64;
                let ack = serde_json::to_vec(&Event::StdinAck { total }).unwrap_or_default();
                outbox.send(FrameKind::Event, id, ack).await;
            }
            Some(Inbound::Cancel) | None => break Err(Reply::cancelled()),
            Some(_) => {}
        }
    };
    let finish = async {
        outcome?;
        file.flush().await.map_err(|e| Reply::io_error(&format!("writing {path}"), &e))?;
        drop(file);
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .await
            .map_err(|e| Reply::io_error(&format!("setting the mode of {path}"), &e))?;
        tokio::fs::rename(&tmp, &target).await.map_err(|e| Reply::io_error(&format!("replacing {path}"), &e))
    };
    match finish.await {
        Ok(()) => Reply::Done { bytes: total },
        Err(r) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            r
        }
    }
}
