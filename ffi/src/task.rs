//! `sbx_task`: a background task of a session (spawned, or found again by id): read its
//! output, wait for it, kill it.

use std::ffi::{CString, c_char};

use sandbox_core::{ErrorKind, OutputChunk, Session, TaskStream};

use crate::boundary::{Blocks, call, quiet, value};
use crate::cancel_token::sbx_cancel_token;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::latch::Latch;
use crate::output_chunk::{sbx_output_chunk, sbx_task_stream};
use crate::session::sbx_session;
use crate::session_link::SessionLink;
use crate::status::sbx_status;
use crate::task_info::{sbx_task_info, sbx_task_list};
use crate::task_spec::sbx_task_spec;
use crate::text::{str_arg, to_cstring_lossy};
use crate::wait_time::{WAIT_SLICE, WaitTime};

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
pub struct sbx_task {
    link: SessionLink,
    id: String,
    c_id: CString,
}

impl sbx_task {
    fn new(link: SessionLink, id: String) -> sbx_task {
        sbx_task { c_id: to_cstring_lossy(id.clone()), id, link }
    }

    fn run<T>(
        &self,
        cancel: Option<&Latch>,
        fut: impl std::future::Future<Output = sandbox_core::Result<T>>,
    ) -> Result<T, FfiError> {
        self.link.run("task", cancel, fut)
    }
}

/// The cancel token's latch, when a token was given.
///
/// # Safety
/// `cancel` is NULL or a live token.
pub(crate) unsafe fn cancel_latch<'a>(cancel: *const sbx_cancel_token) -> Option<&'a Latch> {
    // SAFETY: NULL or a live token by the caller's contract.
    unsafe { cancel.as_ref() }.map(|t| &*t.latch)
}

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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_spawn_task", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let (s, spec) = (borrow(session, "session")?, borrow(spec, "spec")?);
            let out = out_param(out, "out")?;
            let spec = spec.snapshot();
            let link = s.link()?;
            let info = s.run(None, s.core().spawn_task(spec))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_task::new(link, info.id)));
            Ok(())
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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_attach_task", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, id) = (borrow(session, "session")?, str_arg(id, "id")?);
            let out = out_param(out, "out")?;
            let link = s.link()?;
            let info = s.run(None, s.core().task(id))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_task::new(link, info.id)));
            Ok(())
        })
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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_list_tasks", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            let tasks = s.run(None, s.core().list_tasks())?;
            let list = sbx_task_list { items: tasks.into_iter().map(sbx_task_info::new).collect() };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(list));
            Ok(())
        })
    }
}

/// The task id. Borrowed from `task`: valid until `sbx_task_free`, also after close.
/// NULL for NULL. Never blocks; any thread.
///
/// # Safety
/// `task` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_id(task: *const sbx_task) -> *const c_char {
    // SAFETY: NULL or a live task by contract; the id is immutable.
    value(std::ptr::null(), || unsafe { task.as_ref() }.map_or(std::ptr::null(), |t| t.c_id.as_ptr()))
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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_get_info", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(task, "task")?;
            let out = out_param(out, "out")?;
            let info = t.run(None, t.link.core().task(&t.id))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_task_info::new(info)));
            Ok(())
        })
    }
}

/// Reads a spooled output read, waiting as `wait` says (`Forever` in slices the agent
/// accepts).
pub(crate) async fn read_waiting<F, Fut>(wait: WaitTime, read: F) -> sandbox_core::Result<OutputChunk>
where
    F: Fn(Option<std::time::Duration>) -> Fut,
    Fut: std::future::Future<Output = sandbox_core::Result<OutputChunk>>,
{
    match wait {
        WaitTime::Now => read(None).await,
        WaitTime::For(d) => read(Some(d)).await,
        WaitTime::Forever => loop {
            match read(Some(WAIT_SLICE)).await {
                Err(e) if e.kind() == ErrorKind::Timeout => continue,
                other => break other,
            }
        },
    }
}

async fn read_task(
    session: &Session,
    id: &str,
    stream: TaskStream,
    offset: u64,
    max: usize,
    wait: Option<std::time::Duration>,
) -> sandbox_core::Result<OutputChunk> {
    match wait {
        None => session.task_output(id, stream, offset, max).await,
        Some(w) => session.task_output_wait(id, stream, offset, max, w).await,
    }
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
            let t = borrow(task, "task")?;
            let stream = sbx_task_stream::from_u32(stream)?;
            let out = out_param(out, "out")?;
            let session = t.link.core();
            let id = t.id.as_str();
            let read = read_waiting(WaitTime::from_ms(timeout_ms), |w| read_task(session, id, stream, offset, max, w));
            // SAFETY: NULL or a live token by contract.
            let chunk = t.run(cancel_latch(cancel), read)?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_output_chunk { chunk }));
            Ok(())
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
            let t = borrow(task, "task")?;
            let stream = sbx_task_stream::from_u32(stream)?;
            let out = out_param(out, "out")?;
            if bytes == 0 {
                return Err(FfiError::invalid("bytes", "must be greater than zero"));
            }
            let chunk = t.run(None, t.link.core().task_tail(&t.id, stream, bytes))?;
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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_wait", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(task, "task")?;
            let out = out_param(out, "out")?;
            let timeout = match WaitTime::from_ms(timeout_ms) {
                WaitTime::Now => Some(std::time::Duration::ZERO),
                WaitTime::For(d) => Some(d),
                WaitTime::Forever => None,
            };
            // SAFETY: NULL or a live token by contract.
            let info = t.run(cancel_latch(cancel), t.link.core().wait_task(&t.id, timeout))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_task_info::new(info)));
            Ok(())
        })
    }
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
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_task_kill", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(task, "task")?;
            t.run(None, t.link.core().kill_task(&t.id, signal))
        })
    }
}

/// Closes the handle: calls blocked on it in other threads return `SBX_STATUS_CLOSED` at
/// once, and later calls fail the same way. The task keeps running. Idempotent,
/// thread-safe, never blocks; NULL is ignored. Does not free the handle.
///
/// # Safety
/// `task` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_close(task: *mut sbx_task) {
    quiet(|| {
        // SAFETY: NULL or live by contract.
        if let Ok(t) = unsafe { borrow(task, "task") } {
            t.link.closed.set();
        }
    });
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
