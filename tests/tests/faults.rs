//! Faults from outside: each has a defined, typed outcome and leaves nothing behind.

use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_core::{ErrorKind, ExecOptions, Sandbox, SessionSpec, TaskSpec, TaskStream};
use sandbox_e2e::{TestScope, helper_path, rootless, run, test_config, unique_id};

const T: Duration = Duration::from_secs(180);

#[test]
fn a_container_killed_mid_exec_ends_the_exec_with_a_lost_session() {
    let t = TestScope::new("midexec");
    run(T, async {
        let s = t.sandbox.start(t.spec("midexec")).await.unwrap();
        let container = s.container().to_string();
        let podman = t.sandbox.config().podman.clone();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Command::new(podman).args(["kill", &container]).output().unwrap()
        });
        let started = Instant::now();
        let e = s.exec(&["sleep", "300"], ExecOptions::new()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(60), "no hang");
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        assert!(killer.await.unwrap().status.success());
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_deleted_image_keeps_running_sessions_and_fails_new_ones_fast() {
    let t = TestScope::new("rmi");
    let image = format!("localhost/sandbox-fault-{}:1", unique_id("img"));
    let podman = t.sandbox.config().podman.clone();
    let tag = Command::new(&podman).args(["tag", &t.sandbox.config().default_image, &image]).output().unwrap();
    assert!(tag.status.success(), "{}", String::from_utf8_lossy(&tag.stderr));
    run(T, async {
        let mut config = test_config(&t.scope);
        config.trusted_images.push(image.clone());
        let sb = Sandbox::new(config);
        let s = sb.start(SessionSpec::new(unique_id("rmi"), t.dir.path()).image(&image)).await.unwrap();
        let rmi = Command::new(&podman).args(["rmi", &image]).output().unwrap();
        assert!(rmi.status.success(), "{}", String::from_utf8_lossy(&rmi.stderr));
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the running session is unaffected");
        let e = sb.start(SessionSpec::new(unique_id("rmi2"), t.dir.path()).image(&image)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ImageUnavailable, "{e}");
        assert!(e.to_string().contains(&image));
        s.stop().await.unwrap();
    });
    let _ = Command::new(&podman).args(["rmi", &image]).output();
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_deleted_control_dir_is_a_typed_error_and_stop_still_cleans_up() {
    let t = TestScope::new("ctldel");
    run(T, async {
        let spec = t.spec("ctldel");
        let id = spec.id.clone();
        let s = t.sandbox.start(spec).await.unwrap();
        std::fs::remove_dir_all(s.control_dir()).unwrap();
        // The open connection keeps working...
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success());
        // ...but nobody can attach any more, and they are told why.
        let e = t.sandbox.attach(&id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        assert!(e.to_string().contains("still running"), "{e}");
        s.stop().await.unwrap();
        assert!(t.sandbox.list().await.unwrap().is_empty());
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_socket_symlink_planted_by_the_container_is_never_followed() {
    let t = TestScope::new("plant");
    run(T, async {
        let spec = t.spec("plant");
        let id = spec.id.clone();
        let s = t.sandbox.start(spec).await.unwrap();
        // A host socket the container would love the host to connect to.
        let decoy_dir = tempfile::tempdir().unwrap();
        let decoy_path = decoy_dir.path().join("decoy.sock");
        let decoy = UnixListener::bind(&decoy_path).unwrap();
        decoy.set_nonblocking(true).unwrap();
        let plant = format!("rm -f /.sandbox/agent.sock && ln -s {} /.sandbox/agent.sock", decoy_path.display());
        let o = s.exec(&["sh", "-c", &plant], ExecOptions::new()).await.unwrap();
        assert!(o.success(), "{}", o.stderr_lossy());
        let e = t.sandbox.attach(&id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionLost, "{e}");
        assert!(e.to_string().contains("not a socket"), "{e}");
        assert!(decoy.accept().is_err(), "the host connected through the planted symlink");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn podman_missing_from_path_is_a_typed_error() {
    let t = TestScope::new("nopath");
    let out = Command::new(helper_path(env!("CARGO_BIN_EXE_sandbox-e2e-helper")))
        .env("SANDBOX_SCOPE", &t.scope)
        .env("PATH", "/nonexistent")
        .env_remove("SANDBOX_PODMAN")
        .arg("list")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "EngineMissing", "{v}");
    assert!(v["error"].as_str().unwrap().contains("install"), "{v}");
}

/// A tiny filesystem for the control dirs: as root the test mounts it; the rootless run
/// gets one prepared by scripts/test (SANDBOX_E2E_SMALL_FS).
struct SmallFs {
    path: std::path::PathBuf,
    mounted: bool,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// The rootless run's small filesystem is one for the whole process: its tests take
/// turns, so one filling it cannot make another's start fail.
static SMALL_FS_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl SmallFs {
    fn new() -> SmallFs {
        let turn = SMALL_FS_TURN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = std::env::var_os("SANDBOX_E2E_SMALL_FS") {
            return SmallFs { path: p.into(), mounted: false, _turn: turn };
        }
        assert!(
            !rootless(),
            "run as root, or set SANDBOX_E2E_SMALL_FS to a small writable filesystem (scripts/test does)"
        );
        let path = std::env::temp_dir().join(unique_id("sandbox-smallfs"));
        std::fs::create_dir(&path).unwrap();
        let m = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        SmallFs { path, mounted: true, _turn: turn }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).output();
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

#[test]
fn a_full_control_dir_disk_truncates_spools_and_nothing_crashes() {
    let t = TestScope::new("diskfull");
    let fs = SmallFs::new();
    run(T, async {
        let mut config = test_config(&t.scope);
        config.runtime_dir = Some(fs.path.join(unique_id("run")));
        let sb = Sandbox::new(config);
        let s = sb.start(SessionSpec::new(unique_id("full"), t.dir.path())).await.unwrap();
        let task = s.spawn_task(TaskSpec::shell("head -c 3000000 /dev/zero; echo done >&2")).await.unwrap();
        let done = task.wait(Some(Duration::from_secs(60))).await.unwrap();
        assert!(!done.state.is_running());
        let c = task.read(TaskStream::Stdout, 0, 1 << 20, Some(Duration::ZERO)).await.unwrap();
        assert!(c.lost > 0, "bytes that did not fit are reported lost: {:?}", (c.end, c.lost));
        assert!(c.end < 3_000_000, "{:?}", (c.end, c.lost));
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the session still works");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_disk_full_during_a_snapshot_is_a_typed_error_and_leaves_no_half_snapshot() {
    let t = TestScope::new("snapfull");
    let fs = SmallFs::new();
    // More than the small filesystem holds.
    std::fs::write(t.dir.path().join("big.bin"), vec![7u8; 2 << 20]).unwrap();
    run(T, async {
        let store = fs.path.join(unique_id("snapshots"));
        let mut config = test_config(&t.scope);
        config.snapshot_dir = Some(store.clone());
        let sb = Sandbox::new(config);
        let s = sb.start(SessionSpec::new(unique_id("snapfull"), t.dir.path())).await.unwrap();
        let e = sb.snapshot(&s, "too-big").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.to_string().contains("No space left on device"), "{e}");
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0, "no half snapshot is left");
        assert!(sb.snapshots().await.unwrap().is_empty());
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the session was resumed");
        let _ = std::fs::remove_dir_all(&store);
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}
