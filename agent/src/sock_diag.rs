//! TCP sockets as the kernel's socket diagnostics (`NETLINK_SOCK_DIAG`) describe them,
//! and the process that holds one. Asking netlink is cheap where reading
//! `/proc/net/tcp` is not: that file walks the whole TCP hash table of the host (several
//! milliseconds on a busy one), while a listening-state dump walks only the listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
/// nlmsghdr.
const HEADER: usize = 16;

/// One socket of a reply: its local address and port and its inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Its inode (what `/proc/<pid>/fd/*` links name).
    pub inode: u32,
}

/// Sends one `inet_diag_req_v2` and collects the sockets of the reply.
#[allow(clippy::too_many_arguments)]
fn ask(family: i32, flags: u16, states: u32, ports: (u16, u16), src: [u8; 16], dst: [u8; 16]) -> Option<Vec<Socket>> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .ok()?;
    let mut req = Vec::with_capacity(72);
    req.extend_from_slice(&72u32.to_ne_bytes()); // nlmsg_len
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&flags.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
    req.extend_from_slice(&states.to_ne_bytes());
    req.extend_from_slice(&ports.0.to_be_bytes());
    req.extend_from_slice(&ports.1.to_be_bytes());
    req.extend_from_slice(&src);
    req.extend_from_slice(&dst);
    req.extend_from_slice(&0u32.to_ne_bytes()); // interface
    req.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    rustix::net::send(&fd, &req, rustix::net::SendFlags::empty()).ok()?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let (n, _) = rustix::net::recv(&fd, &mut buf, rustix::net::RecvFlags::empty()).ok()?;
        let mut msgs = buf.get(..n)?;
        if msgs.is_empty() {
            return Some(out);
        }
        while msgs.len() >= HEADER {
            let len = u32::from_ne_bytes(msgs[0..4].try_into().ok()?) as usize;
            let kind = u16::from_ne_bytes(msgs[4..6].try_into().ok()?);
            if len < HEADER || len > msgs.len() {
                return Some(out);
            }
            match kind {
                NLMSG_DONE => return Some(out),
                NLMSG_ERROR => return (!out.is_empty()).then_some(out),
                SOCK_DIAG_BY_FAMILY => out.extend(parse(&msgs[HEADER..len])),
                _ => {}
            }
            if flags & NLM_F_DUMP == 0 {
                return Some(out);
            }
            msgs = msgs.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        }
    }
}

/// An `inet_diag_msg`: family, state, timer, retrans (4), id (sport, dport, src[16],
/// dst[16], if, cookie: 48), expires, rqueue, wqueue, uid (16), inode.
fn parse(m: &[u8]) -> Option<Socket> {
    let port = u16::from_be_bytes(m.get(4..6)?.try_into().ok()?);
    let src: [u8; 16] = m.get(8..24)?.try_into().ok()?;
    let address = match m.first()? {
        f if i32::from(*f) == libc::AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        _ => IpAddr::V6(Ipv6Addr::from(src)),
    };
    let inode = u32::from_ne_bytes(m.get(68..72)?.try_into().ok()?);
    Some(Socket { address, port, inode })
}

/// Every listening TCP socket of this network namespace (IPv4 and IPv6); `None` when
/// the kernel could not be asked.
pub fn listening() -> Option<Vec<Socket>> {
    let mut all = ask(libc::AF_INET, NLM_F_REQUEST | NLM_F_DUMP, 1 << TCP_LISTEN, (0, 0), [0; 16], [0; 16])?;
    all.extend(ask(libc::AF_INET6, NLM_F_REQUEST | NLM_F_DUMP, 1 << TCP_LISTEN, (0, 0), [0; 16], [0; 16])?);
    Some(all)
}

/// The inode of the loopback TCP connection from `port` to `remote_port` (one exact
/// lookup).
pub fn loopback_connection_inode(port: u16, remote_port: u16) -> Option<u32> {
    let loopback = [127u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let found = ask(libc::AF_INET, NLM_F_REQUEST, u32::MAX, (port, remote_port), loopback, loopback)?;
    found.first().map(|s| s.inode).filter(|i| *i != 0)
}

/// The process (pid, name) with an fd on the socket `inode`, other than the agent
/// itself and init; `None` when none can be told (it exited, its fds are not readable).
pub fn owner(inode: u32) -> Option<(u32, String)> {
    let want = format!("socket:[{inode}]");
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me || pid == 1 {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str())) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let name: String =
                comm.trim().chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).take(32).collect();
            return Some((pid, if name.is_empty() { "-".into() } else { name }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listeners_and_their_owner_but_not_the_agent_itself() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0");
        let all = listening().expect("sock_diag answers");
        let p4 = v4.local_addr().unwrap().port();
        let s = all.iter().find(|s| s.port == p4).expect("the v4 listener");
        assert_eq!(s.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(s.inode != 0);
        if let Ok(v6) = v6 {
            let p6 = v6.local_addr().unwrap().port();
            assert!(all.iter().any(|s| s.port == p6 && s.address == IpAddr::V6(Ipv6Addr::LOCALHOST)), "{all:?}");
        }
        assert_eq!(owner(s.inode), None, "the process asking is never the owner");
    }

    #[test]
    fn a_connection_is_found_by_its_ports() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let local = c.local_addr().unwrap().port();
        assert!(loopback_connection_inode(local, port).is_some());
        assert_eq!(loopback_connection_inode(local, port.wrapping_add(1).max(1)), None);
    }
}
