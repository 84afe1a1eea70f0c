//! Listens on the control socket and hands each connection to [`crate::conn`].

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::groups::Groups;

/// Serves until SIGTERM/SIGINT, then kills every process group it started.
pub async fn serve(socket: PathBuf) -> std::io::Result<()> {
    // A socket left by a previous agent of this container would make bind fail.
    match std::fs::symlink_metadata(&socket) {
        Ok(_) => std::fs::remove_file(&socket)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = socket.with_extension("sock.tmp");
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    // Appear under the final name only when ready, so a client never sees a dead path.
    std::fs::rename(&tmp, &socket)?;

    // Hold a shared lock while alive: the host sees a live session without asking podman.
    let _alive = hold_lock(&socket)?;

    let groups = Arc::new(Groups::default());
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(crate::conn::handle(stream, groups.clone()));
                    }
                    Err(e) => {
                        eprintln!("sandbox-agent: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    groups.kill_all();
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

fn hold_lock(socket: &std::path::Path) -> std::io::Result<std::fs::File> {
    let dir = socket.parent().unwrap_or(std::path::Path::new("."));
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("agent.lock"))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared)?;
    Ok(f)
}
