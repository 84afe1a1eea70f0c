//! The session's event stream through the C ABI against real podman: events of file
//! changes and processes, the pollable descriptor, resuming by position, the end after
//! the stop, resource samples, waiting for a port, cancel and close waking a blocked
//! read, and typed errors for bad input. Each test has its own scope and removes what it
//! made, even when it fails.

mod support;

use std::ffi::{CStr, CString, c_char};
use std::os::fd::BorrowedFd;
use std::ptr::{null, null_mut};
use std::time::Duration;

use sandbox::*;
use support::{Failure, Scope, Shared, check, sentinel, sh, text, wait_until};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// An event, copied out of its handle.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    seq: u64,
    time_ms: u64,
    kind: String,
    action: String,
    path: Option<String>,
    from: Option<String>,
    process: Option<String>,
    id: Option<String>,
    command: Option<String>,
    address: Option<String>,
    pid: i64,
    port: i32,
    code: Option<i32>,
    signal: Option<i32>,
    dir: bool,
    dropped: u64,
    json: serde_json::Value,
}

fn optional(p: *const c_char) -> Option<String> {
    // SAFETY: NULL or a string borrowed from an event that is still live.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Copies the event `e` and frees it.
///
/// # Safety
/// `e` is a live event, not used after.
unsafe fn copied(e: *mut sbx_event) -> Event {
    // SAFETY: live by contract; freed once, after the copy.
    unsafe {
        let (mut code, mut signal) = (0, 0);
        let event = Event {
            seq: sbx_event_seq(e),
            time_ms: sbx_event_time_ms(e),
            kind: text(sbx_event_kind(e)),
            action: text(sbx_event_action(e)),
            path: optional(sbx_event_path(e)),
            from: optional(sbx_event_from(e)),
            process: optional(sbx_event_process(e)),
            id: optional(sbx_event_id(e)),
            command: optional(sbx_event_command(e)),
            address: optional(sbx_event_address(e)),
            pid: sbx_event_pid(e),
            port: sbx_event_port(e),
            code: sbx_event_code(e, &mut code).then_some(code),
            signal: sbx_event_signal(e, &mut signal).then_some(signal),
            dir: sbx_event_is_dir(e),
            dropped: sbx_event_dropped(e),
            json: serde_json::from_str(&text(sbx_event_json(e))).expect("the event's JSON parses"),
        };
        assert_eq!(sbx_event_code(e, null_mut()), event.code.is_some(), "out may be NULL");
        sbx_event_free(e);
        event
    }
}

fn open(s: *const sbx_session, from: u64, kinds: u32, prefix: Option<&str>) -> Result<*mut sbx_event_stream, Failure> {
    let prefix = prefix.map(|p| CString::new(p).unwrap());
    let mut st = null_mut();
    // SAFETY: live session, NULL or a live string, writable out-pointer.
    check(|e| unsafe {
        sbx_session_events(s, from, kinds, prefix.as_ref().map_or(null(), |p| p.as_ptr()), &mut st, e)
    })?;
    Ok(st)
}

/// The next event (`None` once the stream has ended).
fn next(st: *const sbx_event_stream, timeout_ms: u64) -> Result<Option<Event>, Failure> {
    let mut ev = null_mut();
    // SAFETY: live stream, writable out-pointer; the event is copied and freed.
    check(|e| unsafe { sbx_event_stream_next(st, timeout_ms, null(), &mut ev, e) })?;
    // SAFETY: a new event or NULL.
    Ok((!ev.is_null()).then(|| unsafe { copied(ev) }))
}

/// Events until none comes within `quiet_ms`.
fn drain(st: *const sbx_event_stream, quiet_ms: u64) -> Vec<Event> {
    let mut got = Vec::new();
    loop {
        match next(st, quiet_ms) {
            Ok(Some(e)) => got.push(e),
            Err(f) if f.status == sbx_status::Timeout => return got,
            other => panic!("unexpected {other:?} after {got:?}"),
        }
    }
}

/// Whether `fd` is readable (through epoll) within `ms`.
fn readable_within(fd: i32, ms: u64) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // SAFETY: the stream that owns `fd` keeps it open (the same pipe) for this whole
        // call, which drops the registration before it returns.
        let watched = unsafe {
            let borrowed = BorrowedFd::borrow_raw(fd);
            AsyncFd::register_with_interest(borrowed, Interest::READABLE).map_err(|e| e.to_string()).unwrap()
        };
        matches!(tokio::time::timeout(Duration::from_millis(ms), watched.readable()).await, Ok(Ok(_)))
    })
}

/// What `/proc/self/fd/<fd>` names now (e.g. `pipe:[1234]`), if it is open.
fn fd_target(fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok().map(|p| p.display().to_string())
}

fn spawn(s: *const sbx_session, line: &str) -> *mut sbx_task {
    let c = CString::new(line).unwrap();
    let (mut spec, mut t) = (null_mut(), null_mut());
    // SAFETY: valid string, live session, writable out-pointers; the spec is freed once.
    unsafe {
        check(|e| sbx_task_spec_new_shell(c.as_ptr(), &mut spec, e)).unwrap();
        check(|e| sbx_session_spawn_task(s, spec, &mut t, e)).expect("spawn");
        sbx_task_spec_free(spec);
    }
    t
}

fn new_token() -> *mut sbx_cancel_token {
    let mut token = null_mut();
    // SAFETY: writable out-pointer.
    check(|e| unsafe { sbx_cancel_token_new(&mut token, e) }).unwrap();
    token
}

/// The working dir as the session sees it (the scope's dir, symlinks resolved).
fn root(sc: &Scope) -> String {
    sc.dir.path().canonicalize().unwrap().display().to_string()
}

#[test]
fn null_handles_and_arguments_are_reported() {
    let mut st: *mut sbx_event_stream = sentinel();
    let mut ev: *mut sbx_event = sentinel();
    // SAFETY: NULL handles and writable locals; failures write nothing.
    unsafe {
        let f = check(|e| sbx_session_events(null(), 0, 0, null(), &mut st, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        assert!(f.message.contains("session"), "{}", f.message);
        let f = check(|e| sbx_event_stream_next(null(), 0, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        assert!(f.message.contains("stream"), "{}", f.message);
        let f = check(|e| sbx_session_watch(null(), c"/tmp".as_ptr(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        let f = check(|e| sbx_session_stats(null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        let f = check(|e| sbx_session_wait_for_port(null(), 80, 0, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        assert_eq!(sbx_event_stream_fd(null()), -1);
        assert_eq!(sbx_event_stream_position(null()), 0);
        sbx_event_stream_close(null());
        sbx_event_stream_free(null_mut());
        assert_eq!(sbx_event_seq(null()), 0);
        assert_eq!(sbx_event_time_ms(null()), 0);
        for getter in [
            sbx_event_kind,
            sbx_event_action,
            sbx_event_path,
            sbx_event_from,
            sbx_event_process,
            sbx_event_id,
            sbx_event_command,
            sbx_event_reason,
            sbx_event_address,
            sbx_event_host,
            sbx_event_json,
        ] {
            assert!(getter(null()).is_null());
        }
        assert_eq!(sbx_event_pid(null()), -1);
        assert_eq!(sbx_event_port(null()), -1);
        let mut n = 7;
        assert!(!sbx_event_code(null(), &mut n));
        assert!(!sbx_event_signal(null(), &mut n));
        assert_eq!(n, 7);
        assert!(!sbx_event_is_dir(null()));
        assert_eq!(sbx_event_dropped(null()), 0);
        let (mut bytes_in, mut bytes_out) = (5u64, 6u64);
        assert!(!sbx_event_bytes(null(), &mut bytes_in, &mut bytes_out));
        assert_eq!((bytes_in, bytes_out), (5, 6), "untouched");
        sbx_event_free(null_mut());
    }
    assert_eq!(st, sentinel());
    assert_eq!(ev, sentinel());
}

#[test]
fn bad_input_gets_typed_errors() {
    let sc = Scope::new("evbad");
    let (_, s) = sc.start("evbad");
    let mut st: *mut sbx_event_stream = sentinel();
    let mut ev: *mut sbx_event = sentinel();
    // SAFETY: live handles, each freed once; failures write nothing.
    unsafe {
        let f = check(|e| sbx_session_events(s, 0, 0, null(), null_mut(), e)).unwrap_err();
        assert_eq!((f.status, f.message.contains("out")), (sbx_status::NullArgument, true), "{f:?}");
        let f = check(|e| sbx_session_events(s, 1, 64, null(), &mut st, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        assert!(f.message.contains("kinds"), "{}", f.message);
        for prefix in [c"src", c""] {
            let f = check(|e| sbx_session_events(s, 1, 0, prefix.as_ptr(), &mut st, e)).unwrap_err();
            assert_eq!(f.status, sbx_status::InvalidArgument, "{prefix:?}: {f:?}");
            assert!(f.message.contains("path prefix"), "{}", f.message);
        }
        assert_eq!(st, sentinel());

        // A `from` beyond the journal: the stream says so, on every read, at once.
        let future = open(s, 1_000_000, 0, None).unwrap();
        let f = check(|e| sbx_event_stream_next(future, SBX_NO_TIMEOUT, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        assert!(f.message.contains("future"), "{}", f.message);
        assert!(readable_within(sbx_event_stream_fd(future), 0), "a failed stream answers at once");
        assert_eq!(next(future, 0).unwrap_err().status, sbx_status::InvalidArgument);
        let f = check(|e| sbx_event_stream_next(future, 0, null(), null_mut(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument);
        sbx_event_stream_free(future);

        // A filter that matches nothing: no event and no error, within the wait.
        let none = open(s, 1, SBX_EVENT_KIND_PORT, Some("/nowhere")).unwrap();
        let started = std::time::Instant::now();
        let f = check(|e| sbx_event_stream_next(none, 300, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "{f:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(!readable_within(sbx_event_stream_fd(none), 100));
        // The stream moves past what it looked at, without an event to show for it.
        wait_until("the position moves on", || sbx_event_stream_position(none) > 1);
        sbx_event_stream_free(none);
        assert_eq!(ev, sentinel());

        // Watches: a missing dir, a relative path, NULL.
        let f = check(|e| sbx_session_watch(s, c"/no/such/dir".as_ptr(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NotFound, "{f:?}");
        let f = check(|e| sbx_session_watch(s, c"relative".as_ptr(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        let f = check(|e| sbx_session_watch(s, null(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument, "{f:?}");

        // Ports: 0, and one nothing opens.
        let f = check(|e| sbx_session_wait_for_port(s, 0, 100, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::InvalidArgument, "{f:?}");
        let f = check(|e| sbx_session_wait_for_port(s, 8767, 300, null(), &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Timeout, "{f:?}");
        let f = check(|e| sbx_session_stats(s, null_mut(), e)).unwrap_err();
        assert_eq!(f.status, sbx_status::NullArgument, "{f:?}");
        assert_eq!(ev, sentinel());
        sc.stop(s);
    }
}

#[test]
fn events_come_in_order_the_descriptor_polls_and_a_reader_resumes() {
    let sc = Scope::new("evread");
    let (_, s) = sc.start("evread");
    let root = root(&sc);
    // SAFETY: live handles, each freed once.
    unsafe {
        // The agent watches the working dir once it says so.
        let life = open(s, 1, SBX_EVENT_KIND_LIFECYCLE, None).unwrap();
        let watching = loop {
            let e = next(life, 30_000).unwrap().expect("an event");
            if e.action == "watching" {
                break e;
            }
        };
        assert_eq!(watching.path.as_deref(), Some(root.as_str()));
        assert!(watching.json["count"].as_u64().unwrap() >= 1, "{:?}", watching.json);

        // A stream from now: nothing to read, the descriptor is not readable...
        let files = open(s, 0, SBX_EVENT_KIND_FILE, Some(&root)).unwrap();
        let fd = sbx_event_stream_fd(files);
        assert!(fd >= 0);
        let pipe = fd_target(fd).expect("the descriptor is open");
        assert!(pipe.starts_with("pipe:"), "{pipe}");
        assert!(sbx_event_stream_position(files) > watching.seq, "from now is pinned when the stream opens");
        assert!(!readable_within(fd, 200));
        assert_eq!(next(files, 0).unwrap_err().status, sbx_status::Timeout);
        // ...until a change comes, which a poll sees.
        sh(s, "echo a > a.txt; mkdir d");
        assert!(readable_within(fd, 30_000), "an event makes the descriptor readable");
        let first = next(files, 0).unwrap().expect("an event without waiting");
        assert_eq!(first.kind, "file");
        assert_eq!((first.action.as_str(), first.path.clone()), ("created", Some(format!("{root}/a.txt"))));
        assert!(!first.dir);
        assert_eq!(first.json["kind"], "file");
        assert_eq!(first.json["seq"].as_u64(), Some(first.seq));
        assert!(first.time_ms > 1_600_000_000_000);
        assert_eq!((first.pid, first.port, first.code, first.signal, first.dropped), (-1, -1, None, None, 0));
        let mut rest = drain(files, 500);
        rest.retain(|e| e.action != "modified");
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert_eq!((rest[0].action.as_str(), rest[0].dir), ("created", true));
        assert!(rest[0].seq > first.seq, "in sequence order");
        assert!(!readable_within(fd, 100), "all taken: not readable");

        // A reader that goes away resumes from its position with nothing lost.
        let resume_at = sbx_event_stream_position(files);
        assert!(resume_at > rest[0].seq);
        sbx_event_stream_free(files);
        assert_ne!(fd_target(fd).as_deref(), Some(pipe.as_str()), "free closes the descriptor");
        sh(s, "mv a.txt b.txt; rm -r d");
        let again = open(s, resume_at, SBX_EVENT_KIND_FILE, None).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            let e = next(again, 30_000).unwrap().expect("an event");
            got.push(e);
        }
        assert_eq!(got[0].action, "renamed");
        assert_eq!(got[0].path.as_deref(), Some(format!("{root}/b.txt").as_str()));
        assert_eq!(got[0].from.as_deref(), Some(format!("{root}/a.txt").as_str()));
        assert_eq!(got[1].action, "deleted");
        assert_eq!(got[1].path.as_deref(), Some(format!("{root}/d").as_str()));
        // The position is that of the next event not taken, read ahead or not.
        let taken = got[1].seq;
        sh(s, "echo c > c.txt");
        wait_until("the next event is read ahead", || readable_within(sbx_event_stream_fd(again), 0));
        let pos = sbx_event_stream_position(again);
        let e = next(again, 0).unwrap().expect("the event read ahead");
        assert_eq!(pos, e.seq);
        assert!(e.seq > taken);
        drain(again, 300);

        // The stop ends every stream: the lifecycle stream sees `stopped`, then the end.
        check(|e| sbx_session_stop(s, e)).unwrap();
        let last = loop {
            let e = next(life, 30_000).unwrap().expect("an event before the end");
            if e.action == "stopped" || e.action == "lost" {
                break e;
            }
        };
        assert_eq!((last.kind.as_str(), last.action.as_str()), ("lifecycle", "stopped"));
        assert!(readable_within(sbx_event_stream_fd(life), 0), "an ended stream answers at once");
        assert_eq!(next(life, SBX_NO_TIMEOUT).unwrap(), None);
        assert_eq!(next(life, 0).unwrap(), None, "and again");
        assert!(drain_to_end(again).last().is_some_and(|e| e.action == "stopped"));
        sbx_event_stream_free(again);
        sbx_event_stream_free(life);
        // A stream opened after the stop has only the end to say.
        let late = open(s, 1, 0, None).unwrap();
        assert_eq!(next(late, 30_000).unwrap().map(|e| e.action), Some("stopped".to_string()));
        assert_eq!(next(late, 30_000).unwrap(), None);
        sbx_event_stream_free(late);
        // From now (0) as well: a stream, not an error, whose only event is the end.
        let late_now = open(s, 0, 0, None).unwrap();
        assert_eq!(next(late_now, 30_000).unwrap().map(|e| e.action), Some("stopped".to_string()));
        assert_eq!(next(late_now, 30_000).unwrap(), None);
        sbx_event_stream_free(late_now);
        sbx_session_free(s);
    }
    assert!(sc.leftovers().is_empty());
}

/// Every event up to the end of the stream.
fn drain_to_end(st: *const sbx_event_stream) -> Vec<Event> {
    let mut got = Vec::new();
    while let Some(e) = next(st, 30_000).expect("events up to the end") {
        got.push(e);
    }
    got
}

#[test]
fn processes_ports_and_samples() {
    let sc = Scope::new("evproc");
    let (_, s) = sc.start("evproc");
    // SAFETY: live handles, each freed once.
    unsafe {
        let procs = open(s, 0, SBX_EVENT_KIND_PROCESS, None).unwrap();
        let t = spawn(s, "exit 3");
        let id = text(sbx_task_id(t));
        let started = next(procs, 30_000).unwrap().expect("started");
        assert_eq!((started.kind.as_str(), started.action.as_str()), ("process", "started"));
        assert_eq!(started.process.as_deref(), Some("task"));
        assert_eq!(started.id.as_deref(), Some(id.as_str()));
        assert_eq!(started.command.as_deref(), Some("exit 3"));
        assert!(started.pid > 1, "{started:?}");
        let exited = next(procs, 30_000).unwrap().expect("exited");
        assert_eq!((exited.action.as_str(), exited.code, exited.signal), ("exited", Some(3), None));
        sbx_task_free(t);
        let t = spawn(s, "exec sleep 60");
        next(procs, 30_000).unwrap().expect("started");
        check(|e| sbx_task_kill(t, 9, e)).unwrap();
        let killed = next(procs, 30_000).unwrap().expect("exited");
        assert_eq!((killed.action.as_str(), killed.code, killed.signal), ("exited", None, Some(9)));
        sbx_task_free(t);
        sbx_event_stream_free(procs);

        // A port that listens: found by a wait that began before, and by one after.
        let server = spawn(s, "exec httpd -f -p 8766");
        let mut ev = null_mut();
        check(|e| sbx_session_wait_for_port(s, 8766, 30_000, null(), &mut ev, e)).unwrap();
        let first = copied(ev);
        assert_eq!((first.kind.as_str(), first.action.as_str(), first.port), ("port", "listening", 8766));
        assert_eq!(first.command.as_deref(), Some("httpd"));
        assert!(first.pid > 1 && first.address.is_some(), "{first:?}");
        check(|e| sbx_session_wait_for_port(s, 8766, 0, null(), &mut ev, e)).unwrap();
        assert_eq!(copied(ev).seq, first.seq);
        check(|e| sbx_task_kill(server, 15, e)).unwrap();
        sbx_task_free(server);

        // A cancel token wakes a wait for a port nothing opens.
        let token = new_token();
        let (shared, tok) = (Shared(s), Shared(token));
        let waiter = std::thread::spawn(move || {
            let (shared, tok) = (shared, tok);
            let mut ev = null_mut();
            // SAFETY: the session and token outlive the thread (joined below).
            check(|e| sbx_session_wait_for_port(shared.0, 8768, SBX_NO_TIMEOUT, tok.0, &mut ev, e))
        });
        std::thread::sleep(Duration::from_millis(300));
        sbx_cancel_token_cancel(token);
        assert_eq!(waiter.join().unwrap().unwrap_err().status, sbx_status::Cancelled);
        sbx_cancel_token_free(token);

        // Resources now, as a sample event.
        check(|e| sbx_session_stats(s, &mut ev, e)).unwrap();
        let sample = copied(ev);
        assert_eq!((sample.kind.as_str(), sample.action.as_str(), sample.seq), ("resources", "sample", 0));
        assert!(sample.time_ms > 1_600_000_000_000);
        let figures = &sample.json["sample"];
        assert!(figures["memory_bytes"].as_u64().unwrap() > 0, "{figures}");
        assert!(figures["pids"].as_u64().unwrap() >= 1, "{figures}");
        assert!(["cgroup", "proc"].contains(&figures["source"].as_str().unwrap()), "{figures}");
        sc.stop(s);
    }
}

#[test]
fn cancel_and_close_wake_a_blocked_next() {
    let sc = Scope::new("evclose");
    let (id, s) = sc.start("evclose");
    // SAFETY: live handles; threads are joined before frees.
    unsafe {
        let blocked = |st: *mut sbx_event_stream, token: *mut sbx_cancel_token| {
            let (st, token) = (Shared(st), Shared(token));
            std::thread::spawn(move || {
                let (st, token) = (st, token);
                let mut ev = null_mut();
                // SAFETY: stream and token outlive the thread (joined before frees).
                let r = check(|e| sbx_event_stream_next(st.0, SBX_NO_TIMEOUT, token.0, &mut ev, e));
                assert!(ev.is_null(), "no event on a failed call");
                r
            })
        };
        let st = open(s, 0, SBX_EVENT_KIND_PORT, None).unwrap();
        let fd = sbx_event_stream_fd(st);

        // A cancel token wakes it; the stream is unchanged.
        let token = new_token();
        let reader = blocked(st, token);
        std::thread::sleep(Duration::from_millis(300));
        sbx_cancel_token_cancel(token);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Cancelled);
        let mut ev: *mut sbx_event = sentinel();
        let f = check(|e| sbx_event_stream_next(st, 0, token, &mut ev, e)).unwrap_err();
        assert_eq!(f.status, sbx_status::Cancelled, "a cancelled token fails at once");
        assert_eq!(next(st, 100).unwrap_err().status, sbx_status::Timeout);
        sbx_cancel_token_free(token);
        assert!(!readable_within(fd, 0));

        // Close wakes it, and every later call.
        let reader = blocked(st, null_mut());
        std::thread::sleep(Duration::from_millis(300));
        sbx_event_stream_close(st);
        sbx_event_stream_close(st);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Closed);
        assert_eq!(next(st, 0).unwrap_err().status, sbx_status::Closed);
        assert!(readable_within(fd, 0), "a closed stream answers at once");
        assert_eq!(fd_target(fd).map(|t| t.starts_with("pipe:")), Some(true), "open until free");
        sbx_event_stream_free(st);

        // Closing the session closes its streams.
        let st = open(s, 0, SBX_EVENT_KIND_PORT, None).unwrap();
        let reader = blocked(st, null_mut());
        std::thread::sleep(Duration::from_millis(300));
        sbx_session_close(s);
        assert_eq!(reader.join().unwrap().unwrap_err().status, sbx_status::Closed);
        wait_until("the closed session's stream is readable", || readable_within(sbx_event_stream_fd(st), 0));
        let f = open(s, 0, 0, None).unwrap_err();
        assert_eq!(f.status, sbx_status::Closed);
        // Freed after its session: fine.
        sbx_session_free(s);
        assert_eq!(next(st, 0).unwrap_err().status, sbx_status::Closed);
        sbx_event_stream_free(st);
        let c_id = CString::new(id).unwrap();
        check(|e| sbx_context_stop(sc.ctx, c_id.as_ptr(), e)).unwrap();
    }
    assert!(sc.leftovers().is_empty());
}
