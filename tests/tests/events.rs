//! The session's event stream against real podman: the conformance scenario (the same
//! actions and expected events every face runs), resuming by sequence number, a burst of
//! 100k file operations with every change accounted for, resource samples, and bad input.

use std::collections::HashSet;
use std::time::Duration;

use sandbox_core::{
    ErrorKind, EventAction, EventFilter, EventKind, ExecOptions, Session, SessionEvent, TaskSpec, events::ProcessKind,
};
use sandbox_e2e::{TestScope, run};

const T: Duration = Duration::from_secs(240);
const WAIT: Option<Duration> = Some(Duration::from_secs(30));

async fn sh(s: &Session, script: &str) {
    let out = s.exec(&["sh", "-c", script], ExecOptions::new()).await.unwrap();
    assert_eq!(out.exit_code, Some(0), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// One event as the conformance scenario compares it (see `tests/conformance/events.json`).
fn signature(e: &SessionEvent, root: &str) -> String {
    let rel = |p: &Option<String>| {
        p.as_deref().map(|p| p.strip_prefix(root).unwrap_or(p).trim_start_matches('/').to_string())
    };
    let action = serde_json::to_value(e.action).unwrap();
    let mut s = format!("{} {}", e.kind.name(), action.as_str().unwrap());
    match e.kind {
        EventKind::File => {
            s += &format!(" {}", rel(&e.path).unwrap_or_default());
            if let Some(from) = rel(&e.from) {
                s += &format!(" from {from}");
            }
            if e.dir == Some(true) {
                s += " dir";
            }
        }
        EventKind::Process => {
            s += &format!(" {}", serde_json::to_value(e.process.unwrap()).unwrap().as_str().unwrap());
            if let Some(c) = e.code {
                s += &format!(" code={c}");
            }
            if let Some(sig) = e.signal {
                s += &format!(" signal={sig}");
            }
        }
        EventKind::Port => s += &format!(" {} {}", e.port.unwrap(), e.command.as_deref().unwrap_or("?")),
        _ => {}
    }
    s
}

/// Within one step, drops a `file modified P` after a `file created P` or `file modified P`.
fn normalized(sigs: Vec<String>) -> Vec<String> {
    let mut touched = HashSet::new();
    let mut out = Vec::new();
    for s in sigs {
        let f: Vec<&str> = s.split(' ').collect();
        if f[0] == "file" && f.len() > 2 {
            let again = touched.contains(f[2]);
            if f[1] == "created" || f[1] == "modified" {
                touched.insert(f[2].to_string());
            }
            if f[1] == "modified" && again {
                continue;
            }
        }
        out.push(s);
    }
    out
}

#[test]
fn the_conformance_scenario() {
    let t = TestScope::new("events");
    let scenario: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/events.json")).unwrap(),
    )
    .unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("events")).await.unwrap();
        let root = t.dir.path().canonicalize().unwrap().display().to_string();
        let mut life = s.events(Some(1), EventFilter::default());
        // The working dir is watched once the agent says so.
        let watching = life.wait_for(|e| e.action == EventAction::Watching, WAIT).await.unwrap();
        assert_eq!(watching.path.as_deref(), Some(root.as_str()));
        let filter =
            EventFilter { kinds: vec![EventKind::File, EventKind::Process, EventKind::Port], path_prefix: None };
        let mut stream = s.events(Some(watching.seq + 1), filter);
        let settle = Duration::from_millis(scenario["settle_ms"].as_u64().unwrap());
        let mut named = std::collections::HashMap::new();
        for step in scenario["steps"].as_array().unwrap() {
            if let Some(script) = step["exec"].as_str() {
                sh(&s, script).await;
            } else if let Some(command) = step["spawn"].as_str() {
                let task = s.spawn_task(TaskSpec::shell(command)).await.unwrap();
                if let Some(name) = step["name"].as_str() {
                    named.insert(name.to_string(), task);
                }
            } else if let Some(name) = step["kill"].as_str() {
                named[name].kill(step["signal"].as_i64().unwrap() as i32).await.unwrap();
            } else if step["stop"].as_bool() == Some(true) {
                s.stop().await.unwrap();
            }
            let expect: Vec<String> =
                step["expect"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            let mut got = Vec::new();
            while normalized(got.clone()).len() < expect.len() {
                match stream.next_within(WAIT).await.unwrap() {
                    Some(e) => got.push(signature(&e, &root)),
                    None => break,
                }
            }
            while let Some(e) = stream.next_within(Some(settle)).await.unwrap() {
                got.push(signature(&e, &root));
            }
            let got = normalized(got);
            if step["unordered"].as_bool() == Some(true) {
                let g: HashSet<&String> = got.iter().collect();
                assert_eq!(g, expect.iter().collect(), "step {step}: got {got:?}");
            } else {
                assert_eq!(got, expect, "step {step}");
            }
        }
        assert!(stream.is_ended(), "the stream ends after stopped");

        // A stream opened after the stop has only the end to say.
        let mut late = s.events(Some(watching.seq + 1), EventFilter::default());
        assert_eq!(late.next().await.unwrap().map(|e| e.action), Some(EventAction::Stopped));
        assert!(late.next().await.unwrap().is_none());
    });
}

/// The details of process and port events: ids, commands, pids, and waiting for a port.
#[test]
fn process_and_port_events_carry_their_details() {
    let t = TestScope::new("evdetail");
    run(T, async {
        let s = t.sandbox.start(t.spec("evdetail")).await.unwrap();
        let mut procs = s.events(None, EventFilter { kinds: vec![EventKind::Process], path_prefix: None });
        procs.next_within(Some(Duration::from_millis(10))).await.unwrap();
        let task = s.spawn_task(TaskSpec::shell("exit 3")).await.unwrap();
        let started = procs.wait_for(|_| true, WAIT).await.unwrap();
        assert_eq!(started.id.as_deref(), Some(task.id()));
        assert_eq!(started.process, Some(ProcessKind::Task));
        assert_eq!(started.command.as_deref(), Some("exit 3"));
        assert!(started.pid.unwrap() > 1);
        let exited = procs.wait_for(|_| true, WAIT).await.unwrap();
        assert_eq!((exited.action, exited.code, exited.oom), (EventAction::Exited, Some(3), None));
        // An exec that runs out of time.
        let out = s.exec(&["sleep", "30"], ExecOptions::new().timeout(Duration::from_millis(200))).await.unwrap();
        assert!(out.timed_out);
        let late = procs.wait_for(|_| true, WAIT).await.unwrap();
        assert_eq!(
            (late.action, late.process, late.command.as_deref()),
            (EventAction::TimedOut, Some(ProcessKind::Exec), Some("sleep 30"))
        );
        // A port that listened before the wait began is found in the journal.
        let server = s.spawn_task(TaskSpec::shell("exec httpd -f -p 8766")).await.unwrap();
        let first = s.wait_for_port(8766, WAIT).await.unwrap();
        let second = s.wait_for_port(8766, WAIT).await.unwrap();
        assert_eq!(first.seq, second.seq);
        assert_eq!(first.pid, server.initial_info().map(|i| i.pid));
        // Waiting for a port nothing opens times out with a typed error.
        let e = s.wait_for_port(8767, Some(Duration::from_millis(500))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        s.stop().await.unwrap();
    });
}

/// The working dir, with the directories already in it, is watched when `start` returns:
/// the `watching` event is in the journal before anything the caller does, and a file
/// made and renamed in a pre-existing subdirectory right away is one created and one
/// renamed (the README's events examples rely on it).
#[test]
fn the_working_dir_is_watched_once_start_returns() {
    let t = TestScope::new("evready");
    std::fs::create_dir(t.dir.path().join("src")).unwrap();
    run(T, async {
        let s = t.sandbox.start(t.spec("evready")).await.unwrap();
        sh(&s, "echo hi > src/a.txt && mv src/a.txt src/b.txt").await;
        let mut all = s.events(Some(1), EventFilter::default());
        let mut seen = Vec::new();
        while !seen.iter().any(|e: &SessionEvent| e.action == EventAction::Renamed) {
            seen.push(all.next_within(WAIT).await.unwrap().expect("an event"));
        }
        let root = s.working_dir().display().to_string();
        let sigs: Vec<String> = seen
            .iter()
            .filter(|e| e.kind == EventKind::File || e.action == EventAction::Watching)
            .map(|e| signature(e, &root))
            .filter(|sig| !sig.starts_with("file modified"))
            .collect();
        assert_eq!(sigs, ["lifecycle watching", "file created src/a.txt", "file renamed src/b.txt from src/a.txt"]);
        s.stop().await.unwrap();
    });
}

#[test]
fn a_reader_that_goes_away_resumes_from_its_sequence_number_with_nothing_lost() {
    let t = TestScope::new("evresume");
    run(T, async {
        let s = t.sandbox.start(t.spec("evresume")).await.unwrap();
        let files = EventFilter { kinds: vec![EventKind::File], path_prefix: None };
        let mut first = s.events(Some(1), EventFilter::default());
        first.wait_for(|e| e.action == EventAction::Watching, WAIT).await.unwrap();
        sh(&s, "for i in 1 2 3; do echo $i > f$i; done").await;
        let mut names = Vec::new();
        while names.len() < 3 {
            let e = first.wait_for(|e| e.kind == EventKind::File, WAIT).await.unwrap();
            names.push(e.path.unwrap());
        }
        // The reader is gone (dropped mid-stream, with a read in flight); changes go on.
        let resume_at = first.position().unwrap();
        let pending = tokio::spawn(async move { first.next().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        pending.abort();
        sh(&s, "for i in 4 5 6 7 8; do echo $i > f$i; done; rm f1").await;
        let mut second = s.events(Some(resume_at), files);
        let mut rest = Vec::new();
        while rest.len() < 6 {
            let e = second.next_within(WAIT).await.unwrap().expect("an event");
            rest.push(format!("{:?} {}", e.action, e.path.unwrap().rsplit('/').next().unwrap()));
        }
        assert_eq!(rest, ["Created f4", "Created f5", "Created f6", "Created f7", "Created f8", "Deleted f1"]);
        s.stop().await.unwrap();
    });
}

/// 100k file operations in a burst: every file appears in an event, or the stream says
/// explicitly that changes were lost (an overflow or a gap).
#[test]
fn a_burst_of_100k_file_operations_is_accounted_for() {
    let t = TestScope::new("evburst");
    run(T, async {
        let s = t.sandbox.start(t.spec("evburst")).await.unwrap();
        let root = t.dir.path().canonicalize().unwrap().display().to_string();
        let mut stream = s.events(Some(1), EventFilter { kinds: vec![EventKind::File], path_prefix: None });
        let mut life = s.events(Some(1), EventFilter { kinds: vec![EventKind::Lifecycle], path_prefix: None });
        life.wait_for(|e| e.action == EventAction::Watching, WAIT).await.unwrap();
        let reader = tokio::spawn(async move {
            let mut created = HashSet::new();
            let mut lost = 0u64;
            loop {
                match stream.next_within(Some(Duration::from_secs(5))).await.unwrap() {
                    Some(e) if e.kind == EventKind::Gap || e.action == EventAction::Overflow => lost += 1,
                    Some(e) if e.action == EventAction::Created => {
                        created.insert(e.path.unwrap());
                    }
                    Some(_) => {}
                    None => return (created, lost),
                }
            }
        });
        sh(&s, "mkdir burst && cd burst && seq 1 100000 | xargs touch").await;
        let (created, lost) = reader.await.unwrap();
        let missing = (1..=100_000).filter(|i| !created.contains(&format!("{root}/burst/{i}"))).count();
        assert!(
            missing == 0 || lost > 0,
            "{missing} of 100000 files were neither reported nor covered by an overflow or gap event"
        );
        eprintln!("burst: {} of 100000 created events, {missing} missing, {lost} overflow/gap events", created.len());
        s.stop().await.unwrap();
    });
}

#[test]
fn resources_are_sampled_and_can_be_asked_for() {
    let t = TestScope::new("evstats");
    run(T, async {
        let mut config = sandbox_e2e::test_config(&t.scope);
        config.events.sample_interval = Some(Duration::from_millis(200));
        let sandbox = sandbox_core::Sandbox::new(config);
        let s = sandbox.start(t.spec("evstats")).await.unwrap();
        let now = s.stats().await.unwrap();
        assert!(now.memory_bytes > 0 && now.pids >= 1, "{now:?}");
        assert!(now.source == "cgroup" || now.source == "proc", "{now:?}");
        let mut stream = s.events(Some(1), EventFilter { kinds: vec![EventKind::Resources], path_prefix: None });
        let a = stream.wait_for(|_| true, WAIT).await.unwrap().sample.unwrap();
        sh(&s, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done").await;
        let b = stream.wait_for(|_| true, WAIT).await.unwrap();
        let b = stream.wait_for(|e| e.seq > b.seq, WAIT).await.unwrap().sample.unwrap();
        assert!(b.cpu_usec > a.cpu_usec, "a busy loop used CPU time: {a:?} then {b:?}");
        s.stop().await.unwrap();
    });
}

#[test]
fn bad_event_requests_get_typed_errors() {
    let t = TestScope::new("evbad");
    run(T, async {
        let s = t.sandbox.start(t.spec("evbad")).await.unwrap();
        // A sequence number from the future.
        let e = s.read_events(Some(1_000_000), &EventFilter::default(), 10, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("future"), "{e}");
        let e = s.read_events(Some(0), &EventFilter::default(), 10, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = s.read_events(Some(1), &EventFilter::default(), 0, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        // A relative path prefix.
        let bad = EventFilter { kinds: vec![], path_prefix: Some("src".into()) };
        assert_eq!(s.read_events(Some(1), &bad, 10, None).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        // A watch on a path that does not exist, or that is not absolute.
        assert_eq!(s.watch("/no/such/dir").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.watch("relative").await.unwrap_err().kind(), ErrorKind::InvalidInput);
        // A filter that matches nothing: no events and no error, within the wait.
        let none = EventFilter { kinds: vec![EventKind::Port], path_prefix: Some("/nowhere".into()) };
        let b = s.read_events(Some(1), &none, 10, Some(Duration::from_millis(300))).await.unwrap();
        assert!(b.events.is_empty(), "{b:?}");
        assert!(b.next > 1, "the read moved past what it looked at");
        // A watch outside the working dir reports changes there too.
        s.watch("/tmp").await.unwrap();
        let mut tmp = s.events(None, EventFilter { kinds: vec![EventKind::File], path_prefix: Some("/tmp".into()) });
        tmp.next_within(Some(Duration::from_millis(10))).await.unwrap();
        sh(&s, "echo x > /tmp/seen").await;
        let e = tmp.wait_for(|_| true, WAIT).await.unwrap();
        assert_eq!((e.action, e.path.as_deref()), (EventAction::Created, Some("/tmp/seen")));
        s.stop().await.unwrap();
        // A stopped session: a typed error, not a hang.
        let e = s.read_events(None, &EventFilter::default(), 10, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound, "{e}");
    });
}

/// A task the OOM killer ends: its `exited` event says `oom`, and a lifecycle `limit`
/// event says which limit was hit.
#[test]
fn an_oom_killed_task_and_the_limit_it_hit_are_events() {
    let t = TestScope::new("evoom");
    run(T, async {
        let host = t.sandbox.info().await.unwrap();
        let limits = sandbox_core::Limits { memory_bytes: 64 << 20, cpus: 1.0, pids: 128 };
        let s = t.sandbox.start(t.spec("evoom").limits(limits)).await.unwrap();
        if !host.limits_enforceable {
            // No memory limit can be applied here (rootless cgroup v1): nothing can run
            // out of memory inside, and the report says so.
            assert!(!s.start_report().unwrap().limits.enforced);
            s.stop().await.unwrap();
            return;
        }
        let mut stream =
            s.events(None, EventFilter { kinds: vec![EventKind::Process, EventKind::Lifecycle], path_prefix: None });
        stream.next_within(Some(Duration::from_millis(10))).await.unwrap();
        let bomb = "echo 1000 > /proc/self/oom_score_adj && x=0123456789abcdef && while true; do x=$x$x; done";
        let task = s.spawn_task(TaskSpec::shell(bomb)).await.unwrap();
        let ended = stream
            .wait_for(|e| e.action == EventAction::Exited && e.id.as_deref() == Some(task.id()), WAIT)
            .await
            .unwrap();
        assert_eq!((ended.signal, ended.oom), (Some(9), Some(true)), "{ended:?}");
        let limit = stream.wait_for(|e| e.action == EventAction::Limit, WAIT).await.unwrap();
        assert!(limit.reason.as_deref().unwrap_or("").contains("oom_kill"), "{limit:?}");
        s.stop().await.unwrap();
    });
}

/// A reader waiting without limit when the session is stopped — through a clone of its
/// handle, by id from another `Sandbox` (another process, in real life), or caught in the
/// middle of a stop (marked, its container killed but not removed yet) — ends with
/// `stopped`, not `lost`, and does not hang.
#[test]
fn waiting_readers_end_with_stopped_however_the_session_is_stopped() {
    let t = TestScope::new("evstop");
    run(T, async {
        for how in ["clone", "by id", "midway"] {
            let s = t.sandbox.start(t.spec("evstop")).await.unwrap();
            let mut stream = s.events(None, EventFilter { kinds: vec![EventKind::Port], path_prefix: None });
            let reader = tokio::spawn(async move {
                let mut last = None;
                while let Some(e) = stream.next().await.unwrap() {
                    last = Some(e);
                }
                last
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            match how {
                "clone" => s.clone().stop().await.unwrap(),
                "by id" => {
                    let other = sandbox_core::Sandbox::new(sandbox_e2e::test_config(&t.scope));
                    other.stop(s.id()).await.unwrap();
                }
                _ => {
                    std::fs::write(s.control_dir().join(sandbox_proto::layout::STOP_MARKER), b"").unwrap();
                    let podman = sandbox_e2e::test_config(&t.scope).podman;
                    let out = std::process::Command::new(podman).args(["kill", s.container()]).output().unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                }
            }
            let last = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("the reader ends").unwrap();
            let last = last.expect("a last event");
            assert_eq!((last.kind, last.action), (EventKind::Lifecycle, EventAction::Stopped), "{how}: {last:?}");
            s.stop().await.unwrap();
        }
    });
}
