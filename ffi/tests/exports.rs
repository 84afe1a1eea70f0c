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

#[test]
fn new_specs_check_their_input_and_leave_out_params_alone() {
    let mut task_spec: *mut sbx_task_spec = sentinel();
    let mut term_spec: *mut sbx_terminal_spec = sentinel();
    let argv = [c"echo".as_ptr(), c"hi".as_ptr()];
    // SAFETY: NULL, live handles, writable locals; failures write nothing.
    unsafe {
        fails_with(check(|e| sbx_task_spec_new(null(), 1, &mut task_spec, e)), sbx_status::NullArgument, "argv");
        fails_with(
            check(|e| sbx_task_spec_new(argv.as_ptr(), 0, &mut task_spec, e)),
            sbx_status::InvalidArgument,
            "argv",
        );
        fails_with(check(|e| sbx_task_spec_new(argv.as_ptr(), 2, null_mut(), e)), sbx_status::NullArgument, "out");
        fails_with(check(|e| sbx_task_spec_new_shell(null(), &mut task_spec, e)), sbx_status::NullArgument, "command");
        fails_with(
            check(|e| sbx_task_spec_new_shell(c" ".as_ptr(), &mut task_spec, e)),
            sbx_status::InvalidArgument,
            "empty",
        );
        assert_eq!(task_spec, sentinel());
        check(|e| sbx_task_spec_new(argv.as_ptr(), 2, &mut task_spec, e)).unwrap();
        fails_with(
            check(|e| sbx_task_spec_add_env(task_spec, c"A=B".as_ptr(), c"v".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "environment",
        );
        fails_with(
            check(|e| sbx_task_spec_add_env(task_spec, null(), c"v".as_ptr(), e)),
            sbx_status::NullArgument,
            "key",
        );
        fails_with(check(|e| sbx_task_spec_set_cwd(task_spec, c"".as_ptr(), e)), sbx_status::InvalidArgument, "cwd");
        fails_with(check(|e| sbx_task_spec_set_spool_cap(task_spec, 0, e)), sbx_status::InvalidArgument, "spool cap");
        fails_with(check(|e| sbx_task_spec_set_cwd(null_mut(), c"/".as_ptr(), e)), sbx_status::NullArgument, "spec");
        sbx_task_spec_free(task_spec);

        for (rows, cols) in [(0, 80), (24, 0), (1001, 80), (24, 1001)] {
            fails_with(
                check(|e| sbx_terminal_spec_new(rows, cols, &mut term_spec, e)),
                sbx_status::InvalidArgument,
                "terminal size",
            );
        }
        fails_with(check(|e| sbx_terminal_spec_new(24, 80, null_mut(), e)), sbx_status::NullArgument, "out");
        assert_eq!(term_spec, sentinel());
        check(|e| sbx_terminal_spec_new(1000, 1, &mut term_spec, e)).unwrap();
        fails_with(
            check(|e| sbx_terminal_spec_set_argv(term_spec, argv.as_ptr(), 0, e)),
            sbx_status::InvalidArgument,
            "argv",
        );
        fails_with(check(|e| sbx_terminal_spec_set_argv(term_spec, null(), 2, e)), sbx_status::NullArgument, "argv");
        fails_with(
            check(|e| sbx_terminal_spec_set_shell_command(term_spec, c"".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "empty",
        );
        fails_with(
            check(|e| sbx_terminal_spec_set_scrollback(term_spec, 0, e)),
            sbx_status::InvalidArgument,
            "scrollback",
        );
        fails_with(
            check(|e| sbx_terminal_spec_set_cwd(term_spec, c"".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "cwd",
        );
        fails_with(
            check(|e| sbx_terminal_spec_add_env(term_spec, c"".as_ptr(), c"v".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "environment",
        );
        sbx_terminal_spec_free(term_spec);
    }
}

#[test]
fn new_exports_report_null_handles() {
    let mut task: *mut sbx_task = sentinel();
    let mut term: *mut sbx_terminal = sentinel();
    let mut stream: *mut sbx_exec_stream = sentinel();
    let mut chunk: *mut sbx_output_chunk = sentinel();
    let mut task_info: *mut sbx_task_info = sentinel();
    let mut term_info: *mut sbx_terminal_info = sentinel();
    let mut task_list: *mut sbx_task_list = sentinel();
    let mut term_list: *mut sbx_terminal_list = sentinel();
    let mut event: *mut sbx_exec_event = sentinel();
    let mut buffer: *mut sbx_buffer = sentinel();
    let mut file_info: *mut sbx_file_info = sentinel();
    let mut file_list: *mut sbx_file_list = sentinel();
    let argv = [c"true".as_ptr()];
    let path = c"/tmp/x".as_ptr();
    // SAFETY: NULL handles and writable locals; failures write nothing.
    unsafe {
        let s = null::<sbx_session>();
        let on_session: Vec<Result<(), Failure>> = vec![
            check(|e| sbx_session_spawn_task(s, null(), &mut task, e)),
            check(|e| sbx_session_attach_task(s, c"task-x".as_ptr(), &mut task, e)),
            check(|e| sbx_session_list_tasks(s, &mut task_list, e)),
            check(|e| sbx_session_open_terminal(s, null(), &mut term, e)),
            check(|e| sbx_session_attach_terminal(s, c"term-x".as_ptr(), &mut term, e)),
            check(|e| sbx_session_list_terminals(s, &mut term_list, e)),
            check(|e| sbx_session_exec_stream(s, argv.as_ptr(), 1, null(), &mut stream, e)),
            check(|e| sbx_session_read_file(s, path, &mut buffer, e)),
            check(|e| sbx_session_write_file(s, path, null(), 0, -1, e)),
            check(|e| sbx_session_list_dir(s, path, &mut file_list, e)),
            check(|e| sbx_session_stat(s, path, &mut file_info, e)),
            check(|e| sbx_session_remove(s, path, false, e)),
        ];
        for r in on_session {
            fails_with(r, sbx_status::NullArgument, "session");
        }
        let t = null::<sbx_task>();
        for r in [
            check(|e| sbx_task_get_info(t, &mut task_info, e)),
            check(|e| sbx_task_output(t, 0, 0, 10, 0, null(), &mut chunk, e)),
            check(|e| sbx_task_output(t, 9, 0, 10, 0, null(), &mut chunk, e)),
            check(|e| sbx_task_tail(t, 0, 10, &mut chunk, e)),
            check(|e| sbx_task_wait(t, 0, null(), &mut task_info, e)),
            check(|e| sbx_task_kill(t, 9, e)),
        ] {
            fails_with(r, sbx_status::NullArgument, "task");
        }
        let term_p = null::<sbx_terminal>();
        for r in [
            check(|e| sbx_terminal_get_info(term_p, &mut term_info, e)),
            check(|e| sbx_terminal_write(term_p, b"x".as_ptr(), 1, e)),
            check(|e| sbx_terminal_read(term_p, 0, 10, 0, null(), &mut chunk, e)),
            check(|e| sbx_terminal_resize(term_p, 24, 80, e)),
            check(|e| sbx_terminal_kill(term_p, 1, e)),
            check(|e| sbx_terminal_wait(term_p, 0, null(), &mut term_info, e)),
        ] {
            fails_with(r, sbx_status::NullArgument, "terminal");
        }
        let st = null::<sbx_exec_stream>();
        for r in [
            check(|e| sbx_exec_stream_next(st, 0, &mut event, e)),
            check(|e| sbx_exec_stream_write_stdin(st, b"x".as_ptr(), 1, e)),
            check(|e| sbx_exec_stream_close_stdin(st, e)),
            check(|e| sbx_exec_stream_signal(st, 9, e)),
        ] {
            fails_with(r, sbx_status::NullArgument, "stream");
        }
        let (mut p, mut n): (*const u8, usize) = (sentinel::<u8>(), 7);
        fails_with(check(|e| sbx_output_chunk_data(null(), &mut p, &mut n, e)), sbx_status::NullArgument, "chunk");
        fails_with(check(|e| sbx_exec_event_data(null(), &mut p, &mut n, e)), sbx_status::NullArgument, "event");
        fails_with(check(|e| sbx_buffer_data(null(), &mut p, &mut n, e)), sbx_status::NullArgument, "buffer");
        assert_eq!((p, n), (sentinel::<u8>() as *const u8, 7));

        // Getters of NULL handles return neutral values.
        assert!(sbx_task_id(null()).is_null());
        assert!(sbx_terminal_id(null()).is_null());
        assert_eq!(sbx_output_chunk_offset(null()), 0);
        assert_eq!(sbx_output_chunk_next_offset(null()), 0);
        assert!(!sbx_output_chunk_finished(null()));
        assert_eq!(sbx_output_chunk_text_len(null()), 0);
        assert_eq!(sbx_task_info_state(null()), sbx_process_state::Unknown);
        assert_eq!(sbx_task_info_exit_code(null()), -1);
        assert_eq!(sbx_task_info_ended_unix_ms(null()), -1);
        assert!(sbx_task_info_id(null()).is_null());
        assert_eq!(sbx_terminal_info_state(null()), sbx_process_state::Unknown);
        assert_eq!(sbx_terminal_info_rows(null()), 0);
        assert_eq!(sbx_task_list_len(null()), 0);
        assert!(sbx_task_list_get(null(), 0).is_null());
        assert_eq!(sbx_terminal_list_len(null()), 0);
        assert!(sbx_terminal_list_get(null(), 0).is_null());
        assert_eq!(sbx_exec_event_kind(null()), SBX_EVENT_KIND_NONE);
        assert_eq!(sbx_exec_event_exit_code(null()), -1);
        assert!(!sbx_exec_event_oom_killed(null()));
        assert!(!sbx_exec_result_oom_killed(null()));
        assert_eq!(sbx_buffer_len(null()), 0);
        assert_eq!(sbx_file_info_kind(null()), sbx_file_kind::Unknown);
        assert!(sbx_file_info_name(null()).is_null());
        assert!(sbx_file_info_target(null()).is_null());
        assert_eq!(sbx_file_list_len(null()), 0);
        assert!(sbx_file_list_get(null(), 0).is_null());

        // Frees and closes of NULL are no-ops.
        sbx_task_close(null_mut());
        sbx_terminal_close(null_mut());
        sbx_exec_stream_close(null_mut());
        sbx_task_free(null_mut());
        sbx_terminal_free(null_mut());
        sbx_exec_stream_free(null_mut());
        sbx_task_spec_free(null_mut());
        sbx_terminal_spec_free(null_mut());
        sbx_task_info_free(null_mut());
        sbx_terminal_info_free(null_mut());
        sbx_task_list_free(null_mut());
        sbx_terminal_list_free(null_mut());
        sbx_output_chunk_free(null_mut());
        sbx_exec_event_free(null_mut());
        sbx_buffer_free(null_mut());
        sbx_file_info_free(null_mut());
        sbx_file_list_free(null_mut());
    }
    assert_eq!(task, sentinel());
    assert_eq!(term, sentinel());
    assert_eq!(stream, sentinel());
    assert_eq!(chunk, sentinel());
    assert_eq!(task_info, sentinel());
    assert_eq!(term_info, sentinel());
    assert_eq!(task_list, sentinel());
    assert_eq!(term_list, sentinel());
    assert_eq!(event, sentinel());
    assert_eq!(buffer, sentinel());
    assert_eq!(file_info, sentinel());
    assert_eq!(file_list, sentinel());
}

#[test]
fn the_no_timeout_constant_is_in_the_header() {
    assert_eq!(SBX_NO_TIMEOUT, u64::MAX);
    let header = include_str!("../../include/sandbox.h");
    assert!(header.contains("#define SBX_NO_TIMEOUT UINT64_MAX\n"));
    for name in [
        "SBX_TASK_STREAM_STDERR = 2",
        "SBX_PROCESS_STATE_KILLED = 3",
        "#define SBX_EVENT_KIND_EXIT 3\n",
        "#define SBX_EVENT_KIND_LIFECYCLE 16\n",
    ] {
        assert!(header.contains(name), "{name}");
    }
}

#[test]
fn snapshot_fork_diff_merge_exports_check_their_arguments() {
    let ctx = new_context();
    let mut out_report: *mut sbx_snapshot_report = sentinel();
    let mut out_list: *mut sbx_snapshot_list = sentinel();
    let mut out_fork: *mut sbx_fork = sentinel();
    let mut out_diff: *mut sbx_diff = sentinel();
    let mut out_merge: *mut sbx_merge_report = sentinel();
    let mut out_session: *mut sbx_session = sentinel();
    let mut out_reaped: *mut sbx_string_list = sentinel();
    // SAFETY: every pointer is NULL, live, or a writable local; failures write nothing.
    unsafe {
        let name = c"base".as_ptr();
        fails_with(
            check(|e| sbx_session_snapshot(null(), name, &mut out_report, e)),
            sbx_status::NullArgument,
            "session",
        );
        fails_with(check(|e| sbx_context_snapshots(null(), &mut out_list, e)), sbx_status::NullArgument, "context");
        fails_with(check(|e| sbx_context_snapshots(ctx, null_mut(), e)), sbx_status::NullArgument, "out");
        fails_with(check(|e| sbx_context_remove_snapshot(ctx, null(), e)), sbx_status::NullArgument, "name");
        fails_with(check(|e| sbx_context_remove_snapshot(null(), name, e)), sbx_status::NullArgument, "context");
        fails_with(check(|e| sbx_context_remove_copy(ctx, null(), e)), sbx_status::NullArgument, "path");
        fails_with(
            check(|e| sbx_context_remove_copy(null(), c"/tmp/copy".as_ptr(), e)),
            sbx_status::NullArgument,
            "context",
        );
        // Paths are checked before anything is looked up.
        fails_with(check(|e| sbx_context_remove_copy(ctx, c"".as_ptr(), e)), sbx_status::InvalidArgument, "path");
        fails_with(
            check(|e| sbx_context_remove_copy(ctx, c"relative/copy".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "not an absolute path",
        );
        fails_with(check(|e| sbx_context_reap_snapshots(ctx, null_mut(), e)), sbx_status::NullArgument, "reaped");
        fails_with(
            check(|e| sbx_context_reap_snapshots(null(), &mut out_reaped, e)),
            sbx_status::NullArgument,
            "context",
        );
        fails_with(
            check(|e| sbx_session_fork(null(), 2, c"/tmp".as_ptr(), null(), &mut out_fork, e)),
            sbx_status::NullArgument,
            "session",
        );
        fails_with(
            check(|e| sbx_session_fork_with_template(null(), 2, c"/tmp".as_ptr(), null(), null(), &mut out_fork, e)),
            sbx_status::NullArgument,
            "session",
        );
        fails_with(check(|e| sbx_session_diff(null(), null(), &mut out_diff, e)), sbx_status::NullArgument, "session");
        fails_with(
            check(|e| sbx_session_merge(null(), null(), c"/tmp".as_ptr(), null(), false, &mut out_merge, e)),
            sbx_status::NullArgument,
            "from",
        );
        fails_with(check(|e| sbx_fork_child(null(), 0, &mut out_session, e)), sbx_status::NullArgument, "fork");

        // Names and dirs are checked when set.
        let mut spec = null_mut();
        check(|e| sbx_session_spec_new(c"a".as_ptr(), c"/tmp/x".as_ptr(), &mut spec, e)).unwrap();
        fails_with(check(|e| sbx_session_spec_set_snapshot(spec, null(), e)), sbx_status::NullArgument, "snapshot");
        fails_with(
            check(|e| sbx_session_spec_set_snapshot(spec, c"".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "snapshot",
        );
        fails_with(
            check(|e| sbx_session_spec_set_snapshot(spec, c"../x".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "snapshot",
        );
        check(|e| sbx_session_spec_set_snapshot(spec, name, e)).unwrap();
        sbx_session_spec_free(spec);
        let cfg = new_config();
        fails_with(
            check(|e| sbx_config_set_snapshot_dir(cfg, c"relative".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "snapshot dir",
        );
        check(|e| sbx_config_set_snapshot_dir(cfg, c"/tmp/snapshots".as_ptr(), e)).unwrap();
        fails_with(
            check(|e| sbx_config_set_copy_dir(cfg, c"relative".as_ptr(), e)),
            sbx_status::InvalidArgument,
            "copy dir",
        );
        fails_with(check(|e| sbx_config_set_copy_dir(cfg, c"".as_ptr(), e)), sbx_status::InvalidArgument, "copy dir");
        fails_with(check(|e| sbx_config_set_copy_dir(cfg, null(), e)), sbx_status::NullArgument, "copy dir");
        fails_with(
            check(|e| sbx_config_set_copy_dir(null_mut(), c"/tmp/copies".as_ptr(), e)),
            sbx_status::NullArgument,
            "config",
        );
        check(|e| sbx_config_set_copy_dir(cfg, c"/tmp/copies".as_ptr(), e)).unwrap();
        sbx_config_free(cfg);

        // Getters of NULL handles return neutral values; frees of NULL are no-ops.
        assert!(sbx_snapshot_report_name(null()).is_null() && sbx_snapshot_report_json(null()).is_null());
        assert_eq!(sbx_snapshot_report_retaken_count(null()), 0);
        assert!(sbx_snapshot_report_retaken(null(), 0).is_null());
        assert_eq!((sbx_snapshot_report_files(null()), sbx_snapshot_report_took_us(null())), (0, 0));
        assert_eq!(sbx_snapshot_list_len(null()), 0);
        assert!(sbx_snapshot_list_name(null(), 0).is_null());
        assert_eq!(sbx_fork_count(null()), 0);
        assert!(sbx_fork_child_id(null(), 0).is_null() && sbx_fork_snapshot_report(null()).is_null());
        assert_eq!((sbx_diff_len(null()), sbx_diff_size(null(), 0)), (0, 0));
        assert!(sbx_diff_path(null(), 0).is_null() && sbx_diff_kind(null(), 0).is_null());
        assert_eq!(sbx_merge_report_applied(null()), 0);
        sbx_snapshot_report_free(null_mut());
        sbx_snapshot_list_free(null_mut());
        sbx_fork_free(null_mut());
        sbx_diff_free(null_mut());
        sbx_merge_report_free(null_mut());
        sbx_context_free(ctx);
    }
    assert_eq!(out_report, sentinel());
    assert_eq!(out_list, sentinel());
    assert_eq!(out_fork, sentinel());
    assert_eq!(out_diff, sentinel());
    assert_eq!(out_merge, sentinel());
    assert_eq!(out_session, sentinel());
    assert_eq!(out_reaped, sentinel());
}

#[test]
fn a_spec_without_a_working_dir_needs_a_snapshot() {
    let ctx = new_context();
    let mut out_session: *mut sbx_session = sentinel();
    // SAFETY: live context and specs, writable out-pointers; each spec freed once.
    unsafe {
        // NULL and "" leave the working dir unset: a managed copy with a snapshot...
        for dir in [null(), c"".as_ptr()] {
            let mut spec = null_mut();
            check(|e| sbx_session_spec_new(c"managed".as_ptr(), dir, &mut spec, e)).unwrap();
            // ...and without one, start refuses before asking podman anything.
            fails_with(
                check(|e| sbx_context_start(ctx, spec, &mut out_session, e)),
                sbx_status::InvalidArgument,
                "working dir",
            );
            check(|e| sbx_session_spec_set_snapshot(spec, c"base".as_ptr(), e)).unwrap();
            sbx_session_spec_free(spec);
        }
        // The id is still checked at once.
        let mut spec: *mut sbx_session_spec = sentinel();
        fails_with(
            check(|e| sbx_session_spec_new(c"../x".as_ptr(), null(), &mut spec, e)),
            sbx_status::InvalidArgument,
            "id",
        );
        assert_eq!(spec, sentinel());
        sbx_context_free(ctx);
    }
    assert_eq!(out_session, sentinel());
}

#[test]
fn a_relative_copy_dir_in_the_environment_is_a_config_error() {
    // Run in a child process so the variable does not leak into other tests.
    if std::env::var_os("SBX_TEST_CHILD").is_some() {
        let mut cfg: *mut sbx_config = sentinel();
        // SAFETY: writable out-pointer.
        let r = check(|e| unsafe { sbx_config_from_env(&mut cfg, e) });
        fails_with(r, sbx_status::Config, "copy_dir");
        assert_eq!(cfg, sentinel());
        return;
    }
    let me = std::env::current_exe().unwrap();
    let status = std::process::Command::new(me)
        .args(["--exact", "a_relative_copy_dir_in_the_environment_is_a_config_error", "--nocapture"])
        .env("SBX_TEST_CHILD", "1")
        .env("SANDBOX_COPY_DIR", "relative/copies")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn removing_a_copy_no_snapshot_has_is_not_found() {
    // A snapshot dir of its own: no snapshot, so no copy anywhere.
    let snapshots = tempfile::tempdir().unwrap();
    let c_snapshots = std::ffi::CString::new(snapshots.path().to_str().unwrap()).unwrap();
    let c_scope = std::ffi::CString::new(format!("ffi-copies-{}", std::process::id())).unwrap();
    let c_copy = std::ffi::CString::new(snapshots.path().join("no-such-copy").to_str().unwrap()).unwrap();
    let (mut cfg, mut ctx) = (null_mut(), null_mut());
    // SAFETY: valid strings and out-pointers; the config and context are freed once.
    unsafe {
        check(|e| sbx_config_from_env(&mut cfg, e)).unwrap();
        check(|e| sbx_config_set_scope(cfg, c_scope.as_ptr(), e)).unwrap();
        check(|e| sbx_config_set_snapshot_dir(cfg, c_snapshots.as_ptr(), e)).unwrap();
        check(|e| sbx_context_new(cfg, &mut ctx, e)).unwrap();
        sbx_config_free(cfg);
        let r = check(|e| sbx_context_remove_copy(ctx, c_copy.as_ptr(), e));
        sbx_context_free(ctx);
        fails_with(r, sbx_status::NotFound, "no-such-copy");
    }
}
