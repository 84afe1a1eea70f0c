//! `sbx_session_list`: the sessions of a context's scope, as `sbx_context_list` found
//! them.

use std::ffi::{CString, c_char};

use sandbox_core::SessionInfo;

use crate::boundary::{Blocks, call, quiet, value};
use crate::context::sbx_context;
use crate::error::sbx_error;
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::status::sbx_status;
use crate::text::to_cstring_lossy;

/// A snapshot of the sessions of one scope (running or not), sorted by id. Owned by the
/// caller, freed with `sbx_session_list_free` exactly once; immutable, so readable from
/// any thread.
pub struct sbx_session_list {
    rows: Vec<Row>,
    json: CString,
}

struct Row {
    id: CString,
    container: CString,
    working_dir: CString,
    image: CString,
    state: CString,
    created_unix: i64,
}

fn unix_secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl sbx_session_list {
    fn new(infos: Vec<SessionInfo>) -> sbx_session_list {
        let json = serde_json::Value::Array(
            infos
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "id": i.id,
                        "container": i.container,
                        "working_dir": i.working_dir.to_string_lossy(),
                        "image": i.image,
                        "state": i.state,
                        "created_unix": unix_secs(i.created),
                        "ports": i.ports,
                        "snapshot": i.snapshot,
                    })
                })
                .collect(),
        );
        let rows = infos
            .into_iter()
            .map(|i| Row {
                created_unix: unix_secs(i.created),
                working_dir: to_cstring_lossy(i.working_dir.to_string_lossy().into_owned()),
                id: to_cstring_lossy(i.id),
                container: to_cstring_lossy(i.container),
                image: to_cstring_lossy(i.image),
                state: to_cstring_lossy(i.state),
            })
            .collect();
        sbx_session_list { rows, json: to_cstring_lossy(json.to_string()) }
    }
}

/// Lists the sessions of this user in the context's scope, running or not.
///
/// On success `*out` receives a list the caller frees with `sbx_session_list_free`.
/// Blocks (one `podman ps`): not from a library runtime thread.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_context_list(
    ctx: *const sbx_context,
    out: *mut *mut sbx_session_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_context_list", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let ctx = borrow(ctx, "context")?;
            let out = out_param(out, "out")?;
            let inner = ctx.open()?;
            let infos = inner.block_on(inner.sandbox.list())?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_session_list::new(infos)));
            Ok(())
        })
    }
}

/// Number of sessions in the list; 0 for NULL. Never fails; any thread.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_len(list: *const sbx_session_list) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.rows.len()))
}

/// The whole list as a JSON array of objects with the keys `id`, `container`,
/// `working_dir`, `image`, `state` (`"running"`, `"exited"`...), `created_unix`
/// (seconds), `ports` (published on 127.0.0.1) and `snapshot` (the snapshot it started
/// from, or null). NULL for a NULL list.
///
/// Lifetime: borrowed from `list`; valid until `sbx_session_list_free(list)`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_json(list: *const sbx_session_list) -> *const c_char {
    // SAFETY: NULL or a live, immutable list by contract.
    value(std::ptr::null(), || unsafe { list.as_ref() }.map_or(std::ptr::null(), |l| l.json.as_ptr()))
}

fn field(list: *const sbx_session_list, index: usize, pick: fn(&Row) -> &CString) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable list by the exported functions' contract.
        unsafe { list.as_ref() }.and_then(|l| l.rows.get(index)).map_or(std::ptr::null(), |r| pick(r).as_ptr())
    })
}

/// Session id of row `index`; NULL when `list` is NULL or `index` is out of range.
/// Borrowed from `list`, valid until it is freed.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_id(list: *const sbx_session_list, index: usize) -> *const c_char {
    field(list, index, |r| &r.id)
}

/// Container name of row `index`; NULL when out of range. Borrowed from `list`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_container(list: *const sbx_session_list, index: usize) -> *const c_char {
    field(list, index, |r| &r.container)
}

/// Mounted working dir of row `index`; NULL when out of range. Borrowed from `list`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_working_dir(list: *const sbx_session_list, index: usize) -> *const c_char {
    field(list, index, |r| &r.working_dir)
}

/// Image of row `index`; NULL when out of range. Borrowed from `list`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_image(list: *const sbx_session_list, index: usize) -> *const c_char {
    field(list, index, |r| &r.image)
}

/// Engine state of row `index` (`"running"`, `"exited"`...); NULL when out of range.
/// Borrowed from `list`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_state(list: *const sbx_session_list, index: usize) -> *const c_char {
    field(list, index, |r| &r.state)
}

/// Creation time of row `index` in seconds since the Unix epoch; 0 when out of range.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_created_unix(list: *const sbx_session_list, index: usize) -> i64 {
    value(0, || {
        // SAFETY: NULL or a live, immutable list by contract.
        unsafe { list.as_ref() }.and_then(|l| l.rows.get(index)).map_or(0, |r| r.created_unix)
    })
}

/// Frees a list. NULL is ignored. Exactly once; strings read from it become invalid.
///
/// # Safety
/// `list` is NULL or a live list not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_free(list: *mut sbx_session_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
