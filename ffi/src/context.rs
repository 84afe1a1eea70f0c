//! `sbx_context`: owns the tokio runtime and the sandbox (configuration + engine). The
//! entry point for starting, attaching, listing, stopping and reaping sessions.

use std::ffi::c_char;
use std::future::Future;
use std::sync::Arc;

use sandbox_core::Sandbox;

use crate::boundary::{Blocks, call, quiet};
use crate::config::sbx_config;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::latch::Latch;
use crate::runtime::OwnedRuntime;
use crate::status::sbx_status;
use crate::string_list::sbx_string_list;
use crate::text::{str_arg, str_array_arg};

/// A context: the runtime the library's calls run on, and one sandbox configuration.
///
/// Create with `sbx_context_new`; close with `sbx_context_close` (idempotent, any
/// thread); free with `sbx_context_free` exactly once. Sessions keep what they need of
/// their context alive, so a context may be freed before its sessions. All functions
/// taking a context may be called from any number of threads at once.
pub struct sbx_context {
    pub(crate) inner: Arc<ContextInner>,
    closed: Latch,
}

/// What a context shares with its sessions.
pub(crate) struct ContextInner {
    pub sandbox: Sandbox,
    // Declared last: dropped after everything that may need it.
    pub rt: OwnedRuntime,
}

impl ContextInner {
    /// Runs `fut` on the caller's thread, mapping core errors.
    pub fn block_on<T>(&self, fut: impl Future<Output = sandbox_core::Result<T>>) -> Result<T, FfiError> {
        self.rt.block_on(fut).map_err(FfiError::from)
    }
}

impl sbx_context {
    /// The shared state, unless the context was closed.
    pub(crate) fn open(&self) -> Result<&Arc<ContextInner>, FfiError> {
        if self.closed.is_set() { Err(FfiError::closed("context")) } else { Ok(&self.inner) }
    }
}

/// Creates a context from a configuration (copied: `config` may be freed right after).
/// Starts the library's runtime (two worker threads); nothing is asked of podman yet.
///
/// On success `*out` receives a context the caller frees with `sbx_context_free`.
///
/// # Safety
/// `config` is NULL or a live `sbx_config`; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_new(
    config: *const sbx_config,
    out: *mut *mut sbx_context,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_new", err, Blocks::No, || {
            // SAFETY: NULL or a live config by contract.
            let config = borrow(config, "config")?.snapshot();
            let out = out_param(out, "out")?;
            let rt = OwnedRuntime::new()?;
            let sandbox = {
                let _in_rt = rt.enter();
                Sandbox::new(config)
            };
            let ctx = sbx_context { inner: Arc::new(ContextInner { sandbox, rt }), closed: Latch::new() };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(ctx));
            Ok(())
        })
    }
}

/// Closes a context: later calls taking it fail with `SBX_STATUS_CLOSED`; calls already
/// running finish. Sessions obtained from it stay usable until they are closed or freed.
/// Idempotent; any thread; NULL is ignored. Does not free it.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_close(ctx: *mut sbx_context) {
    quiet(|| {
        // SAFETY: NULL or a live context by contract.
        if let Ok(ctx) = unsafe { borrow(ctx, "context") } {
            ctx.closed.set();
        }
    });
}

/// Frees a context (closing it first). NULL is ignored. Exactly once, and only when no
/// other thread is still in a call taking it. The runtime stops when the last session
/// made from this context is freed too.
///
/// # Safety
/// `ctx` is NULL or a live context not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_free(ctx: *mut sbx_context) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(ctx) });
}

/// Stops (removes) the session `id` of this context's scope, wherever it was started
/// from: its container is killed and removed, its control dir deleted.
///
/// Fails with `SBX_STATUS_SESSION_NOT_FOUND` when no such session exists in the scope.
/// Blocks (a fraction of a second): not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `id` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_stop(
    ctx: *const sbx_context,
    id: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_stop", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (ctx, id) = (borrow(ctx, "context")?, str_arg(id, "id")?);
            let inner = ctx.open()?;
            inner.block_on(inner.sandbox.stop(id))
        })
    }
}

/// Removes this user's sessions in this scope whose id is not among `known` (e.g. left by
/// a crashed process). Containers without sandbox's labels are never touched.
///
/// `known` is an array of `known_len` NUL-terminated ids (NULL when `known_len` is 0),
/// copied. On success `*reaped` receives the list of removed ids, which the caller frees
/// with `sbx_string_list_free`. Blocks: not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `known` is NULL or points to `known_len` pointers to
/// NUL-terminated strings; `reaped` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_reap_orphans(
    ctx: *const sbx_context,
    known: *const *const c_char,
    known_len: usize,
    reaped: *mut *mut sbx_string_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_reap_orphans", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            // SAFETY: NULL or `known_len` string pointers by contract.
            let known = str_array_arg(known, known_len, "known")?;
            let reaped = out_param(reaped, "reaped")?;
            let inner = ctx.open()?;
            let ids = inner.block_on(inner.sandbox.reap_orphans(&known))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(reaped, into_handle(sbx_string_list::new(ids)));
            Ok(())
        })
    }
}
