//! Sessions started from a `devcontainer.json`, against real podman: what the file
//! supports is in effect in the container (environment, substitutions, published
//! ports, post-create commands, a built image), and bad files fail or are reported the
//! way the README says. The attacks a hostile file can try are the probe family in
//! `probe_devcontainer.rs`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sandbox_core::{ErrorKind, ExecOptions, ImageReason, Sandbox, Session, SessionSpec};
use sandbox_e2e::{TestScope, free_port, http_get, run, test_config, unique_id};

const T: Duration = Duration::from_secs(240);

/// Writes `text` as `dir/.devcontainer/devcontainer.json`.
fn write_devcontainer(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join(".devcontainer")).unwrap();
    std::fs::write(dir.join(".devcontainer/devcontainer.json"), text).unwrap();
}

/// A sandbox of `t`'s scope whose configuration `adjust` changed.
fn sandbox_with(t: &TestScope, adjust: impl FnOnce(&mut sandbox_core::Config)) -> Sandbox {
    let mut c = test_config(&t.scope);
    adjust(&mut c);
    Sandbox::new(c)
}

async fn sh(s: &Session, script: &str) -> String {
    let o = s.exec(&["sh", "-c", script], ExecOptions::new().timeout(Duration::from_secs(60))).await.unwrap();
    assert!(o.success(), "{script}: {o:?}");
    o.stdout_lossy()
}

/// The whole path: a file with containerEnv (with substitutions), remoteEnv,
/// forwardPorts, appPort and a post-create command (allowed), started with
/// `--devcontainer`; each is in effect inside.
#[test]
fn a_devcontainer_session_has_the_files_environment_ports_and_commands() {
    let t = TestScope::new("devc");
    let sandbox = sandbox_with(&t, |c| {
        c.policy.allow_post_create = true;
        c.devcontainer_local_env = vec!["PATH".into()];
    });
    let (forward, app) = (free_port(), free_port());
    let name = t.dir.path().file_name().unwrap().to_string_lossy().into_owned();
    write_devcontainer(
        t.dir.path(),
        &format!(
            r#"// the project's dev container
            {{
              "image": "localhost/sandbox-busybox:latest",
              "containerEnv": {{
                "PROJECT": "${{localWorkspaceFolderBasename}}",
                "WHERE": "${{containerWorkspaceFolder}}",
                "HOST_PATH": "${{localEnv:PATH}}",
                "DEFAULTED": "${{localEnv:SANDBOX_TEST_NOT_SET:fallback}}",
              }},
              "remoteEnv": {{"DERIVED": "${{containerEnv:PROJECT}}-remote"}},
              "forwardPorts": [{forward}],
              "appPort": "127.0.0.1:{app}:{app}",
              /* commands run in order, in the working dir */
              "postCreateCommand": {{"first": "echo one > made-by-post-create", "second": ["sh", "-c", "echo two >> made-by-post-create"]}},
              "postStartCommand": "mkdir -p /tmp/www && echo served-by-{name} > /tmp/www/index.html",
            }}"#
        ),
    );
    run(T, async {
        let spec = SessionSpec::new(unique_id("devc"), t.dir.path()).devcontainer(true);
        let s = sandbox.start(spec).await.unwrap();
        let r = s.start_report().unwrap().clone();
        let wd = r.working_dir.clone();

        // Environment and substitutions.
        let env = sh(&s, "echo \"$PROJECT|$WHERE|$HOST_PATH|$DEFAULTED|$DERIVED\"").await;
        let host_path = std::env::var("PATH").unwrap();
        assert_eq!(env.trim(), format!("{name}|{wd}|{host_path}|fallback|{name}-remote"));

        // Post-create commands ran, in order, in the working dir.
        assert_eq!(std::fs::read_to_string(t.dir.path().join("made-by-post-create")).unwrap(), "one\ntwo\n");
        assert!(r.post_create.iter().all(|o| o.succeeded()), "{:?}", r.post_create);
        assert_eq!(r.post_create.len(), 3);

        // Both ports published on 127.0.0.1, and answering.
        assert_eq!(r.ports_published, vec![forward, app]);
        sh(&s, &format!("httpd -p {forward} -h /tmp/www && httpd -p {app} -h /tmp/www")).await;
        for port in [forward, app] {
            let body = tokio::task::spawn_blocking(move || http_get(port, Duration::from_secs(20))).await.unwrap();
            assert!(body.as_ref().is_ok_and(|b| b.contains(&format!("served-by-{name}"))), "{port}: {body:?}");
        }

        let dc = r.devcontainer.as_ref().expect("devcontainer report");
        assert_eq!(dc.file, ".devcontainer/devcontainer.json");
        assert!(dc.unknown.is_empty() && dc.not_used.is_empty(), "{dc:?}");
        let refused: Vec<&str> = dc.refused.iter().map(|i| i.property.as_str()).collect();
        assert_eq!(refused, ["${localEnv:SANDBOX_TEST_NOT_SET}"], "a variable the configuration does not list");
        assert_eq!(r.image.reason, ImageReason::Trusted, "the file named the default image, which is trusted");
        s.stop().await.unwrap();
    });
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_malformed_file_fails_the_start_with_its_line_and_column_and_leaves_nothing() {
    let t = TestScope::new("devcbad");
    write_devcontainer(
        t.dir.path(),
        "{\n  \"image\": \"localhost/sandbox-busybox:latest\"\n  \"forwardPorts\": [3000]\n}\n",
    );
    run(T, async {
        let e = t.sandbox.start(t.spec("devcbad").devcontainer(true)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let msg = e.to_string();
        assert!(msg.contains(".devcontainer/devcontainer.json") && msg.contains("line 3, column 3"), "{msg}");
        // Without the switch the file is not read, so it does not matter.
        let s = t.sandbox.start(t.spec("devcbad")).await.unwrap();
        assert!(s.start_report().unwrap().devcontainer.is_none());
        s.stop().await.unwrap();
        // Asked for, and missing.
        let empty = tempfile::tempdir().unwrap();
        let e =
            t.sandbox.start(SessionSpec::new(unique_id("nodevc"), empty.path()).devcontainer(true)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    });
    assert!(t.leftovers().is_empty());
}

/// Unknown properties, a build without permission, a Dockerfile outside the working
/// dir and refused runArgs: the session starts, without them, and the report and its
/// warnings say so.
#[test]
fn what_a_session_cannot_use_is_reported_not_fatal() {
    let t = TestScope::new("devcrep");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), "FROM localhost/sandbox-busybox:latest\nRUN touch /built\n")
        .unwrap();
    std::fs::write(t.dir.path().join("Dockerfile"), "FROM localhost/sandbox-busybox:latest\nRUN touch /built\n")
        .unwrap();
    let outside_dockerfile = outside.path().join("Dockerfile").display().to_string();
    run(T, async {
        // Unknown properties and refused runArgs.
        write_devcontainer(
            t.dir.path(),
            r#"{"madeUpProperty": 1, "alsoUnknown": {"x": []},
                "runArgs": ["--cap-add=SYS_ADMIN", "-v", "/:/host", "--privileged", "-e", "ALLOWED=yes"]}"#,
        );
        let s = t.sandbox.start(t.spec("unknown").devcontainer(true)).await.unwrap();
        let r = s.start_report().unwrap().clone();
        let dc = r.devcontainer.as_ref().unwrap();
        assert_eq!(dc.unknown, ["madeUpProperty", "alsoUnknown"]);
        let refused: Vec<&str> = dc.refused.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(refused, ["--cap-add=SYS_ADMIN", "-v /:/host", "--privileged"]);
        for w in ["unknown property \"madeUpProperty\"", "\"--privileged\" refused", "\"-v /:/host\" refused"] {
            assert!(r.warnings.iter().any(|x| x.contains(w)), "{w}: {:?}", r.warnings);
        }
        // ... and they are not in effect: no /host, no CAP_SYS_ADMIN (bit 21); -e was applied.
        assert_eq!(sh(&s, "test -e /host && echo yes || echo no").await.trim(), "no");
        let cap_eff = sh(&s, "grep CapEff /proc/self/status | cut -f2").await;
        let caps = u64::from_str_radix(cap_eff.trim(), 16).unwrap();
        assert_eq!(caps & (1 << 21), 0, "CapEff {cap_eff}");
        assert_eq!(sh(&s, "echo $ALLOWED").await.trim(), "yes");
        s.stop().await.unwrap();

        // A build, not allowed: refused, the default image.
        write_devcontainer(t.dir.path(), r#"{"build": {"dockerfile": "../Dockerfile"}}"#);
        let s = t.sandbox.start(t.spec("nobuild").devcontainer(true)).await.unwrap();
        let r = s.start_report().unwrap().clone();
        assert_eq!(r.image.reason, ImageReason::Default);
        let dc = r.devcontainer.as_ref().unwrap();
        assert!(dc.built_image.is_none());
        assert!(dc.refused[0].reason.contains("allowed only with allow_build"), "{dc:?}");
        assert_eq!(sh(&s, "test -e /built && echo yes || echo no").await.trim(), "no");
        s.stop().await.unwrap();

        // Allowed, but the Dockerfile (or the context) lies outside the working dir.
        let allowed = sandbox_with(&t, |c| c.policy.allow_build = true);
        for (file, what) in [
            (format!(r#"{{"build": {{"dockerfile": "{outside_dockerfile}"}}}}"#), "Dockerfile"),
            (r#"{"build": {"dockerfile": "../../../../../../../../etc/passwd"}}"#.to_string(), "Dockerfile"),
            (r#"{"build": {"dockerfile": "../Dockerfile", "context": "../.."}}"#.to_string(), "build context"),
        ] {
            write_devcontainer(t.dir.path(), &file);
            let s = allowed.start(t.spec("outside").devcontainer(true)).await.unwrap();
            let r = s.start_report().unwrap().clone();
            let dc = r.devcontainer.as_ref().unwrap();
            assert!(dc.built_image.is_none(), "{file}");
            assert!(
                dc.refused.iter().any(|i| i.reason.contains(what) && i.reason.contains("inside the working dir")),
                "{file}: {dc:?}"
            );
            assert_eq!(r.image.reason, ImageReason::Default);
            s.stop().await.unwrap();
        }
    });
    assert!(built_images(t.dir.path()).is_empty(), "no image was built");
    assert!(t.leftovers().is_empty());
}

/// The images built for sessions in working dir `dir`.
fn built_images(dir: &Path) -> Vec<String> {
    let podman = std::env::var("SANDBOX_PODMAN").unwrap_or_else(|_| "podman".into());
    let dir = std::fs::canonicalize(dir).unwrap();
    let out = Command::new(podman)
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter"])
        .arg(format!("label={}={}", sandbox_core::image_build::BUILT_FOR_LABEL, dir.display()))
        .output()
        .expect("podman images");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    v.sort();
    v
}

/// Removes a built image, even when the test fails.
struct RemoveImage(Option<String>);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        if let Some(image) = self.0.take() {
            let podman = std::env::var("SANDBOX_PODMAN").unwrap_or_else(|_| "podman".into());
            let _ = Command::new(podman).args(["rmi", "--force", &image]).output();
        }
    }
}

/// An allowed build: podman builds the Dockerfile (without network, from the trusted
/// default image) and the session runs the result.
#[test]
fn an_allowed_build_makes_the_image_the_session_runs() {
    let t = TestScope::new("devcbuild");
    let sandbox = sandbox_with(&t, |c| c.policy.allow_build = true);
    let marker = unique_id("built");
    std::fs::create_dir_all(t.dir.path().join(".devcontainer")).unwrap();
    std::fs::write(
        t.dir.path().join(".devcontainer/Dockerfile"),
        "FROM localhost/sandbox-busybox:latest\nARG MARK\nCOPY hello.txt /hello.txt\nRUN echo \"$MARK\" > /built && grep : /proc/net/dev | cut -d: -f1 | tr -d ' ' > /netdevs\n",
    )
    .unwrap();
    std::fs::write(t.dir.path().join(".devcontainer/hello.txt"), "copied from the context\n").unwrap();
    write_devcontainer(
        t.dir.path(),
        &format!(r#"{{"build": {{"dockerfile": "Dockerfile", "args": {{"MARK": "{marker}"}}}}}}"#),
    );
    let mut cleanup = RemoveImage(None);
    run(T, async {
        let s = sandbox.start(t.spec("build").devcontainer(true)).await.unwrap();
        let r = s.start_report().unwrap().clone();
        let built = r.devcontainer.as_ref().unwrap().built_image.clone().expect("built");
        cleanup.0 = Some(built.clone());
        assert!(built.starts_with(sandbox_core::image_build::BUILT_IMAGE_PREFIX));
        assert_eq!((r.image.used.as_str(), r.image.reason), (built.as_str(), ImageReason::Built));
        assert_eq!(sh(&s, "cat /built").await, format!("{marker}\n"), "the build argument reached the build");
        assert_eq!(sh(&s, "cat /netdevs").await, "lo\n", "the build had no network but loopback");
        assert_eq!(sh(&s, "cat /hello.txt").await, "copied from the context\n");
        s.stop().await.unwrap();
    });
    let built = cleanup.0.clone().expect("an image was built");
    drop(cleanup);
    assert!(built_images(t.dir.path()).is_empty(), "{built} was removed");
    assert!(t.leftovers().is_empty());
}
