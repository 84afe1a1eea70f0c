//! The layout of a session's control dir: the names both sides use for what the agent
//! leaves there. Defined once here so the agent (which writes) and the host (which reads,
//! treating everything as hostile) cannot drift apart.
//!
//! On the host a session's control dir is private (0700, never mounted): podman runs with
//! it as its working directory, so conmon's `oom` marker lands there. Only its
//! [`SHARED_DIR`] subdirectory is mounted into the container, at [`CONTAINER_DIR`]; the
//! code in the container can write anything into that one.

/// Subdirectory of the host control dir that is mounted into the container.
pub const SHARED_DIR: &str = "shared";
/// Where [`SHARED_DIR`] is mounted inside the container (not under `/run`, which
/// `--init` uses).
pub const CONTAINER_DIR: &str = "/.sandbox";
/// The abstract unix socket (in the container's own network namespace) on which the
/// agent also listens, for its `bridge`: bound before any other process of the session
/// exists, and an abstract name cannot be taken over while its socket is open, so
/// nothing in the session can stand in for the agent there (unlike a path in the
/// writable shared dir).
pub const BRIDGE_NAME: &str = "sandbox-agent-bridge";
/// The agent's socket, in the shared dir.
pub const SOCKET: &str = "agent.sock";
/// File the agent holds a shared lock on while it lives (a live session is detectable
/// without asking the engine), in the shared dir.
pub const LOCK: &str = "agent.lock";
/// Why the agent stopped on its own (e.g. the idle timeout), in the shared dir.
pub const EXIT_REASON: &str = "agent.exit";
/// Directory of task spools (one subdirectory per task id), in the shared dir.
pub const TASKS: &str = "tasks";
/// Directory of terminal spools (one subdirectory per terminal id), in the shared dir.
pub const TERMINALS: &str = "terminals";
/// A task's or terminal's metadata (JSON), in its spool directory.
pub const META: &str = "meta.json";
/// A task's output spool (stdout and stderr interleaved), in its spool directory.
pub const TASK_MERGED: &str = "merged";
/// A task's stdout spool, in its spool directory.
pub const TASK_STDOUT: &str = "stdout";
/// A task's stderr spool, in its spool directory.
pub const TASK_STDERR: &str = "stderr";
/// A terminal's output spool (its scrollback), in its spool directory.
pub const TERMINAL_OUT: &str = "out";
/// conmon's marker of an out-of-memory kill, in the host-private control dir.
pub const OOM_MARKER: &str = "oom";
/// Written by a stop (from any process) before the container is removed, in the
/// host-private control dir: a reader whose connection drops then says "stopped", not
/// "lost".
pub const STOP_MARKER: &str = "stopping";
/// The container's main process id as podman wrote it (`--pidfile`), in the
/// host-private control dir.
pub const PID_FILE: &str = "container.pid";
/// The network isolation rules (`iptables-restore` input) while they are installed, in
/// the host-private control dir.
pub const RULES_V4: &str = "rules.v4";
/// The IPv6 network isolation rules (`ip6tables-restore` input), in the host-private
/// control dir.
pub const RULES_V6: &str = "rules.v6";
/// The egress enforcer's socket, in the shared dir: the agent's proxy relays each
/// connection it accepts to it (whoever connects gets the same policy).
pub const EGRESS_SOCKET: &str = "egress.sock";
/// The session's egress policy (JSON, [`crate::egress::EgressPolicy`]) the enforcer
/// applies, in the host-private control dir; replaced whole to change it live.
pub const EGRESS_POLICY: &str = "egress.json";
/// The enforcer's decisions (JSON lines, [`crate::egress::Decision`]), in the
/// host-private control dir.
pub const EGRESS_LOG: &str = "egress.log";
/// The previous decision log once [`EGRESS_LOG`] was rotated, in the host-private
/// control dir.
pub const EGRESS_LOG_OLD: &str = "egress.log.1";
/// The enforcer's process id, in the host-private control dir.
pub const ENFORCER_PID: &str = "enforcer.pid";
/// What the enforcer wrote to stderr (why it could not start), in the host-private
/// control dir.
pub const ENFORCER_ERR: &str = "enforcer.err";

/// The agent's port-forwarding socket, in the shared dir: the enforcer connects to it
/// for each connection to a forwarded port on the host, sends the port as a decimal
/// line, and the agent connects to that port on the container's loopback.
pub const FORWARD_SOCKET: &str = "forward.sock";
/// The ports forwarded from the host's loopback into an egress session (one decimal
/// port per line), in the host-private control dir.
pub const FORWARD_PORTS: &str = "forward.ports";

/// The session's CA certificate (PEM), made by the enforcer when the policy injects
/// credentials: in the host-private control dir, and copied to the shared dir, where
/// the session's trust bundle is built from it.
pub const EGRESS_CA_CERT: &str = "egress-ca.pem";
/// The session CA's private key (PEM, 0600), in the host-private control dir only.
pub const EGRESS_CA_KEY: &str = "egress-ca.key";
/// The session's trust bundle (the image's CAs and the session CA), in the shared dir;
/// `SSL_CERT_FILE` and friends point at it.
pub const CA_BUNDLE: &str = "ca-bundle.pem";

/// The agent's socket path inside the container.
pub fn container_socket() -> String {
    format!("{CONTAINER_DIR}/{SOCKET}")
}

/// The egress enforcer's socket path inside the container.
pub fn container_egress_socket() -> String {
    format!("{CONTAINER_DIR}/{EGRESS_SOCKET}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        for n in [
            SHARED_DIR,
            SOCKET,
            LOCK,
            EXIT_REASON,
            TASKS,
            TERMINALS,
            META,
            TASK_MERGED,
            TASK_STDOUT,
            TASK_STDERR,
            TERMINAL_OUT,
            OOM_MARKER,
            STOP_MARKER,
            PID_FILE,
            RULES_V4,
            RULES_V6,
            EGRESS_SOCKET,
            EGRESS_POLICY,
            EGRESS_LOG,
            ENFORCER_PID,
            EGRESS_LOG_OLD,
            ENFORCER_ERR,
            FORWARD_SOCKET,
            FORWARD_PORTS,
            EGRESS_CA_CERT,
            EGRESS_CA_KEY,
            CA_BUNDLE,
        ] {
            assert!(!n.is_empty() && !n.contains('/') && n != "." && n != "..", "{n}");
        }
        assert_eq!(container_socket(), "/.sandbox/agent.sock");
    }
}
