//! Runs the real `nu` binary with the built plugin: `nu -n --plugins <plugin> -c <script>`.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::isolation::{Isolation, kill_marked};

/// The nu 0.115.1 binary: `$SANDBOX_NU`, else the one scripts/setup installs.
pub fn nu_path() -> PathBuf {
    let p = match std::env::var_os("SANDBOX_NU") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/node_modules/@nushell/linux-x64/bin/nu")),
    };
    assert!(p.is_file(), "nu not found at {} (run scripts/setup, or set SANDBOX_NU)", p.display());
    p
}

/// The plugin binary: `$SANDBOX_NU_PLUGIN`, else the one cargo built for this test.
pub fn plugin_path() -> PathBuf {
    match std::env::var_os("SANDBOX_NU_PLUGIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_nu_plugin_sandbox")),
    }
}

/// How long any nu of these tests may run before it is killed (and its test fails): a
/// bound so that a hang fails one test instead of stalling the suite.
pub const NU_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// A nu command line for `script` in `iso` (its scope unless `with_scope` is false).
pub fn nu_command(iso: &Isolation, with_scope: bool, script: &str) -> Command {
    nu_command_within(iso, with_scope, NU_LIMIT, script)
}

/// [`nu_command`], with nu killed after `limit`.
fn nu_command_within(iso: &Isolation, with_scope: bool, limit: std::time::Duration, script: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL"]).arg(limit.as_secs().to_string()).arg(nu_path());
    c.arg("-n").arg("--plugins").arg(plugin_path()).arg("-c").arg(script);
    c.current_dir(iso.work_dir.path());
    c.env_remove("SANDBOX_SCOPE").env_remove("SANDBOX_CONFIG");
    for (k, v) in iso.env(with_scope) {
        c.env(k, v);
    }
    c
}

/// Runs `script` and returns its output, whatever the exit status.
pub fn run(iso: &Isolation, script: &str) -> Output {
    output_then_kill(nu_command(iso, true, script))
}

/// Runs `script`, which must succeed, and parses its stdout as JSON.
pub fn json(iso: &Isolation, script: &str) -> serde_json::Value {
    json_with(iso, true, script)
}

/// [`json`], choosing whether the isolation's scope is set in the environment.
pub fn json_with(iso: &Isolation, with_scope: bool, script: &str) -> serde_json::Value {
    let out = output_then_kill(nu_command(iso, with_scope, script));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nu failed ({}):\nscript: {script}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// Runs `script`, which must fail, and returns its stderr.
pub fn failure(iso: &Isolation, script: &str) -> String {
    let out = run(iso, script);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected failure: {script}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// [`json`], with nu killed if it runs longer than `limit` (a bound for tests whose
/// failure mode is a hang, e.g. output that is not streamed live; never a timing check).
pub fn json_within(iso: &Isolation, limit: std::time::Duration, script: &str) -> serde_json::Value {
    let out = output_then_kill(nu_command_within(iso, true, limit, script));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nu failed or was killed after {limit:?} ({}):\nscript: {script}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// Runs `script`, which must fail with a labelled error: its message contains `msg`, its
/// first label points at the text `at`, its help contains `help`.
pub fn bad(iso: &Isolation, script: &str, msg: &str, at: &str, help: &str) {
    let probe = format!(
        "try {{ {script}; 'no error' | to json }} catch {{|e| let j = $e.details; {{ msg: $j.msg, at: (view span $j.labels.0.span.start $j.labels.0.span.end), help: $j.help }} | to json -r }}"
    );
    let r = json(iso, &probe);
    assert!(r.is_object(), "{script}: no error: {r}");
    assert!(r["msg"].as_str().unwrap_or_default().contains(msg), "{script}: message: {r}");
    assert_eq!(r["at"], at, "{script}: label on the wrong text: {r}");
    assert!(r["help"].as_str().unwrap_or_default().contains(help), "{script}: help: {r}");
}

/// Runs `c` to its end and reads its output. What it left holding the output pipes (the
/// plugin of a nu that was killed) has a grace period to finish its work, then is killed,
/// so a leftover never blocks the read.
fn output_then_kill(mut c: Command) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    const GRACE: std::time::Duration = std::time::Duration::from_secs(60);
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = format!("{}-{}", std::process::id(), RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    c.env("SANDBOX_TEST_NU_RUN", &run);
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run nu");
    let (done_tx, done) = std::sync::mpsc::channel();
    let drain = |mut r: Box<dyn Read + Send>| {
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = done_tx.send(());
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = child.wait().expect("wait for nu");
    let deadline = std::time::Instant::now() + GRACE;
    let mut closed = 0;
    while closed < 2 && done.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).is_ok() {
        closed += 1;
    }
    // Only this run's nu and plugin: an enforcer it started serves the session on.
    let killed = if closed < 2 {
        kill_marked(&format!("SANDBOX_TEST_NU_RUN={run}"), Some(&[nu_path(), plugin_path()]))
    } else {
        0
    };
    let mut stderr = stderr.join().expect("stderr reader");
    if killed > 0 {
        stderr.extend_from_slice(
            format!("\n[test harness: killed {killed} process(es) still running {GRACE:?} after nu]\n").as_bytes(),
        );
    }
    Output { status, stdout: stdout.join().expect("stdout reader"), stderr }
}

/// Runs `script` in nu and sends it SIGINT after `after` (as Ctrl-C at a terminal would);
/// SIGKILL 60 s later only if nu did not return on its own.
pub fn interrupted_nu(iso: &Isolation, after: u64, script: &str) -> Output {
    Command::new("timeout")
        .args(["-s", "INT", "-k", "60", &after.to_string()])
        .arg(nu_path())
        .args(["-n", "--plugins"])
        .arg(plugin_path())
        .arg("-c")
        .arg(script)
        .current_dir(iso.work_dir.path())
        .envs(iso.env(true))
        .output()
        .expect("timeout nu")
}
