//! Running core futures from a command call so that Ctrl-C stops them.
//!
//! nushell forwards an interrupt to the plugin as a signal action; a handler registered
//! for the duration of the work wakes it, and the work's future is dropped. Dropping is
//! what cancels: an exec's request is cancelled in the agent (which kills the command's
//! process group), a half-done start removes its container, a wait or a read simply
//! stops waiting.
//!
//! [`Interrupt`] is the handler itself, for work that outlives the call: a byte stream
//! that `sandbox run` or `sandbox task logs --follow` returns keeps its `Interrupt` until
//! the stream ends.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nu_plugin::EngineInterface;
use nu_protocol::{HandlerGuard, LabeledError, SignalAction, Span};

use crate::SandboxPlugin;

/// Help line of an interrupted call whose work was cancelled in the sandbox.
pub(crate) const CANCELLED: &str = "nothing was left running: the sandbox cancelled the work";

/// A Ctrl-C handler registered with the engine for as long as this value lives.
pub(crate) struct Interrupt {
    state: Arc<State>,
    _guard: HandlerGuard,
}

struct State {
    interrupted: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Interrupt {
    /// Registers the handler. An interrupt that arrived before (and was not reset since)
    /// counts too.
    pub(crate) fn register(engine: &EngineInterface) -> Result<Interrupt, LabeledError> {
        let state = Arc::new(State { interrupted: AtomicBool::new(false), wake: tokio::sync::Notify::new() });
        let handler_state = state.clone();
        let guard = engine
            .register_signal_handler(Box::new(move |action| {
                if action == SignalAction::Interrupt {
                    handler_state.interrupted.store(true, Ordering::SeqCst);
                    handler_state.wake.notify_waiters();
                }
            }))
            .map_err(LabeledError::from)?;
        // Checked after registering: an interrupt in between is seen one way or the other.
        if engine.signals().interrupted() {
            state.interrupted.store(true, Ordering::SeqCst);
        }
        Ok(Interrupt { state, _guard: guard })
    }

    /// Whether Ctrl-C was pressed.
    pub(crate) fn is_set(&self) -> bool {
        self.state.interrupted.load(Ordering::SeqCst)
    }

    /// Returns once Ctrl-C is pressed (at once if it was already).
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.state.wake.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered as a waiter before the flag is read, so a wake-up in between is
            // not lost.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

impl Interrupt {
    /// Runs `work` on the runtime of `handle`, from a thread outside it (such as the one
    /// nu-plugin writes a returned list stream from), until it is done; `None` at Ctrl-C,
    /// when `work` is dropped.
    pub(crate) fn block_on<F: Future>(&self, handle: &tokio::runtime::Handle, work: F) -> Option<F::Output> {
        handle.block_on(async {
            tokio::select! {
                biased;
                _ = self.wait() => None,
                out = work => Some(out),
            }
        })
    }
}

/// The error value that ends a stream a command `what` returned (at `head`) when Ctrl-C
/// stopped following it.
pub(crate) fn interrupted_value(what: &str, head: Span) -> nu_protocol::Value {
    let e = interrupted_error(what, head, "stopped following; the session goes on");
    nu_protocol::Value::error(e.into(), head)
}

/// The error of work interrupted by Ctrl-C.
pub(crate) fn interrupted_error(what: &str, head: Span, help: &str) -> LabeledError {
    LabeledError::new(format!("{what} was interrupted")).with_label("interrupted by Ctrl-C", head).with_help(help)
}

/// Runs `work` to completion on the plugin's runtime, or until Ctrl-C, in which case
/// `work` is dropped and a "interrupted" error labelled at `head` is returned.
pub(crate) fn block_on<F: Future>(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    head: Span,
    what: &str,
    work: F,
) -> Result<F::Output, LabeledError> {
    block_on_with_help(plugin, engine, head, what, CANCELLED, work)
}

/// [`block_on`], with the help line the interrupted error carries (for work whose
/// effect in the sandbox is not undone by stopping, such as waiting for a task).
pub(crate) fn block_on_with_help<F: Future>(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    head: Span,
    what: &str,
    help: &str,
    work: F,
) -> Result<F::Output, LabeledError> {
    let interrupt = Interrupt::register(engine)?;
    if interrupt.is_set() {
        return Err(interrupted_error(what, head, help));
    }
    plugin.runtime().block_on(async {
        tokio::select! {
            biased;
            _ = interrupt.wait() => Err(interrupted_error(what, head, help)),
            out = work => Ok(out),
        }
    })
}
