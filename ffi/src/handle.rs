//! Opaque handles: a handle is a `Box` handed to C as a pointer, borrowed by every call
//! and reclaimed by exactly one `*_free`.

use crate::error::FfiError;

/// Moves `value` to the heap and hands ownership to the caller.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Borrows a handle for the duration of a call.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` made by [`into_handle`] and not yet freed.
pub(crate) unsafe fn borrow<'a, T>(p: *const T, what: &str) -> Result<&'a T, FfiError> {
    // SAFETY: NULL or a live handle by the caller's contract; handles are only ever
    // accessed through shared references (their mutable state is behind locks/atomics).
    unsafe { p.as_ref() }.ok_or_else(|| FfiError::null(what))
}

/// Checks an out-param is non-NULL before any work is done, so a NULL one fails without
/// side effects.
pub(crate) fn out_param<T>(p: *mut T, what: &str) -> Result<*mut T, FfiError> {
    if p.is_null() { Err(FfiError::null(what)) } else { Ok(p) }
}

/// Writes an out-param (called only once the call has succeeded).
///
/// # Safety
/// `p` is non-NULL (checked by [`out_param`]) and writable by the caller's contract.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T) {
    // SAFETY: see the function contract.
    unsafe { p.write(value) }
}

/// Reclaims and drops a handle; NULL is ignored.
///
/// # Safety
/// `p` is NULL or a live handle made by [`into_handle`], freed only this once.
pub(crate) unsafe fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: see the function contract.
        drop(unsafe { Box::from_raw(p) });
    }
}
