//! Port events: the session's listening TCP sockets, asked of the kernel's socket
//! diagnostics every [`PORT_POLL_MS`], each new one with the program that owns it (found
//! by its socket inode under `/proc/<pid>/fd`). Sockets there when the agent starts (its
//! own egress proxy) are not reported.

use std::collections::HashMap;
use std::time::Duration;

use sandbox_proto::events::{EventAction, EventKind, PORT_POLL_MS, SessionEvent};

use crate::journal::journal;

/// A listening socket: (address, port) -> its inode.
type Listening = HashMap<(String, u16), u64>;

/// What is known of a listener: its owner (pid, program) and whether it was reported.
struct Known {
    pid: Option<u32>,
    program: Option<String>,
    reported: bool,
}

/// Polls until the agent ends, recording `listening` and `closed` events.
pub async fn run() {
    let mut known: HashMap<(String, u16), Known> = HashMap::new();
    let mut first = true;
    let mut tick = tokio::time::interval(Duration::from_millis(PORT_POLL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // One netlink round trip for a handful of listeners: cheaper inline than a hop
        // to a blocking thread.
        let now = listening();
        let mut events = Vec::new();
        for (key, inode) in &now {
            if known.contains_key(key) {
                continue;
            }
            let inode = *inode as u32;
            let owner = tokio::task::spawn_blocking(move || crate::sock_diag::owner(inode)).await.ok().flatten();
            let (pid, program) = owner.map_or((None, None), |(p, c)| (Some(p), Some(c)));
            known.insert(key.clone(), Known { pid, program: program.clone(), reported: !first });
            // Sockets already there when the agent started are the agent's (or were
            // there before anything ran): only later ones are news.
            if !first {
                events.push(port_event(EventAction::Listening, key, pid, program));
            }
        }
        let gone: Vec<(String, u16)> = known.keys().filter(|k| !now.contains_key(*k)).cloned().collect();
        for key in gone {
            if let Some(k) = known.remove(&key)
                && k.reported
            {
                events.push(port_event(EventAction::Closed, &key, k.pid, k.program));
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

/// The listening TCP sockets now (none when the kernel cannot be asked).
fn listening() -> Listening {
    crate::sock_diag::listening()
        .unwrap_or_default()
        .into_iter()
        .map(|s| ((s.address.to_string(), s.port), u64::from(s.inode)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_process_is_seen() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening().contains_key(&("127.0.0.1".to_string(), port)));
        drop(l);
        assert!(!listening().contains_key(&("127.0.0.1".to_string(), port)));
    }
}
