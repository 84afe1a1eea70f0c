//! Port events: the session's listening TCP sockets, read from `/proc/net/tcp{,6}` every
//! [`PORT_POLL_MS`], each new one with the program that owns it (found by its socket
//! inode under `/proc/<pid>/fd`). The agent's own sockets (the egress proxy) are left out.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sandbox_proto::events::{EventAction, EventKind, PORT_POLL_MS, SessionEvent};

use crate::journal::journal;

/// A listening socket: (address, port) -> its inode.
type Listening = HashMap<(String, u16), u64>;

/// Polls until the agent ends, recording `listening` and `closed` events.
pub async fn run() {
    let mut known: HashMap<(String, u16), (Option<u32>, Option<String>)> = HashMap::new();
    let mut first = true;
    let mut tick = tokio::time::interval(Duration::from_millis(PORT_POLL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = tokio::task::spawn_blocking(listening).await.unwrap_or_default();
        let mut events = Vec::new();
        for (key, inode) in &now {
            if known.contains_key(key) {
                continue;
            }
            let owner = owner_of(*inode);
            let own = owner.as_ref().is_some_and(|(pid, _)| *pid == std::process::id());
            if own {
                // Remembered, never reported.
                known.insert(key.clone(), (None, None));
                continue;
            }
            let (pid, program) = owner.map_or((None, None), |(p, c)| (Some(p), Some(c)));
            known.insert(key.clone(), (pid, program.clone()));
            // Sockets already there when the agent started are the agent's (or were
            // there before anything ran): only later ones are news.
            if !first {
                events.push(port_event(EventAction::Listening, key, pid, program));
            }
        }
        let gone: Vec<(String, u16)> = known.keys().filter(|k| !now.contains_key(*k)).cloned().collect();
        for key in gone {
            if let Some((pid, program)) = known.remove(&key)
                && pid.is_some()
            {
                events.push(port_event(EventAction::Closed, &key, pid, program));
            }
        }
        first = false;
        if !events.is_empty() {
            journal().push_all(events);
        }
    }
}

fn port_event(action: EventAction, key: &(String, u16), pid: Option<u32>, command: Option<String>) -> SessionEvent {
    SessionEvent {
        port: Some(key.1),
        address: Some(key.0.clone()),
        pid,
        command,
        ..SessionEvent::new(EventKind::Port, action)
    }
}

/// The listening TCP sockets now.
fn listening() -> Listening {
    let mut out = Listening::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(text.lines().skip(1).filter_map(|l| parse_line(l, v6)));
        }
    }
    out
}

/// One line of `/proc/net/tcp{,6}` when its socket listens: ((address, port), inode).
fn parse_line(line: &str, v6: bool) -> Option<((String, u16), u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    if f.len() < 10 || f[3] != "0A" {
        return None;
    }
    let (addr, port) = f[1].split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = if v6 { parse_v6(addr)?.to_string() } else { parse_v4(addr)?.to_string() };
    Some(((address, port), f[9].parse().ok()?))
}

/// The kernel prints each 32-bit word of the address in host byte order (little-endian
/// on the machines the agent is built for).
fn parse_v4(hex: &str) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(u32::from_str_radix(hex, 16).ok()?.swap_bytes()))
}

fn parse_v6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for w in 0..4 {
        let word = u32::from_str_radix(&hex[w * 8..w * 8 + 8], 16).ok()?.swap_bytes();
        bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

/// The process holding the socket with `inode`, and its name.
fn owner_of(inode: u64) -> Option<(u32, String)> {
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some((pid, comm.trim_end().to_string()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines_only() {
        let v4 = "   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41957 1 0 100 0 0 10 0";
        assert_eq!(parse_line(v4, false), Some((("127.0.0.1".into(), 5173), 41957)));
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(parse_line(&established, false), None);
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0";
        assert_eq!(parse_line(v6, true), Some((("::1".into(), 8080), 5)));
        assert_eq!(parse_line("garbage", false), None);
    }

    #[test]
    fn finds_a_listener_of_this_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let now = listening();
        let inode = now[&("127.0.0.1".to_string(), port)];
        let (pid, _) = owner_of(inode).unwrap();
        assert_eq!(pid, std::process::id());
    }
}
