//! `sbx_session_fork`, `sbx_session_fork_with_template` and `sbx_fork` (what it made: the snapshot and the children).

use std::ffi::{CString, c_char};
use std::sync::Arc;

use sandbox_core::{ForkSpec, Session, SessionSpec};

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::ContextInner;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::session::sbx_session;
use crate::session_spec::sbx_session_spec;
use crate::snapshot::sbx_snapshot_report;
use crate::status::sbx_status;
use crate::text::{path_arg, str_arg, to_cstring_lossy};

/// What `sbx_session_fork` made: the snapshot the children started from and the
/// children, running, in order.
///
/// Owned by the caller: free it with `sbx_fork_free` exactly once. Freeing it stops
/// nothing: the children run until stopped (`sbx_session_stop` on a handle from
/// `sbx_fork_child`, or `sbx_context_stop` with their ids), their copies of the working
/// dir stay until `sbx_context_remove_copy`, and the snapshot until
/// `sbx_context_remove_snapshot` (refused while overlay copies of it exist). Immutable,
/// so readable from any thread; strings it returns are borrowed from it.
pub struct sbx_fork {
    snapshot: sbx_snapshot_report,
    // Dropped (in Drop) inside the runtime's context.
    children: Vec<Session>,
    ids: Vec<CString>,
    // Last: the runtime outlives everything above.
    ctx: Arc<ContextInner>,
}

impl Drop for sbx_fork {
    fn drop(&mut self) {
        let _in_rt = self.ctx.rt.enter();
        self.children.clear();
    }
}

/// Forks the running session into `count` children (1 to 64): takes snapshot
/// `snapshot` of it (NULL: named `<session id>-fork-<ms since the epoch>`; the session
/// is frozen meanwhile, as for `sbx_session_snapshot`) and starts each child from it
/// with its own copy of the working dir at `<into>/<child id>`, child ids
/// `<session id>-1`, `<session id>-2`... All or nothing: if one child cannot start, the
/// ones started are stopped, their copies and the snapshot removed. The children get
/// the context's defaults; `sbx_session_fork_with_template` gives them settings.
///
/// `into` is an existing directory, where none of the children's dirs exists yet.
/// `snapshot` and `into` are copied. On success `*out` receives the fork, which the
/// caller frees with `sbx_fork_free`. Failures: `SBX_STATUS_INVALID_ARGUMENT` (a count
/// of 0 or above 64, `into` missing or a child's dir existing, a bad or existing
/// snapshot name), `SBX_STATUS_SESSION_EXISTS` (a child's id is taken),
/// `SBX_STATUS_SESSION_NOT_FOUND` (stopped), `SBX_STATUS_CLOSED`. Once begun the call is
/// not cut short by `sbx_session_close`. Blocks (a snapshot and `count` starts: seconds):
/// not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `into` is NULL or NUL-terminated; `snapshot` is NULL or
/// NUL-terminated; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_fork(
    session: *const sbx_session,
    count: u32,
    into: *const c_char,
    snapshot: *const c_char,
    out: *mut *mut sbx_fork,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: forwarded under the caller's contract; no template.
    unsafe { fork("sbx_session_fork", session, count, into, snapshot, std::ptr::null(), out, err) }
}

/// `sbx_session_fork` with every child's settings from `template` (copied; NULL: the
/// context's defaults, as `sbx_session_fork`): its id is the children's id prefix
/// (children `<id>-1`, `<id>-2`...), and its environment, ports, network and egress
/// policy, limits and the other settings apply to each child as to a session
/// `sbx_context_start` starts. Create it with `sbx_session_spec_new(prefix, NULL, ...)`:
/// the working dir, snapshot and image are each child's own, so a template with any of
/// them set fails with `SBX_STATUS_INVALID_ARGUMENT` before anything is made. What
/// the forked session set for itself (its environment) is not inherited. Failures and
/// blocking otherwise as `sbx_session_fork`.
///
/// # Safety
/// As `sbx_session_fork`; `template` is NULL or a live spec.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_fork_with_template(
    session: *const sbx_session,
    count: u32,
    into: *const c_char,
    snapshot: *const c_char,
    template: *const sbx_session_spec,
    out: *mut *mut sbx_fork,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: forwarded under the caller's contract.
    unsafe { fork("sbx_session_fork_with_template", session, count, into, snapshot, template, out, err) }
}

/// Both forks: `template` NULL is the default template.
///
/// # Safety
/// As `sbx_session_fork_with_template`.
#[allow(clippy::too_many_arguments)]
unsafe fn fork(
    name: &'static str,
    session: *const sbx_session,
    count: u32,
    into: *const c_char,
    snapshot: *const c_char,
    template: *const sbx_session_spec,
    out: *mut *mut sbx_fork,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, into) = (borrow(session, "session")?, path_arg(into, "into")?);
            // SAFETY: NULL or NUL-terminated by contract.
            let snapshot = if snapshot.is_null() { None } else { Some(str_arg(snapshot, "snapshot")?.to_string()) };
            // SAFETY: NULL or a live spec by contract.
            let template = match template.as_ref() {
                None => SessionSpec::default(),
                Some(t) => t.resolve_template(s.sandbox().config())?,
            };
            let out = out_param(out, "out")?;
            let spec = ForkSpec { snapshot, template, ..ForkSpec::new(count, into) };
            let report = s.run_whole(s.sandbox().fork(s.core(), spec))?;
            let fork = sbx_fork {
                snapshot: sbx_snapshot_report::new(report.snapshot),
                ids: report.children.iter().map(|c| to_cstring_lossy(c.id().to_string())).collect(),
                children: report.children,
                ctx: s.context().clone(),
            };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(fork));
            Ok(())
        })
    }
}

/// How many children the fork made; 0 for NULL.
///
/// # Safety
/// `fork` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_fork_count(fork: *const sbx_fork) -> usize {
    // SAFETY: NULL or a live, immutable fork by contract.
    value(0, || unsafe { fork.as_ref() }.map_or(0, |f| f.children.len()))
}

/// The id of child `index` (from 0); NULL when `fork` is NULL or `index` is out of
/// range. Borrowed from `fork`.
///
/// # Safety
/// `fork` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_fork_child_id(fork: *const sbx_fork, index: usize) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable fork by contract.
        unsafe { fork.as_ref() }.and_then(|f| f.ids.get(index)).map_or(std::ptr::null(), |id| id.as_ptr())
    })
}

/// A new session handle for child `index` (from 0), with its start report. Each call
/// makes a new handle (of the context the forked session came from), which the caller
/// frees with `sbx_session_free`; the fork may be freed first. `SBX_STATUS_INVALID_ARGUMENT`
/// when `index` is out of range. Never blocks; any thread.
///
/// # Safety
/// `fork` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_fork_child(
    fork: *const sbx_fork,
    index: usize,
    out: *mut *mut sbx_session,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_fork_child", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let f = borrow(fork, "fork")?;
            let out = out_param(out, "out")?;
            let child = f.children.get(index).ok_or_else(|| {
                FfiError::invalid(
                    "index",
                    format!("{index} is out of range: the fork has {} children", f.children.len()),
                )
            })?;
            let handle = sbx_session::new(f.ctx.clone(), child.clone());
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(handle));
            Ok(())
        })
    }
}

/// The snapshot the children started from, as `sbx_session_snapshot` reports one (read
/// it with the `sbx_snapshot_report_*` getters; its name is what to remove when done).
/// Borrowed from `fork`: never free it; valid until `sbx_fork_free`. NULL for NULL.
///
/// # Safety
/// `fork` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_fork_snapshot_report(fork: *const sbx_fork) -> *const sbx_snapshot_report {
    // SAFETY: NULL or a live, immutable fork by contract.
    value(std::ptr::null(), || unsafe { fork.as_ref() }.map_or(std::ptr::null(), |f| &f.snapshot as *const _))
}

/// Frees a fork (not its children, which keep running, nor its snapshot). NULL is
/// ignored. Exactly once; strings and the report borrowed from it become invalid.
///
/// # Safety
/// `fork` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_fork_free(fork: *mut sbx_fork) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(fork) });
}
