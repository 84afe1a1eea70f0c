//! The exports against real podman: start -> exec -> stop, stdin with NUL bytes, the
//! start report, attach and list, errors with messages, close waking a blocked call,
//! cancellation, wrong-thread detection with a live session. Each test has its own scope
//! and removes what it made, even when it fails.

mod support;

use std::ffi::{CString, c_void};
use std::ptr::{null, null_mut};
use std::time::Duration;

use sandbox::*;
use support::{Scope, check, exec, stdout, text};

#[test]
fn start_exec_stop() {
    let t = Scope::new("basic");
    let (id, s) = t.start("basic");
    // SAFETY: live handles; each freed once.
    unsafe {
        assert_eq!(text(sbx_session_id(s)), id);
        let mut json = null();
        check(|e| sbx_session_start_report_json(s, &mut json, e)).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text(json)).unwrap();
        assert_eq!(report["session_id"], id.as_str());
        assert_eq!(report["image"]["reason"], "default");
        check(|e| sbx_session_ping(s, e)).unwrap();
        let mut version = null();
        check(|e| sbx_session_agent_version(s, &mut version, e)).unwrap();
        assert!(!text(version).is_empty());

        let r = exec(s, &["sh", "-c", "echo hello; echo oops >&2; exit 3"], null()).unwrap();
        assert_eq!(stdout(r), b"hello\n");
        assert_eq!(sbx_exec_result_exit_code(r), 3);
        assert_eq!(sbx_exec_result_signal(r), 0);
        assert!(!sbx_exec_result_success(r));
        assert!(!sbx_exec_result_timed_out(r));
        assert_eq!(sbx_exec_result_stdout_total(r), 6);
        assert_eq!(sbx_exec_result_stderr_total(r), 5);
        let (mut p, mut n) = (null(), 0);
        check(|e| sbx_exec_result_stderr(r, &mut p, &mut n, e)).unwrap();
        assert_eq!(std::slice::from_raw_parts(p, n), b"oops\n");
        sbx_exec_result_free(r);

        let mut opts = null_mut();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_set_timeout_ms(opts, 300, e)).unwrap();
        check(|e| sbx_exec_options_add_env(opts, c"GREETING".as_ptr(), c"hi there".as_ptr(), e)).unwrap();
        check(|e| sbx_exec_options_set_cwd(opts, c"/tmp".as_ptr(), e)).unwrap();
        let r = exec(s, &["sh", "-c", "echo $GREETING; pwd"], opts).unwrap();
        assert_eq!(stdout(r), b"hi there\n/tmp\n");
        sbx_exec_result_free(r);
        let r = exec(s, &["sleep", "30"], opts).unwrap();
        assert!(sbx_exec_result_timed_out(r), "the timeout is data in the result");
        assert_eq!(sbx_exec_result_exit_code(r), -1);
        assert!(sbx_exec_result_signal(r) > 0);
        sbx_exec_result_free(r);
        sbx_exec_options_free(opts);

        check(|e| sbx_session_stop(s, e)).unwrap();
        check(|e| sbx_session_stop(s, e)).expect("stop is idempotent");
        let f = exec(s, &["true"], null()).unwrap_err();
        assert_eq!(f.status, sbx_status::SessionNotFound, "{f:?}");
        assert!(f.message.contains("stopped"), "{}", f.message);
        sbx_session_close(s);
        sbx_session_close(s);
        let f = check(|e| sbx_session_ping(s, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Closed);
        sbx_session_free(s);
    }
    assert!(t.leftovers().is_empty());
}

#[test]
fn stdin_round_trip_keeps_every_byte() {
    let t = Scope::new("stdin");
    let (_, s) = t.start("stdin");
    let input: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let argv = [c"cat".as_ptr()];
    let mut r = null_mut();
    // SAFETY: live session; input and argv live for the call; freed once.
    unsafe {
        check(|e| sbx_session_exec_stdin(s, argv.as_ptr(), 1, input.as_ptr(), input.len(), null(), &mut r, e)).unwrap();
        assert_eq!(stdout(r), input, "bytes in == bytes out, NULs included");
        sbx_exec_result_free(r);
        // Empty stdin: (NULL, 0).
        let wc = [c"wc".as_ptr(), c"-c".as_ptr()];
        check(|e| sbx_session_exec_stdin(s, wc.as_ptr(), 2, null(), 0, null(), &mut r, e)).unwrap();
        assert_eq!(String::from_utf8(stdout(r)).unwrap().trim(), "0");
        sbx_exec_result_free(r);
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}

#[test]
fn attach_list_stop_and_reap_by_id() {
    let t = Scope::new("attach");
    let (id, s) = t.start("attach");
    let (id2, s2) = t.start("orphan");
    let c_id = CString::new(id.clone()).unwrap();
    // SAFETY: live handles, freed once.
    unsafe {
        let mut list = null_mut();
        check(|e| sbx_context_list(t.ctx, &mut list, e)).unwrap();
        assert_eq!(sbx_session_list_len(list), 2);
        let ids: Vec<String> = (0..2).map(|i| text(sbx_session_list_id(list, i))).collect();
        let mut want = vec![id.clone(), id2.clone()];
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(text(sbx_session_list_state(list, 0)), "running");
        assert!(sbx_session_list_created_unix(list, 0) > 0);
        assert!(sbx_session_list_id(list, 2).is_null());
        let json: serde_json::Value = serde_json::from_str(&text(sbx_session_list_json(list))).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 2);
        sbx_session_list_free(list);

        let mut again = null_mut();
        check(|e| sbx_context_attach(t.ctx, c_id.as_ptr(), &mut again, e)).unwrap();
        let r = exec(again, &["echo", "attached"], null()).unwrap();
        assert_eq!(stdout(r), b"attached\n");
        sbx_exec_result_free(r);
        let mut json = null();
        let f = check(|e| sbx_session_start_report_json(again, &mut json, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotAvailable);
        assert!(json.is_null(), "untouched on error");
        sbx_session_free(again);

        let mut missing = null_mut();
        let f = check(|e| sbx_context_attach(t.ctx, c"no-such-session".as_ptr(), &mut missing, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::SessionNotFound);
        assert!(f.message.contains("no-such-session"), "{}", f.message);
        assert!(missing.is_null());

        let f = check(|e| sbx_context_attach(t.ctx, c"bad id!".as_ptr(), &mut missing, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");

        // Reap everything but the first session.
        let known = [c_id.as_ptr()];
        let mut reaped = null_mut();
        check(|e| sbx_context_reap_orphans(t.ctx, known.as_ptr(), 1, &mut reaped, e)).unwrap();
        assert_eq!(sbx_string_list_len(reaped), 1);
        assert_eq!(text(sbx_string_list_get(reaped, 0)), id2);
        sbx_string_list_free(reaped);
        let f = exec(s2, &["true"], null()).unwrap_err();
        assert!(matches!(f.status, sbx_status::SessionNotFound | sbx_status::SessionLost), "{f:?}");
        sbx_session_free(s2);

        // Stop by id from the context; the handle then reports it.
        check(|e| sbx_context_stop(t.ctx, c_id.as_ptr(), e)).unwrap();
        let f = check(|e| sbx_context_stop(t.ctx, c_id.as_ptr(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::SessionNotFound);
        let f = exec(s, &["true"], null()).unwrap_err();
        assert!(matches!(f.status, sbx_status::SessionNotFound | sbx_status::SessionLost), "{f:?}");
        sbx_session_free(s);
    }
    assert!(t.leftovers().is_empty());
}

#[test]
fn errors_name_what_failed() {
    let t = Scope::new("errors");
    let (_, s) = t.start("errors");
    // SAFETY: live handles, freed once.
    unsafe {
        let f = exec(s, &[], null()).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument);
        assert!(f.message.contains("argv"), "{}", f.message);
        let r = exec(s, &["/no/such/program"], null()).unwrap();
        assert_eq!(sbx_exec_result_exit_code(r), 127, "not found is data");
        sbx_exec_result_free(r);
        let mut opts = null_mut();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_set_cwd(opts, c"/no/such/dir".as_ptr(), e)).unwrap();
        let f = exec(s, &["true"], opts).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        sbx_exec_options_free(opts);

        // Starting a second session with the same id.
        let c_id = CString::new(text(sbx_session_id(s))).unwrap();
        let c_dir = CString::new(t.dir.path().to_str().unwrap()).unwrap();
        let mut spec = null_mut();
        check(|e| sbx_session_spec_new(c_id.as_ptr(), c_dir.as_ptr(), &mut spec, e)).unwrap();
        let mut dup = null_mut();
        let f = check(|e| sbx_context_start(t.ctx, spec, &mut dup, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::SessionExists, "{f:?}");
        assert!(dup.is_null());
        sbx_session_spec_free(spec);

        // A missing image, named in the message.
        let (_, spec) = t.spec("noimage");
        check(|e| sbx_session_spec_set_allow_untrusted_image(spec, true, e)).unwrap();
        check(|e| sbx_session_spec_set_image(spec, c"localhost/no-such-image:1".as_ptr(), e)).unwrap();
        let f = check(|e| sbx_context_start(t.ctx, spec, &mut dup, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::ImageUnavailable, "{f:?}");
        assert!(f.message.contains("no-such-image"), "{}", f.message);
        sbx_session_spec_free(spec);

        // A working dir that does not exist.
        let mut spec = null_mut();
        check(|e| sbx_session_spec_new(c"nodir".as_ptr(), c"/no/such/dir".as_ptr(), &mut spec, e)).unwrap();
        let f = check(|e| sbx_context_start(t.ctx, spec, &mut dup, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        sbx_session_spec_free(spec);

        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
    assert!(t.leftovers().is_empty());
}

/// A raw pointer that may be sent to the thread that uses it (the test joins it before
/// the handle is freed).
struct Shared<T>(*mut T);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: handles are documented as usable from any thread; the tests join every thread
// before freeing.
unsafe impl<T> Send for Shared<T> {}

#[test]
fn close_wakes_a_blocked_exec_and_kills_its_command() {
    let t = Scope::new("close");
    let (id, s) = t.start("close");
    let shared = Shared(s);
    let blocked = std::thread::spawn(move || {
        let shared = shared;
        exec(shared.0, &["sh", "-c", "echo started > /tmp/marker; sleep 60"], null()).map(|r| {
            // SAFETY: freeing the unexpected result once.
            unsafe { sbx_exec_result_free(r) }
        })
    });
    // Wait until the command runs (observed through a second handle), then close.
    let c_id = CString::new(id).unwrap();
    let mut watcher = null_mut();
    // SAFETY: live handles; each freed once after the thread was joined.
    unsafe {
        check(|e| sbx_context_attach(t.ctx, c_id.as_ptr(), &mut watcher, e)).unwrap();
        for _ in 0..200 {
            let r = exec(watcher, &["cat", "/tmp/marker"], null()).unwrap();
            let ok = sbx_exec_result_success(r);
            sbx_exec_result_free(r);
            if ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        sbx_session_close(s);
        let f = blocked.join().unwrap().unwrap_err();
        assert_eq!(f.status, sbx_status::Closed, "{f:?}");
        // The agent killed the abandoned command.
        let mut gone = false;
        for _ in 0..100 {
            let r = exec(watcher, &["sh", "-c", "ps | grep -v grep | grep -q 'sleep 60'"], null()).unwrap();
            gone = sbx_exec_result_exit_code(r) == 1;
            sbx_exec_result_free(r);
            if gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(gone, "the command of the closed call was killed");
        check(|e| sbx_session_stop(watcher, e)).unwrap();
        sbx_session_free(watcher);
        sbx_session_free(s);
    }
}

#[test]
fn a_cancel_token_stops_a_call_from_another_thread() {
    let t = Scope::new("cancel");
    let (_, s) = t.start("cancel");
    let mut token = null_mut();
    let mut opts = null_mut();
    // SAFETY: live handles; freed once after the thread is joined.
    unsafe {
        check(|e| sbx_cancel_token_new(&mut token, e)).unwrap();
        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        check(|e| sbx_exec_options_set_cancel_token(opts, token, e)).unwrap();
        let (ss, so) = (Shared(s), Shared(opts));
        let blocked = std::thread::spawn(move || {
            let (ss, so) = (ss, so);
            exec(ss.0, &["sleep", "60"], so.0).map(|r| sbx_exec_result_free(r))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_cancel_token_cancel(token);
        let f = blocked.join().unwrap().unwrap_err();
        assert_eq!(f.status, sbx_status::Cancelled, "{f:?}");
        // A cancelled token fails later calls at once; the session itself is fine.
        let f = exec(s, &["true"], opts).unwrap_err();
        assert_eq!(f.status, sbx_status::Cancelled);
        sbx_cancel_token_free(token);
        let r = exec(s, &["true"], null()).unwrap();
        assert!(sbx_exec_result_success(r));
        sbx_exec_result_free(r);
        sbx_exec_options_free(opts);
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}

struct ExecProbe {
    session: *mut sbx_session,
    status: sbx_status,
}

unsafe extern "C" fn exec_from_runtime_thread(data: *mut c_void) {
    // SAFETY: `data` is the ExecProbe of the test, alive while the hook runs.
    let probe = unsafe { &mut *data.cast::<ExecProbe>() };
    let argv = [c"true".as_ptr()];
    let mut r = null_mut();
    // SAFETY: live session, valid argv; a result is never produced here.
    probe.status = unsafe { sbx_session_exec(probe.session, argv.as_ptr(), 1, null(), &mut r, null_mut()) };
    assert!(r.is_null());
}

#[test]
fn exec_from_a_runtime_thread_is_refused_and_many_threads_share_a_session() {
    let t = Scope::new("threads");
    let (_, s) = t.start("threads");
    let mut probe = ExecProbe { session: s, status: sbx_status::Ok };
    // SAFETY: the hook uses `probe` only while this call blocks.
    check(|e| unsafe {
        sbx_test_call_on_runtime_thread(t.ctx, Some(exec_from_runtime_thread), (&raw mut probe).cast(), e)
    })
    .unwrap();
    assert_eq!(probe.status, sbx_status::WrongThread);

    let shared = Shared(s);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let shared = shared;
                for j in 0..20 {
                    let word = format!("{i}-{j}");
                    let r = exec(shared.0, &["echo", &word], null()).unwrap();
                    assert_eq!(stdout(r), format!("{word}\n").as_bytes());
                    // SAFETY: freed once.
                    unsafe { sbx_exec_result_free(r) };
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    // SAFETY: all threads joined; freed once.
    unsafe {
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}

#[test]
fn engine_probe_reports_the_host() {
    let t = Scope::new("info");
    let mut info = null_mut();
    // SAFETY: live context; freed once.
    unsafe {
        check(|e| sbx_context_info(t.ctx, &mut info, e)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text(sbx_host_info_json(info))).unwrap();
        assert_eq!(v["version"], text(sbx_host_info_podman_version(info)).as_str());
        assert_eq!(v["rootless"], sbx_host_info_rootless(info));
        assert_eq!(sbx_host_info_rootless(info), rustix_uid() != 0);
        assert!(["v1", "hybrid", "v2"].contains(&text(sbx_host_info_cgroup_mode(info)).as_str()));
        assert!(!text(sbx_host_info_runtime(info)).is_empty());
        assert_eq!(sbx_host_info_limits_reason(info).is_null(), sbx_host_info_limits_enforceable(info));
        sbx_host_info_free(info);
    }
}

fn rustix_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

#[test]
fn a_missing_podman_is_engine_missing() {
    let mut cfg = null_mut();
    let mut ctx = null_mut();
    let mut info: *mut sbx_host_info = null_mut();
    // SAFETY: live handles, freed once.
    unsafe {
        check(|e| sbx_config_new(&mut cfg, e)).unwrap();
        check(|e| sbx_config_set_podman(cfg, c"/nonexistent/podman".as_ptr(), e)).unwrap();
        check(|e| sbx_context_new(cfg, &mut ctx, e)).unwrap();
        sbx_config_free(cfg);
        let f = check(|e| sbx_context_info(ctx, &mut info, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::EngineMissing, "{f:?}");
        assert!(f.message.contains("/nonexistent/podman"), "{}", f.message);
        assert!(info.is_null());
        sbx_context_free(ctx);
    }
}
