//! `sbx_exec_result`: how a command ended and what it printed.

use sandbox_core::ExecOutput;

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, out_param, write_out};
use crate::status::sbx_status;

/// The outcome of `sbx_session_exec`: output bytes, exit code or signal, timeout and
/// truncation flags, totals, duration. A non-zero exit, a signal or a timeout is data
/// here, not an error.
///
/// Owned by the caller, freed with `sbx_exec_result_free` exactly once. Immutable, so
/// readable from any thread. Byte views it returns are borrowed from it and valid until
/// it is freed.
pub struct sbx_exec_result {
    pub(crate) output: ExecOutput,
}

fn with<T: Copy>(result: *const sbx_exec_result, fallback: T, pick: impl FnOnce(&ExecOutput) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable result by the exported functions' contract.
        match unsafe { result.as_ref() } {
            Some(r) => pick(&r.output),
            None => fallback,
        }
    })
}

/// The captured stdout (up to the cap), byte-exact: may contain NUL bytes and is not
/// NUL-terminated.
///
/// On success `*data` receives a pointer borrowed from `result` (valid until
/// `sbx_exec_result_free`; non-NULL even when `*len` is 0) and `*len` its length.
///
/// # Safety
/// `result` is NULL or live; `data` and `len` are writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stdout(
    result: *const sbx_exec_result,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { bytes_view("sbx_exec_result_stdout", result, data, len, err, |o| &o.stdout) }
}

/// The captured stderr; as `sbx_exec_result_stdout`.
///
/// # Safety
/// `result` is NULL or live; `data` and `len` are writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stderr(
    result: *const sbx_exec_result,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { bytes_view("sbx_exec_result_stderr", result, data, len, err, |o| &o.stderr) }
}

/// # Safety
/// As for the exports that call it.
unsafe fn bytes_view(
    name: &'static str,
    result: *const sbx_exec_result,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
    pick: fn(&ExecOutput) -> &Vec<u8>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let r = borrow(result, "result")?;
            let (data, len) = (out_param(data, "data")?, out_param(len, "len")?);
            let bytes = pick(&r.output);
            // SAFETY: both checked non-NULL and writable by contract.
            write_out(data, bytes.as_ptr());
            write_out(len, bytes.len());
            Ok(())
        })
    }
}

/// The exit status when the command exited (127: not found, 126: not executable), or -1
/// when it did not exit (killed by a signal) or `result` is NULL.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_exit_code(result: *const sbx_exec_result) -> i32 {
    with(result, -1, |o| o.exit_code.unwrap_or(-1))
}

/// The signal number that killed the command, or 0 when it exited.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_signal(result: *const sbx_exec_result) -> i32 {
    with(result, 0, |o| o.signal.unwrap_or(0))
}

/// Whether the timeout fired and the command's process group was killed.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_timed_out(result: *const sbx_exec_result) -> bool {
    with(result, false, |o| o.timed_out)
}

/// Whether the command exited with 0 and did not time out.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_success(result: *const sbx_exec_result) -> bool {
    with(result, false, ExecOutput::success)
}

/// Whether the kernel's OOM killer killed the command (the session hit its memory
/// limit); the signal is then 9.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_oom_killed(result: *const sbx_exec_result) -> bool {
    with(result, false, |o| o.oom_killed)
}

/// Whether stdout went past the output cap (see `sbx_exec_result_stdout_total`).
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stdout_truncated(result: *const sbx_exec_result) -> bool {
    with(result, false, |o| o.stdout_truncated)
}

/// Whether stderr went past the output cap.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stderr_truncated(result: *const sbx_exec_result) -> bool {
    with(result, false, |o| o.stderr_truncated)
}

/// Bytes the command wrote to stdout in all (captured or not).
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stdout_total(result: *const sbx_exec_result) -> u64 {
    with(result, 0, |o| o.stdout_total)
}

/// Bytes the command wrote to stderr in all.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_stderr_total(result: *const sbx_exec_result) -> u64 {
    with(result, 0, |o| o.stderr_total)
}

/// Time from spawn to exit as measured in the container, in microseconds.
///
/// # Safety
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_duration_us(result: *const sbx_exec_result) -> u64 {
    with(result, 0, |o| o.duration.as_micros().min(u64::MAX as u128) as u64)
}

/// Frees a result. NULL is ignored. Exactly once; byte views taken from it become
/// invalid.
///
/// # Safety
/// `result` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_result_free(result: *mut sbx_exec_result) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(result) });
}
