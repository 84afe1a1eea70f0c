//! Streaming exec through the C ABI against real podman: events with a timeout, stdin
//! written and closed from the caller, signals, large output under flow control, close
//! and cancel waking a blocked read (and killing the command), typed errors. Each test
//! has its own scope and removes what it made, even when it fails.

mod support;

use std::ffi::{CString, c_char};
use std::ptr::{null, null_mut};
use std::time::Duration;

use sandbox::*;
use support::{Failure, Scope, Shared, check, event_bytes, sentinel, sh, wait_until};

fn start(s: *const sbx_session, argv: &[&str], opts: *const sbx_exec_options) -> Result<*mut sbx_exec_stream, Failure> {
    let owned: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    let mut st = null_mut();
    // SAFETY: `ptrs` holds live strings for the call.
    check(|e| unsafe { sbx_session_exec_stream(s, ptrs.as_ptr(), ptrs.len(), opts, &mut st, e) })?;
    Ok(st)
}

fn next(st: *const sbx_exec_stream, timeout_ms: u64) -> Result<*mut sbx_exec_event, Failure> {
    let mut ev = null_mut();
    // SAFETY: live stream, writable out-pointer.
    check(|e| unsafe { sbx_exec_stream_next(st, timeout_ms, &mut ev, e) })?;
    Ok(ev)
}

/// Reads to the exit event: (stdout, stderr, exit event).
fn collect(st: *const sbx_exec_stream) -> (Vec<u8>, Vec<u8>, *mut sbx_exec_event) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        let ev = next(st, SBX_NO_TIMEOUT).expect("next");
        // SAFETY: live event, freed once (the exit event by the caller).
        unsafe {
            match sbx_exec_event_kind(ev) {
                SBX_EVENT_KIND_STDOUT => out.extend(event_bytes(ev)),
                SBX_EVENT_KIND_STDERR => err.extend(event_bytes(ev)),
                SBX_EVENT_KIND_EXIT => return (out, err, ev),
                k => panic!("unexpected kind {k:?}"),
            }
            sbx_exec_event_free(ev);
        }
    }
}

#[test]
fn stdin_in_events_out() {
    let sc = Scope::new("stream");
    let (_, s) = sc.start("stream");
    // SAFETY: live handles, each freed once.
    unsafe {
        let st = start(s, &["cat"], null()).unwrap();
        let input: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        check(|e| sbx_exec_stream_write_stdin(st, input.as_ptr(), input.len(), e)).unwrap();
        check(|e| sbx_exec_stream_write_stdin(st, null(), 0, e)).unwrap();
        check(|e| sbx_exec_stream_close_stdin(st, e)).unwrap();
        let (out, err, exit) = collect(st);
        assert_eq!(out, input, "bytes in == bytes out, NULs included");
        assert!(err.is_empty());
        assert_eq!(sbx_exec_event_exit_code(exit), 0);
        assert_eq!(sbx_exec_event_signal(exit), 0);
        assert!(!sbx_exec_event_timed_out(exit) && !sbx_exec_event_oom_killed(exit));
        assert_eq!(sbx_exec_event_stdout_total(exit), input.len() as u64);
        assert_eq!(sbx_exec_event_stderr_total(exit), 0);
        assert!(event_bytes(exit).is_empty());
        sbx_exec_event_free(exit);
        let mut ev: *mut sbx_exec_event = sentinel();
        let f = check(|e| sbx_exec_stream_next(st, 100, &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotRunning, "{f:?}");
        assert_eq!(ev, sentinel());
        let f = check(|e| sbx_exec_stream_write_stdin(st, b"x".as_ptr(), 1, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotRunning, "{f:?}");
        sbx_exec_stream_free(st);

        // stderr, exit code, environment and cwd from the options.
        let mut opts = null_mut();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_add_env(opts, c"WHO".as_ptr(), c"stream".as_ptr(), e)).unwrap();
        check(|e| sbx_exec_options_set_cwd(opts, c"/tmp".as_ptr(), e)).unwrap();
        let st = start(s, &["sh", "-c", "echo $WHO; pwd >&2; exit 5"], opts).unwrap();
        let (out, err, exit) = collect(st);
        assert_eq!((out.as_slice(), err.as_slice()), (&b"stream\n"[..], &b"/tmp\n"[..]));
        assert_eq!(sbx_exec_event_exit_code(exit), 5);
        sbx_exec_event_free(exit);
        sbx_exec_stream_free(st);

        // Large output arrives whole under flow control.
        let st = start(s, &["head", "-c", "20000000", "/dev/zero"], null()).unwrap();
        let (out, _, exit) = collect(st);
        assert_eq!(out.len(), 20_000_000);
        assert_eq!(sbx_exec_event_stdout_total(exit), 20_000_000);
        sbx_exec_event_free(exit);
        sbx_exec_stream_free(st);

        // The options' timeout is data in the exit event.
        check(|e| sbx_exec_options_set_timeout_ms(opts, 200, e)).unwrap();
        let st = start(s, &["sleep", "30"], opts).unwrap();
        let (_, _, exit) = collect(st);
        assert!(sbx_exec_event_timed_out(exit));
        assert_eq!(sbx_exec_event_exit_code(exit), -1);
        sbx_exec_event_free(exit);
        sbx_exec_stream_free(st);
        sbx_exec_options_free(opts);
        sc.stop(s);
    }
}

#[test]
fn next_times_out_and_signals_end_the_command() {
    let sc = Scope::new("streamsig");
    let (_, s) = sc.start("streamsig");
    // SAFETY: live handles, each freed once.
    unsafe {
        let st = start(s, &["sleep", "60"], null()).unwrap();
        let mut ev: *mut sbx_exec_event = sentinel();
        let f = check(|e| sbx_exec_stream_next(st, 200, &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "{f:?}");
        let f = check(|e| sbx_exec_stream_next(st, 0, &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "timeout 0 polls");
        assert_eq!(ev, sentinel());
        let f = check(|e| sbx_exec_stream_signal(st, 0, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument);
        check(|e| sbx_exec_stream_signal(st, 15, e)).unwrap();
        let (_, _, exit) = collect(st);
        assert_eq!(sbx_exec_event_signal(exit), 15);
        assert_eq!(sbx_exec_event_exit_code(exit), -1);
        sbx_exec_event_free(exit);
        let f = check(|e| sbx_exec_stream_signal(st, 15, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotRunning, "{f:?}");
        sbx_exec_stream_free(st);

        // Errors: no program; a working dir that does not exist (reported by next).
        let f = start(s, &[], null()).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument);
        let mut opts = null_mut();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_set_cwd(opts, c"/no/such/dir".as_ptr(), e)).unwrap();
        let st = start(s, &["true"], opts).unwrap();
        let f = next(st, SBX_NO_TIMEOUT).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        sbx_exec_stream_free(st);
        sbx_exec_options_free(opts);
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}

fn sleeper_running(watcher: *const sbx_session) -> bool {
    sh(watcher, "ps | grep -v grep | grep -c 'sleep 61' || true").trim() != "0"
}

#[test]
fn close_and_cancel_wake_a_blocked_next_and_kill_the_command() {
    let sc = Scope::new("streamclose");
    let (id, s) = sc.start("streamclose");
    let c_id = CString::new(id).unwrap();
    let mut watcher = null_mut();
    // SAFETY: live handles; threads are joined before frees.
    unsafe {
        check(|e| sbx_context_attach(sc.ctx, c_id.as_ptr(), &mut watcher, e)).unwrap();
        let st = start(s, &["sleep", "61"], null()).unwrap();
        wait_until("the command runs", || sleeper_running(watcher));
        let shared = Shared(st);
        let reader = std::thread::spawn(move || {
            let shared = shared;
            next(shared.0, SBX_NO_TIMEOUT).map(|ev| sbx_exec_event_free(ev))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_exec_stream_close(st);
        sbx_exec_stream_close(st);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Closed);
        wait_until("the closed stream's command is killed", || !sleeper_running(watcher));
        let f = check(|e| sbx_exec_stream_close_stdin(st, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Closed);
        sbx_exec_stream_free(st);

        // A cancel token in the options does the same.
        let mut token = null_mut();
        let mut opts = null_mut();
        check(|e| sbx_cancel_token_new(&mut token, e)).unwrap();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_set_cancel_token(opts, token, e)).unwrap();
        let st = start(s, &["sleep", "61"], opts).unwrap();
        wait_until("the command runs", || sleeper_running(watcher));
        let shared = Shared(st);
        let reader = std::thread::spawn(move || {
            let shared = shared;
            next(shared.0, SBX_NO_TIMEOUT).map(|ev| sbx_exec_event_free(ev))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_cancel_token_cancel(token);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Cancelled);
        wait_until("the cancelled command is killed", || !sleeper_running(watcher));
        sbx_exec_stream_free(st);
        sbx_exec_options_free(opts);
        sbx_cancel_token_free(token);

        // Freeing a stream kills its command; closing the session closes its streams.
        let st = start(s, &["sleep", "61"], null()).unwrap();
        wait_until("the command runs", || sleeper_running(watcher));
        sbx_exec_stream_free(st);
        wait_until("the freed stream's command is killed", || !sleeper_running(watcher));
        let st = start(s, &["sleep", "61"], null()).unwrap();
        let shared = Shared(st);
        let reader = std::thread::spawn(move || {
            let shared = shared;
            next(shared.0, SBX_NO_TIMEOUT).map(|ev| sbx_exec_event_free(ev))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_session_close(s);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Closed);
        wait_until("the command of the closed session's stream is killed", || !sleeper_running(watcher));
        sbx_exec_stream_free(st);
        sbx_session_free(s);
        check(|e| sbx_session_stop(watcher, e)).unwrap();
        sbx_session_free(watcher);
    }
    assert!(sc.leftovers().is_empty());
}
