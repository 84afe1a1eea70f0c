//! `sbx_terminal_info` (what a terminal is and how its program is doing) and
//! `sbx_terminal_list` (all terminals of a session).

use std::ffi::c_char;

use sandbox_core::TerminalInfo;

use crate::boundary::quiet;
use crate::handle::free;
use crate::process::{self, Info, wraps};
use crate::process_state::sbx_process_state;

/// A snapshot of one terminal: id, command, state of its program, pid, size, times,
/// scrollback size.
///
/// Either owned by the caller (from `sbx_terminal_get_info` / `sbx_terminal_wait`: free
/// it with `sbx_terminal_info_free` exactly once) or borrowed from an
/// `sbx_terminal_list` (`sbx_terminal_list_get`: never free it; valid until the list is
/// freed). Immutable, so readable from any thread; strings it returns are borrowed from
/// it.
pub struct sbx_terminal_info(Info<TerminalInfo>);

wraps!(sbx_terminal_info: Info<TerminalInfo> = "terminal info", sbx_terminal_list: Vec<sbx_terminal_info> = "terminal list");

/// The terminal id (letters, digits, '-'). Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_id(info: *const sbx_terminal_info) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_id(info) }
}

/// The command as shown in listings. Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_command(info: *const sbx_terminal_info) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_command(info) }
}

/// Running, exited or killed; `SBX_PROCESS_STATE_UNKNOWN` for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_state(info: *const sbx_terminal_info) -> sbx_process_state {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_state(info) }
}

/// The exit code when the program exited, else -1.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_exit_code(info: *const sbx_terminal_info) -> i32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_exit_code(info) }
}

/// The signal that killed the program, else 0.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_signal(info: *const sbx_terminal_info) -> i32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_signal(info) }
}

/// pid of the program (the terminal's session leader) inside the container. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_pid(info: *const sbx_terminal_info) -> u32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_pid(info) }
}

/// Rows. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_rows(info: *const sbx_terminal_info) -> u16 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_get(info, 0, |i| i.info.rows) }
}

/// Columns. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_cols(info: *const sbx_terminal_info) -> u16 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_get(info, 0, |i| i.info.cols) }
}

/// When it started, in milliseconds since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_started_unix_ms(info: *const sbx_terminal_info) -> i64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_started_unix_ms(info) }
}

/// When its program ended, in milliseconds since the Unix epoch; -1 while it runs (and
/// for NULL).
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_ended_unix_ms(info: *const sbx_terminal_info) -> i64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_ended_unix_ms(info) }
}

/// Scrollback bytes kept. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_info_scrollback(info: *const sbx_terminal_info) -> u64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_get(info, 0, |i| i.info.scrollback) }
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
pub struct sbx_terminal_list(Vec<sbx_terminal_info>);

/// Number of terminals in the list; 0 for NULL.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_list_len(list: *const sbx_terminal_list) -> usize {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::list_len(list) }
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
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::list_get(list, index) }
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
