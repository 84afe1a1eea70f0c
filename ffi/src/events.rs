//! `sbx_event_stream`: a session's event stream (file changes, processes, ports,
//! resource samples, lifecycle), read ahead by a pump on the library's runtime, taken
//! with `sbx_event_stream_next` and pollable through a descriptor; and the session's
//! other event calls: `sbx_session_watch`, `sbx_session_stats`,
//! `sbx_session_wait_for_port`.

use std::ffi::{c_char, c_int};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sandbox_core::{EventAction, EventFilter, EventKind, EventStream, SessionEvent};

use crate::boundary::{Blocks, call, quiet, value};
use crate::cancel_token::sbx_cancel_token;
use crate::error::{FfiError, sbx_error};
use crate::event::sbx_event;
use crate::event_queue::{End, EventQueue, Taken};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::interruptible;
use crate::process::cancel_latch;
use crate::runtime;
use crate::session::sbx_session;
use crate::session_link::SessionLink;
use crate::status::sbx_status;
use crate::text::str_arg;
use crate::wait_time;

/// `kinds` flag of `sbx_session_events`: file events (created, modified, deleted,
/// renamed, overflow). A `kinds` of 0 is every kind; gap events always pass.
pub const SBX_EVENT_KIND_FILE: u32 = 1;
/// `kinds` flag of `sbx_session_events`: process events (started, exited, timed_out).
pub const SBX_EVENT_KIND_PROCESS: u32 = 2;
/// `kinds` flag of `sbx_session_events`: port events (listening, closed).
pub const SBX_EVENT_KIND_PORT: u32 = 4;
/// `kinds` flag of `sbx_session_events`: resource samples.
pub const SBX_EVENT_KIND_RESOURCES: u32 = 8;
/// `kinds` flag of `sbx_session_events`: lifecycle events (watching, stopping, stopped,
/// lost, limit).
pub const SBX_EVENT_KIND_LIFECYCLE: u32 = 16;
/// `kinds` flag of `sbx_session_events`: network events, the egress enforcer's
/// decisions on a session with an egress policy (allowed, refused).
pub const SBX_EVENT_KIND_NETWORK: u32 = 32;

/// The `kinds` flags and the kinds they select.
const KIND_FLAGS: [(u32, EventKind); 6] = [
    (SBX_EVENT_KIND_FILE, EventKind::File),
    (SBX_EVENT_KIND_PROCESS, EventKind::Process),
    (SBX_EVENT_KIND_PORT, EventKind::Port),
    (SBX_EVENT_KIND_RESOURCES, EventKind::Resources),
    (SBX_EVENT_KIND_LIFECYCLE, EventKind::Lifecycle),
    (SBX_EVENT_KIND_NETWORK, EventKind::Network),
];

/// The kinds a `kinds` mask selects (every kind: an empty list).
fn kinds_of(mask: u32) -> Result<Vec<EventKind>, FfiError> {
    let known = KIND_FLAGS.iter().fold(0, |all, (flag, _)| all | flag);
    if mask & !known != 0 {
        return Err(FfiError::invalid(
            "kinds",
            format!("{mask:#x} has bits that are no SBX_EVENT_KIND_* flag (those are {known:#x})"),
        ));
    }
    Ok(KIND_FLAGS.iter().filter(|(flag, _)| mask & flag != 0).map(|(_, kind)| *kind).collect())
}

/// A stream of a session's events, in sequence order, each once. Created by
/// `sbx_session_events`.
///
/// A pump on the library's runtime reads ahead of the caller (it pauses while 10 000
/// events wait to be taken) and `sbx_event_stream_next` takes them in order.
/// `sbx_event_stream_fd` is a descriptor to poll instead of blocking. The stream ends
/// (next gives `SBX_STATUS_OK` with no event) after the session's `lifecycle` `stopped`
/// or `lost` event. A reader that goes away resumes in a new stream from
/// `sbx_event_stream_position`: it gets every event it had not taken, or a `gap` event
/// counting those the journal no longer has.
///
/// Any thread may call any function on it, also at the same time (concurrent nexts take
/// turns; each event goes to one of them). `sbx_event_stream_close` (idempotent, any
/// thread, never blocks) stops the pump, makes a next blocked on the stream return
/// `SBX_STATUS_CLOSED` at once, and later nexts too. Closing or freeing the session it
/// came from does the same. `sbx_event_stream_free` (exactly once, after every other
/// thread has returned from calls on it) closes it and releases the pump and the
/// descriptor.
pub struct sbx_event_stream {
    queue: Arc<EventQueue>,
    pump: Option<tokio::task::JoinHandle<()>>,
    // Last: the runtime (in the link) outlives the pump.
    link: SessionLink,
}

impl Drop for sbx_event_stream {
    fn drop(&mut self) {
        self.link.closed.set();
        self.queue.close();
        if let Some(pump) = self.pump.take() {
            pump.abort();
            // Once the pump is gone, nothing but this handle holds the queue: its
            // descriptor is closed when the handle is. (On a runtime thread the pump
            // goes away on its own, a moment later: it must not be waited for there.)
            if !runtime::on_runtime_thread() {
                let _ = self.link.ctx.rt.block_on(pump);
            }
        }
    }
}

/// How long one read of the pump waits at the agent for an event: also how often the
/// position of a stream that gets no events moves on.
const PUMP_STEP: Duration = Duration::from_secs(1);

/// How long past its step the pump waits for a read's answer before it drops the read
/// and asks again: a stream must not hang on an answer that never comes (a read in
/// flight when the session is stopped through another handle, whose connection is
/// dropped then).
const PUMP_GRACE: Duration = Duration::from_secs(2);

/// Moves the session's events into the queue, pausing while it is full, until the
/// stream ends or fails, or until `stop` resolves (the stream or its session closed).
async fn pump(mut stream: EventStream, queue: Arc<EventQueue>, stop: impl Future<Output = ()>) {
    let forward = async {
        loop {
            queue.room().await;
            // A read dropped unanswered leaves the stream as it was: the next one asks
            // again from the same position.
            let Ok(read) = tokio::time::timeout(PUMP_STEP + PUMP_GRACE, stream.next_within(Some(PUMP_STEP))).await
            else {
                continue;
            };
            match read {
                Ok(Some(e)) => queue.push(e, stream.position()),
                Ok(None) if stream.is_ended() => return queue.finish(End::Ended),
                Ok(None) => queue.advance(stream.position()),
                Err(e) => return queue.finish(End::Failed(e.into())),
            }
        }
    };
    tokio::select! {
        _ = stop => queue.close(),
        _ = forward => {},
    }
}

/// Opens a stream of the session's events.
///
/// `from`: 0 for only the events recorded from now on (the position is taken before
/// this call returns, so an action started after it is seen); otherwise the sequence
/// number (from 1) of the first event wanted, e.g. 1 for everything the journal still
/// has, or `sbx_event_stream_position` of an earlier stream to resume it. A `from`
/// beyond the journal is reported by `sbx_event_stream_next`
/// (`SBX_STATUS_INVALID_ARGUMENT`). `kinds`: `SBX_EVENT_KIND_*` flags or'ed together, 0
/// for every kind; gap events always pass. `path_prefix` (copied; NULL for none): file
/// events only below this absolute path (itself included; a rename matches by either
/// name); other kinds are not filtered by path.
///
/// On success `*out` receives a stream the caller frees with `sbx_event_stream_free`.
/// Failures: `SBX_STATUS_INVALID_ARGUMENT` (unknown `kinds` bits, a relative or empty
/// `path_prefix`), `SBX_STATUS_CLOSED`. A session that is gone is not an error here: the
/// stream's only event is its `lifecycle` `stopped` (or `lost`), then the end. Blocks for
/// one agent round trip when `from` is 0: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `path_prefix` is NULL or NUL-terminated; `out` is
/// writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_events(
    session: *const sbx_session,
    from: u64,
    kinds: u32,
    path_prefix: *const c_char,
    out: *mut *mut sbx_event_stream,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_events", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let s = borrow(session, "session")?;
            let prefix = if path_prefix.is_null() { None } else { Some(str_arg(path_prefix, "path prefix")?) };
            let out = out_param(out, "out")?;
            let kinds = kinds_of(kinds)?;
            if let Some(p) = prefix.filter(|p| !p.starts_with('/')) {
                return Err(FfiError::invalid("path prefix", format!("{p:?} is not an absolute path")));
            }
            let filter = EventFilter { kinds, path_prefix: prefix.map(str::to_string) };
            let link = s.link()?;
            let (stream, first) = if from == 0 {
                // "Now" is where the agent's journal is at this read, not at the pump's
                // first one, which may come after the caller's next action.
                let mut stream = s.core().events(None, filter);
                let first = s.run(None, stream.next_within(Some(Duration::ZERO)))?;
                (stream, first)
            } else {
                (s.core().events(Some(from), filter), None)
            };
            let queue = Arc::new(EventQueue::new(stream.position())?);
            if let Some(e) = first {
                queue.push(e, stream.position());
            }
            let pump = link.ctx.rt.spawn(pump(stream, queue.clone(), link.on_close()));
            let handle = sbx_event_stream { queue, pump: Some(pump), link };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(handle));
            Ok(())
        })
    }
}

/// Takes the next event of the stream. `timeout_ms`: 0 returns an event only if one is
/// there already; otherwise waits up to that long (`SBX_NO_TIMEOUT`: as long as it
/// takes). `cancel` (NULL allowed) makes a waiting call return `SBX_STATUS_CANCELLED`
/// from another thread; the stream is unchanged and can be read again (with another
/// token: a cancelled one fails every call at once).
///
/// `SBX_STATUS_OK` with `*out` an event, which the caller frees with `sbx_event_free`;
/// `SBX_STATUS_OK` with `*out` NULL once the stream has ended (after its `lifecycle`
/// `stopped` or `lost` event), and on every call after. `SBX_STATUS_TIMEOUT` when no event
/// came in time (the stream is unchanged: call again). `SBX_STATUS_CLOSED` once the
/// stream or its session was closed, also for a call blocked in it on another thread.
/// `SBX_STATUS_INVALID_ARGUMENT` when the stream's `from` is beyond the session's
/// journal; that and other failures of the stream are reported by every call after.
/// Blocks: not from a library runtime thread.
///
/// # Safety
/// `stream` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_stream_next(
    stream: *const sbx_event_stream,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_event,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_event_stream_next", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let st = borrow(stream, "stream")?;
            let out = out_param(out, "out")?;
            let queue = &st.queue;
            let wait = wait_time::from_ms(timeout_ms);
            let next = async move {
                let taken = match wait {
                    Some(d) if d.is_zero() => queue.take(),
                    Some(d) => tokio::time::timeout(d, queue.next()).await.unwrap_or(Taken::Nothing),
                    None => queue.next().await,
                };
                Ok::<_, FfiError>(taken)
            };
            // SAFETY: NULL or a live token by contract.
            let cancel = cancel_latch(cancel);
            let taken = interruptible::block_on(&st.link.ctx.rt, &st.link.closers("event stream"), cancel, next)?;
            let event = match taken {
                Taken::Event(e) => into_handle(sbx_event::new(*e)),
                Taken::Ended => std::ptr::null_mut(),
                Taken::Failed(e) => return Err(e),
                Taken::Nothing => {
                    return Err(FfiError::new(
                        sbx_status::Timeout,
                        format!("no event of the stream within {timeout_ms} ms"),
                    ));
                }
            };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, event);
            Ok(())
        })
    }
}

/// A descriptor that is readable (for poll, epoll or select) exactly while
/// `sbx_event_stream_next` would return without waiting: an event is read ahead, or the
/// stream has ended, failed or been closed. Wait on it level-triggered (with epoll's
/// edge-triggered mode, take events with a timeout of 0 until `SBX_STATUS_TIMEOUT`
/// before waiting again). Owned by the stream and valid until `sbx_event_stream_free`:
/// never read, write or close it. -1 for NULL. Never blocks; any thread.
///
/// # Safety
/// `stream` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_stream_fd(stream: *const sbx_event_stream) -> c_int {
    // SAFETY: NULL or live by contract.
    value(-1, || unsafe { stream.as_ref() }.map_or(-1, |st| st.queue.fd()))
}

/// The sequence number to pass as `from` to `sbx_session_events` to resume where this
/// stream's reader is: the next event it has not taken (read-ahead events included).
/// 0 when not known yet (a stream from now whose session was gone) and for NULL.
/// Never blocks; any thread.
///
/// # Safety
/// `stream` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_stream_position(stream: *const sbx_event_stream) -> u64 {
    // SAFETY: NULL or live by contract.
    value(0, || unsafe { stream.as_ref() }.and_then(|st| st.queue.position()).unwrap_or(0))
}

/// Closes the stream: its pump stops, calls blocked on it in other threads return
/// `SBX_STATUS_CLOSED` at once, and later calls fail the same way; its descriptor stays
/// open (and readable) until `sbx_event_stream_free`. Idempotent, thread-safe, never
/// blocks; NULL is ignored. Does not free the handle.
///
/// # Safety
/// `stream` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_stream_close(stream: *const sbx_event_stream) {
    quiet(|| {
        // SAFETY: NULL or live by contract.
        if let Ok(st) = unsafe { borrow(stream, "stream") } {
            st.link.closed.set();
            st.queue.close();
        }
    });
}

/// Frees the stream (closing it first); its pump has stopped and its descriptor is
/// closed when this returns (waiting a moment for the pump if it was busy; called on a
/// library runtime thread, it does not wait, and they go a moment later). NULL is ignored. Exactly once, after every other thread has
/// returned from calls on it. Events already taken stay valid until they are freed.
///
/// # Safety
/// `stream` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_event_stream_free(stream: *mut sbx_event_stream) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(stream) });
}

/// Watches file changes below `path` (copied; an absolute directory inside the session)
/// too, besides the working dir and the configured watches; a no-op when it is watched
/// already. Its events are file events like the others. Failures:
/// `SBX_STATUS_INVALID_ARGUMENT` for a relative path, `SBX_STATUS_NOT_FOUND` when it
/// does not exist, `SBX_STATUS_SESSION_NOT_FOUND`, `SBX_STATUS_SESSION_LOST`,
/// `SBX_STATUS_CLOSED`. Blocks for one agent round trip: not from a library runtime
/// thread.
///
/// # Safety
/// `session` is NULL or live; `path` is NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_watch(
    session: *const sbx_session,
    path: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_watch", err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, path) = (borrow(session, "session")?, str_arg(path, "path")?);
            s.run(None, s.core().watch(path))
        })
    }
}

/// The session's resources now, as a `resources` `sample` event (sequence number 0: it
/// is not from the journal): CPU time, memory, pids and disk writes are in its JSON
/// (`sbx_event_json`) under `sample`. On success `*out` receives an event the caller
/// frees with `sbx_event_free`. Failures: `SBX_STATUS_SESSION_NOT_FOUND`,
/// `SBX_STATUS_SESSION_LOST`, `SBX_STATUS_CLOSED`. Blocks for one agent round trip: not
/// from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_stats(
    session: *const sbx_session,
    out: *mut *mut sbx_event,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_stats", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            let sample = s.run(None, s.core().stats())?;
            let time_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            let event = SessionEvent {
                time_ms,
                sample: Some(sample),
                ..SessionEvent::new(EventKind::Resources, EventAction::Sample)
            };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_event::new(event)));
            Ok(())
        })
    }
}

/// Waits until a process in the session listens on TCP `port` (1 to 65535), also when
/// one listened already (as long as the journal still has its event), up to
/// `timeout_ms` (0: only what the journal says now; `SBX_NO_TIMEOUT`: as long as it
/// takes). `cancel` (NULL allowed) makes it return `SBX_STATUS_CANCELLED` from another
/// thread.
///
/// On success `*out` receives the `port` `listening` event (its pid and program name),
/// which the caller frees with `sbx_event_free`. Failures: `SBX_STATUS_TIMEOUT` when no
/// process listened in time, `SBX_STATUS_NOT_RUNNING` when the session ended first,
/// `SBX_STATUS_INVALID_ARGUMENT` for port 0, `SBX_STATUS_SESSION_NOT_FOUND`,
/// `SBX_STATUS_SESSION_LOST`, `SBX_STATUS_CLOSED`. Blocks: not from a library runtime
/// thread.
///
/// # Safety
/// `session` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_wait_for_port(
    session: *const sbx_session,
    port: u16,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut sbx_event,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_wait_for_port", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            if port == 0 {
                return Err(FfiError::invalid("port", "0 is no port a process listens on"));
            }
            // SAFETY: NULL or a live token by contract.
            let event = s.run(cancel_latch(cancel), s.core().wait_for_port(port, wait_time::from_ms(timeout_ms)))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_event::new(event)));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_masks_select_kinds() {
        assert!(kinds_of(0).unwrap().is_empty(), "0 is every kind");
        assert_eq!(kinds_of(SBX_EVENT_KIND_FILE | SBX_EVENT_KIND_PORT).unwrap(), [EventKind::File, EventKind::Port]);
        assert_eq!(kinds_of(63).unwrap().len(), 6);
        assert_eq!(kinds_of(SBX_EVENT_KIND_NETWORK).unwrap(), [EventKind::Network]);
        let e = kinds_of(64).unwrap_err();
        assert_eq!(e.status, sbx_status::InvalidArgument);
        assert!(e.message.contains("0x40"), "{}", e.message);
    }
}
