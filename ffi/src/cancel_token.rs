//! `sbx_cancel_token`: lets another thread (a Go context, a Python watchdog) cancel a
//! blocking call.

use std::sync::Arc;

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::latch::Latch;
use crate::status::sbx_status;

/// A cancellation token. Attach it to a call's options (e.g.
/// `sbx_exec_options_set_cancel_token`); `sbx_cancel_token_cancel`, from any thread,
/// makes the call return `SBX_STATUS_CANCELLED` at once (a running command is killed in
/// the container). One-way: once cancelled it stays cancelled, and calls given it fail
/// at once; make a new token for new calls.
///
/// Owned by the caller, freed with `sbx_cancel_token_free` exactly once; options holding
/// it keep what they need alive, so it may be freed while they still refer to it.
pub struct sbx_cancel_token {
    pub(crate) latch: Arc<Latch>,
}

/// Creates a token (not cancelled). On success `*out` receives a token the caller frees
/// with `sbx_cancel_token_free`. Any thread.
///
/// # Safety
/// `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_cancel_token_new(out: *mut *mut sbx_cancel_token, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_cancel_token_new", err, Blocks::No, || {
            let out = out_param(out, "out")?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_cancel_token { latch: Arc::new(Latch::new()) }));
            Ok(())
        })
    }
}

/// Cancels: calls using the token return `SBX_STATUS_CANCELLED`. Idempotent, any
/// thread, never blocks; NULL is ignored.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_cancel_token_cancel(token: *const sbx_cancel_token) {
    quiet(|| {
        // SAFETY: NULL or a live token by contract.
        if let Ok(t) = unsafe { borrow(token, "token") } {
            t.latch.set();
        }
    });
}

/// Whether the token was cancelled. false for NULL.
///
/// # Safety
/// `token` is NULL or a live token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_cancel_token_is_cancelled(token: *const sbx_cancel_token) -> bool {
    // SAFETY: NULL or a live token by contract.
    value(false, || unsafe { token.as_ref() }.is_some_and(|t| t.latch.is_set()))
}

/// Frees a token. NULL is ignored. Exactly once; options that hold it are unaffected.
///
/// # Safety
/// `token` is NULL or a live token not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_cancel_token_free(token: *mut sbx_cancel_token) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(token) });
}
