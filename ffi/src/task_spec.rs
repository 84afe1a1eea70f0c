//! `sbx_task_spec`: what to run as a background task, built with setters.

use std::ffi::c_char;

use sandbox_core::TaskSpec;

use crate::boundary::{Blocks, call, quiet};
use crate::error::{FfiError, sbx_error};
use crate::handle::{free, out_param};
use crate::process::{self, SpecCell, wraps};
use crate::status::sbx_status;
use crate::text::{str_arg, str_array_arg};

/// Parameters of `sbx_session_spawn_task`: the command, and optional environment,
/// working dir and spool size.
///
/// Owned by the caller: create with `sbx_task_spec_new` or `sbx_task_spec_new_shell`,
/// free with `sbx_task_spec_free` exactly once. Spawning copies it, so one spec may
/// spawn many tasks. Setters lock it, so any thread may use it.
pub struct sbx_task_spec(SpecCell<TaskSpec>);

wraps!(sbx_task_spec: SpecCell<TaskSpec> = "spec");

fn new_spec(out: *mut *mut sbx_task_spec, spec: TaskSpec) -> Result<(), FfiError> {
    sandbox_core::validate::argv(&spec.argv)?;
    // SAFETY: `out` was checked non-NULL by the caller (out_param) and is writable.
    unsafe { process::spec_new(out, spec) };
    Ok(())
}

/// Creates a spec running `argv` (`argc` NUL-terminated UTF-8 strings, copied) directly,
/// without a shell. An empty argv is `SBX_STATUS_INVALID_ARGUMENT`. On success `*out`
/// receives a spec the caller frees with `sbx_task_spec_free`.
///
/// # Safety
/// `argv` is NULL or points to `argc` pointers to NUL-terminated strings; `out` is
/// writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_new(
    argv: *const *const c_char,
    argc: usize,
    out: *mut *mut sbx_task_spec,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_spec_new", err, Blocks::No, || {
            // SAFETY: NULL or `argc` string pointers by contract.
            let argv = str_array_arg(argv, argc, "argv")?;
            let out = out_param(out, "out")?;
            new_spec(out, TaskSpec::argv(argv))
        })
    }
}

/// Creates a spec running the shell command line `command` (copied) with `sh -c`; the
/// line is also how the task is shown in listings. An empty line is
/// `SBX_STATUS_INVALID_ARGUMENT`. On success `*out` receives a spec the caller frees with
/// `sbx_task_spec_free`.
///
/// # Safety
/// `command` is NULL or NUL-terminated; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_new_shell(
    command: *const c_char,
    out: *mut *mut sbx_task_spec,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_spec_new_shell", err, Blocks::No, || {
            // SAFETY: NULL or NUL-terminated by contract.
            let command = str_arg(command, "command")?;
            if command.trim().is_empty() {
                return Err(FfiError::invalid("command", "is empty"));
            }
            let out = out_param(out, "out")?;
            new_spec(out, TaskSpec::shell(command))
        })
    }
}

/// Adds an environment variable on top of the session's. Copied. The name must be
/// non-empty and contain no `=`.
///
/// # Safety
/// `spec` is NULL or live; `key`, `value` are NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_add_env(
    spec: *mut sbx_task_spec,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::spec_add_env("sbx_task_spec_add_env", spec, key, value, err) }
}

/// Sets the working directory inside the container (default: the session's working
/// dir). Copied; must not be empty. A directory that does not exist makes the spawn fail
/// with `SBX_STATUS_NOT_FOUND`.
///
/// # Safety
/// `spec` is NULL or live; `cwd` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_set_cwd(
    spec: *mut sbx_task_spec,
    cwd: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::spec_set_cwd("sbx_task_spec_set_cwd", spec, cwd, err) }
}

/// Sets the bytes kept per output stream (merged, stdout, stderr each; default 8 MiB);
/// older output is dropped. Zero is `SBX_STATUS_INVALID_ARGUMENT`; the agent checks the
/// upper bound when spawning.
///
/// # Safety
/// `spec` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_set_spool_cap(
    spec: *mut sbx_task_spec,
    bytes: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spec_set_kept("sbx_task_spec_set_spool_cap", spec, "spool cap", bytes, err, |s| &mut s.spool_cap)
    }
}

/// Frees a spec. NULL is ignored. Exactly once.
///
/// # Safety
/// `spec` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_spec_free(spec: *mut sbx_task_spec) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(spec) });
}
