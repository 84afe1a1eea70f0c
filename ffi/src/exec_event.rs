//! `sbx_exec_event`: one event of a streamed command (bytes on stdout or stderr, or how
//! it ended), as `sbx_exec_stream_next` returns them.

use sandbox_core::{ExecEvent, ExecExit};

use crate::boundary::{Blocks, call, quiet, value};
use crate::error::sbx_error;
use crate::handle::{borrow, free, out_param, write_out};
use crate::status::sbx_status;

// What an event of a streamed command is: the value of `sbx_exec_event_kind`. These
// were once an enum named `sbx_event_kind`; that C name is now the getter of an
// `sbx_event` (events.rs), so they are constants, with the same names and numbers.

/// `sbx_exec_event_kind` of a NULL event; never the kind of a real one.
pub const SBX_EVENT_KIND_NONE: u32 = 0;
/// `sbx_exec_event_kind`: bytes the command wrote to stdout (`sbx_exec_event_data`).
pub const SBX_EVENT_KIND_STDOUT: u32 = 1;
/// `sbx_exec_event_kind`: bytes the command wrote to stderr (`sbx_exec_event_data`).
pub const SBX_EVENT_KIND_STDERR: u32 = 2;
/// `sbx_exec_event_kind`: the command ended (exit code or signal, timeout and OOM flags,
/// totals); the last event of a stream.
pub const SBX_EVENT_KIND_EXIT: u32 = 3;

/// One event of a streamed command. Owned by the caller, freed with
/// `sbx_exec_event_free` exactly once. Immutable, so readable from any thread; its byte
/// view is valid until it is freed.
pub struct sbx_exec_event {
    pub(crate) event: ExecEvent,
}

fn with<T: Copy>(event: *const sbx_exec_event, fallback: T, pick: impl FnOnce(&ExecEvent) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable event by the exported functions' contract.
        match unsafe { event.as_ref() } {
            Some(e) => pick(&e.event),
            None => fallback,
        }
    })
}

fn with_exit<T: Copy>(event: *const sbx_exec_event, fallback: T, pick: impl FnOnce(&ExecExit) -> T) -> T {
    with(event, fallback, |e| match e {
        ExecEvent::Exit(x) => pick(x),
        _ => fallback,
    })
}

/// The kind of the event: `SBX_EVENT_KIND_STDOUT`, `SBX_EVENT_KIND_STDERR` or
/// `SBX_EVENT_KIND_EXIT`; `SBX_EVENT_KIND_NONE` for NULL. (Not to be confused with the
/// `kinds` flags of `sbx_session_events`, `SBX_EVENT_KIND_FILE`...)
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_kind(event: *const sbx_exec_event) -> u32 {
    with(event, SBX_EVENT_KIND_NONE, |e| match e {
        ExecEvent::Stdout(_) => SBX_EVENT_KIND_STDOUT,
        ExecEvent::Stderr(_) => SBX_EVENT_KIND_STDERR,
        ExecEvent::Exit(_) => SBX_EVENT_KIND_EXIT,
    })
}

/// The bytes of a stdout or stderr event, exactly as written (may contain NUL bytes; not
/// NUL-terminated); no bytes for an exit event.
///
/// On success `*data` receives a pointer borrowed from `event` (valid until
/// `sbx_exec_event_free`; non-NULL even when `*len` is 0) and `*len` its length.
///
/// # Safety
/// `event` is NULL or live; `data` and `len` are writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_data(
    event: *const sbx_exec_event,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_event_data", err, Blocks::No, || {
            // SAFETY: NULL or live by contract.
            let e = borrow(event, "event")?;
            let (data, len) = (out_param(data, "data")?, out_param(len, "len")?);
            let bytes: &[u8] = match &e.event {
                ExecEvent::Stdout(b) | ExecEvent::Stderr(b) => b,
                ExecEvent::Exit(_) => &[],
            };
            // SAFETY: both checked non-NULL and writable by contract.
            write_out(data, bytes.as_ptr());
            write_out(len, bytes.len());
            Ok(())
        })
    }
}

/// For an exit event: the exit status when the command exited (127: not found, 126:
/// not executable); -1 when it was killed by a signal, for other events and for NULL.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_exit_code(event: *const sbx_exec_event) -> i32 {
    with_exit(event, -1, |x| x.exit_code.unwrap_or(-1))
}

/// For an exit event: the signal that killed the command, or 0.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_signal(event: *const sbx_exec_event) -> i32 {
    with_exit(event, 0, |x| x.signal.unwrap_or(0))
}

/// For an exit event: whether the timeout fired and the process group was killed.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_timed_out(event: *const sbx_exec_event) -> bool {
    with_exit(event, false, |x| x.timed_out)
}

/// For an exit event: whether the kernel's OOM killer killed the command (the session
/// hit its memory limit).
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_oom_killed(event: *const sbx_exec_event) -> bool {
    with_exit(event, false, |x| x.oom_killed)
}

/// For an exit event: bytes the command wrote to stdout in all.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_stdout_total(event: *const sbx_exec_event) -> u64 {
    with_exit(event, 0, |x| x.stdout_total)
}

/// For an exit event: bytes the command wrote to stderr in all.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_stderr_total(event: *const sbx_exec_event) -> u64 {
    with_exit(event, 0, |x| x.stderr_total)
}

/// For an exit event: time from spawn to exit as measured in the container, in
/// microseconds.
///
/// # Safety
/// `event` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_duration_us(event: *const sbx_exec_event) -> u64 {
    with_exit(event, 0, |x| x.duration.as_micros().min(u64::MAX as u128) as u64)
}

/// Frees an event. NULL is ignored. Exactly once; its byte view becomes invalid.
///
/// # Safety
/// `event` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_event_free(event: *mut sbx_exec_event) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(event) });
}
