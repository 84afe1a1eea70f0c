//! `sbx_session_snapshot` and `sbx_snapshot_report` (what it took), removing and reaping
//! snapshots (`sbx_context_remove_snapshot`, `sbx_context_reap_snapshots`) and the copies
//! sessions started from them got (`sbx_context_remove_copy`). Listing them is in
//! `snapshot_list.rs`, starting from one is `sbx_session_spec_set_snapshot`.

use std::ffi::{CString, c_char};

use sandbox_core::SnapshotReport;

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::sbx_context;
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::string_list::sbx_string_list;
use crate::text::{path_arg, str_arg, to_cstring_lossy};

/// What `sbx_session_snapshot` took: the snapshot (its name, the session it was taken
/// from, the image of the container's changes, how the working dir was copied, how many
/// files and bytes), how the session was frozen meanwhile and what was taken again
/// while it was (`sbx_snapshot_report_retaken`).
///
/// Owned by the caller: free it with `sbx_snapshot_report_free` exactly once. Immutable,
/// so readable from any thread; strings it returns are borrowed from it.
pub struct sbx_snapshot_report {
    pub(crate) report: SnapshotReport,
    name: CString,
    session: CString,
    image: CString,
    copy: CString,
    freeze: CString,
    retaken: Vec<CString>,
    json: CString,
}

impl sbx_snapshot_report {
    pub(crate) fn new(report: SnapshotReport) -> sbx_snapshot_report {
        let json = serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        sbx_snapshot_report {
            name: to_cstring_lossy(report.info.name.clone()),
            session: to_cstring_lossy(report.info.session.clone()),
            image: to_cstring_lossy(report.info.image.clone()),
            copy: to_cstring_lossy(report.info.copy.name()),
            freeze: to_cstring_lossy(report.freeze.clone()),
            retaken: report.retaken.iter().cloned().map(to_cstring_lossy).collect(),
            json: to_cstring_lossy(json),
            report,
        }
    }
}

fn with<T: Copy>(r: *const sbx_snapshot_report, fallback: T, pick: impl FnOnce(&sbx_snapshot_report) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable report by the exported functions' contract.
        match unsafe { r.as_ref() } {
            Some(r) => pick(r),
            None => fallback,
        }
    })
}

/// Takes snapshot `name` of the running session: a copy of its working dir (reflinks
/// where the filesystem has them, else a plain copy) and an image of its container's
/// filesystem changes. Both are first made with the session running; then its processes
/// are frozen (a paused session stays paused) and what changed meanwhile is taken again
/// (`sbx_snapshot_report_retaken`), so the snapshot is of one moment. The snapshot is
/// stored in the configuration's snapshot dir
/// (`sbx_config_set_snapshot_dir`, `SANDBOX_SNAPSHOT_DIR`) until
/// `sbx_context_remove_snapshot`; sessions start from it with
/// `sbx_session_spec_set_snapshot`.
///
/// `name` follows the rules of session ids (1 to 64 of `[A-Za-z0-9_.-]`, starting with a
/// letter or digit); copied. `out` may be NULL; else on success `*out` receives a report
/// the caller frees with `sbx_snapshot_report_free`. Failures:
/// `SBX_STATUS_INVALID_ARGUMENT` (a bad name, or a snapshot of that name exists),
/// `SBX_STATUS_SESSION_NOT_FOUND` (stopped), `SBX_STATUS_SESSION_LOST`,
/// `SBX_STATUS_CLOSED`; a failure leaves no snapshot behind. Once begun the call is not
/// cut short by `sbx_session_close`. Blocks (a copy of the working dir and a `podman
/// commit`: from a fraction of a second up): not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `name` is NULL or NUL-terminated; `out` is NULL or
/// writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_snapshot(
    session: *const sbx_session,
    name: *const c_char,
    out: *mut *mut sbx_snapshot_report,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_snapshot", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, name) = (borrow(session, "session")?, str_arg(name, "name")?);
            let report = s.run_whole(s.sandbox().snapshot(s.core(), name))?;
            if !out.is_null() {
                // SAFETY: checked non-NULL, writable by contract.
                write_out(out, into_handle(sbx_snapshot_report::new(report)));
            }
            Ok(())
        })
    }
}

/// The snapshot's name. Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_name(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.name.as_ptr())
}

/// The id of the session the snapshot was taken from. Borrowed from `report`; NULL for
/// NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_session(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.session.as_ptr())
}

/// The id of the image holding the container's filesystem changes (what sessions
/// started from the snapshot run). Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_image(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.image.as_ptr())
}

/// How the working dir was copied: `"reflink"` (the copy shares the data blocks until
/// either side writes) or `"copy"` (every byte). Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_copy(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.copy.as_ptr())
}

/// Regular files in the working dir's copy. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_files(report: *const sbx_snapshot_report) -> u64 {
    with(report, 0, |r| r.report.info.files)
}

/// Their bytes. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_bytes(report: *const sbx_snapshot_report) -> u64 {
    with(report, 0, |r| r.report.info.bytes)
}

/// How the session's processes were frozen: `"signals"` (SIGSTOP to every process but
/// the agent and init, SIGCONT after), or `"already_paused"` (it was paused and stays
/// paused). Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_freeze(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.freeze.as_ptr())
}

/// How many processes were frozen. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_processes(report: *const sbx_snapshot_report) -> u32 {
    with(report, 0, |r| r.report.processes)
}

/// How long they were frozen, in microseconds (0 when the session was paused already).
/// 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_frozen_us(report: *const sbx_snapshot_report) -> u64 {
    with(report, 0, |r| r.report.frozen_us)
}

/// How long the whole snapshot took, in microseconds. 0 for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_took_us(report: *const sbx_snapshot_report) -> u64 {
    with(report, 0, |r| r.report.took_us)
}

/// How many parts of the snapshot were taken again while the session was frozen (see
/// `sbx_snapshot_report_retaken`); 0 when the freeze only checked that nothing had
/// changed, and for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_retaken_count(report: *const sbx_snapshot_report) -> usize {
    with(report, 0, |r| r.retaken.len())
}

/// Part `index` of what was taken again while the session was frozen because it changed
/// while the first copy or commit ran with the session running (or that one failed):
/// `"working_dir"` (its copy) or `"container"` (the image of the container's changes).
/// NULL when `index` is out of range or for NULL. Borrowed from `report`, valid until
/// `sbx_snapshot_report_free`.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_retaken(
    report: *const sbx_snapshot_report,
    index: usize,
) -> *const c_char {
    with(report, std::ptr::null(), |r| r.retaken.get(index).map_or(std::ptr::null(), |s| s.as_ptr()))
}

/// The report as a JSON object: `name`, `session`, `working_dir`, `image`, `created_ms`
/// (ms since the Unix epoch), `copy`, `files`, `bytes`, `unset_env` (the session's own
/// environment variables, which its children do not inherit), `freeze`, `processes`,
/// `frozen_us`, `took_us`, `retaken` (an array, see `sbx_snapshot_report_retaken`).
/// Borrowed from `report`; NULL for NULL.
///
/// # Safety
/// `report` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_json(report: *const sbx_snapshot_report) -> *const c_char {
    with(report, std::ptr::null(), |r| r.json.as_ptr())
}

/// Frees a report. NULL is ignored. Exactly once.
///
/// # Safety
/// `report` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_report_free(report: *mut sbx_snapshot_report) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(report) });
}

/// Removes snapshot `name` from the context's snapshot dir: its image and its copy of
/// the working dir. Sessions started from it keep their own copies, but while one of
/// their containers exists its image cannot go, and while one of their copies is an
/// overlay (`"overlay"` in the start report's `snapshot.copy`) the snapshot's tree is
/// that copy's lower layer: the removal is then refused with
/// `SBX_STATUS_INVALID_ARGUMENT` (the message names the copies; remove them first with
/// `sbx_context_remove_copy`) and nothing removed. `SBX_STATUS_NOT_FOUND` when there is
/// no such snapshot. Blocks (a `podman rmi`): not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `name` is NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_remove_snapshot(
    ctx: *const sbx_context,
    name: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_remove_snapshot", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (ctx, name) = (borrow(ctx, "context")?, str_arg(name, "name")?);
            let inner = ctx.open()?;
            inner.block_on(inner.sandbox.remove_snapshot(name))
        })
    }
}

/// Removes the copy of a snapshot at `path` that a session started from it
/// (`sbx_session_spec_set_snapshot`) or a fork's child (`sbx_session_fork`) got as its
/// working dir: unmounts it if it is an overlay (which stays mounted after its session
/// stops: its changes are the user's output), removes its files, including those the
/// session made, and its record in the snapshot dir. Reflink and plain copies are
/// recorded too and removed the same way. The snapshot itself stays (see
/// `sbx_context_remove_snapshot`, refused while overlay copies of it exist).
///
/// `path` is the copy's absolute path (the session's working dir); copied. Failures:
/// `SBX_STATUS_INVALID_ARGUMENT` (empty or relative `path`; a session of this context's
/// scope, running or not, as `sbx_context_list` lists them, has it as its working dir:
/// stop it first; or it is inside the working dir of a running session, which could
/// redirect the removal), `SBX_STATUS_NOT_FOUND` (no snapshot in the context's snapshot
/// dir has a copy at `path`). Blocks (an unmount and a removal of the files):
/// not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_remove_copy(
    ctx: *const sbx_context,
    path: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_remove_copy", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (ctx, path) = (borrow(ctx, "context")?, path_arg(path, "path")?);
            let inner = ctx.open()?;
            inner.block_on(inner.sandbox.remove_copy(&path))
        })
    }
}

/// Removes what failed or interrupted snapshots left in the context's snapshot dir
/// (half-made or half-removed ones of processes that are gone). On success `*reaped`
/// receives the list of the removed paths, which the caller frees with
/// `sbx_string_list_free`. Blocks: not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `reaped` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_reap_snapshots(
    ctx: *const sbx_context,
    reaped: *mut *mut sbx_string_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_reap_snapshots", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            let reaped = out_param(reaped, "reaped")?;
            let inner = ctx.open()?;
            let paths = inner.block_on(inner.sandbox.reap_snapshots())?;
            let paths = paths.into_iter().map(|p| p.to_string_lossy().into_owned()).collect();
            // SAFETY: checked non-NULL, writable by contract.
            write_out(reaped, into_handle(sbx_string_list::new(paths)));
            Ok(())
        })
    }
}
