//! What only background tasks have, through the C ABI against real podman: their info,
//! output by stream (merged, stdout, stderr, tail, waiting reads), spool caps, argv,
//! environment and cwd, and the typed errors of those. What tasks share with terminals
//! (wait, kill, list, attach, close) is checked for both in `processes.rs`. Each test has
//! its own scope and removes what it made, even when it fails.

mod support;

use std::ffi::CString;
use std::ptr::{null, null_mut};

use sandbox::*;
use support::{Failure, Scope, check, chunk_bytes, sentinel, text};

fn shell_spec(line: &str) -> *mut sbx_task_spec {
    let c = CString::new(line).unwrap();
    let mut spec = null_mut();
    // SAFETY: valid string and out-pointer.
    check(|e| unsafe { sbx_task_spec_new_shell(c.as_ptr(), &mut spec, e) }).unwrap();
    spec
}

fn spawn(s: *const sbx_session, line: &str) -> *mut sbx_task {
    let spec = shell_spec(line);
    let mut t = null_mut();
    // SAFETY: live session and spec; the spec is freed once.
    unsafe {
        check(|e| sbx_session_spawn_task(s, spec, &mut t, e)).expect("spawn");
        sbx_task_spec_free(spec);
    }
    t
}

/// Everything `stream` of a task ever printed: waiting reads until the output is
/// complete. (The agent reports a task ended as soon as its process exits, possibly
/// before it has drained the pipes, so a read right after a wait may not be complete.)
fn read_all(t: *const sbx_task, stream: sbx_task_stream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let mut c = null_mut();
        // SAFETY: live task; the chunk is freed once.
        check(|e| unsafe { sbx_task_output(t, stream as u32, offset, 1 << 20, SBX_NO_TIMEOUT, null(), &mut c, e) })
            .expect("waiting read");
        out.extend(chunk_bytes(c));
        // SAFETY: live chunk, freed once.
        let finished = unsafe {
            offset = sbx_output_chunk_next_offset(c);
            let f = sbx_output_chunk_finished(c);
            sbx_output_chunk_free(c);
            f
        };
        if finished {
            return out;
        }
    }
}

fn wait(t: *const sbx_task, timeout_ms: u64) -> Result<*mut sbx_task_info, Failure> {
    let mut info = null_mut();
    // SAFETY: live task, writable out-pointer.
    check(|e| unsafe { sbx_task_wait(t, timeout_ms, null(), &mut info, e) })?;
    Ok(info)
}

#[test]
fn spawn_info_and_output_by_stream() {
    let sc = Scope::new("task");
    let (_, s) = sc.start("task");
    // SAFETY: live handles, each freed once.
    unsafe {
        let t = spawn(s, "echo out; echo err >&2; printf 'x\\000y'; exit 4");
        let id = text(sbx_task_id(t));
        assert!(!id.is_empty());
        let info = wait(t, SBX_NO_TIMEOUT).unwrap();
        assert_eq!(sbx_task_info_state(info), sbx_process_state::Exited);
        assert_eq!(sbx_task_info_exit_code(info), 4);
        assert_eq!(sbx_task_info_signal(info), 0);
        assert_eq!(text(sbx_task_info_id(info)), id);
        assert!(text(sbx_task_info_command(info)).contains("echo out"));
        assert!(sbx_task_info_pid(info) > 0);
        assert!(sbx_task_info_started_unix_ms(info) > 0);
        assert!(sbx_task_info_ended_unix_ms(info) >= sbx_task_info_started_unix_ms(info));
        assert_eq!(sbx_task_info_spool_cap(info), 8 * 1024 * 1024);
        sbx_task_info_free(info);

        assert_eq!(read_all(t, sbx_task_stream::Stdout), b"out\nx\0y");
        assert_eq!(read_all(t, sbx_task_stream::Stderr), b"err\n");
        assert_eq!(read_all(t, sbx_task_stream::Merged).len(), 11);

        // Offsets: read from the middle, then the chunk's getters.
        let mut c = null_mut();
        check(|e| sbx_task_output(t, sbx_task_stream::Stdout as u32, 4, 2, 0, null(), &mut c, e)).unwrap();
        assert_eq!(chunk_bytes(c), b"x\0");
        assert_eq!(sbx_output_chunk_offset(c), 4);
        assert_eq!(sbx_output_chunk_next_offset(c), 6);
        assert_eq!(sbx_output_chunk_end(c), 7);
        assert_eq!(sbx_output_chunk_window_start(c), 0);
        assert_eq!(sbx_output_chunk_lost(c), 0);
        assert!(!sbx_output_chunk_finished(c), "more bytes remain after this chunk");
        assert_eq!(sbx_output_chunk_text_len(c), 2);
        sbx_output_chunk_free(c);
        check(|e| sbx_task_tail(t, sbx_task_stream::Stdout as u32, 3, &mut c, e)).unwrap();
        assert_eq!(chunk_bytes(c), b"x\0y");
        assert!(sbx_output_chunk_finished(c));
        sbx_output_chunk_free(c);

        sbx_task_free(t);
        sc.stop(s);
    }
}

#[test]
fn waiting_reads_time_out_and_end_with_the_task() {
    let sc = Scope::new("taskwait");
    let (_, s) = sc.start("taskwait");
    // SAFETY: live handles, each freed once.
    unsafe {
        let t = spawn(s, "echo started; exec sleep 60");
        // The first line arrives through a waiting read.
        let mut c = null_mut();
        check(|e| sbx_task_output(t, sbx_task_stream::Merged as u32, 0, 100, SBX_NO_TIMEOUT, null(), &mut c, e))
            .unwrap();
        assert_eq!(chunk_bytes(c), b"started\n");
        let next = sbx_output_chunk_next_offset(c);
        sbx_output_chunk_free(c);
        let mut untouched: *mut sbx_output_chunk = sentinel();
        let f = check(|e| sbx_task_output(t, 0, next, 100, 200, null(), &mut untouched, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "{f:?}");
        assert_eq!(untouched, sentinel());
        // Without a wait, no bytes and not finished.
        check(|e| sbx_task_output(t, 0, next, 100, 0, null(), &mut c, e)).unwrap();
        assert!(chunk_bytes(c).is_empty());
        assert!(!sbx_output_chunk_finished(c));
        sbx_output_chunk_free(c);
        check(|e| sbx_task_kill(t, 9, e)).unwrap();
        check(|e| sbx_task_output(t, 0, next, 100, SBX_NO_TIMEOUT, null(), &mut c, e)).unwrap();
        assert!(sbx_output_chunk_finished(c), "a finished task never makes a read wait");
        sbx_output_chunk_free(c);
        sbx_task_free(t);
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let sc = Scope::new("taskerr");
    let (_, s) = sc.start("taskerr");
    // SAFETY: live handles, each freed once.
    unsafe {
        let t = spawn(s, "sleep 60");
        let mut c: *mut sbx_output_chunk = sentinel();
        let f = check(|e| sbx_task_output(t, 7, 0, 10, 0, null(), &mut c, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument);
        assert!(f.message.contains("stream"), "{}", f.message);
        let f = check(|e| sbx_task_output(t, 0, 0, 0, 0, null(), &mut c, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        let f = check(|e| sbx_task_tail(t, 0, 0, &mut c, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument);
        assert_eq!(c, sentinel());
        let mut other: *mut sbx_task = sentinel();
        let spec = shell_spec("true");
        check(|e| sbx_task_spec_set_spool_cap(spec, 1, e)).unwrap();
        let f = check(|e| sbx_session_spawn_task(s, spec, &mut other, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        assert!(f.message.contains("spool cap"), "{}", f.message);
        sbx_task_spec_free(spec);
        assert_eq!(other, sentinel());

        // Environment and cwd reach the task.
        let argv = [c"sh".as_ptr(), c"-c".as_ptr(), c"echo $GREETING; pwd".as_ptr()];
        let mut spec = null_mut();
        check(|e| sbx_task_spec_new(argv.as_ptr(), 3, &mut spec, e)).unwrap();
        check(|e| sbx_task_spec_add_env(spec, c"GREETING".as_ptr(), c"hi there".as_ptr(), e)).unwrap();
        check(|e| sbx_task_spec_set_cwd(spec, c"/tmp".as_ptr(), e)).unwrap();
        let mut t2 = null_mut();
        check(|e| sbx_session_spawn_task(s, spec, &mut t2, e)).unwrap();
        sbx_task_spec_free(spec);
        sbx_task_info_free(wait(t2, SBX_NO_TIMEOUT).unwrap());
        assert_eq!(read_all(t2, sbx_task_stream::Stdout), b"hi there\n/tmp\n");
        sbx_task_free(t2);

        check(|e| sbx_task_kill(t, 9, e)).unwrap();
        sbx_task_free(t);
        check(|e| sbx_session_stop(s, e)).unwrap();
        sbx_session_free(s);
    }
}
