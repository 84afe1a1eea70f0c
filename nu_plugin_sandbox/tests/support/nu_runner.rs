//! Runs the real `nu` binary with the built plugin: `nu -n --plugins <plugin> -c <script>`.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::isolation::Isolation;

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

/// A nu command line for `script` in `iso` (its scope unless `with_scope` is false).
pub fn nu_command(iso: &Isolation, with_scope: bool, script: &str) -> Command {
    let mut c = Command::new(nu_path());
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
    nu_command(iso, true, script).output().expect("run nu")
}

/// Runs `script`, which must succeed, and parses its stdout as JSON.
pub fn json(iso: &Isolation, script: &str) -> serde_json::Value {
    json_with(iso, true, script)
}

/// [`json`], choosing whether the isolation's scope is set in the environment.
pub fn json_with(iso: &Isolation, with_scope: bool, script: &str) -> serde_json::Value {
    let out = nu_command(iso, with_scope, script).output().expect("run nu");
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
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL"]).arg(limit.as_secs().to_string()).arg(nu_path());
    c.arg("-n").arg("--plugins").arg(plugin_path()).arg("-c").arg(script);
    c.current_dir(iso.work_dir.path());
    c.env_remove("SANDBOX_SCOPE").env_remove("SANDBOX_CONFIG");
    for (k, v) in iso.env(true) {
        c.env(k, v);
    }
    let out = c.output().expect("run nu");
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
