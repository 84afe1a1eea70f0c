//! `sbx_terminal`: a PTY terminal of a session (opened, or found again by id): write
//! keystrokes, read its output with a timeout, resize it, kill it, wait for it.

use std::ffi::c_char;

use sandbox_core::TerminalKind;

use crate::boundary::{Blocks, call, quiet};
use crate::cancel_token::sbx_cancel_token;
use crate::error::sbx_error;
use crate::handle::{borrow, free};
use crate::output_chunk::sbx_output_chunk;
use crate::process::{self, Held, Wraps, wraps};
use crate::session::sbx_session;
use crate::status::sbx_status;
use crate::terminal_info::{sbx_terminal_info, sbx_terminal_list};
use crate::terminal_spec::sbx_terminal_spec;
use crate::text::bytes_arg;

/// Input is sent to the agent in pieces of at most this size (its limit per write).
const WRITE_PIECE: usize = 1024 * 1024;

/// A handle on one terminal. The terminal lives in the session's agent: its program
/// runs on when this handle is freed, and any process can find it again (and replay its
/// scrollback from offset 0) with `sbx_session_attach_terminal`.
///
/// Thread rules: any number of threads may call functions on it at once (e.g. one
/// thread reading while another writes). `sbx_terminal_close` (idempotent, any thread,
/// never blocks) makes calls blocked on it, such as a `sbx_terminal_read` waiting for
/// output, return `SBX_STATUS_CLOSED` at once, and later calls too; it does not kill the
/// program. Closing or freeing the session it came from closes it as well.
/// `sbx_terminal_free` exactly once, after every other thread has returned from calls
/// on it.
pub struct sbx_terminal(Held<TerminalKind>);

wraps!(sbx_terminal: Held<TerminalKind> = "terminal");

/// Opens a terminal as `spec` (copied) says: a PTY created inside the container, with
/// the program as the session leader whose controlling terminal it is. Its output goes
/// to a bounded scrollback any process can read.
///
/// On success `*out` receives a handle the caller frees with `sbx_terminal_free`.
/// Failures: `SBX_STATUS_NOT_FOUND` (bad cwd), `SBX_STATUS_INVALID_ARGUMENT`,
/// `SBX_STATUS_SESSION_NOT_FOUND`, `SBX_STATUS_SESSION_LOST`, `SBX_STATUS_CLOSED`.
/// Blocks for one agent round trip: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `spec` is NULL or live; `out` is writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_open_terminal(
    session: *const sbx_session,
    spec: *const sbx_terminal_spec,
    out: *mut *mut sbx_terminal,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::spawn("sbx_session_open_terminal", session, spec, out, err, |s, spec| {
            s.run(None, s.core().open_terminal(spec))
        })
    }
}

/// A handle on the existing terminal `id` of the session (opened by this or any other
/// process). Fails with `SBX_STATUS_NOT_FOUND` when the session has no such terminal and
/// `SBX_STATUS_INVALID_ARGUMENT` for a malformed id. On success `*out` receives a handle
/// the caller frees with `sbx_terminal_free`. Blocks for one agent round trip: not from a
/// library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `id` is NULL or NUL-terminated; `out` is writable; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_attach_terminal(
    session: *const sbx_session,
    id: *const c_char,
    out: *mut *mut sbx_terminal,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::attach("sbx_session_attach_terminal", session, id, out, err, |s, id| {
            s.run(None, s.core().attach_terminal(id))
        })
    }
}

/// All terminals of the session, oldest first (read from the spool when the agent is
/// gone). On success `*out` receives a list the caller frees with
/// `sbx_terminal_list_free`. Blocks for one agent round trip: not from a library runtime
/// thread.
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_list_terminals(
    session: *const sbx_session,
    out: *mut *mut sbx_terminal_list,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        process::list("sbx_session_list_terminals", session, out, err, |s| s.run(None, s.core().list_terminals()))
    }
}

/// The terminal id. Borrowed from `terminal`: valid until `sbx_terminal_free`, also after
/// close. NULL for NULL. Never blocks; any thread.
///
/// # Safety
/// `terminal` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_id(terminal: *const sbx_terminal) -> *const c_char {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::id(terminal) }
}

/// How the terminal is doing now (state, size). On success `*out` receives an info the
/// caller frees with `sbx_terminal_info_free`. Blocks for one agent round trip: not from
/// a library runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_get_info(
    terminal: *const sbx_terminal,
    out: *mut *mut sbx_terminal_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::get_info("sbx_terminal_get_info", terminal, out, err) }
}

/// Sends the `len` bytes at `data` (copied; any bytes: keystrokes, control characters,
/// pasted text) to the terminal's input. Large inputs go in pieces of 1 MiB; when a
/// piece fails, the pieces before it were delivered. `(NULL, 0)` does nothing.
///
/// Fails with `SBX_STATUS_NOT_RUNNING` once the terminal's program has exited. Blocks
/// for an agent round trip per piece: not from a library runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `data` is NULL or points to `len` readable bytes; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_write(
    terminal: *const sbx_terminal,
    data: *const u8,
    len: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_terminal_write", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(terminal, sbx_terminal::WHAT)?.inner();
            // SAFETY: NULL or `len` readable bytes by contract.
            let bytes = bytes_arg(data, len, "data")?;
            t.run(None, async {
                for piece in bytes.chunks(WRITE_PIECE) {
                    t.core().write(piece).await?;
                }
                Ok(())
            })
        })
    }
}

/// Reads at most `max` bytes (1 to 64 MiB) of the terminal's output (its scrollback)
/// from absolute offset `offset`. Start at 0 to replay everything still kept; continue
/// at `sbx_output_chunk_next_offset`.
///
/// `timeout_ms`: 0 returns at once with what is there (possibly no bytes); otherwise,
/// when there is nothing new yet, waits up to that long for output and fails with
/// `SBX_STATUS_TIMEOUT` if none comes (`SBX_NO_TIMEOUT`: as long as it takes). Once the
/// program has ended and everything was read, it returns at once with no bytes and
/// `sbx_output_chunk_finished` true. `sbx_terminal_close` (or closing the session) on
/// another thread makes a waiting read return `SBX_STATUS_CLOSED` at once; `cancel`
/// (NULL allowed) makes it return `SBX_STATUS_CANCELLED`.
///
/// On success `*out` receives a chunk the caller frees with `sbx_output_chunk_free`.
/// Blocks: not from a library runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_read(
    terminal: *const sbx_terminal,
    offset: u64,
    max: usize,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_output_chunk,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_terminal_read", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(terminal, sbx_terminal::WHAT)?.inner();
            // SAFETY: `cancel` and `out` as the caller's contract says.
            process::read_into(t, out, timeout_ms, cancel, |w| t.core().read(offset, max, w))
        })
    }
}

/// Resizes the terminal to `rows` x `cols` (1 to 1000 each): its program gets SIGWINCH
/// and sees the new size (`stty size`). Blocks for one agent round trip: not from a
/// library runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_resize(
    terminal: *const sbx_terminal,
    rows: u16,
    cols: u16,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_terminal_resize", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let t = borrow(terminal, sbx_terminal::WHAT)?.inner();
            sandbox_core::validate::terminal_size(rows, cols)?;
            t.run(None, t.core().resize(rows, cols)).map(|_| ())
        })
    }
}

/// Sends `signal` (1 to 31; 1 = SIGHUP is what closing a real terminal sends) to the
/// terminal's process group. Blocks for one agent round trip: not from a library
/// runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_kill(
    terminal: *const sbx_terminal,
    signal: i32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::kill("sbx_terminal_kill", terminal, signal, err) }
}

/// Waits for the terminal's program to end. `timeout_ms`: 0 only checks; otherwise fails
/// with `SBX_STATUS_TIMEOUT` when it still runs after that long (`SBX_NO_TIMEOUT`: as
/// long as it takes). `cancel` (NULL allowed) makes the call return
/// `SBX_STATUS_CANCELLED` from another thread.
///
/// On success `*out` receives the final info (exit code or signal), which the caller
/// frees with `sbx_terminal_info_free`. The last output may still be on its way into the
/// scrollback when this returns: read with a timeout until `sbx_output_chunk_finished`
/// to get all of it. Blocks: not from a library runtime thread.
///
/// # Safety
/// `terminal` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_wait(
    terminal: *const sbx_terminal,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_terminal_info,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe { process::wait("sbx_terminal_wait", terminal, timeout_ms, cancel, out, err) }
}

/// Closes the handle: calls blocked on it in other threads (a read waiting for output,
/// a wait) return `SBX_STATUS_CLOSED` at once, and later calls fail the same way. The
/// terminal's program keeps running (kill it with `sbx_terminal_kill`). Idempotent,
/// thread-safe, never blocks; NULL is ignored. Does not free the handle.
///
/// # Safety
/// `terminal` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_close(terminal: *mut sbx_terminal) {
    // SAFETY: forwarded under the caller's contract.
    unsafe { process::close(terminal) }
}

/// Frees the handle (closing it first; the program keeps running). NULL is ignored.
/// Exactly once, after every other thread has returned from calls on it; its id string
/// becomes invalid.
///
/// # Safety
/// `terminal` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_terminal_free(terminal: *mut sbx_terminal) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(terminal) });
}
