//! The session's proxy port, inside the container: a loopback listener whose every
//! connection is carried, byte for byte, to the egress enforcer on the host through its
//! socket in the shared control dir. The relay judges nothing (the enforcer does, and
//! treats what comes through as hostile); it only bounds how many connections it holds.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::Semaphore;

/// Most connections relayed at once; beyond it a connection is answered 503 and closed.
pub const MAX_RELAYED: usize = 1024;

/// The buffer a direction of a relayed connection starts with: small, so many idle
/// connections cost little memory.
const FIRST_BUFFER: usize = 8 * 1024;
/// What a direction's buffer grows to once a read fills it (a bulk transfer): 8 KiB
/// reads cost a system call pair each and cap a download near 300 MiB/s here.
pub const RELAY_BUFFER: usize = 256 * 1024;

/// Copies `from` to `to` until `from` ends, then shuts `to` down. The buffer grows from
/// [`FIRST_BUFFER`] to [`RELAY_BUFFER`] the first time a read fills it.
pub async fn pump<R, W>(from: &mut R, to: &mut W) -> std::io::Result<u64>
where
    R: tokio::io::AsyncRead + Unpin + ?Sized,
    W: tokio::io::AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; FIRST_BUFFER];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(total);
        }
        to.write_all(&buf[..n]).await?;
        total += n as u64;
        if n == buf.len() && buf.len() < RELAY_BUFFER {
            buf.resize(RELAY_BUFFER, 0);
        }
    }
}

/// Binds the proxy port (before the agent reports ready, so the port is there when a
/// session starts) and returns the task that serves it.
pub async fn bind(port: u16, enforcer: PathBuf) -> std::io::Result<impl Future<Output = ()>> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    Ok(serve(listener, enforcer))
}

async fn serve(listener: TcpListener, enforcer: PathBuf) {
    let slots = Arc::new(Semaphore::new(MAX_RELAYED));
    loop {
        let client = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                eprintln!("sandbox-agent: proxy accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(client, "503 Service Unavailable", "too many connections through the proxy"));
            continue;
        };
        let enforcer = enforcer.clone();
        tokio::spawn(async move {
            let _slot = slot;
            relay(client, &enforcer).await;
        });
    }
}

async fn relay(client: TcpStream, enforcer: &std::path::Path) {
    let _ = client.set_nodelay(true);
    let port = client.peer_addr().map(|a| a.port()).unwrap_or(0);
    // Who opened it is looked up while the enforcer is reached.
    let (who, up) = tokio::join!(
        async { tokio::task::spawn_blocking(move || owner_of(port)).await.ok().flatten() },
        UnixStream::connect(enforcer)
    );
    match up {
        Ok(mut up) => {
            let line = match who {
                Some((pid, name)) => format!("{} {pid} {name}\n", sandbox_proto::egress::RELAY_PREAMBLE),
                None => format!("{} - -\n", sandbox_proto::egress::RELAY_PREAMBLE),
            };
            if up.write_all(line.as_bytes()).await.is_ok() {
                let _ = crate::zero_copy::splice(&client, &up).await;
            }
        }
        // The enforcer is down: fail closed, with an answer the client can show.
        Err(e) => {
            refuse(client, "502 Bad Gateway", &format!("the session's egress enforcer is not running ({e})")).await
        }
    }
}

/// The process (pid, name) holding the loopback connection whose local port is `port`
/// and whose remote end is the proxy port: its socket inode from the kernel's socket
/// diagnostics (one exact lookup), then the process whose fd is that socket. `None`
/// when it cannot be told (it exited, or its fds are not readable).
fn owner_of(port: u16) -> Option<(u32, String)> {
    crate::sock_diag::owner(crate::sock_diag::loopback_connection_inode(port, sandbox_proto::egress::PROXY_PORT)?)
}

async fn refuse(mut client: TcpStream, status: &str, why: &str) {
    let body = format!("sandbox: {why}\n");
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(reply.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// Most bytes of the first line the forwarding socket reads (a port, or
/// [`DECISIONS_LINE`](sandbox_proto::egress::DECISIONS_LINE)).
const MAX_FIRST_LINE: usize = 16;

/// Binds the forwarding socket (as the control socket is bound: under a temporary name,
/// then renamed) and returns the task that serves it: each connection names a port on
/// its first line; the agent connects to it on the container's loopback, answers `ok`
/// (or `err <why>`) and carries the bytes. The enforcer also delivers its decisions
/// here (see [`decisions`]).
pub async fn bind_forward(socket: PathBuf) -> std::io::Result<impl Future<Output = ()>> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(&socket);
    let tmp = socket.with_extension("sock.tmp");
    let _ = std::fs::remove_file(&tmp);
    let listener = tokio::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &socket)?;
    Ok(async move {
        let slots = Arc::new(Semaphore::new(MAX_RELAYED));
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
            tokio::spawn(async move {
                let _slot = slot;
                forward(conn).await;
            });
        }
    })
}

/// The first line of a forwarding connection, without its newline.
async fn first_line(host: &mut UnixStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let read = async {
        let mut b = [0u8; 1];
        while line.len() <= MAX_FIRST_LINE {
            if host.read(&mut b).await.ok()? == 0 {
                return None;
            }
            if b[0] == b'\n' {
                return String::from_utf8(std::mem::take(&mut line)).ok();
            }
            line.push(b[0]);
        }
        None
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read).await.ok().flatten()
}

async fn forward(mut host: UnixStream) {
    let line = first_line(&mut host).await;
    if line.as_deref() == Some(sandbox_proto::egress::DECISIONS_LINE) {
        return decisions(host).await;
    }
    let Some(port) = line.and_then(|l| l.parse::<u16>().ok()).filter(|p| *p > 0) else {
        let _ = host.write_all(b"err bad port line\n").await;
        return;
    };
    let inside = match TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
        Ok(s) => s,
        Err(_) => match TcpStream::connect((std::net::Ipv6Addr::LOCALHOST, port)).await {
            Ok(s) => s,
            Err(e) => {
                let _ = host
                    .write_all(format!("err nothing listens on port {port} in the session: {e}\n").as_bytes())
                    .await;
                return;
            }
        },
    };
    let _ = inside.set_nodelay(true);
    if host.write_all(b"ok\n").await.is_err() {
        return;
    }
    let _ = crate::zero_copy::splice(&host, &inside).await;
}

/// Whether the peer of `conn` is outside the session: a process of the host has no pid
/// in the session's pid namespace, so the kernel reports 0 for it; every process of the
/// session (in a nested namespace too) has one.
fn from_outside(conn: &UnixStream) -> bool {
    conn.peer_cred().is_ok_and(|c| c.pid() == Some(0))
}

/// The network event of one of the enforcer's decisions (its own time kept).
fn network_event(d: &sandbox_proto::egress::Decision) -> sandbox_proto::events::SessionEvent {
    use sandbox_proto::events::{EventAction, EventKind, SessionEvent};
    let action = if d.allowed { EventAction::Allowed } else { EventAction::Refused };
    let bytes = |n: u64| if d.allowed { Some(n) } else { None };
    SessionEvent {
        time_ms: d.time_ms,
        host: Some(d.host.clone()),
        port: Some(d.port),
        address: d.address.map(|a| a.to_string()),
        command: d.process.clone(),
        reason: d.reason.clone(),
        bytes_in: bytes(d.bytes_in),
        bytes_out: bytes(d.bytes_out),
        ..SessionEvent::new(EventKind::Network, action)
    }
}

/// The enforcer's decisions: one JSON line each, recorded as network events until the
/// enforcer hangs up. Only from outside the session: what a process of the session
/// sends here is refused, so it cannot forge the network events.
async fn decisions(mut host: UnixStream) {
    use sandbox_proto::egress::{Decision, MAX_DECISION_LINE};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    if !from_outside(&host) {
        let _ = host.write_all(b"err decisions come only from the host's enforcer\n").await;
        return;
    }
    if host.write_all(b"ok\n").await.is_err() {
        return;
    }
    let mut reader = tokio::io::BufReader::new(host);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(MAX_DECISION_LINE as u64 + 1);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if line.last() != Some(&b'\n') => return, // too long, or cut off
            Ok(_) => {}
        }
        match serde_json::from_slice::<Decision>(&line) {
            Ok(d) => crate::journal::record(network_event(&d)),
            Err(e) => eprintln!("sandbox-agent: a decision the enforcer sent is not readable: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn decisions_become_network_events() {
        use sandbox_proto::events::{EventAction, EventFilter, EventKind, SessionEvent};
        let d = sandbox_proto::egress::Decision {
            time_ms: 77,
            host: "example.com".into(),
            port: 443,
            address: Some("93.184.216.34".parse().unwrap()),
            via: "connect".into(),
            allowed: true,
            reason: None,
            process: Some("42 curl".into()),
            injected: None,
            bytes_out: 10,
            bytes_in: 2000,
        };
        let e = network_event(&d);
        assert_eq!((e.kind, e.action, e.time_ms), (EventKind::Network, EventAction::Allowed, 77));
        assert_eq!(
            (e.host.as_deref(), e.port, e.address.as_deref()),
            (Some("example.com"), Some(443), Some("93.184.216.34"))
        );
        assert_eq!((e.bytes_in, e.bytes_out, e.command.as_deref()), (Some(2000), Some(10), Some("42 curl")));
        let refused =
            sandbox_proto::egress::Decision { allowed: false, address: None, reason: Some("no rule".into()), ..d };
        let e = network_event(&refused);
        assert_eq!((e.action, e.reason.as_deref()), (EventAction::Refused, Some("no rule")));
        assert_eq!((e.bytes_in, e.bytes_out, e.address.as_deref()), (None, None, None), "a refusal moved no bytes");
        let only = EventFilter { kinds: vec![EventKind::Network], path_prefix: Some("/w".into()) };
        assert!(only.matches(&e), "a path prefix does not filter network events");
        assert!(!only.matches(&SessionEvent::lifecycle(EventAction::Started, None)));
    }

    #[tokio::test]
    async fn decisions_from_inside_the_session_are_refused_and_not_recorded() {
        // A socket pair's peer is this process: a pid the kernel can name, as any
        // process of the session would be.
        let (agent_end, mut sender) = UnixStream::pair().unwrap();
        use sandbox_proto::events::{EventFilter, EventKind, ReadEvents};
        let network = EventFilter { kinds: vec![EventKind::Network], path_prefix: None };
        let read = || ReadEvents { from: Some(1), max: 10_000, wait_ms: None, filter: network.clone() };
        let served = tokio::spawn(decisions(agent_end));
        let forged = r#"{"time_ms":1,"host":"forged.example","port":1,"via":"connect","allowed":true}"#;
        let mut reply = vec![0u8; 128];
        let n = sender.read(&mut reply).await.unwrap();
        let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
        // The agent has hung up: what is sent now goes nowhere.
        let _ = sender.write_all(format!("{forged}\n").as_bytes()).await;
        served.await.unwrap();
        assert!(reply.starts_with("err decisions come only from the host"), "{reply}");
        assert!(!from_outside(&sender));
        let recorded = crate::journal::journal().read_now(&read()).unwrap().events;
        assert!(!recorded.iter().any(|e| e.host.as_deref() == Some("forged.example")), "nothing recorded");
    }

    #[tokio::test]
    async fn pump_carries_every_byte_and_passes_the_end_on() {
        let (mut writer, mut from) = tokio::io::duplex(64 * 1024);
        let (mut to, mut reader) = tokio::io::duplex(64 * 1024);
        let relay = tokio::spawn(async move { pump(&mut from, &mut to).await });
        // More than the first buffer, in odd pieces, so the buffer grows mid-stream.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sent = data.clone();
        tokio::spawn(async move {
            for piece in sent.chunks(12345) {
                writer.write_all(piece).await.unwrap();
            }
            writer.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap(); // ends: the end was passed on
        assert!(got == data);
        assert_eq!(relay.await.unwrap().unwrap(), data.len() as u64);
    }
}
