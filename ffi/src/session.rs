//! `sbx_session`: one running session (container + agent): start, attach, identity,
//! start report, ping, stop, close, free. Running commands is in `exec.rs`.

use std::ffi::{CString, c_char};
use std::future::Future;
use std::sync::{Arc, OnceLock};

use sandbox_core::{Session, StartReport};

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::{ContextInner, sbx_context};
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::interruptible;
use crate::latch::Latch;
use crate::session_link::SessionLink;
use crate::session_spec::sbx_session_spec;
use crate::status::sbx_status;
use crate::text::{str_arg, to_cstring_lossy};

/// A session handle. Obtained from `sbx_context_start` (which starts a new container) or
/// `sbx_context_attach` (which connects to a running one, from any process).
///
/// Thread rules: every function taking a session may be called from any number of
/// threads at once; calls share one connection to the agent. `sbx_session_close` (any
/// thread, idempotent) makes blocked and later calls fail with `SBX_STATUS_CLOSED`
/// without stopping the container; `sbx_session_stop` removes the container;
/// `sbx_session_free` (exactly once, when no other thread is in a call on it) releases
/// the handle, closing it first but never stopping the container. The handles made from
/// a session (`sbx_task`, `sbx_terminal`, `sbx_exec_stream`) are closed when it is
/// closed or freed.
pub struct sbx_session {
    // Dropped (in Drop) inside the runtime's context.
    session: Option<Session>,
    // Shared with the handles made from this session (tasks, terminals, streams): closing
    // or freeing the session closes them too.
    pub(crate) closed: Arc<Latch>,
    id: CString,
    report: Option<ReportView>,
    agent_version: OnceLock<CString>,
    // Last: the runtime outlives everything above.
    ctx: Arc<ContextInner>,
}

struct ReportView {
    json: CString,
    warnings: Vec<CString>,
}

impl ReportView {
    fn new(r: &StartReport) -> ReportView {
        let json = serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        ReportView {
            json: to_cstring_lossy(json),
            warnings: r.warnings.iter().cloned().map(to_cstring_lossy).collect(),
        }
    }
}

impl Drop for sbx_session {
    fn drop(&mut self) {
        self.closed.set();
        let _in_rt = self.ctx.rt.enter();
        self.session.take();
    }
}

impl sbx_session {
    pub(crate) fn new(ctx: Arc<ContextInner>, session: Session) -> sbx_session {
        sbx_session {
            id: to_cstring_lossy(session.id().to_string()),
            report: session.start_report().map(ReportView::new),
            session: Some(session),
            closed: Arc::new(Latch::new()),
            agent_version: OnceLock::new(),
            ctx,
        }
    }

    pub(crate) fn core(&self) -> &Session {
        self.session.as_ref().expect("the session lives until drop")
    }

    /// Runs a call on the session: fails at once when closed; returns `CLOSED` when
    /// `sbx_session_close` is called while it waits, and `CANCELLED` when `cancel` is set.
    /// Dropping the call's future cancels it in the agent (which kills its processes).
    pub(crate) fn run<T>(
        &self,
        cancel: Option<&Latch>,
        fut: impl Future<Output = sandbox_core::Result<T>>,
    ) -> Result<T, FfiError> {
        interruptible::block_on(&self.ctx.rt, &[(&self.closed, "session")], cancel, fut)
    }

    /// Runs a call on the session that must not be cut short once begun (a snapshot, a
    /// fork, a merge: abandoned halfway, they could leave the session paused or half-made
    /// children): fails at once when closed, then runs to the end.
    pub(crate) fn run_whole<T>(&self, fut: impl Future<Output = sandbox_core::Result<T>>) -> Result<T, FfiError> {
        interruptible::check_open(&[(&self.closed, "session")], None)?;
        self.ctx.block_on(fut)
    }

    /// The sandbox of the context this session came from.
    pub(crate) fn sandbox(&self) -> &sandbox_core::Sandbox {
        &self.ctx.sandbox
    }

    /// The context this session came from (for handles of sessions made from it: a
    /// fork's children).
    pub(crate) fn context(&self) -> &Arc<ContextInner> {
        &self.ctx
    }

    /// What a handle made from this session (task, terminal, stream) keeps of it.
    pub(crate) fn link(&self) -> Result<SessionLink, FfiError> {
        interruptible::check_open(&[(&self.closed, "session")], None)?;
        Ok(SessionLink::new(self.core().clone(), self.closed.clone(), self.ctx.clone()))
    }
}

/// Starts a session as described by `spec` (copied): creates the container, waits for
/// its agent, applies the policy, runs provisioning and allowed post-create commands.
/// What it actually did is in the start report (`sbx_session_start_report_json`).
///
/// Typical failures: `SBX_STATUS_SESSION_EXISTS`, `SBX_STATUS_IMAGE_UNAVAILABLE`,
/// `SBX_STATUS_LIMITS_UNAVAILABLE`, `SBX_STATUS_INVALID_ARGUMENT` (bad working dir),
/// `SBX_STATUS_ENGINE` (podman's stderr in the message). On success `*out` receives a
/// session the caller frees with `sbx_session_free` (which does not stop it: call
/// `sbx_session_stop` to remove the container). Blocks (hundreds of ms): not from a
/// library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `spec` is NULL or a live spec; `out` is writable;
/// `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_start(
    ctx: *const sbx_context,
    spec: *const sbx_session_spec,
    out: *mut *mut sbx_session,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_start", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let (ctx, spec) = (borrow(ctx, "context")?, borrow(spec, "spec")?);
            let out = out_param(out, "out")?;
            let inner = ctx.open()?;
            let spec = spec.resolve(inner.sandbox.config())?;
            let session = inner.block_on(inner.sandbox.start(spec))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_session::new(inner.clone(), session)));
            Ok(())
        })
    }
}

/// Connects to the session `id` of this context's scope (started by this or any other
/// process). The handle has no start report.
///
/// A session whose container is no longer running (its agent was killed, it ran out of
/// memory, it timed out idle) is attached too, so what its tasks and terminals wrote
/// stays readable: task and terminal lists, infos, reads and waits on exited ones work
/// from what the agent left; every call that needs the agent fails with
/// `SBX_STATUS_SESSION_LOST` and says why. Fails with `SBX_STATUS_SESSION_NOT_FOUND`
/// when no such session exists. On success `*out`
/// receives a session the caller frees with `sbx_session_free`. Blocks: not from a
/// library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `id` is NULL or NUL-terminated; `out` is writable;
/// `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_attach(
    ctx: *const sbx_context,
    id: *const c_char,
    out: *mut *mut sbx_session,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_attach", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (ctx, id) = (borrow(ctx, "context")?, str_arg(id, "id")?);
            let out = out_param(out, "out")?;
            let inner = ctx.open()?;
            let session = inner.block_on(inner.sandbox.attach(id))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_session::new(inner.clone(), session)));
            Ok(())
        })
    }
}

/// The session id. Borrowed from `session`: valid until `sbx_session_free`, also after
/// close and stop. NULL for NULL. Never blocks; any thread.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_id(session: *const sbx_session) -> *const c_char {
    // SAFETY: NULL or a live session by contract; `id` is immutable.
    value(std::ptr::null(), || unsafe { session.as_ref() }.map_or(std::ptr::null(), |s| s.id.as_ptr()))
}

/// The start report as a JSON object (sandbox-core's `StartReport`: `session_id`,
/// `container`, `working_dir`, `image` {`requested`, `used`, `reason`}, `network`,
/// `ports_published`, `ports_dropped`, `limits` (with `nproc_fallback`),
/// `protected_paths`, `provisioning`, `post_create`, `warnings`, `duration` in seconds,
/// and `egress`: null, or for a session on the `egress` network an object with `rules`
/// (the allow rules as normalized text), `pinned` (the pinned names), `proxy` (the URL
/// the session's processes use) and `enforcer_pid`).
///
/// On success `*json` receives a string borrowed from `session`, valid until
/// `sbx_session_free`. Fails with `SBX_STATUS_NOT_AVAILABLE` for a session obtained by
/// attach. Never blocks; any thread.
///
/// # Safety
/// `session` is NULL or a live session; `json` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_start_report_json(
    session: *const sbx_session,
    json: *mut *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_start_report_json", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let json = out_param(json, "json")?;
            let report = s.report.as_ref().ok_or_else(no_report)?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(json, report.json.as_ptr());
            Ok(())
        })
    }
}

fn no_report() -> FfiError {
    FfiError::new(
        sbx_status::NotAvailable,
        "this session was obtained by attach, so it has no start report (only the handle from sbx_context_start has one)",
    )
}

/// Number of warnings in the start report (image replaced, ports dropped, limits not
/// enforced, provisioning or post-create failures...); 0 without a report or for NULL.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_start_report_warning_count(session: *const sbx_session) -> usize {
    value(0, || {
        // SAFETY: NULL or a live session by contract; the report is immutable.
        unsafe { session.as_ref() }.and_then(|s| s.report.as_ref()).map_or(0, |r| r.warnings.len())
    })
}

/// Warning `index` of the start report, in plain words; NULL when out of range. Borrowed
/// from `session`, valid until `sbx_session_free`.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_start_report_warning(session: *const sbx_session, index: usize) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live session by contract; the report is immutable.
        unsafe { session.as_ref() }
            .and_then(|s| s.report.as_ref())
            .and_then(|r| r.warnings.get(index))
            .map_or(std::ptr::null(), |w| w.as_ptr())
    })
}

/// Checks the agent answers: one round trip without spawning a process.
///
/// Fails with `SBX_STATUS_SESSION_NOT_FOUND` (stopped) or `SBX_STATUS_SESSION_LOST`
/// (container gone or dead), `SBX_STATUS_CLOSED` after close. Blocks: not from a library
/// runtime thread.
///
/// # Safety
/// `session` is NULL or a live session; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_ping(session: *const sbx_session, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_ping", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            s.run(None, s.core().ping())
        })
    }
}

/// The version of the agent serving this session (connecting if needed).
///
/// On success `*version` receives a string borrowed from `session`, valid until
/// `sbx_session_free`. Blocks the first time: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or a live session; `version` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_agent_version(
    session: *const sbx_session,
    version: *mut *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_agent_version", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let version = out_param(version, "version")?;
            let text = match s.agent_version.get() {
                Some(v) => v,
                None => {
                    // The agent binary of a running container never changes, so the
                    // first answer holds for the handle's lifetime.
                    let v = s.run(None, s.core().agent_version())?;
                    s.agent_version.get_or_init(|| to_cstring_lossy(v))
                }
            };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(version, text.as_ptr());
            Ok(())
        })
    }
}

/// Stops the session: kills and removes its container (and every process in it) and
/// deletes its control dir. Idempotent: stopping a stopped session succeeds. Later calls
/// on the handle fail with `SBX_STATUS_SESSION_NOT_FOUND`. Fails with
/// `SBX_STATUS_CLOSED` after `sbx_session_close`. Blocks (a fraction of a second): not
/// from a library runtime thread.
///
/// # Safety
/// `session` is NULL or a live session; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_stop(session: *const sbx_session, err: *mut *mut sbx_error) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_stop", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            if s.closed.is_set() {
                return Err(FfiError::closed("session"));
            }
            // Not interrupted by close: a removal cut short could leave the container.
            s.ctx.block_on(s.core().stop())
        })
    }
}

/// Closes the handle: calls blocked on it in other threads return `SBX_STATUS_CLOSED`
/// at once (their commands are cancelled in the agent, which kills them), and later
/// calls fail the same way. The task, terminal and exec stream handles made from it are
/// closed too (a streamed command is killed; tasks and terminals keep running). The container keeps running (reattach with
/// `sbx_context_attach`, remove with `sbx_session_stop` or `sbx_context_stop`).
/// Idempotent, thread-safe, never blocks; NULL is ignored. Does not free the handle.
///
/// # Safety
/// `session` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_close(session: *mut sbx_session) {
    quiet(|| {
        // SAFETY: NULL or a live session by contract.
        if let Ok(s) = unsafe { borrow(session, "session") } {
            s.closed.set();
        }
    });
}

/// Frees the handle (closing it first, and with it the task, terminal and exec stream
/// handles made from it; the container is not stopped). NULL is ignored.
/// Exactly once, after every other thread has returned from calls on it; strings
/// borrowed from it become invalid.
///
/// # Safety
/// `session` is NULL or a live session not freed before and not in use by another
/// thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_free(session: *mut sbx_session) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(session) });
}
