//! Streaming exec: events as they happen, stdin and signals, back-pressure.

use std::time::Duration;

use sandbox_core::{ErrorKind, ExecEvent, ExecOptions};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(120);

#[test]
fn events_stdin_and_exit_arrive_in_order() {
    let t = TestScope::new("stream");
    run(T, async {
        let s = t.sandbox.start(t.spec("stream")).await.unwrap();
        let mut st = s
            .exec_stream(
                &["sh", "-c", "while read l; do echo got:$l; echo err:$l >&2; done; exit 4"],
                ExecOptions::new(),
            )
            .await
            .unwrap();
        let ctl = st.control();
        ctl.write_stdin(b"one\n").await.unwrap();
        let mut out = Vec::new();
        let mut err = Vec::new();
        while !out.ends_with(b"got:one\n") {
            match st.next().await.unwrap().unwrap() {
                ExecEvent::Stdout(b) => out.extend(b),
                ExecEvent::Stderr(b) => err.extend(b),
                ExecEvent::Exit(x) => panic!("exited early: {x:?}"),
            }
        }
        ctl.write_stdin(b"two\n").await.unwrap();
        ctl.close_stdin().await.unwrap();
        let exit = loop {
            match st.next().await.unwrap().unwrap() {
                ExecEvent::Stdout(b) => out.extend(b),
                ExecEvent::Stderr(b) => err.extend(b),
                ExecEvent::Exit(x) => break x,
            }
        };
        assert!(st.next().await.is_none());
        assert_eq!(out, b"got:one\ngot:two\n");
        assert_eq!(err, b"err:one\nerr:two\n");
        assert_eq!(exit.exit_code, Some(4));
        assert_eq!(exit.stdout_total, 16);
        s.stop().await.unwrap();
    });
}

#[test]
fn signals_reach_the_process_group() {
    let t = TestScope::new("streamsig");
    run(T, async {
        let s = t.sandbox.start(t.spec("streamsig")).await.unwrap();
        let mut st = s
            .exec_stream(
                &["sh", "-c", "trap 'echo bye; exit 9' USR1; echo ready; while true; do sleep 0.1; done"],
                ExecOptions::new(),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        while !out.ends_with(b"ready\n") {
            if let ExecEvent::Stdout(b) = st.next().await.unwrap().unwrap() {
                out.extend(b);
            }
        }
        st.control().signal(10).await.unwrap();
        let exit = loop {
            match st.next().await.unwrap().unwrap() {
                ExecEvent::Exit(x) => break x,
                ExecEvent::Stdout(b) => out.extend(b),
                ExecEvent::Stderr(_) => {}
            }
        };
        assert_eq!(exit.exit_code, Some(9));
        assert!(out.ends_with(b"bye\n"));
        assert_eq!(st.control().signal(0).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        s.stop().await.unwrap();
    });
}

#[test]
fn a_slow_reader_slows_the_command() {
    let t = TestScope::new("backpressure");
    run(T, async {
        let s = t.sandbox.start(t.spec("backpressure")).await.unwrap();
        let total: u64 = 64 << 20;
        let mut st = s
            .exec_stream(
                &["sh", "-c", &format!("head -c {total} /dev/zero; echo finished > /tmp/bp-done")],
                ExecOptions::new(),
            )
            .await
            .unwrap();
        // Take one chunk, then stop reading for a while: the command must be blocked
        // (it cannot finish while we hold back), which is what keeps memory bounded.
        let first = st.next().await.unwrap().unwrap();
        assert!(matches!(first, ExecEvent::Stdout(_)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let o =
            s.exec(&["sh", "-c", "cat /tmp/bp-done 2>/dev/null || echo blocked"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout_lossy(), "blocked\n", "the command ran ahead of its reader");
        let mut got = match first {
            ExecEvent::Stdout(b) => b.len() as u64,
            _ => 0,
        };
        let exit = loop {
            match st.next().await.unwrap().unwrap() {
                ExecEvent::Stdout(b) => got += b.len() as u64,
                ExecEvent::Stderr(_) => {}
                ExecEvent::Exit(x) => break x,
            }
        };
        assert_eq!(got, total);
        assert_eq!(exit.stdout_total, total);
        assert_eq!(exit.exit_code, Some(0));
        s.stop().await.unwrap();
    });
}

#[test]
fn dropping_a_stream_kills_the_command() {
    let t = TestScope::new("streamdrop");
    run(T, async {
        let s = t.sandbox.start(t.spec("streamdrop")).await.unwrap();
        let st = s.exec_stream(&["sh", "-c", "sleep 250"], ExecOptions::new()).await.unwrap();
        drop(st);
        let mut left = String::new();
        for _ in 0..50 {
            left = s.exec(&["ps", "-o", "args"], ExecOptions::new()).await.unwrap().stdout_lossy();
            if !left.contains("sleep 250") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!left.contains("sleep 250"), "{left}");
        s.stop().await.unwrap();
    });
}
