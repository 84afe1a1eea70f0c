//! `sbx_exec_stream`: a command whose output arrives as events while it runs, read with
//! pull-based `sbx_exec_stream_next` calls that take a timeout, with its stdin and
//! signals driven from any thread.

use std::ffi::c_char;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sandbox_core::{ExecControl, ExecEvent, ExecStream};
use tokio::sync::{Mutex, mpsc};

use crate::boundary::{Blocks, call, quiet};
use crate::error::{FfiError, sbx_error};
use crate::exec_event::sbx_exec_event;
use crate::exec_options::{OptionsBuilder, sbx_exec_options};
use crate::handle::{borrow, free, into_handle, out_param, write_out};
use crate::interruptible;
use crate::latch::Latch;
use crate::session::sbx_session;
use crate::session_link::SessionLink;
use crate::status::sbx_status;
use crate::text::{bytes_arg, str_array_arg};
use crate::wait_time;

/// Events read ahead of the caller (each at most one pipe read of output). The command
/// itself is held back by the agent's flow-control window beyond that.
const READ_AHEAD: usize = 8;

type Received = sandbox_core::Result<ExecEvent>;

/// A running command's event stream. Created by `sbx_session_exec_stream`.
///
/// Read it with `sbx_exec_stream_next` until the exit event; write its stdin with
/// `sbx_exec_stream_write_stdin` / `sbx_exec_stream_close_stdin`; signal it with
/// `sbx_exec_stream_signal`. Any thread may call any of these, also at the same time
/// (e.g. one thread reading events while another writes stdin).
///
/// `sbx_exec_stream_close` (idempotent, any thread, never blocks) kills the command if
/// it still runs and makes calls blocked on the stream return `SBX_STATUS_CLOSED` at
/// once, and later calls too. Closing or freeing the session it came from does the same.
/// `sbx_exec_stream_free` (exactly once, after every other thread has returned from
/// calls on it) closes it first.
pub struct sbx_exec_stream {
    parts: Option<Parts>,
    cancel: Option<Arc<Latch>>,
    // Last: the runtime (in the link) outlives the parts.
    link: SessionLink,
}

struct Parts {
    control: ExecControl,
    /// Set once the pump has dropped the stream (exit, error, close): stdin and signals
    /// then fail with `NOT_RUNNING` (sandbox-core's control would send them into the void).
    ended: Arc<AtomicBool>,
    events: Mutex<mpsc::Receiver<Received>>,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for sbx_exec_stream {
    fn drop(&mut self) {
        self.link.closed.set();
        let _in_rt = self.link.ctx.rt.enter();
        if let Some(parts) = self.parts.take() {
            parts.pump.abort();
        }
    }
}

impl sbx_exec_stream {
    fn parts(&self) -> &Parts {
        self.parts.as_ref().expect("the parts live until drop")
    }

    fn run<T>(&self, fut: impl std::future::Future<Output = sandbox_core::Result<T>>) -> Result<T, FfiError> {
        self.link.run("exec stream", self.cancel.as_deref(), fut)
    }

    /// Runs a stdin or signal call, unless the command is known to have ended.
    fn control<T>(&self, fut: impl std::future::Future<Output = sandbox_core::Result<T>>) -> Result<T, FfiError> {
        self.link.check_open("exec stream")?;
        if self.parts().ended.load(Ordering::Acquire) {
            return Err(FfiError::new(sbx_status::NotRunning, "the streamed command has ended"));
        }
        self.run(fut)
    }
}

/// Moves the command's events into the channel read by `sbx_exec_stream_next` until
/// the exit, or until `stop` resolves (close, free, cancel): then the stream is dropped,
/// which kills a command still running.
async fn pump(
    mut stream: ExecStream,
    tx: mpsc::Sender<Received>,
    stop: impl std::future::Future<Output = ()>,
    ended: Arc<AtomicBool>,
) {
    let forward = async {
        while let Some(event) = stream.next().await {
            let last = !matches!(event, Ok(ExecEvent::Stdout(_) | ExecEvent::Stderr(_)));
            if last {
                // Before the caller can see the exit: from then on stdin and signals fail.
                ended.store(true, Ordering::Release);
            }
            if tx.send(event).await.is_err() || last {
                break;
            }
        }
    };
    tokio::select! {
        _ = stop => {},
        _ = forward => {},
    }
    drop(stream);
    ended.store(true, Ordering::Release);
}

/// Starts `argv` (`argc` NUL-terminated UTF-8 strings, copied) in the session and
/// returns its events as they happen. Its stdin is a pipe, open until
/// `sbx_exec_stream_close_stdin`. `options` may be NULL; its timeout, kill grace, linger,
/// environment, working dir and cancel token apply (the output cap does not: streamed
/// output is not capped; the agent runs at most 4 MiB ahead of the reader, so a slow
/// reader slows the command instead of filling memory). Cancelling the options' token
/// kills the command and makes calls on the stream return `SBX_STATUS_CANCELLED`.
///
/// On success `*out` receives a stream the caller frees with `sbx_exec_stream_free`.
/// Failures are for commands that could not start: `SBX_STATUS_INVALID_ARGUMENT`,
/// `SBX_STATUS_SESSION_NOT_FOUND`, `SBX_STATUS_SESSION_LOST`, `SBX_STATUS_CLOSED`,
/// `SBX_STATUS_CANCELLED`. (A bad working dir shows up as the first event's error, from
/// `sbx_exec_stream_next`.) Blocks briefly: not from a library runtime thread.
///
/// # Safety
/// `session` is NULL or live; `argv` is NULL or points to `argc` pointers to
/// NUL-terminated strings; `options` is NULL or live; `out` is writable; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_session_exec_stream(
    session: *const sbx_session,
    argv: *const *const c_char,
    argc: usize,
    options: *const sbx_exec_options,
    out: *mut *mut sbx_exec_stream,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_session_exec_stream", err, Blocks::Yes, || {
            // SAFETY: all pointers NULL or valid as the contract says.
            let s = borrow(session, "session")?;
            let argv = str_array_arg(argv, argc, "argv")?;
            let OptionsBuilder { opts, cancel } =
                if options.is_null() { OptionsBuilder::default() } else { borrow(options, "options")?.snapshot() };
            let out = out_param(out, "out")?;
            let link = s.link()?;
            let stream = s.run(cancel.as_deref(), s.core().exec_stream(&argv, opts))?;
            let control = stream.control();
            let (tx, rx) = mpsc::channel(READ_AHEAD);
            let closed = link.on_close();
            let cancelled = cancel.as_ref().map(|c| c.wait());
            let stop = async move {
                let cancelled = async move {
                    match cancelled {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = closed => {},
                    _ = cancelled => {},
                }
            };
            let ended = Arc::new(AtomicBool::new(false));
            let pump = link.ctx.rt.spawn(pump(stream, tx, stop, ended.clone()));
            let parts = Parts { control, ended, events: Mutex::new(rx), pump };
            let handle = sbx_exec_stream { parts: Some(parts), cancel, link };
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(handle));
            Ok(())
        })
    }
}

/// Waits for the next event of the command: bytes on stdout or stderr, or its exit (the
/// last event). `timeout_ms`: 0 returns an event only if one is already there;
/// otherwise waits up to that long (`SBX_NO_TIMEOUT`: as long as it takes). When no
/// event comes in time it fails with `SBX_STATUS_TIMEOUT`, and the stream is unchanged:
/// call again. After the exit event it fails with `SBX_STATUS_NOT_RUNNING`.
/// `sbx_exec_stream_close` on another thread makes a waiting call return
/// `SBX_STATUS_CLOSED` at once. A lost session is `SBX_STATUS_SESSION_LOST`.
///
/// On success `*event` receives an event the caller frees with `sbx_exec_event_free`.
/// Reading events is what lets the command go on: one that is not read within the
/// agent's window waits for the reader. One thread at a time reads (concurrent calls
/// take turns). Blocks: not from a library runtime thread.
///
/// # Safety
/// `stream` is NULL or live; `event` is writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_next(
    stream: *const sbx_exec_stream,
    timeout_ms: u64,
    event: *mut *mut sbx_exec_event,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_stream_next", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let st = borrow(stream, "stream")?;
            let out = out_param(event, "event")?;
            let wait = wait_time::from_ms(timeout_ms);
            let events = &st.parts().events;
            let next = async move {
                let mut rx = events.lock().await;
                let received = match wait {
                    Some(d) => tokio::time::timeout(d, rx.recv()).await,
                    None => Ok(rx.recv().await),
                };
                match received {
                    Ok(Some(Ok(event))) => Ok(event),
                    Ok(Some(Err(e))) => Err(FfiError::from(e)),
                    Ok(None) => Err(FfiError::new(
                        sbx_status::NotRunning,
                        "the streamed command has ended: its exit event (or its error) was returned already",
                    )),
                    Err(_) => Err(FfiError::new(
                        sbx_status::Timeout,
                        format!("no event from the streamed command within {timeout_ms} ms"),
                    )),
                }
            };
            let e =
                interruptible::block_on(&st.link.ctx.rt, &st.link.closers("exec stream"), st.cancel.as_deref(), next)?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(sbx_exec_event { event: e }));
            Ok(())
        })
    }
}

/// Writes the `len` bytes at `data` (copied; any bytes) to the command's stdin. Waits
/// while the agent holds a window's worth the command has not read yet; close or cancel
/// wake it. Fails with `SBX_STATUS_NOT_RUNNING` after the command ended or its stdin was
/// closed. Blocks: not from a library runtime thread.
///
/// # Safety
/// `stream` is NULL or live; `data` is NULL or points to `len` readable bytes; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_write_stdin(
    stream: *const sbx_exec_stream,
    data: *const u8,
    len: usize,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_stream_write_stdin", err, Blocks::Yes, || {
            // SAFETY: NULL or live / `len` readable bytes by contract.
            let (st, bytes) = (borrow(stream, "stream")?, bytes_arg(data, len, "data")?);
            if bytes.is_empty() {
                return st.link.check_open("exec stream");
            }
            st.control(st.parts().control.write_stdin(bytes))
        })
    }
}

/// Closes the command's stdin: it reads end of file. Idempotent while the command runs;
/// `SBX_STATUS_NOT_RUNNING` after it ended.
/// Blocks briefly: not from a library runtime thread.
///
/// # Safety
/// `stream` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_close_stdin(
    stream: *const sbx_exec_stream,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_stream_close_stdin", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let st = borrow(stream, "stream")?;
            st.control(st.parts().control.close_stdin())
        })
    }
}

/// Sends `signal` (1 to 31) to the command's process group. Fails with
/// `SBX_STATUS_NOT_RUNNING` after it ended. Blocks briefly: not from a library runtime
/// thread.
///
/// # Safety
/// `stream` is NULL or live; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_signal(
    stream: *const sbx_exec_stream,
    signal: i32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call("sbx_exec_stream_signal", err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let st = borrow(stream, "stream")?;
            st.control(st.parts().control.signal(signal))
        })
    }
}

/// Closes the stream: the command is killed (its whole process group) if it still runs,
/// calls blocked on the stream in other threads return `SBX_STATUS_CLOSED` at once, and
/// later calls fail the same way. Idempotent, thread-safe, never blocks; NULL is ignored.
/// Does not free the handle.
///
/// # Safety
/// `stream` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_close(stream: *mut sbx_exec_stream) {
    quiet(|| {
        // SAFETY: NULL or live by contract.
        if let Ok(st) = unsafe { borrow(stream, "stream") } {
            st.link.closed.set();
        }
    });
}

/// Frees the stream (closing it first, which kills a command still running). NULL is
/// ignored. Exactly once, after every other thread has returned from calls on it. Events
/// already returned stay valid until they are freed.
///
/// # Safety
/// `stream` is NULL or live, not freed before and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sbx_exec_stream_free(stream: *mut sbx_exec_stream) {
    // SAFETY: by contract.
    quiet(|| unsafe { free(stream) });
}
