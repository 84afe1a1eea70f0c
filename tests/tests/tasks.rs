//! Background tasks held by the agent: ids, states, spooled output, kill, wait.

use std::collections::HashSet;
use std::time::Duration;

use sandbox_core::{ErrorKind, ExecOptions, ProcessState, TaskSpec, TaskStream, complete_utf8_len};
use sandbox_e2e::{TestScope, run, sha256};

const T: Duration = Duration::from_secs(180);

async fn read_all(s: &sandbox_core::Session, id: &str, stream: TaskStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let c = s.task(id).read(stream, offset, 1 << 20, Some(Duration::ZERO)).await.unwrap();
        assert_eq!(c.offset, offset, "nothing dropped");
        out.extend_from_slice(&c.data);
        offset = c.next_offset();
        if offset >= c.end {
            return out;
        }
    }
}

#[test]
fn tasks_run_report_state_and_keep_both_streams() {
    let t = TestScope::new("tasks");
    run(T, async {
        let s = t.sandbox.start(t.spec("tasks")).await.unwrap();
        let task =
            s.spawn_task(TaskSpec::shell("echo out1; echo err1 >&2; sleep 0.2; echo out2; exit 7")).await.unwrap();
        assert!(task.id().starts_with("task-"));
        assert_eq!(task.initial_info().unwrap().command, "echo out1; echo err1 >&2; sleep 0.2; echo out2; exit 7");
        assert!(task.initial_info().unwrap().pid > 1);
        let listed = s.list_tasks().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, task.id());
        let done = task.wait(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(done.state, ProcessState::Exited { code: 7 });
        assert!(done.ended.is_some() && done.ended.unwrap() >= done.started);
        assert_eq!(read_all(&s, task.id(), TaskStream::Stdout).await, b"out1\nout2\n");
        assert_eq!(read_all(&s, task.id(), TaskStream::Stderr).await, b"err1\n");
        let merged = read_all(&s, task.id(), TaskStream::Merged).await;
        assert_eq!(merged.len(), 15);
        assert!(merged.ends_with(b"out2\n"), "{merged:?}");
        let tail = task.tail(TaskStream::Stdout, 5).await.unwrap();
        assert_eq!(tail.data, b"out2\n");
        assert!(tail.finished);

        // Ids are random and unique, even when many are made at once.
        let mut ids = HashSet::new();
        for _ in 0..50 {
            ids.insert(s.spawn_task(TaskSpec::argv(["true"])).await.unwrap().id().to_string());
        }
        assert_eq!(ids.len(), 50);
        s.stop().await.unwrap();
    });
}

#[test]
fn kill_signals_the_whole_group_and_wait_times_out() {
    let t = TestScope::new("taskkill");
    run(T, async {
        let s = t.sandbox.start(t.spec("taskkill")).await.unwrap();
        let task = s.spawn_task(TaskSpec::shell("sleep 300 & sleep 301; wait")).await.unwrap();
        let e = task.wait(Some(Duration::from_millis(300))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(s.task(task.id()).info().await.unwrap().state.is_running());
        task.kill(9).await.unwrap();
        let done = task.wait(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(done.state, ProcessState::Killed { signal: 9 });
        let ps = s.exec(&["ps", "-o", "args"], ExecOptions::new()).await.unwrap().stdout_lossy();
        assert!(!ps.contains("sleep 30"), "a member of the task's group survived:\n{ps}");
        let e = task.kill(15).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn a_mebibyte_of_multibyte_text_comes_back_byte_exact() {
    let t = TestScope::new("utf8");
    run(T, async {
        let s = t.sandbox.start(t.spec("utf8")).await.unwrap();
        // 1 MiB+ of 2-byte é and 4-byte emoji, written by the shell in odd-sized pieces.
        let unit = "é😀é";
        std::fs::write(t.dir.path().join("unit.txt"), unit.repeat(1000)).unwrap();
        let script = "i=0; while [ $i -lt 140 ]; do cat unit.txt; i=$((i+1)); done";
        let task = s.spawn_task(TaskSpec::shell(script)).await.unwrap();
        task.wait(Some(Duration::from_secs(60))).await.unwrap();
        let expected = unit.repeat(1000 * 140);
        assert!(expected.len() > 1 << 20);
        let bytes = read_all(&s, task.id(), TaskStream::Stdout).await;
        assert_eq!(bytes.len(), expected.len());
        assert_eq!(sha256(&bytes), sha256(expected.as_bytes()));
        // Read as text in small pieces that cut characters: no character is broken.
        let mut text = String::new();
        let mut offset = 0;
        while offset < expected.len() as u64 {
            let c = task.read(TaskStream::Stdout, offset, 4093, Some(Duration::ZERO)).await.unwrap();
            let n = c.text_len();
            assert!(n > 0, "{:?} at {offset}", (c.offset, c.data.len(), c.end, c.window_start));
            text.push_str(std::str::from_utf8(&c.data[..n]).expect("whole characters"));
            offset = c.offset + n as u64;
        }
        assert_eq!(text, expected);
        assert_eq!(complete_utf8_len("é".as_bytes()), 2);
        s.stop().await.unwrap();
    });
}

#[test]
fn the_spool_is_bounded_and_reports_what_it_dropped() {
    let t = TestScope::new("spool");
    run(T, async {
        let s = t.sandbox.start(t.spec("spool")).await.unwrap();
        let task = s
            .spawn_task(
                TaskSpec::shell("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done").spool_cap(64 * 1024),
            )
            .await
            .unwrap();
        task.wait(Some(Duration::from_secs(60))).await.unwrap();
        let total: u64 = (0..20000).map(|i: u32| format!("line-{i}\n").len() as u64).sum();
        let c = task.read(TaskStream::Stdout, 0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
        assert_eq!(c.end, total);
        assert!(c.window_start > 0 && c.offset == c.window_start, "the oldest part was dropped: {c:?}");
        assert_eq!(c.dropped(), c.window_start);
        assert!(c.data.len() as u64 <= 64 * 1024);
        assert!(c.data.ends_with(b"line-19999\n"));
        // Reading past the end is an error that reports the window.
        let e = task.read(TaskStream::Stdout, total + 1, 10, Some(Duration::ZERO)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(&total.to_string()), "{e}");
        // At the end: empty, finished.
        let c = task.read(TaskStream::Stdout, total, 10, Some(Duration::ZERO)).await.unwrap();
        assert!(c.data.is_empty() && c.finished);
        s.stop().await.unwrap();
    });
}

#[test]
fn following_output_waits_for_new_bytes() {
    let t = TestScope::new("follow");
    run(T, async {
        let s = t.sandbox.start(t.spec("follow")).await.unwrap();
        let task = s.spawn_task(TaskSpec::shell("sleep 0.5; echo late")).await.unwrap();
        let c = task.read(TaskStream::Merged, 0, 100, Some(Duration::from_secs(20))).await.unwrap();
        assert_eq!(c.data, b"late\n");
        let quiet = s.spawn_task(TaskSpec::shell("sleep 30")).await.unwrap();
        let e = quiet.read(TaskStream::Merged, 0, 100, Some(Duration::from_millis(200))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        s.stop().await.unwrap();
    });
}

#[test]
fn many_concurrent_tasks_account_for_every_byte() {
    let t = TestScope::new("manytasks");
    run(T, async {
        let s = t.sandbox.start(t.spec("manytasks")).await.unwrap();
        // 1 MiB each in the benchmark (200 tasks); fewer and smaller here to keep CI short.
        let n = 40;
        let each: u64 = 256 * 1024;
        let mut ids = Vec::new();
        for i in 0..n {
            let cmd = format!("head -c {each} /dev/urandom | tee /tmp/t{i}.bin | cat >/dev/null; cat /tmp/t{i}.bin");
            ids.push(s.spawn_task(TaskSpec::shell(cmd)).await.unwrap().id().to_string());
        }
        for (i, id) in ids.iter().enumerate() {
            let done = s.task(id).wait(Some(Duration::from_secs(120))).await.unwrap();
            assert_eq!(done.state, ProcessState::Exited { code: 0 });
            let got = read_all(&s, id, TaskStream::Stdout).await;
            assert_eq!(got.len() as u64, each, "task {i}");
            let file = s.read_file(&format!("/tmp/t{i}.bin")).await.unwrap();
            assert_eq!(sha256(&got), sha256(&file), "task {i}");
        }
        s.stop().await.unwrap();
    });
}

#[test]
fn all_output_is_spooled_when_wait_returns() {
    // The agent used to report the exit before spooling what was still in the pipes, so
    // a single read right after `wait_task` could come up short under load.
    let t = TestScope::new("waitspool");
    run(T, async {
        let s = t.sandbox.start(t.spec("waitspool")).await.unwrap();
        let each: u64 = 256 * 1024;
        let mut ids = Vec::new();
        // Busy loops compete with the agent for the CPUs, and all writers start at the
        // same moment, so the agent is busy pumping 80 pipes when the processes exit.
        let mut burners = Vec::new();
        for _ in 0..4 {
            burners.push(s.spawn_task(TaskSpec::shell("while :; do :; done")).await.unwrap().id().to_string());
        }
        for i in 0..40 {
            let cmd = format!("while [ ! -e /tmp/go ]; do sleep 0.05; done; yes line-{i} | head -c {each}");
            ids.push(s.spawn_task(TaskSpec::shell(cmd)).await.unwrap().id().to_string());
        }
        s.exec(&["touch", "/tmp/go"], ExecOptions::new()).await.unwrap();
        for (i, id) in ids.iter().enumerate() {
            s.task(id).wait(Some(Duration::from_secs(120))).await.unwrap();
            for stream in [TaskStream::Stdout, TaskStream::Merged] {
                let c = s.task(id).read(stream, 0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
                assert_eq!((c.end, c.data.len() as u64), (each, each), "task {i}, {stream:?}: one read after wait");
            }
        }
        for id in &burners {
            s.task(id).kill(9).await.unwrap();
        }
        s.stop().await.unwrap();
    });
}

#[test]
fn bad_task_input_is_typed() {
    let t = TestScope::new("badtask");
    run(T, async {
        let s = t.sandbox.start(t.spec("badtask")).await.unwrap();
        let e = s.task("task-0000000000000000").info().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(s.task("../etc").info().await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let e =
            s.task("task-0000000000000000").read(TaskStream::Merged, 0, 10, Some(Duration::ZERO)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let task = s.spawn_task(TaskSpec::argv(["true"])).await.unwrap();
        for sig in [0, -1, 32, 99] {
            assert_eq!(task.kill(sig).await.unwrap_err().kind(), ErrorKind::InvalidInput, "{sig}");
        }
        assert_eq!(
            task.read(TaskStream::Merged, 0, 0, Some(Duration::ZERO)).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let none: [&str; 0] = [];
        assert_eq!(s.spawn_task(TaskSpec::argv(none)).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(s.spawn_task(TaskSpec::argv(["a\0b"])).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let e = s.spawn_task(TaskSpec::argv(["no-such-program"])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.spawn_task(TaskSpec::argv(["true"]).cwd("/no/such")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.spawn_task(TaskSpec::argv(["true"]).spool_cap(10)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn a_task_handle_follows_reads_without_limit_and_attaches() {
    let t = TestScope::new("taskfollow");
    run(T, async {
        let s = t.sandbox.start(t.spec("taskfollow")).await.unwrap();
        let task = s
            .spawn_task(TaskSpec::shell("for i in 1 2 3 4 5; do echo line-$i; echo err-$i >&2; sleep 0.1; done"))
            .await
            .unwrap();
        // A read without a time limit waits for the first output instead of timing out.
        let first = task.read(TaskStream::Stdout, 0, 1 << 20, None).await.unwrap();
        assert!(first.data.starts_with(b"line-1\n"), "{first:?}");
        // Following a stream gives all of it, in order, and then ends.
        let mut follow = task.follow(TaskStream::Stdout, 0);
        let mut all = Vec::new();
        while let Some(c) = follow.next().await {
            let c = c.unwrap();
            assert_eq!(c.offset, all.len() as u64, "no gap");
            all.extend_from_slice(&c.data);
        }
        assert_eq!(all, b"line-1\nline-2\nline-3\nline-4\nline-5\n");
        assert_eq!(follow.offset(), all.len() as u64);
        // It ended: so the task has.
        assert_eq!(task.info().await.unwrap().state, ProcessState::Exited { code: 0 });
        // read_until on a stream.
        let r = task.read_until(TaskStream::Stderr, 0, b"err-3", 1 << 20, None).await.unwrap();
        assert!(r.found && r.chunk.data.starts_with(b"err-1\n"), "{r:?}");

        // Handles: attach checks the id, a handle from a bare id fails at its first call.
        let again = s.attach_task(task.id()).await.unwrap();
        assert_eq!(again.initial_info().unwrap().state, ProcessState::Exited { code: 0 });
        assert!(s.task(task.id()).initial_info().is_none());
        let e = s.attach_task("task-0000000000000000").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.task("task-0000000000000000").wait(None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = s.attach_task("x/../y").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        s.stop().await.unwrap();
    });
}
