//! The exports' contract, without starting containers: NULL arguments, out-params left
//! untouched on error, typed errors for bad input, double close, free after close, the
//! panic boundary and wrong-thread detection.

mod support;

use std::ffi::{CStr, c_char, c_void};
use std::ptr::{null, null_mut};

use sandbox::*;
use support::{Failure, check, text};

/// A non-NULL pointer value no call may write over on failure.
fn sentinel<T>() -> *mut T {
    std::ptr::dangling_mut::<T>()
}

fn fails_with(r: Result<(), Failure>, status: sbx_status, needle: &str) {
    let f = r.expect_err("the call must fail");
    assert_eq!(f.status, status, "{f:?}");
    assert!(f.message.contains(needle), "message {:?} should mention {needle:?}", f.message);
}

fn new_config() -> *mut sbx_config {
    let mut cfg = null_mut();
    // SAFETY: writable out-pointer.
    check(|e| unsafe { sbx_config_new(&mut cfg, e) }).unwrap();
    cfg
}

fn new_context() -> *mut sbx_context {
    let cfg = new_config();
    let mut ctx = null_mut();
    // SAFETY: live config, freed once after the context copied it.
    unsafe {
        check(|e| sbx_context_new(cfg, &mut ctx, e)).unwrap();
        sbx_config_free(cfg);
    }
    ctx
}

#[test]
fn versions_come_from_one_constant() {
    assert_eq!(sbx_abi_version(), SBX_ABI_VERSION);
    let header = include_str!("../../include/sandbox.h");
    assert!(header.contains(&format!("#define SBX_ABI_VERSION {SBX_ABI_VERSION}\n")));
    assert_eq!(text(sbx_version()), env!("CARGO_PKG_VERSION"));
}

#[test]
fn status_names_are_stable() {
    for (n, name) in [
        (0, "SBX_STATUS_OK"),
        (1, "SBX_STATUS_NULL_ARGUMENT"),
        (3, "SBX_STATUS_PANIC"),
        (104, "SBX_STATUS_SESSION_NOT_FOUND"),
    ] {
        assert_eq!(text(sbx_status_name(n)), name);
    }
    assert!(sbx_status_name(110).is_null(), "110 is retired, never reused");
    assert!(sbx_status_name(9999).is_null());
}

#[test]
fn null_arguments_are_reported_and_out_params_untouched() {
    let ctx = new_context();
    let mut out_ctx: *mut sbx_context = sentinel();
    let mut out_spec: *mut sbx_session_spec = sentinel();
    let mut out_session: *mut sbx_session = sentinel();
    let mut out_list: *mut sbx_session_list = sentinel();
    let mut out_info: *mut sbx_host_info = sentinel();
    let mut out_result: *mut sbx_exec_result = sentinel();
    let mut out_reaped: *mut sbx_string_list = sentinel();
    // SAFETY: every pointer is NULL, live, or a writable local; failures write nothing.
    unsafe {
        fails_with(check(|e| sbx_config_new(null_mut(), e)), sbx_status::NullArgument, "out");
        fails_with(check(|e| sbx_context_new(null(), &mut out_ctx, e)), sbx_status::NullArgument, "config");
        fails_with(check(|e| sbx_config_set_scope(null_mut(), c"x".as_ptr(), e)), sbx_status::NullArgument, "config");
        let cfg = new_config();
        fails_with(check(|e| sbx_config_set_scope(cfg, null(), e)), sbx_status::NullArgument, "scope");
        fails_with(check(|e| sbx_context_new(cfg, null_mut(), e)), sbx_status::NullArgument, "out");
        sbx_config_free(cfg);
        fails_with(
            check(|e| sbx_session_spec_new(null(), c"/tmp".as_ptr(), &mut out_spec, e)),
            sbx_status::NullArgument,
            "id",
        );
        fails_with(
            check(|e| sbx_session_spec_new(c"a".as_ptr(), null(), &mut out_spec, e)),
            sbx_status::NullArgument,
            "working dir",
        );
        fails_with(check(|e| sbx_context_start(ctx, null(), &mut out_session, e)), sbx_status::NullArgument, "spec");
        fails_with(
            check(|e| sbx_context_start(null(), null(), &mut out_session, e)),
            sbx_status::NullArgument,
            "context",
        );
        fails_with(check(|e| sbx_context_attach(ctx, null(), &mut out_session, e)), sbx_status::NullArgument, "id");
        fails_with(check(|e| sbx_context_list(null(), &mut out_list, e)), sbx_status::NullArgument, "context");
        fails_with(check(|e| sbx_context_list(ctx, null_mut(), e)), sbx_status::NullArgument, "out");
        fails_with(check(|e| sbx_context_info(null(), &mut out_info, e)), sbx_status::NullArgument, "context");
        fails_with(check(|e| sbx_context_stop(ctx, null(), e)), sbx_status::NullArgument, "id");
        fails_with(
            check(|e| sbx_context_reap_orphans(ctx, null(), 2, &mut out_reaped, e)),
            sbx_status::NullArgument,
            "known",
        );
        let argv = [c"true".as_ptr()];
        fails_with(
            check(|e| sbx_session_exec(null(), argv.as_ptr(), 1, null(), &mut out_result, e)),
            sbx_status::NullArgument,
            "session",
        );
        fails_with(
            check(|e| sbx_session_exec_stdin(null(), argv.as_ptr(), 1, null(), 5, null(), &mut out_result, e)),
            sbx_status::NullArgument,
            "session",
        );
        fails_with(check(|e| sbx_session_ping(null(), e)), sbx_status::NullArgument, "session");
        fails_with(check(|e| sbx_session_stop(null(), e)), sbx_status::NullArgument, "session");
        let mut json: *const c_char = sentinel::<c_char>();
        fails_with(check(|e| sbx_session_start_report_json(null(), &mut json, e)), sbx_status::NullArgument, "session");
        assert_eq!(json, sentinel::<c_char>());
        fails_with(check(|e| sbx_exec_options_set_timeout_ms(null_mut(), 5, e)), sbx_status::NullArgument, "options");
        fails_with(check(|e| sbx_cancel_token_new(null_mut(), e)), sbx_status::NullArgument, "out");
        let (mut p, mut n): (*const u8, usize) = (sentinel::<u8>(), 7);
        fails_with(check(|e| sbx_exec_result_stdout(null(), &mut p, &mut n, e)), sbx_status::NullArgument, "result");
        assert_eq!((p, n), (sentinel::<u8>() as *const u8, 7));
        // A NULL err slot is allowed: only the status reports the failure.
        assert_eq!(sbx_context_list(null(), &mut out_list, null_mut()), sbx_status::NullArgument);

        // Getters of NULL handles return neutral values; frees and closes of NULL are no-ops.
        assert!(sbx_session_id(null()).is_null());
        assert_eq!(sbx_exec_result_exit_code(null()), -1);
        assert_eq!(sbx_session_list_len(null()), 0);
        assert!(sbx_error_message(null()).is_null());
        assert_eq!(sbx_error_code(null()), sbx_status::NullArgument);
        sbx_context_close(null_mut());
        sbx_session_close(null_mut());
        sbx_context_free(null_mut());
        sbx_session_free(null_mut());
        sbx_exec_result_free(null_mut());
        sbx_error_free(null_mut());
        sbx_config_free(null_mut());
        sbx_session_spec_free(null_mut());
        sbx_exec_options_free(null_mut());
        sbx_session_list_free(null_mut());
        sbx_string_list_free(null_mut());
        sbx_host_info_free(null_mut());
        sbx_cancel_token_free(null_mut());
        sbx_context_free(ctx);
    }
    assert_eq!(out_ctx, sentinel());
    assert_eq!(out_spec, sentinel());
    assert_eq!(out_session, sentinel());
    assert_eq!(out_list, sentinel());
    assert_eq!(out_info, sentinel());
    assert_eq!(out_result, sentinel());
    assert_eq!(out_reaped, sentinel());
}

#[test]
fn bad_input_gets_typed_errors_and_changes_nothing() {
    let cfg = new_config();
    let mut spec: *mut sbx_session_spec = sentinel();
    let mut opts = null_mut();
    // SAFETY: live handles, NUL-terminated strings or deliberately bad byte strings.
    unsafe {
        fails_with(
            check(|e| sbx_config_set_scope(cfg, c"has space".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "scope",
        );
        fails_with(check(|e| sbx_config_set_scope(cfg, c"".as_ptr(), e)), sbx_status::InvalidArgument, "scope");
        let not_utf8 = [0xffu8, 0xfe, 0];
        fails_with(
            check(|e| sbx_config_set_scope(cfg, not_utf8.as_ptr().cast(), e)),
            sbx_status::InvalidArgument,
            "UTF-8",
        );
        fails_with(check(|e| sbx_config_set_image(cfg, c"-rm".as_ptr(), e)), sbx_status::InvalidArgument, "image");
        fails_with(check(|e| sbx_config_set_network(cfg, c"host".as_ptr(), e)), sbx_status::InvalidArgument, "host");
        fails_with(check(|e| sbx_config_set_memory_limit(cfg, 1024, e)), sbx_status::InvalidArgument, "memory");
        fails_with(check(|e| sbx_config_set_cpu_limit(cfg, f64::NAN, e)), sbx_status::InvalidArgument, "cpu");
        fails_with(check(|e| sbx_config_set_pids_limit(cfg, 1, e)), sbx_status::InvalidArgument, "pids");
        fails_with(
            check(|e| sbx_config_set_runtime_dir(cfg, c"relative".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "absolute",
        );
        fails_with(
            check(|e| sbx_config_set_ready_timeout_ms(cfg, 0, e)),
            sbx_status::InvalidArgument,
            "greater than zero",
        );
        fails_with(
            check(|e| sbx_config_set_container_prefix(cfg, c"".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "prefix",
        );
        check(|e| sbx_config_set_scope(cfg, c"good-scope".as_ptr(), e)).unwrap();
        check(|e| sbx_config_set_network(cfg, c"none".as_ptr(), e)).unwrap();
        sbx_config_free(cfg);

        fails_with(
            check(|e| sbx_session_spec_new(c"../escape".as_ptr(), c"/tmp".as_ptr(), &mut spec, e)),
            sbx_status::InvalidArgument,
            "session id",
        );
        fails_with(
            check(|e| sbx_session_spec_new(c"ok".as_ptr(), c"".as_ptr(), &mut spec, e)),
            sbx_status::InvalidArgument,
            "working dir",
        );
        assert_eq!(spec, sentinel(), "untouched on error");
        check(|e| sbx_session_spec_new(c"ok".as_ptr(), c"/tmp".as_ptr(), &mut spec, e)).unwrap();
        fails_with(check(|e| sbx_session_spec_add_port(spec, 0, e)), sbx_status::InvalidArgument, "port");
        fails_with(check(|e| sbx_session_spec_add_port(spec, 70000, e)), sbx_status::InvalidArgument, "70000");
        check(|e| sbx_session_spec_add_port(spec, 8080, e)).unwrap();
        fails_with(check(|e| sbx_session_spec_add_port(spec, 8080, e)), sbx_status::InvalidArgument, "twice");
        fails_with(
            check(|e| sbx_session_spec_add_env(spec, c"A=B".as_ptr(), c"v".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "environment",
        );
        fails_with(
            check(|e| sbx_session_spec_add_post_create(spec, c"  ".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "empty",
        );
        fails_with(
            check(|e| sbx_session_spec_set_image(spec, c"bad image".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "image",
        );
        fails_with(check(|e| sbx_session_spec_set_memory_limit(spec, 5, e)), sbx_status::InvalidArgument, "memory");
        sbx_session_spec_free(spec);

        check(|e| sbx_exec_options_new(&mut opts, e)).unwrap();
        fails_with(check(|e| sbx_exec_options_set_timeout_ms(opts, 0, e)), sbx_status::InvalidArgument, "timeout");
        fails_with(check(|e| sbx_exec_options_set_cwd(opts, c"".as_ptr(), e)), sbx_status::InvalidArgument, "cwd");
        fails_with(
            check(|e| sbx_exec_options_add_env(opts, c"".as_ptr(), c"v".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "environment",
        );
        sbx_exec_options_free(opts);
    }
}

#[test]
fn config_from_env_reports_the_bad_variable() {
    // Run in a child process so the variable does not leak into other tests.
    if std::env::var_os("SBX_TEST_CHILD").is_some() {
        let mut cfg: *mut sbx_config = sentinel();
        // SAFETY: writable out-pointer.
        let r = check(|e| unsafe { sbx_config_from_env(&mut cfg, e) });
        fails_with(r, sbx_status::Config, "SANDBOX_PIDS");
        assert_eq!(cfg, sentinel());
        return;
    }
    let me = std::env::current_exe().unwrap();
    let status = std::process::Command::new(me)
        .args(["--exact", "config_from_env_reports_the_bad_variable", "--nocapture"])
        .env("SBX_TEST_CHILD", "1")
        .env("SANDBOX_PIDS", "lots")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn close_is_idempotent_and_free_after_close_is_fine() {
    let ctx = new_context();
    let mut list: *mut sbx_session_list = sentinel();
    let mut token = null_mut();
    // SAFETY: live handles; each freed exactly once at the end.
    unsafe {
        sbx_context_close(ctx);
        sbx_context_close(ctx);
        fails_with(check(|e| sbx_context_list(ctx, &mut list, e)), sbx_status::Closed, "closed");
        assert_eq!(list, sentinel());
        sbx_context_free(ctx);

        check(|e| sbx_cancel_token_new(&mut token, e)).unwrap();
        assert!(!sbx_cancel_token_is_cancelled(token));
        sbx_cancel_token_cancel(token);
        sbx_cancel_token_cancel(token);
        assert!(sbx_cancel_token_is_cancelled(token));
        sbx_cancel_token_free(token);
    }
}

#[test]
fn panics_become_a_status_with_the_message() {
    // SAFETY: valid err slot.
    let r = check(|e| unsafe { sbx_test_trigger_panic(e) });
    fails_with(r, sbx_status::Panic, "deliberate panic");
    // And without an err slot, the status alone.
    // SAFETY: NULL err is allowed.
    assert_eq!(unsafe { sbx_test_trigger_panic(null_mut()) }, sbx_status::Panic);
}

struct OnRuntime {
    ctx: *mut sbx_context,
    status: sbx_status,
    message: String,
}

unsafe extern "C" fn list_from_runtime_thread(data: *mut c_void) {
    // SAFETY: `data` is the OnRuntime the test passed, alive until the hook returns.
    let probe = unsafe { &mut *data.cast::<OnRuntime>() };
    let mut list: *mut sbx_session_list = sentinel();
    let mut err = null_mut();
    // SAFETY: live context, writable slots.
    unsafe {
        probe.status = sbx_context_list(probe.ctx, &mut list, &mut err);
        probe.message = CStr::from_ptr(sbx_error_message(err)).to_string_lossy().into_owned();
        sbx_error_free(err);
    }
    assert_eq!(list, sentinel());
}

#[test]
fn blocking_calls_from_runtime_threads_are_refused_not_deadlocked() {
    let ctx = new_context();
    let mut probe = OnRuntime { ctx, status: sbx_status::Ok, message: String::new() };
    // SAFETY: the callback only uses `probe` while this call blocks.
    let r = check(|e| unsafe {
        sbx_test_call_on_runtime_thread(ctx, Some(list_from_runtime_thread), (&raw mut probe).cast(), e)
    });
    r.unwrap();
    assert_eq!(probe.status, sbx_status::WrongThread);
    assert!(probe.message.contains("sbx_context_list"), "{}", probe.message);

    // The same from async Rust code on a runtime of the caller's own.
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let status = rt.block_on(async {
        let mut list = null_mut();
        // SAFETY: live context, writable out-pointer.
        unsafe { sbx_context_list(ctx, &mut list, null_mut()) }
    });
    assert_eq!(status, sbx_status::WrongThread);
    // SAFETY: NULL callback is rejected; the context is freed once.
    unsafe {
        fails_with(
            check(|e| sbx_test_call_on_runtime_thread(ctx, None, null_mut(), e)),
            sbx_status::NullArgument,
            "callback",
        );
        sbx_context_free(ctx);
    }
}

#[test]
fn a_context_freed_on_a_runtime_thread_does_not_hang() {
    unsafe extern "C" fn free_session_ctx(data: *mut c_void) {
        // SAFETY: the test hands over a context it no longer uses; freeing it here drops
        // the runtime from one of its own threads, which must not block.
        unsafe { sbx_context_free(data.cast()) };
    }
    let ctx = new_context();
    let driver = new_context();
    // The hook runs on `driver`'s runtime; freeing `ctx` there is a free on a foreign
    // runtime thread, which must also work.
    // SAFETY: `ctx` is live and freed exactly once, by the callback.
    check(|e| unsafe { sbx_test_call_on_runtime_thread(driver, Some(free_session_ctx), ctx.cast(), e) }).unwrap();
    // SAFETY: freed once.
    unsafe { sbx_context_free(driver) };
}

#[test]
fn lists_and_strings_have_safe_bounds() {
    let ctx = new_context();
    // SAFETY: live context; reading NULL / out-of-range entries yields NULL.
    unsafe {
        sbx_context_close(ctx);
        let mut reaped: *mut sbx_string_list = sentinel();
        let known = [c"x".as_ptr()];
        fails_with(
            check(|e| sbx_context_reap_orphans(ctx, known.as_ptr(), 1, &mut reaped, e)),
            sbx_status::Closed,
            "closed",
        );
        assert_eq!(reaped, sentinel());
        assert!(sbx_string_list_get(null(), 0).is_null());
        assert!(sbx_session_list_id(null(), 3).is_null());
        sbx_context_free(ctx);
    }
}
