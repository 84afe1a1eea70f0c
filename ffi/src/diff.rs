//! `sbx_session_diff` and `sbx_diff` (the changed paths of a session's working dir
//! relative to a snapshot).

use std::ffi::{CString, c_char};
use std::os::unix::ffi::OsStrExt;

use sandbox_core::tree_diff::Change;

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::text::{str_arg, to_cstring_lossy};

/// The changes `sbx_session_diff` found, sorted by path. Owned by the caller, freed with
/// `sbx_diff_free` exactly once; immutable, so readable from any thread.
pub struct sbx_diff {
    rows: Vec<Row>,
    json: CString,
}

struct Row {
    path: CString,
    change: Change,
}

impl sbx_diff {
    fn new(changes: Vec<Change>) -> sbx_diff {
        let json = serde_json::to_string(&changes).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let rows = changes
            .into_iter()
            .map(|c| Row {
                // A path holds no NUL byte; its bytes go to C as they are.
                path: CString::new(c.path.as_os_str().as_bytes())
                    .unwrap_or_else(|_| to_cstring_lossy(c.path.to_string_lossy().into_owned())),
                change: c,
            })
            .collect();
        sbx_diff { rows, json: to_cstring_lossy(json) }
    }
}

/// Optional snapshot name argument: NULL is none.
///
/// # Safety
/// `p` is NULL or NUL-terminated.
pub(crate) unsafe fn snapshot_arg<'a>(p: *const c_char) -> Result<Option<&'a str>, crate::error::FfiError> {
    // SAFETY: NULL or NUL-terminated by the caller's contract.
    if p.is_null() { Ok(None) } else { unsafe { str_arg(p, "snapshot") }.map(Some) }
}

/// What the session's working dir changed relative to snapshot `snapshot` (NULL: the
/// snapshot the session started from): added, modified and deleted paths with what they
/// are and their sizes, sorted by path. The session is paused meanwhile (a paused one
/// stays paused), so it cannot change the tree under the comparison.
///
/// On success `*out` receives the changes, which the caller frees with `sbx_diff_free`.
/// Failures: `SBX_STATUS_NOT_FOUND` (no such snapshot), `SBX_STATUS_INVALID_ARGUMENT`
/// (`snapshot` NULL and the session did not start from one),
/// `SBX_STATUS_SESSION_NOT_FOUND` (stopped), `SBX_STATUS_CLOSED`. Blocks (a walk of both
/// trees): not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `snapshot` is NULL or NUL-terminated; `out` is writable;
/// `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_diff(
    session: *const sbx_session,
    snapshot: *const c_char,
    out: *mut *mut sbx_diff,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_diff", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, snapshot) = (borrow(session, "session")?, snapshot_arg(snapshot)?);
            let out = out_param(out, "out")?;
            let changes = s.run_whole(s.sandbox().diff(s.core(), snapshot))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_diff::new(changes)));
            Ok(())
        })
    }
}

fn row<T: Copy>(diff: *const sbx_diff, index: usize, fallback: T, pick: impl FnOnce(&Row) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable diff by the exported functions' contract.
        unsafe { diff.as_ref() }.and_then(|d| d.rows.get(index)).map_or(fallback, pick)
    })
}

/// Number of changes; 0 for NULL.
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_len(diff: *const sbx_diff) -> usize {
    // SAFETY: NULL or a live, immutable diff by contract.
    value(0, || unsafe { diff.as_ref() }.map_or(0, |d| d.rows.len()))
}

/// Path of change `index`, relative to the working dir, its bytes as they are (not
/// necessarily UTF-8); NULL when out of range. Borrowed from `diff`.
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_path(diff: *const sbx_diff, index: usize) -> *const c_char {
    row(diff, index, std::ptr::null(), |r| r.path.as_ptr())
}

/// What happened to path `index`: `"added"`, `"modified"` or `"deleted"`; NULL when out
/// of range. A static string.
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_kind(diff: *const sbx_diff, index: usize) -> *const c_char {
    row(diff, index, std::ptr::null(), |r| kind_name(r.change.kind).as_ptr())
}

/// What path `index` is (for a deletion: was): `"file"`, `"dir"`, `"symlink"` or
/// `"other"`; NULL when out of range. A static string.
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_entry(diff: *const sbx_diff, index: usize) -> *const c_char {
    row(diff, index, std::ptr::null(), |r| entry_name(r.change.entry).as_ptr())
}

/// Size of path `index` now, in bytes (files and symlinks; 0 for directories and
/// deletions, and when out of range).
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_size(diff: *const sbx_diff, index: usize) -> u64 {
    row(diff, index, 0, |r| r.change.size)
}

/// The changes as a JSON array of objects with the keys `path` (text: bytes that are
/// not UTF-8 become U+FFFD), `kind`, `entry` and `size`. Borrowed from `diff`; NULL for
/// NULL.
///
/// # Safety
/// `diff` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_json(diff: *const sbx_diff) -> *const c_char {
    // SAFETY: NULL or a live, immutable diff by contract.
    value(std::ptr::null(), || unsafe { diff.as_ref() }.map_or(std::ptr::null(), |d| d.json.as_ptr()))
}

/// Frees the changes. NULL is ignored. Exactly once; strings read from it become
/// invalid.
///
/// # Safety
/// `diff` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_diff_free(diff: *mut sbx_diff) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(diff) });
}

fn kind_name(k: sandbox_core::tree_diff::ChangeKind) -> &'static std::ffi::CStr {
    use sandbox_core::tree_diff::ChangeKind::*;
    match k {
        Added => c"added",
        Modified => c"modified",
        Deleted => c"deleted",
    }
}

fn entry_name(k: sandbox_core::tree_diff::EntryKind) -> &'static std::ffi::CStr {
    use sandbox_core::tree_diff::EntryKind::*;
    match k {
        File => c"file",
        Dir => c"dir",
        Symlink => c"symlink",
        Other => c"other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_core::tree_diff::{ChangeKind, EntryKind};

    #[test]
    fn names_are_cores() {
        for k in [ChangeKind::Added, ChangeKind::Modified, ChangeKind::Deleted] {
            assert_eq!(kind_name(k).to_str().unwrap(), k.name());
        }
        for e in [EntryKind::File, EntryKind::Dir, EntryKind::Symlink, EntryKind::Other] {
            assert_eq!(entry_name(e).to_str().unwrap(), e.name());
        }
    }
}
