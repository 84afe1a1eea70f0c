//! The server's state, shared by every tool: the sandbox (in the policy's scope), the
//! policy, the copy dir, and the sessions attached so far, kept so a call costs one agent
//! round trip, not a `podman ps`. A session is found only if the server may touch it: its
//! working dir lies in a root, or is the managed copy a start from a snapshot with no
//! working dir made for it (`<copy dir>/<session id>`, outside the roots).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
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
    /// Where managed copies go (`sandbox_core::snapshot::copy_dir`), as configured.
    copy_dir: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
}

impl State {
    /// The state of a server over `sandbox` (already in the policy's scope) under `policy`.
    pub fn new(sandbox: Sandbox, policy: McpPolicy) -> State {
        let uid = sandbox_core::HostReadings::read().uid;
        let copy_dir = sandbox_core::snapshot::copy_dir(sandbox.config(), uid);
        State { inner: Arc::new(Inner { sandbox, policy, copy_dir, sessions: Mutex::new(HashMap::new()) }) }
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
        if !self.may_touch(id, s.working_dir()) {
            return Err(Error::SessionNotFound {
                id: id.to_string(),
                detail: " among the sessions this server may use (its working dir is outside the roots)".into(),
            });
        }
        self.remember(&s);
        Ok(s)
    }

    /// Whether session `id` on `working_dir` is one this server may touch: the dir
    /// (symlinks resolved) lies in a root or is the session's managed copy.
    pub fn may_touch(&self, id: &str, working_dir: &Path) -> bool {
        std::fs::canonicalize(working_dir).is_ok_and(|d| self.may_use(&d, Some(id)))
    }

    /// Whether the canonical path `dir`, the working dir of session `id` (when given),
    /// is one this server may use: in a root, or a managed copy (of that session).
    pub fn may_use(&self, dir: &Path, id: Option<&str>) -> bool {
        self.inner.policy.contains(dir) || self.is_managed_copy(dir, id)
    }

    /// Whether `path` (canonical, or as recorded once gone) names a managed copy: an
    /// entry of the copy dir itself (not a path inside one), named `id` when given (a
    /// managed copy is named after its session).
    pub fn is_managed_copy(&self, path: &Path, id: Option<&str>) -> bool {
        let (Some(parent), Some(Component::Normal(name))) = (path.parent(), path.components().next_back()) else {
            return false;
        };
        if id.is_some_and(|id| name != id) {
            return false;
        }
        let dir = &self.inner.copy_dir;
        parent == dir || std::fs::canonicalize(dir).is_ok_and(|d| parent == d)
    }

    /// The copy dir, as configured (for messages).
    pub fn copy_dir(&self) -> &Path {
        &self.inner.copy_dir
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_copies_are_entries_of_the_copy_dir_named_after_their_session() {
        let root = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let base = base.path().canonicalize().unwrap();
        // The copy dir through a symlink: paths are compared as configured and resolved.
        std::fs::create_dir(base.join("work")).unwrap();
        std::os::unix::fs::symlink(base.join("work"), base.join("link")).unwrap();
        let config = sandbox_core::Config { copy_dir: Some(base.join("link")), ..Default::default() };
        let policy = McpPolicy { roots: vec![root.path().canonicalize().unwrap()], ..McpPolicy::empty() };
        let state = State::new(Sandbox::new(config), policy);
        assert_eq!(state.copy_dir(), base.join("link"));
        for dir in [base.join("work"), base.join("link")] {
            assert!(state.is_managed_copy(&dir.join("s-1"), None), "{}", dir.display());
            assert!(state.is_managed_copy(&dir.join("s-1"), Some("s-1")), "{}", dir.display());
            assert!(!state.is_managed_copy(&dir.join("s-1"), Some("s-2")), "another session's name");
            assert!(!state.is_managed_copy(&dir.join("s-1/src"), None), "a path inside a copy");
            assert!(!state.is_managed_copy(&dir, None), "the copy dir itself");
            assert!(!state.is_managed_copy(&dir.join("s-1/.."), None));
        }
        assert!(!state.is_managed_copy(&base.join("s-1"), None), "beside the copy dir");
        assert!(state.may_use(&root.path().canonicalize().unwrap().join("x"), Some("s-1")), "in a root");
        assert!(!state.may_use(&base.join("s-1"), Some("s-1")), "neither");
        std::fs::create_dir(base.join("work/s-1")).unwrap();
        assert!(state.may_touch("s-1", &base.join("link/s-1")), "a session on its managed copy");
        assert!(!state.may_touch("s-2", &base.join("link/s-1")), "a session on another's");
        assert!(!state.may_touch("s-1", &base.join("link/gone")), "a working dir that is gone");
    }
}
