//! Socket-to-socket relaying without copying through user space: `splice(2)` moves the
//! bytes from one socket into a pipe and from the pipe into the other socket, so a
//! relayed download costs page moves in the kernel rather than two copies per hop.
//! Used where neither side needs to be read (the agent's proxy port, tunnels after their
//! first bytes were checked, forwarded ports); TLS and scrubbed streams use the
//! buffered `pump` of the proxy module.

use std::os::fd::AsFd;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;

/// How much one `splice` call moves at most (and the pipe's size).
const CHUNK: usize = 1024 * 1024;

/// A tokio socket the relay can wait on and splice from or to.
pub trait Socket: AsFd {
    /// Waits until `interest` may be ready.
    fn ready_for(&self, interest: Interest) -> impl Future<Output = std::io::Result<()>>;
    /// Runs `f` if the socket is ready for `interest`, clearing readiness on WouldBlock.
    fn attempt<R>(&self, interest: Interest, f: impl FnOnce() -> std::io::Result<R>) -> std::io::Result<R>;
}

macro_rules! socket {
    ($t:ty) => {
        impl Socket for $t {
            async fn ready_for(&self, interest: Interest) -> std::io::Result<()> {
                self.ready(interest).await.map(|_| ())
            }
            fn attempt<R>(&self, interest: Interest, f: impl FnOnce() -> std::io::Result<R>) -> std::io::Result<R> {
                self.try_io(interest, f)
            }
        }
    };
}
socket!(tokio::net::TcpStream);
socket!(tokio::net::UnixStream);

/// Bytes a direction moves by plain reads and writes before it takes a pipe: most
/// connections are small (a request, an answer) and should not hold two more file
/// descriptors each (a flood of idle connections would run the agent out of them).
const SWITCH: u64 = 256 * 1024;

/// Waits for `interest` and runs `f` until it does not say WouldBlock.
async fn io<S: Socket, R>(s: &S, interest: Interest, mut f: impl FnMut() -> std::io::Result<R>) -> std::io::Result<R> {
    loop {
        s.ready_for(interest).await?;
        match s.attempt(interest, &mut f) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// Moves everything `from` sends to `to` until `from` ends, then shuts `to`'s write side
/// down; returns the bytes moved. The first [`SWITCH`] bytes go through a small buffer,
/// the rest through a pipe with `splice`.
pub async fn copy<F: Socket, T: Socket>(from: &F, to: &T) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut small = vec![0u8; 16 * 1024];
    while total < SWITCH {
        let n = io(from, Interest::READABLE, || rustix::io::read(from.as_fd(), &mut small).map_err(Into::into)).await?;
        if n == 0 {
            let _ = rustix::net::shutdown(to.as_fd(), rustix::net::Shutdown::Write);
            return Ok(total);
        }
        let mut at = 0;
        while at < n {
            at +=
                io(to, Interest::WRITABLE, || rustix::io::write(to.as_fd(), &small[at..n]).map_err(Into::into)).await?;
        }
        total += n as u64;
    }
    drop(small);
    let (pipe_out, pipe_in) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let _ = rustix::pipe::fcntl_setpipe_size(&pipe_in, CHUNK);
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    loop {
        let n = io(from, Interest::READABLE, || {
            rustix::pipe::splice(from.as_fd(), None, &pipe_in, None, CHUNK, flags).map_err(Into::into)
        })
        .await?;
        if n == 0 {
            let _ = rustix::net::shutdown(to.as_fd(), rustix::net::Shutdown::Write);
            return Ok(total);
        }
        let mut left = n;
        while left > 0 {
            let m = io(to, Interest::WRITABLE, || {
                rustix::pipe::splice(&pipe_out, None, to.as_fd(), None, left, flags).map_err(Into::into)
            })
            .await?;
            if m == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            left -= m;
        }
        total += n as u64;
    }
}

/// Both ways at once, until both sides are done; returns (a to b, b to a).
pub async fn splice<A: Socket, B: Socket>(a: &A, b: &B) -> std::io::Result<(u64, u64)> {
    tokio::try_join!(copy(a, b), copy(b, a))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream, UnixStream};

    use super::*;

    #[tokio::test]
    async fn every_byte_crosses_both_ways_and_the_end_is_passed_on() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (relay_tcp, _) = l.accept().await.unwrap();
        let (relay_unix, mut server) = UnixStream::pair().unwrap();
        let relay = tokio::spawn(async move { splice(&relay_tcp, &relay_unix).await });
        let up: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let down: Vec<u8> = (0..3_000_001u32).map(|i| (i * 13 % 241) as u8).collect();
        let (up2, down2) = (up.clone(), down.clone());
        let c = tokio::spawn(async move {
            for piece in up2.chunks(70_001) {
                client.write_all(piece).await.unwrap();
            }
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let s = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            server.write_all(&down2).await.unwrap();
            server.shutdown().await.unwrap();
            got
        });
        assert!(s.await.unwrap() == up, "client to server");
        assert!(c.await.unwrap() == down, "server to client");
        assert_eq!(relay.await.unwrap().unwrap(), (up.len() as u64, down.len() as u64));
    }
}
