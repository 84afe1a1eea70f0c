//! End-to-end tests of `sandbox attach` with the real nu 0.115.1 and real podman: the
//! clear error without a terminal, and the interactive path driven through a PTY this
//! test owns (see `support::pty`): nushell runs as a session leader on it, the plugin
//! takes the terminal into the foreground and raw mode, keys and output go both ways,
//! a window size change reaches the program in the sandbox, Ctrl-C goes to the sandbox
//! (not to nushell), Ctrl-] detaches and a later attach comes back to the terminal.

mod support;

use std::time::Duration;

use sandbox_e2e::pty::Pty;
use serde_json::json;
use support::isolation::Isolation;
use support::nu_runner::{json, nu_path, plugin_path, run};

/// Upper bound for each wait on the terminal (only stops a hung test).
const LIMIT: Duration = Duration::from_secs(60);

fn nu_on_pty(iso: &Isolation, script: &str, rows: u16, cols: u16) -> Pty {
    let plugin = plugin_path();
    let args = ["-n", "--plugins", plugin.to_str().expect("plugin path"), "-c", script];
    Pty::spawn(&nu_path(), &args, rows, cols, |cmd| {
        cmd.current_dir(iso.work_dir.path()).env_remove("SANDBOX_SCOPE").env_remove("SANDBOX_CONFIG");
        cmd.env("TERM", "xterm-256color");
        for (k, v) in iso.env(true) {
            cmd.env(k, v);
        }
    })
}

#[test]
fn attach_without_a_terminal_is_a_clear_error() {
    let iso = Isolation::new("attach-notty");
    json(&iso, "sandbox start --id an --quiet | get id | to json");
    // `output()` gives nu no terminal: stdin is /dev/null, stdout and stderr are pipes.
    let r = json(
        &iso,
        r#"try { sandbox attach an; 'no error' } catch {|e| { msg: $e.msg, at: (view span $e.details.labels.0.span.start $e.details.labels.0.span.end), help: $e.details.help } } | to json -r"#,
    );
    assert_eq!(r["msg"], "sandbox attach needs an interactive terminal");
    assert_eq!(r["at"], "sandbox attach");
    assert!(r["help"].as_str().unwrap_or_default().contains("sandbox term send"), "{r}");
    // Nothing was opened.
    let r = json(&iso, "sandbox term list an | length | to json");
    assert_eq!(r, json!(0));
    // A script run without a terminal fails the same way (and exits non-zero).
    let out = run(&iso, "sandbox attach an");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs an interactive terminal"));
    json(&iso, "sandbox stop an | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn attach_on_a_terminal_copies_both_ways_resizes_detaches_and_reattaches() {
    let iso = Isolation::new("attach-pty");
    json(&iso, "sandbox start --id ap --quiet | get id | to json");

    let mut pty = nu_on_pty(&iso, "sandbox attach ap; print 'attach returned'", 30, 100);
    pty.expect("(Ctrl-] detaches)", LIMIT);
    pty.expect("# ", LIMIT); // the sandbox shell's prompt
    // The new terminal has the size of ours.
    pty.send(b"stty size\r");
    pty.expect("30 100", LIMIT);
    // Keys go in, output comes out.
    pty.send(b"echo typed-$((6 * 7))\r");
    pty.expect("typed-42", LIMIT);
    // A window size change reaches the program in the sandbox.
    pty.resize(40, 120);
    // (The resize travels plugin -> agent while the key is typed: ask again until it has.)
    pty.send_until(b"stty size\r", "40 120");
    // Ctrl-C goes to the program in the sandbox, not to nushell: the attach goes on.
    pty.send(b"sleep 300\r");
    pty.expect("sleep 300", LIMIT);
    // Only once `sleep` runs (the shell reads keys itself until then).
    let sleeping = "sandbox exec ap ps | get stdout | lines | where $it =~ 'sleep 300' | length | to json";
    let mut started = false;
    for _ in 0..100 {
        if json(&iso, sleeping) == json!(1) {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started, "sleep 300 never started in the sandbox:\n{}", pty.transcript());
    pty.send(&[0x03]);
    pty.expect("^C", LIMIT);
    pty.send(b"echo after-ctrl-c-$((1 + 1))\r");
    pty.expect("after-ctrl-c-2", LIMIT);
    // Ctrl-] detaches; the terminal keeps running.
    pty.send(&[0x1d]);
    pty.expect("detached", LIMIT);
    pty.expect("attach returned", LIMIT);
    let status = pty.wait(LIMIT);
    assert!(status.success(), "nu failed: {status:?}\n{}", pty.transcript());
    assert!(!pty.transcript().contains("reset foreground id failed"), "{}", pty.transcript());

    let r = json(
        &iso,
        "{ terms: (sandbox term list ap | select state rows cols), sleeping: (sandbox exec ap ps | get stdout | lines | where $it =~ 'sleep 300' | length), id: (sandbox term list ap | get 0.id) } | to json -r",
    );
    assert_eq!(r["terms"], json!([{"state": "running", "rows": 40, "cols": 120}]));
    assert_eq!(r["sleeping"], 0, "Ctrl-C stopped the sandbox's sleep");
    let id = r["id"].as_str().expect("terminal id").to_string();

    // Attaching again by id: the same shell, now resized to this terminal; `exit` ends
    // its program and the attach.
    let mut pty = nu_on_pty(&iso, &format!("sandbox attach ap {id}; print 'second attach returned'"), 25, 90);
    pty.expect("(Ctrl-] detaches)", LIMIT);
    pty.send(b"echo back-$((2 + 3)); stty size\r");
    pty.expect("back-5", LIMIT);
    pty.expect("25 90", LIMIT);
    pty.send(b"exit 7\r");
    pty.expect("second attach returned", LIMIT);
    let status = pty.wait(LIMIT);
    assert!(status.success(), "nu failed: {status:?}\n{}", pty.transcript());

    let r = json(&iso, "sandbox term list ap | select state exit_code | to json -r");
    assert_eq!(r, json!([{"state": "exited", "exit_code": 7}]));
    json(&iso, "sandbox stop ap | to json");
    assert!(iso.leftovers().is_empty());
}
