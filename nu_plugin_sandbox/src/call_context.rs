//! [`CallContext`]: what every command call starts from: the effective configuration,
//! the sandbox for it (reused between calls), an error context for its spans, and the
//! session the call is about.

use std::future::Future;

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned, Value};
use sandbox_core::{ExecOptions, Sandbox, Session};

use crate::SandboxPlugin;
use crate::arguments::{self, flag};
use crate::error_context::ErrorContext;
use crate::interrupt;
use crate::plugin_config;

/// The configuration-derived state of one call.
pub(crate) struct CallContext {
    /// The sandbox of the effective configuration.
    pub(crate) sandbox: Sandbox,
    /// Labels core errors on this call's arguments.
    pub(crate) errors: ErrorContext,
    /// The session argument, when the call is [`CallContext::for_session`].
    session: Option<Spanned<String>>,
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
        Ok(CallContext { sandbox, errors, session: None })
    }

    /// [`new`](Self::new) for a command on one session: also reads the session from the
    /// first positional argument (an id or a record with an id column; see
    /// [`session_signature`](crate::commands::session_signature)) and makes it the one
    /// errors about sessions point at. Returns the context and the session id.
    pub(crate) fn for_session(
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
    ) -> Result<(CallContext, String), LabeledError> {
        let mut ctx = CallContext::new(plugin, engine, call)?;
        let session = arguments::session_id(&call.req::<Value>(0)?)?;
        ctx.errors.session(&session.item, session.span);
        let id = session.item.clone();
        ctx.session = Some(session);
        Ok((ctx, id))
    }

    /// Flag `name` of `call` as `parse` reads it (from its value and span), `None` when it
    /// is not given; errors of the call about `what` are then labelled on the flag.
    pub(crate) fn flag<T>(
        &mut self,
        call: &EvaluatedCall,
        name: &str,
        what: &'static str,
        parse: impl FnOnce(&Value, Span) -> Result<T, LabeledError>,
    ) -> Result<Option<T>, LabeledError> {
        let Some((value, span)) = flag(call, name) else { return Ok(None) };
        let parsed = parse(&value, span)?;
        self.errors.blame(what, span);
        Ok(Some(parsed))
    }

    /// The session id of a call made [`for_session`](Self::for_session).
    pub(crate) fn session_id(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.item.as_str())
    }

    /// Runs `work` on the call's session (opened or taken from the cache) until it is done
    /// or Ctrl-C; forgets the session when it turned out to be gone; labels errors.
    /// `what` names the command in the interrupted error, `help` says what an interrupt
    /// leaves behind.
    pub(crate) fn on_session<T, F, Fut>(
        &self,
        plugin: &SandboxPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        what: &str,
        help: &str,
        work: F,
    ) -> Result<T, LabeledError>
    where
        F: FnOnce(Session) -> Fut,
        Fut: Future<Output = sandbox_core::Result<T>>,
    {
        let id = self.session_id().to_string();
        let sandbox = self.sandbox.clone();
        let cache = plugin.cache();
        let result = interrupt::block_on_with_help(plugin, engine, call.head, what, help, async {
            let session = cache.session(&sandbox, &id).await?;
            work(session).await
        })?;
        cache.forget_if_gone(&self.sandbox, &id, &result);
        result.map_err(|e| self.errors.error(&e))
    }

    /// `--timeout`, `--cwd` and `--env` of the commands that run a command line, each
    /// checked where it was written (and remembered for labelling core errors).
    pub(crate) fn exec_options(&mut self, call: &EvaluatedCall) -> Result<ExecOptions, LabeledError> {
        let mut options = ExecOptions::new();
        if let Some((v, span)) = flag(call, "timeout") {
            options.timeout = Some(arguments::positive_duration(&v, "timeout")?);
            self.errors.blame("timeout", span);
        }
        self.cwd_and_env(call, &mut options.cwd, &mut options.env)?;
        Ok(options)
    }

    /// `--cwd` and `--env` into `cwd` and `env`.
    pub(crate) fn cwd_and_env(
        &mut self,
        call: &EvaluatedCall,
        cwd: &mut Option<String>,
        env: &mut Vec<(String, String)>,
    ) -> Result<(), LabeledError> {
        if let Some((v, span)) = flag(call, "cwd") {
            *cwd = Some(arguments::cwd(&v, span)?);
            self.errors.blame("cwd", span);
        }
        if let Some((v, span)) = flag(call, "env") {
            *env = arguments::env_pairs(&v)?;
            self.errors.blame("environment variable", span);
        }
        Ok(())
    }
}
