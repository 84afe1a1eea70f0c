//! `sbx_task`: a background task of a session (spawned, or found again by id): read its
//! output, wait for it, kill it.

use std::ffi::c_char;

use sandbox_core::TaskKind;

use crate::boundary::{Blocks, call, quiet};
use crate::cancel_token::sbx_cancel_token;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::output_chunk::{sbx_output_chunk, sbx_task_stream};
use crate::process::{self, Held, Wraps, wraps};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::task_info::{sbx_task_info, sbx_task_list};
use crate::task_spec::sbx_task_spec;

/// A handle on one background task. The task itself lives in the session's agent: it
/// runs on when this handle is freed (or the caller exits), and any process can find it
/// again with `sbx_session_attach_task`.
///
/// Thread rules: any number of threads may call functions on it at once.
/// `sbx_task_close` (idempotent, any thread, never blocks) makes calls blocked on it
/// (`sbx_task_output` with a timeout, `sbx_task_wait`) return `SBX_STATUS_CLOSED` at
/// once, and later calls too; it does not kill the task. Closing or freeing the session
/// it came from closes it as well. `sbx_task_free` exactly once, after every other
/// thread has returned from calls on it.
pub struct sbx_task(Held<TaskKind>);

wraps!(sbx_task: Held<TaskKind> = "task");

/// Starts a background task in the session as `spec` (copied) says. It runs in its own
/// process group, owned by the agent: it survives this handle and the calling process;
/// its output is spooled in the session's control dir.
///
/// On success `*out` receives a task handle the caller frees with `sbx_task_free`.
/// Failures: `SBX_STATUS_NOT_FOUND` (bad cwd), `SBX_STATUS_INVALID_ARGUMENT` (spool cap
/// out of range), `SBX_STATUS_SESSION_NOT_FOUND`, `SBX_STATUS_SESSION_LOST`,
/// `SBX_STATUS_CLOSED`. Blocks for one agent round trip: not from a library runtime
/// thread.
///
/// # Safety
/// `session` is NULL or live; `spec` is NULL or live; `out` is writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_spawn_task(
    session: *const sbx_session,
    spec: *const sbx_task_spec,
    out: *mut *mut sbx_task,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spawn("sbx_session_spawn_task", session, spec, out, err, |s, spec| {
            s.run(None, s.core().spawn_task(spec))
        })
    }
}

/// A handle on the existing task `id` of the session (spawned by this or any other
/// process). Fails with `SBX_STATUS_NOT_FOUND` when the session has no such task and
/// `SBX_STATUS_INVALID_ARGUMENT` for a malformed id. On success `*out` receives a handle
/// the caller frees with `sbx_task_free`. Blocks for one agent round trip: not from a
/// library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `id` is NULL or NUL-terminated; `out` is writable; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_attach_task(
    session: *const sbx_session,
    id: *const c_char,
    out: *mut *mut sbx_task,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::attach("sbx_session_attach_task", session, id, out, err, |s, id| s.run(None, s.core().attach_task(id)))
    }
}

/// All tasks of the session, oldest first (read from the spool when the agent is gone).
/// On success `*out` receives a list the caller frees with `sbx_task_list_free`. Blocks
/// for one agent round trip: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_tasks(
    session: *const sbx_session,
    out: *mut *mut sbx_task_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::list("sbx_session_list_tasks", session, out, err, |s| s.run(None, s.core().list_tasks())) }
}

/// The task id. Borrowed from `task`: valid until `sbx_task_free`, also after close.
/// NULL for NULL. Never blocks; any thread.
///
/// # Safety
/// `task` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_id(task: *const sbx_task) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::id(task) }
}

/// How the task is doing now. On success `*out` receives an info the caller frees with
/// `sbx_task_info_free`. Blocks for one agent round trip: not from a library runtime
/// thread.
///
/// # Safety
/// `task` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_get_info(
    task: *const sbx_task,
    out: *mut *mut sbx_task_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::get_info("sbx_task_get_info", task, out, err) }
}

/// Reads at most `max` bytes (1 to 64 MiB) of the task's output `stream` (an
/// `sbx_task_stream` value) from absolute offset `offset`.
///
/// `timeout_ms`: 0 returns at once with what is there (possibly no bytes); otherwise,
/// when there is nothing new yet and the task still runs, waits up to that long for
/// output and fails with `SBX_STATUS_TIMEOUT` if none comes (`SBX_NO_TIMEOUT`: as long
/// as it takes). A finished task never makes it wait. `cancel` (NULL allowed) makes the
/// call return `SBX_STATUS_CANCELLED` from another thread.
///
/// On success `*out` receives a chunk the caller frees with `sbx_output_chunk_free`.
/// Blocks (for one round trip, or the wait): not from a library runtime thread.
///
/// # Safety
/// `task` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sbx_task_output(
    task: *const sbx_task,
    stream: u32,
    offset: u64,
    max: usize,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_output_chunk,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_output", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(task, sbx_task::WHAT)?.inner();
            let stream = sbx_task_stream::from_u32(stream)?;
            // SAFETY: `cancel` and `out` as the caller's contract says.
            process::read_into(t, out, timeout_ms, cancel, |w| t.core().read(stream, offset, max, w))
        })
    }
}

/// The last `bytes` bytes (1 to 64 MiB) of the task's output `stream` (an
/// `sbx_task_stream` value), without waiting. On success `*out` receives a chunk the
/// caller frees with `sbx_output_chunk_free`. Blocks for one agent round trip: not from
/// a library runtime thread.
///
/// # Safety
/// `task` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_tail(
    task: *const sbx_task,
    stream: u32,
    bytes: usize,
    out: *mut *mut sbx_output_chunk,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_tail", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(task, sbx_task::WHAT)?.inner();
            let stream = sbx_task_stream::from_u32(stream)?;
            let out = out_param(out, "out")?;
            if bytes == 0 {
                return Err(FfiError::invalid("bytes", "must be greater than zero"));
            }
            let chunk = t.run(None, t.core().tail(stream, bytes))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_output_chunk { chunk }));
            Ok(())
        })
    }
}

/// Waits for the task to end. `timeout_ms`: 0 only checks; otherwise fails with
/// `SBX_STATUS_TIMEOUT` when it still runs after that long (`SBX_NO_TIMEOUT`: as long as
/// it takes). `cancel` (NULL allowed) makes the call return `SBX_STATUS_CANCELLED` from
/// another thread; neither stops the task.
///
/// On success `*out` receives the final info (exit code or signal), which the caller
/// frees with `sbx_task_info_free`. The last of the task's output may still be on its way
/// into the spool when this returns: to read all of it, read with a timeout until
/// `sbx_output_chunk_finished`. Blocks: not from a library runtime thread.
///
/// # Safety
/// `task` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_wait(
    task: *const sbx_task,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_task_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::wait("sbx_task_wait", task, timeout_ms, cancel, out, err) }
}

/// Sends `signal` (1 to 31, e.g. 15 for SIGTERM, 9 for SIGKILL) to the task's whole
/// process group. Fails with `SBX_STATUS_NOT_RUNNING` once the task and every process
/// of its group have exited. Blocks for one agent round trip: not from a library
/// runtime thread.
///
/// # Safety
/// `task` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_kill(task: *const sbx_task, signal: i32, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::kill("sbx_task_kill", task, signal, err) }
}

/// Closes the handle: calls blocked on it in other threads return `SBX_STATUS_CLOSED` at
/// once, and later calls fail the same way. The task keeps running. Idempotent,
/// thread-safe, never blocks; NULL is ignored. Does not free the handle.
///
/// # Safety
/// `task` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_close(task: *mut sbx_task) {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::close(task) }
}

/// Frees the handle (closing it first; the task keeps running). NULL is ignored. Exactly
/// once, after every other thread has returned from calls on it; its id string becomes
/// invalid.
///
/// # Safety
/// `task` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_free(task: *mut sbx_task) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(task) });
}
