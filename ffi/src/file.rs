//! File operations in a session, with paths resolved inside the container as its
//! processes see them: `sbx_session_read_file`, `_write_file`, `_list_dir`, `_stat`,
//! `_remove`.

use std::ffi::c_char;

use crate::boundary::{Blocks, call};
use crate::buffer::sbx_buffer;
use crate::error::{FfiError, sbx_error};
use crate::file_info::{sbx_file_info, sbx_file_list};
use crate::handle::{borrow, into_handle, out_param, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::{bytes_arg, str_arg};

/// Reads the whole file at `path` (inside the container; relative paths are relative to
/// the session's working dir). On success `*out` receives a buffer with its bytes, which
/// the caller frees with `sbx_buffer_free`.
///
/// Failures: `SBX_STATUS_NOT_FOUND`, `SBX_STATUS_PERMISSION_DENIED`, `SBX_STATUS_IO`
/// (e.g. a directory), `SBX_STATUS_INVALID_ARGUMENT` (empty path), session errors.
/// `sbx_session_close` on another thread makes it return `SBX_STATUS_CLOSED`. Blocks
/// while the file streams in: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_read_file(
    session: *const sbx_session,
    path: *const c_char,
    out: *mut *mut sbx_buffer,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_read_file", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, path) = (borrow(session, "session")?, str_arg(path, "path")?);
            let out = out_param(out, "out")?;
            let bytes = s.run(None, s.core().read_file(path))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_buffer { bytes }));
            Ok(())
        })
    }
}

/// Writes the `len` bytes at `data` (copied; any bytes; `(NULL, 0)` makes an empty file)
/// to `path` atomically: a temporary file in the same directory renamed over the
/// target, so readers see the old or the new content, never a mix. `mode` is the
/// permission bits (0 to 01777: a session cannot create setuid or setgid files, so
/// 04000 and 02000 are refused), or -1 for the default (the replaced file's mode
/// without those bits, else 0644).
///
/// Failures: `SBX_STATUS_NOT_FOUND` (missing parent dir), `SBX_STATUS_PERMISSION_DENIED`
/// (e.g. a protected path), `SBX_STATUS_INVALID_ARGUMENT` (empty path, bad mode), session
/// errors. Blocks while the data streams out: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `data` is NULL or points
/// to `len` readable bytes; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_write_file(
    session: *const sbx_session,
    path: *const c_char,
    data: *const u8,
    len: usize,
    mode: i32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_write_file", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated / `len` bytes by contract.
            let (s, path, bytes) = (borrow(session, "session")?, str_arg(path, "path")?, bytes_arg(data, len, "data")?);
            let mode = match mode {
                -1 => None,
                m if (0..=0o7777).contains(&m) => Some(m as u32),
                m => return Err(FfiError::invalid("mode", format!("{m} is not -1 or permission bits 0 to 07777"))),
            };
            s.run(None, s.core().write_file(path, bytes, mode))
        })
    }
}

/// Lists the directory `path`, sorted by name. On success `*out` receives a list the
/// caller frees with `sbx_file_list_free`. Failures: `SBX_STATUS_NOT_FOUND`,
/// `SBX_STATUS_PERMISSION_DENIED`, `SBX_STATUS_IO` (not a directory), session errors.
/// Blocks for one agent round trip: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_dir(
    session: *const sbx_session,
    path: *const c_char,
    out: *mut *mut sbx_file_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_list_dir", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, path) = (borrow(session, "session")?, str_arg(path, "path")?);
            let out = out_param(out, "out")?;
            let entries = s.run(None, s.core().list_dir(path))?;
            let list = sbx_file_list { items: entries.into_iter().map(sbx_file_info::new).collect() };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(list));
            Ok(())
        })
    }
}

/// Describes `path` (a symlink itself, not its target). On success `*out` receives an
/// info the caller frees with `sbx_file_info_free`. Fails with `SBX_STATUS_NOT_FOUND`
/// when nothing is there. Blocks for one agent round trip: not from a library runtime
/// thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_stat(
    session: *const sbx_session,
    path: *const c_char,
    out: *mut *mut sbx_file_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_stat", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, path) = (borrow(session, "session")?, str_arg(path, "path")?);
            let out = out_param(out, "out")?;
            let info = s.run(None, s.core().stat(path))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_file_info::new(info)));
            Ok(())
        })
    }
}

/// Removes a file, symlink or empty directory at `path`; with `recursive`, also a
/// directory and everything in it. Fails with `SBX_STATUS_NOT_FOUND` when nothing is
/// there. Blocks for one agent round trip: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_remove(
    session: *const sbx_session,
    path: *const c_char,
    recursive: bool,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_remove", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, path) = (borrow(session, "session")?, str_arg(path, "path")?);
            s.run(None, s.core().remove(path, recursive))
        })
    }
}
