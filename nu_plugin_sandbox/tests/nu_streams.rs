//! End-to-end tests of the plugin's byte streams with the real nu 0.115.1 and real
//! podman: `sandbox run` (stdout streamed live, stderr passed through, failures as
//! errors, Ctrl-C) and `sandbox task logs --follow` (ended by the task, or by Ctrl-C).
//! Waits that could hang if output were not live are bounded (nu is killed after a
//! generous limit), so a regression fails instead of hanging; no test checks timings.

mod support;

use std::time::Duration;

use serde_json::json;
use support::isolation::Isolation;
use support::nu_runner::{interrupted_nu, json, json_within, run};

/// Upper bound for scripts that would hang if a stream were not live.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Processes in session `s` whose command line contains `what`.
fn processes_matching(iso: &Isolation, s: &str, what: &str) -> u64 {
    let r = json(iso, &format!("sandbox exec {s} ps | get stdout | lines | where $it =~ '{what}' | length | to json"));
    r.as_u64().expect("a count")
}

#[test]
fn run_streams_stdout_live_and_long_output_line_by_line() {
    let iso = Isolation::new("run-stream");
    json(&iso, "sandbox start --id rs --quiet | get id | to json");
    // Each line is consumed as it is written: the command only goes on once the consumer
    // has seen "first" (it waits for a file the consumer creates). Without live
    // streaming this would never finish.
    let r = json_within(
        &iso,
        HANG_LIMIT,
        r#"
        let seen = sandbox run rs sh -c 'echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second'
          | lines
          | each {|l| if $l == first { sandbox exec rs touch /tmp/go | ignore }; $l }
        # Far more than the 4 MiB the agent may send ahead of the reader.
        let n = sandbox run rs seq 1 1000000 | lines | length
        # A consumer slower than the command: nothing of the end may be lost.
        let slow = sandbox run rs seq 1 1000000 | lines | each {|l| $l } | length
        let last = sandbox run rs seq 1 1000000 | lines | last
        let piped = ^seq 1 50000 | sandbox run rs wc -l | str trim
        let text = 'hello' | sandbox run rs tr a-z A-Z
        let bin = sandbox run rs printf '\377\376'
        let raw = sandbox run rs --raw echo hi | collect
        let empty = sandbox run rs true
        { seen: $seen, n: $n, slow: $slow, last: $last, piped: $piped, text: $text, bin: $bin, raw_type: ($raw | describe),
          empty: $empty, collected_type: (sandbox run rs echo x | collect | describe) } | to json -r
        "#,
    );
    assert_eq!(r["seen"], json!(["first", "second"]));
    assert_eq!(r["n"], 1_000_000);
    assert_eq!(r["slow"], 1_000_000, "a slow consumer got all of the output");
    assert_eq!(r["last"], "1000000");
    assert_eq!(r["piped"], "50000", "a piped byte stream is the command's stdin");
    assert_eq!(r["text"], "HELLO");
    assert_eq!(r["bin"], json!([255, 254]), "output that is not UTF-8 collects to binary");
    assert_eq!(r["raw_type"], "binary", "--raw streams binary");
    assert_eq!(r["empty"], "");
    assert_eq!(r["collected_type"], "string");
    json(&iso, "sandbox stop rs | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn run_passes_stderr_through_and_fails_like_an_external() {
    let iso = Isolation::new("run-errors");
    json(&iso, "sandbox start --id re --quiet | get id | to json");

    // stderr goes to nushell's stderr as it comes; stdout is the stream.
    let out = run(&iso, "sandbox run re sh -c 'echo to-stdout; echo to-stderr >&2' | str trim | to json");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"to-stdout\"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));

    let r = json(
        &iso,
        r#"
        def err [c: closure] { try { do $c; 'no error' } catch {|e| { msg: $e.msg, label: ($e.details.labels.0.text? | default ''),
          at: (view span $e.details.labels.0.span.start $e.details.labels.0.span.end), help: ($e.details.help? | default '') } } }
        {
          merged: (sandbox run re --merge sh -c 'echo err-only >&2')
          # Failing before any output: a labelled error at the command with the exit code.
          code: (err { sandbox run re sh -c 'exit 3' })
          not_found: (err { sandbox run re no-such-program })
          timeout: (err { sandbox run re --timeout 200ms sleep 30 })
          signal: (err { sandbox run re sh -c 'kill -KILL $$' })
          # Failing after output: the stream ends with an error labelled at the command.
          late: (err { sandbox run re sh -c 'echo partial; exit 4' | collect })
          late_lines: (err { sandbox run re sh -c 'echo a; echo b; exit 5' | lines | collect })
          ignored: (sandbox run re --ignore-errors sh -c 'echo partial; exit 4')
          ignored_early: (sandbox run re --ignore-errors false)
          cwd: (err { sandbox run re --cwd /no/such pwd })
          in_cwd: (sandbox run re --cwd /tmp --env { X: y } sh -c 'echo $(pwd) $X')
          dashdash: (sandbox run re -- sh -c 'echo $1' _ --timeout)
          session: (err { sandbox run no-such-session true })
        } | to json -r
        "#,
    );
    assert_eq!(r["merged"], "err-only\n");
    assert_eq!(r["code"]["msg"], "`sh` in session re exited with code 3");
    assert_eq!(r["code"]["label"], "exited with code 3");
    assert_eq!(r["code"]["at"], "sh");
    assert!(r["code"]["help"].as_str().unwrap_or_default().contains("--ignore-errors"), "{r}");
    assert_eq!(r["not_found"]["label"], "exited with code 127");
    assert!(r["not_found"]["msg"].as_str().unwrap_or_default().contains("command not found"), "{r}");
    assert!(r["timeout"]["msg"].as_str().unwrap_or_default().contains("timed out"), "{r}");
    assert!(r["signal"]["msg"].as_str().unwrap_or_default().contains("killed by SIGKILL"), "{r}");
    // nushell 0.115 keeps only the kind of an error raised inside a plugin's byte stream
    // (the full message goes to stderr, checked below): a non-zero exit is "invalid data".
    assert_eq!(r["late"]["label"], "Invalid data", "{r}");
    assert_eq!(r["late"]["at"], "sh", "labelled at the command: {r}");
    assert!(r["late_lines"].is_object(), "the error reaches a pipeline's end: {r}");
    assert_eq!(r["ignored"], "partial\n");
    assert_eq!(r["ignored_early"], "");
    assert_eq!(r["cwd"]["at"], "/no/such", "{r}");
    assert!(r["cwd"]["msg"].as_str().unwrap_or_default().contains("does not exist"), "{r}");
    assert_eq!(r["in_cwd"], "/tmp y\n");
    assert_eq!(r["dashdash"], "--timeout\n");
    assert_eq!(r["session"]["at"], "no-such-session");

    // The full message of a failure after output is on stderr, and the script fails.
    let out = run(&iso, "sandbox run re sh -c 'echo partial; exit 4'");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "partial\n");
    assert!(stderr.contains("sandbox run: `sh` in session re exited with code 4"), "{stderr}");

    // A consumer that stops early ends the command in the sandbox.
    let r = json_within(
        &iso,
        HANG_LIMIT,
        "sandbox run re sh -c 'while true; do echo endless-writer; done' | lines | first 3 | to json -r",
    );
    assert_eq!(r, json!(["endless-writer", "endless-writer", "endless-writer"]));
    let mut left = processes_matching(&iso, "re", "endless-writer");
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = processes_matching(&iso, "re", "endless-writer");
    }
    assert_eq!(left, 0, "the command kept running after its consumer stopped");
    json(&iso, "sandbox stop re | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn ctrl_c_stops_a_run_and_kills_the_command_in_the_sandbox() {
    let iso = Isolation::new("run-ctrlc");
    json(&iso, "sandbox start --id rc --quiet | get id | to json");
    let marker = iso.work_dir.path().join("started");
    let out = interrupted_nu(
        &iso,
        6,
        "sandbox run rc sh -c 'touch started; while true; do echo tick; sleep 0.2; done; echo finished' | lines | each {|l| print $l }",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(marker.exists(), "the command never started, so Ctrl-C was not tested: {stderr}");
    assert_eq!(out.status.code(), Some(124), "nu did not return after SIGINT (137 = had to be killed): {stderr}");
    assert!(stdout.contains("tick"), "output was streamed before the interrupt: {stdout}");
    assert!(!stdout.contains("finished"));
    assert!(stderr.to_lowercase().contains("interrupted"), "stderr: {stderr}");
    assert_eq!(processes_matching(&iso, "rc", "sleep 0.2"), 0, "the command still runs in the session");
    assert_eq!(processes_matching(&iso, "rc", "echo tick"), 0, "the command still runs in the session");
    json(&iso, "sandbox stop rc | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn follow_streams_a_task_until_it_ends_without_splitting_characters() {
    let iso = Isolation::new("follow");
    json(&iso, "sandbox start --id fo --quiet | get id | to json");
    let r = json_within(
        &iso,
        HANG_LIMIT,
        r#"
        # The task goes on only once the follower has seen its first line: following is live.
        let t = sandbox task spawn fo sh -c 'echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second; exit 2'
        let lines = sandbox task logs fo $t --follow
          | lines
          | each {|l| if $l == first { sandbox exec fo touch /tmp/go | ignore }; $l }
        let state = sandbox task list fo | where id == $t.id | get 0.state
        # A character written in two halves, with a pause between them, arrives whole.
        let split = sandbox task spawn fo sh -c 'printf "\303"; sleep 0.5; printf "\251\n"; sleep 0.3; printf "z\n"'
        let text = sandbox task logs fo $split --follow
        let done = sandbox task spawn fo seq 1 100000
        sandbox task wait fo $done | ignore
        let tail = sandbox task logs fo $done --follow --tail 7B
        # On a running task, --tail starts with the last bytes so far and follows on to the end.
        let running_tail = sandbox task logs fo (sandbox task spawn fo seq 1 100000) --follow --tail 7B
        let errs = sandbox task logs fo (sandbox task spawn fo sh -c 'echo o; echo e >&2') --follow --stream stderr
        let bin = sandbox task logs fo (sandbox task spawn fo printf '\377a') --follow
        let late_start = sandbox task logs fo $t --follow --offset 6
        { lines: $lines, state: $state, text: $text, text_type: ($text | describe), tail: $tail, running_tail: $running_tail, errs: $errs, bin: $bin,
          late_start: $late_start } | to json -r
        "#,
    );
    assert_eq!(r["lines"], json!(["first", "second"]));
    assert_eq!(r["state"], "exited", "the stream ended because the task did");
    assert_eq!(r["text"], "é\nz\n");
    assert_eq!(r["text_type"], "string");
    assert_eq!(r["tail"], "100000\n", "--tail of a finished task: its last bytes");
    let full: String = (1..=100000).map(|i| format!("{i}\n")).collect();
    let running_tail = r["running_tail"].as_str().unwrap_or_default();
    assert!(
        running_tail.ends_with("100000\n") && full.ends_with(running_tail),
        "--tail of a running task follows on to the end: {} bytes",
        running_tail.len()
    );
    assert_eq!(r["errs"], "e\n");
    assert_eq!(r["bin"], json!([255, 97]));
    assert_eq!(r["late_start"], "second\n", "--offset starts later, and a finished task's stream ends");
    json(&iso, "sandbox stop fo | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn ctrl_c_stops_following_and_leaves_the_task_running() {
    let iso = Isolation::new("follow-ctrlc");
    let r = json(
        &iso,
        r#"
        sandbox start --id fc --quiet | ignore
        sandbox task spawn fc sh -c 'while true; do echo tock; sleep 0.2; done' | get id | to json
        "#,
    );
    let task = r.as_str().expect("task id").to_string();
    let out =
        interrupted_nu(&iso, 6, &format!("sandbox task logs fc {task} --follow | lines | each {{|l| print $l }}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "nu did not return after SIGINT (137 = had to be killed): {stderr}");
    assert!(stdout.contains("tock"), "the task's output was followed before the interrupt: {stdout}\n{stderr}");
    assert!(stderr.to_lowercase().contains("interrupted"), "stderr: {stderr}");
    let r = json(&iso, &format!("sandbox task list fc | where id == {task} | get 0.state | to json"));
    assert_eq!(r, "running", "Ctrl-C stops following, not the task");
    json(&iso, "sandbox stop fc | to json");
    assert!(iso.leftovers().is_empty());
}
