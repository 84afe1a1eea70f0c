//! How the library reaches a session's agent. One protocol, two carriers:
//!
//! - `socket` (the default): the unix socket in the session's control dir, opened
//!   without following a link the container planted and checked to be served by the
//!   agent binary ([`control_dir::connect`]).
//! - `exec`: the stdin and stdout of one long-lived engine exec per connection,
//!   `podman exec --interactive <container> /.sandbox-agent bridge`; the bridge, inside,
//!   makes the same checks on the agent's socket before it relays a byte. It is the way
//!   to a container whose control dir the host cannot open (an engine on another host);
//!   a connection costs an exec, a call then costs the same round trip through the
//!   bridge.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::agent_client::AgentStream;
use crate::control_dir;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::run_args::CONTAINER_AGENT_PATH;

/// What carries the connection to a session's agent (config `transport`,
/// `SANDBOX_TRANSPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The unix socket in the session's control dir.
    #[default]
    Socket,
    /// The agent's `bridge`, run by one engine exec per connection.
    Exec,
}

impl Transport {
    /// Its name in the config: `socket` or `exec`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Socket => "socket",
            Transport::Exec => "exec",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Transport {
    type Err = Error;

    fn from_str(s: &str) -> Result<Transport> {
        match s.trim() {
            "socket" => Ok(Transport::Socket),
            "exec" => Ok(Transport::Exec),
            other => Err(Error::invalid("transport", format!("{other:?} is not socket or exec"))),
        }
    }
}

/// Where a session's agent is: its container, its control dir and the agent binary it
/// runs.
pub(crate) struct AgentPlace<'a> {
    /// The container's name.
    pub container: &'a str,
    /// The host control dir.
    pub control: &'a Path,
    /// The host path of the agent binary (what the socket's listener must run).
    pub agent: &'a Path,
}

/// A new connection to the agent at `place`, carried as `transport` says.
pub(crate) async fn connect(
    transport: Transport,
    engine: &dyn Engine,
    place: &AgentPlace<'_>,
) -> std::io::Result<AgentStream> {
    match transport {
        Transport::Socket => control_dir::connect(place.control, place.agent).await.map(AgentStream::from),
        Transport::Exec => {
            let child = engine.exec_piped(place.container, &[CONTAINER_AGENT_PATH, "bridge"])?;
            AgentStream::over_child(child)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for t in [Transport::Socket, Transport::Exec] {
            assert_eq!(t.name().parse::<Transport>().unwrap(), t);
        }
        let e = "ssh".parse::<Transport>().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("socket or exec"), "{e}");
    }
}
