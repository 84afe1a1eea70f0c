//! `sbx_terminal_info` (what a terminal is and how its program is doing) and
//! `sbx_terminal_list` (all terminals of a session).

use std::ffi::{CString, c_char};

use sandbox_core::TerminalInfo;

use crate::boundary::{quiet, value};
use crate::handle::free;
use crate::process_state::{self, sbx_process_state, unix_ms};
use crate::text::to_cstring_lossy;

/// A snapshot of one terminal: id, command, state of its program, pid, size, times,
/// scrollback size.
///
/// Either owned by the caller (from `sbx_terminal_get_info` / `sbx_terminal_wait`: free
/// it with `sbx_terminal_info_free` exactly once) or borrowed from an
/// `sbx_terminal_list` (`sbx_terminal_list_get`: never free it; valid until the list is
/// freed). Immutable, so readable from any thread; strings it returns are borrowed from
/// it.
pub struct sbx_terminal_info {
    pub(crate) info: TerminalInfo,
    id: CString,
    command: CString,
}

impl sbx_terminal_info {
    pub(crate) fn new(info: TerminalInfo) -> sbx_terminal_info {
        sbx_terminal_info {
            id: to_cstring_lossy(info.id.clone()),
            command: to_cstring_lossy(info.command.clone()),
            info,
        }
    }
}

fn with<T: Copy>(info: *const sbx_terminal_info, fallback: T, pick: impl FnOnce(&sbx_terminal_info) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable info by the exported functions' contract.
        match unsafe { info.as_ref() } {
            Some(i) => pick(i),
            None => fallback,
        }
    })
}

/// The terminal id (letters, digits, '-'). Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_id(info: *const sbx_terminal_info) -> *const c_char {
    with(info, std::ptr::null(), |i| i.id.as_ptr())
}

/// The command as shown in listings. Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_command(info: *const sbx_terminal_info) -> *const c_char {
    with(info, std::ptr::null(), |i| i.command.as_ptr())
}

/// Running, exited or killed; `SBX_PROCESS_STATE_UNKNOWN` for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_state(info: *const sbx_terminal_info) -> sbx_process_state {
    with(info, sbx_process_state::Unknown, |i| i.info.state.into())
}

/// The exit code when the program exited, else -1.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_exit_code(info: *const sbx_terminal_info) -> i32 {
    with(info, -1, |i| process_state::exit_code(i.info.state))
}

/// The signal that killed the program, else 0.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_signal(info: *const sbx_terminal_info) -> i32 {
    with(info, 0, |i| process_state::signal(i.info.state))
}

/// pid of the program (the terminal's session leader) inside the container. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_pid(info: *const sbx_terminal_info) -> u32 {
    with(info, 0, |i| i.info.pid)
}

/// Rows. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_rows(info: *const sbx_terminal_info) -> u16 {
    with(info, 0, |i| i.info.rows)
}

/// Columns. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_cols(info: *const sbx_terminal_info) -> u16 {
    with(info, 0, |i| i.info.cols)
}

/// When it started, in milliseconds since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_started_unix_ms(info: *const sbx_terminal_info) -> i64 {
    with(info, 0, |i| unix_ms(i.info.started))
}

/// When its program ended, in milliseconds since the Unix epoch; -1 while it runs (and
/// for NULL).
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_ended_unix_ms(info: *const sbx_terminal_info) -> i64 {
    with(info, -1, |i| i.info.ended.map_or(-1, unix_ms))
}

/// Scrollback bytes kept. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_scrollback(info: *const sbx_terminal_info) -> u64 {
    with(info, 0, |i| i.info.scrollback)
}

/// Frees an info the caller owns. NULL is ignored. Exactly once; never for an info
/// borrowed from a list.
///
/// # Safety
/// `info` is NULL or an owned, live info not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_free(info: *mut sbx_terminal_info) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(info) });
}

/// The terminals of a session, oldest first (from `sbx_session_list_terminals`). Owned
/// by the caller, freed with `sbx_terminal_list_free` exactly once; immutable, so
/// readable from any thread.
pub struct sbx_terminal_list {
    pub(crate) items: Vec<sbx_terminal_info>,
}

/// Number of terminals in the list; 0 for NULL.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_list_len(list: *const sbx_terminal_list) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.items.len()))
}

/// Terminal `index` of the list, or NULL when `list` is NULL or `index` is out of range.
///
/// Lifetime: borrowed from `list`, valid until `sbx_terminal_list_free(list)`; never
/// free it.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_list_get(
    list: *const sbx_terminal_list,
    index: usize,
) -> *const sbx_terminal_info {
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
pub unsafe extern "C" fn sbx_terminal_list_free(list: *mut sbx_terminal_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
