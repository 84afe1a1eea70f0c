//! `sbx_snapshot_list`: the snapshots of a context's snapshot dir, as
//! `sbx_context_snapshots` found them.

use std::ffi::{CString, c_char};

use sandbox_core::SnapshotInfo;

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::sbx_context;
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::status::sbx_status;
use crate::text::to_cstring_lossy;

/// The snapshots of one snapshot dir, sorted by name. Owned by the caller, freed with
/// `sbx_snapshot_list_free` exactly once; immutable, so readable from any thread.
pub struct sbx_snapshot_list {
    names: Vec<CString>,
    json: CString,
}

impl sbx_snapshot_list {
    fn new(infos: Vec<SnapshotInfo>) -> sbx_snapshot_list {
        let json = serde_json::to_string(&infos).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        sbx_snapshot_list {
            names: infos.into_iter().map(|i| to_cstring_lossy(i.name)).collect(),
            json: to_cstring_lossy(json),
        }
    }
}

/// Lists the snapshots in the context's snapshot dir (`sbx_config_set_snapshot_dir`,
/// `SANDBOX_SNAPSHOT_DIR`).
///
/// On success `*out` receives a list the caller frees with `sbx_snapshot_list_free`.
/// Blocks (reads the snapshot dir): not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_snapshots(
    ctx: *const sbx_context,
    out: *mut *mut sbx_snapshot_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_snapshots", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            let out = out_param(out, "out")?;
            let inner = ctx.open()?;
            let infos = inner.block_on(inner.sandbox.snapshots())?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_snapshot_list::new(infos)));
            Ok(())
        })
    }
}

/// Number of snapshots in the list; 0 for NULL. Never fails; any thread.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_list_len(list: *const sbx_snapshot_list) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.names.len()))
}

/// Name of snapshot `index`; NULL when `list` is NULL or `index` is out of range.
/// Borrowed from `list`, valid until it is freed.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_list_name(list: *const sbx_snapshot_list, index: usize) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable list by contract.
        unsafe { list.as_ref() }.and_then(|l| l.names.get(index)).map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// The whole list as a JSON array of objects with the keys `name`, `session` (the id of
/// the session it was taken from), `working_dir` (that session's), `image`,
/// `created_ms` (ms since the Unix epoch), `copy` (`"reflink"` or `"copy"`), `files`,
/// `bytes` and `unset_env`. NULL for a NULL list. Borrowed from `list`; valid until
/// `sbx_snapshot_list_free(list)`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_list_json(list: *const sbx_snapshot_list) -> *const c_char {
    // SAFETY: NULL or a live, immutable list by contract.
    value(std::ptr::null(), || unsafe { list.as_ref() }.map_or(std::ptr::null(), |l| l.json.as_ptr()))
}

/// Frees a list. NULL is ignored. Exactly once; strings read from it become invalid.
///
/// # Safety
/// `list` is NULL or a live list not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_snapshot_list_free(list: *mut sbx_snapshot_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
