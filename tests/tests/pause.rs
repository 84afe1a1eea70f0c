//! Pause and resume against real podman (rootful and rootless): a paused session's
//! processes use no CPU (a busy loop and a loop that keeps forking), starts are refused
//! with a typed error while reads go on, the event stream says paused and resumed,
//! resume lets them run again, and a paused session stops cleanly.

use std::time::Duration;

use sandbox_core::{ErrorKind, EventAction, EventFilter, EventKind, ExecOptions, Session, TaskSpec, TerminalSpec};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(240);
const WAIT: Option<Duration> = Some(Duration::from_secs(30));

/// CPU time the session's processes used during `window` (from two resource samples).
async fn cpu_used_during(s: &Session, window: Duration) -> u64 {
    let before = s.stats().await.unwrap().cpu_usec;
    tokio::time::sleep(window).await;
    s.stats().await.unwrap().cpu_usec.saturating_sub(before)
}

#[test]
fn a_paused_session_uses_no_cpu_refuses_starts_and_resumes() {
    let t = TestScope::new("pause");
    run(T, async {
        let s = t.sandbox.start(t.spec("pause")).await.unwrap();
        let mut life = s.events(Some(1), EventFilter { kinds: vec![EventKind::Lifecycle], path_prefix: None });
        let busy = s.spawn_task(TaskSpec::shell("echo up; while :; do :; done")).await.unwrap();
        s.spawn_task(TaskSpec::shell("while :; do /bin/true; done")).await.unwrap();
        busy.read_until(sandbox_core::TaskStream::Stdout, 0, b"up", 1024, WAIT).await.unwrap();
        let window = Duration::from_millis(1000);
        // Running: two loops on two cores use a good part of the window.
        let running = cpu_used_during(&s, window).await;
        assert!(running > 300_000, "the loops run before the pause: {running} us of CPU in 1 s");

        let p = s.pause().await.unwrap();
        assert!(p.paused && p.changed, "{p:?}");
        assert_eq!(p.method, "signals");
        assert!(p.processes >= 2, "both loops (and their shells) stopped: {p:?}");
        let paused = cpu_used_during(&s, window).await;
        assert!(paused < running / 4 && paused < 100_000, "paused: {paused} us of CPU in 1 s (running: {running})");

        // Starting anything is refused, with the reason; reads go on.
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
        assert!(e.to_string().contains("paused"), "{e}");
        let e = s.spawn_task(TaskSpec::shell("true")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
        let e = s.open_terminal(TerminalSpec::shell(24, 80)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
        assert_eq!(
            busy.read(sandbox_core::TaskStream::Stdout, 0, 1024, Some(Duration::ZERO)).await.unwrap().data,
            b"up\n"
        );
        assert_eq!(s.list_tasks().await.unwrap().len(), 2);
        let again = s.pause().await.unwrap();
        assert!(again.paused && !again.changed, "pausing a paused session changes nothing: {again:?}");

        let r = s.resume().await.unwrap();
        assert!(!r.paused && r.changed, "{r:?}");
        let resumed = cpu_used_during(&s, window).await;
        assert!(resumed > 300_000, "the loops run again: {resumed} us of CPU in 1 s");
        let out = s.exec(&["echo", "back"], ExecOptions::new()).await.unwrap();
        assert_eq!(out.stdout, b"back\n");
        assert!(!s.resume().await.unwrap().changed, "resuming a running session changes nothing");

        let e = life.wait_for(|e| e.action == EventAction::Paused, WAIT).await.unwrap();
        assert!(e.count.unwrap_or(0) >= 2, "{e:?}");
        life.wait_for(|e| e.action == EventAction::Resumed, WAIT).await.unwrap();

        // A paused session stops like any other, leaving nothing behind.
        s.pause().await.unwrap();
        s.stop().await.unwrap();
        let e = s.pause().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound, "{e}");
    });
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
