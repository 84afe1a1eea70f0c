//! `sbx_session_merge` and `sbx_merge_report` (what it applied).

use std::ffi::c_char;

use sandbox_core::MergeReport;

use crate::boundary::{Blocks, call, quiet, value};
use crate::diff::snapshot_arg;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::path_arg;

/// What `sbx_session_merge` did: how many changes it merged and how many paths it wrote
/// or removed in the target. Owned by the caller: free it with `sbx_merge_report_free`
/// exactly once. Immutable, so readable from any thread.
pub struct sbx_merge_report {
    report: MergeReport,
}

/// Merges what session `from` changed relative to snapshot `snapshot` (NULL: the one it
/// started from) into exactly one target: the directory `target_dir` (not a running
/// session's working dir), or the working dir of session `target_session` (paused too
/// while the changes are written). Deleted paths are deleted. Unless `force`, a path
/// the target changed too is a conflict: the merge is refused with
/// `SBX_STATUS_INVALID_ARGUMENT` (naming the paths) and nothing changed; with `force`,
/// `from`'s version wins. `from` is paused meanwhile (a paused one stays paused).
///
/// `out` may be NULL; else on success `*out` receives a report the caller frees with
/// `sbx_merge_report_free`. Failures: `SBX_STATUS_NULL_ARGUMENT` (no target),
/// `SBX_STATUS_INVALID_ARGUMENT` (two targets, a target dir that does not exist, a
/// conflict, `snapshot` NULL and `from` did not start from one), `SBX_STATUS_NOT_FOUND`
/// (no such snapshot), `SBX_STATUS_SESSION_NOT_FOUND`, `SBX_STATUS_CLOSED`. Once begun
/// the call is not cut short by `sbx_session_close`. Blocks (walks and copies): not
/// from a library runtime thread.
///
/// # Safety
/// `from` is NULL or live; `snapshot` and `target_dir` are NULL or NUL-terminated;
/// `target_session` is NULL or live; `out` is NULL or writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_merge(
    from: *const sbx_session,
    snapshot: *const c_char,
    target_dir: *const c_char,
    target_session: *const sbx_session,
    force: bool,
    out: *mut *mut sbx_merge_report,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_merge", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, snapshot) = (borrow(from, "from")?, snapshot_arg(snapshot)?);
            let report = match (target_dir.is_null(), target_session.is_null()) {
                (true, true) => return Err(FfiError::null("target (target_dir or target_session)")),
                (false, false) => {
                    return Err(FfiError::invalid("target", "give target_dir or target_session, not both"));
                }
                (false, true) => {
                    // SAFETY: non-NULL and NUL-terminated by contract.
                    let dir = path_arg(target_dir, "target_dir")?;
                    s.run_whole(s.sandbox().merge(s.core(), snapshot, &dir, force))?
                }
                (true, false) => {
                    // SAFETY: non-NULL and live by contract.
                    let t = borrow(target_session, "target_session")?;
                    if t.closed.is_set() {
                        return Err(FfiError::closed("target session"));
                    }
                    s.run_whole(s.sandbox().merge_into_session(s.core(), snapshot, t.core(), force))?
                }
            };
            if !out.is_null() {
                // SAFETY: checked non-NULL, writable by contract.
                write_out(out, into_handle(sbx_merge_report { report }));
            }
            Ok(())
        })
    }
}

/// How many changes were merged (what `sbx_session_diff` gives). 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_merge_report_changes(report: *const sbx_merge_report) -> usize {
    // SAFETY: NULL or a live, immutable report by contract.
    value(0, || unsafe { report.as_ref() }.map_or(0, |r| r.report.changes))
}

/// How many paths were written or removed in the target. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_merge_report_applied(report: *const sbx_merge_report) -> usize {
    // SAFETY: NULL or a live, immutable report by contract.
    value(0, || unsafe { report.as_ref() }.map_or(0, |r| r.report.applied))
}

/// Frees a report. NULL is ignored. Exactly once.
///
/// # Safety
/// `report` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_merge_report_free(report: *mut sbx_merge_report) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(report) });
}
