//! What only terminals have, through the C ABI against real podman: `stty size`, resize,
//! reads with a timeout, writes, a reader blocked in a terminal read unblocked by close,
//! a cancel token or closing the session; attach replaying the scrollback; the typed
//! errors of those. What terminals share with tasks (wait, kill, list, attach, close) is
//! checked for both in `processes.rs`. Each test has its own scope and removes what it
//! made, even when it fails.

mod support;

use std::ffi::CString;
use std::ptr::{null, null_mut};
use std::time::Duration;

use sandbox::*;
use support::{Scope, Shared, check, chunk_bytes, read_terminal_until, sentinel, text};

fn open(s: *const sbx_session, rows: u16, cols: u16, command: Option<&str>) -> *mut sbx_terminal {
    let mut spec = null_mut();
    let mut t = null_mut();
    // SAFETY: live session; the spec is freed once.
    unsafe {
        check(|e| sbx_terminal_spec_new(rows, cols, &mut spec, e)).unwrap();
        if let Some(c) = command {
            let c = CString::new(c).unwrap();
            check(|e| sbx_terminal_spec_set_shell_command(spec, c.as_ptr(), e)).unwrap();
        }
        check(|e| sbx_session_open_terminal(s, spec, &mut t, e)).expect("open terminal");
        sbx_terminal_spec_free(spec);
    }
    t
}

fn write(t: *const sbx_terminal, bytes: &[u8]) {
    // SAFETY: live terminal; the bytes live for the call.
    check(|e| unsafe { sbx_terminal_write(t, bytes.as_ptr(), bytes.len(), e) }).unwrap();
}

/// Reads until nothing more comes within a short wait; returns the next offset.
fn drain(t: *const sbx_terminal, mut offset: u64) -> u64 {
    loop {
        let mut c = null_mut();
        // SAFETY: live terminal; the chunk is freed once.
        match check(|e| unsafe { sbx_terminal_read(t, offset, 65536, 300, null(), &mut c, e) }) {
            Ok(()) => unsafe {
                offset = sbx_output_chunk_next_offset(c);
                sbx_output_chunk_free(c);
            },
            Err(f) if f.status == sbx_status::Timeout => return offset,
            Err(f) => panic!("{f:?}"),
        }
    }
}

/// Everything the terminal printed, from offset 0 until its output is complete (which
/// may be a moment after its program was reported ended).
fn read_to_end(t: *const sbx_terminal) -> Vec<u8> {
    let (mut out, mut offset) = (Vec::new(), 0);
    loop {
        let mut c = null_mut();
        // SAFETY: live terminal; the chunk is freed once.
        unsafe {
            check(|e| sbx_terminal_read(t, offset, 4096, SBX_NO_TIMEOUT, null(), &mut c, e)).unwrap();
            out.extend(chunk_bytes(c));
            offset = sbx_output_chunk_next_offset(c);
            let finished = sbx_output_chunk_finished(c);
            sbx_output_chunk_free(c);
            if finished {
                return out;
            }
        }
    }
}

#[test]
fn stty_size_resize_timeout_kill_wait() {
    let sc = Scope::new("term");
    let (_, s) = sc.start("term");
    // SAFETY: live handles, each freed once.
    unsafe {
        let t = open(s, 24, 80, None);
        let mut offset = 0;
        write(t, b"stty size\n");
        read_terminal_until(t, &mut offset, "24 80");
        check(|e| sbx_terminal_resize(t, 40, 120, e)).unwrap();
        let mut info = null_mut();
        check(|e| sbx_terminal_get_info(t, &mut info, e)).unwrap();
        assert_eq!((sbx_terminal_info_rows(info), sbx_terminal_info_cols(info)), (40, 120));
        assert_eq!(sbx_terminal_info_state(info), sbx_process_state::Running);
        assert!(sbx_terminal_info_pid(info) > 0);
        assert_eq!(sbx_terminal_info_ended_unix_ms(info), -1);
        assert_eq!(sbx_terminal_info_scrollback(info), 1024 * 1024);
        sbx_terminal_info_free(info);
        write(t, b"stty size\n");
        read_terminal_until(t, &mut offset, "40 120");

        // Nothing more to read: a read with a timeout says so, and writes nothing.
        let offset = drain(t, offset);
        let mut c: *mut sbx_output_chunk = sentinel();
        let f = check(|e| sbx_terminal_read(t, offset, 4096, 200, null(), &mut c, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "{f:?}");
        assert_eq!(c, sentinel());
        check(|e| sbx_terminal_read(t, offset, 4096, 0, null(), &mut c, e)).unwrap();
        assert!(chunk_bytes(c).is_empty(), "timeout 0 answers at once");
        sbx_output_chunk_free(c);

        let mut info = null_mut();
        check(|e| sbx_terminal_kill(t, 9, e)).unwrap();
        check(|e| sbx_terminal_wait(t, SBX_NO_TIMEOUT, null(), &mut info, e)).unwrap();
        sbx_terminal_info_free(info);
        let f = check(|e| sbx_terminal_write(t, b"x".as_ptr(), 1, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotRunning, "{f:?}");
        // After the end, a waiting read returns at once, finished.
        let mut c = null_mut();
        check(|e| sbx_terminal_read(t, offset, 4096, SBX_NO_TIMEOUT, null(), &mut c, e)).unwrap();
        assert!(sbx_output_chunk_finished(c));
        sbx_output_chunk_free(c);
        sbx_terminal_free(t);
        sc.stop(s);
    }
}

#[test]
fn a_reader_blocked_in_a_terminal_read_is_unblocked_by_close() {
    let sc = Scope::new("termclose");
    let (_, s) = sc.start("termclose");
    // SAFETY: live handles; threads are joined before frees.
    unsafe {
        let t = open(s, 24, 80, Some("exec sleep 60"));
        let offset = drain(t, 0);
        let shared = Shared(t);
        let reader = std::thread::spawn(move || {
            let shared = shared;
            let mut c = null_mut();
            let r = check(|e| sbx_terminal_read(shared.0, offset, 4096, SBX_NO_TIMEOUT, null(), &mut c, e));
            if r.is_ok() {
                sbx_output_chunk_free(c);
            }
            r
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!reader.is_finished(), "the read waits for output");
        sbx_terminal_close(t);
        let f = reader.join().unwrap().unwrap_err();
        assert_eq!(f.status, sbx_status::Closed, "{f:?}");
        sbx_terminal_close(t);
        let f = check(|e| sbx_terminal_write(t, b"x".as_ptr(), 1, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Closed);
        let id = CString::new(text(sbx_terminal_id(t))).unwrap();
        sbx_terminal_free(t);

        // The program runs on; a new handle finds it and a cancel token wakes its reader.
        let mut again = null_mut();
        check(|e| sbx_session_attach_terminal(s, id.as_ptr(), &mut again, e)).unwrap();
        let mut token = null_mut();
        check(|e| sbx_cancel_token_new(&mut token, e)).unwrap();
        let (st, tok) = (Shared(again), Shared(token));
        let reader = std::thread::spawn(move || {
            let (st, tok) = (st, tok);
            let mut c = null_mut();
            check(|e| sbx_terminal_read(st.0, offset, 4096, SBX_NO_TIMEOUT, tok.0, &mut c, e))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_cancel_token_cancel(token);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Cancelled);
        sbx_cancel_token_free(token);

        // Closing the session wakes readers on its terminals too.
        let shared = Shared(again);
        let reader = std::thread::spawn(move || {
            let shared = shared;
            let mut c = null_mut();
            check(|e| sbx_terminal_read(shared.0, offset, 4096, SBX_NO_TIMEOUT, null(), &mut c, e))
        });
        std::thread::sleep(Duration::from_millis(200));
        sbx_session_close(s);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Closed);
        sbx_terminal_free(again);
        sbx_session_free(s);
    }
}

#[test]
fn attach_replays_the_scrollback_and_typed_errors() {
    let sc = Scope::new("termlist");
    let (_, s) = sc.start("termlist");
    // SAFETY: live handles, each freed once.
    unsafe {
        let t = open(s, 10, 30, Some("printf 'done\\n'; exit 3"));
        let mut info = null_mut();
        check(|e| sbx_terminal_wait(t, SBX_NO_TIMEOUT, null(), &mut info, e)).unwrap();
        assert_eq!(sbx_terminal_info_state(info), sbx_process_state::Exited);
        assert_eq!(sbx_terminal_info_exit_code(info), 3);
        assert!(text(sbx_terminal_info_command(info)).contains("printf"));
        sbx_terminal_info_free(info);
        let id = text(sbx_terminal_id(t));

        let mut list = null_mut();
        check(|e| sbx_session_list_terminals(s, &mut list, e)).unwrap();
        assert_eq!(sbx_terminal_list_len(list), 1);
        let row = sbx_terminal_list_get(list, 0);
        assert_eq!(text(sbx_terminal_info_id(row)), id);
        assert_eq!((sbx_terminal_info_rows(row), sbx_terminal_info_cols(row)), (10, 30));
        assert!(sbx_terminal_list_get(list, 1).is_null());
        sbx_terminal_list_free(list);

        // A second handle replays the scrollback from offset 0.
        let c_id = CString::new(id).unwrap();
        let mut again = null_mut();
        check(|e| sbx_session_attach_terminal(s, c_id.as_ptr(), &mut again, e)).unwrap();
        assert_eq!(read_to_end(again), b"done\r\n", "the PTY turns \\n into \\r\\n");
        sbx_terminal_free(again);
        let mut c = null_mut();

        let mut other: *mut sbx_terminal = sentinel();
        for (rows, cols) in [(0, 80), (24, 0), (1001, 80)] {
            let f = check(|e| sbx_terminal_resize(t, rows, cols, e)).unwrap_err();
            assert_eq!(f.status, sbx_status::InvalidArgument, "{rows}x{cols}");
        }
        let f = check(|e| sbx_terminal_read(t, 0, 0, 0, null(), &mut c, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        let mut spec = null_mut();
        check(|e| sbx_terminal_spec_new(5, 5, &mut spec, e)).unwrap();
        check(|e| sbx_terminal_spec_set_scrollback(spec, 1, e)).unwrap();
        let f = check(|e| sbx_session_open_terminal(s, spec, &mut other, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        sbx_terminal_spec_free(spec);
        assert_eq!(other, sentinel());

        // argv, environment and cwd reach the program.
        check(|e| sbx_terminal_spec_new(5, 40, &mut spec, e)).unwrap();
        let argv = [c"sh".as_ptr(), c"-c".as_ptr(), c"echo \"$GREETING:$TERM:$(pwd)\"".as_ptr()];
        check(|e| sbx_terminal_spec_set_argv(spec, argv.as_ptr(), 3, e)).unwrap();
        check(|e| sbx_terminal_spec_add_env(spec, c"GREETING".as_ptr(), c"hi".as_ptr(), e)).unwrap();
        check(|e| sbx_terminal_spec_set_cwd(spec, c"/tmp".as_ptr(), e)).unwrap();
        let mut t2 = null_mut();
        check(|e| sbx_session_open_terminal(s, spec, &mut t2, e)).unwrap();
        sbx_terminal_spec_free(spec);
        let mut offset = 0;
        read_terminal_until(t2, &mut offset, "hi:xterm-256color:/tmp");
        sbx_terminal_free(t2);
        sbx_terminal_free(t);
        sc.stop(s);
    }
}
