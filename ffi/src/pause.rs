//! `sbx_session_pause` / `sbx_session_resume` and `sbx_pause_report` (what they did).

use std::ffi::{CString, c_char};

use sandbox_core::PauseReport;

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::to_cstring_lossy;

/// What a pause or resume did: the state now, whether the call changed it, how, to how
/// many processes, in how long.
///
/// Owned by the caller (from `sbx_session_pause` / `sbx_session_resume`): free it with
/// `sbx_pause_report_free` exactly once. Immutable, so readable from any thread;
/// strings it returns are borrowed from it.
pub struct sbx_pause_report {
    report: PauseReport,
    method: CString,
}

fn with<T: Copy>(r: *const sbx_pause_report, fallback: T, pick: impl FnOnce(&sbx_pause_report) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable report by the exported functions' contract.
        match unsafe { r.as_ref() } {
            Some(r) => pick(r),
            None => fallback,
        }
    })
}

/// Pauses or resumes `session`; the report goes to `*out` when `out` is not NULL.
///
/// # Safety
/// As the exported functions say.
unsafe fn pause_or_resume(
    name: &'static str,
    resume: bool,
    session: *const sbx_session,
    out: *mut *mut sbx_pause_report,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let report = if resume { s.run(None, s.core().resume())? } else { s.run(None, s.core().pause())? };
            if !out.is_null() {
                let method = to_cstring_lossy(report.method.clone());
                // SAFETY: checked non-NULL, writable by contract.
                write_out(out, into_handle(sbx_pause_report { report, method }));
            }
            Ok(())
        })
    }
}

/// Pauses the session: every process in it stops (using no CPU) with all its state kept,
/// until `sbx_session_resume`. While paused, reads of task and terminal output, files,
/// events and stats work; `sbx_session_exec`, `sbx_session_spawn_task` and
/// `sbx_session_open_terminal` fail with `SBX_STATUS_NOT_RUNNING`. A command already
/// running stops where it is (its timeout keeps counting). Pausing a paused session
/// changes nothing (the report's `changed` is false).
///
/// `out` may be NULL; else on success `*out` receives a report the caller frees with
/// `sbx_pause_report_free`. Failures: `SBX_STATUS_SESSION_NOT_FOUND`,
/// `SBX_STATUS_SESSION_LOST`, `SBX_STATUS_CLOSED`. Blocks for one agent round trip
/// (milliseconds): not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `out` is NULL or writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_pause(
    session: *const sbx_session,
    out: *mut *mut sbx_pause_report,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { pause_or_resume("sbx_session_pause", false, session, out, err) }
}

/// Resumes a paused session: its processes continue (also one that was stopped before
/// the pause, such as a job suspended in a terminal). Resuming a running session
/// changes nothing. `out`, failures and blocking as for `sbx_session_pause`.
///
/// # Safety
/// `session` is NULL or live; `out` is NULL or writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_resume(
    session: *const sbx_session,
    out: *mut *mut sbx_pause_report,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { pause_or_resume("sbx_session_resume", true, session, out, err) }
}

/// Whether the session is paused now (after the call). false for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_paused(report: *const sbx_pause_report) -> bool {
    with(report, false, |r| r.report.paused)
}

/// Whether the call changed the state (false when the session was paused, or running,
/// already). false for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_changed(report: *const sbx_pause_report) -> bool {
    with(report, false, |r| r.report.changed)
}

/// How the processes were stopped or continued: `"signals"` (SIGSTOP and SIGCONT to
/// every process of the session). Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_method(report: *const sbx_pause_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.method.as_ptr())
}

/// How many processes were stopped or continued. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_processes(report: *const sbx_pause_report) -> u32 {
    with(report, 0, |r| r.report.processes)
}

/// How long stopping or continuing them took inside the session, in microseconds. 0 for
/// NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_took_us(report: *const sbx_pause_report) -> u64 {
    with(report, 0, |r| r.report.took_us)
}

/// Frees a report. NULL is ignored. Exactly once.
///
/// # Safety
/// `report` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_pause_report_free(report: *mut sbx_pause_report) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(report) });
}
