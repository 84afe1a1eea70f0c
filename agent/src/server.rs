//! Listens on the control socket and hands each connection to [`crate::conn`].

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use sandbox_proto::layout;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::journal;
use crate::state::AgentState;
use sandbox_proto::events::{EventAction, SessionEvent};

/// Serves until SIGTERM/SIGINT, then kills every process group it started.
pub async fn serve(opts: crate::Serve) -> std::io::Result<()> {
    let crate::Serve {
        socket,
        idle: idle_timeout,
        egress_proxy,
        watch,
        ignore,
        sample_interval,
        resources_from_proc,
        bridge,
    } = opts;
    if resources_from_proc {
        crate::resources::ignore_cgroup();
    }
    journal::record(SessionEvent::lifecycle(EventAction::Started, None));
    // A socket left by a previous agent of this container would make bind fail.
    match std::fs::symlink_metadata(&socket) {
        Ok(_) => std::fs::remove_file(&socket)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // The proxy port is bound before the socket appears, so it is there when the host
    // sees the agent ready.
    if let Some(port) = egress_proxy {
        let dir = socket.parent().unwrap_or(std::path::Path::new("."));
        tokio::spawn(crate::egress_relay::bind(port, dir.join(layout::EGRESS_SOCKET)).await?);
        tokio::spawn(crate::egress_relay::bind_forward(dir.join(layout::FORWARD_SOCKET)).await?);
    }
    // The working dir is watched before the socket appears: a change made once the host
    // sees the session ready is never missed.
    let watcher = match crate::watcher::Watcher::start(watch, ignore) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("sandbox-agent: cannot watch file changes: {e}");
            None
        }
    };
    // The bridge's socket too: bound while this is the session's only process.
    let bridge = bridge.as_deref().map(bind_abstract).transpose()?;
    let tmp = socket.with_extension("sock.tmp");
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    // Appear under the final name only when ready, so a client never sees a dead path.
    std::fs::rename(&tmp, &socket)?;

    // Hold a shared lock while alive: the host sees a live session without asking podman.
    let _alive = hold_lock(&socket)?;

    let control_dir = socket.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let mut state = AgentState::new(control_dir.clone());
    state.watcher = watcher;
    let state = Arc::new(state);
    tokio::spawn(crate::ports::run());
    tokio::spawn(crate::resources::run(sample_interval));
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut idle_check = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            accepted = listener.accept() => serve_one(accepted, &state, "control").await,
            accepted = accept_on(bridge.as_ref()) => serve_one(accepted, &state, "bridge").await,
            _ = term.recv() => {
                journal::record(SessionEvent::lifecycle(EventAction::Stopping, Some("SIGTERM".into())));
                break;
            }
            _ = int.recv() => {
                journal::record(SessionEvent::lifecycle(EventAction::Stopping, Some("SIGINT".into())));
                break;
            }
            _ = idle_check.tick(), if idle_timeout.is_some() => {
                let limit = idle_timeout.unwrap_or_default();
                if state.idle_for() >= limit {
                    let why = format!("stopped after {} s without calls (idle timeout)\n", limit.as_secs());
                    journal::record(SessionEvent::lifecycle(EventAction::Stopping, Some(why.trim_end().into())));
                    let _ = std::fs::write(control_dir.join(layout::EXIT_REASON), why);
                    break;
                }
            }
        }
    }
    state.groups.kill_all();
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// A listener on the abstract unix socket `name` (see [`layout::BRIDGE_NAME`]).
fn bind_abstract(name: &str) -> std::io::Result<UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// Serves an accepted connection in a task of its own; after a failed accept (out of
/// descriptors), waits a moment before the next.
async fn serve_one(
    accepted: std::io::Result<(tokio::net::UnixStream, tokio::net::unix::SocketAddr)>,
    state: &Arc<AgentState>,
    socket: &str,
) {
    match accepted {
        // A bridge's connection: its process is a carrier while it lasts.
        Ok((stream, _)) if socket == "bridge" => {
            let carrier = stream.peer_cred().ok().and_then(|c| c.pid()).and_then(|p| u32::try_from(p).ok());
            tokio::spawn(crate::conn::handle(stream, state.clone(), carrier));
        }
        Ok((stream, _)) => {
            tokio::spawn(crate::conn::handle(stream, state.clone(), None));
        }
        Err(e) => {
            eprintln!("sandbox-agent: accept on the {socket} socket failed: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// The next connection on `listener`; never, without one.
async fn accept_on(
    listener: Option<&UnixListener>,
) -> std::io::Result<(tokio::net::UnixStream, tokio::net::unix::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn hold_lock(socket: &std::path::Path) -> std::io::Result<std::fs::File> {
    let dir = socket.parent().unwrap_or(std::path::Path::new("."));
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(layout::LOCK))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared)?;
    Ok(f)
}
