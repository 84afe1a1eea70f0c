//! `sbx_terminal_spec`: what to run in a terminal and at what size, built with setters.

use std::ffi::c_char;

use sandbox_core::TerminalSpec;

use crate::boundary::{Blocks, call, quiet};
use crate::error::{FfiError, sbx_error};
use crate::handle::{free, out_param};
use crate::process::{self, SpecCell, wraps};
use crate::status::sbx_status;
use crate::text::{str_arg, str_array_arg};

/// Parameters of `sbx_session_open_terminal`: the size, the program (an interactive
/// shell unless set), and optional environment, working dir and scrollback size.
///
/// Owned by the caller: create with `sbx_terminal_spec_new`, free with
/// `sbx_terminal_spec_free` exactly once. Opening copies it. Setters lock it, so any
/// thread may use it.
pub struct sbx_terminal_spec(SpecCell<TerminalSpec>);

wraps!(sbx_terminal_spec: SpecCell<TerminalSpec> = "spec");

/// Creates a spec for a terminal of `rows` x `cols` (1 to 1000 each) running an
/// interactive shell (`$SHELL`, else `/bin/sh`). `TERM` is `xterm-256color` unless set
/// with `sbx_terminal_spec_add_env`. On success `*out` receives a spec the caller frees
/// with `sbx_terminal_spec_free`.
///
/// # Safety
/// `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_new(
    rows: u16,
    cols: u16,
    out: *mut *mut sbx_terminal_spec,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_terminal_spec_new", err, Blocks::No, || {
            sandbox_core::validate::terminal_size(rows, cols)?;
            let out = out_param(out, "out")?;
            // SAFETY: checked non-NULL, writable by contract.
            process::spec_new(out, TerminalSpec::shell(rows, cols));
            Ok(())
        })
    }
}

/// Runs `argv` (`argc` NUL-terminated UTF-8 strings, copied; non-empty) instead of the
/// shell.
///
/// # Safety
/// `spec` is NULL or live; `argv` is NULL or points to `argc` pointers to NUL-terminated
/// strings; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_set_argv(
    spec: *mut sbx_terminal_spec,
    argv: *const *const c_char,
    argc: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spec_update("sbx_terminal_spec_set_argv", spec, err, |s| {
            // SAFETY: NULL or `argc` string pointers by contract.
            let argv = str_array_arg(argv, argc, "argv")?;
            sandbox_core::validate::argv(&argv)?;
            s.argv = argv;
            s.command = None;
            Ok(())
        })
    }
}

/// Runs the shell command line `command` (copied; non-empty) with `sh -c` instead of an
/// interactive shell; the line is also how the terminal is shown in listings.
///
/// # Safety
/// `spec` is NULL or live; `command` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_set_shell_command(
    spec: *mut sbx_terminal_spec,
    command: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spec_update("sbx_terminal_spec_set_shell_command", spec, err, |s| {
            // SAFETY: NULL or NUL-terminated by contract.
            let command = str_arg(command, "command")?;
            if command.trim().is_empty() {
                return Err(FfiError::invalid("command", "is empty"));
            }
            let c = TerminalSpec::command(command, s.rows, s.cols);
            s.argv = c.argv;
            s.command = c.command;
            Ok(())
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
pub unsafe extern "C" fn sbx_terminal_spec_add_env(
    spec: *mut sbx_terminal_spec,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::spec_add_env("sbx_terminal_spec_add_env", spec, key, value, err) }
}

/// Sets the working directory inside the container (default: the session's working
/// dir). Copied; must not be empty. A directory that does not exist makes the open fail
/// with `SBX_STATUS_NOT_FOUND`.
///
/// # Safety
/// `spec` is NULL or live; `cwd` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_set_cwd(
    spec: *mut sbx_terminal_spec,
    cwd: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::spec_set_cwd("sbx_terminal_spec_set_cwd", spec, cwd, err) }
}

/// Sets the scrollback kept (default 1 MiB); older output is dropped. Zero is
/// `SBX_STATUS_INVALID_ARGUMENT`; the agent checks the upper bound when opening.
///
/// # Safety
/// `spec` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_set_scrollback(
    spec: *mut sbx_terminal_spec,
    bytes: u64,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spec_set_kept("sbx_terminal_spec_set_scrollback", spec, "scrollback", bytes, err, |s| {
            &mut s.scrollback
        })
    }
}

/// Frees a spec. NULL is ignored. Exactly once.
///
/// # Safety
/// `spec` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_spec_free(spec: *mut sbx_terminal_spec) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(spec) });
}
