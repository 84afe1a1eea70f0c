//! State lives in the agent: it survives the caller, and when the agent or container
//! dies, calls fail fast with a typed error that says what happened.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_core::{ErrorKind, ExecOptions, ProcessState, TaskSpec, TaskStream, TerminalSpec};
use sandbox_e2e::{TestScope, helper_path, run};

const T: Duration = Duration::from_secs(120);

fn helper() -> std::path::PathBuf {
    helper_path(env!("CARGO_BIN_EXE_sandbox-e2e-helper"))
}

#[test]
fn a_task_and_a_terminal_survive_their_killed_caller() {
    let t = TestScope::new("survive");
    run(T, async {
        let spec = t.spec("survive");
        let id = spec.id.clone();
        let s = t.sandbox.start(spec).await.unwrap();
        let mut caller = Command::new(helper())
            .env("SANDBOX_SCOPE", &t.scope)
            .args(["hold", &id])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(caller.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ids: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("helper said {line:?}"));
        let (task, term) = (ids["task"].as_str().unwrap().to_string(), ids["terminal"].as_str().unwrap().to_string());
        // SIGKILL the caller: no chance to clean up anything.
        caller.kill().unwrap();
        caller.wait().unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = Command::new(helper())
            .env("SANDBOX_SCOPE", &t.scope)
            .args(["observe", &id, &task, &term])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "observer said {:?} {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(v["tasks"], serde_json::json!([task]), "{v}");
        assert_eq!(v["terminals"], serde_json::json!([term]), "{v}");
        assert_eq!(v["task_running"], true, "{v}");
        let ticks = v["task_output"].as_str().unwrap();
        assert_eq!(v["task_output_from"], 0);
        let n = ticks.lines().count();
        assert!(n >= 10, "output produced while nobody was connected is there ({n} ticks)");
        for (i, l) in ticks.lines().enumerate() {
            assert_eq!(l, format!("tick-{i}"), "no tick lost");
        }
        let screen = v["screen"].as_str().unwrap();
        assert!(screen.contains("typed-before-2") && screen.contains("typed-after-4"), "{screen}");
        s.stop().await.unwrap();
    });
}

#[test]
fn a_container_killed_from_outside_fails_fast_and_output_stays_readable() {
    let t = TestScope::new("killed");
    run(T, async {
        let s = t.sandbox.start(t.spec("killed")).await.unwrap();
        let task = s.spawn_task(TaskSpec::shell("echo kept-1; echo kept-2; sleep 300")).await.unwrap();
        task.read(TaskStream::Merged, 0, 100, Some(Duration::from_secs(10))).await.unwrap();
        let killed = Command::new(&t.sandbox.config().podman).args(["kill", s.container()]).output().unwrap();
        assert!(killed.status.success(), "{}", String::from_utf8_lossy(&killed.stderr));
        let started = Instant::now();
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(30), "no hang");
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        assert!(e.to_string().contains("with code 137"), "{e}");
        assert!(matches!(e, sandbox_core::Error::SessionLost { exit_code: Some(_), .. }), "{e:?}");
        // The agent is gone; its spool is not.
        let c = task.read(TaskStream::Stdout, 0, 1000, Some(Duration::ZERO)).await.unwrap();
        assert_eq!(c.data, b"kept-1\nkept-2\n");
        let tasks = s.list_tasks().await.unwrap();
        assert_eq!(tasks.len(), 1);
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_lost_session_is_readable_from_a_new_process() {
    let t = TestScope::new("lostnew");
    run(T, async {
        let s = t.sandbox.start(t.spec("lostnew")).await.unwrap();
        let script = "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done; sleep 300";
        let task = s.spawn_task(TaskSpec::shell(script)).await.unwrap();
        // Wait until all 500 lines are spooled.
        let mut seen = 0;
        while seen < 500 {
            let c = task.read(TaskStream::Stdout, 0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
            seen = c.data.iter().filter(|b| **b == b'\n').count();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let killed = Command::new(&t.sandbox.config().podman).args(["kill", s.container()]).output().unwrap();
        assert!(killed.status.success(), "{}", String::from_utf8_lossy(&killed.stderr));
        let out =
            Command::new(helper()).env("SANDBOX_SCOPE", &t.scope).args(["lost", s.id(), task.id()]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!("helper said {:?} {:?}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        assert_eq!(v["tasks"], serde_json::json!([task.id()]), "{v}");
        let expected: String = (0..500).map(|i| format!("line-{i}\n")).collect();
        assert_eq!(v["output"].as_str().unwrap(), expected, "the whole output, read in 1000-byte pieces");
        assert!(v["reads"].as_u64().unwrap() > 1, "{v}");
        assert_eq!(v["exec_error"], "SessionLost", "{v}");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_lost_session_keeps_how_its_tasks_and_terminals_ended() {
    let t = TestScope::new("lostend");
    run(T, async {
        let s = t.sandbox.start(t.spec("lostend")).await.unwrap();
        let ended = s.spawn_task(TaskSpec::shell("exit 7")).await.unwrap();
        let ended = ended.wait(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(ended.state, ProcessState::Exited { code: 7 });
        let running = s.spawn_task(TaskSpec::shell("sleep 300")).await.unwrap().info().await.unwrap();
        let term = s.open_terminal(TerminalSpec::command("read line; exit 5", 24, 80)).await.unwrap();
        term.resize(30, 100).await.unwrap();
        term.write(b"go\n").await.unwrap();
        let term = term.wait(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!((term.state, term.rows, term.cols), (ProcessState::Exited { code: 5 }, 30, 100));
        assert!(term.ended.is_some());
        let killed = Command::new(&t.sandbox.config().podman).args(["kill", s.container()]).output().unwrap();
        assert!(killed.status.success(), "{}", String::from_utf8_lossy(&killed.stderr));
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        // The agent is gone: what follows comes from the metadata it left, which says
        // how each one ended (or that it was still running), as the agent said it.
        assert_eq!(s.list_tasks().await.unwrap(), vec![ended.clone(), running]);
        assert_eq!(s.task(&ended.id).info().await.unwrap(), ended);
        assert_eq!(s.list_terminals().await.unwrap(), vec![term]);
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_killed_agent_is_reported_as_a_lost_session() {
    let t = TestScope::new("agentkill");
    run(T, async {
        let s = t.sandbox.start(t.spec("agentkill")).await.unwrap();
        let script = r#"for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = .sandbox-agent ] && kill -9 ${p#/proc/}; done; sleep 5"#;
        let r = s.exec(&["sh", "-c", script], ExecOptions::new()).await;
        assert!(r.is_err(), "the exec's own agent died under it: {r:?}");
        let started = Instant::now();
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn an_idle_session_stops_itself_when_asked() {
    let t = TestScope::new("idle");
    run(T, async {
        let s = t.sandbox.start(t.spec("idle").idle_timeout(Duration::from_secs(2))).await.unwrap();
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        assert!(e.to_string().contains("idle timeout"), "{e}");
        s.stop().await.unwrap();
        let e = t.sandbox.start(t.spec("idle0").idle_timeout(Duration::from_millis(10))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn an_out_of_memory_agent_is_reported_as_oom() {
    let t = TestScope::new("agentoom");
    run(T, async {
        let host = t.sandbox.info().await.unwrap();
        let limits = sandbox_core::Limits { memory_bytes: 64 << 20, cpus: 1.0, pids: 128 };
        let s = t.sandbox.start(t.spec("agentoom").limits(limits)).await.unwrap();
        if !host.limits_enforceable {
            // No memory limit can be applied here (rootless cgroup v1): nothing can run
            // out of memory inside, and the report says so.
            assert!(!s.start_report().unwrap().limits.enforced);
            s.stop().await.unwrap();
            return;
        }
        // Make the agent the OOM killer's first choice, then run out of memory.
        let mark = r#"for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = .sandbox-agent ] && echo 1000 > $p/oom_score_adj && cat $p/oom_score_adj; done"#;
        let o = s.exec(&["sh", "-c", mark], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout_lossy(), "1000\n", "{}", o.stderr_lossy());
        // The bomb runs as a task (an exec would die with the agent). It inherited the
        // agent's new score, so it puts its own back to 0 first.
        let bomb = "echo 0 > /proc/self/oom_score_adj && x=0123456789abcdef && while true; do x=$x$x; done";
        s.spawn_task(sandbox_core::TaskSpec::shell(bomb)).await.unwrap();
        let mut lost = None;
        for _ in 0..100 {
            match s.exec(&["true"], ExecOptions::new()).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => {
                    lost = Some(e);
                    break;
                }
            }
        }
        let e = lost.expect("the agent was OOM-killed");
        assert!(matches!(e, sandbox_core::Error::SessionLost { oom_killed: true, .. }), "{e:?}");
        assert!(e.to_string().contains("out of memory"), "{e}");
        s.stop().await.unwrap();
    });
}
