//! What a handle made from a session (task, terminal, exec stream) keeps of it: the core
//! session (a cheap clone sharing the agent connection), the context's runtime, the
//! session handle's close latch, and a close latch of its own. Calls through it are
//! woken by either latch.

use std::future::Future;
use std::sync::Arc;

use sandbox_core::Session;

use crate::context::ContextInner;
use crate::error::FfiError;
use crate::interruptible::{self, Closer};
use crate::latch::Latch;

pub(crate) struct SessionLink {
    // Dropped (in Drop) inside the runtime's context.
    session: Option<Session>,
    session_closed: Arc<Latch>,
    /// Set by the handle's own `*_close` (and when it is freed).
    pub closed: Latch,
    // Last: the runtime outlives everything above.
    pub ctx: Arc<ContextInner>,
}

impl SessionLink {
    pub fn new(session: Session, session_closed: Arc<Latch>, ctx: Arc<ContextInner>) -> SessionLink {
        SessionLink { session: Some(session), session_closed, closed: Latch::new(), ctx }
    }

    /// The latches that close calls on the handle named `what`.
    pub fn closers(&self, what: &'static str) -> [Closer<'_>; 2] {
        [(&self.closed, what), (&self.session_closed, "session")]
    }

    /// Resolves once the handle or its session is closed.
    pub fn on_close(&self) -> impl Future<Output = ()> + Send + 'static {
        let own = self.closed.wait();
        let session = self.session_closed.wait();
        async move {
            tokio::select! {
                _ = own => {},
                _ = session => {},
            }
        }
    }

    /// Fails at once when the handle or its session was closed.
    pub fn check_open(&self, what: &'static str) -> Result<(), FfiError> {
        interruptible::check_open(&self.closers(what), None)
    }

    /// Runs a call for the handle named `what`; see [`interruptible::block_on`].
    pub fn run<T>(
        &self,
        what: &'static str,
        cancel: Option<&Latch>,
        fut: impl Future<Output = sandbox_core::Result<T>>,
    ) -> Result<T, FfiError> {
        interruptible::block_on(&self.ctx.rt, &self.closers(what), cancel, fut)
    }
}

impl Drop for SessionLink {
    fn drop(&mut self) {
        self.closed.set();
        let _in_rt = self.ctx.rt.enter();
        self.session.take();
    }
}
