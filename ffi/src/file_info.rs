//! `sbx_file_info` (a filesystem entry as the container sees it) and `sbx_file_list`
//! (the entries of a directory).

use std::ffi::{CString, c_char};

use sandbox_core::{FileInfo, FileKind};

use crate::boundary::{quiet, value};
use crate::handle::free;
use crate::process_state::unix_ms;
use crate::text::to_cstring_lossy;

/// Kind of a filesystem entry.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sbx_file_kind {
    /// Returned for a NULL info; never the kind of a real entry.
    Unknown = 0,
    /// Regular file.
    File = 1,
    /// Directory.
    Dir = 2,
    /// Symbolic link (described itself, not its target).
    Symlink = 3,
    /// Device, fifo or socket.
    Other = 4,
}

/// One filesystem entry: name, kind, size, permission bits, modification time, symlink
/// target.
///
/// Either owned by the caller (from `sbx_session_stat`: free it with
/// `sbx_file_info_free` exactly once) or borrowed from an `sbx_file_list`
/// (`sbx_file_list_get`: never free it; valid until the list is freed). Immutable, so
/// readable from any thread; strings it returns are borrowed from it.
pub struct sbx_file_info {
    info: FileInfo,
    name: CString,
    target: Option<CString>,
}

impl sbx_file_info {
    pub(crate) fn new(info: FileInfo) -> sbx_file_info {
        sbx_file_info {
            name: to_cstring_lossy(info.name.clone()),
            target: info.target.clone().map(to_cstring_lossy),
            info,
        }
    }
}

fn with<T: Copy>(info: *const sbx_file_info, fallback: T, pick: impl FnOnce(&sbx_file_info) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable info by the exported functions' contract.
        match unsafe { info.as_ref() } {
            Some(i) => pick(i),
            None => fallback,
        }
    })
}

/// The entry's name (last path component; bytes that are not UTF-8 replaced by U+FFFD).
/// Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_name(info: *const sbx_file_info) -> *const c_char {
    with(info, std::ptr::null(), |i| i.name.as_ptr())
}

/// The entry's kind; `SBX_FILE_KIND_UNKNOWN` for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_kind(info: *const sbx_file_info) -> sbx_file_kind {
    with(info, sbx_file_kind::Unknown, |i| match i.info.kind {
        FileKind::File => sbx_file_kind::File,
        FileKind::Dir => sbx_file_kind::Dir,
        FileKind::Symlink => sbx_file_kind::Symlink,
        FileKind::Other => sbx_file_kind::Other,
    })
}

/// Size in bytes. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_size(info: *const sbx_file_info) -> u64 {
    with(info, 0, |i| i.info.size)
}

/// Permission bits (e.g. 0644; at most 07777). 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_mode(info: *const sbx_file_info) -> u32 {
    with(info, 0, |i| i.info.mode)
}

/// Last modification, in milliseconds since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_modified_unix_ms(info: *const sbx_file_info) -> i64 {
    with(info, 0, |i| unix_ms(i.info.modified))
}

/// Where a symlink points; NULL for other kinds (and for NULL). Borrowed from `info`.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_target(info: *const sbx_file_info) -> *const c_char {
    with(info, std::ptr::null(), |i| i.target.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()))
}

/// Frees an info the caller owns. NULL is ignored. Exactly once; never for an info
/// borrowed from a list.
///
/// # Safety
/// `info` is NULL or an owned, live info not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_info_free(info: *mut sbx_file_info) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(info) });
}

/// The entries of a directory, sorted by name (from `sbx_session_list_dir`). Owned by the
/// caller, freed with `sbx_file_list_free` exactly once; immutable, so readable from any
/// thread.
pub struct sbx_file_list {
    pub(crate) items: Vec<sbx_file_info>,
}

/// Number of entries; 0 for NULL.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_list_len(list: *const sbx_file_list) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.items.len()))
}

/// Entry `index`, or NULL when `list` is NULL or `index` is out of range.
///
/// Lifetime: borrowed from `list`, valid until `sbx_file_list_free(list)`; never free it.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_list_get(list: *const sbx_file_list, index: usize) -> *const sbx_file_info {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable list by contract.
        unsafe { list.as_ref() }.and_then(|l| l.items.get(index)).map_or(std::ptr::null(), |i| i as *const _)
    })
}

/// Frees a list and the infos in it. NULL is ignored. Exactly once.
///
/// # Safety
/// `list` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_file_list_free(list: *mut sbx_file_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
