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

/// Most bytes of the port line the forwarding socket reads.
const MAX_PORT_LINE: usize = 8;

/// Binds the forwarding socket (as the control socket is bound: under a temporary name,
/// then renamed) and returns the task that serves it: each connection names a port on
/// its first line; the agent connects to it on the container's loopback, answers `ok`
/// (or `err <why>`) and carries the bytes.
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

async fn forward(mut host: UnixStream) {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let read = async {
        let mut b = [0u8; 1];
        while line.len() <= MAX_PORT_LINE {
            if host.read(&mut b).await.ok()? == 0 {
                return None;
            }
            if b[0] == b'\n' {
                return std::str::from_utf8(&line).ok()?.parse::<u16>().ok().filter(|p| *p > 0);
            }
            line.push(b[0]);
        }
        None
    };
    let Ok(Some(port)) = tokio::time::timeout(std::time::Duration::from_secs(5), read).await else {
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

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
