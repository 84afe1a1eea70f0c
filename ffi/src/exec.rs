//! Running a command to completion: `sbx_session_exec` and `sbx_session_exec_stdin`.
//! (Streaming exec, with pull-based reads, goes in `exec_stream.rs`.)

use std::ffi::c_char;

use crate::boundary::{Blocks, call};
use crate::error::sbx_error;
use crate::exec_options::{OptionsBuilder, sbx_exec_options};
use crate::exec_result::sbx_exec_result;
use crate::handle::{borrow, into_handle, out_param, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::{bytes_arg, str_array_arg};

/// Runs `argv` (`argc` NUL-terminated UTF-8 strings, copied; no shell unless you run
/// one) in the session and waits for it, stdin being /dev/null.
///
/// `options` may be NULL for the defaults. On success `*out` receives a result the
/// caller frees with `sbx_exec_result_free`; a non-zero exit, a signal or a timeout is
/// success with the outcome in the result. Errors are for calls that could not run:
/// `SBX_STATUS_INVALID_ARGUMENT` (empty argv...), `SBX_STATUS_NOT_FOUND` (bad cwd),
/// `SBX_STATUS_SESSION_NOT_FOUND` (stopped), `SBX_STATUS_SESSION_LOST`,
/// `SBX_STATUS_CLOSED` (the handle was closed, also while waiting),
/// `SBX_STATUS_CANCELLED` (its cancel token fired). When the call returns early (closed,
/// cancelled) the command is killed in the container.
///
/// Blocks until the command ends: not from a library runtime thread. Any number of
/// threads may exec on one session at once.
///
/// # Safety
/// `session` is NULL or live; `argv` is NULL or points to `argc` pointers to
/// NUL-terminated strings; `options` is NULL or live; `out` is writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_exec(
    session: *const sbx_session,
    argv: *const *const c_char,
    argc: usize,
    options: *const sbx_exec_options,
    out: *mut *mut sbx_exec_result,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { exec("sbx_session_exec", session, argv, argc, None, options, out, err) }
}

/// Like `sbx_session_exec`, with the `stdin_len` bytes at `stdin` (copied; any bytes,
/// NUL included; `stdin` may be NULL when `stdin_len` is 0) written to the command's
/// stdin, which is then closed.
///
/// # Safety
/// As for `sbx_session_exec`; `stdin` is NULL or points to `stdin_len` readable bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sbx_session_exec_stdin(
    session: *const sbx_session,
    argv: *const *const c_char,
    argc: usize,
    stdin: *const u8,
    stdin_len: usize,
    options: *const sbx_exec_options,
    out: *mut *mut sbx_exec_result,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { exec("sbx_session_exec_stdin", session, argv, argc, Some((stdin, stdin_len)), options, out, err) }
}

/// # Safety
/// As for the exports above.
#[allow(clippy::too_many_arguments)]
unsafe fn exec(
    name: &'static str,
    session: *const sbx_session,
    argv: *const *const c_char,
    argc: usize,
    stdin: Option<(*const u8, usize)>,
    options: *const sbx_exec_options,
    out: *mut *mut sbx_exec_result,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: all pointers NULL or valid as the exports' contracts say.
            let s = borrow(session, "session")?;
            let argv = str_array_arg(argv, argc, "argv")?;
            let OptionsBuilder { mut opts, cancel } =
                if options.is_null() { OptionsBuilder::default() } else { borrow(options, "options")?.snapshot() };
            if let Some((p, len)) = stdin {
                opts.stdin = Some(bytes_arg(p, len, "stdin")?.to_vec());
            }
            let out = out_param(out, "out")?;
            let output = s.run(cancel.as_deref(), s.core().exec(&argv, opts))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_exec_result { output }));
            Ok(())
        })
    }
}
