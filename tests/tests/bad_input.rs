//! Bad input: each case is a typed error, and nothing is left behind.

use std::time::{Duration, Instant};

use sandbox_core::{Config, ErrorKind, ExecOptions, Limits, Sandbox, SessionSpec};
use sandbox_e2e::{TestScope, rootless, run, test_config, unique_id};

const T: Duration = Duration::from_secs(120);

fn control_base(t: &TestScope) -> std::path::PathBuf {
    let uid = rustix::process::getuid().as_raw();
    match &t.sandbox.config().runtime_dir {
        Some(d) => d.clone(),
        None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            Some(x) => std::path::PathBuf::from(x).join("sandbox"),
            None if uid == 0 => "/run/sandbox".into(),
            None => std::env::temp_dir().join(format!("sandbox-{uid}")),
        },
    }
}

async fn expect_start_error(t: &TestScope, spec: SessionSpec, kind: ErrorKind) -> sandbox_core::Error {
    let id = spec.id.clone();
    let e = t.sandbox.start(spec).await.expect_err("start should fail");
    assert_eq!(e.kind(), kind, "{id:?}: {e}");
    assert!(t.leftovers().is_empty(), "{id:?} left a container");
    if sandbox_core::validate::session_id(&id).is_ok() {
        assert!(!control_base(t).join(&id).exists(), "{id:?} left a control dir");
    }
    e
}

#[test]
fn bad_session_ids() {
    let t = TestScope::new("badid");
    run(T, async {
        for id in ["", &"x".repeat(65), "a/b", "a b", "..", "../../etc", "-rf", "a\0b"] {
            expect_start_error(&t, SessionSpec::new(id, t.dir.path()), ErrorKind::InvalidInput).await;
        }
    });
}

#[test]
fn bad_working_dirs_and_images() {
    let t = TestScope::new("baddir");
    run(T, async {
        let file = t.dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        for dir in [t.dir.path().join("missing"), file, "/".into(), "/etc".into()] {
            expect_start_error(&t, SessionSpec::new(unique_id("d"), dir), ErrorKind::InvalidInput).await;
        }
        for image in ["-v", "", "a b"] {
            expect_start_error(&t, t.spec("img").image(image), ErrorKind::InvalidInput).await;
        }
        expect_start_error(&t, t.spec("env").env("A=B", "1"), ErrorKind::InvalidInput).await;
        expect_start_error(&t, t.spec("pc").post_create([" "]).allow_post_create(true), ErrorKind::InvalidInput).await;
        let tiny = Limits { memory_bytes: 1024, ..Limits::default() };
        expect_start_error(&t, t.spec("lim").limits(tiny), ErrorKind::InvalidInput).await;
        let greedy = Limits { cpus: 4096.0, ..Limits::default() };
        expect_start_error(&t, t.spec("cpu").limits(greedy), ErrorKind::InvalidInput).await;
    });
}

#[test]
fn bad_ports() {
    let t = TestScope::new("badport");
    run(T, async {
        expect_start_error(&t, t.spec("p0").ports([0]), ErrorKind::InvalidInput).await;
        expect_start_error(&t, t.spec("pdup").ports([40001, 40001]), ErrorKind::InvalidInput).await;
        if rootless() {
            let e = expect_start_error(&t, t.spec("plow").ports([80]), ErrorKind::InvalidInput).await;
            assert!(e.to_string().contains("rootless"), "{e}");
        }
        assert_eq!(sandbox_core::validate::port_from_i64(70000).unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn bad_exec_arguments_and_dead_sessions() {
    let t = TestScope::new("badexec");
    run(T, async {
        let s = t.sandbox.start(t.spec("badexec")).await.unwrap();
        let none: [&str; 0] = [];
        for (argv, opts) in [
            (&none[..], ExecOptions::new()),
            (&[""][..], ExecOptions::new()),
            (&["echo", "a\0b"][..], ExecOptions::new()),
            (&["true"][..], ExecOptions::new().timeout(Duration::ZERO)),
            (&["true"][..], ExecOptions::new().env("", "x")),
            (&["true"][..], ExecOptions::new().cwd("a\0b")),
        ] {
            let e = s.exec(argv, opts.clone()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{argv:?} {opts:?}: {e}");
        }
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the session is unharmed");
        s.stop().await.unwrap();
        let e = s.exec(&["true"], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SessionNotFound, "{e}");
    });
}

#[test]
fn podman_missing_is_a_typed_error_with_advice() {
    let t = TestScope::new("nopodman");
    run(T, async {
        let mut config: Config = test_config(&t.scope);
        config.podman = "podman-not-installed-here".into();
        let sb = Sandbox::new(config);
        let e = sb.start(SessionSpec::new(unique_id("np"), t.dir.path())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::EngineMissing, "{e}");
        assert!(e.to_string().contains("install"), "{e}");
        assert_eq!(sb.list().await.unwrap_err().kind(), ErrorKind::EngineMissing);
        assert_eq!(sb.info().await.unwrap_err().kind(), ErrorKind::EngineMissing);
    });
}

#[test]
fn a_missing_image_fails_fast_and_names_it() {
    let t = TestScope::new("noimage");
    run(T, async {
        let mut config = test_config(&t.scope);
        config.default_image = "localhost/sandbox-no-such-image:1".into();
        let sb = Sandbox::new(config);
        let spec = SessionSpec::new(unique_id("ni"), t.dir.path());
        let id = spec.id.clone();
        let started = Instant::now();
        let e = sb.start(spec).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ImageUnavailable, "{e}");
        assert!(e.to_string().contains("localhost/sandbox-no-such-image:1"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(t.leftovers().is_empty());
        assert!(!control_base(&t).join(&id).exists());
    });
}

#[test]
fn huge_argv_and_environments_are_handled_or_refused_cleanly() {
    let t = TestScope::new("hugeargs");
    run(T, async {
        let s = t.sandbox.start(t.spec("hugeargs")).await.unwrap();
        // 1 MiB of argv in 16384 arguments: within ARG_MAX, so it runs.
        let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), "echo $#".into(), "sh".into()];
        argv.extend((0..16384).map(|i| format!("{i:063}")));
        let o = s.exec(&argv, ExecOptions::new()).await.unwrap();
        assert_eq!(o.stdout_lossy().trim(), "16384");
        // One 1 MiB argument: over the kernel's per-argument limit: a typed error.
        let big = "x".repeat(1 << 20);
        let e = s.exec(&["echo", big.as_str()], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.to_string().contains("Argument list too long"), "{e}");
        // 20 MiB of argv does not even fit in a protocol frame: refused before sending.
        let huge = "y".repeat(20 << 20);
        let e = s.exec(&["echo", huge.as_str()], ExecOptions::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        // 100k environment variables: runs or is refused with a typed error; never a hang.
        let mut opts = ExecOptions::new();
        for i in 0..100_000 {
            opts = opts.env(format!("V{i}"), "1");
        }
        match s.exec(&["env"], opts).await {
            Ok(o) => assert!(o.stdout_lossy().contains("\nV99999=1\n"), "{:?}", o.stderr_lossy()),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Io, "{e}"),
        }
        assert!(s.exec(&["true"], ExecOptions::new()).await.unwrap().success(), "the session is unharmed");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}
