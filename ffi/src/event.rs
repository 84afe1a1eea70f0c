//! `sbx_event`: one event of a session's event stream (a file change, a process, a port,
//! a resource sample, the session's lifecycle, an egress decision, or a gap), with a getter per field and
//! the whole event as JSON.

use std::ffi::{CString, c_char};

use sandbox_core::SessionEvent;

use crate::boundary::{quiet, value};
use crate::handle::free;
use crate::text::to_cstring_lossy;

/// One event of a session. Which fields are set depends on its kind and action (see
/// the README's event table); a getter of a field the event does not have returns NULL,
/// -1, false or 0 as it says. Owned by the caller, freed with `sbx_event_free` exactly
/// once. Immutable, so readable from any thread; its strings are valid until it is freed.
pub struct sbx_event {
    pub(crate) event: SessionEvent,
    strings: Strings,
}

/// The event's text as C strings, made once so the getters can lend them.
struct Strings {
    kind: CString,
    action: CString,
    path: Option<CString>,
    from: Option<CString>,
    process: Option<CString>,
    id: Option<CString>,
    command: Option<CString>,
    reason: Option<CString>,
    address: Option<CString>,
    host: Option<CString>,
    json: CString,
}

/// The name a value has on the wire, from its serialized form (e.g. `timed_out`).
fn wire_name(v: serde_json::Result<serde_json::Value>) -> String {
    match v {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("?{e}"),
    }
}

impl sbx_event {
    pub(crate) fn new(event: SessionEvent) -> sbx_event {
        let text = |s: &Option<String>| s.clone().map(to_cstring_lossy);
        let json = serde_json::to_string(&event).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let strings = Strings {
            kind: to_cstring_lossy(event.kind.name()),
            action: to_cstring_lossy(wire_name(serde_json::to_value(event.action))),
            path: text(&event.path),
            from: text(&event.from),
            process: event.process.map(|p| to_cstring_lossy(wire_name(serde_json::to_value(p)))),
            id: text(&event.id),
            command: text(&event.command),
            reason: text(&event.reason),
            address: text(&event.address),
            host: text(&event.host),
            json: to_cstring_lossy(json),
        };
        sbx_event { event, strings }
    }
}

fn with<T: Copy>(event: *const sbx_event, fallback: T, pick: impl FnOnce(&sbx_event) -> T) -> T {
    value(fallback, || {
        // SAFETY: NULL or a live, immutable event by the exported functions' contract.
        match unsafe { event.as_ref() } {
            Some(e) => pick(e),
            None => fallback,
        }
    })
}

/// A string of the event, borrowed from it; NULL when absent and for NULL.
fn string(event: *const sbx_event, pick: impl FnOnce(&Strings) -> Option<&CString>) -> *const c_char {
    with(event, std::ptr::null(), |e| pick(&e.strings).map_or(std::ptr::null(), |s| s.as_ptr()))
}

/// Writes an optional number to `out` (when not NULL) and tells whether it was there.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn optional(n: Option<i32>, out: *mut i32) -> bool {
    match n {
        Some(n) => {
            if !out.is_null() {
                // SAFETY: non-NULL and writable by the caller's contract.
                unsafe { out.write(n) };
            }
            true
        }
        None => false,
    }
}

/// The event's sequence number in the session's journal (from 1; a gap event has the
/// number of the last event dropped; the event of `sbx_session_stats` has 0). 0 for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_seq(e: *const sbx_event) -> u64 {
    with(e, 0, |e| e.event.seq)
}

/// When it happened, in ms since the Unix epoch. 0 for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_time_ms(e: *const sbx_event) -> u64 {
    with(e, 0, |e| e.event.time_ms)
}

/// What it is about: "file", "process", "port", "resources", "lifecycle", "network" or
/// "gap".
/// Borrowed from `e`, valid until `sbx_event_free`; NULL for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_kind(e: *const sbx_event) -> *const c_char {
    string(e, |s| Some(&s.kind))
}

/// What happened, as on the wire: file "created", "modified", "deleted", "renamed",
/// "overflow"; process "started", "exited", "timed_out"; port "listening", "closed";
/// resources "sample"; lifecycle "watching", "stopping", "stopped", "lost", "limit";
/// gap "dropped" (later versions may add more). Borrowed from `e`, valid until
/// `sbx_event_free`; NULL for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_action(e: *const sbx_event) -> *const c_char {
    string(e, |s| Some(&s.action))
}

/// file: the absolute path inside the session (for "renamed", the new name); lifecycle
/// "watching": the watched root. Borrowed from `e`; NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_path(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.path.as_ref())
}

/// file "renamed": the old path. Borrowed from `e`; NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_from(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.from.as_ref())
}

/// process: which kind of process, "task", "terminal" or "exec". Borrowed from `e`;
/// NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_process(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.process.as_ref())
}

/// process: the task or terminal id. Borrowed from `e`; NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_id(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.id.as_ref())
}

/// process: the command as shown; port: the name of the listening program; network:
/// the process that connected (`pid name`, or `direct: name`). Borrowed from `e`; NULL
/// when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_command(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.command.as_ref())
}

/// Why (file "overflow", lifecycle "stopping", "lost", "limit"; network: why refused,
/// or how an allowed connection ended when not cleanly). Borrowed from `e`; NULL when
/// absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_reason(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.reason.as_ref())
}

/// port: the address the program listens on; network: the address connected to (when
/// it got that far). Borrowed from `e`; NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_address(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.address.as_ref())
}

/// process, port: the pid inside the session; -1 when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_pid(e: *const sbx_event) -> i64 {
    with(e, -1, |e| e.event.pid.map_or(-1, i64::from))
}

/// port: the TCP port (1 to 65535); network: the target's port. -1 when absent and for
/// NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_port(e: *const sbx_event) -> i32 {
    with(e, -1, |e| e.event.port.map_or(-1, i32::from))
}

/// process "exited": whether the process exited with a status; if so and `out` is not
/// NULL, `*out` receives it. false (and `*out` untouched) when absent (e.g. it was
/// killed by a signal) and for NULL.
///
/// # Safety
/// `e` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_code(e: *const sbx_event, out: *mut i32) -> bool {
    // SAFETY: `out` is NULL or writable by the caller's contract.
    with(e, false, |e| unsafe { optional(e.event.code, out) })
}

/// process "exited": whether a signal killed the process; if so and `out` is not NULL,
/// `*out` receives its number. false (and `*out` untouched) when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_signal(e: *const sbx_event, out: *mut i32) -> bool {
    // SAFETY: `out` is NULL or writable by the caller's contract.
    with(e, false, |e| unsafe { optional(e.event.signal, out) })
}

/// file: whether the path is a directory. false when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_is_dir(e: *const sbx_event) -> bool {
    with(e, false, |e| e.event.dir == Some(true))
}

/// gap: how many events were dropped before the reader got them (the stream goes on
/// after them). 0 for other events and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_dropped(e: *const sbx_event) -> u64 {
    with(e, 0, |e| e.event.dropped.unwrap_or(0))
}

/// network: the target as the connection asked for it (a name or an address).
/// Borrowed from `e`; NULL when absent and for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_host(e: *const sbx_event) -> *const c_char {
    string(e, |s| s.host.as_ref())
}

/// network "allowed": whether the bytes carried are known; if so, `*bytes_in` (from
/// the target) and `*bytes_out` (to it) receive them where not NULL. false (and both
/// untouched) for other events and for NULL.
///
/// # Safety
/// `e` is NULL or live; `bytes_in` and `bytes_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_bytes(e: *const sbx_event, bytes_in: *mut u64, bytes_out: *mut u64) -> bool {
    with(e, false, |e| match (e.event.bytes_in, e.event.bytes_out) {
        (Some(i), Some(o)) => {
            // SAFETY: each is NULL or writable by the caller's contract.
            unsafe {
                if !bytes_in.is_null() {
                    bytes_in.write(i);
                }
                if !bytes_out.is_null() {
                    bytes_out.write(o);
                }
            }
            true
        }
        _ => false,
    })
}

/// The whole event as one JSON object, its wire form: `seq`, `time_ms`, `kind`,
/// `action` and every field the event has (absent ones are left out), including those
/// without a getter: `sample` (resources: `cpu_usec`, `memory_bytes`, `pids`, `source`,
/// and when known `memory_peak_bytes`, `memory_limit_bytes`, `disk_written_bytes`),
/// `oom` (process "exited") and `count` (lifecycle "watching"). Borrowed from `e`,
/// valid until `sbx_event_free`; NULL for NULL.
///
/// # Safety
/// `e` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_json(e: *const sbx_event) -> *const c_char {
    string(e, |s| Some(&s.json))
}

/// Frees an event. NULL is ignored. Exactly once; its strings become invalid.
///
/// # Safety
/// `e` is NULL or live, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_free(e: *mut sbx_event) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(e) });
}
