//! `sbx_buffer`: bytes the library returns that are not tied to another handle (the
//! content of a file read from the session).

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, out_param, write_out};
use crate::status::sbx_status;

/// An immutable byte buffer. Owned by the caller, freed with `sbx_buffer_free` exactly
/// once; readable from any thread; its byte view is valid until it is freed.
pub struct sbx_buffer {
    pub(crate) bytes: Vec<u8>,
}

/// The bytes (any bytes, NUL included; not NUL-terminated).
///
/// On success `*data` receives a pointer borrowed from `buffer` (valid until
/// `sbx_buffer_free`; non-NULL even when `*len` is 0) and `*len` its length.
///
/// # Safety
/// `buffer` is NULL or live; `data` and `len` are writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_buffer_data(
    buffer: *const sbx_buffer,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_buffer_data", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let b = borrow(buffer, "buffer")?;
            let (data, len) = (out_param(data, "data")?, out_param(len, "len")?);
            // SAFETY: both checked non-NULL and writable by contract.
            write_out(data, b.bytes.as_ptr());
            write_out(len, b.bytes.len());
            Ok(())
        })
    }
}

/// Number of bytes in the buffer; 0 for NULL.
///
/// # Safety
/// `buffer` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_buffer_len(buffer: *const sbx_buffer) -> usize {
    // SAFETY: NULL or a live, immutable buffer by contract.
    value(0, || unsafe { buffer.as_ref() }.map_or(0, |b| b.bytes.len()))
}

/// Frees a buffer. NULL is ignored. Exactly once; its byte view becomes invalid.
///
/// # Safety
/// `buffer` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_buffer_free(buffer: *mut sbx_buffer) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(buffer) });
}
