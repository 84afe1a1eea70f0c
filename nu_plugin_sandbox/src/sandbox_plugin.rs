//! [`SandboxPlugin`]: the plugin value nushell talks to. Owns the tokio runtime the async
//! core runs on, and the cache of open sessions.

use nu_plugin::{Plugin, PluginCommand};

use crate::commands;
use crate::session_cache::SessionCache;

/// The sandbox plugin. nushell runs each command call on its own thread; they all share
/// one multi-threaded tokio runtime, whose workers keep agent connections alive between
/// calls (so a cancelled exec's cancel frame is sent even after the call returned).
pub struct SandboxPlugin {
    runtime: tokio::runtime::Runtime,
    cache: SessionCache,
}

impl SandboxPlugin {
    /// Creates the plugin and its runtime (two worker threads: the work is I/O-bound, and
    /// the machines this runs on are small).
    pub fn new() -> std::io::Result<SandboxPlugin> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox-plugin")
            .enable_all()
            .build()?;
        Ok(SandboxPlugin { runtime, cache: SessionCache::default() })
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    pub(crate) fn cache(&self) -> &SessionCache {
        &self.cache
    }
}

impl Plugin for SandboxPlugin {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn commands(&self) -> Vec<Box<dyn PluginCommand<Plugin = Self>>> {
        commands::all()
    }
}
