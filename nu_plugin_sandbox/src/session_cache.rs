//! [`SessionCache`]: open sessions (agent connections) kept between calls.
//!
//! Finding a session from scratch costs a `podman ps` (tens of milliseconds); an open
//! session answers `exec` in about one. The cache is only an accelerator: every entry can
//! be rebuilt from the engine, which is why the plugin can be stopped at any time.

use std::collections::HashMap;
use std::sync::Mutex;

use sandbox_core::{Config, ErrorKind, Result, Sandbox, Session};

/// Most configurations remembered at once (each holds a probed engine and its sessions).
const MAX_SANDBOXES: usize = 8;

struct Entry {
    sandbox: Sandbox,
    sessions: HashMap<String, Session>,
}

/// Sandboxes by configuration, and their open sessions by id.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<Vec<Entry>>,
}

impl SessionCache {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<Entry>) -> T) -> T {
        let mut guard = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// The sandbox for `config`, reusing the one (and its host probe) made for an equal
    /// configuration before.
    pub(crate) fn sandbox(&self, config: Config) -> Sandbox {
        self.with(|entries| {
            if let Some(pos) = entries.iter().position(|e| e.sandbox.config() == &config) {
                let entry = entries.remove(pos);
                let sandbox = entry.sandbox.clone();
                entries.push(entry);
                return sandbox;
            }
            if entries.len() >= MAX_SANDBOXES {
                entries.remove(0);
            }
            let sandbox = Sandbox::new(config);
            entries.push(Entry { sandbox: sandbox.clone(), sessions: HashMap::new() });
            sandbox
        })
    }

    fn entry<'a>(entries: &'a mut [Entry], sandbox: &Sandbox) -> Option<&'a mut Entry> {
        entries.iter_mut().find(|e| e.sandbox.config() == sandbox.config())
    }

    /// The open session `id`, if there is one.
    pub(crate) fn cached(&self, sandbox: &Sandbox, id: &str) -> Option<Session> {
        self.with(|entries| {
            Self::entry(entries, sandbox).and_then(|e| e.sessions.get(id).cloned()).filter(|s| !s.is_stopped())
        })
    }

    /// The open session `id`, attaching to it (and remembering it) when needed.
    pub(crate) async fn session(&self, sandbox: &Sandbox, id: &str) -> Result<Session> {
        if let Some(session) = self.cached(sandbox, id) {
            return Ok(session);
        }
        let session = sandbox.attach(id).await?;
        self.remember(sandbox, session.clone());
        Ok(session)
    }

    /// Keeps `session` open for later calls.
    pub(crate) fn remember(&self, sandbox: &Sandbox, session: Session) {
        self.with(|entries| {
            if let Some(e) = Self::entry(entries, sandbox) {
                e.sessions.insert(session.id().to_string(), session);
            }
        });
    }

    /// Drops the open session `id` (it was stopped, or found gone).
    pub(crate) fn forget(&self, sandbox: &Sandbox, id: &str) {
        self.with(|entries| {
            if let Some(e) = Self::entry(entries, sandbox) {
                e.sessions.remove(id);
            }
        });
    }

    /// Drops the open session when `result` says it no longer exists or cannot answer,
    /// so the next call looks it up afresh.
    pub(crate) fn forget_if_gone<T>(&self, sandbox: &Sandbox, id: &str, result: &Result<T>) {
        if let Err(e) = result
            && matches!(e.kind(), ErrorKind::SessionNotFound | ErrorKind::SessionLost | ErrorKind::AgentVersionMismatch)
        {
            self.forget(sandbox, id);
        }
    }
}
