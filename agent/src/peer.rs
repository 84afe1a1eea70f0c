//! Trusted code reaching the session's agent: the egress enforcer on the host, through
//! the shared dir the container can write (the socket opened without following a link
//! planted there, and its listener checked to run this same binary), and `bridge` in the
//! container, through the agent's abstract socket, which nothing in the session can take.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use sandbox_proto::layout;
use tokio::net::UnixStream;

/// Connects to socket `name` in `dir` (neither followed through a link), refusing a
/// listener that does not run this binary (`PermissionDenied`).
pub async fn connect_own(dir: &Path, name: &str) -> std::io::Result<UnixStream> {
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    let dir_fd =
        rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let sock = rustix::fs::openat(&dir_fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    if FileType::from_raw_mode(rustix::fs::fstat(&sock)?.st_mode) != FileType::Socket {
        return Err(refuse(format!("{name} in {} is not a socket", dir.display())));
    }
    let stream = UnixStream::connect(format!("/proc/self/fd/{}", sock.as_raw_fd())).await?;
    drop(sock);
    let pid = stream.peer_cred()?.pid().ok_or_else(|| refuse("the listener's process is unknown".into()))?;
    let peer = std::fs::metadata(format!("/proc/{pid}/exe"))
        .map_err(|e| refuse(format!("cannot see what the listener (pid {pid}) runs: {e}")))?;
    let me = std::fs::metadata("/proc/self/exe")?;
    if (peer.dev(), peer.ino()) != (me.dev(), me.ino()) {
        return Err(refuse(format!("the process listening on {name} (pid {pid}) is not the session's agent")));
    }
    Ok(stream)
}

/// The agent's abstract bridge socket ([`layout::BRIDGE_NAME`]) in this network
/// namespace: not a path in the shared dir, which the session could replace (and a
/// process of the session could not be told apart from the agent there: the agent is
/// not dumpable, so its `/proc/<pid>/exe` cannot be read from inside).
fn connect_bridge_socket() -> std::io::Result<tokio::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(layout::BRIDGE_NAME.as_bytes())?;
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}

/// `sandbox-agent bridge`: the agent protocol over this process's stdin and stdout, for
/// a host that reaches the container only through its engine (`podman exec -i <ctr>
/// /.sandbox-agent bridge`): connects to the agent's bridge socket, then copies bytes
/// both ways until either side ends. Made non-dumpable first, so code in the session
/// cannot ptrace it to read or inject into the host's stream.
pub fn bridge(args: &[String]) -> std::process::ExitCode {
    use std::process::ExitCode;
    if !args.is_empty() {
        eprintln!("sandbox-agent bridge: takes no arguments");
        return ExitCode::from(2);
    }
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        eprintln!("sandbox-agent bridge: cannot make itself non-dumpable: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sandbox-agent bridge: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let mut agent = connect_bridge_socket()?;
        let mut host = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
        tokio::io::copy_bidirectional(&mut host, &mut agent).await.map(|_| ())
    });
    // stdin's reader thread may still block: leave without waiting for it.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox-agent bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
