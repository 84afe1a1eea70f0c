//! What background tasks and terminals share at the C ABI. Both are processes held by the
//! session's agent: a handle names one by id and reaches it through its session, an info
//! reports its state, pid and times, a list holds the infos of a session, a spec sets the
//! environment and working dir it starts with.
//!
//! Each kind keeps its own C types (`sbx_task`, `sbx_terminal_info`...), each a thin
//! wrapper ([`Wraps`]) around a shared part defined here ([`Held`], [`Info`],
//! [`SpecCell`], a `Vec` of infos). Their exports are thin `extern "C"` wrappers over the
//! generic calls below; what differs between the kinds (which core call to make, what
//! extra fields they have) comes in as closures or stays in the kind's own file.

use std::ffi::{CString, c_char};
use std::future::Future;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::Duration;

use sandbox_core::{OutputChunk, ProcessInfo, ProcessKind, TaskSpec, TerminalSpec};

use crate::boundary::{Blocks, call, quiet, value};
use crate::cancel_token::sbx_cancel_token;
use crate::error::{FfiError, sbx_error};
use crate::handle::{borrow, into_handle, out_param, write_out};
use crate::latch::Latch;
use crate::output_chunk::sbx_output_chunk;
use crate::process_state::{self, sbx_process_state, unix_ms};
use crate::session::sbx_session;
use crate::session_link::SessionLink;
use crate::status::sbx_status;
use crate::text::{str_arg, to_cstring_lossy};
use crate::wait_time;

/// A C type that is one kind's name for a part shared by tasks and terminals: C sees
/// distinct opaque types, the behaviour lives once in the part.
pub(crate) trait Wraps: Sized {
    /// The shared part.
    type Inner;
    /// What a NULL handle of this type is called in errors ("task", "terminal info"...).
    const WHAT: &'static str;
    /// The shared part of a handle.
    fn inner(&self) -> &Self::Inner;
    /// A handle of this type around `inner`.
    fn wrap(inner: Self::Inner) -> Self;
}

/// Implements [`Wraps`] for one-field tuple structs: `wraps!(sbx_task: Held = "task")`.
macro_rules! wraps {
    ($($outer:ident: $inner:ty = $what:literal),+ $(,)?) => {
        $(
            impl $crate::process::Wraps for $outer {
                type Inner = $inner;
                const WHAT: &'static str = $what;
                fn inner(&self) -> &$inner {
                    &self.0
                }
                fn wrap(inner: $inner) -> Self {
                    $outer(inner)
                }
            }
        )+
    };
}
pub(crate) use wraps;

/// The cancel token's latch, when a token was given.
///
/// # Safety
/// `cancel` is NULL or a live token.
pub(crate) unsafe fn cancel_latch<'a>(cancel: *const sbx_cancel_token) -> Option<&'a Latch> {
    // SAFETY: NULL or a live token by the caller's contract.
    unsafe { cancel.as_ref() }.map(|t| &*t.latch)
}

// ---------------------------------------------------------------------------------------
// Handles

/// A handle on one held process: the core handle (task or terminal) and the session
/// link its calls go through (closed with the session).
pub(crate) struct Held<K: ProcessKind> {
    // Dropped (in Drop) inside the runtime's context, like the link's session.
    core: Option<sandbox_core::Held<K>>,
    c_id: CString,
    link: SessionLink,
}

impl<K: ProcessKind> Drop for Held<K> {
    fn drop(&mut self) {
        let _in_rt = self.link.ctx.rt.enter();
        self.core.take();
    }
}

impl<K: ProcessKind> Held<K> {
    /// The core handle.
    pub(crate) fn core(&self) -> &sandbox_core::Held<K> {
        self.core.as_ref().expect("the core handle lives until drop")
    }

    /// Runs a call on the process: woken by closing this handle or its session, and by
    /// `cancel`.
    pub(crate) fn run<T>(
        &self,
        cancel: Option<&Latch>,
        fut: impl Future<Output = sandbox_core::Result<T>>,
    ) -> Result<T, FfiError> {
        self.link.run(K::NAME, cancel, fut)
    }
}

/// Starts a process in `session` as its `spec` (copied) says, with `start`, and writes a
/// handle on it to `out`.
///
/// # Safety
/// `session`, `spec` are NULL or live; `out` is writable; `err` is NULL or writable.
pub(crate) unsafe fn spawn<H, P, S, K>(
    name: &'static str,
    session: *const sbx_session,
    spec: *const P,
    out: *mut *mut H,
    err: *mut *mut sbx_error,
    start: impl FnOnce(&sbx_session, S) -> Result<sandbox_core::Held<K>, FfiError>,
) -> sbx_status
where
    H: Wraps<Inner = Held<K>>,
    P: Wraps<Inner = SpecCell<S>>,
    S: Clone,
    K: ProcessKind,
{
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let (s, spec) = (borrow(session, "session")?, borrow(spec, "spec")?);
            let out = out_param(out, "out")?;
            let spec = spec.inner().snapshot();
            let link = s.link()?;
            let core = start(s, spec)?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, new_handle(link, core));
            Ok(())
        })
    }
}

/// Writes to `out` a handle on the existing process `id` of `session`, which `find` looks
/// up (failing with `SBX_STATUS_NOT_FOUND` when there is none).
///
/// # Safety
/// `session` is NULL or live; `id` is NULL or NUL-terminated; `out` is writable; `err`
/// is NULL or writable.
pub(crate) unsafe fn attach<H: Wraps<Inner = Held<K>>, K: ProcessKind>(
    name: &'static str,
    session: *const sbx_session,
    id: *const c_char,
    out: *mut *mut H,
    err: *mut *mut sbx_error,
    find: impl FnOnce(&sbx_session, &str) -> Result<sandbox_core::Held<K>, FfiError>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live / NUL-terminated by contract.
            let (s, id) = (borrow(session, "session")?, str_arg(id, "id")?);
            let out = out_param(out, "out")?;
            let core = find(s, id)?;
            let link = s.link()?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, new_handle(link, core));
            Ok(())
        })
    }
}

fn new_handle<H: Wraps<Inner = Held<K>>, K: ProcessKind>(link: SessionLink, core: sandbox_core::Held<K>) -> *mut H {
    into_handle(H::wrap(Held { c_id: to_cstring_lossy(core.id().to_string()), core: Some(core), link }))
}

/// The process id, borrowed from the handle; NULL for NULL.
///
/// # Safety
/// `handle` is NULL or live.
pub(crate) unsafe fn id<H: Wraps<Inner = Held<K>>, K: ProcessKind>(handle: *const H) -> *const c_char {
    // SAFETY: NULL or a live handle by contract; the id is immutable.
    value(std::ptr::null(), || unsafe { handle.as_ref() }.map_or(std::ptr::null(), |h| h.inner().c_id.as_ptr()))
}

/// Writes to `out` how the process is doing now.
///
/// # Safety
/// `handle` is NULL or live; `out` is writable; `err` is NULL or writable.
pub(crate) unsafe fn get_info<H, O, K>(
    name: &'static str,
    handle: *const H,
    out: *mut *mut O,
    err: *mut *mut sbx_error,
) -> sbx_status
where
    H: Wraps<Inner = Held<K>>,
    O: Wraps<Inner = Info<K::Info>>,
    K: ProcessKind,
{
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let h = borrow(handle, H::WHAT)?.inner();
            let out = out_param(out, "out")?;
            let info = h.run(None, h.core().info())?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(O::wrap(Info::new(info))));
            Ok(())
        })
    }
}

/// Reads the process's output with `read` (given how long to wait) into `out`, waiting as
/// `timeout_ms` says; for use inside [`call`], after the kind's own argument checks.
///
/// # Safety
/// `cancel` is NULL or a live token; `out` is writable.
pub(crate) unsafe fn read_into<K: ProcessKind, Fut>(
    h: &Held<K>,
    out: *mut *mut sbx_output_chunk,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    read: impl FnOnce(Option<Duration>) -> Fut,
) -> Result<(), FfiError>
where
    Fut: Future<Output = sandbox_core::Result<OutputChunk>>,
{
    let out = out_param(out, "out")?;
    // SAFETY: NULL or a live token by contract.
    let chunk = h.run(unsafe { cancel_latch(cancel) }, read(wait_time::from_ms(timeout_ms)))?;
    // SAFETY: checked non-NULL, writable by contract.
    unsafe { write_out(out, into_handle(sbx_output_chunk { chunk })) };
    Ok(())
}

/// Waits for the process to end (`timeout_ms` as [`wait_time::from_ms`] reads it) and writes its
/// final info to `out`.
///
/// # Safety
/// `handle` is NULL or live; `cancel` is NULL or a live token; `out` is writable; `err`
/// is NULL or writable.
pub(crate) unsafe fn wait<H, O, K>(
    name: &'static str,
    handle: *const H,
    timeout_ms: u64,
    cancel: *const sbx_cancel_token,
    out: *mut *mut O,
    err: *mut *mut sbx_error,
) -> sbx_status
where
    H: Wraps<Inner = Held<K>>,
    O: Wraps<Inner = Info<K::Info>>,
    K: ProcessKind,
{
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let h = borrow(handle, H::WHAT)?.inner();
            let out = out_param(out, "out")?;
            // SAFETY: NULL or a live token by contract.
            let info = h.run(cancel_latch(cancel), h.core().wait(wait_time::from_ms(timeout_ms)))?;
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(O::wrap(Info::new(info))));
            Ok(())
        })
    }
}

/// Sends `signal` to the process's group.
///
/// # Safety
/// `handle` is NULL or live; `err` is NULL or writable.
pub(crate) unsafe fn kill<H: Wraps<Inner = Held<K>>, K: ProcessKind>(
    name: &'static str,
    handle: *const H,
    signal: i32,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let h = borrow(handle, H::WHAT)?.inner();
            h.run(None, h.core().kill(signal))
        })
    }
}

/// Closes the handle (calls blocked on it return `SBX_STATUS_CLOSED`); the process runs
/// on. Idempotent; NULL is ignored.
///
/// # Safety
/// `handle` is NULL or live.
pub(crate) unsafe fn close<H: Wraps<Inner = Held<K>>, K: ProcessKind>(handle: *mut H) {
    quiet(|| {
        // SAFETY: NULL or live by contract.
        if let Ok(h) = unsafe { borrow(handle, H::WHAT) } {
            h.inner().link.closed.set();
        }
    });
}

// ---------------------------------------------------------------------------------------
// Infos and lists

/// What a task's and a terminal's info (as sandbox-core reports them) have in common:
/// both dereference to the core [`ProcessInfo`].
pub(crate) trait HeldInfo: Deref<Target = ProcessInfo> {}

impl<I: Deref<Target = ProcessInfo>> HeldInfo for I {}

/// A process's info as C reads it: the core info, with its strings as C strings the
/// getters lend.
pub(crate) struct Info<I> {
    /// The core info (for the kind's own getters).
    pub(crate) info: I,
    id: CString,
    command: CString,
}

impl<I: HeldInfo> Info<I> {
    /// Wraps a core info.
    pub(crate) fn new(info: I) -> Info<I> {
        Info { id: to_cstring_lossy(info.id.clone()), command: to_cstring_lossy(info.command.clone()), info }
    }
}

/// `pick` of an info, `fallback` for NULL; for the getters of every kind.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_get<W, I, T>(info: *const W, fallback: T, pick: impl FnOnce(&Info<I>) -> T) -> T
where
    W: Wraps<Inner = Info<I>>,
    T: Copy,
{
    value(fallback, || {
        // SAFETY: NULL or a live, immutable info by the caller's contract.
        match unsafe { info.as_ref() } {
            Some(i) => pick(i.inner()),
            None => fallback,
        }
    })
}

/// The id, borrowed from the info; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_id<W: Wraps<Inner = Info<I>>, I>(info: *const W) -> *const c_char {
    // SAFETY: by contract.
    unsafe { info_get(info, std::ptr::null(), |i| i.id.as_ptr()) }
}

/// The command, borrowed from the info; NULL for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_command<W: Wraps<Inner = Info<I>>, I>(info: *const W) -> *const c_char {
    // SAFETY: by contract.
    unsafe { info_get(info, std::ptr::null(), |i| i.command.as_ptr()) }
}

/// The state; `SBX_PROCESS_STATE_UNKNOWN` for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_state<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> sbx_process_state {
    // SAFETY: by contract.
    unsafe { info_get(info, sbx_process_state::Unknown, |i| i.info.state.into()) }
}

/// The exit code when it exited, else (and for NULL) -1.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_exit_code<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> i32 {
    // SAFETY: by contract.
    unsafe { info_get(info, -1, |i| process_state::exit_code(i.info.state)) }
}

/// The signal that killed it, else (and for NULL) 0.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_signal<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> i32 {
    // SAFETY: by contract.
    unsafe { info_get(info, 0, |i| process_state::signal(i.info.state)) }
}

/// The pid; 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_pid<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> u32 {
    // SAFETY: by contract.
    unsafe { info_get(info, 0, |i| i.info.pid) }
}

/// When it started (ms since the Unix epoch); 0 for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_started_unix_ms<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> i64 {
    // SAFETY: by contract.
    unsafe { info_get(info, 0, |i| unix_ms(i.info.started)) }
}

/// When it ended (ms since the Unix epoch); -1 while it runs and for NULL.
///
/// # Safety
/// `info` is NULL or live.
pub(crate) unsafe fn info_ended_unix_ms<W: Wraps<Inner = Info<I>>, I: HeldInfo>(info: *const W) -> i64 {
    // SAFETY: by contract.
    unsafe { info_get(info, -1, |i| i.info.ended.map_or(-1, unix_ms)) }
}

/// Writes to `out` a list of the infos `all` (as `fetch` gets them from the session).
///
/// # Safety
/// `session` is NULL or live; `out` is writable; `err` is NULL or writable.
pub(crate) unsafe fn list<L, O, I>(
    name: &'static str,
    session: *const sbx_session,
    out: *mut *mut L,
    err: *mut *mut sbx_error,
    fetch: impl FnOnce(&sbx_session) -> Result<Vec<I>, FfiError>,
) -> sbx_status
where
    L: Wraps<Inner = Vec<O>>,
    O: Wraps<Inner = Info<I>>,
    I: HeldInfo,
{
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::Yes, || {
            // SAFETY: NULL or live by contract.
            let s = borrow(session, "session")?;
            let out = out_param(out, "out")?;
            let items = fetch(s)?.into_iter().map(|i| O::wrap(Info::new(i))).collect();
            // SAFETY: checked non-NULL, writable by contract.
            write_out(out, into_handle(L::wrap(items)));
            Ok(())
        })
    }
}

/// The number of items in a list; 0 for NULL.
///
/// # Safety
/// `list` is NULL or live.
pub(crate) unsafe fn list_len<L: Wraps<Inner = Vec<T>>, T>(list: *const L) -> usize {
    // SAFETY: NULL or a live, immutable list by contract.
    value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.inner().len()))
}

/// Item `index` of a list, borrowed from it; NULL for NULL or out of range.
///
/// # Safety
/// `list` is NULL or live.
pub(crate) unsafe fn list_get<L: Wraps<Inner = Vec<T>>, T>(list: *const L, index: usize) -> *const T {
    value(std::ptr::null(), || {
        // SAFETY: NULL or a live, immutable list by contract.
        unsafe { list.as_ref() }.and_then(|l| l.inner().get(index)).map_or(std::ptr::null(), |i| i as *const T)
    })
}

// ---------------------------------------------------------------------------------------
// Specs

/// What a task's and a terminal's spec (as sandbox-core takes them) have in common.
pub(crate) trait HeldSpec: Clone {
    /// Extra environment.
    fn env_mut(&mut self) -> &mut Vec<(String, String)>;
    /// Working directory inside the container.
    fn cwd_mut(&mut self) -> &mut Option<String>;
}

macro_rules! held_spec {
    ($($t:ty),+) => {
        $(
            impl HeldSpec for $t {
                fn env_mut(&mut self) -> &mut Vec<(String, String)> {
                    &mut self.env
                }
                fn cwd_mut(&mut self) -> &mut Option<String> {
                    &mut self.cwd
                }
            }
        )+
    };
}
held_spec!(TaskSpec, TerminalSpec);

/// A spec being built: setters lock it, so any thread may use it; starting a process
/// copies it.
pub(crate) struct SpecCell<S>(Mutex<S>);

impl<S: Clone> SpecCell<S> {
    /// A spec cell holding `spec`.
    pub(crate) fn new(spec: S) -> SpecCell<S> {
        SpecCell(Mutex::new(spec))
    }

    /// A copy of the spec as it is now.
    pub(crate) fn snapshot(&self) -> S {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Applies `change` to the spec: all of it or, when it fails, nothing.
///
/// # Safety
/// `spec` is NULL or live; `err` is NULL or writable.
pub(crate) unsafe fn spec_update<P: Wraps<Inner = SpecCell<S>>, S: Clone>(
    name: &'static str,
    spec: *mut P,
    err: *mut *mut sbx_error,
    change: impl FnOnce(&mut S) -> Result<(), FfiError>,
) -> sbx_status {
    // SAFETY: `err` is forwarded under the caller's contract.
    unsafe {
        call(name, err, Blocks::No, || {
            // SAFETY: NULL or a live spec by contract.
            let spec = borrow(spec, "spec")?;
            let mut b = spec.inner().0.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = b.clone();
            change(&mut next)?;
            *b = next;
            Ok(())
        })
    }
}

/// Adds the environment variable `key`=`value` (copied; checked as core checks it).
///
/// # Safety
/// `spec` is NULL or live; `key`, `value` are NULL or NUL-terminated; `err` is NULL or
/// writable.
pub(crate) unsafe fn spec_add_env<P: Wraps<Inner = SpecCell<S>>, S: HeldSpec>(
    name: &'static str,
    spec: *mut P,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        spec_update(name, spec, err, |s| {
            // SAFETY: NULL or NUL-terminated by contract.
            let pair = (str_arg(key, "key")?.to_string(), str_arg(value, "value")?.to_string());
            sandbox_core::validate::env(std::slice::from_ref(&pair))?;
            s.env_mut().push(pair);
            Ok(())
        })
    }
}

/// Sets the working directory (copied; not empty).
///
/// # Safety
/// `spec` is NULL or live; `cwd` is NULL or NUL-terminated; `err` is NULL or writable.
pub(crate) unsafe fn spec_set_cwd<P: Wraps<Inner = SpecCell<S>>, S: HeldSpec>(
    name: &'static str,
    spec: *mut P,
    cwd: *const c_char,
    err: *mut *mut sbx_error,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        spec_update(name, spec, err, |s| {
            // SAFETY: NULL or NUL-terminated by contract.
            let cwd = str_arg(cwd, "cwd")?;
            if cwd.is_empty() {
                return Err(FfiError::invalid("cwd", "is empty"));
            }
            *s.cwd_mut() = Some(cwd.to_string());
            Ok(())
        })
    }
}

/// Sets how many output bytes are kept (`what`: "spool cap", "scrollback"): the `keep`
/// field of the spec. Zero is `SBX_STATUS_INVALID_ARGUMENT`; the agent checks the upper
/// bound.
///
/// # Safety
/// `spec` is NULL or live; `err` is NULL or writable.
pub(crate) unsafe fn spec_set_kept<P: Wraps<Inner = SpecCell<S>>, S: Clone>(
    name: &'static str,
    spec: *mut P,
    what: &'static str,
    bytes: u64,
    err: *mut *mut sbx_error,
    keep: impl FnOnce(&mut S) -> &mut Option<u64>,
) -> sbx_status {
    // SAFETY: arguments forwarded under the caller's contract.
    unsafe {
        spec_update(name, spec, err, |s| {
            if bytes == 0 {
                return Err(FfiError::invalid(what, "must be greater than zero"));
            }
            *keep(s) = Some(bytes);
            Ok(())
        })
    }
}

/// Writes a new spec holding `spec` to `out`.
///
/// # Safety
/// `out` is non-NULL (checked with `out_param`) and writable.
pub(crate) unsafe fn spec_new<P: Wraps<Inner = SpecCell<S>>, S: Clone>(out: *mut *mut P, spec: S) {
    // SAFETY: by contract.
    unsafe { write_out(out, into_handle(P::wrap(SpecCell::new(spec)))) }
}
