//! The boundary every export goes through: panics are caught and become
//! `SBX_STATUS_PANIC`, blocking calls on the library's own threads are refused, and
//! failures are turned into a status plus an optional `sbx_error`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub(crate) use crate::guard::{quiet, value};

use crate::error::{FfiError, sbx_error};
use crate::runtime;
use crate::status::sbx_status;

/// Whether an export may block on the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocks {
    /// It waits for the runtime (engine calls, agent round trips).
    Yes,
    /// It returns without waiting (builders, getters, close, free).
    No,
}

/// Runs the body of an export that returns a status.
///
/// # Safety
/// `err` is NULL or points to writable storage for one `sbx_error *`.
pub(crate) unsafe fn call(
    name: &'static str,
    err: *mut *mut sbx_error,
    blocks: Blocks,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> sbx_status {
    let result = if blocks == Blocks::Yes && runtime::on_runtime_thread() {
        Err(FfiError::new(
            sbx_status::WrongThread,
            format!(
                "{name} blocks, and was called from a thread of an async runtime (a thread of the library's own runtime, \
                 e.g. inside a callback, or async Rust code): it would deadlock; call it from a thread of your own"
            ),
        ))
    } else {
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
            Err(FfiError::new(sbx_status::Panic, format!("{name} panicked: {}", panic_message(&*payload))))
        })
    };
    match result {
        Ok(()) => sbx_status::Ok,
        Err(e) => {
            let status = e.status;
            if !err.is_null() {
                let boxed = Box::into_raw(Box::new(sbx_error::from_ffi(e)));
                // SAFETY: `err` is non-NULL and writable by the caller's contract.
                unsafe { err.write(boxed) };
            }
            status
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
