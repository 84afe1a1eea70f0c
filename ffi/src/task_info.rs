//! `sbx_task_info` (what a task is and how it is doing) and `sbx_task_list` (all tasks of
//! a session).

use std::ffi::c_char;

use sandbox_core::TaskInfo;

use crate::boundary::quiet;
use crate::handle::free;
use crate::process::{self, Info, wraps};
use crate::process_state::sbx_process_state;

/// A snapshot of one background task: id, command, state, pid, times, spool size.
///
/// Either owned by the caller (from `sbx_task_get_info` / `sbx_task_wait`: free it with
/// `sbx_task_info_free` exactly once) or borrowed from an `sbx_task_list`
/// (`sbx_task_list_get`: never free it; valid until the list is freed). Immutable, so
/// readable from any thread; strings it returns are borrowed from it.
pub struct sbx_task_info(Info<TaskInfo>);

wraps!(sbx_task_info: Info<TaskInfo> = "task info", sbx_task_list: Vec<sbx_task_info> = "task list");

/// The task id (letters, digits, '-'). Borrowed from `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_id(info: *const sbx_task_info) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_id(info) }
}

/// The command as shown in listings (the shell line of a shell task). Borrowed from
/// `info`; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_command(info: *const sbx_task_info) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_command(info) }
}

/// Running, exited or killed; `SBX_PROCESS_STATE_UNKNOWN` for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_state(info: *const sbx_task_info) -> sbx_process_state {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_state(info) }
}

/// The exit code when the task exited, else -1.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_exit_code(info: *const sbx_task_info) -> i32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_exit_code(info) }
}

/// The signal that killed the task, else 0.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_signal(info: *const sbx_task_info) -> i32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_signal(info) }
}

/// Its pid inside the container (also its process group id). 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_pid(info: *const sbx_task_info) -> u32 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_pid(info) }
}

/// When it started, in milliseconds since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_started_unix_ms(info: *const sbx_task_info) -> i64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_started_unix_ms(info) }
}

/// When it ended, in milliseconds since the Unix epoch; -1 while it runs (and for NULL).
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_ended_unix_ms(info: *const sbx_task_info) -> i64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_ended_unix_ms(info) }
}

/// Bytes kept per output stream (older output is dropped). 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_spool_cap(info: *const sbx_task_info) -> u64 {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::info_get(info, 0, |i| i.info.spool_cap) }
}

/// Frees an info the caller owns. NULL is ignored. Exactly once; never for an info
/// borrowed from a list.
///
/// # Safety
/// `info` is NULL or an owned, live info not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_info_free(info: *mut sbx_task_info) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(info) });
}

/// The tasks of a session, oldest first (from `sbx_session_list_tasks`). Owned by the
/// caller, freed with `sbx_task_list_free` exactly once; immutable, so readable from any
/// thread.
pub struct sbx_task_list(Vec<sbx_task_info>);

/// Number of tasks in the list; 0 for NULL.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_list_len(list: *const sbx_task_list) -> usize {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::list_len(list) }
}

/// Task `index` of the list, or NULL when `list` is NULL or `index` is out of range.
///
/// Lifetime: borrowed from `list`, valid until `sbx_task_list_free(list)`; never free it.
///
/// # Safety
/// `list` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_list_get(list: *const sbx_task_list, index: usize) -> *const sbx_task_info {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::list_get(list, index) }
}

/// Frees a list and the infos in it. NULL is ignored. Exactly once.
///
/// # Safety
/// `list` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_task_list_free(list: *mut sbx_task_list) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(list) });
}
