//! The server's state, shared by every tool: the sandbox (in the policy's scope), the
//! policy, and the sessions attached so far, kept so a call costs one agent round trip,
//! not a `podman ps`. A session is found only if the server may touch it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rmcp::model::ProgressToken;
use rmcp::{Peer, RoleServer};
use sandbox_core::{Error, Sandbox, Session};

use super::policy::McpPolicy;

/// Where progress notifications of a call go, when the client asked for them.
pub struct Progress {
    /// The client.
    pub peer: Peer<RoleServer>,
    /// The token the client sent with the call.
    pub token: ProgressToken,
}

/// The state every tool works on; cheap to clone.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    sandbox: Sandbox,
    policy: McpPolicy,
    sessions: Mutex<HashMap<String, Session>>,
}

impl State {
    /// The state of a server over `sandbox` (already in the policy's scope) under `policy`.
    pub fn new(sandbox: Sandbox, policy: McpPolicy) -> State {
        State { inner: Arc::new(Inner { sandbox, policy, sessions: Mutex::new(HashMap::new()) }) }
    }

    /// The sandbox.
    pub fn sandbox(&self) -> &Sandbox {
        &self.inner.sandbox
    }

    /// The policy.
    pub fn policy(&self) -> &McpPolicy {
        &self.inner.policy
    }

    /// The session `id`, if this server may touch it: of its scope (the sandbox only
    /// sees those) and with its working dir in a root. Any other is not found.
    pub async fn session(&self, id: &str) -> Result<Session, Error> {
        if let Some(s) = self.cached(id) {
            return Ok(s);
        }
        let s = self.inner.sandbox.attach(id).await?;
        if !self.may_touch(s.working_dir()) {
            return Err(Error::SessionNotFound {
                id: id.to_string(),
                detail: " among the sessions this server may use (its working dir is outside the roots)".into(),
            });
        }
        self.remember(&s);
        Ok(s)
    }

    /// Whether a session on `working_dir` lies in a root (symlinks resolved).
    pub fn may_touch(&self, working_dir: &Path) -> bool {
        std::fs::canonicalize(working_dir).is_ok_and(|d| self.inner.policy.contains(&d))
    }

    fn cached(&self, id: &str) -> Option<Session> {
        self.inner.sessions.lock().ok()?.get(id).cloned()
    }

    /// Keeps a session attached for later calls.
    pub fn remember(&self, s: &Session) {
        if let Ok(mut m) = self.inner.sessions.lock() {
            m.insert(s.id().to_string(), s.clone());
        }
    }

    /// Drops a session from the attached ones (stopped, or found gone).
    pub fn forget(&self, id: &str) {
        if let Ok(mut m) = self.inner.sessions.lock() {
            m.remove(id);
        }
    }
}
