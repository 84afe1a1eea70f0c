//! End-to-end tests of the session's event stream with the real nu 0.115.1 and real
//! podman: the conformance scenario (`tests/conformance/events.json`, run by the nu
//! script `tests/nu/events_conformance.nu`), `sandbox events` as a table and as a live
//! stream, `sandbox watch`, `sandbox stats`, `sandbox wait-port`, Ctrl-C, and bad input.
//! Scripts that would hang if a stream did not end are bounded (nu is killed after a
//! generous limit), so a regression fails instead of hanging; no test checks timings.

mod support;

use std::time::Duration;

use serde_json::json;
use support::isolation::Isolation;
use support::nu_runner::{bad, interrupted_nu, json, json_within};

/// Upper bound for scripts that would hang if a stream did not end.
const HANG_LIMIT: Duration = Duration::from_secs(240);

/// The conformance scenario shared by every face.
const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/events.json");

/// Every event record's columns, in order.
const COLUMNS: [&str; 23] = [
    "seq",
    "time",
    "kind",
    "action",
    "path",
    "from",
    "dir",
    "process",
    "id",
    "command",
    "pid",
    "code",
    "signal",
    "oom",
    "port",
    "address",
    "sample",
    "dropped",
    "count",
    "reason",
    "host",
    "bytes_in",
    "bytes_out",
];

/// A nu command that waits (polling, up to 20 s) until `cond` holds, else fails.
const WAIT_UNTIL: &str = r#"
def wait-until [what: string, cond: closure] {
  for _ in 1..200 { if (do $cond) { return }; sleep 100ms }
  error make { msg: $'waited 20s for ($what)' }
}
"#;

#[test]
fn the_conformance_scenario_runs_through_nu() {
    let iso = Isolation::new("ev-conformance");
    let script = include_str!("nu/events_conformance.nu");
    let r = json_within(&iso, HANG_LIMIT, &format!("{script}\nevents-conformance '{SCENARIO}' | to json -r"));
    let work = iso.work_path().display().to_string();
    assert_eq!(r["root"], work, "{r}");
    assert_eq!(r["watching_path"], work, "the working dir is watched: {r}");
    let scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCENARIO).expect("the scenario")).expect("json");
    let steps = r["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), scenario["steps"].as_array().map_or(0, Vec::len), "every step ran: {r}");
    for step in steps {
        assert_eq!(step["ok"], true, "step {}: expected {}, got {}", step["step"], step["expect"], step["got"]);
    }
    assert_eq!(r["ended"], true, "the stream ends after stopped: {r}");
    assert_eq!(r["stopped"], json!(["events"]), "{r}");
    assert!(r["after_stop"].as_str().unwrap_or_default().contains("no sandbox session"), "{r}");
    assert_eq!(r["listed_after"], 0);
    assert!(iso.leftovers().is_empty());
}

#[test]
fn events_are_a_table_with_typed_columns_filters_and_a_stream_that_ends_with_the_session() {
    let iso = Isolation::new("ev-table");
    let r = json_within(
        &iso,
        HANG_LIMIT,
        &format!(
            r#"{WAIT_UNTIL}
        sandbox start --id ev --quiet | ignore
        let wd = sandbox list | where id == ev | get 0.working_dir
        sandbox exec ev sh -c 'mkdir src && echo a > src/a.txt && echo b > top.txt' | ignore
        let t = sandbox task spawn ev sh -c 'exit 3'
        wait-until 'the events' {{
          let all = sandbox events ev
          ($all | where action == exited | is-not-empty) and ($all | where path == $'($wd)/top.txt' | is-not-empty) and ($all | where path == $'($wd)/src/a.txt' | is-not-empty)
        }}
        let all = sandbox events ev
        let files = sandbox events ev --kind [file] --path $'($wd)/src'
        let mid = $all | get 2.seq
        let next = ($all | last | get seq) + 1
        let process = sandbox events ev --kind process | select action process id command code signal oom
        let resumed = sandbox events ev --from $mid | first | get seq
        let nothing_yet = sandbox events ev --from $next --kind [port] --wait 300ms | length
        # The task's events, followed until the session stops (from a job of this nushell).
        job spawn {{ sleep 1sec; sandbox stop ev | ignore }} | ignore
        let followed = sandbox events ev --follow --kind [process]
        # The stream ends when the stop begins; the stop itself goes on a moment.
        wait-until 'the stop' {{ sandbox list | is-empty }}
        {{
          columns: ($all | columns)
          type: ($all | describe | str substring 0..<5)
          time: ($all | get 0.time | describe)
          seqs: ($all | get seq)
          first: ($all | first | select kind action)
          process: $process
          task: $t.id
          file_paths: ($files | get path | uniq | each {{|p| $p | str replace $wd '' }})
          file_kinds: ($files | get kind | uniq)
          resumed: $resumed
          mid: $mid
          nothing_yet: $nothing_yet
          followed: ($followed | select kind action)
          followed_type: ($followed | describe | str substring 0..<5)
          listed: (sandbox list | length)
        }} | to json -r
        "#
        ),
    );
    assert_eq!(r["columns"], json!(COLUMNS));
    assert_eq!(r["type"], "table", "{r}");
    assert_eq!(r["time"], "datetime");
    let seqs: Vec<u64> = r["seqs"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "all the journal keeps, in order");
    assert_eq!(r["first"], json!({"kind": "lifecycle", "action": "started"}));
    let task = r["task"].clone();
    assert_eq!(
        r["process"],
        json!([
            {"action": "started", "process": "task", "id": task, "command": "sh -c exit 3", "code": null, "signal": null, "oom": null},
            {"action": "exited", "process": "task", "id": task, "command": "sh -c exit 3", "code": 3, "signal": null, "oom": null}
        ]),
        "{r}"
    );
    assert_eq!(r["file_paths"], json!(["/src", "/src/a.txt"]), "--path keeps what is below it: {r}");
    assert_eq!(r["file_kinds"], json!(["file"]));
    assert_eq!(r["resumed"], r["mid"], "--from starts at that sequence number");
    assert_eq!(r["nothing_yet"], 0, "--wait returns with nothing when nothing comes");
    assert_eq!(
        r["followed"],
        json!([
            {"kind": "process", "action": "started"},
            {"kind": "process", "action": "exited"},
            {"kind": "lifecycle", "action": "stopped"}
        ]),
        "--follow streams until the session stops: {r}"
    );
    assert_eq!(r["followed_type"], "table");
    assert_eq!(r["listed"], 0);
    assert!(iso.leftovers().is_empty());
}

#[test]
fn watch_follows_files_written_after_it_started() {
    let iso = Isolation::new("ev-watch");
    let r = json_within(
        &iso,
        HANG_LIMIT,
        &format!(
            r#"{WAIT_UNTIL}
        sandbox start --id wa --quiet | ignore
        let wd = sandbox list | where id == wa | get 0.working_dir
        sandbox exec wa sh -c 'mkdir sub /tmp/outside && echo 0 > one.txt' | ignore
        # A change is recorded a moment after it is made: these are, before watching begins.
        wait-until 'the setup' {{
          let paths = sandbox events wa --kind [file] | get path
          ($'($wd)/sub' in $paths) and ($'($wd)/one.txt' in $paths)
        }}
        # Each write comes from a background task, once the watch has begun.
        sandbox task spawn wa sh -c 'sleep 2; echo x > late.txt' | ignore
        let late = sandbox watch wa | first
        sandbox task spawn wa sh -c 'sleep 2; echo x > /tmp/outside/late' | ignore
        let outside = sandbox watch wa /tmp/outside | first
        sandbox task spawn wa sh -c 'sleep 1; echo y > other.txt; sleep 1; echo more >> one.txt' | ignore
        let one = sandbox watch wa one.txt | first
        sandbox task spawn wa sh -c 'sleep 1; echo x > top2.txt; sleep 1; echo x > sub/s.txt' | ignore
        let sub = sandbox watch wa sub | first
        let listed = sandbox task list wa | length
        sandbox stop wa | ignore
        {{
          late: ($late | select kind action dir | insert path ($late.path | str replace $wd ''))
          outside: ($outside | select kind action path)
          one: ($one | select action | insert path ($one.path | str replace $wd ''))
          sub: ($sub | select action | insert path ($sub.path | str replace $wd ''))
          columns: ($late | columns)
          listed: $listed
        }} | to json -r
        "#
        ),
    );
    assert_eq!(r["late"], json!({"kind": "file", "action": "created", "dir": false, "path": "/late.txt"}), "{r}");
    assert_eq!(
        r["outside"],
        json!({"kind": "file", "action": "created", "path": "/tmp/outside/late"}),
        "a directory outside the working dir is watched too: {r}"
    );
    assert_eq!(r["one"], json!({"action": "modified", "path": "/one.txt"}), "a file is followed alone: {r}");
    assert_eq!(r["sub"], json!({"action": "created", "path": "/sub/s.txt"}), "relative to the working dir: {r}");
    assert_eq!(r["columns"], json!(COLUMNS));
    assert_eq!(r["listed"], 4);
    assert!(iso.leftovers().is_empty());
}

#[test]
fn stats_are_a_typed_record_or_a_stream_that_ends_with_the_session() {
    let iso = Isolation::new("ev-stats");
    let r = json_within(
        &iso,
        HANG_LIMIT,
        r#"
        sandbox start --id st --quiet | ignore
        let now = sandbox stats st
        let three = sandbox stats st --follow --interval 200ms | first 3
        job spawn { sleep 2sec; sandbox stop st | ignore; 'stopped' | job send 0 } | ignore
        let until_end = sandbox stats st --follow --interval 300ms | length
        # The stream ends when the container stops; `sandbox stop` may still be
        # removing it then, so the listing waits for the stop to return.
        let stopped = job recv --timeout 60sec
        {
          columns: ($now | columns)
          types: ($now | items {|k, v| { $k: ($v | describe) } } | reduce {|it, acc| $acc | merge $it })
          pids: $now.pids
          memory: ($now.memory | into int)
          three: ($three | length)
          three_type: ($three | describe | str substring 0..<5)
          until_end: $until_end
          stopped: $stopped
          listed: (sandbox list | length)
        } | to json -r
        "#,
    );
    assert_eq!(r["columns"], json!(["cpu", "memory", "memory_peak", "memory_limit", "pids", "disk_written", "source"]));
    let types = &r["types"];
    assert_eq!(types["cpu"], "duration");
    assert_eq!(types["memory"], "filesize");
    assert_eq!(types["pids"], "int");
    assert_eq!(types["source"], "string");
    for optional in ["memory_peak", "memory_limit", "disk_written"] {
        assert!(types[optional] == "filesize" || types[optional] == "nothing", "{optional}: {r}");
    }
    assert!(r["pids"].as_u64().unwrap_or(0) >= 1, "{r}");
    assert!(r["memory"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["three"], 3);
    assert_eq!(r["three_type"], "table");
    assert!(r["until_end"].as_u64().unwrap_or(0) >= 1, "a record at once, then until the session ended: {r}");
    assert_eq!(r["stopped"], "stopped");
    assert_eq!(r["listed"], 0, "{r}");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn wait_port_returns_the_listening_event_or_a_labelled_error() {
    let iso = Isolation::new("ev-port");
    let r = json(
        &iso,
        r#"
        sandbox start --id wp --quiet | ignore
        let t = sandbox task spawn wp httpd -f -p 8088
        let up = sandbox wait-port wp 8088 --timeout 30sec
        # Listening already: found in the journal, even when only checking.
        let again = sandbox wait-port wp 8088 --timeout 0sec
        sandbox task kill wp $t
        {
          up: ($up | select kind action port command)
          pid: ($up.pid == $t.pid)
          same: ($up.seq == $again.seq)
          columns: ($up | columns | length)
        } | to json -r
        "#,
    );
    assert_eq!(r["up"], json!({"kind": "port", "action": "listening", "port": 8088, "command": "httpd"}));
    assert_eq!(r["pid"], true, "the server's pid: {r}");
    assert_eq!(r["same"], true);
    assert_eq!(r["columns"], COLUMNS.len());
    bad(&iso, "sandbox wait-port wp 8089 --timeout 500ms", "timed out", "500ms", "wait longer");
    bad(&iso, "sandbox wait-port wp 0", "out of range", "0", "1 to 65535");
    bad(&iso, "sandbox wait-port wp 70000", "out of range", "70000", "1 to 65535");
    bad(&iso, "sandbox wait-port wp 8089 --timeout -1sec", "must not be negative", "-1sec", "0sec");
    // The session ending first is an error too, not a wait without end.
    bad(
        &iso,
        "job spawn { sleep 1sec; sandbox stop wp | ignore } | ignore; sandbox wait-port wp 8090",
        "ended before port 8090",
        "wp",
        "the session ended",
    );
    assert!(iso.leftovers().is_empty());
}

#[test]
fn bad_event_input_gives_labelled_errors_with_help() {
    let iso = Isolation::new("ev-bad");
    json(&iso, "sandbox start --id b --quiet | get id | to json");
    bad(&iso, "sandbox events b --kind [file bogus]", "unknown event kind \"bogus\"", "bogus", "kinds are file");
    bad(&iso, "sandbox events b --kind [1]", "unknown event kind", "1", "kinds are file");
    bad(&iso, "sandbox events b --kind []", "--kind is empty", "[]", "every kind");
    bad(&iso, "sandbox events b --from 0", "at least 1", "0", "start at 1");
    bad(&iso, "sandbox events b --from -5", "at least 1", "-5", "start at 1");
    bad(&iso, "sandbox events b --from 1000000", "from the future", "1000000", "last seq + 1");
    bad(&iso, "sandbox events b --follow --from 1000000", "from the future", "1000000", "last seq + 1");
    bad(&iso, "sandbox events b --path src", "absolute path", "src", "from its root");
    bad(&iso, "sandbox events b --wait -1sec", "must not be negative", "-1sec", "0sec");
    bad(&iso, "sandbox events b --follow --wait 1sec", "not both", "1sec", "Ctrl-C");
    bad(&iso, "sandbox events nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    bad(&iso, "sandbox watch b /no/such/dir", "/no/such/dir", "/no/such/dir", "exists in the session");
    bad(&iso, "sandbox watch b missing", "missing", "missing", "working directory");
    bad(&iso, "sandbox watch b ''", "the path is empty", "''", "relative ones");
    bad(&iso, "sandbox stats b --follow --interval 0sec", "greater than zero", "0sec", "e.g.");
    bad(&iso, "sandbox stats b --follow --interval -1sec", "greater than zero", "-1sec", "e.g.");
    bad(&iso, "sandbox stats b --interval 1sec", "--interval is for --follow", "1sec", "--follow");
    bad(&iso, "sandbox stats nope", "no sandbox session \"nope\"", "nope", "sandbox list");
    json(&iso, "sandbox stop b | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn ctrl_c_stops_following_and_leaves_the_session_running() {
    let iso = Isolation::new("ev-ctrlc");
    json(&iso, "sandbox start --id ci --quiet | get id | to json");
    for (what, script) in [
        ("events", "sandbox events ci --follow | each {|e| print $'seq ($e.seq)' }"),
        ("watch", "sandbox watch ci | each {|e| print $e.path }"),
        ("stats", "sandbox stats ci --follow --interval 200ms | each {|s| print $'pids ($s.pids)' }"),
    ] {
        let out = interrupted_nu(&iso, 6, script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(124), "{what}: nu did not return after SIGINT (137 = killed): {stderr}");
        assert!(stderr.to_lowercase().contains("interrupted"), "{what}: stderr: {stderr}");
        match what {
            "events" => assert!(stdout.contains("seq 1"), "the journal was streamed first: {stdout}"),
            "stats" => assert!(stdout.contains("pids"), "records came before the interrupt: {stdout}"),
            _ => {}
        }
    }
    let r = json(&iso, "sandbox list | get state | to json -r");
    assert_eq!(r, json!(["running"]), "Ctrl-C stops following, not the session");
    json(&iso, "sandbox stop ci | to json");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn the_readme_events_example_runs_as_documented() {
    let iso = Isolation::new("ev-readme");
    let script = include_str!("../../tests/nu/readme-events.nu").replacen("plugin use sandbox\n", "", 1);
    let r = json_within(&iso, HANG_LIMIT, &format!("{script}\n$report | to json -r"));
    assert_eq!(r["up"], json!({"action": "listening", "port": 8080, "command": "httpd"}), "{r}");
    assert_eq!(r["moved"], json!(["src/a.txt", "src/b.txt"]), "{r}");
    assert_eq!(r["src"], json!(["created src/a.txt", "renamed src/b.txt"]), "{r}");
    assert_eq!(r["resumable"], true, "{r}");
    assert_eq!(r["pids"], true, "{r}");
    assert_eq!(r["exited"], json!({"process": "task", "signal": 15}), "{r}");
    assert!(iso.leftovers().is_empty());
}

#[test]
fn pause_and_resume_return_records_and_exec_is_refused_while_paused() {
    let iso = Isolation::new("ev-pause");
    let r = json_within(
        &iso,
        HANG_LIMIT,
        r#"
        sandbox start --id pz --quiet | ignore
        let t = sandbox task spawn pz sh -c 'while :; do :; done'
        let p = sandbox pause pz
        let again = sandbox pause pz
        let refused = try { sandbox exec pz true | ignore; 'ran' } catch {|e| $e.msg }
        let r = sandbox resume pz
        let out = sandbox exec pz echo back
        let life = sandbox events pz --kind [lifecycle] | where action in [paused resumed] | get action
        sandbox stop pz | ignore
        {
          p: ($p | select id paused changed method)
          processes: ($p.processes >= 1)
          took: ($p.took | describe)
          again: $again.changed
          refused: $refused
          r: ($r | select paused changed)
          out: $out.stdout
          life: $life
        } | to json -r
        "#,
    );
    assert_eq!(r["p"], json!({"id": "pz", "paused": true, "changed": true, "method": "signals"}), "{r}");
    assert_eq!(r["processes"], true, "{r}");
    assert_eq!(r["took"], "duration");
    assert_eq!(r["again"], false, "pausing a paused session changes nothing");
    assert!(r["refused"].as_str().unwrap_or_default().contains("paused"), "{r}");
    assert_eq!(r["r"], json!({"paused": false, "changed": true}));
    assert_eq!(r["out"], "back\n");
    assert_eq!(r["life"], json!(["paused", "resumed"]));
    assert!(iso.leftovers().is_empty());
}
