//! Running commands through the agent: files, exit codes, stdin, timeouts, bytes.

use std::time::Duration;

use sandbox_core::{ErrorKind, ExecOptions, TaskSpec, TaskStream};
use sandbox_e2e::{TestScope, run, sha256};

const T: Duration = Duration::from_secs(120);

#[test]
fn files_written_inside_appear_on_the_host_and_back() {
    let t = TestScope::new("files");
    run(T, async {
        let s = t.sandbox.start(t.spec("files")).await.unwrap();
        let out = s.exec(&["sh", "-c", "echo from-inside > inside.txt && pwd"], ExecOptions::new()).await.unwrap();
        assert!(out.success(), "{out:?}");
        let real = std::fs::canonicalize(t.dir.path()).unwrap();
        assert_eq!(out.stdout_lossy().trim(), real.to_str().unwrap(), "runs in the working dir, same path");
        assert_eq!(std::fs::read_to_string(t.dir.path().join("inside.txt")).unwrap(), "from-inside\n");
        std::fs::write(t.dir.path().join("host.txt"), "from-host").unwrap();
        let out = s.exec(&["cat", "host.txt"], ExecOptions::new()).await.unwrap();
        assert_eq!(out.stdout, b"from-host");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn exit_codes_signals_and_missing_programs() {
    let t = TestScope::new("exit");
    run(T, async {
        let s = t.sandbox.start(t.spec("exit")).await.unwrap();
        let o = s.exec(&["sh", "-c", "exit 3"], ExecOptions::new()).await.unwrap();
        assert_eq!((o.exit_code, o.signal, o.success()), (Some(3), None, false));
        let o = s.exec(&["sh", "-c", "kill -9 $$"], ExecOptions::new()).await.unwrap();
        assert_eq!((o.exit_code, o.signal), (None, Some(9)));
        let o = s.exec(&["definitely-not-a-program"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.exit_code, Some(127));
        assert!(o.stderr_lossy().contains("not found"), "{}", o.stderr_lossy());
        std::fs::write(t.dir.path().join("noexec.sh"), "#!/bin/sh\necho hi\n").unwrap();
        let o = s.exec(&["./noexec.sh"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.exit_code, Some(126), "not executable");
        let o =
            s.exec(&["sh", "-c", "echo $FOO; pwd"], ExecOptions::new().env("FOO", "bar").cwd("/tmp")).await.unwrap();
        assert_eq!(o.stdout, b"bar\n/tmp\n");
        let e = s.exec(&["true"], ExecOptions::new().cwd("/no/such/dir")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn stdin_round_trips_ten_mebibytes_of_binary() {
    let t = TestScope::new("stdin");
    run(T, async {
        let s = t.sandbox.start(t.spec("stdin")).await.unwrap();
        let mut data = vec![0u8; 10 << 20];
        let mut x: u32 = 0x1234_5678;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        data[..4].copy_from_slice(b"\0\0\xff\n");
        let o = s.exec_stdin(&["cat"], data.clone(), ExecOptions::new()).await.unwrap();
        assert!(o.success(), "{:?}", o.stderr_lossy());
        assert_eq!(o.stdout.len(), data.len());
        assert_eq!(sha256(&o.stdout), sha256(&data));
        let o = s.exec_stdin(&["wc", "-c"], data.clone(), ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout_lossy().trim(), (10 << 20).to_string());
        // A command that never reads its stdin still finishes.
        let o = s.exec_stdin(&["true"], data, ExecOptions::new()).await.unwrap();
        assert!(o.success());
        s.stop().await.unwrap();
    });
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let t = TestScope::new("timeout");
    run(T, async {
        let s = t.sandbox.start(t.spec("timeout")).await.unwrap();
        let opts = ExecOptions::new().timeout(Duration::from_millis(500));
        let o = s.exec(&["sh", "-c", "sleep 100 & sleep 101"], opts).await.unwrap();
        assert!(o.timed_out, "{o:?}");
        assert_eq!(o.exit_code, None);
        assert_eq!(o.signal, Some(15));
        // A child that ignores SIGTERM is killed after the grace.
        let opts = ExecOptions::new().timeout(Duration::from_millis(300)).kill_grace(Duration::from_millis(300));
        let o = s.exec(&["sh", "-c", "trap '' TERM; sleep 102 & trap '' TERM; sleep 103"], opts).await.unwrap();
        assert!(o.timed_out);
        let ps = s.exec(&["ps", "-o", "pid,args"], ExecOptions::new()).await.unwrap();
        let text = ps.stdout_lossy();
        for n in ["sleep 100", "sleep 101", "sleep 102", "sleep 103"] {
            assert!(!text.contains(n), "{n} survived the timeout:\n{text}");
        }
        s.stop().await.unwrap();
    });
}

#[test]
fn dropping_an_exec_kills_its_process_group() {
    let t = TestScope::new("cancel");
    run(T, async {
        let s = t.sandbox.start(t.spec("cancel")).await.unwrap();
        let slow = s.exec(&["sh", "-c", "sleep 200 & sleep 201"], ExecOptions::new());
        assert!(tokio::time::timeout(Duration::from_millis(500), slow).await.is_err());
        let mut text = String::new();
        for _ in 0..50 {
            text = s.exec(&["ps", "-o", "args"], ExecOptions::new()).await.unwrap().stdout_lossy();
            if !text.contains("sleep 20") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!text.contains("sleep 20"), "abandoned exec left processes:\n{text}");
        s.stop().await.unwrap();
    });
}

#[test]
fn non_utf8_output_is_byte_exact() {
    let t = TestScope::new("bytes");
    run(T, async {
        let s = t.sandbox.start(t.spec("bytes")).await.unwrap();
        let o = s.exec(&["printf", r"\377\376\000abc\303"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout, b"\xff\xfe\x00abc\xc3");
        let o = s.exec(&["sh", "-c", r"printf '\200\201' >&2"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stderr, b"\x80\x81");
        s.stop().await.unwrap();
    });
}

#[test]
fn output_is_capped_per_stream_with_totals() {
    let t = TestScope::new("cap");
    run(T, async {
        let s = t.sandbox.start(t.spec("cap")).await.unwrap();
        let o = s
            .exec(
                &["sh", "-c", "head -c 300000 /dev/zero; head -c 10 /dev/zero >&2"],
                ExecOptions::new().output_cap(1000),
            )
            .await
            .unwrap();
        assert!(o.success());
        assert_eq!(o.stdout.len(), 1000);
        assert!(o.stdout_truncated);
        assert_eq!(o.stdout_total, 300000);
        assert_eq!(o.stderr.len(), 10);
        assert!(!o.stderr_truncated);
        assert_eq!(o.stderr_total, 10);
        s.stop().await.unwrap();
    });
}

/// The options rule for the knobs where zero means something: an output cap of 0
/// captures nothing but still counts, a kill grace of 0 sends SIGKILL at once (no
/// SIGTERM), a linger
/// of 0 does not wait for background children, and a read or wait of 0 checks once.
#[test]
fn zero_means_zero_where_zero_means_something() {
    let t = TestScope::new("zero");
    run(T, async {
        let s = t.sandbox.start(t.spec("zero")).await.unwrap();
        let o = s.exec(&["sh", "-c", "printf 12345; printf abc >&2"], ExecOptions::new().output_cap(0)).await.unwrap();
        assert!(o.success());
        assert_eq!((o.stdout.len(), o.stderr.len()), (0, 0), "nothing is captured");
        assert_eq!((o.stdout_total, o.stderr_total), (5, 3), "everything is counted");
        assert!(o.stdout_truncated && o.stderr_truncated);

        // A shell that reports SIGTERM: with a grace it gets one (its `sleep` dies of it
        // and the trap runs), with a grace of 0 only SIGKILL comes.
        let script = ["sh", "-c", "trap 'echo got-term' TERM; sleep 30; echo after"];
        let timeout = ExecOptions::new().timeout(Duration::from_millis(200));
        let o = s.exec(&script, timeout.clone().kill_grace(Duration::from_secs(20))).await.unwrap();
        assert!(o.timed_out);
        assert!(o.stdout_lossy().contains("got-term"), "with a grace, SIGTERM comes first: {o:?}");
        let o = s.exec(&script, timeout.kill_grace(Duration::ZERO)).await.unwrap();
        assert!(o.timed_out);
        assert_eq!(o.signal, Some(9), "SIGKILL");
        assert_eq!(o.stdout_lossy(), "", "no SIGTERM was sent, so no grace was given");

        let o = s
            .exec(&["sh", "-c", "echo now; (sleep 1; echo later) &"], ExecOptions::new().linger(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(o.stdout, b"now\n", "linger 0 does not wait for the background child");

        let task = s.spawn_task(TaskSpec::argv(["sleep", "30"])).await.unwrap();
        let c = task.read(TaskStream::Merged, 0, 100, Some(Duration::ZERO)).await.unwrap();
        assert!(c.data.is_empty() && !c.finished, "a read waiting 0 returns what is there: {c:?}");
        let e = task.wait(Some(Duration::ZERO)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "a wait of 0 checks once: {e}");
        task.kill(9).await.unwrap();
        s.stop().await.unwrap();
    });
}

#[test]
fn background_children_do_not_hold_exec_open() {
    let t = TestScope::new("linger");
    run(T, async {
        let s = t.sandbox.start(t.spec("linger")).await.unwrap();
        let o = s.exec(&["sh", "-c", "echo started; sleep 300 &"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout, b"started\n");
        assert!(o.success());
        s.stop().await.unwrap();
    });
}

#[test]
fn many_concurrent_execs_share_one_connection() {
    let t = TestScope::new("concurrent");
    run(T, async {
        let s = t.sandbox.start(t.spec("concurrent")).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..64 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let o = s.exec(&["sh", "-c", &format!("echo {i}; echo err{i} >&2")], ExecOptions::new()).await.unwrap();
                assert_eq!(o.stdout_lossy(), format!("{i}\n"));
                assert_eq!(o.stderr_lossy(), format!("err{i}\n"));
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        s.stop().await.unwrap();
    });
}
