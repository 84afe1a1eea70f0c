//! [`CallContext`]: what every command call starts from: the effective configuration,
//! the sandbox for it (reused between calls), and an error context for its spans.

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::LabeledError;
use sandbox_core::Sandbox;

use crate::SandboxPlugin;
use crate::error_context::ErrorContext;
use crate::plugin_config;

/// The configuration-derived state of one call.
pub(crate) struct CallContext {
    /// The sandbox of the effective configuration.
    pub(crate) sandbox: Sandbox,
    /// Labels core errors on this call's arguments.
    pub(crate) errors: ErrorContext,
}

impl CallContext {
    /// Loads the configuration for this call (see [`plugin_config`]).
    pub(crate) fn new(
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
    ) -> Result<CallContext, LabeledError> {
        let loaded = plugin_config::load(engine, call.head)?;
        let mut errors = ErrorContext::new(call.head, &loaded.config.scope);
        if let Some(span) = loaded.plugin_span {
            errors.blame("config", span);
        }
        let sandbox = plugin.cache().sandbox(loaded.config);
        Ok(CallContext { sandbox, errors })
    }
}
