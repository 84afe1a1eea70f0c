//! PTY terminals created inside the container by the agent.

use std::time::Duration;

use sandbox_core::{ErrorKind, ProcessState, Session, TerminalSpec};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(120);

/// Reads from `offset` until `needle` shows up; returns the text read and the next offset.
async fn read_until(s: &Session, id: &str, offset: u64, needle: &str) -> (String, u64) {
    let r = s.terminal(id).read_until(offset, needle.as_bytes(), 1 << 20, Some(Duration::from_secs(20))).await.unwrap();
    let text = String::from_utf8_lossy(&r.chunk.data).into_owned();
    assert!(r.found, "{needle:?} never appeared; got {text:?}");
    (text, r.chunk.next_offset())
}

#[test]
fn a_shell_in_a_terminal_sees_its_size_and_resizes() {
    let t = TestScope::new("term");
    run(T, async {
        let s = t.sandbox.start(t.spec("term")).await.unwrap();
        let term = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap();
        assert!(term.id().starts_with("term-"));
        assert_eq!((term.initial_info().unwrap().rows, term.initial_info().unwrap().cols), (24, 80));
        assert!(term.initial_info().unwrap().alive());
        term.write(b"stty size; echo TERM=$TERM\n").await.unwrap();
        let (text, off) = read_until(&s, term.id(), 0, "TERM=xterm-256color").await;
        assert!(text.contains("24 80"), "{text}");
        let resized = term.resize(40, 100).await.unwrap();
        assert_eq!((resized.rows, resized.cols), (40, 100));
        term.write(b"stty size\n").await.unwrap();
        let (text, off) = read_until(&s, term.id(), off, "40 100").await;
        assert!(text.contains("40 100"));
        // Once the shell is quiet (after its prompt), a read with a timeout says so.
        let mut off = off;
        let mut timed_out = false;
        for _ in 0..20 {
            match term.read(off, 1024, Some(Duration::from_millis(300))).await {
                Ok(c) => off = c.next_offset(),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
                    timed_out = true;
                    break;
                }
            }
        }
        assert!(timed_out, "the terminal never went quiet");
        let listed = s.list_terminals().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].rows, listed[0].cols), (40, 100));
        term.write(b"exit 3\n").await.unwrap();
        let done = term.wait(Some(Duration::from_secs(20))).await.unwrap();
        assert_eq!(done.state, ProcessState::Exited { code: 3 });
        assert!(!done.alive());
        let e = term.write(b"echo hi\n").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn the_program_is_a_session_leader_that_gets_sigwinch() {
    let t = TestScope::new("winch");
    run(T, async {
        let s = t.sandbox.start(t.spec("winch")).await.unwrap();
        // The trap is set before the line the test waits for, so the resize cannot come
        // before the shell listens for it.
        let script = r#"trap 'echo got-winch $(stty size)' WINCH; echo "sid=$(cut -d' ' -f6 /proc/$$/stat) pid=$$ tty=$(tty)"; while true; do sleep 0.1; done"#;
        let term = s.open_terminal(TerminalSpec::command(script, 10, 20)).await.unwrap();
        let (text, off) = read_until(&s, term.id(), 0, "tty=").await;
        let line = text.lines().find(|l| l.contains("sid=")).unwrap().trim().to_string();
        let field = |k: &str| line.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap().to_string();
        assert_eq!(field("sid="), field("pid="), "the program leads its own session: {line}");
        assert!(field("tty=").starts_with("/dev/pts/"), "{line}");
        term.resize(33, 77).await.unwrap();
        let (text, _) = read_until(&s, term.id(), off, "got-winch 33 77").await;
        assert!(text.contains("got-winch 33 77"));
        term.kill(9).await.unwrap();
        let done = term.wait(Some(Duration::from_secs(20))).await.unwrap();
        assert_eq!(done.state, ProcessState::Killed { signal: 9 });
        s.stop().await.unwrap();
    });
}

#[test]
fn a_second_client_replays_the_scrollback() {
    let t = TestScope::new("replay");
    run(T, async {
        let spec = t.spec("replay");
        let id = spec.id.clone();
        let s = t.sandbox.start(spec).await.unwrap();
        let term = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap();
        term.write(b"echo before-$((6*7))\n").await.unwrap();
        read_until(&s, term.id(), 0, "before-42").await;
        let other = t.sandbox.attach(&id).await.unwrap();
        let (text, _) = read_until(&other, term.id(), 0, "before-42").await;
        assert!(text.contains("echo before-$((6*7))"), "the echo of the input is replayed too: {text}");
        // A bounded scrollback reports what it dropped.
        let small = s
            .open_terminal(
                TerminalSpec::command("i=0; while [ $i -lt 30000 ]; do echo row-$i; i=$((i+1)); done", 24, 80)
                    .scrollback(64 * 1024),
            )
            .await
            .unwrap();
        small.wait(Some(Duration::from_secs(60))).await.unwrap();
        let c = small.read(0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
        assert!(c.window_start > 0 && c.offset == c.window_start, "{:?}", (c.offset, c.window_start, c.end));
        assert!(String::from_utf8_lossy(&c.data).contains("row-29999"));
        s.stop().await.unwrap();
    });
}

#[test]
fn bad_terminal_input_is_typed() {
    let t = TestScope::new("badterm");
    run(T, async {
        let s = t.sandbox.start(t.spec("badterm")).await.unwrap();
        for (r, c) in [(0, 80), (24, 0), (1001, 80), (24, 1001)] {
            let e = s.open_terminal(TerminalSpec::shell(r, c)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{r}x{c}: {e}");
        }
        let term = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap();
        assert_eq!(term.resize(0, 5).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(term.kill(64).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let e = s.terminal("term-0000000000000000").write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = term.read(1 << 40, 10, Some(Duration::ZERO)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("past the end"), "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn read_until_and_follow_say_how_they_ended() {
    let t = TestScope::new("termuntil");
    run(T, async {
        let s = t.sandbox.start(t.spec("termuntil")).await.unwrap();
        // Found: everything from the offset up to the text, and where to go on from.
        let term = s.open_terminal(TerminalSpec::command("printf 'a-b-ready-c'; sleep 30", 24, 80)).await.unwrap();
        let r = term.read_until(0, b"ready", 1 << 20, None).await.unwrap();
        assert!(r.found, "{r:?}");
        assert_eq!(r.chunk.offset, 0);
        assert!(String::from_utf8_lossy(&r.chunk.data).contains("a-b-ready"), "{r:?}");
        assert!(!r.chunk.finished);
        // Not found in time: the program still runs, nothing more comes.
        let at = r.chunk.next_offset();
        let r = term.read_until(at, b"never", 1 << 20, Some(Duration::from_millis(300))).await.unwrap();
        assert!(!r.found && !r.chunk.finished, "{r:?}");
        // Not found within max bytes.
        let r = term.read_until(0, b"never", 3, Some(Duration::from_secs(20))).await.unwrap();
        assert!(!r.found && r.chunk.data.len() >= 3, "{r:?}");
        // An empty needle is bad input.
        let e = term.read_until(0, b"", 10, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        term.kill(9).await.unwrap();

        // The program ends first: no time limit is needed to get an answer.
        let ends =
            s.open_terminal(TerminalSpec::command("printf 'one '; sleep 0.3; printf two", 24, 80)).await.unwrap();
        let r = ends.read_until(0, b"never", 1 << 20, None).await.unwrap();
        assert!(!r.found && r.chunk.finished, "{r:?}");
        assert!(String::from_utf8_lossy(&r.chunk.data).contains("one two"), "{r:?}");
        // Following it from the start gives the same bytes, then the end.
        let mut follow = ends.follow(0);
        let mut all = Vec::new();
        while let Some(c) = follow.next().await {
            all.extend_from_slice(&c.unwrap().data);
        }
        assert_eq!(all, r.chunk.data);
        assert!(follow.next().await.is_none(), "a finished follow stays finished");

        // Handles: attach checks the id, a handle from a bare id fails at its first call.
        assert_eq!(s.attach_terminal(ends.id()).await.unwrap().id(), ends.id());
        let e = s.attach_terminal("term-0000000000000000").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.terminal("term-0000000000000000").wait(Some(Duration::ZERO)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.attach_terminal("../etc").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        s.stop().await.unwrap();
    });
}
