//! `sbx_exec_options`: how to run one command (timeout, environment, working dir,
//! output cap, kill grace, linger, cancel token), built with setters.

use std::ffi::c_char;
use std::sync::{Arc, Mutex};

use sandbox_core::ExecOptions;

use crate::boundary::{Blocks, call, quiet};
use crate::cancel_token::sbx_cancel_token;
use crate::config::nonzero_ms;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::latch::Latch;
use crate::status::sbx_status;
use crate::text::str_arg;

/// Options of `sbx_session_exec` / `sbx_session_exec_stdin`. Every option is optional:
/// passing NULL options (or fresh ones) runs with no timeout, the session's environment
/// and working dir, and a 16 MiB cap per output stream.
///
/// An option never set has its documented default. Setting 0 means zero where zero
/// means something (output cap, kill grace, linger) and is `SBX_STATUS_INVALID_ARGUMENT`
/// where it does not (timeout: leave it unset for none).
///
/// Owned by the caller: create with `sbx_exec_options_new`, free with
/// `sbx_exec_options_free` exactly once. Calls copy them; the same options may be used
/// for many calls, from any thread (setters lock).
pub struct sbx_exec_options {
    inner: Mutex<OptionsBuilder>,
}

#[derive(Clone, Default)]
pub(crate) struct OptionsBuilder {
    pub opts: ExecOptions,
    pub cancel: Option<Arc<Latch>>,
}

impl sbx_exec_options {
    pub(crate) fn snapshot(&self) -> OptionsBuilder {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Applies a checked change to an options handle.
///
/// # Safety
/// `options` is NULL or live; `err` as in [`call`].
unsafe fn update(
    name: &'static str,
    options: *mut sbx_exec_options,
    err: *mut *mut sbx_error,
    change: impl FnOnce(&mut OptionsBuilder) -> Result<(), FfiError>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let o = borrow(options, "options")?;
            let mut b = o.inner.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = b.clone();
            change(&mut next)?;
            *b = next;
            Ok(())
        })
    }
}

/// Creates options with every field at its default. On success `*out` receives options
/// the caller frees with `sbx_exec_options_free`.
///
/// # Safety
/// `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_new(out: *mut *mut sbx_exec_options, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_options_new", err, Blocks::No, || {
            let out = out_param(out, "out")?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_exec_options { inner: Mutex::new(OptionsBuilder::default()) }));
            Ok(())
        })
    }
}

/// Frees options. NULL is ignored. Exactly once.
///
/// # Safety
/// `options` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_free(options: *mut sbx_exec_options) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(options) });
}

/// Kills the command's whole process group after `ms` milliseconds (SIGTERM, then
/// SIGKILL after the kill grace). 0 is `SBX_STATUS_INVALID_ARGUMENT` (not set: no
/// timeout). A command past its timeout is not an error: the result says `timed_out`.
///
/// # Safety
/// `options` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_timeout_ms(
    options: *mut sbx_exec_options,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_timeout_ms", options, err, |b| {
            b.opts.timeout = Some(nonzero_ms(ms, "timeout")?);
            Ok(())
        })
    }
}

/// Sets the time between SIGTERM and SIGKILL when the timeout fires (default 1000 ms;
/// 0 kills at once).
///
/// # Safety
/// `options` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_kill_grace_ms(
    options: *mut sbx_exec_options,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_kill_grace_ms", options, err, |b| {
            b.opts.kill_grace = Some(std::time::Duration::from_millis(ms));
            Ok(())
        })
    }
}

/// After the command exits, how long to wait for background children still holding its
/// output pipes (default 100 ms; 0 does not wait). They keep running; only their later
/// output is lost.
///
/// # Safety
/// `options` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_linger_ms(
    options: *mut sbx_exec_options,
    ms: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_linger_ms", options, err, |b| {
            b.opts.linger = Some(std::time::Duration::from_millis(ms));
            Ok(())
        })
    }
}

/// Caps captured bytes per stream (stdout and stderr each; default 16 MiB). Output past
/// the cap is counted (`sbx_exec_result_stdout_total`) and dropped in the container; a
/// cap of 0 captures nothing and only counts.
///
/// # Safety
/// `options` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_output_cap(
    options: *mut sbx_exec_options,
    bytes: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_output_cap", options, err, |b| {
            b.opts.output_cap = Some(bytes);
            Ok(())
        })
    }
}

/// Sets the working directory inside the container (default: the session's working
/// dir). Copied. A directory that does not exist makes the call fail with
/// `SBX_STATUS_NOT_FOUND`.
///
/// # Safety
/// `options` is NULL or live; `cwd` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_cwd(
    options: *mut sbx_exec_options,
    cwd: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_cwd", options, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let cwd = str_arg(cwd, "cwd")?;
            if cwd.is_empty() {
                return Err(FfiError::invalid("cwd", "is empty"));
            }
            b.opts.cwd = Some(cwd.to_string());
            Ok(())
        })
    }
}

/// Adds an environment variable on top of the session's. Copied. The name must be
/// non-empty and contain no `=`.
///
/// # Safety
/// `options` is NULL or live; `key`, `value` are NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_add_env(
    options: *mut sbx_exec_options,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_add_env", options, err, |b| {
            // SAFETY: NULL or NUL-terminated by contract.
            let pair = (str_arg(key, "key")?.to_string(), str_arg(value, "value")?.to_string());
            sandbox_core::validate::env(std::slice::from_ref(&pair))?;
            b.opts.env.push(pair);
            Ok(())
        })
    }
}

/// Attaches a cancel token (the options keep a reference: the token may be freed
/// afterwards); NULL detaches it. Cancelling the token makes a call using these options
/// return `SBX_STATUS_CANCELLED` and kills its command.
///
/// # Safety
/// `options` is NULL or live; `token` is NULL or a live token; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_options_set_cancel_token(
    options: *mut sbx_exec_options,
    token: *const sbx_cancel_token,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        update("sbx_exec_options_set_cancel_token", options, err, |b| {
            // SAFETY: NULL or a live token by contract.
            b.cancel = token.as_ref().map(|t| t.latch.clone());
            Ok(())
        })
    }
}
