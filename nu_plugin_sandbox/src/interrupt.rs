//! Running core futures from a command call so that Ctrl-C stops them.
//!
//! nushell forwards an interrupt to the plugin as a signal action; a handler registered
//! for the duration of the call wakes the call, which then drops the core future.
//! Dropping is what cancels: an exec's request is cancelled in the agent (which kills the
//! command's process group), a half-done start removes its container.

use std::future::Future;
use std::sync::Arc;

use nu_plugin::EngineInterface;
use nu_protocol::{LabeledError, SignalAction, Span};

use crate::SandboxPlugin;

/// Runs `work` to completion on the plugin's runtime, or until Ctrl-C, in which case
/// `work` is dropped and a "interrupted" error labelled at `head` is returned.
pub(crate) fn block_on<F: Future>(
    plugin: &SandboxPlugin,
    engine: &EngineInterface,
    head: Span,
    what: &str,
    work: F,
) -> Result<F::Output, LabeledError> {
    let wake = Arc::new(tokio::sync::Notify::new());
    let handler_wake = wake.clone();
    // Registered before checking the flag: an interrupt arriving in between leaves a
    // permit in the Notify, so it is not lost.
    let _guard = engine
        .register_signal_handler(Box::new(move |action| {
            if action == SignalAction::Interrupt {
                handler_wake.notify_one();
            }
        }))
        .map_err(LabeledError::from)?;
    let interrupted = || {
        LabeledError::new(format!("{what} was interrupted"))
            .with_label("interrupted by Ctrl-C", head)
            .with_help("nothing was left running: the sandbox cancelled the work")
    };
    if engine.signals().interrupted() {
        return Err(interrupted());
    }
    plugin.runtime().block_on(async {
        tokio::select! {
            biased;
            _ = wake.notified() => Err(interrupted()),
            out = work => Ok(out),
        }
    })
}
