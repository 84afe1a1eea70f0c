//! Session lifecycle against real podman: start report, attach from another process,
//! list, stop, reap, concurrent starts, odd paths, policy gates.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use sandbox_core::{ErrorKind, ExecOptions, ImageReason, Network, Provisioning, SessionSpec};
use sandbox_e2e::{TestScope, helper_path, rootless, run, unique_id};
use sandbox_proto::layout;

const T: Duration = Duration::from_secs(120);

fn helper() -> std::path::PathBuf {
    helper_path(env!("CARGO_BIN_EXE_sandbox-e2e-helper"))
}

#[test]
fn start_reports_what_it_did_and_stop_removes_everything() {
    let t = TestScope::new("report");
    run(T, async {
        let s = t.sandbox.start(t.spec("report")).await.unwrap();
        let r = s.start_report().unwrap().clone();
        assert_eq!(r.image.reason, ImageReason::Default);
        assert_eq!(r.image.used, t.sandbox.config().default_image);
        assert_eq!(r.network, Network::Bridge);
        assert_eq!(r.provisioning, Provisioning::Disabled);
        assert_eq!(r.limits.enforced, !rootless() || t.sandbox.info().await.unwrap().limits_enforceable);
        let control = s.control_dir().to_path_buf();
        assert!(control.join(layout::SHARED_DIR).join(layout::SOCKET).exists());
        let started = Instant::now();
        s.stop().await.unwrap();
        let took = started.elapsed();
        // The original component took 10 s here (sleep as PID 1 ignores SIGTERM); the
        // 0.5 s target is measured by the benchmark, this only guards against that bug.
        assert!(took < Duration::from_secs(8), "stop took {took:?}");
        assert!(!control.exists(), "control dir removed");
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound, "{e}");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn another_process_attaches_and_lists() {
    let t = TestScope::new("attach");
    run(T, async {
        let spec = t.spec("attach");
        let id = spec.id.clone();
        let s = t.sandbox.start(spec).await.unwrap();
        s.exec(&["sh", "-c", "echo state-kept > /tmp/marker"], ExecOptions::new()).await.unwrap();
        let out = Command::new(helper())
            .env("SANDBOX_SCOPE", &t.scope)
            .args(["exec", &id, "cat", "/tmp/marker"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "helper said {:?} / {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(v["stdout"], "state-kept\n", "{v}");
        let out = Command::new(helper()).env("SANDBOX_SCOPE", &t.scope).arg("list").output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v, serde_json::json!([id]));
        // In-process attach too, and a missing id is a typed error.
        let again = t.sandbox.attach(&id).await.unwrap();
        assert_eq!(again.exec(&["cat", "/tmp/marker"], ExecOptions::new()).await.unwrap().stdout, b"state-kept\n");
        let e = t.sandbox.attach("no-such-session").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound);
        s.stop().await.unwrap();
        let out = Command::new(helper()).env("SANDBOX_SCOPE", &t.scope).args(["exec", &id, "true"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["kind"], "SessionNotFound", "{v}");
    });
}

#[test]
fn list_shows_sessions_with_their_details() {
    let t = TestScope::new("list");
    run(T, async {
        let port = sandbox_e2e::free_port();
        let spec = t.spec("list").ports([port]);
        let id = spec.id.clone();
        let before = SystemTime::now() - Duration::from_secs(5);
        let s = t.sandbox.start(spec).await.unwrap();
        let list = t.sandbox.list().await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        let i = &list[0];
        assert_eq!(i.id, id);
        assert_eq!(i.container, s.container());
        assert_eq!(i.working_dir, std::fs::canonicalize(t.dir.path()).unwrap());
        assert_eq!(i.image, t.sandbox.config().default_image);
        assert_eq!(i.state, "running");
        assert!(i.created >= before, "{:?}", i.created);
        assert_eq!(i.ports, vec![port]);
        t.sandbox.stop(&id).await.unwrap();
        assert!(t.sandbox.list().await.unwrap().is_empty());
        let e = t.sandbox.stop(&id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound);
    });
}

#[test]
fn reap_removes_orphans_and_never_touches_foreign_containers() {
    let t = TestScope::new("reap");
    let foreign = format!("{}{}", t.sandbox.config().container_prefix, unique_id("foreign"));
    let podman = t.sandbox.config().podman.clone();
    run(T, async {
        let args = sandbox_e2e::foreign_container_args(&t.sandbox, &foreign).await;
        let made = Command::new(&podman).args(&args).output().unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let keep = t.sandbox.start(t.spec("keep")).await.unwrap();
        let orphan = t.sandbox.start(t.spec("orphan")).await.unwrap();
        let reaped = t.sandbox.reap_orphans(&[keep.id()]).await.unwrap();
        assert_eq!(reaped, vec![orphan.id().to_string()]);
        assert!(!orphan.control_dir().exists());
        assert!(keep.exec(&["true"], ExecOptions::new()).await.unwrap().success());
        keep.stop().await.unwrap();
    });
    let still = Command::new(&podman).args(["container", "exists", &foreign]).status().unwrap();
    let _ = Command::new(&podman).args(["rm", "-f", "-t", "0", &foreign]).output();
    assert!(still.success(), "reap removed a container sandbox did not create");
}

#[test]
fn two_processes_starting_the_same_id_one_wins() {
    let t = TestScope::new("race");
    run(T, async {
        let spec = t.spec("race");
        let a = t.sandbox.start(spec.clone());
        let b = t.sandbox.start(spec.clone());
        let (a, b) = tokio::join!(a, b);
        let (won, lost) = match (a, b) {
            (Ok(s), Err(e)) | (Err(e), Ok(s)) => (s, e),
            (a, b) => panic!("expected exactly one winner: {a:?} / {b:?}"),
        };
        assert_eq!(lost.kind(), ErrorKind::SessionExists, "{lost}");
        // Starting it again while it runs is refused too, and leaves it working.
        let e = t.sandbox.start(spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionExists, "{e}");
        assert!(won.exec(&["true"], ExecOptions::new()).await.unwrap().success());
        won.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_start_dropped_at_any_point_leaves_nothing_behind() {
    let t = TestScope::new("dropstart");
    run(T, async {
        let reference = t.sandbox.start(t.spec("dropref")).await.unwrap();
        let base = reference.control_dir().parent().unwrap().to_path_buf();
        reference.stop().await.unwrap();
        // Drop the start after growing delays: before, during and after `podman run`,
        // while waiting for the agent. Whatever was made is removed.
        for (i, ms) in [50u64, 150, 250, 350, 500, 700, 1000, 1500].into_iter().enumerate() {
            let spec = t.spec(&format!("drop{i}"));
            let id = spec.id.clone();
            let started = tokio::time::timeout(Duration::from_millis(ms), t.sandbox.start(spec)).await;
            if let Ok(Ok(s)) = started {
                // Fast enough to finish: a normal session; stop it.
                s.stop().await.unwrap();
            }
            let left = t.leftovers();
            assert!(left.is_empty(), "dropped after {ms} ms: left {left:?}");
            assert!(!base.join(&id).exists(), "dropped after {ms} ms: its control dir is gone");
            assert!(
                t.sandbox.attach(&id).await.is_err_and(|e| e.kind() == ErrorKind::SessionNotFound),
                "dropped after {ms} ms: the session is not findable"
            );
        }
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_session_that_swaps_its_agent_lock_is_not_cleared_by_a_second_start() {
    let t = TestScope::new("lockswap");
    run(T, async {
        let spec = t.spec("lockswap");
        let s = t.sandbox.start(spec.clone()).await.unwrap();
        // The agent holds its lock on the old inode; the new file is unlocked.
        let o = s
            .exec(&["sh", "-c", "rm -f /.sandbox/agent.lock && touch /.sandbox/agent.lock"], ExecOptions::new())
            .await
            .unwrap();
        assert!(o.success(), "{o:?}");
        let e = t.sandbox.start(spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionExists, "{e}");
        assert!(e.to_string().contains("container is running"), "{e}");
        // Its control dir was left alone: the running session still answers a caller
        // that attaches afresh (a new connection to its socket).
        let again = t.sandbox.attach(s.id()).await.unwrap();
        let o = again.exec(&["echo", "still here"], ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout_lossy(), "still here\n");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn paths_with_colons_and_commas_are_mounted_exactly() {
    let t = TestScope::new("paths");
    run(T, async {
        let odd = t.dir.path().join("a:b,c \"d\"");
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(odd.join("here.txt"), "right dir").unwrap();
        let s = t.sandbox.start(SessionSpec::new(unique_id("paths"), &odd)).await.unwrap();
        let o = s.exec(&["sh", "-c", "pwd; cat here.txt"], ExecOptions::new()).await.unwrap();
        let real = std::fs::canonicalize(&odd).unwrap();
        assert_eq!(o.stdout_lossy(), format!("{}\nright dir", real.display()));
        s.stop().await.unwrap();
    });
}

#[test]
fn untrusted_images_are_replaced_unless_allowed() {
    let t = TestScope::new("untrusted");
    run(T, async {
        let s = t.sandbox.start(t.spec("untrusted").image("docker.io/library/alpine:3.20")).await.unwrap();
        let r = s.start_report().unwrap();
        assert_eq!(r.image.reason, ImageReason::UntrustedReplaced);
        assert_eq!(r.image.used, t.sandbox.config().default_image);
        assert!(r.warnings.iter().any(|w| w.contains("not trusted")), "{:?}", r.warnings);
        s.stop().await.unwrap();
        // Allowed, it is used as asked: here it is not present, which fails fast and
        // names the image.
        let spec = t.spec("untrusted2").image("docker.io/library/alpine:3.20").allow_untrusted_image(true);
        let id = spec.id.clone();
        let started = Instant::now();
        let e = t.sandbox.start(spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ImageUnavailable, "{e}");
        assert!(e.to_string().contains("docker.io/library/alpine:3.20"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(30), "no registry retries");
        assert!(t.sandbox.list().await.unwrap().iter().all(|s| s.id != id));
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn post_create_is_gated_and_its_failures_reported() {
    let t = TestScope::new("postcreate");
    run(T, async {
        let cmds = ["echo ran > post.txt", "echo broken >&2; exit 3"];
        let s = t.sandbox.start(t.spec("pc-off").post_create(cmds)).await.unwrap();
        let r = s.start_report().unwrap();
        assert_eq!(r.post_create.len(), 2);
        assert!(r.post_create.iter().all(|p| !p.ran));
        assert!(r.warnings.iter().any(|w| w.contains("skipped 2 post-create")), "{:?}", r.warnings);
        assert!(!t.dir.path().join("post.txt").exists());
        s.stop().await.unwrap();

        let s = t.sandbox.start(t.spec("pc-on").post_create(cmds).allow_post_create(true)).await.unwrap();
        let r = s.start_report().unwrap();
        assert!(r.post_create[0].succeeded(), "{:?}", r.post_create[0]);
        assert!(t.dir.path().join("post.txt").exists());
        let failed = &r.post_create[1];
        assert!(failed.ran);
        assert_eq!(failed.exit_code, Some(3));
        assert!(failed.output_tail.contains("broken"), "{failed:?}");
        assert!(r.warnings.iter().any(|w| w.contains("failed")), "{:?}", r.warnings);
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the session still works");
        s.stop().await.unwrap();
    });
}

#[test]
fn provisioning_is_best_effort_and_reported() {
    let t = TestScope::new("provision");
    run(T, async {
        let s = t.sandbox.start(t.spec("prov").provision(true)).await.unwrap();
        assert_eq!(
            s.start_report().unwrap().provisioning,
            Provisioning::Skipped { reason: "the image has neither apk nor apt-get".into() }
        );
        s.stop().await.unwrap();
        let s = t.sandbox.start(t.spec("prov-none").provision(true).network(Network::None)).await.unwrap();
        assert!(matches!(s.start_report().unwrap().provisioning, Provisioning::Skipped { .. }));
        s.stop().await.unwrap();
    });
}

#[test]
fn limits_are_in_the_cgroup_or_refused_when_required() {
    let t = TestScope::new("limits");
    run(T, async {
        let host = t.sandbox.info().await.unwrap();
        let limits = sandbox_core::Limits { memory_bytes: 256 << 20, cpus: 1.0, pids: 128 };
        if host.limits_enforceable {
            let s = t.sandbox.start(t.spec("limits").limits(limits).require_resource_limits(true)).await.unwrap();
            assert!(s.start_report().unwrap().limits.enforced);
            let o = s
                .exec(
                    &["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"],
                    ExecOptions::new(),
                )
                .await
                .unwrap();
            assert_eq!(o.stdout_lossy(), format!("{}\n128\n", 256u64 << 20));
            s.stop().await.unwrap();
        } else {
            let spec = t.spec("limits").limits(limits).require_resource_limits(true);
            let id = spec.id.clone();
            let e = t.sandbox.start(spec).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::LimitsUnavailable, "{e}");
            assert!(t.sandbox.list().await.unwrap().iter().all(|s| s.id != id));
            let s = t.sandbox.start(t.spec("limits-soft").limits(limits)).await.unwrap();
            let r = s.start_report().unwrap();
            assert!(!r.limits.enforced);
            assert!(r.limits.reason.is_some());
            assert!(r.warnings.iter().any(|w| w.contains("without memory/cpu/pids limits")), "{:?}", r.warnings);
            s.stop().await.unwrap();
        }
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_container_removed_from_outside_is_reported() {
    let t = TestScope::new("removed");
    run(T, async {
        let s = t.sandbox.start(t.spec("removed")).await.unwrap();
        let st =
            Command::new(&t.sandbox.config().podman).args(["rm", "-f", "-t", "0", s.container()]).output().unwrap();
        assert!(st.status.success());
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::SessionNotFound | ErrorKind::SessionLost), "{e}");
        assert!(e.to_string().contains("removed") || e.to_string().contains("exited"), "{e}");
        s.stop().await.unwrap();
    });
}

#[test]
fn start_reports_progress_and_images_can_be_checked() {
    let t = TestScope::new("progress");
    run(T, async {
        assert!(t.sandbox.image_available(&t.sandbox.config().default_image).await.unwrap());
        assert!(!t.sandbox.image_available("localhost/sandbox-not-here:1").await.unwrap());
        assert_eq!(t.sandbox.image_available("-x").await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let phases = std::sync::Mutex::new(Vec::new());
        let spec = t.spec("progress").post_create(["true"]).allow_post_create(true).provision(true);
        let s = t.sandbox.start_with_progress(spec, |p| phases.lock().unwrap().push(p)).await.unwrap();
        use sandbox_core::StartPhase::*;
        assert_eq!(
            *phases.lock().unwrap(),
            vec![
                Probing,
                CreatingContainer { attempt: 1 },
                WaitingForAgent,
                Provisioning,
                PostCreate { index: 0, command: "true".into() },
                Ready
            ]
        );
        s.stop().await.unwrap();
    });
}

#[test]
fn two_os_processes_starting_the_same_id_one_wins() {
    let t = TestScope::new("race2");
    let id = unique_id("race2");
    let spawn = || {
        Command::new(helper())
            .env("SANDBOX_SCOPE", &t.scope)
            .current_dir(t.dir.path())
            .args(["start", &id])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs: Vec<serde_json::Value> =
        [a, b].into_iter().map(|c| serde_json::from_slice(&c.wait_with_output().unwrap().stdout).unwrap()).collect();
    let won = outs.iter().filter(|v| v["started"] == id.as_str()).count();
    let lost: Vec<_> = outs.iter().filter(|v| v.get("kind").is_some()).collect();
    assert_eq!(won, 1, "{outs:?}");
    assert_eq!(lost.len(), 1, "{outs:?}");
    assert_eq!(lost[0]["kind"], "SessionExists", "{outs:?}");
    assert_eq!(t.leftovers().len(), 1, "exactly one container, no half-made second one");
    run(T, async {
        assert!(t.sandbox.attach(&id).await.unwrap().exec(&["true"], ExecOptions::new()).await.unwrap().success());
        t.sandbox.stop(&id).await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}
