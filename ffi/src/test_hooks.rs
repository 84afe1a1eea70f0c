//! Hooks for the test suites of this library and its bindings: they trigger conditions
//! a correct program never meets (a panic inside the library, a call from one of the
//! library's runtime threads), so the tests can check how they are reported. Never
//! needed by applications.

use std::ffi::c_void;

use crate::boundary::{Blocks, call};
use crate::context::sbx_context;
use crate::error::{FfiError, sbx_error};
use crate::handle::borrow;
use crate::status::sbx_status;

/// Panics inside the library, to test the panic boundary: returns `SBX_STATUS_PANIC`
/// with an error whose message contains the panic message. Test-only; any thread.
///
/// # Safety
/// `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_test_trigger_panic(err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_test_trigger_panic", err, Blocks::No, || {
            panic!("deliberate panic from sbx_test_trigger_panic");
        })
    }
}

/// A callback pointer and its data, moved to a runtime thread.
struct Callback {
    f: unsafe extern "C" fn(*mut c_void),
    data: *mut c_void,
}

// SAFETY: the caller of sbx_test_call_on_runtime_thread promises the callback may run
// on another thread with its data; the pointer is only passed back to that callback.
unsafe impl Send for Callback {}

/// Runs `callback(data)` on one of the context's runtime threads and waits for it, so a
/// test can check that blocking calls made there return `SBX_STATUS_WRONG_THREAD`
/// instead of deadlocking. Test-only. Blocks: not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or live; `callback` is NULL or a function safe to call on another
/// thread with `data`, which must not unwind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_test_call_on_runtime_thread(
    ctx: *const sbx_context,
    callback: Option<unsafe extern "C" fn(*mut c_void)>,
    data: *mut c_void,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_test_call_on_runtime_thread", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            let f = callback.ok_or_else(|| FfiError::null("callback"))?;
            let inner = ctx.open()?;
            let cb = Callback { f, data };
            let task = inner.rt.spawn(async move {
                let cb = cb;
                // The caller promised `f` may be called with `data` on this thread (this
                // async block is inside the export's unsafe block).
                (cb.f)(cb.data);
            });
            inner.rt.block_on(task).map_err(|e| {
                FfiError::new(sbx_status::Panic, format!("the callback failed on the runtime thread: {e}"))
            })
        })
    }
}
