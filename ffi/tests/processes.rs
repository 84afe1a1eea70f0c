//! The held-process contract through the C ABI against real podman, one scenario run for
//! tasks and for terminals alike: ids, wait (with a timeout, a cancel token, without
//! limit), kill and the state it leaves, list, attach by id, close waking a blocked wait
//! (the process runs on), closing the session closing its handles, and the typed errors
//! both kinds share. What only one kind has (output streams; writing, reading, resizing)
//! is in `tasks.rs` and `terminals.rs`. Each test has its own scope and removes what it
//! made, even when it fails.

mod support;

use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};
use std::time::Duration;

use sandbox::*;
use support::{Failure, Scope, Shared, check, sentinel, text};

/// An error slot.
type ErrSlot = *mut *mut sbx_error;

/// One kind's C functions (`H` the handle, `I` its info, `L` its list), so that one
/// scenario serves both kinds.
struct Kind<H, I, L> {
    name: &'static str,
    /// Starts `sh -c shell`, in `cwd` when given.
    start: fn(*const sbx_session, &CStr, Option<&CStr>, *mut *mut H, ErrSlot) -> sbx_status,
    attach: unsafe extern "C" fn(*const sbx_session, *const c_char, *mut *mut H, ErrSlot) -> sbx_status,
    list: unsafe extern "C" fn(*const sbx_session, *mut *mut L, ErrSlot) -> sbx_status,
    list_len: unsafe extern "C" fn(*const L) -> usize,
    list_get: unsafe extern "C" fn(*const L, usize) -> *const I,
    list_free: unsafe extern "C" fn(*mut L),
    id: unsafe extern "C" fn(*const H) -> *const c_char,
    get_info: unsafe extern "C" fn(*const H, *mut *mut I, ErrSlot) -> sbx_status,
    wait: unsafe extern "C" fn(*const H, u64, *const sbx_cancel_token, *mut *mut I, ErrSlot) -> sbx_status,
    kill: unsafe extern "C" fn(*const H, i32, ErrSlot) -> sbx_status,
    close: unsafe extern "C" fn(*mut H),
    free: unsafe extern "C" fn(*mut H),
    info_id: unsafe extern "C" fn(*const I) -> *const c_char,
    info_state: unsafe extern "C" fn(*const I) -> sbx_process_state,
    info_exit_code: unsafe extern "C" fn(*const I) -> i32,
    info_signal: unsafe extern "C" fn(*const I) -> i32,
    info_started_unix_ms: unsafe extern "C" fn(*const I) -> i64,
    info_ended_unix_ms: unsafe extern "C" fn(*const I) -> i64,
    info_free: unsafe extern "C" fn(*mut I),
    /// A well-formed id no session has.
    unknown: &'static CStr,
}

/// What an info says of how a process is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    id: String,
    state: sbx_process_state,
    exit_code: i32,
    signal: i32,
    /// Started at or before it ended (or it has not ended).
    ordered: bool,
}

fn spawn_task(
    s: *const sbx_session,
    shell: &CStr,
    cwd: Option<&CStr>,
    out: *mut *mut sbx_task,
    err: ErrSlot,
) -> sbx_status {
    let mut spec = null_mut();
    // SAFETY: live session, valid strings and out-pointers; the spec is freed once.
    unsafe {
        check(|e| sbx_task_spec_new_shell(shell.as_ptr(), &mut spec, e)).unwrap();
        if let Some(cwd) = cwd {
            check(|e| sbx_task_spec_set_cwd(spec, cwd.as_ptr(), e)).unwrap();
        }
        let status = sbx_session_spawn_task(s, spec, out, err);
        sbx_task_spec_free(spec);
        status
    }
}

fn open_terminal(
    s: *const sbx_session,
    shell: &CStr,
    cwd: Option<&CStr>,
    out: *mut *mut sbx_terminal,
    err: ErrSlot,
) -> sbx_status {
    let mut spec = null_mut();
    // SAFETY: live session, valid strings and out-pointers; the spec is freed once.
    unsafe {
        check(|e| sbx_terminal_spec_new(24, 80, &mut spec, e)).unwrap();
        check(|e| sbx_terminal_spec_set_shell_command(spec, shell.as_ptr(), e)).unwrap();
        if let Some(cwd) = cwd {
            check(|e| sbx_terminal_spec_set_cwd(spec, cwd.as_ptr(), e)).unwrap();
        }
        let status = sbx_session_open_terminal(s, spec, out, err);
        sbx_terminal_spec_free(spec);
        status
    }
}

const TASK: Kind<sbx_task, sbx_task_info, sbx_task_list> = Kind {
    name: "task",
    start: spawn_task,
    attach: sbx_session_attach_task,
    list: sbx_session_list_tasks,
    list_len: sbx_task_list_len,
    list_get: sbx_task_list_get,
    list_free: sbx_task_list_free,
    id: sbx_task_id,
    get_info: sbx_task_get_info,
    wait: sbx_task_wait,
    kill: sbx_task_kill,
    close: sbx_task_close,
    free: sbx_task_free,
    info_id: sbx_task_info_id,
    info_state: sbx_task_info_state,
    info_exit_code: sbx_task_info_exit_code,
    info_signal: sbx_task_info_signal,
    info_started_unix_ms: sbx_task_info_started_unix_ms,
    info_ended_unix_ms: sbx_task_info_ended_unix_ms,
    info_free: sbx_task_info_free,
    unknown: c"task-nosuch",
};

const TERMINAL: Kind<sbx_terminal, sbx_terminal_info, sbx_terminal_list> = Kind {
    name: "terminal",
    start: open_terminal,
    attach: sbx_session_attach_terminal,
    list: sbx_session_list_terminals,
    list_len: sbx_terminal_list_len,
    list_get: sbx_terminal_list_get,
    list_free: sbx_terminal_list_free,
    id: sbx_terminal_id,
    get_info: sbx_terminal_get_info,
    wait: sbx_terminal_wait,
    kill: sbx_terminal_kill,
    close: sbx_terminal_close,
    free: sbx_terminal_free,
    info_id: sbx_terminal_info_id,
    info_state: sbx_terminal_info_state,
    info_exit_code: sbx_terminal_info_exit_code,
    info_signal: sbx_terminal_info_signal,
    info_started_unix_ms: sbx_terminal_info_started_unix_ms,
    info_ended_unix_ms: sbx_terminal_info_ended_unix_ms,
    info_free: sbx_terminal_info_free,
    unknown: c"term-nosuch",
};

impl<H, I, L> Kind<H, I, L> {
    fn start(&self, s: *const sbx_session, shell: &CStr) -> *mut H {
        let mut h = null_mut();
        check(|e| (self.start)(s, shell, None, &mut h, e)).unwrap_or_else(|f| panic!("start a {}: {f:?}", self.name));
        h
    }

    /// Reads and frees an info.
    fn state(&self, info: *const I) -> State {
        // SAFETY: a live info the caller frees.
        unsafe {
            let ended = (self.info_ended_unix_ms)(info);
            State {
                id: text((self.info_id)(info)),
                state: (self.info_state)(info),
                exit_code: (self.info_exit_code)(info),
                signal: (self.info_signal)(info),
                ordered: ended == -1 || ended >= (self.info_started_unix_ms)(info),
            }
        }
    }

    fn info(&self, h: *const H) -> Result<State, Failure> {
        let mut info = null_mut();
        // SAFETY: a live handle; the info is freed once.
        unsafe {
            check(|e| (self.get_info)(h, &mut info, e))?;
            let state = self.state(info);
            (self.info_free)(info);
            Ok(state)
        }
    }

    fn wait(&self, h: *const H, timeout_ms: u64, cancel: *const sbx_cancel_token) -> Result<State, Failure> {
        let mut info = sentinel();
        // SAFETY: a live handle and token; the info is freed once; a failure leaves the
        // out-pointer untouched.
        unsafe {
            if let Err(f) = check(|e| (self.wait)(h, timeout_ms, cancel, &mut info, e)) {
                assert_eq!(info, sentinel(), "a failed wait writes no info");
                return Err(f);
            }
            let state = self.state(info);
            (self.info_free)(info);
            Ok(state)
        }
    }

    fn kill(&self, h: *const H, signal: i32) -> Result<(), Failure> {
        // SAFETY: a live handle.
        check(|e| unsafe { (self.kill)(h, signal, e) })
    }

    fn attach(&self, s: *const sbx_session, id: &CStr) -> Result<*mut H, Failure> {
        let mut h = sentinel();
        // SAFETY: a live session and a valid string.
        match check(|e| unsafe { (self.attach)(s, id.as_ptr(), &mut h, e) }) {
            Ok(()) => Ok(h),
            Err(f) => {
                assert_eq!(h, sentinel(), "a failed attach writes no handle");
                Err(f)
            }
        }
    }

    fn listed(&self, s: *const sbx_session) -> Vec<State> {
        let mut list = null_mut();
        // SAFETY: a live session; the list is freed once, after its rows were read.
        unsafe {
            check(|e| (self.list)(s, &mut list, e)).unwrap();
            let n = (self.list_len)(list);
            let rows = (0..n).map(|i| self.state((self.list_get)(list, i))).collect();
            assert!((self.list_get)(list, n).is_null(), "a row past the end is NULL");
            (self.list_free)(list);
            rows
        }
    }

    fn id_of(&self, h: *const H) -> CString {
        // SAFETY: a live handle.
        CString::new(text(unsafe { (self.id)(h) })).unwrap()
    }
}

/// Runs `wait` without limit on another thread, first checking that it is still
/// blocked after a moment; `wake` must end it.
fn blocked_wait<H: 'static, I: 'static, L: 'static>(
    k: &'static Kind<H, I, L>,
    h: *mut H,
    cancel: *mut sbx_cancel_token,
    wake: impl FnOnce(),
) -> Failure {
    let (h, cancel) = (Shared(h), Shared(cancel));
    let waiter = std::thread::spawn(move || {
        let (h, cancel) = (h, cancel);
        k.wait(h.0, SBX_NO_TIMEOUT, cancel.0)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "the wait waits");
    wake();
    waiter.join().unwrap().unwrap_err()
}

fn an_ended_process_is_listed_attached_and_errors_are_typed<H, I, L>(k: &Kind<H, I, L>) {
    let sc = Scope::new(&format!("{}end", &k.name[..4]));
    let (_, s) = sc.start("end");
    let h = k.start(s, c"exit 4");
    let id = k.id_of(h);
    assert!(!id.is_empty());
    let end = k.wait(h, SBX_NO_TIMEOUT, null()).unwrap();
    let expected = State {
        id: id.to_str().unwrap().into(),
        state: sbx_process_state::Exited,
        exit_code: 4,
        signal: 0,
        ordered: true,
    };
    assert_eq!(end, expected);
    assert_eq!(k.listed(s), vec![end.clone()]);
    let again = k.attach(s, &id).unwrap();
    assert_eq!(k.info(again).unwrap(), end, "a second handle sees the same");
    assert_eq!(k.kill(h, 15).unwrap_err().status, sbx_status::NotRunning, "kill after the end");

    assert_eq!(k.attach(s, k.unknown).unwrap_err().status, sbx_status::NotFound);
    for bad in [c"bad id!", c"../x", c""] {
        assert_eq!(k.attach(s, bad).unwrap_err().status, sbx_status::InvalidArgument, "{bad:?}");
    }
    let mut other = sentinel();
    let f = check(|e| (k.start)(s, c"true", Some(c"/no/such/dir"), &mut other, e)).unwrap_err();
    assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
    assert_eq!(other, sentinel());
    // SAFETY: live handles, each freed once.
    unsafe {
        (k.free)(again);
        (k.free)(h);
        sc.stop(s);
    }
}

fn waits_time_out_close_and_cancel_wake_them_and_kill_ends_it<H: 'static, I: 'static, L: 'static>(
    k: &'static Kind<H, I, L>,
) {
    let sc = Scope::new(&format!("{}wait", &k.name[..4]));
    let (_, s) = sc.start("wait");
    let h = k.start(s, c"exec sleep 60");
    let id = k.id_of(h);
    for timeout in [0, 150] {
        assert_eq!(k.wait(h, timeout, null()).unwrap_err().status, sbx_status::Timeout, "{timeout} ms");
    }
    for sig in [0, 32, -1, 99] {
        assert_eq!(k.kill(h, sig).unwrap_err().status, sbx_status::InvalidArgument, "signal {sig}");
    }

    // Close wakes a wait blocked on another thread, and later calls fail; the id stays
    // readable and the process runs on.
    // SAFETY: a live handle; the waiting thread is joined before it is freed.
    let f = blocked_wait(k, h, null_mut(), || unsafe { (k.close)(h) });
    assert_eq!(f.status, sbx_status::Closed, "{f:?}");
    // SAFETY: closing twice is allowed; the handle is still live.
    unsafe { (k.close)(h) };
    let f = k.info(h).unwrap_err();
    assert_eq!(f.status, sbx_status::Closed);
    assert!(f.message.contains(k.name), "{}", f.message);
    assert_eq!(k.id_of(h), id, "the id stays readable after close");
    // SAFETY: a live handle, freed once.
    unsafe { (k.free)(h) };

    // A new handle finds it running; a cancel token wakes a wait on it.
    let again = k.attach(s, &id).unwrap();
    assert_eq!(k.info(again).unwrap().state, sbx_process_state::Running);
    let mut token = null_mut();
    // SAFETY: a writable out-pointer.
    check(|e| unsafe { sbx_cancel_token_new(&mut token, e) }).unwrap();
    // SAFETY: a live token; the waiting thread is joined before it is freed.
    let f = blocked_wait(k, again, token, || unsafe { sbx_cancel_token_cancel(token) });
    assert_eq!(f.status, sbx_status::Cancelled, "{f:?}");
    // SAFETY: a live token, freed once.
    unsafe { sbx_cancel_token_free(token) };

    k.kill(again, 9).unwrap();
    let end = k.wait(again, SBX_NO_TIMEOUT, null()).unwrap();
    assert_eq!((end.state, end.signal, end.exit_code, end.ordered), (sbx_process_state::Killed, 9, -1, true));
    assert_eq!(k.kill(again, 15).unwrap_err().status, sbx_status::NotRunning);
    // SAFETY: live handles, each freed once.
    unsafe {
        (k.free)(again);
        sc.stop(s);
    }
}

fn closing_the_session_closes_its_handles_and_the_process_runs_on<H: 'static, I: 'static, L: 'static>(
    k: &'static Kind<H, I, L>,
) {
    let sc = Scope::new(&format!("{}ses", &k.name[..4]));
    let (session_id, s) = sc.start("ses");
    let h = k.start(s, c"exec sleep 60");
    let id = k.id_of(h);
    // SAFETY: live handles; the waiting thread is joined before anything is freed.
    let f = blocked_wait(k, h, null_mut(), || unsafe { sbx_session_close(s) });
    assert_eq!(f.status, sbx_status::Closed, "{f:?}");
    // SAFETY: live handles, each freed once.
    unsafe {
        (k.free)(h);
        sbx_session_free(s);
    }
    // Another handle on the session still finds it running.
    let session_id = CString::new(session_id).unwrap();
    let mut s = null_mut();
    // SAFETY: a live context and a valid string.
    check(|e| unsafe { sbx_context_attach(sc.ctx, session_id.as_ptr(), &mut s, e) }).unwrap();
    let again = k.attach(s, &id).unwrap();
    assert_eq!(k.info(again).unwrap().state, sbx_process_state::Running);
    // SAFETY: live handles, each freed once.
    unsafe {
        (k.free)(again);
        sc.stop(s);
    }
}

#[test]
fn task_ended_listed_attached_typed_errors() {
    an_ended_process_is_listed_attached_and_errors_are_typed(&TASK);
}

#[test]
fn terminal_ended_listed_attached_typed_errors() {
    an_ended_process_is_listed_attached_and_errors_are_typed(&TERMINAL);
}

#[test]
fn task_waits_close_cancel_kill() {
    waits_time_out_close_and_cancel_wake_them_and_kill_ends_it(&TASK);
}

#[test]
fn terminal_waits_close_cancel_kill() {
    waits_time_out_close_and_cancel_wake_them_and_kill_ends_it(&TERMINAL);
}

#[test]
fn task_handles_closed_with_their_session() {
    closing_the_session_closes_its_handles_and_the_process_runs_on(&TASK);
}

#[test]
fn terminal_handles_closed_with_their_session() {
    closing_the_session_closes_its_handles_and_the_process_runs_on(&TERMINAL);
}
