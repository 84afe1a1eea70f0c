//! The tokio runtime a context owns, and the detection of calls made from runtime
//! threads (where blocking on the runtime would deadlock).

use std::cell::Cell;
use std::future::Future;

use tokio::runtime::Runtime;

use crate::error::FfiError;
use crate::status::sbx_status;

/// Worker threads of each context's runtime. Calls are driven on the caller's thread
/// (`block_on`); the workers only run the agent connections' reader and writer tasks.
const WORKER_THREADS: usize = 2;

thread_local! {
    static IN_LIBRARY_RUNTIME: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread belongs to a runtime of this library, or is inside any tokio
/// runtime context (async Rust using the rlib): blocking there would deadlock or panic.
pub(crate) fn on_runtime_thread() -> bool {
    IN_LIBRARY_RUNTIME.with(Cell::get) || tokio::runtime::Handle::try_current().is_ok()
}

/// A runtime that is shut down without blocking when its last owner goes away on one of
/// its own threads (a drop there could otherwise never finish).
pub(crate) struct OwnedRuntime {
    rt: Option<Runtime>,
}

impl OwnedRuntime {
    pub fn new() -> Result<OwnedRuntime, FfiError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("sandbox-ffi-rt")
            .on_thread_start(|| IN_LIBRARY_RUNTIME.with(|c| c.set(true)))
            .enable_all()
            .build()
            .map_err(|e| FfiError::new(sbx_status::Io, format!("creating the library's runtime failed: {e}")))?;
        Ok(OwnedRuntime { rt: Some(rt) })
    }

    fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Drives `fut` to completion on the calling thread. Callers check
    /// [`on_runtime_thread`] first (the boundary does, for every blocking export).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt().block_on(fut)
    }

    /// Spawns a task on the runtime's workers.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt().spawn(fut)
    }

    /// Enters the runtime context, for drops that may need it.
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt().enter()
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if on_runtime_thread() {
                rt.shutdown_background();
            } else {
                drop(rt);
            }
        }
    }
}
