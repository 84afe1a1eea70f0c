//! `sandbox mcp` driven by the official MCP clients (the Python SDK and the TypeScript
//! SDK, pinned, installed by scripts/setup under .tools/) over stdio, against real
//! podman. Each client runs a scripted session (tests/mcp/client.py, client.mjs) and
//! exits non-zero on the first failed check; this test runs it and removes every session
//! it made, whatever happened. The TypeScript client starts the server as the README's
//! `mcpServers` snippet (tests/mcp/mcp-servers.json) says. Each run has its own copy dir
//! (`SANDBOX_COPY_DIR`, outside the server's roots) for the managed copies it makes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_e2e::{TestScope, unique_id};
use support::CopyDir;

/// The binary under test: `SANDBOX_CLI` names a copy (the rootless run executes copies).
fn cli_path() -> PathBuf {
    std::env::var_os("SANDBOX_CLI").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sandbox")), PathBuf::from)
}

/// The workspace's `.tools/`, where scripts/setup installs the clients.
fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools")
}

/// The Python of the venv that has the `mcp` package (`SANDBOX_MCP_PYTHON`).
fn python() -> PathBuf {
    std::env::var_os("SANDBOX_MCP_PYTHON").map_or_else(|| tools_dir().join("mcp-venv/bin/python"), PathBuf::from)
}

/// The node_modules that has `@modelcontextprotocol/sdk` (`SANDBOX_MCP_NODE_MODULES`).
fn node_modules() -> PathBuf {
    std::env::var_os("SANDBOX_MCP_NODE_MODULES").map_or_else(|| tools_dir().join("node_modules"), PathBuf::from)
}

/// Writes `script` into a fresh directory (the rootless run cannot read the checkout).
fn script_file(name: &str, script: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, script).expect("write the client script");
    (dir, path)
}

/// Runs a client to its end (killed after `limit`), in scope `t` with managed copies in
/// `copies`; panics with its output unless it exits 0.
fn run_client(t: &TestScope, copies: &CopyDir, mut cmd: Command, limit: Duration) {
    let what = format!("{cmd:?}");
    cmd.env("SANDBOX_SCOPE", &t.scope)
        .env("SANDBOX_PROVISION", "false")
        // The test's own snapshot dir: the scope's Drop removes its images.
        .env("SANDBOX_SNAPSHOT_DIR", t.snapshots.path())
        // The test's own copy dir: the client checks it is made and goes.
        .env("SANDBOX_COPY_DIR", copies.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e} (scripts/setup installs it)"));
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for the client").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("the client's output");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("all checks passed"), "{}", text(&out.stdout));
}

/// A session the client must not reach, with a task running in it: ids of both.
struct Bystander {
    session: String,
    task: String,
}

/// A running session of another scope on `t`'s dir, and one of `t`'s scope outside it,
/// each with a task (which the server must neither list nor read).
fn bystanders(t: &TestScope, other: &TestScope, outside: &Path) -> (Bystander, Bystander) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let start = |sandbox: &sandbox_core::Sandbox, prefix: &str, dir: &Path| {
            let spec = sandbox_core::SessionSpec::new(unique_id(prefix), dir);
            let sandbox = sandbox.clone();
            async move {
                let session = sandbox.start(spec).await.expect("a bystander session");
                let task = session.spawn_task(sandbox_core::TaskSpec::argv(["sleep", "600"])).await.expect("its task");
                Bystander { session: session.id().to_string(), task: task.id().to_string() }
            }
        };
        (start(&other.sandbox, "mcpforeign", t.dir.path()).await, start(&t.sandbox, "mcpoutside", outside).await)
    })
}

#[test]
fn the_python_sdk_drives_a_session() {
    // Made before the scope, so that it goes after it (the scope's Drop unmounts overlay
    // copies, managed ones too).
    let copies = CopyDir::new();
    let t = TestScope::new("mcppy");
    let other = TestScope::new("mcppyother");
    let (foreign, beside) = bystanders(&t, &other, other.dir.path());
    let (_dir, script) = script_file("client.py", include_str!("mcp/client.py"));
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .arg(cli_path())
        .arg(t.dir.path())
        .arg(other.dir.path())
        .arg(unique_id("mcppy"))
        .arg(&foreign.session)
        .arg(&beside.session)
        .arg(&foreign.task)
        .arg(&beside.task);
    run_client(&t, &copies, cmd, Duration::from_secs(300));
    assert_eq!(t.leftovers().len(), 1, "the client stopped its sessions; only the bystander is left");
    assert_eq!(std::fs::read_dir(t.snapshots.path()).unwrap().count(), 0, "the client removed its snapshots");
    assert!(!copies.exists(), "the client removed its managed copies, and the copy dir went with them");
}

#[test]
fn the_typescript_sdk_drives_a_session() {
    let copies = CopyDir::new();
    let t = TestScope::new("mcpts");
    let outside = tempfile::tempdir().expect("tempdir");
    let (dir, script) = script_file("client.mjs", include_str!("mcp/client.mjs"));
    let config = dir.path().join("mcp-servers.json");
    std::fs::write(&config, include_str!("mcp/mcp-servers.json")).expect("write the README's snippet");
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .arg(cli_path())
        .arg(t.dir.path())
        .arg(outside.path())
        .arg(unique_id("mcpts"))
        .arg(&config)
        .env("SANDBOX_MCP_NODE_MODULES", node_modules());
    run_client(&t, &copies, cmd, Duration::from_secs(300));
    assert!(t.leftovers().is_empty(), "the client stopped its sessions");
    assert!(!copies.exists(), "the client removed its managed copy, and the copy dir went with it");
    assert_eq!(std::fs::read_dir(t.snapshots.path()).unwrap().count(), 0, "the client removed its snapshots");
}

#[test]
fn a_bad_policy_stops_the_server_before_it_serves() {
    let t = TestScope::new("mcpbad");
    for (args, why) in [
        (vec!["mcp"], "no root"),
        (vec!["mcp", "--root", "/nonexistent/dir"], "cannot be resolved"),
        (vec!["mcp", "--root", "/tmp", "--network", "host"], "network"),
    ] {
        let out = Command::new(cli_path())
            .args(&args)
            .env("SANDBOX_SCOPE", &t.scope)
            .stdin(Stdio::null())
            .output()
            .expect("run sandbox mcp");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(94), "{args:?}: a configuration error: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "nothing on the protocol's stdout");
    }
}
