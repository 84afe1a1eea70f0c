//! `sbx_string_list`: an immutable list of strings returned by a call (e.g. the ids
//! removed by `sbx_context_reap_orphans`).

use std::ffi::{CString, c_char};

use crate::boundary::{quiet, value};
use crate::handle::free;
use crate::text::to_cstring_lossy;

/// A list of NUL-terminated UTF-8 strings. Owned by the caller, freed with
/// `sbx_string_list_free` exactly once; immutable, so readable from any thread.
pub struct sbx_string_list {
    items: Vec<CString>,
}

impl sbx_string_list {
    pub(crate) fn new(items: Vec<String>) -> sbx_string_list {
        sbx_string_list { items: items.into_iter().map(to_cstring_lossy).collect() }
    }
}

/// Number of strings in the list; 0 for NULL. Never fails; any thread.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_string_list_len(list: *const sbx_string_list) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.items.len()))
}

/// String `index` of the list, or NULL when `list` is NULL or `index` is out of range.
///
/// Lifetime: borrowed from `list`; valid until `sbx_string_list_free(list)`.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_string_list_get(list: *const sbx_string_list, index: usize) -> *const c_char {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable list by contract.
        unsafe { list.as_ref() }.and_then(|l| l.items.get(index)).map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Frees a list and its strings. NULL is ignored. Exactly once.
///
/// # Safety
/// `list` is NULL or a live list not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_string_list_free(list: *mut sbx_string_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
