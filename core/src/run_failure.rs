//! Reading why `podman run` failed: which retry (drop a port, drop the limits) or which
//! typed error it calls for. Pure functions of podman's stderr.

/// The class of a `podman run` failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFailureKind {
    /// A host port could not be bound.
    PortConflict,
    /// The cgroup limits could not be applied.
    Cgroup,
    /// A container with the name exists.
    NameInUse,
    /// The image is not present locally.
    ImageMissing,
    /// Anything else.
    Other,
}

/// Classifies podman's stderr.
pub fn classify(stderr: &str) -> RunFailureKind {
    let lc = stderr.to_lowercase();
    if lc.contains("is already in use") && lc.contains("name") {
        RunFailureKind::NameInUse
    } else if lc.contains("image not known")
        || lc.contains("no such image")
        || lc.contains("unable to find")
        || lc.contains("image not found")
    {
        RunFailureKind::ImageMissing
    } else if is_port_conflict(stderr) {
        RunFailureKind::PortConflict
    } else if lc.contains("cgroup") {
        RunFailureKind::Cgroup
    } else {
        RunFailureKind::Other
    }
}

/// Whether podman's stderr says a host port could not be bound.
pub fn is_port_conflict(stderr: &str) -> bool {
    let lc = stderr.to_lowercase();
    lc.contains("port is already allocated")
        || lc.contains("address already in use")
        || lc.contains("bind: address")
        || lc.contains("rootlessport")
        || lc.contains("proxy already running")
        || lc.contains("cannot listen on the tcp port")
}

/// What to do after a port conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortDecision {
    /// Drop this port and keep the others.
    Drop(u16),
    /// The message names none of our ports: drop them all.
    DropAll,
}

/// Finds which of `published` the message is about: the first `:<digits>` in the
/// message that is one of our ports (e.g. `listen tcp4 127.0.0.1:3000: bind: ...`).
pub fn conflicting_port(stderr: &str, published: &[u16]) -> Option<u16> {
    let b = stderr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > start
                && j - start <= 5
                && let Ok(n) = stderr[start..j].parse::<u16>()
                && published.contains(&n)
            {
                return Some(n);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// Decides the retry after a conflict.
pub fn decide(stderr: &str, published: &[u16]) -> PortDecision {
    match conflicting_port(stderr, published) {
        Some(p) => PortDecision::Drop(p),
        None => PortDecision::DropAll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_messages_are_recognised() {
        for msg in [
            "Error: something went wrong with the request: \"proxy already running\\n\"",
            "Error: rootlessport listen tcp 127.0.0.1:3000: bind: address already in use",
            "Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:18090: bind: address already in use",
            "port is already allocated",
        ] {
            assert!(is_port_conflict(msg), "{msg}");
        }
        assert!(!is_port_conflict("Error: localhost/x: image not known"));
    }

    #[test]
    fn the_conflicting_port_is_identified_among_ours() {
        let ours = [3000, 18090];
        assert_eq!(
            conflicting_port(
                "Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:18090: bind: address already in use",
                &ours
            ),
            Some(18090)
        );
        assert_eq!(
            conflicting_port("rootlessport listen tcp 127.0.0.1:3000: bind: address already in use", &ours),
            Some(3000)
        );
        // A port number that is not ours (e.g. inside an address) is skipped.
        assert_eq!(conflicting_port("dial 10.0.0.1:8080 failed; 127.0.0.1:3000 in use", &ours), Some(3000));
        assert_eq!(conflicting_port("proxy already running", &ours), None);
        assert_eq!(conflicting_port("x:99999999 y:", &ours), None);
    }

    #[test]
    fn failures_are_classified() {
        use RunFailureKind::*;
        let cases = [
            (
                "Error: creating container storage: the container name \"sandbox-a\" is already in use by abc. You have to remove that container to be able to reuse that name: that name is already in use",
                NameInUse,
            ),
            ("Error: localhost/nope:latest: image not known", ImageMissing),
            ("Error: rootlessport listen tcp 127.0.0.1:3000: bind: address already in use", PortConflict),
            ("Error: runc: container_linux.go: cannot set memory limit: cgroup v1 memory controller missing", Cgroup),
            ("Error: OCI runtime error: something else", Other),
        ];
        for (msg, kind) in cases {
            assert_eq!(classify(msg), kind, "{msg}");
        }
    }

    #[test]
    fn retry_decisions() {
        assert_eq!(
            decide("listen tcp 127.0.0.1:3000: bind: address already in use", &[3000, 4000]),
            PortDecision::Drop(3000)
        );
        assert_eq!(decide("proxy already running", &[3000, 4000]), PortDecision::DropAll);
    }
}
